// PIN and its baselines on a frozen VLM: training, beam-search decoding, mIoU (pin_training.h).
#include "pesuite/vision/pin_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/optim.h"
#include "pesuite/core/publish_file.h"
#include "pesuite/core/rank.h"
#include "pesuite/core/run_dir.h"
#include "pesuite/core/runtime.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/core/trainer.h"
#include "pesuite/datasets/spec.h"
#include "scene_steps.h"
#include "train_setup.h"

namespace pesuite::vision {

namespace fs = std::filesystem;

core::Config pin_defaults() {
  return core::Config::from_toml_string(R"(
experiment = "pin"
seed = 0
device = "auto"
method = "pin"          # pin | vpt | lora (trained) | raw | random | fewshot | full (not the paper's: every VLM weight trained, a ceiling)

[vlm]
ckpt = ""               # a VLM file (vlm train's <run>/vlm.safetensors); "" = pretrain the one `pretrain` describes (cached)
pretrain = ""           # TOML over `vlm train`'s defaults; data.root / bank / vocab are this config's

[data]
# PIN trains on scenes of the training classes; held-out classes are never in a PIN training row.
train = "scenes:?n=2000&size=64&split=train&holdout=4&max_objects=3&max_iou=0.5"
test = "scenes:?n=200&size=64&split=test&holdout=4&max_objects=3&max_iou=0.5&seed=1"        # training classes, new scenes
heldout = "scenes:?n=200&size=64&split=heldout&holdout=4&max_objects=3&max_iou=0.5&seed=2"  # held-out classes
# Domain shift: real COCO images (the classes the VLM can name); "" = none, a missing file = skipped
coco = "coco:${data}/coco-tiny/instances_train2017_small.json?images=${data}/coco-tiny/train_2017_small"
vocab = "${data}/clip/bpe_simple_vocab_16e6.txt.gz"
bank = ""
root = ""

[adapter]
prompts = 8             # vpt: prompt tokens
rank = 4                # lora: rank of W_q and W_v's updates
alpha = 8.0             # lora: scale alpha / rank
pin_channels = 64       # pin: sinusoidal channels and the MLP's hidden widths (the paper's 64 -> 512 -> 768)
pin_hidden1 = 512
pin_hidden2 = 768

[train]
epochs = 5
batch_size = 32
lr = 1e-3
min_lr_ratio = 0.0
weight_decay = 0.0
warmup_fraction = 0.05
clip_grad_norm = 1.0
name_fraction = 0.25    # the object name's tokens are in the loss during this first share of the steps
log_every = 20

[eval]
bins = 16               # the answer's grid of cells per side
beams = 3
shots = 10              # fewshot: examples in the context
medium_area = 0.04      # medium: ground-truth box >= 4 % of the image area
large_area = 0.12       # large: >= 12 %
max_queries = 0         # per split; 0 = all
)", "<pin defaults>");
}

std::vector<std::string> pin_dataset_specs(const core::Config& cfg) { return scene_specs(cfg, {"data.train", "data.test", "data.heldout"}); }

void freeze_vlm(Vlm& vlm) {
  vlm->eval();
  for (auto& p : vlm->parameters()) p.set_requires_grad(false);
}

namespace {

std::string fnv_hex(const std::string& text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

Vlm pin_vlm(const core::Config& cfg, const std::string& runs_root) {
  const auto ckpt = cfg.get_string("vlm.ckpt");
  if (!ckpt.empty()) {
    if (!fs::is_regular_file(ckpt)) throw core::InputError("config vlm.ckpt: " + ckpt + ": no such VLM file");
    return load_vlm(ckpt);
  }
  core::Config v = vlm_training_defaults();
  v.merge_string(cfg.get_string("vlm.pretrain"), "config vlm.pretrain");
  for (const char* k : {"root", "bank", "vocab"})
    v.apply_set(std::string("data.") + k + "=\"" + cfg.get_string(std::string("data.") + k) + "\"");
  v.apply_set("device=\"" + cfg.get_string("device") + "\"");
  // The device does not change the model (CPU runs are deterministic; CUDA's are to rounding).
  core::Config key = v;
  key.apply_set("device=\"any\"");
  const auto path = core::cache_dir() + "/vlm/" + fnv_hex("pesuite-vlm-4\n" + key.to_toml()) + ".safetensors";
  // Several ranks: rank 0 decides whether the cache holds it, all of them pretrain it (data-parallel)
  // if not, rank 0 publishes it, and the others read it only after that.
  auto& world = core::dist::World::get();
  bool cached = fs::exists(path);
  if (world.distributed()) cached = world.share_from_rank0("pin_vlm_cached", cached ? "1" : "0") == "1";
  if (!cached) {
    if (core::dist::is_writer()) std::cerr << "pretraining the VLM of vlm.pretrain (cached as " << path << ")\n";
    const auto r = run_vlm_training(v, runs_root);
    if (!r.finished) throw core::InputError("config vlm.pretrain: the VLM's training stopped early (train.stop_after_steps)");
    if (core::dist::is_writer()) {
      fs::create_directories(fs::path(path).parent_path());
      const auto tmp = path + ".tmp" + std::to_string(::getpid());
      fs::copy_file(r.vlm_file, tmp, fs::copy_options::overwrite_existing);
      core::publish_file(tmp, path);
    }
    if (world.distributed()) world.barrier();
  }
  return load_vlm(path);
}

std::vector<std::int64_t> localisation_prompt(const VlmVocab& vocab, const ClipTokenizer& tok, const std::string& object,
                                              std::vector<bool>* name_mask) {
  // pin_prompt(object) = "In the image is a " + object + " located at", encoded in three parts
  // (CLIP's pre-tokeniser splits at the spaces, so this is the BPE of the whole prompt).
  const auto full = pin_prompt(object);
  const auto head = full.substr(0, full.find(object));
  auto a = vocab.encode(tok, head, "prompt");
  auto name = vocab.encode(tok, object, "object");
  auto tail = vocab.encode(tok, full.substr(head.size() + object.size()), "prompt");
  std::vector<std::int64_t> ids{VlmVocab::kImage};
  ids.insert(ids.end(), a.begin(), a.end());
  const auto name_start = ids.size();
  ids.insert(ids.end(), name.begin(), name.end());
  ids.insert(ids.end(), tail.begin(), tail.end());
  if (name_mask) {
    name_mask->assign(ids.size(), false);
    for (std::size_t i = 0; i < name.size(); ++i) (*name_mask)[name_start + i] = true;
  }
  return ids;
}

TokenBatch localisation_rows(const VlmVocab& vocab, const ClipTokenizer& tok, const std::vector<std::string>& objects,
                             const std::vector<GridBox>& answers, bool name_in_loss) {
  if (objects.size() != answers.size()) throw core::InputError("localisation_rows: one answer per object");
  std::vector<std::vector<std::int64_t>> rows;
  std::vector<std::vector<bool>> masks;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    std::vector<bool> mask;
    auto ids = localisation_prompt(vocab, tok, objects[i], &mask);
    if (!name_in_loss) std::fill(mask.begin(), mask.end(), false);
    auto ans = vocab.encode(tok, box_answer(answers[i]), "answer");
    ids.insert(ids.end(), ans.begin(), ans.end());
    mask.resize(ids.size(), true);
    rows.push_back(std::move(ids));
    masks.push_back(std::move(mask));
  }
  return pad_token_rows(rows, masks);
}

torch::Tensor localisation_loss(Vlm& vlm, LocalisationAdapter& adapter, const torch::Tensor& images, const TokenBatch& rows) {
  const auto device = images.device();
  auto media = adapter.media(vlm, images).unsqueeze(1);
  return next_token_loss(vlm->lm_logits(rows.ids.to(device), media), rows.targets.to(device));
}

bool vlm_can_name(const VlmVocab& vocab, const ClipTokenizer& tok, const std::string& object) {
  try {
    vocab.encode(tok, object, "object");
    return true;
  } catch (const core::InputError&) {
    return false;
  }
}

#ifndef PESUITE_HAVE_OPENCV
ClipScenes coco_localisation_scenes(const std::string& spec, std::int64_t, const std::function<bool(const std::string&)>&) {
  throw core::InputError("dataset spec '" + spec + "': decoding COCO images needs OpenCV (pesuite::imageio), which this build lacks");
}
#endif

std::vector<LocalisationQuery> localisation_queries(const ClipScenes& data) {
  std::vector<LocalisationQuery> out;
  for (std::int64_t i = 0; i < data.size(); ++i) {
    const auto& objs = data.objects[static_cast<std::size_t>(i)];
    std::set<std::int64_t> seen;
    for (const auto& o : objs) {
      if (o.visible_pixels == 0 || !seen.insert(o.label).second) continue;
      LocalisationQuery q;
      q.scene = i;
      q.object = data.classes.at(static_cast<std::size_t>(o.label));
      for (const auto& p : objs)
        if (p.label == o.label && p.visible_pixels > 0) q.boxes.push_back({p.box.x1, p.box.y1, p.box.x2, p.box.y2});
      out.push_back(std::move(q));
    }
  }
  return out;
}

namespace {

struct Decoder {
  Vlm& vlm;
  const ClipTokenizer& tok;
  VlmVocab vocab;
  std::vector<std::int64_t> stop;
  std::int64_t max_new = 0, bins = 16, beams = 3;
  torch::Device device;

