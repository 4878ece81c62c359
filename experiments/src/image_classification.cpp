#include "pesuite/experiments/image_classification.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "pesuite/datasets/idx.h"
#include "pesuite/experiments/run_dir.h"
#include "pesuite/experiments/trainer.h"
#include "pesuite/heads/error.h"
#include "pesuite/heads/runtime.h"
#include "pesuite/heads/safetensors.h"
#include "pesuite/heads/torch_compat.h"
#include "pesuite/vision/classification.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/experiments/plot.h"
#endif

namespace pesuite::experiments {

namespace fs = std::filesystem;

Config image_classification_defaults() {
  return Config::from_toml_string(R"(
experiment = "fmnist-vit"
seed = 0
device = "auto"

[data]
train = "idx:/usr/share/datasets/fashion-mnist?split=train"
test = "idx:/usr/share/datasets/fashion-mnist?split=test"
train_limit = 0        # 0 = every image
test_limit = 0
mean = [0.2860]        # per channel (one value: every channel); Fashion-MNIST pixel statistics
std = [0.3530]

[model]
name = "vit_tiny_patch4_28"
pe = ""                 # "" = the preset's; any heads/ registry spec: none, learned, sincos2d, fourier, rope2d, alibi2d, peg, peg:kernel=5, ...
pe_after_blocks = []    # where a conditional encoding (peg) runs, -1 = before block 0; [] = the preset's (CPVT: [0])
pooling = "auto"        # auto (the preset's) | cls (class token) | gap (global average pooling, CPVT-GAP)
drop_path = 0.0         # stochastic depth rate of the last block (linear from 0)

[train]
epochs = 1
batch_size = 128
lr = 1e-3
min_lr_ratio = 0.01
weight_decay = 0.05
warmup_fraction = 0.1   # of all steps
loss = "auto"           # auto (ce; bce for multi-label data) | ce | bce (one sigmoid per class)
label_smoothing = 0.1   # ce only
mixup = 0.0             # mixup Beta(alpha, alpha); 0 = off
cutmix = 0.0            # cutmix Beta(alpha, alpha); 0 = off
mix_prob = 1.0          # probability that a batch is mixed (when mixup or cutmix is on)
mix_switch_prob = 0.5   # with both on: probability of cutmix
clip_grad_norm = 1.0    # 0 = off
hflip = true
amp = "auto"            # auto: bf16 autocast on CUDA, off on CPU | bf16 | off
checkpoint_every = 0    # steps; 0 = once per epoch (ckpt/last.safetensors; the end is always saved)
stop_after_steps = 0    # stop (with a checkpoint) after this many steps of this invocation; resume later. 0 = off
log_every = 20          # steps between metrics rows

[eval]
sizes = [28, 44, 56]    # test input sizes (1x, ~1.5x: the nearest multiple of the patch, 2x), no fine-tuning
batch_size = 500
each_epoch = false      # also test at the training size after every epoch (curves in metrics / plots)
)", "<image-classification defaults>");
}

// ---- data ---------------------------------------------------------------------------------------

ImageSet load_image_set(const std::string& spec_text, std::int64_t limit, const std::vector<double>& mean,
                        const std::vector<double>& std) {
  auto spec = datasets::parse_spec(spec_text);
  if (limit > 0 && spec.params.count("limit")) spec.params["limit"] = std::to_string(limit);
  ImageSet set;
  torch::Tensor u8;
  if (spec.format == "idx") {
    auto ds = datasets::load_idx_dataset(spec);
    u8 = ds.images;
    set.targets = ds.labels;
    set.class_names = ds.classes;
  } else {
    throw InputError("dataset spec '" + spec_text + "': image classification reads idx: in this build (format '" +
                     spec.format + "' needs its pesuite::imageio loader)");
  }
  if (limit > 0 && u8.size(0) > limit) {
    u8 = u8.slice(0, 0, limit);
    set.targets = set.targets.slice(0, 0, limit);
  }
  if (u8.dim() == 3) u8 = u8.unsqueeze(1);         // [N, H, W] grey
  else if (u8.dim() == 4) u8 = u8.permute({0, 3, 1, 2});  // [N, H, W, C]
  const auto c = u8.size(1);
  auto channel = [&](const std::vector<double>& v, const char* key) {
    if (v.size() != 1 && static_cast<std::int64_t>(v.size()) != c)
      throw InputError("config data." + std::string(key) + ": " + std::to_string(v.size()) + " values for " + std::to_string(c) +
                       "-channel images of " + spec_text);
    std::vector<float> f;
    for (std::int64_t i = 0; i < c; ++i) f.push_back(static_cast<float>(v.size() == 1 ? v[0] : v[static_cast<std::size_t>(i)]));
    return torch::tensor(f).view({1, c, 1, 1});
  };
  set.images = ((u8.to(torch::kFloat32) / 255.0 - channel(mean, "mean")) / channel(std, "std")).contiguous();
  set.multi_label = set.targets.dim() == 2;
  set.classes = set.multi_label ? set.targets.size(1) : static_cast<std::int64_t>(set.class_names.size());
  if (!set.multi_label && set.classes == 0 && set.targets.numel() > 0) set.classes = set.targets.max().item<std::int64_t>() + 1;
  return set;
}

namespace {

bool use_bf16(const Config& cfg, const torch::Device& device) {
  const auto amp = cfg.get_string("train.amp");
  if (amp != "auto" && amp != "bf16" && amp != "off")
    throw InputError("config train.amp: '" + amp + "' is not one of auto, bf16, off");
  return device.is_cuda() && amp != "off";
}

// "ce" or "bce" for this data.
std::string loss_kind(const Config& cfg, bool multi_label) {
  auto loss = cfg.get_string("train.loss");
  if (loss != "auto" && loss != "ce" && loss != "bce")
    throw InputError("config train.loss: '" + loss + "' is not one of auto, ce, bce");
  if (loss == "auto") loss = multi_label ? "bce" : "ce";
  if (loss == "ce" && multi_label) throw InputError("config train.loss: 'ce' needs single-label data; multi-label data trains with bce");
  return loss;
}

vision::ViT build_model(const Config& cfg, std::int64_t num_classes) {
  const auto pooling = cfg.get_string("model.pooling");
  if (pooling != "auto" && pooling != "cls" && pooling != "gap")
    throw InputError("config model.pooling: '" + pooling + "' is not one of auto, cls, gap");
  return vision::create_vit(cfg.get_string("model.name"), [&](vision::ViTOptions& o) {
    o.num_classes(num_classes).drop_path(cfg.get_double("model.drop_path"));
    if (!cfg.get_string("model.pe").empty()) o.pe(cfg.get_string("model.pe"));
    if (!cfg.get_ints("model.pe_after_blocks").empty()) o.pe_after_blocks(cfg.get_ints("model.pe_after_blocks"));
    if (pooling != "auto") o.class_token(pooling == "cls");
  });
}

torch::Tensor resize_to(const torch::Tensor& x, std::int64_t size) {
  if (x.size(-1) == size && x.size(-2) == size) return x;
  namespace F = torch::nn::functional;
  return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kBilinear).align_corners(false));
}

