// CLIP on scenes: data, the contrastive training loop, zero-shot evaluation, checkpoints.
#include "pesuite/vision/clip_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "pesuite/core/distributed.h"
#include "pesuite/core/error.h"
#include "pesuite/core/optim.h"
#include "pesuite/core/run_dir.h"
#include "pesuite/core/run_files.h"
#include "pesuite/core/runtime.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/core/torch_compat.h"
#include "pesuite/core/trainer.h"
#include "pesuite/datasets/spec.h"
#include "pesuite/vision/clip_analysis.h"
#include "scene_steps.h"
#include "train_setup.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/datasets/scene_bank.h"
#endif

namespace pesuite::vision {

namespace fs = std::filesystem;

core::Config clip_training_defaults() {
  return core::Config::from_toml_string(R"(
experiment = "clip-scenes"
seed = 0
device = "auto"

[data]
# Training captions come from these scenes; holdout=N keeps N classes out of every training
# caption (the heldout split shows only them, for zero-shot tests on unseen classes).
train = "scenes:?n=4000&size=64&split=train&holdout=4"
test = "scenes:?n=500&size=64&split=test&holdout=4&max_objects=1&seed=1"        # unseen drawings of the training classes
heldout = "scenes:?n=300&size=64&split=heldout&holdout=4&max_objects=1&seed=2"  # "" = none
seen = "scenes:?n=500&size=64&split=train&holdout=4&max_objects=1&seed=3"        # the training drawings in new scenes; "" = none
vocab = "${data}/clip/bpe_simple_vocab_16e6.txt.gz"   # CLIP's BPE merges
bank = ""              # an object bank file added to every scenes spec as bank=... (a machine without OpenCV / openclipart)
root = ""              # what ${data} stands for; "" = $PESUITE_DATA, else ../shared/data beside the source tree

[model]
name = "clip_tiny_patch8_64"   # a CLIP preset (pesuite list models); the keys below override it (0 = the preset's)
embed_dim = 0
image_size = 0
patch_size = 0
vision_width = 0
vision_layers = 0
vision_heads = 0
text_width = 0
text_layers = 0
text_heads = 0
context_length = 0

[train]
epochs = 10
batch_size = 128
lr = 5e-4
min_lr_ratio = 0.0
weight_decay = 0.2      # not on gains, biases, embeddings, logit_scale
beta1 = 0.9
beta2 = 0.98
eps = 1e-6
warmup_fraction = 0.1   # of all steps
clip_grad_norm = 1.0    # 0 = off
cuda_graphs = false     # CUDA: every step (forward, backward, clipping, fused AdamW) replayed as one CUDA graph; one process only. Off until timed on the GPU
stage_on_cpu = false    # tests: on the CPU, run cuda_graphs' staged steps (the batch copied into static tensors) eagerly; bit for bit the plain steps
captions = "both"       # the caption kinds, joined by '+', one of them drawn per scene each step: counting, position, names (counting without colour words); both = counting+position
amp = "auto"            # auto: bf16 autocast on CUDA, off on CPU | bf16 | off
checkpoint_every = 0    # steps; 0 = once per epoch (ckpt/last.safetensors; the end is always saved)
stop_after_steps = 0    # stop (with a checkpoint) after this many steps of this invocation; resume later. 0 = off
log_every = 20

[eval]
templates = ["a photo of a {}.", "a picture of a {}.", "an image of a {}.", "a photo of the {}."]
batch_size = 250

[analysis]
ablation = false        # mean-ablation of MLPs, class->class attention, attention layers 0..l (clip-ablation)
late_layers = 4         # the "last attention layers" of the ablation claims
textspan = false        # TextSpan per head of the last `textspan_layers` layers (clip-textspan)
textspan_layers = 4
textspan_texts = ""     # text pool file, one text per line; "" = the scenes' caption vocabulary
textspan_iterations = 20
textspan_rank = 80
textspan_top = 5        # texts per head that decide its category (specialisation)
segmentation = false    # zero-shot segmentation against the scene masks, with rollout and uniform baselines (clip-segmentation)
segmentation_layers = [] # attention layers summed into the heatmaps; [] = all
segmentation_pngs = 8   # heatmap PNGs written to the run folder
)", "<clip-training defaults>");
}

std::vector<std::pair<std::string, std::string>> clip_zero_shot_specs(const core::Config& cfg) {
  std::vector<std::pair<std::string, std::string>> out{{"test", scene_specs(cfg, {"data.test"})[0]}};
  for (const char* name : {"heldout", "seen"})
    if (const std::string key = std::string("data.") + name; !cfg.get_string(key).empty()) out.emplace_back(name, scene_specs(cfg, {key})[0]);
  return out;
}

std::vector<std::string> clip_dataset_specs(const core::Config& cfg) {
  std::vector<std::string> out = scene_specs(cfg, {"data.train"});
  for (const auto& [name, spec] : clip_zero_shot_specs(cfg)) out.push_back(spec);
  return out;
}

Clip build_clip(const core::Config& cfg) {
  static const char* keys[] = {"embed_dim",  "image_size", "patch_size", "vision_width", "vision_layers",
                               "vision_heads", "text_width", "text_layers", "text_heads", "context_length"};
  for (const char* k : keys)
    if (cfg.get_int(std::string("model.") + k) < 0) throw core::InputError(std::string("config model.") + k + ": must be 0 (the preset's) or positive");
  auto get = [&](const char* k) { return cfg.get_int(std::string("model.") + k); };
  return create_clip(cfg.get_string("model.name"), [&](ClipOptions& o) {
    if (get("embed_dim")) o.embed_dim(get("embed_dim"));
    if (get("image_size")) o.image_size(get("image_size"));
    if (get("patch_size")) o.patch_size(get("patch_size"));
    if (get("vision_width")) o.vision_width(get("vision_width"));
    if (get("vision_layers")) o.vision_layers(get("vision_layers"));
    if (get("vision_heads")) o.vision_heads(get("vision_heads"));
    if (get("text_width")) o.text_width(get("text_width"));
    if (get("text_layers")) o.text_layers(get("text_layers"));
    if (get("text_heads")) o.text_heads(get("text_heads"));
    if (get("context_length")) o.context_length(get("context_length"));
  });
}

ClipScenes load_clip_scenes(const std::string& text) {
  const auto spec = datasets::parse_spec(text);
  if (spec.format != "scenes")
    throw core::InputError("dataset spec '" + text + "': CLIP trains and tests on captioned scenes (scenes:?...), not " + spec.format + ":");
  // Build (or find) the object bank first, with all threads and a progress line.
  datasets::ensure_scene_bank(spec, 0, true);
  // Scenes render in parallel (TBB); torch's own threads would nest inside them.
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  datasets::ScenesDataset set;
  try {
    set = datasets::generate_scenes(spec);
  } catch (...) {
    torch::set_num_threads(threads);
    throw;
  }
  torch::set_num_threads(threads);
  ClipScenes out;
  out.spec = text;
  auto mean = torch::tensor(std::vector<float>(kClipMean.begin(), kClipMean.end())).view({1, 3, 1, 1});
  auto stdev = torch::tensor(std::vector<float>(kClipStd.begin(), kClipStd.end())).view({1, 3, 1, 1});
  out.images = (set.images.permute({0, 3, 1, 2}).to(torch::kFloat32).div(255.0) - mean) / stdev;
  out.targets = set.targets;
  out.instances = set.instances;
  out.objects = std::move(set.objects);
  out.captions = std::move(set.captions);
  out.classes = std::move(set.classes);
  out.heldout = std::move(set.heldout);
  if (out.size() == 0) throw core::InputError("dataset spec '" + text + "': no scenes (n=0)");
  return out;
}

ClipTokenizer clip_tokenizer(const core::Config& cfg) {
  return ClipTokenizer(datasets::expand_data_root(cfg.get_string("data.vocab"), datasets::data_root(cfg.get_string("data.root"))));
}

bool clip_use_bf16(const core::Config& cfg, const torch::Device& device) {
  const auto amp = cfg.get_string("train.amp");
  if (amp != "auto" && amp != "bf16" && amp != "off")
    throw core::InputError("config train.amp: '" + amp + "' is not one of auto, bf16, off");
  return device.is_cuda() && amp != "off";
}

torch::Tensor encode_images(Clip& model, const torch::Tensor& images, std::int64_t batch, const torch::Device& device, bool bf16) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (std::int64_t i = 0; i < images.size(0); i += batch) {
    auto x = images.slice(0, i, std::min(i + batch, images.size(0))).to(device);
    torch::Tensor e;
    if (bf16) {
      core::AutocastGuard amp(device, torch::kBFloat16);
      e = model->encode_image(x);
    } else {
      e = model->encode_image(x);
    }
    out.push_back(e.to(torch::kFloat32).cpu());
  }
  return torch::cat(out);
}