  Decoder(Vlm& v, const ClipTokenizer& t, std::int64_t bins_, std::int64_t beams_, const torch::Device& d)
      : vlm(v), tok(t), vocab(v->vocabulary()), bins(bins_), beams(beams_), device(d) {
    const auto longest = vocab.encode(tok, box_answer({bins - 1, bins - 1, bins - 1, bins - 1}), "answer");
    stop = {longest.back(), VlmVocab::kEndOfChunk};
    max_new = static_cast<std::int64_t>(longest.size()) + 2;
  }
  // Beam search after `context` with `media` [1, M, L, D]: the decoded text.
  std::string answer(const std::vector<std::int64_t>& context, const torch::Tensor& media) {
    auto next = [&](const std::vector<std::vector<std::int64_t>>& prefixes) {
      std::vector<std::int64_t> flat;
      for (const auto& p : prefixes) {
        flat.insert(flat.end(), context.begin(), context.end());
        flat.insert(flat.end(), p.begin(), p.end());
      }
      const auto n = static_cast<std::int64_t>(prefixes.size());
      auto ids = torch::tensor(flat, torch::kInt64).view({n, -1}).to(device);
      auto logits = vlm->lm_logits(ids, media.expand({n, media.size(1), media.size(2), media.size(3)}));
      auto lp = torch::log_softmax(logits.select(1, ids.size(1) - 1).to(torch::kFloat64), -1).cpu().contiguous();
      std::vector<std::vector<double>> out(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) {
        auto& row = out[static_cast<std::size_t>(i)];
        row.assign(lp[i].data_ptr<double>(), lp[i].data_ptr<double>() + lp.size(1));
        // An answer is text: an <image> would ask the LM for a second image, padding is not a
        // token. Both are left out (the answer then ends as something else, or not as a box).
        row[VlmVocab::kImage] = row[VlmVocab::kPad] = -std::numeric_limits<double>::infinity();
      }
      return out;
    };
    const auto r = beam_search(next, BeamOptions().beams(beams).max_new_tokens(max_new).stop_tokens(stop).length_penalty(1.0));
    return vocab.decode(tok, r.tokens);
  }
};

torch::Tensor media_of(Vlm& vlm, LocalisationAdapter& adapter, const torch::Tensor& images, const torch::Device& device) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> out;
  for (std::int64_t i = 0; i < images.size(0); i += 64)
    out.push_back(adapter.media(vlm, images.slice(0, i, std::min(images.size(0), i + 64)).to(device)));
  return torch::cat(out);
}

GridBox random_box(std::mt19937_64& rng, std::int64_t bins) {
  auto cell = [&] { return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(bins)); };
  auto a = cell(), b = cell(), c = cell(), d = cell();
  return {std::min(a, b), std::min(c, d), std::max(a, b), std::max(c, d)};
}

}  // namespace

