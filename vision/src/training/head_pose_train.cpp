// Head-pose training and evaluation (head_pose_training.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "pesuite/core/error.h"
#include "pesuite/core/optim.h"
#include "pesuite/core/run_dir.h"
#include "pesuite/core/runtime.h"
#include "pesuite/core/run_files.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/core/torch_compat.h"
#include "pesuite/core/trainer.h"
#include "pesuite/datasets/spec.h"
#include "pesuite/vision/head_pose_training.h"
#include "train_setup.h"

namespace pesuite::vision {

namespace fs = std::filesystem;

core::Config head_pose_defaults() {
  return core::Config::from_toml_string(R"(
task = "headpose"
experiment = "headpose"
seed = 0
device = "auto"

[data]
train = "facesynth:?n=2000&seed=0&size=128"
# Test sets as "name=spec": each gets <name>.mae, <name>.yaw, ... in the results.
test = ["synth=facesynth:?n=300&seed=1000&size=128", "300wlp=300wlp:${data}/300wlp-sample", "aflw2000=aflw2000:${data}/aflw2000-sample"]
root = ""                 # what ${data} stands for; "" = $PESUITE_DATA, else ../shared/data beside the source tree
train_limit = 0           # 0 = every face
test_limit = 0
labelled_fraction = 1.0   # share of the training faces whose labels are used (semi-supervised tables: 0.02 ... 1)
mean = [0.485, 0.456, 0.406]
std = [0.229, 0.224, 0.225]
cache_mb = 2048           # decoded / rendered images kept in memory up to this size

[model]
backbone = "resnet50"     # resnet18 | resnet34 | resnet50 | resnet101 | resnet152 | any ViT preset (pesuite list models)
head = "hopenet"          # hopenet | 6d | fullrange
alpha = 1.0               # hopenet: weight of the expectation's MSE (the released models: 1 and 2)
img_size = 224            # input side
pe = ""                   # ViT backbones: any heads/ registry spec ('' = the preset's)
pe_after_blocks = []
patch_size = 0            # ViT: 0 = the preset's (likewise dim, depth, heads)
dim = 0
depth = 0
heads = 0
drop_path = 0.0

[train]
epochs = 10               # passes over all training faces (labelled + unlabelled): the same steps for every labelled fraction
batch_size = 64
lr = 1e-4
min_lr_ratio = 0.01
weight_decay = 0.0
warmup_fraction = 0.05
clip_grad_norm = 0.0
flip = true               # horizontal flip p = 0.5 (yaw and roll negated)
k_range = [0.2, 0.4]      # loose-crop margin k, uniform (Hopenet's 300W-LP training)
resize_ratio = 1.0714285714285714   # shorter side to img_size * 240 / 224, then a random img_size square
amp = "auto"              # auto: bf16 autocast on CUDA, off on CPU | bf16 | off
checkpoint_every = 0      # steps; 0 = once per epoch (the end is always saved)
stop_after_steps = 0      # stop (with a checkpoint) after this many steps of this invocation; resume later
log_every = 20

[semi]
enabled = false
weight = 1.0              # of the unlabelled loss
start_fraction = 0.2      # supervised only for this share of the steps
keep_start = 0.3          # share of an unlabelled batch the adaptive threshold keeps at the start ...
keep_end = 0.8            # ... and at the end (linear in between)
ema = 0.9                 # threshold momentum
unlabelled_batch = 0      # 0 = train.batch_size
strength = 1.0            # scales the strong view's colour / noise / cutout

[eval]
batch_size = 64
filter = 99               # leave out test faces with any |angle| > filter (AFLW2000's protocol); 0 = keep all
# Test sets (by name) that may be left out, with a note in log.txt, where this build cannot read them
# (JPEG without OpenCV, .mat without libmatio: the GPU machine) or their folder is absent; evaluate the
# checkpoint on them later with `pesuite vision headpose --ckpt ... --eval name=spec`.
optional = []
)", "<headpose defaults>");
}

bool is_head_pose_config(const std::string& file, const std::vector<std::string>& sets) {
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos) continue;
    std::string k = s.substr(0, eq), v = s.substr(eq + 1);
    if (k == "task") return v == "headpose" || v == "\"headpose\"";
  }
  if (file.empty()) return false;
  try {
    const auto t = toml::parse_file(file);
    if (const auto* task = t.get("task"); task && task->is_string()) return task->value<std::string>().value_or("") == "headpose";
  } catch (const std::exception&) {
  }
  return false;
}

