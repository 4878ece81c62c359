// Caption pretraining of the VLM on scenes (vlm_training.h).
#include "pesuite/vision/vlm_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <sstream>
#include <tuple>

#include "pesuite/core/error.h"
#include "pesuite/core/optim.h"
#include "pesuite/core/run_dir.h"
#include "pesuite/core/run_files.h"
#include "pesuite/core/runtime.h"
#include "pesuite/core/torch_compat.h"
#include "pesuite/core/trainer.h"
#include "pesuite/datasets/spec.h"
#include "pesuite/core/rank.h"
#include "pesuite/vision/box_answers.h"
#include "pesuite/vision/pin.h"
#include "scene_steps.h"
#include "train_setup.h"

namespace pesuite::vision {

namespace fs = std::filesystem;

core::Config vlm_training_defaults() {
  return core::Config::from_toml_string(R"(
experiment = "vlm-scenes"
seed = 0
device = "auto"

[data]
# Captions of these scenes (all classes: the VLM knows every name; PIN holds classes out later).
train = "scenes:?n=4000&size=64&split=train&max_objects=3&max_iou=0.5"
test = "scenes:?n=300&size=64&split=test&max_objects=3&max_iou=0.5&seed=1"   # held-out scenes for token accuracy / perplexity
vocab = "${data}/clip/bpe_simple_vocab_16e6.txt.gz"   # CLIP's BPE merges
bank = ""              # an object bank file added to every scenes spec as bank=...
root = ""              # what ${data} stands for; "" = $PESUITE_DATA, else ../shared/data beside the source tree

[model]
name = "vlm_tiny_64"   # a VLM preset (pesuite list models); the keys below override it (0 / "" = the preset's)
latents = 0
lm_width = 0
lm_layers = 0
lm_heads = 0
lm_pe = ""             # rope | learned
gate_init = 0.0        # tanh gates' initial parameter (0 = OpenFlamingo's, closed)
vision_init = ""       # a CLIP checkpoint (clip train) whose image tower starts the VLM's (same image size, patch, width, layers, heads)
freeze_vision = false  # keep that image tower frozen, as OpenFlamingo keeps CLIP's

[train]
epochs = 10
batch_size = 64
lr = 1e-3
min_lr_ratio = 0.0
weight_decay = 0.05     # not on gains, biases, embeddings, latents, gates
warmup_fraction = 0.05
clip_grad_norm = 1.0
text_fraction = 0.25    # share of each batch's rows that are box texts, "the {class} is located at [a, b, c, d]." and other wordings (located_templates), with a random well-formed box
bins = 16               # numbers in those texts are below this (PIN's grid)
text_with_image = 0.5   # share of those rows that start with <image> (the row's scene: image-mode text whose box says nothing about it)
checkpoint_every = 0    # steps; 0 = once per epoch
stop_after_steps = 0
log_every = 20

[eval]
batch_size = 100
)", "<vlm-training defaults>");
}

std::vector<std::string> vlm_dataset_specs(const core::Config& cfg) { return scene_specs(cfg, {"data.train", "data.test"}); }

Vlm build_vlm(const core::Config& cfg, const VlmVocab& vocab) {
  for (const char* k : {"latents", "lm_width", "lm_layers", "lm_heads"})
    if (cfg.get_int(std::string("model.") + k) < 0) throw core::InputError(std::string("config model.") + k + ": must be 0 (the preset's) or positive");
  return create_vlm(cfg.get_string("model.name"), vocab, [&](VlmOptions& o) {
    if (cfg.get_int("model.latents")) o.latents(cfg.get_int("model.latents"));
    if (cfg.get_int("model.lm_width")) o.lm_width(cfg.get_int("model.lm_width"));
    if (cfg.get_int("model.lm_layers")) o.lm_layers(cfg.get_int("model.lm_layers"));
    if (cfg.get_int("model.lm_heads")) o.lm_heads(cfg.get_int("model.lm_heads"));
    if (!cfg.get_string("model.lm_pe").empty()) o.lm_pe(cfg.get_string("model.lm_pe"));
    o.gate_init(cfg.get_double("model.gate_init"));
  });
}

void init_vision_from_clip(Vlm& vlm, const std::string& path) {
  const auto clip = load_clip_checkpoint(path, torch::kCPU);
  if (clip.model->options.activation() != vlm->visual->options.activation())
    throw core::InputError(path + ": a CLIP with " + clip.model->options.activation() + " activations; the VLM's tower uses " +
                           vlm->visual->options.activation());
  core::TensorMap state;
  for (const auto& [name, t] : core::module_state(*clip.model->visual))
    if (name != "proj") state[name] = t;  // CLIP's pooled projection: the VLM reads the patch tokens
  state["proj"] = vlm->visual->proj.detach().clone();
  core::load_module_state(*vlm->visual, state, path + " (image tower for the VLM)");
}

TokenBatch pad_token_rows(const std::vector<std::vector<std::int64_t>>& rows, const std::vector<std::vector<bool>>& in_loss) {
  if (rows.empty() || rows.size() != in_loss.size()) throw core::InputError("pad_token_rows: one loss mask per row, at least one row");
  std::size_t T = 0;
  for (std::size_t b = 0; b < rows.size(); ++b) {
    if (rows[b].size() != in_loss[b].size()) throw core::InputError("pad_token_rows: row " + std::to_string(b) + " and its mask differ in length");
    T = std::max(T, rows[b].size());
  }
  const auto B = static_cast<std::int64_t>(rows.size()), TT = static_cast<std::int64_t>(T);
  auto ids = torch::full({B, TT}, VlmVocab::kPad, torch::kInt64);
  auto targets = torch::full({B, TT}, -100, torch::kInt64);
  auto ia = ids.accessor<std::int64_t, 2>();
  auto ta = targets.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& r = rows[static_cast<std::size_t>(b)];
    for (std::size_t t = 0; t < r.size(); ++t) {
      ia[b][static_cast<std::int64_t>(t)] = r[t];
      if (t + 1 < r.size() && in_loss[static_cast<std::size_t>(b)][t + 1]) ta[b][static_cast<std::int64_t>(t)] = r[t + 1];
    }
  }
  return {ids, targets};
}