LocalisationResult evaluate_localisation(const std::string& method, Vlm& vlm, LocalisationAdapter* adapter, const ClipTokenizer& tok,
                                         const ClipScenes& data, const ClipScenes* support, const LocaliseOptions& o,
                                         const torch::Device& device) {
  torch::NoGradGuard ng;
  if (method != "random") vlm->eval();
  auto queries = localisation_queries(data);
  if (o.max_queries > 0 && static_cast<std::int64_t>(queries.size()) > o.max_queries) queries.resize(static_cast<std::size_t>(o.max_queries));
  const double S = static_cast<double>(data.images.size(3)), H = static_cast<double>(data.images.size(2));
  std::mt19937_64 rng(o.seed * 0x2545F4914F6CDD1DULL + 17);
  LocalisationResult r;
  std::vector<double> areas;
  std::int64_t malformed = 0;
  std::unique_ptr<Decoder> dec;
  torch::Tensor media, support_media;
  std::shared_ptr<LocalisationAdapter> raw;
  if (method != "random") {
    dec = std::make_unique<Decoder>(vlm, tok, o.bins, o.beams, device);
    if (method == "fewshot") {
      if (!support || support->size() == 0) throw core::InputError("fewshot: no support scenes to draw examples from");
      if (o.shots < 1) throw core::InputError("config eval.shots: fewshot needs at least one example");
      raw = make_adapter("raw", vlm);
      adapter = raw.get();
      support_media = media_of(vlm, *adapter, support->images, device);
    }
    if (!adapter) throw core::InputError("localisation method '" + method + "' needs an adapter");
    media = media_of(vlm, *adapter, data.images, device);
  }
  const auto support_queries = support ? localisation_queries(*support) : std::vector<LocalisationQuery>{};
  for (const auto& q : queries) {
    std::optional<GridBox> box;
    if (method == "random") {
      box = random_box(rng, o.bins);
      r.answers.push_back(box_answer(*box));
    } else {
      std::vector<std::int64_t> context;
      torch::Tensor m = media.narrow(0, q.scene, 1).unsqueeze(1);  // [1, 1, L, D]
      if (method == "fewshot") {
        std::vector<torch::Tensor> ms;
        for (std::int64_t k = 0; k < o.shots; ++k) {
          const auto& s = support_queries.at(static_cast<std::size_t>(rng() % support_queries.size()));
          const auto& sb = s.boxes.front();
          auto ids = localisation_prompt(dec->vocab, tok, s.object);
          auto ans = dec->vocab.encode(tok, box_answer(quantise_box(sb, S, H, o.bins)), "answer");
          context.insert(context.end(), ids.begin(), ids.end());
          context.insert(context.end(), ans.begin(), ans.end());
          context.push_back(VlmVocab::kEndOfChunk);
          ms.push_back(support_media.narrow(0, s.scene, 1));
        }
        ms.push_back(media.narrow(0, q.scene, 1));
        m = torch::stack(ms, 1);  // [1, shots + 1, L, D]
      }
      auto prompt = localisation_prompt(dec->vocab, tok, q.object);
      context.insert(context.end(), prompt.begin(), prompt.end());
      r.answers.push_back(dec->answer(context, m));
      box = parse_box_answer(r.answers.back(), o.bins);
    }
    double best = 0, area = q.boxes.front().area();
    if (box) {
      const auto pred = cells_to_box(*box, S, H, o.bins);
      for (const auto& g : q.boxes) {
        const double iou = box_iou(pred, g);
        if (iou > best) best = iou, area = g.area();
      }
    } else {
      ++malformed;
    }
    r.ious.push_back(best);
    areas.push_back(area / (S * H));
  }
  r.summary = summarise_iou(r.ious, areas, malformed, o.medium_area, o.large_area);
  r.queries = std::move(queries);
  return r;
}