namespace {

std::string data_root(const core::Config& cfg) { return datasets::data_root(cfg.get_string("data.root")); }

// data.test entries: "name=spec" (or a bare spec, named by its format).
std::vector<std::pair<std::string, std::string>> test_sets(const core::Config& cfg) {
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> names;
  for (const auto& entry : cfg.get_strings("data.test")) {
    const auto eq = entry.find('=');
    const auto colon = entry.find(':');
    std::string name, spec;
    if (eq != std::string::npos && (colon == std::string::npos || eq < colon)) {
      name = entry.substr(0, eq);
      spec = entry.substr(eq + 1);
    } else {
      spec = entry;
      name = entry.substr(0, colon);
    }
    if (name.empty() || spec.empty()) throw core::InputError("config data.test: '" + entry + "' is not name=spec");
    if (!names.insert(name).second) throw core::InputError("config data.test: the name '" + name + "' is used twice");
    out.push_back({name, datasets::expand_data_root(spec, data_root(cfg))});
  }
  return out;
}

bool use_bf16(const core::Config& cfg, const torch::Device& device) {
  const auto amp = cfg.get_string("train.amp");
  if (amp != "auto" && amp != "bf16" && amp != "off") throw core::InputError("config train.amp: '" + amp + "' is not one of auto, bf16, off");
  return device.is_cuda() && amp != "off";
}

torch::Tensor forward_raw(HeadPoseNet& model, const torch::Tensor& x, const torch::Device& device, bool bf16) {
  if (!bf16) return model(x);
  core::AutocastGuard amp(device, torch::kBFloat16);
  return model(x).to(torch::kFloat32);
}

std::array<float, 3> three(const std::vector<double>& v, const char* key) {
  if (v.size() != 3) throw core::InputError(std::string("config ") + key + ": expected 3 values (R, G, B)");
  return {static_cast<float>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2])};
}

// A permutation of [0, n) for cycle c (std::mt19937_64 + our own Fisher-Yates: portable).
std::vector<std::int64_t> cycle_order(std::int64_t n, std::uint64_t seed, std::uint64_t salt, std::int64_t cycle) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 1000003ULL + salt * 7919ULL + static_cast<std::uint64_t>(cycle));
  for (std::int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(i + 1))]);
  return order;
}

// Batch `step` of a pool cycled through in shuffled passes.
std::vector<std::int64_t> pool_batch(const std::vector<std::int64_t>& pool, std::int64_t step, std::int64_t batch, std::uint64_t seed,
                                     std::uint64_t salt) {
  std::vector<std::int64_t> out;
  const auto n = static_cast<std::int64_t>(pool.size());
  std::int64_t cached_cycle = -1;
  std::vector<std::int64_t> order;
  for (std::int64_t j = 0; j < batch; ++j) {
    const std::int64_t p = step * batch + j, c = p / n;
    if (c != cached_cycle) {
      order = cycle_order(n, seed, salt, c);
      cached_cycle = c;
    }
    out.push_back(pool[static_cast<std::size_t>(order[static_cast<std::size_t>(p % n)])]);
  }
  return out;
}

// The test sets by name; a set named in eval.optional that cannot be opened is left out, with a
// line for the run's log in `skipped`.
std::vector<std::pair<std::string, std::unique_ptr<HeadPoseData>>> open_test_sets(const core::Config& cfg,
                                                                                  const std::vector<std::pair<std::string, std::string>>& sets,
                                                                                  std::vector<std::string>& skipped) {
  std::vector<std::pair<std::string, std::unique_ptr<HeadPoseData>>> tests;
  const auto optional = cfg.get_strings("eval.optional");
  for (const auto& [name, spec] : sets) {
    try {
      tests.push_back({name, HeadPoseData::open(spec, head_pose_data_options(cfg, false), false)});
    } catch (const core::InputError& e) {
      if (std::find(optional.begin(), optional.end(), name) == optional.end()) throw;
      skipped.push_back("test set " + name + " left out (eval.optional): " + e.what());
    }
  }
  return tests;
}