torch::Tensor forward_logits(vision::ViT& model, const torch::Tensor& x, const torch::Device& device, bool bf16) {
  if (!bf16) return model(x);
  compat::AutocastGuard amp(device, torch::kBFloat16);
  return model(x).to(torch::kFloat32);
}

void check_model_fits(const Config& cfg, vision::ViT& model, const ImageSet& set, const std::string& spec) {
  if (model->options.in_chans() != set.images.size(1) || set.images.size(2) != model->options.img_size())
    throw InputError("model '" + cfg.get_string("model.name") + "' expects " + std::to_string(model->options.in_chans()) + "x" +
                     std::to_string(model->options.img_size()) + "px inputs; " + spec + " has " +
                     std::to_string(set.images.size(1)) + "x" + std::to_string(set.images.size(2)) + "px images");
}

void check_sizes(const std::vector<std::int64_t>& sizes, std::int64_t patch) {
  for (auto s : sizes)
    if (s <= 0 || s % patch != 0)
      throw InputError("eval sizes: " + std::to_string(s) + " is not a positive multiple of the patch size " + std::to_string(patch));
}

nlohmann::json read_checkpoint_extra(const std::string& ckpt) {
  const auto file = io::load_safetensors(ckpt);
  auto it = file.metadata.find("extra");
  if (it == file.metadata.end()) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw InputError(ckpt + ": metadata 'extra' is not JSON (" + e.what() + ")");
  }
}

}  // namespace