torch::Tensor zero_shot_hits(const torch::Tensor& predictions, const torch::Tensor& targets) {
  return targets.gather(1, predictions.view({-1, 1}).to(torch::kInt64)).squeeze(1).gt(0);
}

ZeroShotResult zero_shot_eval(Clip& model, const ClipTokenizer& tokenizer, const ClipScenes& data,
                              const std::vector<std::string>& templates, std::int64_t batch, const torch::Device& device,
                              bool bf16, torch::Tensor weights) {
  const bool was_training = model->is_training();
  model->eval();
  if (!weights.defined()) {
    bool truncated = false;
    weights = zero_shot_weights(model, tokenizer, data.classes, templates, &truncated);
    if (truncated)
      std::cerr << "warning: a zero-shot prompt is longer than the context (" << model->options.context_length()
                << " tokens) and was truncated, as CLIP does\n";
  }
  auto emb = encode_images(model, data.images, batch, device, bf16);
  emb = emb / emb.norm(2, 1, true);
  ZeroShotResult r;
  r.predictions = torch::matmul(emb, weights.to(torch::kCPU, torch::kFloat32).t()).argmax(1);
  auto hits = zero_shot_hits(r.predictions, data.targets);
  r.images = data.size();
  r.classes = static_cast<std::int64_t>(data.classes.size());
  r.accuracy = hits.to(torch::kFloat64).mean().item<double>();
  r.chance = data.targets.gt(0).sum(1).to(torch::kFloat64).mean().item<double>() / static_cast<double>(r.classes);
  r.per_class_correct.assign(static_cast<std::size_t>(r.classes), 0);
  r.per_class_total.assign(static_cast<std::size_t>(r.classes), 0);
  auto h = hits.accessor<bool, 1>();
  for (std::int64_t i = 0; i < r.images; ++i) {
    const auto& objs = data.objects[static_cast<std::size_t>(i)];
    if (objs.empty()) continue;
    const auto c = static_cast<std::size_t>(objs.front().label);
    ++r.per_class_total[c];
    if (h[i]) ++r.per_class_correct[c];
  }
  if (was_training) model->train();
  return r;
}