struct LabelSplit {
  std::vector<std::int64_t> labelled, unlabelled;  // training indices, sorted
  std::array<double, 3> mean_pose{0, 0, 0};        // yaw, pitch, roll over the labelled faces: the baseline
};

// The labelled share: the first round(fraction * n) of a seeded permutation (at least one face).
LabelSplit split_labelled(const HeadPoseData& train, double fraction, std::uint64_t seed) {
  const auto n = train.size();
  const std::vector<std::int64_t> perm = cycle_order(n, seed, 17, 0);
  const auto n_lab = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(fraction * static_cast<double>(n))));
  LabelSplit s;
  s.labelled.assign(perm.begin(), perm.begin() + n_lab);
  s.unlabelled.assign(perm.begin() + n_lab, perm.end());
  std::sort(s.labelled.begin(), s.labelled.end());
  std::sort(s.unlabelled.begin(), s.unlabelled.end());
  for (auto i : s.labelled) {
    const auto& p = train.items[static_cast<std::size_t>(i)].pose;
    s.mean_pose[0] += p.yaw / n_lab;
    s.mean_pose[1] += p.pitch / n_lab;
    s.mean_pose[2] += p.roll / n_lab;
  }
  return s;
}

// f()'s result, with the wall time it took added to `seconds`.
template <typename F>
auto timed(double& seconds, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  auto out = f();
  seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

// The strong view of the semi-supervised consistency loss, scaled by semi.strength.
ViewAugment strong_augment(const core::Config& cfg) {
  ViewAugment strong = ViewAugment::strong();
  const double strength = cfg.get_double("semi.strength");
  strong.brightness *= strength;
  strong.contrast *= strength;
  strong.noise *= strength;
  strong.cutout = std::min(0.9, strong.cutout * strength);
  return strong;
}

// SemiUHPE-style unlabelled term of one step: the weak view's prediction (and its flip's agreement
// as the confidence) gives the pseudo-label of the strong view of the same crop; faces below the
// adaptive threshold are left out.
struct PseudoLabelStep {
  HeadPoseNet& model;
  HeadPoseData& train;
  torch::Device device;
  bool bf16;
  std::uint64_t seed;
  std::int64_t u_batch;
  double weight;
  ViewAugment strong;

  // Several ranks: each renders and predicts its share of the unlabelled batch; the confidences
  // of the whole batch are gathered (a few numbers), so every rank updates the threshold with the
  // quantile of the global batch, as one process does, and keeps the faces one process would keep.
  // view_seconds: the time spent building the views is added to it.
  torch::Tensor loss(const std::vector<std::int64_t>& unlabelled, std::int64_t step, double progress, AdaptiveThreshold& threshold,
                     double& kept_share, double& view_seconds) const {
    const auto all = pool_batch(unlabelled, step, u_batch, seed, 2);
    auto& world = core::dist::World::get();
    const auto share = world.batch_share(static_cast<std::int64_t>(all.size()));
    const std::vector<std::int64_t> uidx(all.begin() + share.begin, all.begin() + share.end);
    torch::Tensor pseudo, keep, conf = torch::zeros({0}, torch::kFloat64);
    HeadPoseBatch strong_views;
    {
      torch::NoGradGuard no_grad;
      if (!uidx.empty()) {
        const auto stream = static_cast<std::uint64_t>(2 * step + 1);
        auto [weak, strong_batch] = timed(view_seconds, [&] { return train.weak_strong_batch(uidx, stream, strong, share.begin); });
        strong_views = std::move(strong_batch);
        model->eval();
        auto w = weak.images.to(device);
        auto raw_w = forward_raw(model, w, device, bf16);
        auto raw_m = forward_raw(model, w.flip({3}), device, bf16);
        model->train();
        conf = flip_agreement(model->rotation(raw_w), model->rotation(raw_m)).to(torch::kCPU, torch::kFloat64);
        pseudo = model->angles(raw_w).to(torch::kCPU);
      }
      const auto global = core::dist::gather_shares(world, conf, share, static_cast<std::int64_t>(all.size())).contiguous();
      std::vector<double> c(global.data_ptr<double>(), global.data_ptr<double>() + global.numel());
      const double thr = threshold.update(c, progress);
      keep = conf >= thr;
      kept_share = (global >= thr).to(torch::kFloat64).mean().item<double>();
    }
    if (uidx.empty()) return torch::zeros({}, torch::TensorOptions().device(device));
    // Every strong view goes through the network and the faces below the threshold get weight 0
    // (FixMatch's masked loss): the batch keeps one shape every step (forwarding only the kept
    // faces gave the convolutions a new batch size almost every step), and batch norm's
    // statistics see the whole strong batch, as in FixMatch.
    auto raw_s = forward_raw(model, strong_views.images.to(device), device, bf16);
    auto unsup = model->loss(raw_s, pseudo.to(device), keep.to(torch::kFloat32)).total;
    // Sum over this rank's kept faces / u_batch (the loss is that sum / its share's size), times
    // the world size for GradientSync's mean.
    const double ranks = world.size() > 1 ? static_cast<double>(world.size()) : 1.0;
    return weight * unsup * (static_cast<double>(uidx.size()) / static_cast<double>(u_batch) * ranks);
  }
};

}  // namespace