std::map<std::int64_t, SizeMetrics> evaluate_at_sizes(vision::ViT& model, const ImageSet& set,
                                                      const std::vector<std::int64_t>& sizes, std::int64_t batch,
                                                      const torch::Device& device, bool bf16) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::map<std::int64_t, SizeMetrics> out;
  const auto n = set.images.size(0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (auto size : sizes) {
    std::int64_t top1 = 0, top5 = 0;
    double loss = 0;
    std::vector<torch::Tensor> scores;
    for (std::int64_t i = 0; i < n; i += batch) {
      auto x = resize_to(set.images.slice(0, i, std::min(i + batch, n)).to(device), size);
      auto logits = forward_logits(model, x, device, bf16).to(torch::kCPU);
      auto t = set.targets.slice(0, i, i + logits.size(0));
      if (set.multi_label) {
        scores.push_back(logits);
        loss += vision::multilabel_bce(logits, t).item<double>() * logits.size(0);
      } else {
        top1 += vision::topk_correct(logits, t, 1).sum().item<std::int64_t>();
        top5 += vision::topk_correct(logits, t, 5).sum().item<std::int64_t>();
        loss += torch::nn::functional::cross_entropy(logits, t).item<double>() * logits.size(0);
      }
    }
    SizeMetrics m;
    m.loss = n ? loss / static_cast<double>(n) : nan;
    if (set.multi_label) {
      m.top1 = m.top5 = nan;
      m.map = n ? vision::mean_average_precision(torch::cat(scores), set.targets).map : nan;
    } else {
      m.top1 = n ? static_cast<double>(top1) / static_cast<double>(n) : nan;
      m.top5 = n ? static_cast<double>(top5) / static_cast<double>(n) : nan;
      m.map = nan;
    }
    out[size] = m;
  }
  if (was_training) model->train();
  return out;
}

std::pair<std::string, std::string> resolve_checkpoint(const std::string& path) {
  if (fs::is_directory(path)) {
    const std::string ckpt = path + "/ckpt/last.safetensors";
    if (!fs::exists(ckpt)) throw InputError(path + ": no checkpoint to resume from (no ckpt/last.safetensors)");
    return {path, ckpt};
  }
  if (!fs::exists(path)) throw InputError(path + ": no such run folder or checkpoint");
  // <run>/ckpt/<file>.safetensors
  const auto run = fs::path(path).parent_path().parent_path().string();
  return {run.empty() ? std::string(".") : run, path};
}

Config resume_config(const std::string& run_or_checkpoint) {
  const auto [run, ckpt] = resolve_checkpoint(run_or_checkpoint);
  Config cfg = image_classification_defaults();
  if (!fs::exists(run + "/config.toml")) throw InputError(run + ": not a run folder (no config.toml)");
  cfg.merge_file(run + "/config.toml");
  return cfg;
}

