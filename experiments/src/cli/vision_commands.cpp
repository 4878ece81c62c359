// `pesuite vision train|eval|attention`.
#include <cmath>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/core/error.h"
#include "pesuite/core/runtime.h"
#include "pesuite/vision/attention_report.h"
#include "pesuite/vision/classifier_training.h"
#include "pesuite/vision/head_pose_training.h"

namespace pesuite::cli {
namespace {

namespace fs = std::filesystem;
using core::Config;

std::vector<std::int64_t> parse_sizes(const std::string& text) {
  std::vector<std::int64_t> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto comma = text.find(',', pos);
    const auto item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    try {
      std::size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v <= 0) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw core::InputError("--sizes " + text + ": '" + item + "' is not a positive integer");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

nlohmann::ordered_json metrics_json(const std::map<std::int64_t, vision::SizeMetrics>& m, const std::string& metric,
                                    const std::vector<std::string>& class_names = {}) {
  nlohmann::ordered_json out;
  for (const auto& [size, s] : m) {
    const auto k = std::to_string(size);
    if (metric == "mAP") {
      out["test_map@" + k] = s.map;
      nlohmann::ordered_json per_class;  // NaN (no positive in the test set) becomes null
      for (std::size_t c = 0; c < s.per_class_ap.size(); ++c)
        per_class[c < class_names.size() ? class_names[c] : std::to_string(c)] =
            std::isfinite(s.per_class_ap[c]) ? nlohmann::ordered_json(s.per_class_ap[c]) : nlohmann::ordered_json();
      if (!s.per_class_ap.empty()) out["test_ap@" + k] = per_class;
    } else {
      out["test_acc@" + k] = s.top1;
      out["test_top5@" + k] = s.top5;
    }
    out["test_loss@" + k] = s.loss;
  }
  return out;
}

void print_metrics(const std::map<std::int64_t, vision::SizeMetrics>& m, const std::string& metric) {
  for (const auto& [size, s] : m) {
    if (metric == "mAP") std::cout << "test mAP at " << size << " px: " << 100 * s.map << " %\n";
    else std::cout << "test accuracy at " << size << " px: top-1 " << 100 * s.top1 << " %, top-5 " << 100 * s.top5 << " %\n";
  }
}

// Config for a checkpoint: what it was trained with, then --config, then --set.
core::Config config_for_checkpoint(const std::string& ckpt, const ConfigOptions& opts) {
  if (!fs::is_regular_file(ckpt)) throw core::InputError(ckpt + ": no such checkpoint file");
  core::Config cfg = vision::checkpoint_config(ckpt);
  if (!opts.config_file.empty()) cfg.merge_file(opts.config_file);
  for (const auto& s : opts.sets) cfg.apply_set(s);
  return cfg;
}

}  // namespace

void add_vision_commands(CLI::App& app) {
  auto* vision = app.add_subcommand("vision", "Image frontend: train and evaluate ViT / CPVT with any positional encoding");
  vision->require_subcommand(1);

  // ---- train ----
  auto* train = vision->add_subcommand("train", "Train an image model from a config (experiments/configs/vision/*.toml): a classifier, or head pose where the config says task = \"headpose\"");
  static ConfigOptions config;
  static std::string runs = "runs", resume;
  static bool json = false;
  add_config_options(*train, config);
  train->add_option("--runs", runs, "Folder of run folders")->capture_default_str();
  train->add_option("--resume", resume,
                    "Continue a run from its last checkpoint: a run folder or a checkpoint in one (its config.toml is used; --set still applies)");
  train->add_flag("--json", json, "Print the result as JSON");
  train->callback([]() {
    // task = "headpose" (in the config, a --set, or the resumed run's config): the head-pose pipeline.
    const bool head_pose = vision::is_head_pose_config(config.config_file, config.sets) ||
                           (!resume.empty() && vision::is_head_pose_config(vision::resolve_checkpoint(resume).first + "/config.toml", {}));
    if (head_pose) {
      core::Config cfg = resume.empty() ? vision::head_pose_defaults() : vision::head_pose_resume_config(resume);
      if (!config.config_file.empty()) cfg.merge_file(config.config_file);
      for (const auto& s : config.sets) cfg.apply_set(s);
      const auto r = vision::run_head_pose(cfg, runs, resume);
      nlohmann::ordered_json out{{"run", r.run_path}, {"checkpoint", r.checkpoint}, {"finished", r.finished}, {"steps", r.steps},
                                 {"total_steps", r.total_steps}, {"labelled", r.labelled}, {"unlabelled", r.unlabelled},
                                 {"train_seconds", r.train_seconds}, {"train_images_per_second", r.train_images_per_second},
                                 {"view_seconds", r.view_seconds}};
      if (cfg.get_bool("semi.enabled")) out["threshold"] = r.final_threshold;  // the pseudo-labels' confidence threshold
      for (const auto& [name, m] : r.sets)
        out[name] = {{"n", m.n}, {"dropped", m.dropped}, {"mae", m.mae}, {"yaw", m.yaw}, {"pitch", m.pitch}, {"roll", m.roll},
                     {"geodesic", m.geodesic}, {"baseline_mae", m.baseline_mae}};
      if (json) {
        std::cout << out.dump(2) << "\n";
        return;
      }
      std::cout << "run " << r.run_path << "\n";
      if (!r.finished)
        std::cout << "stopped at step " << r.steps << " of " << r.total_steps << "; continue with: pesuite vision train --resume " << r.run_path
                  << "\n";
      for (const auto& [name, m] : r.sets)
        std::cout << name << " (" << m.n << " faces): MAE " << m.mae << " (yaw " << m.yaw << ", pitch " << m.pitch << ", roll " << m.roll
                  << "), geodesic " << m.geodesic << ", predict-the-mean MAE " << m.baseline_mae << " degrees\n";
      return;
    }
    core::Config cfg = vision::image_classification_defaults();
    if (!resume.empty()) cfg = vision::resume_config(resume);
    if (!config.config_file.empty()) cfg.merge_file(config.config_file);
    for (const auto& s : config.sets) cfg.apply_set(s);
    const auto r = vision::run_image_classification(cfg, runs, resume);
    nlohmann::ordered_json out{{"run", r.run_path}, {"checkpoint", r.checkpoint}, {"finished", r.finished},
                               {"steps", r.steps}, {"total_steps", r.total_steps}, {"train_seconds", r.train_seconds},
                               {"train_images_per_second", r.train_images_per_second}};
    if (r.skipped_images) out["skipped_images"] = r.skipped_images;
    if (r.finished) out.update(metrics_json(r.metrics_at_size, r.metric, r.class_names));
    if (json) {
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << "run " << r.run_path << "\n";
      if (r.skipped_images) std::cout << "left out " << r.skipped_images << " bad image(s) (data.skip_bad; see log.txt)\n";
      if (!r.finished)
        std::cout << "stopped at step " << r.steps << " of " << r.total_steps << "; continue with: pesuite vision train --resume "
                  << r.run_path << "\n";
      print_metrics(r.metrics_at_size, r.metric);
    }
  });

  // ---- eval ----
  auto* eval = vision->add_subcommand("eval", "Evaluate a checkpoint at several input sizes (no fine-tuning)");
  static ConfigOptions eval_config;
  static std::string eval_ckpt, eval_sizes;
  static bool eval_json = false;
  eval->add_option("--ckpt", eval_ckpt, "Checkpoint (.safetensors) written by vision train")->required();
  add_config_options(*eval, eval_config);
  eval->add_option("--sizes", eval_sizes, "Input sizes, e.g. 28,44,56 (default: the config's eval.sizes)");
  eval->add_flag("--json", eval_json, "Print the result as JSON");
  eval->callback([]() {
    core::Config cfg = config_for_checkpoint(eval_ckpt, eval_config);
    const auto sizes = eval_sizes.empty() ? cfg.get_ints("eval.sizes") : parse_sizes(eval_sizes);
    const auto r = vision::evaluate_checkpoint(cfg, eval_ckpt, sizes);
    nlohmann::ordered_json out{{"checkpoint", r.checkpoint}, {"data", cfg.get_string("data.test")}, {"metric", r.metric}};
    out.update(metrics_json(r.metrics_at_size, r.metric, r.class_names));
    if (eval_json) std::cout << out.dump(2) << "\n";
    else print_metrics(r.metrics_at_size, r.metric);
  });

  add_vision_headpose_command(*vision);
  add_vision_pin_command(*vision);

  // ---- attention ----
  auto* attention = vision->add_subcommand(
      "attention", "Class-token attention per head for every layer, and the PE's similarity map, as PNG + safetensors");
  static ConfigOptions att_config;
  static std::string att_ckpt, att_image, att_out;
  static std::int64_t att_index = 0, att_size = 0;
  attention->add_option("--ckpt", att_ckpt, "Checkpoint (.safetensors) written by vision train")->required();
  attention->add_option("--image", att_image, "A PNG/JPEG file, or a dataset spec (with --index)")->required();
  attention->add_option("--index", att_index, "Item of the dataset spec")->capture_default_str();
  attention->add_option("--size", att_size, "Input size (default: the training size)");
  attention->add_option("--out", att_out, "Output folder")->required();
  add_config_options(*attention, att_config);
  attention->callback([]() {
    core::Config cfg = config_for_checkpoint(att_ckpt, att_config);
    const torch::Device device = core::parse_device(cfg.get_string("device"));
    vision::ViT model = vision::load_classifier(cfg, att_ckpt, device);
    std::string label;
    auto x = vision::load_input_image(att_image, att_index, cfg, model->options.in_chans(), label);
    if (x.size(1) != model->options.in_chans())
      throw core::InputError(att_image + ": " + std::to_string(x.size(1)) + "-channel image for a " +
                       std::to_string(model->options.in_chans()) + "-channel model");
    const std::int64_t size = att_size > 0 ? att_size : model->options.img_size();
    if (size % model->options.patch_size() != 0)
      throw core::InputError("--size " + std::to_string(size) + ": not a multiple of the patch size " + std::to_string(model->options.patch_size()));
    namespace F = torch::nn::functional;
    if (x.size(2) != size || x.size(3) != size)
      x = F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kBilinear).align_corners(false));
    const auto written = vision::write_attention_report(model, x, att_out, {att_ckpt, att_image, label, cfg.get_string("model.pe")});
    std::cout << "wrote " << att_out << "/attention.safetensors, summary.json";
    for (const auto& f : written) std::cout << ", " << fs::path(f).filename().string();
    std::cout << "\n";
  });
}

}  // namespace pesuite::cli