std::vector<std::string> head_pose_dataset_specs(const core::Config& cfg) {
  std::vector<std::string> out{datasets::expand_data_root(cfg.get_string("data.train"), data_root(cfg))};
  const auto optional = cfg.get_strings("eval.optional");
  for (const auto& [name, spec] : test_sets(cfg))
    if (std::find(optional.begin(), optional.end(), name) == optional.end()) out.push_back(spec);
  return out;
}

std::vector<std::pair<std::string, std::string>> head_pose_test_sets(const core::Config& cfg) { return test_sets(cfg); }

HeadPoseDataOptions head_pose_data_options(const core::Config& cfg, bool train) {
  HeadPoseDataOptions o;
  o.img_size = cfg.get_int("model.img_size");
  o.limit = cfg.get_int(train ? "data.train_limit" : "data.test_limit");
  o.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  o.flip = cfg.get_bool("train.flip");
  const auto k = cfg.get_doubles("train.k_range");
  if (k.size() != 2 || !(k[0] >= 0 && k[0] <= k[1])) throw core::InputError("config train.k_range: expected [lo, hi] with 0 <= lo <= hi");
  o.k_range = {k[0], k[1]};
  o.resize_ratio = cfg.get_double("train.resize_ratio");
  if (!(o.resize_ratio >= 1)) throw core::InputError("config train.resize_ratio: must be >= 1");
  o.mean = three(cfg.get_doubles("data.mean"), "data.mean");
  o.std = three(cfg.get_doubles("data.std"), "data.std");
  o.filter = cfg.get_double("eval.filter");
  o.cache_mb = cfg.get_int("data.cache_mb");
  return o;
}

HeadPoseNet build_head_pose_model(const core::Config& cfg) {
  for (const char* k : {"img_size", "patch_size", "dim", "depth", "heads"})
    if (cfg.get_int(std::string("model.") + k) < 0) throw core::InputError(std::string("config model.") + k + ": must be >= 0");
  if (cfg.get_int("model.img_size") < 16) throw core::InputError("config model.img_size: must be >= 16");
  return HeadPoseNet(HeadPoseOptions()
                         .backbone(cfg.get_string("model.backbone"))
                         .head(cfg.get_string("model.head"))
                         .alpha(cfg.get_double("model.alpha"))
                         .img_size(cfg.get_int("model.img_size"))
                         .pe(cfg.get_string("model.pe"))
                         .pe_after_blocks(cfg.get_ints("model.pe_after_blocks"))
                         .patch_size(cfg.get_int("model.patch_size"))
                         .dim(cfg.get_int("model.dim"))
                         .depth(cfg.get_int("model.depth"))
                         .heads(cfg.get_int("model.heads"))
                         .drop_path(cfg.get_double("model.drop_path")));
}