std::string localisation_answers_tsv(const LocalisationResult& r) {
  std::ostringstream out;
  out << "scene\tobject\tanswer\tiou\ttruth (x1 y1 x2 y2 px, every visible box)\n";
  for (std::size_t i = 0; i < r.queries.size() && i < r.answers.size() && i < r.ious.size(); ++i) {
    const auto& q = r.queries[i];
    std::string answer = r.answers[i];  // decoded text: keep the table's columns and lines
    std::replace_if(answer.begin(), answer.end(), [](char c) { return c == '\t' || c == '\n' || c == '\r'; }, ' ');
    out << q.scene << '\t' << q.object << '\t' << answer << '\t' << r.ious[i] << '\t';
    for (std::size_t k = 0; k < q.boxes.size(); ++k) {
      const auto& b = q.boxes[k];
      out << (k ? "; " : "") << b.x1 << ' ' << b.y1 << ' ' << b.x2 << ' ' << b.y2;
    }
    out << '\n';
  }
  return out.str();
}

// ---- files ----------------------------------------------------------------------------------------

void save_localiser(const std::string& path, const Localiser& loc, const AdapterOptions& ao) {
  core::TensorMap t;
  for (const auto& [k, v] : core::module_state(*loc.vlm)) t["vlm." + k] = v;
  if (loc.adapter)
    for (const auto& [k, v] : core::module_state(*loc.adapter)) t["adapter." + k] = v;
  auto meta = vlm_metadata(loc.vlm->options);
  meta["format"] = "pesuite-localiser";
  meta["method"] = loc.method;
  meta["bins"] = std::to_string(loc.bins);
  meta["beams"] = std::to_string(loc.beams);
  meta["prompts"] = std::to_string(ao.prompts);
  meta["rank"] = std::to_string(ao.rank);
  char alpha[32];
  std::snprintf(alpha, sizeof alpha, "%.17g", ao.alpha);
  meta["alpha"] = alpha;
  meta["pin_channels"] = std::to_string(ao.pin_channels);
  meta["pin_hidden1"] = std::to_string(ao.pin_hidden1);
  meta["pin_hidden2"] = std::to_string(ao.pin_hidden2);
  core::save_safetensors(path, t, meta);
}

