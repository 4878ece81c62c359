// The graph training loop: one run = one or more folds, each trained through the shared Trainer
// (checkpoints, bitwise resume), evaluated on validation every eval.every epochs (early
// stopping, reduce-on-plateau, best weights kept), then tested with the selected weights.
#include "pesuite/graph/training.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>

#include "pesuite/graph/training_data.h"
#include "pesuite/core/run_dir.h"
#include "pesuite/core/trainer.h"
#include "pesuite/graph/static_batch.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/distributed.h"
#include "pesuite/core/error.h"
#include "pesuite/core/optim.h"
#include "pesuite/core/runtime.h"
#include "pesuite/core/safetensors.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/core/plot.h"
#endif

namespace pesuite::graph {

core::Config graph_training_defaults() {
  return core::Config::from_toml_string(R"(
experiment = "graph"
seed = 0
device = "auto"

[data]
spec = "csl:?seed=0"   # any graph dataset spec; ${data} = data.root
val_spec = ""           # separate validation / test datasets (ZINC in TU layout: ZINC_val, ZINC_test);
test_spec = ""          # when set, spec is the training set and these make the split
root = ""               # "" = $PESUITE_DATA, else ../shared/data beside the source tree
task = "auto"           # auto (the dataset's) | graph_classification | graph_regression | node_classification
targets = []            # regression: target columns to fit (empty = all)
categorical = "auto"    # one-hot integer-coded features: auto (OGB) | true | false
standardize = true      # regression: fit (y - mean) / std of the training split
pe_cache = true         # read / write the on-disk cache of encodings (model.pe's computation)
pe_cache_dir = ""       # "" = $PESUITE_CACHE or ~/.cache/pesuite

[model]
name = "gine"           # gine | gatedgcn | gps
pe = "none"             # graph encoding spec (pesuite list pes): none | lap:k=8 | rwse:steps=20 | spe:k=37,phis=8 | signnet | rfp
hidden = 64
layers = 4
heads = 4
pool = "auto"           # auto (mean; none for node tasks) | sum | mean | none
norm = "batch"          # batch | syncbatch (over the ranks of a data-parallel run) | layer
dropout = 0.0
attn_dropout = 0.0
pe_in_dim = 0           # columns of the encoding the encoder reads (0 = all the spec computes)
pe_dim = 16             # hidden channels the encoder contributes

[train]
epochs = 100
batch_size = 32
lr = 1e-3
weight_decay = 0.0
schedule = "cosine"     # cosine (linear warm-up + cosine) | plateau (reduce on validation plateau) | constant
warmup_epochs = 5
min_lr_ratio = 0.0
plateau_factor = 0.5
plateau_patience = 10   # evaluations without improvement before the lr is reduced
min_lr = 1e-5
patience = 0            # early stopping: epochs without validation improvement (0 = off)
clip_grad_norm = 1.0
loss = "auto"           # auto (ce | l1 for mae | mse for rmse) | ce | l1 | mse
checkpoint_every = 10   # epochs (the last step is always saved)
cuda_graphs = false     # graph-level tasks: batches padded to bucket shapes and, on CUDA, each shape's
                        # step replayed as a CUDA graph (fast for small molecules); on the CPU the
                        # padded steps run eagerly (slower: meant for checking, not speed)
graph_node_step = 64    # bucket grid of cuda_graphs: nodes / edges rounded up to these multiples
graph_edge_step = 128
stop_at_step = 0        # stop after this many steps of a fold as if interrupted (tests; 0 = off)

[eval]
metric = "auto"         # auto (accuracy | mae | rmse for ogb) | accuracy | rocauc | mae | rmse
every = 1               # epochs between validation passes
batch_size = 256
select = "best"         # best (validation) | last: the weights that are tested
track_test = false      # also test every evaluation (GIN's protocol, reported as gin_<metric>)

[cv]
folds = 0               # k >= 2: stratified k-fold; 0 = the dataset's split, else split.*
val_fraction = 0.1      # of the training folds, stratified, for model selection
seed = 0                # fold assignment (the same folds for every training seed)
max_folds = 0           # run only the first N folds (0 = all)
only_fold = -1          # run only fold i of them (-1 = all); tables split their work this way

[split]
val_fraction = 0.1      # random split for datasets without one
test_fraction = 0.1
per_class = 20          # node classification: Planetoid-style training nodes per class
val_nodes = 500
test_nodes = 1000
)", "<graph-training defaults>");
}

namespace {

using graph::GraphModel;
using graph::PeTensors;

struct Engine {
  core::Config cfg;
  GraphData data;
  std::vector<Fold> folds;
  torch::Device device{torch::kCPU};
  std::string metric, loss;
  graph::GraphModelOptions model_options;
  std::uint64_t seed = 0;
  bool cv = false;
  std::int64_t only_fold = -1;  // cv.only_fold: -1 = every fold
};

const std::vector<std::string>& valid_metrics() {
  static const std::vector<std::string> m = {"accuracy", "rocauc", "mae", "rmse"};
  return m;
}

void check_choice(const std::string& key, const std::string& value, const std::vector<std::string>& valid) {
  if (std::find(valid.begin(), valid.end(), value) != valid.end()) return;
  std::string list;
  for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
  throw core::InputError("config " + key + ": unknown value '" + value + "' (valid: " + list + ")");
}

Engine prepare(const core::Config& cfg) {
  Engine e;
  e.cfg = cfg;
  e.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  e.device = core::parse_device(cfg.get_string("device"));
  // Cheap checks first, before the dataset is read and the encodings computed.
  check_choice("model.pool", cfg.get_string("model.pool"), {"auto", "sum", "mean", "none"});
  check_choice("train.schedule", cfg.get_string("train.schedule"), {"cosine", "plateau", "constant"});
  check_choice("train.loss", cfg.get_string("train.loss"), {"auto", "ce", "l1", "mse"});
  check_choice("eval.select", cfg.get_string("eval.select"), {"best", "last"});
  const std::string metric_cfg = cfg.get_string("eval.metric");
  if (metric_cfg != "auto") check_choice("eval.metric", metric_cfg, valid_metrics());
  for (const char* k : {"train.epochs", "train.batch_size", "eval.every", "eval.batch_size", "model.hidden", "model.layers",
                        "train.graph_node_step", "train.graph_edge_step"})
    if (cfg.get_int(k) < 1) throw core::InputError(std::string("config ") + k + " must be >= 1");
  if (cfg.get_double("train.lr") <= 0) throw core::InputError("config train.lr must be > 0");

  e.data = prepare_graph_data(cfg);
  const auto& d = e.data;
  const bool classification = d.task != "graph_regression";
  // Metric and loss against the task.
  if (metric_cfg == "auto") {
    e.metric = !d.ds.metric.empty() ? d.ds.metric : (classification ? "accuracy" : "mae");
  } else {
    e.metric = metric_cfg;
    if (classification && (e.metric == "mae" || e.metric == "rmse"))
      throw core::InputError("config eval.metric '" + e.metric + "' needs regression targets; dataset '" + d.ds.name + "' is " + d.task);
    if (!classification && (e.metric == "accuracy" || e.metric == "rocauc"))
      throw core::InputError("config eval.metric '" + e.metric + "' needs class labels; dataset '" + d.ds.name + "' is " + d.task);
    if (e.metric == "rocauc" && d.num_classes != 2)
      throw core::InputError("config eval.metric 'rocauc' needs 2 classes; dataset '" + d.ds.name + "' has " + std::to_string(d.num_classes));
  }
  e.loss = cfg.get_string("train.loss");
  if (e.loss == "auto") e.loss = classification ? "ce" : (e.metric == "rmse" ? "mse" : "l1");
  if (classification != (e.loss == "ce"))
    throw core::InputError("config train.loss '" + e.loss + "' does not fit task " + d.task);

  std::string pool = cfg.get_string("model.pool");
  if (pool == "auto") pool = d.task == "node_classification" ? "none" : "mean";
  if ((pool == "none") != (d.task == "node_classification"))
    throw core::InputError("config model.pool '" + pool + "' does not fit task " + d.task +
                     " (node classification needs pool none, graph tasks sum or mean)");
  auto& o = e.model_options;
  o.model(cfg.get_string("model.name")).pe(cfg.get_string("model.pe")).in_dim(d.in_dim).edge_dim(d.edge_dim)
      .out_dim(d.out_dim).hidden(cfg.get_int("model.hidden")).layers(cfg.get_int("model.layers"))
      .heads(cfg.get_int("model.heads")).pool(pool).norm(cfg.get_string("model.norm"))
      .dropout(cfg.get_double("model.dropout")).attn_dropout(cfg.get_double("model.attn_dropout"))
      .pe_in_dim(d.pe_in_dim).pe_dim(cfg.get_int("model.pe_dim"));

  // Splits.
  const auto k = cfg.get_int("cv.folds");
  if (k == 1 || k < 0) throw core::InputError("config cv.folds: 0 (the dataset's split) or >= 2 folds (got " + std::to_string(k) + ")");
  if (k >= 2) {
    if (d.task == "node_classification") throw core::InputError("config cv.folds: cross-validation is for graph tasks; set cv.folds = 0");
    std::vector<std::int64_t> strata = d.labels;
    if (!classification) strata.assign(d.ds.graphs.size(), 0);  // regression: plain k-fold
    e.folds = stratified_kfold(strata, static_cast<int>(k), static_cast<std::uint64_t>(cfg.get_int("cv.seed")),
                               cfg.get_double("cv.val_fraction"));
    e.cv = true;
    const auto max_folds = cfg.get_int("cv.max_folds");
    if (max_folds > 0 && max_folds < k) e.folds.resize(static_cast<std::size_t>(max_folds));
  } else if (d.task == "node_classification") {
    e.folds = {per_class_split(d.labels, cfg.get_int("split.per_class"), cfg.get_int("split.val_nodes"),
                               cfg.get_int("split.test_nodes"), static_cast<std::uint64_t>(cfg.get_int("cv.seed")))};
  } else if (d.ds.splits.count("train") && d.ds.splits.count("test")) {
    Fold f;
    f.train = d.ds.splits.at("train");
    f.test = d.ds.splits.at("test");
    if (d.ds.splits.count("valid")) f.val = d.ds.splits.at("valid");
    else if (d.ds.splits.count("val")) f.val = d.ds.splits.at("val");
    e.folds = {f};
  } else {
    e.folds = {random_split(d.size(), cfg.get_double("split.val_fraction"), cfg.get_double("split.test_fraction"),
                            static_cast<std::uint64_t>(cfg.get_int("cv.seed")))};
  }
  for (const auto& f : e.folds)
    if (f.train.empty() || f.test.empty()) throw core::InputError("data.spec '" + d.spec + "': a split has no training or test items");
  e.only_fold = cfg.get_int("cv.only_fold");
  if (e.only_fold != -1 && (!e.cv || e.only_fold < 0 || e.only_fold >= static_cast<std::int64_t>(e.folds.size())))
    throw core::InputError("config cv.only_fold = " + std::to_string(e.only_fold) + ": expected -1 (all folds) or a fold index " +
                     (e.cv ? "0.." + std::to_string(e.folds.size() - 1) : std::string("with cv.folds >= 2")));
  // The model must build with these options (unknown norm, heads not dividing hidden, ...).
  try {
    GraphModel probe(o);
  } catch (const core::InputError&) {
    throw;
  } catch (const std::exception& ex) {
    std::string what = ex.what();
    if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);
    throw core::InputError("config [model]: " + what);
  }
  return e;
}

// Standardisation of regression targets from the training split (NaN-aware); identity otherwise.
struct TargetScale {
  torch::Tensor mean, std;
};

TargetScale target_scale(const Engine& e, const Fold& f) {
  const auto T = static_cast<std::int64_t>(e.data.target_columns.size());
  TargetScale s{torch::zeros({T}), torch::ones({T})};
  if (e.data.task != "graph_regression" || !e.cfg.get_bool("data.standardize")) return s;
  auto y = e.data.targets(f.train).to(torch::kFloat64);
  auto ok = torch::isfinite(y);
  auto y0 = torch::where(ok, y, torch::zeros_like(y));
  auto n = ok.sum(0).to(torch::kFloat64).clamp_min(1);
  auto mean = y0.sum(0) / n;
  auto var = (torch::where(ok, (y - mean).pow(2), torch::zeros_like(y))).sum(0) / n;
  auto sd = var.sqrt();
  sd = torch::where(sd > 1e-12, sd, torch::ones_like(sd));
  return {mean.to(torch::kFloat32), sd.to(torch::kFloat32)};
}

// The model's inputs of a batch onto the device (targets stay where the metrics read them).
void move_inputs(graph::GraphBatch& b, graph::PeTensors& pe, const torch::Device& device) {
  for (auto& [name, t] : pe) t = t.to(device);
  b.x = b.x.to(device);
  b.edge_index = b.edge_index.to(device);
  b.edge_attr = b.edge_attr.to(device);
  b.batch = b.batch.to(device);
  b.node_ptr = b.node_ptr.to(device);
  if (b.edge_weight.defined()) b.edge_weight = b.edge_weight.to(device);
}

// Model outputs for items (graphs, or nodes of the single graph).
torch::Tensor forward_items(GraphModel& model, const Engine& e, const std::vector<std::int64_t>& items) {
  PeTensors pe;
  if (e.data.task == "node_classification") {
    auto b = e.data.batch({0}, &pe);
    move_inputs(b, pe, e.device);
    auto idx = torch::tensor(items, torch::kInt64).to(e.device);
    return model->forward(b, pe).index_select(0, idx);
  }
  auto b = e.data.batch(items, &pe);
  move_inputs(b, pe, e.device);  // a no-op on the CPU
  return model->forward(b, pe);
}

// The targets of items as the loss reads them: class labels (int64 [G]) for cross-entropy, else
// standardised targets (float [G, T], NaN where missing).
torch::Tensor targets_for(const Engine& e, const std::vector<std::int64_t>& items, const TargetScale& s) {
  if (e.loss == "ce") {
    std::vector<std::int64_t> y;
    y.reserve(items.size());
    for (auto i : items) y.push_back(e.data.labels[static_cast<std::size_t>(i)]);
    return torch::tensor(y, torch::kInt64);
  }
  return (e.data.targets(items) - s.mean) / s.std;
}

// The loss of outputs against targets_for's tensor on the same device (no host work: CUDA graphs
// capture it).
torch::Tensor loss_on(const Engine& e, const torch::Tensor& out, const torch::Tensor& y) {
  if (e.loss == "ce") return torch::nn::functional::cross_entropy(out, y);
  auto ok = torch::isfinite(y);
  auto diff = torch::where(ok, out - torch::where(ok, y, torch::zeros_like(y)), torch::zeros_like(y));
  auto n = ok.sum().clamp_min(1).to(out.dtype());
  return (e.loss == "l1" ? diff.abs().sum() : diff.pow(2).sum()) / n;
}

torch::Tensor loss_of(const Engine& e, const torch::Tensor& out, const std::vector<std::int64_t>& items, const TargetScale& s) {
  return loss_on(e, out, targets_for(e, items, s).to(out.device()));
}

std::map<std::string, double> evaluate(GraphModel& model, const Engine& e, const std::vector<std::int64_t>& items,
                                       const TargetScale& s) {
  std::map<std::string, double> m;
  if (items.empty()) return m;
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<torch::Tensor> outs;
  const auto bs = e.data.task == "node_classification" ? static_cast<std::int64_t>(items.size()) : e.cfg.get_int("eval.batch_size");
  for (std::size_t i = 0; i < items.size(); i += static_cast<std::size_t>(bs)) {
    std::vector<std::int64_t> part(items.begin() + static_cast<std::ptrdiff_t>(i),
                                   items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + static_cast<std::size_t>(bs))));
    outs.push_back(forward_items(model, e, part).to(torch::kCPU).to(torch::kFloat64));
  }
  model->train();
  auto out = torch::cat(outs, 0).contiguous();
  m["loss"] = loss_of(e, out.to(torch::kFloat32), items, s).item<double>();
  if (e.data.task != "graph_regression") {
    std::vector<std::int64_t> y, pred;
    for (auto i : items) y.push_back(e.data.labels[static_cast<std::size_t>(i)]);
    auto am = out.argmax(1).contiguous();
    pred.assign(am.data_ptr<std::int64_t>(), am.data_ptr<std::int64_t>() + am.numel());
    m["accuracy"] = accuracy(pred, y);
    if (e.data.num_classes == 2) {
      auto p = torch::softmax(out, 1).select(1, 1).contiguous();
      std::vector<double> sc(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
      m["rocauc"] = roc_auc(sc, y);
    }
    return m;
  }
  auto pred = (out * s.std.to(torch::kFloat64) + s.mean.to(torch::kFloat64)).contiguous();
  auto y = e.data.targets(items).to(torch::kFloat64).contiguous();
  std::vector<double> all_p(pred.data_ptr<double>(), pred.data_ptr<double>() + pred.numel());
  std::vector<double> all_y(y.data_ptr<double>(), y.data_ptr<double>() + y.numel());
  m["mae"] = mean_absolute_error(all_p, all_y);
  m["rmse"] = root_mean_squared_error(all_p, all_y);
  const auto T = pred.size(1);
  if (T > 1)
    for (std::int64_t t = 0; t < T; ++t) {
      auto pc = pred.select(1, t).contiguous(), yc = y.select(1, t).contiguous();
      std::vector<double> p(pc.data_ptr<double>(), pc.data_ptr<double>() + pc.numel());
      std::vector<double> q(yc.data_ptr<double>(), yc.data_ptr<double>() + yc.numel());
      m["mae." + e.data.target_names[static_cast<std::size_t>(t)]] = mean_absolute_error(p, q);
      m["rmse." + e.data.target_names[static_cast<std::size_t>(t)]] = root_mean_squared_error(p, q);
    }
  return m;
}