core::Config head_pose_resume_config(const std::string& run_or_checkpoint) { return core::run_config(run_or_checkpoint, head_pose_defaults()); }

core::Config head_pose_checkpoint_config(const std::string& ckpt) { return core::checkpoint_config(ckpt, head_pose_defaults(), "head-pose"); }

HeadPoseNet load_head_pose_model(const std::string& ckpt, const torch::Device& device, core::Config* config_out) {
  if (!fs::is_regular_file(ckpt)) throw core::InputError(ckpt + ": no such checkpoint file");
  core::Config cfg = head_pose_checkpoint_config(ckpt);
  if (cfg.get_string("task") != "headpose") throw core::InputError(ckpt + ": not a head-pose checkpoint (task '" + cfg.get_string("task") + "')");
  HeadPoseNet model = build_head_pose_model(cfg);
  auto file = core::load_safetensors(ckpt);
  core::TensorMap state;
  for (auto& [name, t] : file.tensors)
    if (name.rfind("model.", 0) == 0) state[name.substr(6)] = t;
  core::load_module_state(*model, state, ckpt);
  model->to(device);
  model->eval();
  if (config_out) *config_out = cfg;
  return model;
}

HeadPoseSetMetrics evaluate_head_pose(HeadPoseNet& model, const HeadPoseData& data, std::int64_t batch, const torch::Device& device,
                                      bool bf16, const std::array<double, 3>& mean_pose, bool wrapped) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  HeadPoseSetMetrics m;
  m.n = data.size();
  m.dropped = data.dropped;
  auto guess = torch::tensor({mean_pose[0], mean_pose[1], mean_pose[2]}, torch::kFloat32).view({1, 3});
  torch::Tensor err_sum = torch::zeros({3}, torch::kFloat64), base_sum = torch::zeros({3}, torch::kFloat64);
  double geo = 0;
  for (std::int64_t b = 0; b < data.size(); b += batch) {
    const auto e = std::min(data.size(), b + batch);
    HeadPoseBatch hb = data.test_batch(b, e);
    auto raw = forward_raw(model, hb.images.to(device), device, bf16).to(torch::kCPU);
    auto pred = model->angles(raw);
    auto t = hb.targets;
    auto err = wrapped ? wrapped_abs_error(pred, t) : (pred - t).abs();
    auto base = wrapped ? wrapped_abs_error(guess.expand_as(t), t) : (guess - t).abs();
    err_sum += err.to(torch::kFloat64).sum(0);
    base_sum += base.to(torch::kFloat64).sum(0);
    geo += geodesic_degrees(model->rotation(raw), rotation_from_euler(t)).to(torch::kFloat64).sum().item<double>();
  }
  const double n = static_cast<double>(std::max<std::int64_t>(1, m.n));
  m.yaw = err_sum[0].item<double>() / n;
  m.pitch = err_sum[1].item<double>() / n;
  m.roll = err_sum[2].item<double>() / n;
  m.mae = (m.yaw + m.pitch + m.roll) / 3;
  m.geodesic = geo / n;
  m.baseline_mae = base_sum.sum().item<double>() / (3 * n);
  if (was_training) model->train();
  return m;
}

// ---- training -------------------------------------------------------------------------------------

// Scores every test set after the last step; one metrics row with all of them, in the log too.
static void evaluate_test_sets(HeadPoseNet& model, const std::vector<std::pair<std::string, std::unique_ptr<HeadPoseData>>>& tests,
                               const core::Config& cfg, const torch::Device& device, bool bf16, const std::array<double, 3>& mean_pose,
                               bool wrapped, core::RunDir& run, HeadPoseResult& result) {
  nlohmann::ordered_json row{{"step", result.total_steps}};
  for (const auto& [name, data] : tests) {
    const auto m = evaluate_head_pose(model, *data, cfg.get_int("eval.batch_size"), device, bf16, mean_pose, wrapped);
    result.sets[name] = m;
    row[name + ".mae"] = m.mae;
    row[name + ".yaw"] = m.yaw;
    row[name + ".pitch"] = m.pitch;
    row[name + ".roll"] = m.roll;
    row[name + ".geodesic"] = m.geodesic;
    row[name + ".baseline_mae"] = m.baseline_mae;
    row[name + ".n"] = m.n;
  }
  row["train_seconds"] = result.train_seconds;
  row["train_images_per_second"] = result.train_images_per_second;
  row["view_seconds"] = result.view_seconds;
  run.metrics().append(row);
  run.log("test " + row.dump(), false);
}

