// The pipeline registry (pipelines.h): one row per frontend pipeline, each a thin adapter from a
// config to the frontend's own training entry point and back to named metrics.
#include "pesuite/experiments/pipelines.h"

#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "pesuite/core/error.h"
#include "pesuite/core/registry.h"
#include "pesuite/graph/training.h"
#include "pesuite/graph/training_data.h"
#include "pesuite/vision/classifier_training.h"
#include "pesuite/vision/head_pose_training.h"
#include "pesuite/vision/clip_training.h"
#include "pesuite/vision/pin_training.h"
#include "pesuite/vision/vlm_training.h"
#include "text_format.h"

namespace pesuite::experiments {
namespace {

// ---- graph ------------------------------------------------------------------------------------

int graph_folds(const core::Config& cfg) {
  const auto k = cfg.get_int("cv.folds");
  if (k < 2) return 1;
  const auto max_folds = cfg.get_int("cv.max_folds");
  return static_cast<int>(max_folds > 0 && max_folds < k ? max_folds : k);
}

UnitResult run_graph(const core::Config& cfg, const std::string& runs_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  const graph::GraphTrainResult res = graph::run_graph_training(cfg, runs_dir);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  UnitResult u;
  for (const auto& [metric, values] : res.values)
    if (metric.rfind("gin_", 0) != 0) u.metrics[metric] = values;  // GIN's protocol needs every fold: across_folds
  u.metrics["unit_wall_s"] = {wall};
  if (res.folds.size() == 1 && !res.folds[0].test_curve.empty()) u.metrics["test_curve"] = res.folds[0].test_curve;
  u.notes["metric"] = res.metric;
  u.notes["run"] = res.run_path;
  return u;
}

std::map<std::string, std::vector<double>> graph_across_folds(const std::vector<UnitResult>& units, int folds) {
  std::map<std::string, std::vector<double>> out;
  double wall = 0;
  std::vector<std::vector<double>> curves;
  for (const auto& u : units) {
    wall += u.metrics.at("unit_wall_s").at(0);
    if (auto it = u.metrics.find("test_curve"); it != u.metrics.end()) curves.push_back(it->second);
  }
  if (!units.empty()) out["wall_s"] = {wall};
  // GIN's protocol: the evaluation epoch whose test value, averaged over all folds, is best.
  if (static_cast<int>(units.size()) == folds && static_cast<int>(curves.size()) == folds) {
    const std::string metric = units.front().notes.at("metric");
    out["gin_" + metric] = graph::gin_protocol(curves, metric);
  }
  return out;
}

// ---- image classification ---------------------------------------------------------------------

UnitResult run_image_classification(const core::Config& cfg, const std::string& runs_dir) {
  const auto result = vision::run_image_classification(cfg, runs_dir);
  UnitResult u;
  for (const auto& [size, value] : result.accuracy_at_size) u.metrics["acc@" + std::to_string(size)] = {value};
  for (const auto& [size, m] : result.metrics_at_size) {
    if (result.metric == "mAP") u.metrics["map@" + std::to_string(size)] = {m.map};  // also acc@ (the data's metric)
    else u.metrics["top5@" + std::to_string(size)] = {m.top5};                        // undefined for multi-label data
    u.metrics["loss@" + std::to_string(size)] = {m.loss};
  }
  u.metrics["train_s"] = {result.train_seconds};
  u.metrics["images_per_s"] = {result.train_images_per_second};
  u.notes["images/s"] = std::to_string(static_cast<int>(result.train_images_per_second));
  u.notes["metric"] = result.metric;
  u.notes["run"] = result.run_path;
  return u;
}

// ---- head pose ----------------------------------------------------------------------------------

UnitResult run_head_pose(const core::Config& cfg, const std::string& runs_dir) {
  const auto r = vision::run_head_pose(cfg, runs_dir);
  UnitResult u;
  for (const auto& [name, m] : r.sets) {
    u.metrics[name + ".mae"] = {m.mae};
    u.metrics[name + ".yaw"] = {m.yaw};
    u.metrics[name + ".pitch"] = {m.pitch};
    u.metrics[name + ".roll"] = {m.roll};
    u.metrics[name + ".geodesic"] = {m.geodesic};
    u.metrics[name + ".baseline_mae"] = {m.baseline_mae};
    u.metrics[name + ".n"] = {static_cast<double>(m.n)};
  }
  u.metrics["train_s"] = {r.train_seconds};
  u.metrics["images_per_s"] = {r.train_images_per_second};
  u.metrics["view_s"] = {r.view_seconds};  // of train_s, building the views on the CPU
  u.metrics["labelled"] = {static_cast<double>(r.labelled)};
  u.notes["images/s"] = std::to_string(static_cast<int>(r.train_images_per_second));
  u.notes["run"] = r.run_path;
  return u;
}

// ---- CLIP on scenes --------------------------------------------------------------------------------

UnitResult run_clip(const core::Config& cfg, const std::string& runs_dir) {
  const auto r = vision::run_clip_training(cfg, runs_dir);
  UnitResult u;
  for (const auto& [split, z] : r.zero_shot) {
    const std::string key = split == "test" ? "zs_acc" : "zs_" + split + "_acc";
    u.metrics[key] = {z.accuracy};
    u.metrics[split == "test" ? "zs_chance" : "zs_" + split + "_chance"] = {z.chance};
  }
  for (const auto& [k, v] : r.metrics) u.metrics[k] = {v};
  u.metrics["train_s"] = {r.train_seconds};
  u.metrics["final_loss"] = {r.final_loss};
  u.metrics["logit_scale"] = {r.logit_scale};
  u.notes["run"] = r.run_path;
  return u;
}

// ---- captioning VLM, PIN ----------------------------------------------------------------------------

UnitResult run_vlm_unit(const core::Config& cfg, const std::string& runs_dir) {
  const auto r = vision::run_vlm_training(cfg, runs_dir);
  UnitResult u;
  u.metrics["token_acc"] = {r.test.token_accuracy};
  u.metrics["perplexity"] = {r.test.perplexity};
  u.metrics["shuffled_token_acc"] = {r.test.shuffled_token_accuracy};
  u.metrics["params"] = {static_cast<double>(r.parameters)};
  u.metrics["train_s"] = {r.train_seconds};
  u.metrics["final_loss"] = {r.final_loss};
  u.notes["run"] = r.run_path;
  return u;
}

UnitResult run_pin_unit(const core::Config& cfg, const std::string& runs_dir) {
  const auto r = vision::run_pin(cfg, runs_dir);
  UnitResult u;
  for (const auto& [split, s] : r.sets) {
    u.metrics[split + ".miou"] = {s.miou};
    u.metrics[split + ".miou_medium"] = {s.miou_medium};
    u.metrics[split + ".miou_large"] = {s.miou_large};
    u.metrics[split + ".malformed"] = {s.n ? static_cast<double>(s.malformed) / static_cast<double>(s.n) : 0.0};
    u.metrics[split + ".queries"] = {static_cast<double>(s.n)};
  }
  u.metrics["params"] = {static_cast<double>(r.trained_parameters)};
  u.metrics["train_s"] = {r.train_seconds};
  u.notes["method"] = r.method;
  u.notes["run"] = r.run_path;
  return u;
}

}  // namespace

const std::vector<Pipeline>& pipelines() {
  static const std::vector<Pipeline> rows = {
      {"graph", "GNN / graph transformer training with any graph encoding (pesuite graph train)",
       graph::graph_training_defaults, graph::graph_dataset_specs, graph_folds,
       [](core::Config& cfg, int fold) {
         if (graph_folds(cfg) > 1) cfg.apply_set("cv.only_fold=" + std::to_string(fold));
       },
       run_graph, graph_across_folds},
      {"image-classification", "ViT classifier training, tested at several input sizes (pesuite vision train)",
       vision::image_classification_defaults, vision::classification_dataset_specs, [](const core::Config&) { return 1; },
       [](core::Config&, int) {}, run_image_classification, {}},
      {"headpose", "head-pose estimation (Hopenet / 6D / full-range heads, semi-supervised option) (pesuite vision train, task = \"headpose\")",
       vision::head_pose_defaults, vision::head_pose_dataset_specs, [](const core::Config&) { return 1; }, [](core::Config&, int) {},
       run_head_pose, {}},
      {"clip", "CLIP trained contrastively on scene captions, zero-shot evaluation and the decomposition analyses (pesuite clip train)",
       vision::clip_training_defaults, vision::clip_dataset_specs, [](const core::Config&) { return 1; }, [](core::Config&, int) {},
       run_clip, {}},
      {"vlm", "captioning VLM (OpenFlamingo design) pretrained on scene captions; token accuracy / perplexity on held-out scenes (pesuite vlm train)",
       vision::vlm_training_defaults, vision::vlm_dataset_specs, [](const core::Config&) { return 1; }, [](core::Config&, int) {}, run_vlm_unit, {}},
      {"pin", "object localisation on a frozen VLM: PIN, VPT, LoRA, raw / few-shot prompting, random box; mIoU (pesuite vlm pin)",
       vision::pin_defaults, vision::pin_dataset_specs, [](const core::Config&) { return 1; }, [](core::Config&, int) {}, run_pin_unit, {}},
  };
  return rows;
}

const Pipeline& pipeline(const std::string& name) { return core::find_row(pipelines(), name, "pipeline"); }

}  // namespace pesuite::experiments