// Value to minimise for model selection.
double selection_value(const std::string& metric, double v) { return higher_is_better(metric) ? -v : v; }

void load_weights(GraphModel& model, const std::string& path) {
  const auto file = core::load_safetensors(path);
  core::TensorMap state;
  for (const auto& [name, t] : file.tensors)
    if (name.rfind("model.", 0) == 0) state[name.substr(6)] = t;
  core::load_module_state(*model, state, path);
}

struct Optim {
  std::unique_ptr<torch::optim::AdamW> optimizer;
  core::LrSchedule schedule;
};

Optim make_optimizer(GraphModel& model, const Engine& e, std::int64_t total, std::int64_t steps_per_epoch) {
  Optim o;
  const double lr = e.cfg.get_double("train.lr");
  o.optimizer = std::make_unique<core::FusedAdamW>(model->parameters(),
                                                     torch::optim::AdamWOptions(lr).weight_decay(e.cfg.get_double("train.weight_decay")));
  const auto kind = e.cfg.get_string("train.schedule");
  if (kind == "cosine")
    o.schedule = core::LrSchedule::warmup_cosine(lr, e.cfg.get_int("train.warmup_epochs") * steps_per_epoch, total,
                                           e.cfg.get_double("train.min_lr_ratio"));
  else if (kind == "plateau")
    o.schedule = core::LrSchedule::plateau(lr, e.cfg.get_double("train.plateau_factor"), e.cfg.get_int("train.plateau_patience"),
                                     e.cfg.get_double("train.min_lr"));
  else
    o.schedule = core::LrSchedule::constant(lr);
  return o;
}