Localiser load_localiser(const std::string& path) {
  if (!fs::is_regular_file(path)) throw core::InputError(path + ": no such localiser file");
  auto file = core::load_safetensors(path);
  auto m = file.metadata;
  auto fmt = m.find("format");
  if (fmt == m.end() || fmt->second != "pesuite-localiser")
    throw core::InputError(path + ": not a localiser of `pin train` / the pin pipeline (metadata 'format' is not 'pesuite-localiser')");
  auto num = [&](const std::string& key) -> std::string {
    auto it = m.find(key);
    if (it == m.end()) throw core::InputError(path + ": metadata '" + key + "' is missing");
    return it->second;
  };
  m["format"] = "pesuite-vlm";
  const auto options = vlm_options_from_metadata(m, path);
  core::TensorMap vlm_state, adapter_state;
  for (const auto& [k, v] : file.tensors) {
    if (k.rfind("vlm.", 0) == 0) vlm_state[k.substr(4)] = v;
    else if (k.rfind("adapter.", 0) == 0) adapter_state[k.substr(8)] = v;
  }
  auto vt = vlm_state.find("vocab");
  if (vt == vlm_state.end()) throw core::InputError(path + ": tensor 'vlm.vocab' is missing");
  Localiser loc;
  loc.vlm = Vlm(options, VlmVocab::from_table(vt->second, path));
  core::load_module_state(*loc.vlm, vlm_state, path + " (vlm.*)");
  freeze_vlm(loc.vlm);
  loc.method = num("method");
  try {
    loc.bins = std::stoll(num("bins"));
    loc.beams = std::stoll(num("beams"));
    AdapterOptions ao;
    ao.prompts = std::stoll(num("prompts"));
    ao.rank = std::stoll(num("rank"));
    ao.alpha = std::stod(num("alpha"));
    ao.pin_channels = std::stoll(num("pin_channels"));
    ao.pin_hidden1 = std::stoll(num("pin_hidden1"));
    ao.pin_hidden2 = std::stoll(num("pin_hidden2"));
    loc.adapter = make_adapter(loc.method, loc.vlm, ao);
  } catch (const std::invalid_argument&) {
    throw core::InputError(path + ": a numeric metadata field (bins, beams, prompts, rank, alpha, pin_*) is not a number");
  } catch (const std::out_of_range&) {
    throw core::InputError(path + ": a numeric metadata field is out of range");
  }
  core::load_module_state(*loc.adapter, adapter_state, path + " (adapter.*)");
  loc.adapter->eval();
  return loc;
}

BoxAnswer locate(Localiser& loc, const ClipTokenizer& tok, const torch::Tensor& image, const std::string& object, const torch::Device& device) {
  const auto S = loc.vlm->options.image_size();
  if (!image.defined() || image.dim() != 3 || image.size(0) != 3 || image.size(1) != S || image.size(2) != S)
    throw core::InputError("locate: the image must be [3, " + std::to_string(S) + ", " + std::to_string(S) + "] (RGB at the VLM's size)");
  torch::NoGradGuard ng;
  loc.vlm->to(device);
  loc.adapter->to(device);
  Decoder dec(loc.vlm, tok, loc.bins, loc.beams, device);
  auto prompt = localisation_prompt(dec.vocab, tok, object);  // InputError for a name the VLM cannot read
  auto media = loc.adapter->media(loc.vlm, image.unsqueeze(0).to(device)).unsqueeze(1);
  BoxAnswer a;
  a.text = dec.answer(prompt, media);
  a.box = parse_box_answer(a.text, loc.bins);
  if (a.box) a.pixels = cells_to_box(*a.box, static_cast<double>(S), static_cast<double>(S), loc.bins);
  return a;
}

