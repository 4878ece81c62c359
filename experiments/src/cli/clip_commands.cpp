// `pesuite clip train|eval|zeroshot|textspan|segment`.
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/core/error.h"
#include "pesuite/core/runtime.h"
#include "pesuite/datasets/spec.h"
#include "pesuite/vision/clip_analysis.h"
#include "pesuite/vision/clip_training.h"

namespace pesuite::cli {
namespace {

namespace fs = std::filesystem;

// What every command that reads a checkpoint shares.
struct CkptOptions {
  std::string ckpt, data, device, vocab;
  std::int64_t batch = 0;
  ConfigOptions config;
};

void add_ckpt_options(CLI::App& cmd, CkptOptions& o, bool data_required) {
  cmd.add_option("--ckpt", o.ckpt, "A checkpoint of clip train (run/ckpt/last.safetensors), or a CLIP file (save_clip / "
                                   "scripts/convert/clip_to_safetensors.py)")
      ->required();
  auto* d = cmd.add_option("--data", o.data, "Scenes to evaluate on (scenes:?...; default: the config's data.test)");
  if (data_required) d->required();
  cmd.add_option("--device", o.device, "cpu | cuda | auto (default: the config's)");
  cmd.add_option("--vocab", o.vocab, "CLIP's BPE merges file (default: the config's data.vocab)");
  cmd.add_option("--batch", o.batch, "Images per batch (default: the config's eval.batch_size)");
  add_config_options(cmd, o.config);
}

struct Loaded {
  vision::LoadedClip clip;
  core::Config cfg;
  torch::Device device{torch::kCPU};
  std::int64_t batch = 0;
};

Loaded load(const CkptOptions& o) {
  Loaded l;
  // The device first (from the checkpoint's config unless given), then the model on it.
  l.clip = vision::load_clip_checkpoint(o.ckpt, torch::kCPU);
  l.cfg = l.clip.config;
  if (!o.config.config_file.empty()) l.cfg.merge_file(o.config.config_file);
  for (const auto& s : o.config.sets) l.cfg.apply_set(s);
  if (!o.vocab.empty()) l.cfg.apply_set("data.vocab=\"" + o.vocab + "\"");
  l.device = core::parse_device(o.device.empty() ? l.cfg.get_string("device") : o.device);
  l.clip.model->to(l.device);
  l.batch = o.batch > 0 ? o.batch : std::max<std::int64_t>(1, l.cfg.get_int("eval.batch_size"));
  return l;
}

std::string data_spec(const CkptOptions& o, const core::Config& cfg) {
  if (!o.data.empty()) return o.data;
  return vision::clip_zero_shot_specs(cfg).front().second;  // data.test
}

std::string pct(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << 100 * v << " %";
  return s.str();
}

void print_zero_shot(const std::string& what, const vision::ZeroShotResult& z) {
  std::cout << "zero-shot accuracy on " << what << ": " << pct(z.accuracy) << " (" << z.images << " scenes, " << z.classes
            << " classes; chance " << pct(z.chance) << ")\n";
}

nlohmann::ordered_json zero_shot_json(const vision::ZeroShotResult& z) {
  return {{"accuracy", z.accuracy}, {"images", z.images}, {"classes", z.classes}, {"chance", z.chance}};
}

// One function per subcommand of `pesuite clip`.
void add_clip_train(CLI::App* clip) {
  auto* train = clip->add_subcommand("train", "Train a CLIP on scene captions from a config (experiments/configs/vision/clip*.toml)");
  static ConfigOptions config;
  static std::string runs = "runs", resume;
  static bool json = false;
  add_config_options(*train, config);
  train->add_option("--runs", runs, "Folder of run folders")->capture_default_str();
  train->add_option("--resume", resume, "Continue a run from its last checkpoint: a run folder or a checkpoint in one");
  train->add_flag("--json", json, "Print the result as JSON");
  train->callback([]() {
    core::Config cfg = resume.empty() ? vision::clip_training_defaults() : vision::clip_resume_config(resume);
    if (!config.config_file.empty()) cfg.merge_file(config.config_file);
    for (const auto& s : config.sets) cfg.apply_set(s);
    const auto r = vision::run_clip_training(cfg, runs, resume);
    nlohmann::ordered_json out{{"run", r.run_path}, {"checkpoint", r.checkpoint}, {"finished", r.finished}, {"steps", r.steps},
                               {"total_steps", r.total_steps}, {"train_seconds", r.train_seconds}, {"final_loss", r.final_loss},
                               {"logit_scale", r.logit_scale}};
    for (const auto& [split, z] : r.zero_shot) out["zero_shot_" + split] = zero_shot_json(z);
    for (const auto& [k, v] : r.metrics) out[k] = v;
    if (json) {
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::cout << "run " << r.run_path << "\n";
    if (!r.finished) {
      std::cout << "stopped at step " << r.steps << " of " << r.total_steps << "; continue with: pesuite clip train --resume " << r.run_path << "\n";
      return;
    }
    std::cout << "trained " << r.steps << " steps in " << std::fixed << std::setprecision(1) << r.train_seconds << " s, final loss "
              << std::setprecision(4) << r.final_loss << ", logit scale exp(" << r.logit_scale << ")\n";
    for (const auto& [split, z] : r.zero_shot) print_zero_shot(split == "test" ? "test scenes (seen classes, unseen drawings)" : "held-out classes", z);
    for (const auto& [k, v] : r.metrics) std::cout << k << " " << v << "\n";
  });
}

void add_clip_eval(CLI::App* clip) {
  auto* eval = clip->add_subcommand("eval", "Zero-shot accuracy of a checkpoint on its config's test scenes and held-out classes");
  static CkptOptions eval_o;
  static bool eval_json = false;
  add_ckpt_options(*eval, eval_o, false);
  eval->add_flag("--json", eval_json, "Print the result as JSON");
  eval->callback([]() {
    auto l = load(eval_o);
    const auto tok = vision::clip_tokenizer(l.cfg);
    const auto templates = l.cfg.get_strings("eval.templates");
    const bool bf16 = vision::clip_use_bf16(l.cfg, l.device);
    nlohmann::ordered_json out{{"checkpoint", eval_o.ckpt}};
    // --data: those scenes alone; else every zero-shot set of the config (test, heldout, seen).
    std::vector<std::pair<std::string, std::string>> sets = {{"test", data_spec(eval_o, l.cfg)}};
    if (eval_o.data.empty()) sets = vision::clip_zero_shot_specs(l.cfg);
    for (const auto& [name, spec] : sets) {
      const auto data = vision::load_clip_scenes(spec);
      const auto z = vision::zero_shot_eval(l.clip.model, tok, data, templates, l.batch, l.device, bf16);
      out[name] = zero_shot_json(z);
      out[name]["data"] = spec;
      if (!eval_json) print_zero_shot(name + " (" + spec + ")", z);
    }
    if (eval_json) std::cout << out.dump(2) << "\n";
  });
}

void add_clip_zeroshot(CLI::App* clip) {
  auto* zs = clip->add_subcommand("zeroshot", "Zero-shot classification of any scenes spec over its classes, with per-class accuracy");
  static CkptOptions zs_o;
  static std::string zs_templates;
  static bool zs_json = false;
  add_ckpt_options(*zs, zs_o, true);
  zs->add_option("--templates", zs_templates, "Prompt templates, one per line with {} for the class (default: the config's eval.templates)");
  zs->add_flag("--json", zs_json, "Print the result as JSON");
  zs->callback([]() {
    auto l = load(zs_o);
    const auto tok = vision::clip_tokenizer(l.cfg);
    std::vector<std::string> templates = l.cfg.get_strings("eval.templates");
    if (!zs_templates.empty()) {
      templates.clear();
      for (const auto& p : vision::read_text_pool(zs_templates)) templates.push_back(p.text);
    }
    const auto data = vision::load_clip_scenes(zs_o.data);
    const auto z = vision::zero_shot_eval(l.clip.model, tok, data, templates, l.batch, l.device, vision::clip_use_bf16(l.cfg, l.device));
    nlohmann::ordered_json out = zero_shot_json(z);
    out["data"] = zs_o.data;
    nlohmann::ordered_json per_class;
    for (std::size_t c = 0; c < data.classes.size(); ++c)
      if (z.per_class_total[c]) per_class[data.classes[c]] = static_cast<double>(z.per_class_correct[c]) / static_cast<double>(z.per_class_total[c]);
    out["per_class"] = per_class;
    if (zs_json) {
      std::cout << out.dump(2) << "\n";
      return;
    }
    print_zero_shot(zs_o.data, z);
    for (const auto& [name, v] : per_class.items()) std::cout << "  " << name << ": " << pct(v.get<double>()) << "\n";
  });
}

void add_clip_textspan(CLI::App* clip) {
  auto* ts = clip->add_subcommand("textspan", "TextSpan: per head of the chosen layers, the texts that span its direct contribution");
  static CkptOptions ts_o;
  static std::string ts_texts, ts_layers = "-4:", ts_out;
  static std::int64_t ts_iterations = 20, ts_rank = 80;
  add_ckpt_options(*ts, ts_o, false);
  ts->add_option("--texts", ts_texts, "Text pool, one text per line (optionally text<TAB>category); default: the scenes' caption vocabulary");
  ts->add_option("--layers", ts_layers, "Layers: -4: (the last four), 0:3, 2, 1,5")->capture_default_str();
  ts->add_option("--iterations", ts_iterations, "Texts per head")->capture_default_str();
  ts->add_option("--rank", ts_rank, "Right-singular directions of the head outputs kept")->capture_default_str();
  ts->add_option("--out", ts_out, "Output folder (layer<l>_head<h>.tsv, textspan.md)")->required();
  ts->callback([]() {
    auto l = load(ts_o);
    const auto tok = vision::clip_tokenizer(l.cfg);
    const auto data = vision::load_clip_scenes(data_spec(ts_o, l.cfg));
    std::vector<vision::PoolText> pool;
    if (ts_texts.empty()) {
      auto names = data.classes;
      names.insert(names.end(), data.heldout.begin(), data.heldout.end());
      pool = vision::scene_text_pool(names);
    } else {
      pool = vision::read_text_pool(ts_texts);
    }
    const auto layers = vision::parse_layer_range(ts_layers, l.clip.model->options.vision_layers());
    const auto spans = vision::clip_text_span(l.clip.model, tok, pool, data.images, layers,
                                              heads::TextSpanOptions().rank(ts_rank).iterations(ts_iterations), l.batch, l.device);
    const auto files = vision::write_text_span(spans, ts_out);
    for (const auto& s : spans) {
      std::cout << "layer " << s.layer << " head " << s.head << " (" << (s.category.empty() ? "-" : s.category) << ", "
                << std::fixed << std::setprecision(3) << s.total_explained << " of the variance):";
      for (std::size_t k = 0; k < s.texts.size() && k < 3; ++k) std::cout << (k ? "; " : " ") << s.texts[k];
      std::cout << "\n";
    }
    std::cout << "wrote " << files.size() << " files to " << ts_out << "\n";
  });
}

void add_clip_segment(CLI::App* clip) {
  auto* seg = clip->add_subcommand("segment", "Zero-shot segmentation against the scenes' or COCO's masks, with attention rollout and a uniform map");
  static CkptOptions seg_o;
  static std::string seg_layers, seg_out;
  static std::int64_t seg_pngs = 16;
  static std::string seg_coco_samples = "category";
  static bool seg_json = false;
  add_ckpt_options(*seg, seg_o, false);
  seg->get_option("--data")->description("Scenes (scenes:?...; default: the config's data.test) or COCO instances (coco:<annotations.json>?...)");
  seg->add_option("--layers", seg_layers, "Attention layers summed into the maps (-4:, 0:3, ...; default: all)");
  seg->add_option("--out", seg_out, "Folder for the heatmap PNGs (image | mask | decomposition | rollout)")->required();
  seg->add_option("--pngs", seg_pngs, "How many samples (scenes; COCO: image and category) get a PNG")->capture_default_str();
  seg->add_option("--coco-samples", seg_coco_samples,
                  "COCO: category = one sample per (image, category present), its map against its instances; predicted = one per "
                  "image, the zero-shot class's map against all its instances (the paper's protocol)")
      ->check(CLI::IsMember({"category", "predicted"}))
      ->capture_default_str();
  seg->add_flag("--json", seg_json, "Print the result as JSON");
  seg->callback([]() {
    auto l = load(seg_o);
    const auto tok = vision::clip_tokenizer(l.cfg);
    const auto spec = data_spec(seg_o, l.cfg);
    const bool coco = datasets::parse_spec(spec).format == "coco";
    // COCO: the images at the model's size, samples as --coco-samples says; scenes: one per scene.
    const auto per = seg_coco_samples == "predicted" ? vision::CocoSamples::predicted_class : vision::CocoSamples::per_category;
    const auto data = coco ? vision::load_coco_segmentation(spec, l.clip.model->options.image_size(), per)
                           : vision::scene_segmentation_samples(vision::load_clip_scenes(spec));
    const auto weights = vision::zero_shot_weights(l.clip.model, tok, data.classes, l.cfg.get_strings("eval.templates"));
    std::vector<std::int64_t> layers;
    if (!seg_layers.empty()) layers = vision::parse_layer_range(seg_layers, l.clip.model->options.vision_layers());
    const auto r = vision::clip_segmentation(l.clip.model, weights, data, layers, std::min<std::int64_t>(l.batch, 64), l.device, seg_out, seg_pngs);
    nlohmann::ordered_json out{{"data", spec}, {"images", r.images}, {"samples", r.samples}};
    for (const auto& [name, s] : {std::pair<const char*, vision::SegmentationScores>{"decomposition", r.decomposition},
                                  {"rollout", r.rollout}, {"uniform", r.uniform}}) {
      out[name] = {{"pixel_accuracy", s.pixel_accuracy}, {"mean_iou", s.mean_iou}, {"mean_ap", s.mean_ap}};
      if (!seg_json)
        std::cout << std::left << std::setw(14) << name << " pixel acc " << pct(s.pixel_accuracy) << "  mIoU " << pct(s.mean_iou) << "  mAP "
                  << pct(s.mean_ap) << "\n";
    }
    if (seg_json) std::cout << out.dump(2) << "\n";
    else if (coco) std::cout << r.images << " images, " << r.samples << (per == vision::CocoSamples::per_category ? " (image, category)" : " image") << " masks; wrote " << r.pngs.size() << " PNGs to " << seg_out << "\n";
    else std::cout << r.images << " scenes; wrote " << r.pngs.size() << " PNGs to " << seg_out << "\n";
  });
}

}  // namespace

void add_clip_commands(CLI::App& app) {
  auto* clip = app.add_subcommand("clip", "CLIP on captioned scenes: train, zero-shot evaluation, TextSpan, zero-shot segmentation");
  clip->require_subcommand(1);
  add_clip_train(clip);
  add_clip_eval(clip);
  add_clip_zeroshot(clip);
  add_clip_textspan(clip);
  add_clip_segment(clip);
}

}  // namespace pesuite::cli