HeadPoseResult run_head_pose(const core::Config& cfg, const std::string& runs_root, const std::string& resume) {
  if (cfg.get_string("task") != "headpose") throw core::InputError("config task: '" + cfg.get_string("task") + "' is not headpose");
  const auto seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const torch::Device device = core::parse_device(cfg.get_string("device"));
  std::string run_path, ckpt_path;
  if (!resume.empty()) std::tie(run_path, ckpt_path) = core::resolve_run_or_checkpoint(resume);
  const bool bf16 = use_bf16(cfg, device);
  const auto sets = test_sets(cfg);
  const bool semi = cfg.get_bool("semi.enabled");
  const double fraction = cfg.get_double("data.labelled_fraction");
  if (!(fraction > 0 && fraction <= 1)) throw core::InputError("config data.labelled_fraction: must be in (0, 1]");
  const auto batch = cfg.get_int("train.batch_size");
  if (batch <= 0) throw core::InputError("config train.batch_size: must be positive");
  const auto u_batch = cfg.get_int("semi.unlabelled_batch") > 0 ? cfg.get_int("semi.unlabelled_batch") : batch;
  AdaptiveThreshold threshold(cfg.get_double("semi.keep_start"), cfg.get_double("semi.keep_end"), cfg.get_double("semi.ema"));
  core::seed_all(seed);
  HeadPoseNet model = build_head_pose_model(cfg);  // config errors before any data is read
  const bool wrapped = cfg.get_string("model.head") == "fullrange";

  auto train = HeadPoseData::open(datasets::expand_data_root(cfg.get_string("data.train"), data_root(cfg)), head_pose_data_options(cfg, true), true);
  std::vector<std::string> skipped;
  const auto tests = open_test_sets(cfg, sets, skipped);
  const auto n = train->size();
  const LabelSplit split = split_labelled(*train, fraction, seed);
  const auto& labelled = split.labelled;
  const auto& unlabelled = split.unlabelled;
  const auto n_lab = static_cast<std::int64_t>(labelled.size());
  if (semi && unlabelled.empty()) throw core::InputError("config semi.enabled: data.labelled_fraction 1 leaves no unlabelled faces");
  model->to(device);

  const auto steps_per_epoch = std::max<std::int64_t>(1, n / batch);
  const auto total = steps_per_epoch * cfg.get_int("train.epochs");
  if (total <= 0) throw core::InputError("config train.epochs: must be positive");
  const auto adamw = torch::optim::AdamWOptions(cfg.get_double("train.lr")).weight_decay(cfg.get_double("train.weight_decay"));
  core::FusedAdamW optimizer(model->parameters(), adamw);
  core::LrSchedule schedule = warmup_cosine_schedule(cfg, total);
  core::RunDir run = resume.empty() ? core::RunDir::create(runs_root, cfg.get_string("experiment"), seed, cfg, device.str())
                                    : core::RunDir::open(run_path);
  const std::string label = cfg.get_string("model.backbone") + "+" + cfg.get_string("model.head");
  core::Trainer trainer(*model, optimizer, schedule, trainer_options(cfg, total, label, seed, run, steps_per_epoch));
  if (!resume.empty()) {
    trainer.resume(ckpt_path);
    threshold.load_state(trainer.state().extra.value("semi_threshold", nlohmann::json::object()));
    run.metrics().truncate_after("step", static_cast<double>(trainer.state().step));
    run.log("resumed from " + ckpt_path + " at step " + std::to_string(trainer.state().step) + " of " + std::to_string(total), false);
  } else {
    run.log("run " + run.path() + ": " + cfg.get_string("model.backbone") + " + " + cfg.get_string("model.head") + " head, " +
                std::to_string(n_lab) + " labelled / " + std::to_string(unlabelled.size()) + " unlabelled faces (" + train->spec + "), " +
                std::to_string(total) + " steps" + (semi ? ", semi-supervised" : ""),
            false);
  }
  for (const auto& line : skipped) run.log(line);
  trainer.state().extra["config"] = cfg.to_toml();
  const auto start_step = trainer.state().step;
  const auto semi_start = static_cast<std::int64_t>(cfg.get_double("semi.start_fraction") * static_cast<double>(total));
  const PseudoLabelStep pseudo_step{model, *train, device, bf16, seed, u_batch, cfg.get_double("semi.weight"), strong_augment(cfg)};
  double kept_share = 0, view_seconds = 0;  // view_seconds: inside train_batch / weak_strong_batch (CPU view building)

  auto loss_of = [&](std::int64_t step) {
    // Streams: 2 step (labelled views), 2 step + 1 (unlabelled views).
    const auto all = pool_batch(labelled, step, batch, seed, 1);
    // Several processes (core/distributed.h): this rank renders and trains on its share only.
    const auto share = core::dist::World::get().batch_share(static_cast<std::int64_t>(all.size()));
    if (share.empty()) return torch::zeros({}, torch::TensorOptions().device(device));
    const std::vector<std::int64_t> idx(all.begin() + share.begin, all.begin() + share.end);
    HeadPoseBatch b = timed(view_seconds, [&] { return train->train_batch(idx, static_cast<std::uint64_t>(2 * step), {}, share.begin); });
    auto raw = forward_raw(model, b.images.to(device), device, bf16);
    auto loss = model->loss(raw, b.targets.to(device)).total;
    if (share.loss_scale != 1.0) loss = loss * share.loss_scale;
    if (!semi || step < semi_start) return loss;
    const double progress = static_cast<double>(step - semi_start) / static_cast<double>(std::max<std::int64_t>(1, total - semi_start));
    return loss + pseudo_step.loss(unlabelled, step, progress, threshold, kept_share, view_seconds);
  };

  const auto stop_after = cfg.get_int("train.stop_after_steps");
  const auto log_every = std::max<std::int64_t>(1, cfg.get_int("train.log_every"));
  double running = trainer.state().extra.value("running_loss", 0.0);
  auto on_step = [&](core::TrainState& st, double loss) {
    running = st.step == 1 ? loss : 0.98 * running + 0.02 * loss;
    st.extra["running_loss"] = running;
    st.extra["semi_threshold"] = threshold.state();
    st.epoch = st.step / steps_per_epoch;
    if (st.step % log_every == 0 || st.step == total) {
      nlohmann::ordered_json row{{"step", st.step}, {"epoch", static_cast<double>(st.step) / steps_per_epoch}, {"train_loss", running},
                                 {"loss", loss}, {"lr", schedule.lr_at(st.step - 1)}};
      if (semi && st.step > semi_start) {
        row["threshold"] = threshold.value();
        row["kept"] = kept_share;
      }
      run.metrics().append(row);
    }
    if (st.step % steps_per_epoch == 0) run.log("epoch " + std::to_string(st.epoch) + " step " + std::to_string(st.step) + " loss " + std::to_string(running), false);
    return stop_after <= 0 || st.step - start_step < stop_after;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const auto st = trainer.fit([&](std::int64_t step, std::mt19937_64&) { return loss_of(step); }, on_step);
  HeadPoseResult result;
  result.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.steps = st.step;
  result.total_steps = total;
  result.labelled = n_lab;
  result.unlabelled = static_cast<std::int64_t>(unlabelled.size());
  result.train_images_per_second = static_cast<double>((st.step - start_step) * batch) / std::max(1e-9, result.train_seconds);
  result.view_seconds = view_seconds;
  result.run_path = run.path();
  result.checkpoint = trainer.last_checkpoint();
  result.final_threshold = threshold.value();
  if (st.step < total) {
    result.finished = false;
    run.log("stopped at step " + std::to_string(st.step) + " of " + std::to_string(total) + "; continue with --resume " + run.path(), false);
    return result;
  }
  evaluate_test_sets(model, tests, cfg, device, bf16, split.mean_pose, wrapped, run, result);
  return result;
}

}  // namespace pesuite::vision