LoadedClip load_clip_checkpoint(const std::string& path, const torch::Device& device) {
  if (!fs::is_regular_file(path)) throw core::InputError(path + ": no such checkpoint file");
  auto file = core::load_safetensors(path);
  LoadedClip out;
  out.source = path;
  out.config = clip_training_defaults();
  if (file.tensors.count("model.visual.conv1.weight")) {
    auto it = file.metadata.find("extra");
    if (it != file.metadata.end()) {
      nlohmann::json extra;
      try {
        extra = nlohmann::json::parse(it->second);
      } catch (const std::exception& e) {
        throw core::InputError(path + ": metadata 'extra' is not JSON (" + e.what() + ")");
      }
      if (extra.contains("config") && extra["config"].is_string())
        out.config.merge_string(extra["config"].get<std::string>(), path + " (saved config)");
    }
    out.model = build_clip(out.config);
    core::TensorMap state;
    for (auto& [name, t] : file.tensors)
      if (name.rfind("model.", 0) == 0) state[name.substr(6)] = t;
    core::load_module_state(*out.model, state, path);
  } else if (file.tensors.count("visual.conv1.weight")) {
    out.model = Clip(clip_options_from_state(file.tensors, file.metadata, path));
    core::load_module_state(*out.model, file.tensors, path);
  } else {
    throw core::InputError(path + ": not a CLIP checkpoint (neither 'model.visual.conv1.weight' from clip train nor "
                           "'visual.conv1.weight' of an OpenAI-named CLIP file)");
  }
  out.model->to(device);
  out.model->eval();
  return out;
}