Config checkpoint_config(const std::string& ckpt) {
  Config cfg = image_classification_defaults();
  const auto extra = read_checkpoint_extra(ckpt);
  if (extra.contains("config") && extra["config"].is_string()) {
    cfg.merge_string(extra["config"].get<std::string>(), ckpt + " (saved config)");
    return cfg;
  }
  const auto run = fs::path(ckpt).parent_path().parent_path() / "config.toml";
  if (fs::exists(run)) cfg.merge_file(run.string());
  return cfg;
}

vision::ViT load_classifier(const Config& cfg, const std::string& ckpt, const torch::Device& device) {
  auto file = io::load_safetensors(ckpt);
  auto head = file.tensors.find("model.head.weight");
  if (head == file.tensors.end()) throw InputError(ckpt + ": not a ViT classifier checkpoint (no 'model.head.weight')");
  vision::ViT model = build_model(cfg, head->second.size(0));
  io::TensorMap state;
  for (auto& [name, t] : file.tensors)
    if (name.rfind("model.", 0) == 0) state[name.substr(6)] = t;
  io::load_module_state(*model, state, ckpt);
  model->to(device);
  model->eval();
  return model;
}

CheckpointEval evaluate_checkpoint(const Config& cfg, const std::string& ckpt, const std::vector<std::int64_t>& sizes) {
  const torch::Device device = runtime::parse_device(cfg.get_string("device"));
  const bool bf16 = use_bf16(cfg, device);
  auto test = load_image_set(cfg.get_string("data.test"), cfg.get_int("data.test_limit"), cfg.get_doubles("data.mean"),
                             cfg.get_doubles("data.std"));
  vision::ViT model = load_classifier(cfg, ckpt, device);
  check_sizes(sizes, model->options.patch_size());
  if (model->options.in_chans() != test.images.size(1))
    throw InputError(ckpt + ": the model takes " + std::to_string(model->options.in_chans()) + "-channel images; " +
                     cfg.get_string("data.test") + " has " + std::to_string(test.images.size(1)));
  CheckpointEval out;
  out.checkpoint = ckpt;
  out.metric = test.multi_label ? "mAP" : "top1";
  out.metrics_at_size = evaluate_at_sizes(model, test, sizes, cfg.get_int("eval.batch_size"), device, bf16);
  return out;
}

// ---- training -----------------------------------------------------------------------------------

