#include "pesuite/vision/classifier_training.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "pesuite/core/optim.h"
#include "pesuite/core/run_dir.h"
#include "pesuite/core/trainer.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/runtime.h"
#include "pesuite/core/run_files.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/core/torch_compat.h"
#include "pesuite/datasets/spec.h"
#include "pesuite/vision/classification.h"
#include "train_setup.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/core/plot.h"
#endif

namespace pesuite::vision {

namespace fs = std::filesystem;

core::Config image_classification_defaults() {
  return core::Config::from_toml_string(R"(
experiment = "fmnist-vit"
seed = 0
device = "auto"

[data]
train = "idx:/usr/share/datasets/fashion-mnist?split=train"
test = "idx:/usr/share/datasets/fashion-mnist?split=test"
root = ""              # what ${data} in train / test stands for; "" = $PESUITE_DATA, else ../shared/data beside the source tree
train_limit = 0        # 0 = every image
test_limit = 0
mean = []              # per channel (one value: every channel); [] = ImageNet's for colour images, Fashion-MNIST's for grey
std = []
workers = 0            # imagefolder / voc / coco (streamed from the files): decode threads, 0 = all cores; batches do not depend on it
prefetch = 4           # streamed: decoded batches kept ready ahead of training
skip_bad = false       # streamed: leave out (and count) missing / corrupt images instead of stopping with an error

[model]
name = "vit_tiny_patch4_28"
pe = ""                 # "" = the preset's; any heads/ registry spec: none, learned, sincos2d, fourier, rope2d, alibi2d, peg, peg:kernel=5, ...
pe_after_blocks = []    # where a conditional encoding (peg) runs, -1 = before block 0; [] = the preset's (CPVT: [0])
pooling = "auto"        # auto (the preset's) | cls (class token) | gap (global average pooling, CPVT-GAP)
drop_path = 0.0         # stochastic depth rate of the last block (linear from 0)
img_size = 0            # 0 = the preset's; input side (streamed images are cropped / resized to it)
patch_size = 0          # 0 = the preset's (likewise in_chans, dim, depth, heads: a smaller or larger ViT of the same recipe)
in_chans = 0
dim = 0
depth = 0
heads = 0

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
crop_scale = [0.08, 1.0] # streamed: random-resized-crop area range (fraction of the image)
color_jitter = 0.0      # streamed: brightness / contrast / saturation jitter factor; 0 = off
amp = "auto"            # auto: bf16 autocast on CUDA, off on CPU | bf16 | off
fast_path = true        # CUDA: fused residual-add + LayerNorm and bias + GELU kernels, bf16 weight copies (docs/gpu-fast-path.md); CPU ignores it
recompute_gelu = false  # with fast_path: keep only fc1's output for the backward and recompute each MLP's GELU there (one [B, N, 4C] activation fewer per block, about 2-3 % slower)
cuda_graphs = true      # CUDA: every training step (forward, backward, clipping, fused AdamW) replayed as one CUDA graph per batch shape; CPU ignores it
stage_on_cpu = false    # tests: on the CPU, run cuda_graphs' staged steps (each batch copied into its shape's input tensors) eagerly; bit for bit the plain steps
checkpoint_every = 0    # steps; 0 = once per epoch (ckpt/last.safetensors; the end is always saved)
stop_after_steps = 0    # stop (with a checkpoint) after this many steps of this invocation; resume later. 0 = off
log_every = 20          # steps between metrics rows

[eval]
sizes = [28, 44, 56]    # test input sizes (1x, ~1.5x: the nearest multiple of the patch, 2x), no fine-tuning
resize = "interpolate"  # how the test set reaches the other sizes: interpolate (bilinear from its images) | render (a generator with a size key, scenes:: data.test rendered at each size, more detail, no interpolation)
batch_size = 500
each_epoch = false      # also test at the training size after every epoch (curves in metrics / plots)
metric = "auto"         # auto (top1 for single-label data, mAP for multi-label) | top1 | mAP; a mismatch with the data is an error
crop_pct = 0.875        # streamed: resize the shorter side to size / crop_pct, then centre crop (timm's eval transform)
)", "<image-classification defaults>");
}

namespace {

bool use_bf16(const core::Config& cfg, const torch::Device& device) {
  const auto amp = cfg.get_string("train.amp");
  if (amp != "auto" && amp != "bf16" && amp != "off")
    throw core::InputError("config train.amp: '" + amp + "' is not one of auto, bf16, off");
  return device.is_cuda() && amp != "off";
}

// "ce" or "bce" for this data.
std::string loss_kind(const core::Config& cfg, bool multi_label) {
  auto loss = cfg.get_string("train.loss");
  if (loss != "auto" && loss != "ce" && loss != "bce")
    throw core::InputError("config train.loss: '" + loss + "' is not one of auto, ce, bce");
  if (loss == "auto") loss = multi_label ? "bce" : "ce";
  if (loss == "ce" && multi_label) throw core::InputError("config train.loss: 'ce' needs single-label data; multi-label data trains with bce");
  return loss;
}

vision::ViT build_model(const core::Config& cfg, std::int64_t num_classes) {
  const auto pooling = cfg.get_string("model.pooling");
  if (pooling != "auto" && pooling != "cls" && pooling != "gap")
    throw core::InputError("config model.pooling: '" + pooling + "' is not one of auto, cls, gap");
  for (const char* k : {"img_size", "patch_size", "in_chans", "dim", "depth", "heads"})
    if (cfg.get_int(std::string("model.") + k) < 0) throw core::InputError(std::string("config model.") + k + ": must be 0 (the preset's) or positive");
  return vision::create_vit(cfg.get_string("model.name"), [&](vision::ViTOptions& o) {
    o.num_classes(num_classes).drop_path(cfg.get_double("model.drop_path"));
    if (cfg.get_int("model.img_size") > 0) o.img_size(cfg.get_int("model.img_size"));
    if (cfg.get_int("model.patch_size") > 0) o.patch_size(cfg.get_int("model.patch_size"));
    if (cfg.get_int("model.in_chans") > 0) o.in_chans(cfg.get_int("model.in_chans"));
    if (cfg.get_int("model.dim") > 0) o.dim(cfg.get_int("model.dim"));
    if (cfg.get_int("model.depth") > 0) o.depth(cfg.get_int("model.depth"));
    if (cfg.get_int("model.heads") > 0) o.heads(cfg.get_int("model.heads"));
    if (!cfg.get_string("model.pe").empty()) o.pe(cfg.get_string("model.pe"));
    if (!cfg.get_ints("model.pe_after_blocks").empty()) o.pe_after_blocks(cfg.get_ints("model.pe_after_blocks"));
    if (pooling != "auto") o.class_token(pooling == "cls");
  });
}

// train.fast_path on CUDA (ViTImpl::set_fast_path; train.recompute_gelu with it): what was loaded, or "" when off. After the
// model is on its device and its weights are loaded.
std::string apply_fast_path(const core::Config& cfg, vision::ViT& model, const torch::Device& device) {
  if (!cfg.get_bool("train.fast_path") || !device.is_cuda()) return "";
  model->set_recompute_gelu(cfg.get_bool("train.recompute_gelu"));
  return model->set_fast_path(true);
}

torch::Tensor forward_logits(vision::ViT& model, const torch::Tensor& x, const torch::Device& device, bool bf16) {
  if (!bf16) return model(x);
  core::AutocastGuard amp(device, torch::kBFloat16);
  return model(x).to(torch::kFloat32);
}

void check_model_fits(const core::Config& cfg, vision::ViT& model, const ImageData& data) {
  const auto c = model->options.in_chans(), side = model->options.img_size();
  if (model->options.in_chans() != data.channels || (data.native_size > 0 && data.native_size != side))
    throw core::InputError("model '" + cfg.get_string("model.name") + "' expects " + std::to_string(c) + "x" + std::to_string(side) +
                     "px inputs; " + data.spec + " has " + std::to_string(data.channels) +
                     (data.native_size > 0 ? "x" + std::to_string(data.native_size) + "px images" : "-channel images") +
                     " (set model.img_size / model.in_chans to fit)");
}

// "top1" or "mAP" for this data; a config that asks for the other kind is an error.
std::string check_metric(const core::Config& cfg, const ImageData& data) {
  const auto metric = cfg.get_string("eval.metric");
  if (metric != "auto" && metric != "top1" && metric != "mAP")
    throw core::InputError("config eval.metric: '" + metric + "' is not one of auto, top1, mAP");
  const std::string natural = data.multi_label ? "mAP" : "top1";
  if (metric != "auto" && metric != natural)
    throw core::InputError("config eval.metric: '" + metric + "' needs " + (metric == "mAP" ? "multi-label data (voc:, coco:, scenes:)" : "single-label data (idx:, cifar10:, cifar100:, imagefolder:)") +
                     "; " + data.spec + " is " + (data.multi_label ? "multi-label (the set of object classes of each image): use mAP" : "single-label (one class per image): use top1"));
  return natural;
}

void check_same_task(const ImageData& train, const ImageData& test) {
  if (train.multi_label != test.multi_label)
    throw core::InputError("config data.train " + train.spec + " is " + (train.multi_label ? "multi-label" : "single-label") +
                     " but data.test " + test.spec + " is " + (test.multi_label ? "multi-label" : "single-label"));
  // Class indices must mean the same in both; a single-label test set without names may use fewer.
  const bool named = !train.class_names.empty() && !test.class_names.empty();
  const bool fits = named ? train.class_names == test.class_names
                          : (train.multi_label ? train.classes == test.classes : test.classes <= train.classes);
  if (!fits) {
    auto list = [](const ImageData& d) {
      std::string s;
      for (std::size_t i = 0; i < d.class_names.size() && i < 8; ++i) s += (i ? "," : "") + d.class_names[i];
      return std::to_string(d.classes) + " classes" + (s.empty() ? "" : " (" + s + (d.class_names.size() > 8 ? ",...)" : ")"));
    };
    throw core::InputError("config data.test " + test.spec + ": " + list(test) + " differ from data.train " + train.spec + ": " + list(train) +
                     " (voc: give both the same classes=...)");
  }
}

std::string data_root(const core::Config& cfg) {
  const auto root = cfg.get_string("data.root");
  return datasets::data_root(root);
}

MixOptions mix_options(const core::Config& cfg) {
  return MixOptions()
      .mixup_alpha(cfg.get_double("train.mixup"))
      .cutmix_alpha(cfg.get_double("train.cutmix"))
      .prob(cfg.get_double("train.mix_prob"))
      .switch_prob(cfg.get_double("train.mix_switch_prob"));
}

ImageDataOptions data_options(const core::Config& cfg, std::int64_t img_size, bool train) {
  ImageDataOptions o;
  o.mean = cfg.get_doubles("data.mean");
  o.std = cfg.get_doubles("data.std");
  o.limit = cfg.get_int(train ? "data.train_limit" : "data.test_limit");
  o.seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  o.hflip = cfg.get_bool("train.hflip");
  o.img_size = img_size;
  const auto scale = cfg.get_doubles("train.crop_scale");
  if (scale.size() != 2 || !(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1))
    throw core::InputError("config train.crop_scale: expected [min, max] with 0 < min <= max <= 1");
  o.scale_min = scale[0];
  o.scale_max = scale[1];
  o.color_jitter = cfg.get_double("train.color_jitter");
  if (o.color_jitter < 0) throw core::InputError("config train.color_jitter: must be >= 0");
  o.crop_pct = cfg.get_double("eval.crop_pct");
  if (!(o.crop_pct > 0 && o.crop_pct <= 1)) throw core::InputError("config eval.crop_pct: must be in (0, 1]");
  o.workers = static_cast<int>(cfg.get_int("data.workers"));
  o.prefetch = static_cast<int>(std::max<std::int64_t>(1, cfg.get_int("data.prefetch")));
  o.skip_bad = cfg.get_bool("data.skip_bad");
  o.mixes_rows = train && mix_options(cfg).enabled();
  return o;
}

// The image side a model of `cfg` takes (its preset's, or model.img_size).
std::int64_t model_img_size(const core::Config& cfg) {
  if (cfg.get_int("model.img_size") > 0) return cfg.get_int("model.img_size");
  return vision::vit_preset(cfg.get_string("model.name")).img_size();
}

std::unique_ptr<ImageData> open_split(const core::Config& cfg, const char* key, bool train) {
  return open_image_data(datasets::expand_data_root(cfg.get_string(key), data_root(cfg)), train ? ImageRole::Train : ImageRole::Test,
                         data_options(cfg, model_img_size(cfg), train));
}

// per_class_ap.csv: one row per class, one AP column per test size, then the mean.
void write_per_class_ap(const std::string& path, const std::vector<std::string>& names,
                        const std::map<std::int64_t, SizeMetrics>& metrics) {
  std::ostringstream csv;
  csv << "class";
  for (const auto& [s, m] : metrics) csv << ",ap@" << s;
  csv << "\n";
  std::size_t k = 0;
  for (const auto& [s, m] : metrics) k = std::max(k, m.per_class_ap.size());
  csv.precision(6);
  auto cell = [&](double v) {
    if (std::isfinite(v)) csv << v;  // empty: no positive of the class in the test set
  };
  for (std::size_t c = 0; c < k; ++c) {
    csv << (c < names.size() ? names[c] : std::to_string(c));
    for (const auto& [s, m] : metrics) {
      csv << ",";
      if (c < m.per_class_ap.size()) cell(m.per_class_ap[c]);
    }
    csv << "\n";
  }
  csv << "mAP";
  for (const auto& [s, m] : metrics) {
    csv << ",";
    cell(m.map);
  }
  csv << "\n";
  core::write_file_atomic(path, csv.str());
}

void check_sizes(const std::vector<std::int64_t>& sizes, std::int64_t patch) {
  for (auto s : sizes)
    if (s <= 0 || s % patch != 0)
      throw core::InputError("eval sizes: " + std::to_string(s) + " is not a positive multiple of the patch size " + std::to_string(patch));
}

// The spec text with key=value set (replaced when present, else added).
std::string with_spec_key(const std::string& text, const std::string& key, const std::string& value) {
  const auto q = text.find('?');
  std::string out = text.substr(0, q) + "?";
  bool set = false;
  if (q != std::string::npos) {
    std::stringstream query(text.substr(q + 1));
    for (std::string part; std::getline(query, part, '&');) {
      if (part.empty()) continue;
      if (part.substr(0, part.find('=')) == key) part = key + "=" + value, set = true;
      out += (out.back() == '?' ? "" : "&") + part;
    }
  }
  if (!set) out += (out.back() == '?' ? "" : "&") + key + "=" + value;
  return out;
}

// eval.resize: "interpolate" or "render"; render needs a test format with a size key.
std::string check_resize(const core::Config& cfg, const ImageData& test) {
  const auto mode = cfg.get_string("eval.resize");
  if (mode != "interpolate" && mode != "render")
    throw core::InputError("config eval.resize: '" + mode + "' is not one of interpolate, render");
  if (mode == "render" && !datasets::parse_spec(test.spec).params.count("size"))
    throw core::InputError("config eval.resize = 'render': data.test " + test.spec +
                           " has no size key to render its images at (generators such as scenes: have one)");
  return mode;
}

}  // namespace

std::map<std::int64_t, SizeMetrics> evaluate_test_sizes(const core::Config& cfg, vision::ViT& model, ImageData& test,
                                                        const std::vector<std::int64_t>& sizes, const torch::Device& device, bool bf16) {
  const auto batch = cfg.get_int("eval.batch_size");
  if (check_resize(cfg, test) == "interpolate") return evaluate_at_sizes(model, test, sizes, batch, device, bf16);
  std::map<std::int64_t, SizeMetrics> out;
  for (auto s : sizes) {
    if (s == test.native_size) {
      out[s] = evaluate_at_sizes(model, test, {s}, batch, device, bf16).at(s);
      continue;
    }
    // The same test scenes rendered at s pixels (layouts do not depend on the size).
    auto rendered = open_image_data(with_spec_key(test.spec, "size", std::to_string(s)), ImageRole::Test, data_options(cfg, s, false));
    out[s] = evaluate_at_sizes(model, *rendered, {s}, batch, device, bf16).at(s);
  }
  return out;
}

std::map<std::int64_t, SizeMetrics> evaluate_at_sizes(vision::ViT& model, ImageData& data,
                                                      const std::vector<std::int64_t>& sizes, std::int64_t batch,
                                                      const torch::Device& device, bool bf16) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::map<std::int64_t, SizeMetrics> out;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (auto size : sizes) {
    std::int64_t top1 = 0, top5 = 0, n = 0;
    double loss = 0;
    std::vector<torch::Tensor> scores, targets;
    data.for_each_test_batch(size, batch, [&](const torch::Tensor& x, const torch::Tensor& t) {
      auto logits = forward_logits(model, x.to(device), device, bf16).to(torch::kCPU);
      n += logits.size(0);
      if (data.multi_label) {
        scores.push_back(logits);
        targets.push_back(t);
        loss += vision::multilabel_bce(logits, t).item<double>() * logits.size(0);
      } else {
        top1 += vision::topk_correct(logits, t, 1).sum().item<std::int64_t>();
        top5 += vision::topk_correct(logits, t, 5).sum().item<std::int64_t>();
        loss += torch::nn::functional::cross_entropy(logits, t).item<double>() * logits.size(0);
      }
    });
    SizeMetrics m;
    m.loss = n ? loss / static_cast<double>(n) : nan;
    if (data.multi_label) {
      m.top1 = m.top5 = nan;
      m.map = nan;
      if (n) {
        const auto r = vision::mean_average_precision(torch::cat(scores), torch::cat(targets));
        m.map = r.map;
        m.per_class_ap = r.per_class;
      }
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

std::map<std::int64_t, SizeMetrics> evaluate_at_sizes(vision::ViT& model, const ImageSet& set,
                                                      const std::vector<std::int64_t>& sizes, std::int64_t batch,
                                                      const torch::Device& device, bool bf16) {
  auto data = in_memory_image_data(set, "<in-memory set>", {});
  return evaluate_at_sizes(model, *data, sizes, batch, device, bf16);
}

std::vector<std::string> classification_dataset_specs(const core::Config& cfg) {
  return {datasets::expand_data_root(cfg.get_string("data.train"), data_root(cfg)),
          datasets::expand_data_root(cfg.get_string("data.test"), data_root(cfg))};
}

std::pair<std::string, std::string> resolve_checkpoint(const std::string& path) { return core::resolve_run_or_checkpoint(path); }

core::Config resume_config(const std::string& run_or_checkpoint) { return core::run_config(run_or_checkpoint, image_classification_defaults()); }

core::Config checkpoint_config(const std::string& ckpt) { return core::checkpoint_config(ckpt, image_classification_defaults()); }

vision::ViT load_classifier(const core::Config& cfg, const std::string& ckpt, const torch::Device& device) {
  auto file = core::load_safetensors(ckpt);
  auto head = file.tensors.find("model.head.weight");
  if (head == file.tensors.end()) throw core::InputError(ckpt + ": not a ViT classifier checkpoint (no 'model.head.weight')");
  vision::ViT model = build_model(cfg, head->second.size(0));
  core::TensorMap state;
  for (auto& [name, t] : file.tensors)
    if (name.rfind("model.", 0) == 0) state[name.substr(6)] = t;
  core::load_module_state(*model, state, ckpt);
  model->to(device);
  apply_fast_path(cfg, model, device);
  model->eval();
  return model;
}

CheckpointEval evaluate_checkpoint(const core::Config& cfg, const std::string& ckpt, const std::vector<std::int64_t>& sizes) {
  const torch::Device device = core::parse_device(cfg.get_string("device"));
  const bool bf16 = use_bf16(cfg, device);
  auto test = open_split(cfg, "data.test", false);
  const auto metric = check_metric(cfg, *test);
  vision::ViT model = load_classifier(cfg, ckpt, device);
  check_sizes(sizes, model->options.patch_size());
  if (model->options.in_chans() != test->channels)
    throw core::InputError(ckpt + ": the model takes " + std::to_string(model->options.in_chans()) + "-channel images; " +
                     test->spec + " has " + std::to_string(test->channels));
  if (test->multi_label ? model->options.num_classes() != test->classes : model->options.num_classes() < test->classes)
    throw core::InputError(ckpt + ": the model has " + std::to_string(model->options.num_classes()) + " classes; " + test->spec + " has " +
                     std::to_string(test->classes));
  CheckpointEval out;
  out.checkpoint = ckpt;
  out.metric = metric;
  out.class_names = test->class_names;
  out.metrics_at_size = evaluate_test_sizes(cfg, model, *test, sizes, device, bf16);
  return out;
}

// ---- training -----------------------------------------------------------------------------------

namespace {

// One step's loss: the batch of (epoch, index) as the data gives it, soft targets (label
// smoothing), mixup / cutmix seeded by the step, the objective of the data (CE or BCE). In two
// halves, so that train.cuda_graphs can copy a step's batch into the static tensors its captured
// step reads: batch_of (host work: decode, targets, mix, this rank's share) and loss_on (device).
struct StepLoss {
  ImageData& train;
  ViT& model;
  const torch::Device& device;
  bool bf16;
  std::string loss_name;
  std::int64_t num_classes, batch, steps_per_epoch;
  double smoothing;
  MixOptions mix;
  std::uint64_t seed;

  struct Batch {
    torch::Tensor images, targets;  // undefined: nothing to train on this step (see empty())
    double loss_scale = 1.0;
    bool no_images = false;  // every image of the batch was bad (data.skip_bad)
    bool empty() const { return !images.defined(); }
    // One captured step per distinct key (train.cuda_graphs).
    std::string key() const {
      if (empty()) return no_images ? "no-images" : "empty-share";
      std::string k = "x";
      for (auto d : images.sizes()) k += ":" + std::to_string(d);
      return k + "/t:" + std::to_string(targets.size(0)) + "/s:" + std::to_string(loss_scale);
    }
  };

  Batch batch_of(std::int64_t step) const {
    const auto epoch = step / steps_per_epoch, k = step % steps_per_epoch;
    ImageBatch b = train.train_batch(epoch, k, step, batch);
    Batch out;
    if (b.images.size(0) == 0) {
      out.no_images = true;
      return out;
    }
    auto x = b.images;
    torch::Tensor targets;
    if (train.multi_label) targets = b.targets;
    else targets = smooth_one_hot(b.targets, num_classes, loss_name == "ce" ? smoothing : 0.0);
    if (mix.enabled()) {
      std::mt19937_64 mix_rng(seed * 2654435761ULL + static_cast<std::uint64_t>(step));
      auto m = mix_batch(x, targets, mix, mix_rng);
      x = m.images;
      targets = m.targets;
    }
    // Several processes (core/distributed.h): this rank's share of the batch, drawn, flipped and
    // mixed as one process would, so the ranks' batches together are the single-process batch.
    const auto share = core::dist::World::get().batch_share(x.size(0));
    if (share.empty()) return out;
    if (share.end - share.begin != x.size(0)) {  // (equal shares have loss_scale 1 but are still shares)
      x = x.slice(0, share.begin, share.end);
      targets = targets.slice(0, share.begin, share.end);
    }
    out.images = x;
    out.targets = targets;
    out.loss_scale = share.loss_scale;
    return out;
  }

  // The loss of a batch already on the device (or of an empty one).
  torch::Tensor loss_on(const Batch& b) const {
    if (b.no_images) {  // a step that changes nothing but decay
      auto zero = torch::zeros({}, torch::TensorOptions().device(device));
      for (const auto& p : model->parameters()) zero = zero + p.sum() * 0.0;
      return zero;
    }
    if (b.empty()) return torch::zeros({}, torch::TensorOptions().device(device));
    auto logits = forward_logits(model, b.images, device, bf16);
    auto loss = loss_name == "ce" ? soft_cross_entropy(logits, b.targets) : multilabel_bce(logits, b.targets);
    return b.loss_scale == 1.0 ? loss : loss * b.loss_scale;
  }

  torch::Tensor operator()(std::int64_t step) const {
    auto b = batch_of(step);
    if (!b.empty()) {
      b.images = b.images.to(device);
      b.targets = b.targets.to(device);
    }
    return loss_on(b);
  }

  // train.cuda_graphs: the same batches, copied into one set of device tensors per key, which that
  // key's captured step reads (core::Trainer::fit_graphed; eager on the CPU).
  core::Trainer::StagedStep staged(std::int64_t step, std::map<std::string, Batch>& slots) const {
    auto b = batch_of(step);
    const auto key = b.key();
    auto slot = slots.find(key);
    if (slot == slots.end()) {
      Batch fresh = b;
      if (!b.empty()) {  // its own device memory: the static inputs of this key's graph
        fresh.images = b.images.to(device, /*non_blocking=*/false, /*copy=*/true);
        fresh.targets = b.targets.to(device, false, true);
      }
      slot = slots.emplace(key, std::move(fresh)).first;
      return {key, [] {}, [this, in = &slot->second] { return loss_on(*in); }};
    }
    Batch* in = &slot->second;
    return {key,
            [in, b] {
              if (b.empty()) return;
              in->images.copy_(b.images);
              in->targets.copy_(b.targets);
            },
            [this, in] { return loss_on(*in); }};
  }
};

// The finished run: test metrics at every eval size, the metrics row, per-class AP and plots.
void finish_classification(const core::Config& cfg, ViT& model, ImageData& test, const torch::Device& device, bool bf16,
                           core::RunDir& run, ClassificationResult& result, const std::function<void()>& report_skipped) {
  const auto total = result.total_steps;
  result.metrics_at_size = evaluate_test_sizes(cfg, model, test, cfg.get_ints("eval.sizes"), device, bf16);
  report_skipped();
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
  if (result.skipped_images) row["skipped_images"] = result.skipped_images;
  run.metrics().append(row);
  run.log("test " + row.dump(), false);
  if (!core::dist::is_writer()) return;  // rank 0 writes the run's files
  if (test.multi_label) write_per_class_ap(run.path() + "/per_class_ap.csv", test.class_names, result.metrics_at_size);
#ifdef PESUITE_HAVE_OPENCV
  auto [xs, ys] = run.metrics().series("step", "train_loss");
  core::line_plot(run.plots_dir() + "/train_loss.png", {{"train_loss", xs, ys}}, {"training loss", "step", "loss"});
  if (cfg.get_bool("eval.each_epoch")) {
    auto [ex, ey] = run.metrics().series("epoch", "test_metric");
    core::line_plot(run.plots_dir() + "/test_metric.png", {{result.metric, ex, ey}}, {"test " + result.metric, "epoch", result.metric});
  }
#endif
}

}  // namespace

ClassificationResult run_image_classification(const core::Config& cfg, const std::string& runs_root, const std::string& resume) {
  const auto seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const torch::Device device = core::parse_device(cfg.get_string("device"));
  // Everything that can be wrong in the config is found before training starts.
  std::string run_path, ckpt_path;
  if (!resume.empty()) std::tie(run_path, ckpt_path) = resolve_checkpoint(resume);
  const bool bf16 = use_bf16(cfg, device);
  auto train = open_split(cfg, "data.train", true);
  auto test = open_split(cfg, "data.test", false);
  check_same_task(*train, *test);
  const auto metric = check_metric(cfg, *test);
  check_resize(cfg, *test);
  const auto loss_name = loss_kind(cfg, train->multi_label);
  const auto num_classes = train->classes;
  const MixOptions mix = mix_options(cfg);
  core::seed_all(seed);
  ViT model = build_model(cfg, num_classes);
  check_model_fits(cfg, model, *train);
  if (test->channels != train->channels)  // test images of another side are fine: they are resized
    throw core::InputError("config data.test " + test->spec + " has " + std::to_string(test->channels) + "-channel images, data.train " +
                           std::to_string(train->channels));
  check_sizes(cfg.get_ints("eval.sizes"), model->options.patch_size());
  model->to(device);

  const auto batch = cfg.get_int("train.batch_size");
  const auto n = train->size;
  if (batch <= 0) throw core::InputError("config train.batch_size: must be positive");
  if (n == 0) throw core::InputError("dataset " + train->spec + " has no images");
  const auto steps_per_epoch = std::max<std::int64_t>(1, n / batch);
  const auto total = steps_per_epoch * cfg.get_int("train.epochs");
  const auto adamw = torch::optim::AdamWOptions(cfg.get_double("train.lr")).weight_decay(cfg.get_double("train.weight_decay"));
  core::FusedAdamW optimizer(model->adamw_groups(adamw), adamw);
  core::LrSchedule schedule = warmup_cosine_schedule(cfg, total);

  core::RunDir run = resume.empty() ? core::RunDir::create(runs_root, cfg.get_string("experiment"), seed, cfg, device.str())
                                    : core::RunDir::open(run_path);
  core::Trainer trainer(*model, optimizer, schedule, trainer_options(cfg, total, model->pe.name, seed, run, steps_per_epoch));
  if (!resume.empty()) {
    trainer.resume(ckpt_path);
    run.metrics().truncate_after("step", static_cast<double>(trainer.state().step));
    run.log("resumed from " + ckpt_path + " at step " + std::to_string(trainer.state().step) + " of " + std::to_string(total), false);
  } else {
    run.log("run " + run.path() + ": " + cfg.get_string("model.name") + " + " + model->pe.name + ", " + std::to_string(n) +
                " training images (" + train->spec + (train->streamed ? ", streamed" : ", in memory") + "), " +
                std::to_string(num_classes) + (train->multi_label ? " classes multi-label" : " classes") + ", " +
                std::to_string(total) + " steps, loss " + loss_name,
            false);
  }
  // After resume: the bf16 weight copies start from the loaded weights, then follow every step.
  if (const auto fast = apply_fast_path(cfg, model, device); !fast.empty()) run.log("train.fast_path: " + fast, false);
  // The checkpoint carries its config: `vision eval --ckpt` needs nothing else.
  trainer.state().extra["config"] = cfg.to_toml();
  const auto start_step = trainer.state().step;

  const auto stop_after = cfg.get_int("train.stop_after_steps");
  const auto log_every = std::max<std::int64_t>(1, cfg.get_int("train.log_every"));
  const bool each_epoch = cfg.get_bool("eval.each_epoch");
  // The batch of a step is a function of (seed, epoch, step): resume replays exactly.
  const StepLoss loss_of{*train, model, device, bf16, loss_name, num_classes, batch, steps_per_epoch,
                         cfg.get_double("train.label_smoothing"), mix, seed};
  double running = trainer.state().extra.value("running_loss", 0.0);
  auto on_step = [&](core::TrainState& st, double loss) {
    model->refresh_weight_copies();  // train.fast_path's bf16 copies follow the optimiser step (else a no-op)
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
        const auto m = evaluate_at_sizes(model, *test, {model->options.img_size()}, cfg.get_int("eval.batch_size"), device, bf16)
                           .begin()->second;
        const double acc = test->multi_label ? m.map : m.top1;
        run.metrics().append({{"step", st.step}, {"epoch", st.epoch}, {"test_metric", acc}, {"test_loss", m.loss}});
        line << " test " << metric << " " << acc;
      }
      run.log(line.str(), false);
    }
    return stop_after <= 0 || st.step - start_step < stop_after;
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, StepLoss::Batch> graph_inputs;  // train.cuda_graphs: per key, the captured step's inputs
  const auto st = use_step_graphs(cfg, device, optimizer, run)
                      ? trainer.fit_graphed([&](std::int64_t step, std::mt19937_64&) { return loss_of.staged(step, graph_inputs); }, on_step)
                      : trainer.fit([&](std::int64_t step, std::mt19937_64&) { return loss_of(step); }, on_step);
  ClassificationResult result;
  result.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.steps = st.step;
  result.total_steps = total;
  result.train_images_per_second = static_cast<double>((st.step - start_step) * batch) / std::max(1e-9, result.train_seconds);
  result.run_path = run.path();
  result.checkpoint = trainer.last_checkpoint();
  result.metric = metric;
  result.class_names = test->class_names;
  // Bad images left out (data.skip_bad), counted after the last pass that decodes any.
  auto report_skipped = [&] {
    result.skipped_images = train->skipped_images() + test->skipped_images();
    if (result.skipped_images == 0) return;
    std::string line = "data.skip_bad: left out " + std::to_string(result.skipped_images) + " bad image(s)";
    for (const auto* d : {train.get(), test.get()})
      for (const auto& m : d->skipped_messages()) line += "\n  " + m;
    run.log(line, false);
  };
  if (st.step < total) {
    result.finished = false;
    report_skipped();
    run.log("stopped at step " + std::to_string(st.step) + " of " + std::to_string(total) + "; continue with --resume " + run.path(), false);
    return result;
  }
  finish_classification(cfg, model, *test, device, bf16, run, result, report_skipped);
  return result;
}

}  // namespace pesuite::vision