core::Config clip_resume_config(const std::string& path) { return core::run_config(path, clip_training_defaults(), "clip train"); }

// ---- training -----------------------------------------------------------------------------------
namespace {

// Every training caption tokenized once: [N, K, context] with K = captions per scene used.
// `which`: the kinds, joined by '+' (counting, position, names; "both" = counting+position).
torch::Tensor tokenize_captions(const ClipScenes& data, const ClipTokenizer& tok, std::int64_t context, const std::string& which,
                                std::int64_t& truncated) {
  static const std::map<std::string, std::size_t> kinds{{"counting", 0}, {"position", 1}, {"names", 2}};
  std::vector<std::size_t> picked;
  const std::string spec = which == "both" ? "counting+position" : which;
  for (std::size_t at = 0; at <= spec.size();) {
    const auto end = std::min(spec.find('+', at), spec.size());
    const auto it = kinds.find(spec.substr(at, end - at));
    if (it == kinds.end() || std::find(picked.begin(), picked.end(), it->second) != picked.end())
      throw core::InputError("config train.captions: '" + which +
                             "' is not a '+'-joined list of distinct kinds among counting, position, names (or both)");
    picked.push_back(it->second);
    at = end + 1;
  }
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < data.captions.size(); ++i) {
    const auto& c = data.captions[i];
    for (auto k : picked) {
      if (k >= c.size())
        throw core::InputError(data.spec + ": scene " + std::to_string(i) + " has " + std::to_string(c.size()) + " captions, no " +
                               (k == 1 ? "position" : "names") + " caption");
      texts.push_back(c[k]);
    }
  }
  auto t = tok.tokenize(texts, context);
  truncated = 0;
  for (bool b : t.truncated) truncated += b;
  return t.tokens.view({data.size(), static_cast<std::int64_t>(picked.size()), context});
}

void check_fits(const Clip& model, const ClipScenes& data, const std::string& key) {
  const auto side = data.images.size(2), patch = model->options.patch_size();
  if (side % patch)
    throw core::InputError("config " + key + " " + data.spec + ": " + std::to_string(side) + " px scenes do not split into " +
                           std::to_string(patch) + " px patches");
}


// The symmetric InfoNCE loss of one step. Its batch: the epoch's permutation of the training scenes
// (seeded by seed and epoch), one caption per scene drawn with a generator seeded by (seed, step).
// Several ranks (core/distributed.h): each encodes its share of the batch and the embeddings of all
// shares are gathered (dist::gather_shares), so every rank computes the loss of the whole batch with
// all its negatives; the gather's backward and GradientSync's mean give the single-process gradient.
// batch_of is the host work (which scenes and captions, this rank's share, on the CPU), loss_on the
// device work; `staged` gives train.cuda_graphs the same step with the batch copied into static
// tensors first (one captured graph: every batch has the same shape).
struct ContrastiveStep {
  Clip model;
  torch::Tensor images, tokens;  // [n, 3, S, S], [n, captions per scene, context]
  std::uint64_t seed;
  std::int64_t batch, steps_per_epoch;
  torch::Device device;
  bool bf16;
  std::int64_t perm_epoch = -1;
  std::vector<std::int64_t> perm;