torch::Tensor next_token_loss(const torch::Tensor& logits, const torch::Tensor& targets) {
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), targets.reshape({-1}),
                                              torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

torch::Tensor share_of_next_token_loss(const torch::Tensor& logits, const torch::Tensor& targets, double global_targets, int world_size) {
  const auto summed = torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum));
  return summed * (static_cast<double>(world_size) / std::max(1.0, global_targets));
}

const std::vector<std::string>& located_templates() {
  // {c}: a class name, {b}: the box as the answer writes it (" [x1, y1, x2, y2]."). Varied
  // contexts, PIN's own wording among them, as an LLM has read coordinates in many sentences.
  static const std::vector<std::string> t{"the {c} is located at{b}", "In the image is a {c} located at{b}", "a {c} at{b}",
                                          "the box of the {c} is{b}", "{c}{b}"};
  return t;
}

std::string located_text(std::mt19937_64& rng, std::int64_t bins, const std::vector<std::string>& names) {
  if (names.empty()) throw core::InputError("located_text: no class names");
  if (bins < 1) throw core::InputError("located_text: bins must be positive");
  // A well-formed box (two uniform cells per axis, sorted: the random baseline's distribution).
  auto cell = [&] { return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(bins)); };
  const auto a = cell(), b = cell(), c = cell(), d = cell();
  const GridBox box{std::min(a, b), std::min(c, d), std::max(a, b), std::max(c, d)};
  const auto& name = names[static_cast<std::size_t>(rng() % names.size())];
  std::string text = located_templates()[static_cast<std::size_t>(rng() % located_templates().size())];
  text.replace(text.find("{c}"), 3, name);
  text.replace(text.find("{b}"), 3, box_answer(box));
  return text;
}

VlmVocab scene_vocabulary(const ClipTokenizer& tok, const std::vector<const ClipScenes*>& sets) {
  std::vector<std::string> texts{pin_prompt("a"), "[0, 1, 2, 3].", "[4, 5, 6, 7].", "[8, 9, 10, 11].", "[12, 13, 14, 15]."};
  for (auto t : located_templates()) {  // their words (the names and numbers come from elsewhere)
    for (const char* slot : {"{c}", "{b}"}) t.replace(t.find(slot), 3, " ");
    texts.push_back(t);
  }
  for (const auto* s : sets) {
    for (const auto& c : s->captions)
      if (!c.empty()) texts.push_back(c[0]);
    texts.insert(texts.end(), s->classes.begin(), s->classes.end());
    texts.insert(texts.end(), s->heldout.begin(), s->heldout.end());
  }
  return VlmVocab::from_texts(tok, texts);
}