// ---- the pipeline ---------------------------------------------------------------------------------

PinResult run_pin(const core::Config& cfg, const std::string& runs_root) {
  auto& world = core::dist::World::get();
  const auto method = cfg.get_string("method");
  static const std::set<std::string> methods{"pin", "vpt", "lora", "raw", "random", "fewshot", "full"};
  if (!methods.count(method))
    throw core::InputError("config method: '" + method + "' is not one of pin, vpt, lora, raw, random, fewshot, full");
  const bool trained = method == "pin" || method == "vpt" || method == "lora" || method == "full";
  const auto seed = static_cast<std::uint64_t>(cfg.get_int("seed"));
  const torch::Device device = core::parse_device(cfg.get_string("device"));
  const auto specs = pin_dataset_specs(cfg);
  const ClipTokenizer tok = clip_tokenizer(cfg);
  LocaliseOptions lo;
  lo.bins = cfg.get_int("eval.bins");
  lo.beams = cfg.get_int("eval.beams");
  lo.shots = cfg.get_int("eval.shots");
  lo.medium_area = cfg.get_double("eval.medium_area");
  lo.large_area = cfg.get_double("eval.large_area");
  lo.max_queries = cfg.get_int("eval.max_queries");
  lo.seed = seed;
  if (lo.bins < 1 || lo.bins > 100) throw core::InputError("config eval.bins: must be in [1, 100]");
  if (lo.beams < 1) throw core::InputError("config eval.beams: must be positive");
  AdapterOptions ao;
  ao.prompts = cfg.get_int("adapter.prompts");
  ao.rank = cfg.get_int("adapter.rank");
  ao.alpha = cfg.get_double("adapter.alpha");
  ao.pin_channels = cfg.get_int("adapter.pin_channels");
  ao.pin_hidden1 = cfg.get_int("adapter.pin_hidden1");
  ao.pin_hidden2 = cfg.get_int("adapter.pin_hidden2");

  Vlm vlm = method == "random" ? Vlm(nullptr) : pin_vlm(cfg, runs_root);
  const auto train = load_clip_scenes(specs[0]);
  const auto test = load_clip_scenes(specs[1]);
  const auto heldout = load_clip_scenes(specs[2]);
  // PIN never trains on a held-out class: the training split's classes exclude them by construction.
  for (const auto& h : train.heldout)
    if (std::find(train.classes.begin(), train.classes.end(), h) != train.classes.end())
      throw core::InputError("config data.train: held-out class '" + h + "' is among the training classes");
  core::seed_all(seed);
  PinResult r;
  r.method = method;
  core::RunDir run = core::RunDir::create(runs_root, cfg.get_string("experiment"), seed, cfg, device.str());
  r.run_path = run.path();
  std::shared_ptr<LocalisationAdapter> adapter;
  if (vlm) {
    for (const auto* d : {&train, &test, &heldout})
      if (d->images.size(2) != vlm->options.image_size())
        throw core::InputError("dataset " + d->spec + ": " + std::to_string(d->images.size(2)) + " px scenes, but the VLM takes " +
                               std::to_string(vlm->options.image_size()) + " px images");
    freeze_vlm(vlm);
    vlm->to(device);
    if (method != "fewshot") adapter = make_adapter(method == "random" ? "raw" : method, vlm, ao);
    if (method == "full")  // the ceiling: the VLM's own weights are the adapter's
      for (auto& p : adapter->parameters()) p.set_requires_grad(true);
  }
  if (trained) {
    adapter->to(device);
    adapter->train();
    r.trained_parameters = trained_parameters(*adapter);
    const auto batch = cfg.get_int("train.batch_size");
    if (batch < 1) throw core::InputError("config train.batch_size: must be positive");
    if (batch < world.size())
      throw core::InputError("config train.batch_size: " + std::to_string(batch) + " queries cannot be shared by " + std::to_string(world.size()) +
                             " ranks");
    const auto n = train.size();
    const auto steps_per_epoch = std::max<std::int64_t>(1, n / batch);
    const auto total = steps_per_epoch * cfg.get_int("train.epochs");
    if (total <= 0) throw core::InputError("config train.epochs: must be positive");
    const auto name_steps = static_cast<std::int64_t>(cfg.get_double("train.name_fraction") * static_cast<double>(total));
    const double S = static_cast<double>(train.images.size(3)), H = static_cast<double>(train.images.size(2));
    auto adamw = torch::optim::AdamWOptions(cfg.get_double("train.lr")).weight_decay(cfg.get_double("train.weight_decay"));
    core::FusedAdamW optimizer(adapter->parameters(), adamw);
    core::LrSchedule schedule = warmup_cosine_schedule(cfg, total);
    core::Trainer trainer(*adapter, optimizer, schedule, trainer_options(cfg, total, method, seed));
    std::vector<std::int64_t> perm;
    std::int64_t perm_epoch = -1;
    const auto log_every = std::max<std::int64_t>(1, cfg.get_int("train.log_every"));
    double running = 0;
    run.log("run " + run.path() + ": " + method + " (" + std::to_string(r.trained_parameters) + " trained parameters) on " + (method == "full" ? "the whole VLM, " : "a frozen VLM, ") +
                std::to_string(n) + " scenes of " + std::to_string(train.classes.size()) + " classes, " + std::to_string(total) + " steps",
            false);
    const auto t0 = std::chrono::steady_clock::now();
    auto st = trainer.fit(
        [&](std::int64_t step, std::mt19937_64&) {
          const auto epoch = step / steps_per_epoch, k = step % steps_per_epoch;
          if (epoch != perm_epoch) perm = epoch_permutation(seed, epoch, n), perm_epoch = epoch;
          auto rng = step_rng(seed, step);
          std::vector<std::int64_t> idx;
          std::vector<std::string> names;
          std::vector<GridBox> answers;
          for (std::int64_t i = 0; i < std::min(batch, n); ++i) {
            const auto scene = perm[static_cast<std::size_t>((k * batch + i) % n)];
            std::vector<const datasets::SceneObject*> visible;
            for (const auto& o : train.objects[static_cast<std::size_t>(scene)])
              if (o.visible_pixels > 0) visible.push_back(&o);
            if (visible.empty()) continue;
            const auto* o = visible[static_cast<std::size_t>(rng() % visible.size())];
            idx.push_back(scene);
            names.push_back(train.classes.at(static_cast<std::size_t>(o->label)));
            answers.push_back(quantise_box({o->box.x1, o->box.y1, o->box.x2, o->box.y2}, S, H, lo.bins));
          }
          if (idx.empty()) throw core::InputError("config data.train: a batch of scenes without a visible object");
          auto rows = localisation_rows(vlm->vocabulary(), tok, names, answers, step < name_steps);
          if (!world.distributed())
            return localisation_loss(vlm, *adapter, train.images.index_select(0, torch::tensor(idx, torch::kInt64)).to(device), rows);
          // Data-parallel: this rank's queries, weighted by the global batch's target count (as vlm train).
          const auto share = world.batch_share(static_cast<std::int64_t>(idx.size()));
          if (share.empty()) {  // fewer queries than ranks (scenes without a visible object): a zero loss that reaches every weight
            auto zero = torch::zeros({}, torch::TensorOptions().device(device));
            for (const auto& p : adapter->parameters()) zero = zero + 0.0 * p.sum();
            return zero;
          }
          const auto rows_n = share.end - share.begin;
          const auto images = train.images.index_select(0, torch::tensor(idx, torch::kInt64).narrow(0, share.begin, rows_n));
          const auto media = adapter->media(vlm, images.to(device)).unsqueeze(1);
          return share_of_next_token_loss(vlm->lm_logits(rows.ids.narrow(0, share.begin, rows_n).to(device), media),
                                          rows.targets.narrow(0, share.begin, rows_n).to(device), rows.targets.ne(-100).sum().item<double>(),
                                          world.size());
        },
        [&](core::TrainState& s, double loss) {
          running = s.step == 1 ? loss : 0.95 * running + 0.05 * loss;
          if (s.step % log_every == 0 || s.step == total) run.metrics().append({{"step", s.step}, {"train_loss", running}});
          return true;
        });
    r.steps = st.step;
    r.final_loss = running;
    r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    adapter->eval();
  }
  // Domain shift: real COCO photos, the classes the VLM can name (random: the same queries, so it
  // needs the VLM's vocabulary too; read here, by every rank, since pin_vlm may pretrain with all).
  const auto coco_spec = datasets::expand_data_root(cfg.get_string("data.coco"), datasets::data_root(cfg.get_string("data.root")));
  const auto coco_json = coco_spec.empty() ? std::string() : datasets::parse_spec(coco_spec).path;
#ifdef PESUITE_HAVE_OPENCV
  const bool can_decode = true;
#else
  const bool can_decode = false;  // no JPEG decoder in this build
#endif
  const bool coco_figure = !coco_spec.empty() && can_decode && fs::exists(coco_json);
  const Vlm namer = vlm || !coco_figure ? vlm : pin_vlm(cfg, runs_root);
  if (!core::dist::is_writer()) return r;  // rank 0 alone evaluates and writes (every rank holds the same adapter)
  nlohmann::ordered_json row{{"method", method}, {"trained_parameters", r.trained_parameters}};
  for (const auto& [name, data] : {std::pair<std::string, const ClipScenes*>{"test", &test}, {"heldout", &heldout}}) {
    const auto res = evaluate_localisation(method, vlm, adapter.get(), tok, *data, &train, lo, device);
    r.sets[name] = res.summary;
    row[name + ".miou"] = res.summary.miou;
    row[name + ".miou_medium"] = res.summary.miou_medium;
    row[name + ".miou_large"] = res.summary.miou_large;
    row[name + ".malformed"] = res.summary.malformed;
    row[name + ".queries"] = res.summary.n;
    std::ostringstream line;
    line << name << ": mIoU " << res.summary.miou << " (medium " << res.summary.miou_medium << ", large " << res.summary.miou_large << "), "
         << res.summary.malformed << " of " << res.summary.n << " answers malformed; first answers:";
    for (std::size_t i = 0; i < res.answers.size() && i < 3; ++i) line << " '" << res.answers[i] << "'";
    run.log(line.str(), false);
    core::write_file_atomic(run.path() + "/" + name + "-answers.tsv", localisation_answers_tsv(res));
  }
  if (!coco_spec.empty()) {
    const auto& json = coco_json;
    ClipScenes coco;
    if (coco_figure) {
      const VlmVocab names = namer->vocabulary();
      coco = coco_localisation_scenes(coco_spec, train.images.size(3), [&](const std::string& c) { return vlm_can_name(names, tok, c); });
    }
    if (coco.size() == 0) {
      run.log("data.coco: " + (!can_decode ? std::string("this build has no OpenCV to decode ") + json + "'s images"
                               : fs::exists(json) ? "no object of a class the VLM can name in " + json
                                                  : json + " is not there") +
                  "; no domain-shift figure",
              false);
    } else {
      const auto res = evaluate_localisation(method, vlm, adapter.get(), tok, coco, &train, lo, device);
      r.sets["coco"] = res.summary;
      row["coco.miou"] = res.summary.miou;
      row["coco.queries"] = res.summary.n;
      std::ostringstream line;
      line << "coco (domain shift, " << coco.size() << " images, classes the VLM can name): mIoU " << res.summary.miou << " over "
           << res.summary.n << " queries, " << res.summary.malformed << " malformed; first answers:";
      for (std::size_t i = 0; i < res.answers.size() && i < 3; ++i) line << " '" << res.answers[i] << "'";
      run.log(line.str(), false);
      core::write_file_atomic(run.path() + "/coco-answers.tsv", localisation_answers_tsv(res));
    }
  }
  run.metrics().append(row);
  if (vlm && method != "random" && core::dist::is_writer()) {
    Localiser loc;
    loc.vlm = vlm;
    loc.adapter = method == "fewshot" ? make_adapter("raw", vlm) : adapter;
    loc.method = method == "fewshot" ? "raw" : method;
    loc.bins = lo.bins;
    loc.beams = lo.beams;
    r.localiser_file = run.path() + "/localiser.safetensors";
    vlm->to(torch::kCPU);
    loc.adapter->to(torch::kCPU);
    save_localiser(r.localiser_file, loc, ao);
  }
  return r;
}

}  // namespace pesuite::vision