  struct Batch {
    torch::Tensor images, tokens;  // this rank's share
  };

  Batch batch_of(std::int64_t step) {
    const auto n = images.size(0), k_captions = tokens.size(1);
    const auto epoch = step / steps_per_epoch, k = step % steps_per_epoch;
    if (epoch != perm_epoch) perm = epoch_permutation(seed, epoch, n), perm_epoch = epoch;
    std::vector<std::int64_t> idx(perm.begin() + k * batch, perm.begin() + (k + 1) * batch), which(static_cast<std::size_t>(batch));
    auto rng = step_rng(seed, step);
    for (auto& w : which) w = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(k_captions));
    const auto share = core::dist::World::get().batch_share(batch);  // the whole batch in one process
    auto ix = torch::tensor(idx).slice(0, share.begin, share.end);
    auto pick = torch::tensor(which).slice(0, share.begin, share.end);
    return {images.index_select(0, ix),
            tokens.index_select(0, ix).gather(1, pick.view({-1, 1, 1}).expand({ix.size(0), 1, tokens.size(2)})).squeeze(1)};
  }

  // The tokens come from our tokenizer (ids in range): no id check, so nothing here syncs with the host.
  torch::Tensor loss_on(const torch::Tensor& x, const torch::Tensor& t) {
    auto& world = core::dist::World::get();
    const auto share = world.batch_share(batch);
    torch::Tensor img, txt;
    if (bf16) {
      core::AutocastGuard amp(device, torch::kBFloat16);
      img = model->encode_image(x);
      txt = model->encode_text(t, /*check_ids=*/false);
    } else {
      img = model->encode_image(x);
      txt = model->encode_text(t, /*check_ids=*/false);
    }
    img = img.to(torch::kFloat32);
    txt = txt.to(torch::kFloat32);
    img = core::dist::gather_shares(world, img / img.norm(2, 1, true), share, batch);
    txt = core::dist::gather_shares(world, txt / txt.norm(2, 1, true), share, batch);
    auto logits = model->logit_scale.exp() * torch::matmul(img, txt.t());
    auto labels = torch::arange(batch, torch::TensorOptions().dtype(torch::kInt64).device(device));
    namespace F = torch::nn::functional;
    return 0.5 * (F::cross_entropy(logits, labels) + F::cross_entropy(logits.t(), labels));
  }

  torch::Tensor operator()(std::int64_t step) {
    auto b = batch_of(step);
    return loss_on(b.images.to(device), b.tokens.to(device));
  }

  // `inputs`: the static tensors the captured step reads, made at the first staging and kept by the caller.
  core::Trainer::StagedStep staged(std::int64_t step, Batch& inputs) {
    auto b = batch_of(step);
    return {"train",
            [this, b, &inputs] {
              if (!inputs.images.defined()) {
                inputs.images = torch::empty_like(b.images, b.images.options().device(device));
                inputs.tokens = torch::empty_like(b.tokens, b.tokens.options().device(device));
              }
              inputs.images.copy_(b.images);
              inputs.tokens.copy_(b.tokens);
            },
            [this, &inputs] { return loss_on(inputs.images, inputs.tokens); }};
  }
};

// After the last step: zero-shot accuracy on the test (and held-out class) scenes, one metrics row,
// then the analyses the config asks for (ablation, TextSpan, segmentation).
void evaluate_after_training(Clip& model, const ClipTokenizer& tokenizer, const ClipScenes& test,
                             const std::map<std::string, ClipScenes>& more_sets, const core::Config& cfg, const torch::Device& device,
                             bool bf16, core::RunDir& run, ClipTrainResult& r) {
  const auto templates = cfg.get_strings("eval.templates");
  const auto eval_batch = std::max<std::int64_t>(1, cfg.get_int("eval.batch_size"));
  model->eval();
  nlohmann::ordered_json row{{"step", r.total_steps}};
  r.zero_shot["test"] = zero_shot_eval(model, tokenizer, test, templates, eval_batch, device, bf16);
  row["zs_acc"] = r.zero_shot["test"].accuracy;
  for (const auto& [name, scenes] : more_sets) {
    r.zero_shot[name] = zero_shot_eval(model, tokenizer, scenes, templates, eval_batch, device, bf16);
    row["zs_" + name + "_acc"] = r.zero_shot[name].accuracy;
  }
  row["train_seconds"] = r.train_seconds;
  run.metrics().append(row);
  run.log("zero-shot " + row.dump(), false);
  r.metrics = run_clip_analyses(model, tokenizer, test, cfg, run.path(), device, bf16);
  if (!r.metrics.empty()) {
    nlohmann::ordered_json a;
    for (const auto& [k, v] : r.metrics) a[k] = v;
    run.log("analyses " + a.dump(), false);
  }
}

}  // namespace