namespace {

// <image> caption <|endofchunk|>, everything after <image> in the loss.
std::vector<std::int64_t> caption_row(const VlmVocab& v, const ClipTokenizer& tok, const std::string& caption) {
  std::vector<std::int64_t> r{VlmVocab::kImage};
  auto e = v.encode(tok, caption, "caption");
  r.insert(r.end(), e.begin(), e.end());
  r.push_back(VlmVocab::kEndOfChunk);
  return r;
}

torch::Tensor rows_of(const torch::Tensor& images, const std::vector<std::int64_t>& idx, const torch::Device& device) {
  return images.index_select(0, torch::tensor(idx, torch::kInt64)).to(device);
}

void check_image_size(const Vlm& vlm, const ClipScenes& data, const std::string& key) {
  if (data.images.size(2) != vlm->options.image_size() || data.images.size(3) != vlm->options.image_size())
    throw core::InputError("config " + key + " " + data.spec + ": " + std::to_string(data.images.size(2)) + " px scenes, but the VLM takes " +
                           std::to_string(vlm->options.image_size()) + " px images (size=" + std::to_string(vlm->options.image_size()) + ")");
}

}  // namespace

CaptionScores caption_scores(Vlm& vlm, const ClipTokenizer& tok, const ClipScenes& data, std::int64_t batch, const torch::Device& device) {
  torch::NoGradGuard ng;
  const bool was_training = vlm->is_training();
  vlm->eval();
  const auto vocab = vlm->vocabulary();
  CaptionScores s;
  double correct = 0, shuffled = 0, nll = 0;
  const auto n = data.size();
  for (std::int64_t i = 0; i < n; i += batch) {
    const auto end = std::min(n, i + batch);
    std::vector<std::vector<std::int64_t>> rows;
    std::vector<std::vector<bool>> masks;
    std::vector<std::int64_t> idx, next;
    for (std::int64_t k = i; k < end; ++k) {
      rows.push_back(caption_row(vocab, tok, data.captions[static_cast<std::size_t>(k)].at(0)));
      masks.emplace_back(rows.back().size(), true);
      idx.push_back(k);
      next.push_back((k + 1) % n);
    }
    auto b = pad_token_rows(rows, masks);
    auto ids = b.ids.to(device), targets = b.targets.to(device);
    auto mask = targets.ne(-100);
    auto logits = vlm(rows_of(data.images, idx, device), ids).to(torch::kFloat32);
    auto logits_shuffled = vlm(rows_of(data.images, next, device), ids).to(torch::kFloat32);
    auto safe = targets.clamp_min(0);
    nll += -torch::log_softmax(logits, -1).gather(2, safe.unsqueeze(-1)).squeeze(-1).masked_select(mask).sum().item<double>();
    correct += logits.argmax(-1).eq(targets).logical_and(mask).sum().item<double>();
    shuffled += logits_shuffled.argmax(-1).eq(targets).logical_and(mask).sum().item<double>();
    s.tokens += mask.sum().item<std::int64_t>();
  }
  s.scenes = n;
  const double t = static_cast<double>(std::max<std::int64_t>(1, s.tokens));
  s.token_accuracy = correct / t;
  s.shuffled_token_accuracy = shuffled / t;
  s.perplexity = std::exp(nll / t);
  if (was_training) vlm->train();
  return s;
}

std::vector<std::string> caption_images(Vlm& vlm, const ClipTokenizer& tok, const torch::Tensor& images, std::int64_t max_tokens,
                                        const torch::Device& device) {
  torch::NoGradGuard ng;
  vlm->eval();
  const auto vocab = vlm->vocabulary();
  auto media = vlm->resample(vlm->vision_tokens(images.to(device))).unsqueeze(1);
  std::vector<std::string> out;
  for (std::int64_t i = 0; i < images.size(0); ++i) {
    std::vector<std::int64_t> ids{VlmVocab::kImage};
    for (std::int64_t t = 0; t < max_tokens; ++t) {
      auto logits = vlm->lm_logits(torch::tensor(ids, torch::kInt64).unsqueeze(0).to(device), media.narrow(0, i, 1));
      const auto next = logits[0][-1].argmax().item<std::int64_t>();
      if (next == VlmVocab::kEndOfChunk) break;
      ids.push_back(next);
    }
    out.push_back(vocab.decode(tok, std::vector<std::int64_t>(ids.begin() + 1, ids.end())));
  }
  return out;
}