ClassificationResult run_image_classification(const Config& cfg, const std::string& runs_root, const std::string& resume) {
  const auto seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const torch::Device device = runtime::parse_device(cfg.get_string("device"));
  // Everything that can be wrong in the config is found before training starts.
  std::string run_path, ckpt_path;
  if (!resume.empty()) std::tie(run_path, ckpt_path) = resolve_checkpoint(resume);
  const bool bf16 = use_bf16(cfg, device);
  const auto mean = cfg.get_doubles("data.mean"), stdv = cfg.get_doubles("data.std");
  auto train = load_image_set(cfg.get_string("data.train"), cfg.get_int("data.train_limit"), mean, stdv);
  auto test = load_image_set(cfg.get_string("data.test"), cfg.get_int("data.test_limit"), mean, stdv);
  const auto loss_name = loss_kind(cfg, train.multi_label);
  const auto num_classes = train.classes;
  vision::MixOptions mix = vision::MixOptions()
                               .mixup_alpha(cfg.get_double("train.mixup"))
                               .cutmix_alpha(cfg.get_double("train.cutmix"))
                               .prob(cfg.get_double("train.mix_prob"))
                               .switch_prob(cfg.get_double("train.mix_switch_prob"));
  runtime::seed_all(seed);
  vision::ViT model = build_model(cfg, num_classes);
  check_model_fits(cfg, model, train, cfg.get_string("data.train"));
  const auto eval_sizes = cfg.get_ints("eval.sizes");
  check_sizes(eval_sizes, model->options.patch_size());
  model->to(device);

  const auto batch = cfg.get_int("train.batch_size");
  const auto n = train.images.size(0);
  if (batch <= 0) throw InputError("config train.batch_size: must be positive");
  if (n == 0) throw InputError("dataset " + cfg.get_string("data.train") + " has no images");
  const auto steps_per_epoch = std::max<std::int64_t>(1, n / batch);
  const auto total = steps_per_epoch * cfg.get_int("train.epochs");
  torch::optim::AdamW optimizer({torch::optim::OptimizerParamGroup(model->decay_parameters()),
                                 torch::optim::OptimizerParamGroup(model->no_decay_parameters())},
                                torch::optim::AdamWOptions(cfg.get_double("train.lr")).weight_decay(cfg.get_double("train.weight_decay")));
  static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[1].options()).weight_decay(0.0);
  LrSchedule schedule = LrSchedule::warmup_cosine(cfg.get_double("train.lr"),
                                                  static_cast<std::int64_t>(cfg.get_double("train.warmup_fraction") * total),
                                                  total, cfg.get_double("train.min_lr_ratio"));

  RunDir run = resume.empty() ? RunDir::create(runs_root, cfg.get_string("experiment"), seed, cfg, device.str()) : RunDir::open(run_path);
  TrainerOptions topts;
  topts.total_steps = total;
  topts.checkpoint_every = cfg.get_int("train.checkpoint_every") > 0 ? cfg.get_int("train.checkpoint_every") : steps_per_epoch;
  topts.clip_grad_norm = cfg.get_double("train.clip_grad_norm");
  topts.ckpt_dir = run.ckpt_dir();
  topts.label = model->pe.name;
  topts.data_seed = seed;
  Trainer trainer(*model, optimizer, schedule, topts);
  if (!resume.empty()) {
    trainer.resume(ckpt_path);
    run.metrics().truncate_after("step", static_cast<double>(trainer.state().step));
    run.log("resumed from " + ckpt_path + " at step " + std::to_string(trainer.state().step) + " of " + std::to_string(total), false);
  } else {
    run.log("run " + run.path() + ": " + cfg.get_string("model.name") + " + " + model->pe.name + ", " +
                std::to_string(n) + " training images, " + std::to_string(total) + " steps, loss " + loss_name,
            false);
  }
  // The checkpoint carries its config: `vision eval --ckpt` needs nothing else.
  trainer.state().extra["config"] = cfg.to_toml();
  const auto start_step = trainer.state().step;

  const bool hflip = cfg.get_bool("train.hflip");
  const double smoothing = cfg.get_double("train.label_smoothing");
  const auto stop_after = cfg.get_int("train.stop_after_steps");
  const auto log_every = std::max<std::int64_t>(1, cfg.get_int("train.log_every"));
  const bool each_epoch = cfg.get_bool("eval.each_epoch");
  // The batch of a step is a function of (seed, epoch, step): resume replays exactly.
  torch::Tensor order;
  std::int64_t order_epoch = -1;
  double running = trainer.state().extra.value("running_loss", 0.0);
  auto loss_fn = [&](std::int64_t step, std::mt19937_64&) {
    const auto epoch = step / steps_per_epoch, k = step % steps_per_epoch;
    if (epoch != order_epoch) {
      auto g = torch::make_generator<at::CPUGeneratorImpl>(seed * 1000003 + epoch);
      order = torch::randperm(n, g);
      order_epoch = epoch;
    }
    auto idx = order.slice(0, k * batch, (k + 1) * batch);
    auto x = train.images.index_select(0, idx);
    if (hflip) {
      auto g = torch::make_generator<at::CPUGeneratorImpl>(seed * 7919 + step);
      auto flip = torch::rand({x.size(0)}, g) < 0.5;
      x = torch::where(flip.view({-1, 1, 1, 1}), x.flip({3}), x);
    }
    torch::Tensor targets;
    if (train.multi_label) targets = train.targets.index_select(0, idx);
    else targets = vision::smooth_one_hot(train.targets.index_select(0, idx), num_classes, loss_name == "ce" ? smoothing : 0.0);
    if (mix.enabled()) {
      std::mt19937_64 mix_rng(seed * 2654435761ULL + static_cast<std::uint64_t>(step));
      auto m = vision::mix_batch(x, targets, mix, mix_rng);
      x = m.images;
      targets = m.targets;
    }
    auto logits = forward_logits(model, x.to(device), device, bf16);
    targets = targets.to(device);
    return loss_name == "ce" ? vision::soft_cross_entropy(logits, targets) : vision::multilabel_bce(logits, targets);
  };
  auto on_step = [&](TrainState& st, double loss) {
    running = st.step == 1 ? loss : 0.98 * running + 0.02 * loss;
    st.extra["running_loss"] = running;
    st.epoch = st.step / steps_per_epoch;
    if (st.step % log_every == 0 || st.step == total)
      run.metrics().append({{"step", st.step}, {"epoch", static_cast<double>(st.step) / steps_per_epoch},
                            {"train_loss", running}, {"lr", schedule.lr_at(st.step - 1)}});
    if (st.step % steps_per_epoch == 0) {
      std::ostringstream line;
      line << "epoch " << st.epoch << "/" << cfg.get_int("train.epochs") << " step " << st.step << " loss " << running;
      if (each_epoch) {
        const auto m = evaluate_at_sizes(model, test, {model->options.img_size()}, cfg.get_int("eval.batch_size"), device, bf16)
                           .begin()->second;
        const double acc = test.multi_label ? m.map : m.top1;
        run.metrics().append({{"step", st.step}, {"epoch", st.epoch}, {"test_metric", acc}, {"test_loss", m.loss}});
        line << " test " << (test.multi_label ? "mAP " : "top1 ") << acc;
      }
      run.log(line.str(), false);
    }
    return stop_after <= 0 || st.step - start_step < stop_after;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const auto st = trainer.fit(loss_fn, on_step);
  ClassificationResult result;
  result.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.steps = st.step;
  result.total_steps = total;
  result.train_images_per_second = static_cast<double>((st.step - start_step) * batch) / std::max(1e-9, result.train_seconds);
  result.run_path = run.path();
  result.checkpoint = trainer.last_checkpoint();
  result.metric = test.multi_label ? "mAP" : "top1";
  if (st.step < total) {
    result.finished = false;
    run.log("stopped at step " + std::to_string(st.step) + " of " + std::to_string(total) + "; continue with --resume " + run.path(), false);
    return result;
  }

  result.metrics_at_size = evaluate_at_sizes(model, test, eval_sizes, cfg.get_int("eval.batch_size"), device, bf16);
  nlohmann::ordered_json row{{"step", total}};
  for (const auto& [s, m] : result.metrics_at_size) {
    result.accuracy_at_size[s] = test.multi_label ? m.map : m.top1;
    if (test.multi_label) {
      row["test_map@" + std::to_string(s)] = m.map;
    } else {
      row["test_acc@" + std::to_string(s)] = m.top1;
      row["test_top5@" + std::to_string(s)] = m.top5;
    }
  }
  row["train_seconds"] = result.train_seconds;
  row["train_images_per_second"] = result.train_images_per_second;
  run.metrics().append(row);
  run.log("test " + row.dump(), false);
#ifdef PESUITE_HAVE_OPENCV
  auto [xs, ys] = run.metrics().series("step", "train_loss");
  plot::line_plot(run.plots_dir() + "/train_loss.png", {{"train_loss", xs, ys}}, {"training loss", "step", "loss"});
  if (each_epoch) {
    auto [ex, ey] = run.metrics().series("epoch", "test_metric");
    plot::line_plot(run.plots_dir() + "/test_metric.png", {{result.metric, ex, ey}}, {"test " + result.metric, "epoch", result.metric});
  }
#endif
  return result;
}

}  // namespace pesuite::experiments