ClipTrainResult run_clip_training(const core::Config& cfg, const std::string& runs_root, const std::string& resume) {
  const auto seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const torch::Device device = core::parse_device(cfg.get_string("device"));
  const bool bf16 = clip_use_bf16(cfg, device);
  std::string run_path, ckpt_path;
  if (!resume.empty()) {
    std::tie(run_path, ckpt_path) = core::resolve_run_or_checkpoint(resume);
  }
  // Everything that can be wrong is found before training starts.
  const auto specs = clip_dataset_specs(cfg);
  const ClipTokenizer tokenizer = clip_tokenizer(cfg);
  if (cfg.get_strings("eval.templates").empty())  // zero-shot needs a prompt: found now, not after training
    throw core::InputError("config eval.templates: give at least one prompt template (e.g. \"a photo of a {}.\")");
  const auto batch = cfg.get_int("train.batch_size");
  if (batch < 2) throw core::InputError("config train.batch_size: a contrastive batch needs at least 2 pairs");
  if (const auto world = core::dist::World::get().size(); batch < world)
    throw core::InputError("config train.batch_size: " + std::to_string(batch) + " pairs cannot be shared by " + std::to_string(world) +
                           " ranks (each encodes at least one)");
  core::seed_all(seed);
  Clip model = build_clip(cfg);
  const auto train = load_clip_scenes(specs[0]);
  const auto test = load_clip_scenes(specs[1]);
  std::map<std::string, ClipScenes> more_sets;  // the zero-shot sets besides data.test
  for (const auto& [name, spec] : clip_zero_shot_specs(cfg))
    if (name != "test") more_sets.emplace(name, load_clip_scenes(spec));
  check_fits(model, train, "data.train");
  check_fits(model, test, "data.test");
  for (const auto& [name, scenes] : more_sets) check_fits(model, scenes, "data." + name);
  std::int64_t truncated = 0;
  const auto tokens = tokenize_captions(train, tokenizer, model->options.context_length(), cfg.get_string("train.captions"), truncated);
  if (truncated)
    std::cerr << "warning: " << truncated << " training caption(s) are longer than the context (" << model->options.context_length()
              << " tokens) and were truncated, as CLIP does (raise model.context_length to keep them whole)\n";
  model->to(device);

  const auto n = train.size();
  const auto steps_per_epoch = std::max<std::int64_t>(1, n / batch);
  const auto total = steps_per_epoch * cfg.get_int("train.epochs");
  if (total <= 0) throw core::InputError("config train.epochs: must be positive");
  auto adamw = torch::optim::AdamWOptions(cfg.get_double("train.lr"))
                   .betas({cfg.get_double("train.beta1"), cfg.get_double("train.beta2")})
                   .eps(cfg.get_double("train.eps"))
                   .weight_decay(cfg.get_double("train.weight_decay"));
  core::FusedAdamW optimizer(adamw_groups(*model, adamw, {"embedding", "logit_scale"}), adamw);  // open_clip's exclusions
  core::LrSchedule schedule = warmup_cosine_schedule(cfg, total);

  core::RunDir run = resume.empty() ? core::RunDir::create(runs_root, cfg.get_string("experiment"), seed, cfg, device.str())
                                    : core::RunDir::open(run_path);
  core::Trainer trainer(*model, optimizer, schedule, trainer_options(cfg, total, "clip", seed, run, steps_per_epoch));
  if (!resume.empty()) {
    trainer.resume(ckpt_path);
    run.metrics().truncate_after("step", static_cast<double>(trainer.state().step));
    run.log("resumed from " + ckpt_path + " at step " + std::to_string(trainer.state().step) + " of " + std::to_string(total), false);
  } else {
    run.log("run " + run.path() + ": CLIP " + cfg.get_string("model.name") + ", " + std::to_string(n) + " training scenes (" + train.spec +
                "), " + std::to_string(train.classes.size()) + " classes, " + std::to_string(total) + " steps of " + std::to_string(batch) +
                (truncated ? ", " + std::to_string(truncated) + " captions truncated" : ""),
            false);
  }
  trainer.state().extra["config"] = cfg.to_toml();
  const auto start_step = trainer.state().step;

  ContrastiveStep loss_of{model, train.images, tokens, seed, batch, steps_per_epoch, device, bf16, -1, {}};
  const double max_scale = std::log(100.0);
  const auto stop_after = cfg.get_int("train.stop_after_steps");
  const auto log_every = std::max<std::int64_t>(1, cfg.get_int("train.log_every"));
  double running = trainer.state().extra.value("running_loss", 0.0);
  auto on_step = [&](core::TrainState& st, double loss) {
    {
      torch::NoGradGuard ng;
      model->logit_scale.clamp_(0.0, max_scale);  // open_clip: after every step
    }
    running = st.step == 1 ? loss : 0.98 * running + 0.02 * loss;
    st.extra["running_loss"] = running;
    st.epoch = st.step / steps_per_epoch;
    if (st.step % log_every == 0 || st.step == total)
      run.metrics().append({{"step", st.step}, {"epoch", static_cast<double>(st.step) / static_cast<double>(steps_per_epoch)},
                            {"train_loss", running}, {"lr", schedule.lr_at(st.step - 1)},
                            {"logit_scale", model->logit_scale.item<double>()}});
    if (st.step % steps_per_epoch == 0) {
      std::ostringstream line;
      line << "epoch " << st.epoch << "/" << cfg.get_int("train.epochs") << " step " << st.step << " loss " << running << " scale "
           << std::exp(model->logit_scale.item<double>());
      run.log(line.str(), false);
    }
    return stop_after <= 0 || st.step - start_step < stop_after;
  };
  // train.cuda_graphs: every step replayed as one CUDA graph, for one process (the embeddings that
  // several ranks gather are not captured).
  const bool graphed = use_step_graphs(cfg, device, optimizer, run,
                                       core::dist::World::get().distributed() ? "the embeddings gathered from several processes are not captured" : "");
  ContrastiveStep::Batch graph_inputs;
  const auto t0 = std::chrono::steady_clock::now();
  const auto st = graphed ? trainer.fit_graphed([&](std::int64_t step, std::mt19937_64&) { return loss_of.staged(step, graph_inputs); }, on_step)
                          : trainer.fit([&](std::int64_t step, std::mt19937_64&) { return loss_of(step); }, on_step);
  ClipTrainResult r;
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.steps = st.step;
  r.total_steps = total;
  r.final_loss = running;
  r.logit_scale = model->logit_scale.item<double>();
  r.run_path = run.path();
  r.checkpoint = trainer.last_checkpoint();
  if (st.step < total) {
    r.finished = false;
    run.log("stopped at step " + std::to_string(st.step) + " of " + std::to_string(total) + "; continue with --resume " + run.path(), false);
    return r;
  }
  // Rank 0 evaluates and writes the analyses; the other ranks' work ends with training.
  if (core::dist::is_writer()) evaluate_after_training(model, tokenizer, test, more_sets, cfg, device, bf16, run, r);
  return r;
}

}  // namespace pesuite::vision