std::string fmt(double v, int digits = 4) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

// Trains (or resumes, or just re-tests) fold `fi`. Returns nothing when interrupted (stop_at_step).
std::optional<GraphFoldResult> run_fold(Engine& e, std::size_t fi, core::RunDir& run) {
  const auto t0 = std::chrono::steady_clock::now();
  const Fold& fold = e.folds[fi];
  const auto& cfg = e.cfg;
  const std::string fold_dir = e.cv ? run.path() + "/fold" + std::to_string(fi) : run.path();
  const std::string ckpt_dir = e.cv ? run.ckpt_dir() + "/fold" + std::to_string(fi) : run.ckpt_dir();
  if (core::dist::is_writer()) core::make_dirs(fold_dir);  // rank 0 alone writes the run folder
  core::MetricsLog local(fold_dir);
  core::MetricsLog& log = e.cv ? local : run.metrics();

  const bool node_task = e.data.task == "node_classification";
  const auto batch = cfg.get_int("train.batch_size");
  const auto n = static_cast<std::int64_t>(fold.train.size());
  const std::int64_t steps_per_epoch = node_task ? 1 : std::max<std::int64_t>(1, (n + batch - 1) / batch);
  const auto epochs = cfg.get_int("train.epochs");
  const auto total = steps_per_epoch * epochs;
  const auto eval_every = cfg.get_int("eval.every");
  const auto patience = cfg.get_int("train.patience");
  const bool track_test = cfg.get_bool("eval.track_test");
  const auto stop_at = cfg.get_int("train.stop_at_step");

  // Model and optimiser from the fold's seed: folds do not depend on the order they run in.
  core::seed_all(e.seed * 1000 + fi);
  GraphModel model(e.model_options);
  model->to(e.device);
  Optim opt = make_optimizer(model, e, total, steps_per_epoch);
  core::TrainerOptions topts;
  topts.total_steps = total;
  topts.checkpoint_every = cfg.get_int("train.checkpoint_every") * steps_per_epoch;
  topts.clip_grad_norm = cfg.get_double("train.clip_grad_norm");
  topts.ckpt_dir = ckpt_dir;
  topts.label = cfg.get_string("model.name") + "+" + e.data.pe_spec.name + (e.cv ? " fold " + std::to_string(fi) : "");
  topts.data_seed = e.seed * 1000 + fi;
  core::Trainer trainer(*model, *opt.optimizer, opt.schedule, topts);
  const std::string last = ckpt_dir + "/last.safetensors";
  if (std::filesystem::exists(last)) {
    trainer.resume(last);
    log.truncate_after("step", static_cast<double>(trainer.state().step));
    run.log("fold " + std::to_string(fi) + ": resumed at step " + std::to_string(trainer.state().step), false);
  } else {
    log.truncate_after("step", 0);  // rows of an earlier attempt killed before its first checkpoint
  }
  const TargetScale scale = target_scale(e, fold);

  // The batch of a step is a function of (seed, fold, epoch, step): resume replays exactly.
  std::vector<std::int64_t> order;
  std::int64_t order_epoch = -1;
  auto items_of_step = [&](std::int64_t step) {
    const auto epoch = step / steps_per_epoch, k = step % steps_per_epoch;
    if (epoch != order_epoch) {
      auto g = torch::make_generator<at::CPUGeneratorImpl>(static_cast<std::uint64_t>(e.seed * 1000003 + fi * 7919 + epoch));
      auto perm = torch::randperm(n, g);
      order.assign(perm.data_ptr<std::int64_t>(), perm.data_ptr<std::int64_t>() + n);
      order_epoch = epoch;
    }
    const auto lo = k * batch, hi = std::min(n, lo + batch);
    std::vector<std::int64_t> items;
    for (auto i = lo; i < hi; ++i) items.push_back(fold.train[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]);
    return items;
  };
  // Several processes (core/distributed.h): each rank takes its share of the step's items.
  auto& world = core::dist::World::get();
  auto loss_fn = [&](std::int64_t step, std::mt19937_64&) {
    const auto all = node_task ? fold.train : items_of_step(step);
    const auto share = world.batch_share(static_cast<std::int64_t>(all.size()));
    if (share.empty()) {
      // Synchronised batch norms need every rank in every forward pass.
      if (cfg.get_string("model.norm") == "syncbatch")
        throw core::InputError("model.norm=syncbatch: step " + std::to_string(step) + " has " + std::to_string(all.size()) +
                               " items for " + std::to_string(world.size()) +
                               " ranks, and every rank needs at least one (raise train.batch_size or use fewer ranks)");
      return torch::zeros({}, torch::TensorOptions().device(e.device));
    }
    const std::vector<std::int64_t> items(all.begin() + share.begin, all.begin() + share.end);
    // A node task runs the whole graph on every rank and takes its share of the labelled nodes.
    const auto out = node_task ? forward_items(model, e, fold.train).slice(0, share.begin, share.end) : forward_items(model, e, items);
    const auto loss = loss_of(e, out, items, scale);
    return share.loss_scale == 1.0 ? loss : loss * share.loss_scale;
  };
  // cuda_graphs: the same batches, padded to bucket shapes (static_batch.h) and copied into one set
  // of device tensors per shape, which that shape's captured step reads.
  std::map<std::string, graph::PaddedBatch> slots;
  auto staged = [&](std::int64_t step, std::mt19937_64&) {
    const auto items = items_of_step(step);
    PeTensors pe;
    auto b = e.data.batch(items, &pe);
    b.y = targets_for(e, items, scale);
    const auto shape = graph::bucket_shape(b, cfg.get_int("train.graph_node_step"), cfg.get_int("train.graph_edge_step"));
    auto padded = std::make_shared<graph::PaddedBatch>(graph::pad_batch(b, pe, shape).to(e.device));
    const auto key = shape.key();
    auto slot = slots.find(key);
    const bool fresh = slot == slots.end();
    if (fresh) slot = slots.emplace(key, *padded).first;  // its own memory already: the static inputs
    graph::PaddedBatch* in = &slot->second;
    return core::Trainer::StagedStep{key, [in, padded, fresh] { if (!fresh) in->copy_from(*padded); },
                               [&, in] { return loss_on(e, model->forward(in->batch, in->pe), in->batch.y); }};
  };
  const std::string vm = "val_" + e.metric, tm = "test_" + e.metric;
  const auto& val_items = fold.val.empty() ? fold.train : fold.val;  // no validation split: select on training
  auto on_step = [&](core::TrainState& st, double loss) {
    st.extra["loss_sum"] = st.extra.value("loss_sum", 0.0) + loss;
    if (st.step % steps_per_epoch != 0) return !(stop_at > 0 && st.step >= stop_at);
    st.epoch = st.step / steps_per_epoch;
    nlohmann::ordered_json row{{"epoch", st.epoch}, {"step", st.step},
                               {"train_loss", st.extra["loss_sum"].get<double>() / static_cast<double>(steps_per_epoch)},
                               {"lr", opt.schedule.lr_at(st.step - 1)}};
    st.extra["loss_sum"] = 0.0;
    bool go_on = true;
    if (st.epoch % eval_every == 0 || st.step == total) {
      auto v = evaluate(model, e, val_items, scale);
      if (world.distributed()) {  // rank 0's figures decide for every rank (no rank may stop alone)
        std::vector<double> agreed{v.at("loss"), v.at(e.metric)};
        world.broadcast(agreed);
        v["loss"] = agreed[0];
        v[e.metric] = agreed[1];
      }
      row["val_loss"] = v.at("loss");
      row[vm] = v.at(e.metric);
      if (track_test) row[tm] = evaluate(model, e, fold.test, scale).at(e.metric);
      const double sel = selection_value(e.metric, v.at(e.metric));
      opt.schedule.observe(e.metric == "accuracy" || e.metric == "rocauc" ? v.at("loss") : sel);
      // Ties on the metric (small validation sets: often 100 %) go to the lower validation loss.
      const double best_loss = st.extra.value("best_loss", std::numeric_limits<double>::infinity());
      if (std::isnan(st.best) || sel < st.best || (sel == st.best && v.at("loss") < best_loss)) {
        st.best = sel;
        st.extra["best_loss"] = v.at("loss");
        st.best_step = st.step;
        st.extra["best_epoch"] = st.epoch;
        st.extra["bad_epochs"] = 0;
        trainer.save("best.safetensors");
      } else {
        st.extra["bad_epochs"] = st.extra.value("bad_epochs", std::int64_t{0}) + eval_every;
        if (patience > 0 && st.extra["bad_epochs"].get<std::int64_t>() >= patience) {
          st.extra["stopped_early"] = true;
          go_on = false;
        }
      }
    }
    log.append(row);
    return go_on && !(stop_at > 0 && st.step >= stop_at);
  };
  // On the CPU the staged steps run eagerly (the same padded batches; tests check them there).
  const bool graphed = cfg.get_bool("train.cuda_graphs") && !node_task;
  if (!trainer.state().extra.value("stopped_early", false) && trainer.state().step < total)
    graphed ? trainer.fit_graphed(staged, on_step) : trainer.fit(loss_fn, on_step);
  const core::TrainState& st = trainer.state();
  if (st.step < total && !st.extra.value("stopped_early", false)) return std::nullopt;  // interrupted

  world.barrier();  // rank 0's best.safetensors is complete before any rank reads it
  // Test with the selected weights.
  const std::string best = ckpt_dir + "/best.safetensors";
  if (cfg.get_string("eval.select") == "best" && std::filesystem::exists(best)) load_weights(model, best);
  GraphFoldResult r;
  r.fold = static_cast<int>(fi);
  r.test = evaluate(model, e, fold.test, scale);
  r.val = evaluate(model, e, val_items, scale);
  r.epochs = st.epoch;
  r.best_epoch = st.extra.value("best_epoch", std::int64_t{0});
  for (const auto& row : log.rows())
    if (row.contains(tm) && row[tm].is_number()) r.test_curve.push_back(row[tm].get<double>());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

nlohmann::ordered_json fold_row(const GraphFoldResult& r) {
  nlohmann::ordered_json row{{"fold", r.fold}, {"done", true}, {"epochs", r.epochs}, {"best_epoch", r.best_epoch}, {"seconds", r.seconds}};
  for (const auto& [k, v] : r.test) row["test_" + k] = v;
  for (const auto& [k, v] : r.val) row["val_" + k] = v;
  row["test_curve"] = r.test_curve;
  return row;
}

GraphFoldResult fold_from_row(const nlohmann::ordered_json& row) {
  GraphFoldResult r;
  r.fold = row.at("fold").get<int>();
  r.epochs = row.value("epochs", std::int64_t{0});
  r.best_epoch = row.value("best_epoch", std::int64_t{0});
  r.seconds = row.value("seconds", 0.0);
  for (auto it = row.begin(); it != row.end(); ++it) {
    if (!it.value().is_number()) continue;
    if (it.key().rfind("test_", 0) == 0) r.test[it.key().substr(5)] = it.value().get<double>();
    if (it.key().rfind("val_", 0) == 0) r.val[it.key().substr(4)] = it.value().get<double>();
  }
  if (row.contains("test_curve")) r.test_curve = row["test_curve"].get<std::vector<double>>();
  return r;
}

GraphTrainResult run_engine(Engine& e, core::RunDir& run) {
  const auto t0 = std::chrono::steady_clock::now();
  GraphTrainResult res;
  res.run_path = run.path();
  res.metric = e.metric;
  res.task = e.data.task;
  res.pe_seconds = e.data.pe_seconds;
  res.pe_from_cache = e.data.pe_from_cache;
  // Folds finished by an earlier process (resume) are kept as they were.
  std::map<int, GraphFoldResult> done;
  for (const auto& row : run.metrics().rows())
    if (row.contains("done") && row.contains("fold")) done[row["fold"].get<int>()] = fold_from_row(row);
  for (std::size_t fi = 0; fi < e.folds.size(); ++fi) {
    if (e.only_fold >= 0 && static_cast<std::int64_t>(fi) != e.only_fold) continue;  // folds are seeded by index alone
    if (done.count(static_cast<int>(fi))) {
      res.folds.push_back(done[static_cast<int>(fi)]);
      continue;
    }
    auto r = run_fold(e, fi, run);
    if (!r) {
      res.interrupted = true;
      run.log("stopped at train.stop_at_step = " + std::to_string(e.cfg.get_int("train.stop_at_step")) + " (fold " +
                  std::to_string(fi) + "); continue with --resume " + run.path(),
              false);  // the CLI says it (an echo here would break `--json` output)
      break;
    }
    run.metrics().append(fold_row(*r));
    std::string line = (e.cv ? "fold " + std::to_string(fi) + ": " : std::string()) + "test " + e.metric + " " +
                       fmt(r->test.at(e.metric)) + " (val " + fmt(r->val.at(e.metric)) + ", best epoch " +
                       std::to_string(r->best_epoch) + "/" + std::to_string(r->epochs) + ", " + fmt(r->seconds, 1) + " s)";
    run.log(line, false);
    res.folds.push_back(*r);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (res.interrupted) return res;
  std::map<std::string, std::vector<double>> values;
  for (const auto& f : res.folds)
    for (const auto& [k, v] : f.test)
      if (k != "loss") values[k].push_back(v);
  for (const auto& [k, v] : values) res.summary[k] = core::summarize(v);
  res.values = values;
  // GIN's protocol: the evaluation epoch whose test value, averaged over the folds, is best.
  if (e.cfg.get_bool("eval.track_test") && !res.folds.empty()) {
    std::vector<std::vector<double>> curves;
    for (const auto& f : res.folds) curves.push_back(f.test_curve);
    const auto at_best = gin_protocol(curves, e.metric);
    if (!at_best.empty()) {
      res.summary["gin_" + e.metric] = core::summarize(at_best);
      res.values["gin_" + e.metric] = at_best;
    }
  }
  nlohmann::ordered_json out{{"metric", e.metric}, {"task", e.data.task}, {"folds", res.folds.size()}};
  for (const auto& [k, s] : res.summary) out["test_" + k] = {{"mean", s.mean}, {"std", s.std}, {"n", s.n}};
  out["seconds"] = res.seconds;
  out["pe_seconds"] = res.pe_seconds;
  if (core::dist::is_writer()) core::write_file_atomic(run.file("results.json"), out.dump(2) + "\n");
  const auto& s = res.summary.at(e.metric);
  run.log("test " + e.metric + " " + fmt(s.mean) + " ± " + fmt(s.std) + " over " + std::to_string(s.n) +
              (e.cv ? " folds" : " run") + " (" + fmt(res.seconds, 1) + " s)",
          false);
#ifdef PESUITE_HAVE_OPENCV
  if (core::dist::is_writer()) try {
    auto [xs, ys] = (e.cv ? core::MetricsLog(run.path() + "/fold0") : run.metrics()).series("epoch", "train_loss");
    core::line_plot(run.plots_dir() + "/train_loss.png", {{"train_loss", xs, ys}}, {"training loss (fold 0)", "epoch", "loss"});
  } catch (const std::exception&) {
  }
#endif
  return res;
}

}  // namespace

std::vector<double> gin_protocol(const std::vector<std::vector<double>>& fold_test_curves, const std::string& metric) {
  std::size_t len = 0;
  for (const auto& c : fold_test_curves) len = std::max(len, c.size());
  double best = 0;
  std::vector<double> at_best;
  for (std::size_t t = 0; t < len; ++t) {
    std::vector<double> col;
    for (const auto& c : fold_test_curves)
      if (!c.empty()) col.push_back(c[std::min(t, c.size() - 1)]);  // early-stopped folds keep their last value
    const double m = core::summarize(col).mean;
    if (at_best.empty() || selection_value(metric, m) < selection_value(metric, best)) {
      best = m;
      at_best = col;
    }
  }
  return at_best;
}

GraphTrainResult run_graph_training(const core::Config& config, const std::string& runs_root) {
  Engine e = prepare(config);  // every core::InputError before the run folder exists
  core::RunDir run = core::RunDir::create(runs_root, config.get_string("experiment"), e.seed, config, e.device.str());
  run.log("run " + run.path() + ": " + config.get_string("model.name") + " + " + e.data.pe_spec.name + " on " +
              e.data.spec + " (" + e.data.task + ", " + std::to_string(e.data.ds.graphs.size()) + " graphs, " +
              std::to_string(e.folds.size()) + (e.cv ? " folds" : " split") + ", metric " + e.metric + ")",
          false);
  return run_engine(e, run);
}

GraphTrainResult resume_graph_training(const std::string& run_path, const std::vector<std::string>& sets) {
  core::RunDir run = core::RunDir::open(run_path);
  core::Config cfg = graph_training_defaults();
  cfg.merge_file(run.file("config.toml"));
  for (const auto& s : sets) cfg.apply_set(s);
  Engine e = prepare(cfg);
  run.log("resume " + run.path(), false);
  return run_engine(e, run);
}

std::map<std::string, std::map<std::string, double>> evaluate_graph_checkpoint(const std::string& ckpt_path, const core::Config* config) {
  namespace fs = std::filesystem;
  if (!fs::exists(ckpt_path)) throw core::InputError(ckpt_path + ": no such checkpoint");
  // ckpt/[foldK/]name.safetensors -> the run folder and the fold.
  fs::path dir = fs::path(ckpt_path).parent_path();
  std::size_t fold = 0;
  const std::string leaf = dir.filename().string();
  if (leaf.rfind("fold", 0) == 0) {
    fold = static_cast<std::size_t>(std::stoul(leaf.substr(4)));
    dir = dir.parent_path();
  }
  core::Config cfg = graph_training_defaults();
  if (config) {
    cfg = *config;
  } else {
    const fs::path run = dir.parent_path();
    if (!fs::exists(run / "config.toml"))
      throw core::InputError(ckpt_path + ": not inside a run folder (no config.toml two levels up); pass --config");
    cfg.merge_file((run / "config.toml").string());
  }
  Engine e = prepare(cfg);
  if (fold >= e.folds.size()) throw core::InputError(ckpt_path + ": fold " + std::to_string(fold) + " is not in the config's folds");
  core::seed_all(0);
  GraphModel model(e.model_options);
  model->to(e.device);
  load_weights(model, ckpt_path);
  const Fold& f = e.folds[fold];
  const TargetScale s = target_scale(e, f);
  std::map<std::string, std::map<std::string, double>> out;
  out["train"] = evaluate(model, e, f.train, s);
  if (!f.val.empty()) out["val"] = evaluate(model, e, f.val, s);
  out["test"] = evaluate(model, e, f.test, s);
  return out;
}

}  // namespace pesuite::graph