core::Config vlm_resume_config(const std::string& path) { return core::run_config(path, vlm_training_defaults(), "vlm train"); }

VlmTrainResult run_vlm_training(const core::Config& cfg, const std::string& runs_root, const std::string& resume) {
  auto& world = core::dist::World::get();
  const auto seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const torch::Device device = core::parse_device(cfg.get_string("device"));
  std::string run_path, ckpt_path;
  if (!resume.empty()) {
    std::tie(run_path, ckpt_path) = core::resolve_run_or_checkpoint(resume);
  }
  const auto specs = vlm_dataset_specs(cfg);
  const ClipTokenizer tok = clip_tokenizer(cfg);
  const auto batch = cfg.get_int("train.batch_size");
  if (batch < 1) throw core::InputError("config train.batch_size: must be positive");
  if (batch < world.size())
    throw core::InputError("config train.batch_size: " + std::to_string(batch) + " rows cannot be shared by " + std::to_string(world.size()) +
                           " ranks (each trains on at least one)");
  const double text_fraction = cfg.get_double("train.text_fraction");
  if (text_fraction < 0 || text_fraction >= 1) throw core::InputError("config train.text_fraction: must be in [0, 1)");
  const auto bins = cfg.get_int("train.bins");
  if (bins < 1 || bins > 100) throw core::InputError("config train.bins: must be in [1, 100]");
  const auto train = load_clip_scenes(specs[0]);
  const auto test = load_clip_scenes(specs[1]);
  const auto vocab = scene_vocabulary(tok, {&train, &test});
  core::seed_all(seed);
  Vlm model = build_vlm(cfg, vocab);
  if (!cfg.get_string("model.vision_init").empty()) init_vision_from_clip(model, cfg.get_string("model.vision_init"));
  if (cfg.get_bool("model.freeze_vision")) {
    if (cfg.get_string("model.vision_init").empty()) throw core::InputError("config model.freeze_vision: needs model.vision_init (a random tower would stay random)");
    for (auto& p : model->visual->parameters()) p.set_requires_grad(false);
  }
  check_image_size(model, train, "data.train");
  check_image_size(model, test, "data.test");
  std::vector<std::vector<std::int64_t>> rows;
  for (const auto& c : train.captions) rows.push_back(caption_row(vocab, tok, c.at(0)));
  model->to(device);

  const auto n = train.size();
  const auto steps_per_epoch = std::max<std::int64_t>(1, n / batch);
  const auto total = steps_per_epoch * cfg.get_int("train.epochs");
  if (total <= 0) throw core::InputError("config train.epochs: must be positive");
  auto adamw = torch::optim::AdamWOptions(cfg.get_double("train.lr")).betas({0.9, 0.95}).eps(1e-8).weight_decay(cfg.get_double("train.weight_decay"));
  core::FusedAdamW optimizer(adamw_groups(*model, adamw, {"embedding", "latents"}), adamw);
  core::LrSchedule schedule = warmup_cosine_schedule(cfg, total);
  core::RunDir run = resume.empty() ? core::RunDir::create(runs_root, cfg.get_string("experiment"), seed, cfg, device.str()) : core::RunDir::open(run_path);
  core::Trainer trainer(*model, optimizer, schedule, trainer_options(cfg, total, "vlm", seed, run, steps_per_epoch));
  if (!resume.empty()) {
    trainer.resume(ckpt_path);
    run.metrics().truncate_after("step", static_cast<double>(trainer.state().step));
  } else {
    run.log("run " + run.path() + ": VLM " + cfg.get_string("model.name") + ", " + std::to_string(n) + " captioned scenes, vocabulary of " +
                std::to_string(vocab.size()) + ", " + std::to_string(total) + " steps of " + std::to_string(batch),
            false);
  }
  trainer.state().extra["config"] = cfg.to_toml();
  const auto start_step = trainer.state().step;
  const auto text_rows = static_cast<std::int64_t>(std::llround(text_fraction * static_cast<double>(batch)));
  const double with_image = cfg.get_double("train.text_with_image");
  if (with_image < 0 || with_image > 1) throw core::InputError("config train.text_with_image: must be in [0, 1]");
  const auto image_text_rows = static_cast<std::int64_t>(std::llround(with_image * static_cast<double>(text_rows)));
  std::vector<std::int64_t> perm;
  std::int64_t perm_epoch = -1;
  auto loss_of = [&](std::int64_t step) {
    const auto epoch = step / steps_per_epoch, k = step % steps_per_epoch;
    if (epoch != perm_epoch) perm = epoch_permutation(seed, epoch, n), perm_epoch = epoch;
    auto rng = step_rng(seed, step);
    std::vector<std::int64_t> idx;
    std::vector<std::vector<std::int64_t>> batch_rows;
    std::vector<std::vector<bool>> masks;
    for (std::int64_t i = 0; i < std::min(batch, n); ++i) {
      const auto scene = perm[static_cast<std::size_t>((k * batch + i) % n)];
      idx.push_back(scene);
      if (i < batch - text_rows) {
        batch_rows.push_back(rows[static_cast<std::size_t>(scene)]);
        masks.emplace_back(batch_rows.back().size(), true);
      } else {  // text without an image (the row's image is there but no token reads it), or after it
        auto ids = vocab.encode(tok, located_text(rng, bins, train.classes), "text");
        if (i >= batch - image_text_rows) ids.insert(ids.begin(), VlmVocab::kImage);
        batch_rows.push_back(std::move(ids));
        masks.emplace_back(batch_rows.back().size(), true);
      }
    }
    const auto b = pad_token_rows(batch_rows, masks);
    if (!world.distributed()) return next_token_loss(model(rows_of(train.images, idx, device), b.ids.to(device)), b.targets.to(device));
    // Data-parallel: every rank draws the whole batch (cheap: token ids) and trains on its rows,
    // weighted by the global batch's target count (share_of_next_token_loss).
    const auto share = world.batch_share(b.ids.size(0));
    const auto rows_n = share.end - share.begin;
    const std::vector<std::int64_t> share_idx(idx.begin() + share.begin, idx.begin() + share.end);
    return share_of_next_token_loss(model(rows_of(train.images, share_idx, device), b.ids.narrow(0, share.begin, rows_n).to(device)),
                                    b.targets.narrow(0, share.begin, rows_n).to(device), b.targets.ne(-100).sum().item<double>(),
                                    world.size());
  };
  const auto stop_after = cfg.get_int("train.stop_after_steps");
  const auto log_every = std::max<std::int64_t>(1, cfg.get_int("train.log_every"));
  double running = trainer.state().extra.value("running_loss", 0.0);
  auto on_step = [&](core::TrainState& st, double loss) {
    running = st.step == 1 ? loss : 0.95 * running + 0.05 * loss;
    st.extra["running_loss"] = running;
    st.epoch = st.step / steps_per_epoch;
    if (st.step % log_every == 0 || st.step == total)
      run.metrics().append({{"step", st.step}, {"train_loss", running}, {"lr", schedule.lr_at(st.step - 1)}});
    return stop_after <= 0 || st.step - start_step < stop_after;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const auto st = trainer.fit([&](std::int64_t step, std::mt19937_64&) { return loss_of(step); }, on_step);
  VlmTrainResult r;
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.steps = st.step;
  r.total_steps = total;
  r.final_loss = running;
  r.run_path = run.path();
  r.checkpoint = trainer.last_checkpoint();
  r.parameters = trained_parameters(*model);
  if (st.step < total) {
    r.finished = false;
    run.log("stopped at step " + std::to_string(st.step) + " of " + std::to_string(total) + "; continue with --resume " + run.path(), false);
    return r;
  }
  r.vlm_file = run.path() + "/vlm.safetensors";
  if (!core::dist::is_writer()) return r;  // rank 0 alone evaluates and writes (every rank holds the same weights)
  r.test = caption_scores(model, tok, test, std::max<std::int64_t>(1, cfg.get_int("eval.batch_size")), device);
  model->to(torch::kCPU);
  save_vlm(r.vlm_file, model, {{"config", cfg.to_toml()}});
  run.metrics().append({{"step", total}, {"token_acc", r.test.token_accuracy}, {"perplexity", r.test.perplexity},
                        {"shuffled_token_acc", r.test.shuffled_token_accuracy}, {"train_seconds", r.train_seconds}});
  std::ostringstream line;
  line << "held-out scenes: token accuracy " << r.test.token_accuracy << " (image of another scene: " << r.test.shuffled_token_accuracy
       << "), perplexity " << r.test.perplexity << " over " << r.test.tokens << " tokens";
  run.log(line.str(), false);
  return r;
}

}  // namespace pesuite::vision
