#pragma once
// The pipelines a table row (or `pesuite <frontend> train`) runs, one row each: what its configs
// look like (defaults), which dataset specs a config names (so a table can mark rows whose data is
// absent), how a config splits into units (cross-validation folds), how one unit trains and tests,
// and what is computed across a seed's folds. Every pipeline reports its results as named metrics,
// one value per fold (a table's columns pick them by name).
//
//   const Pipeline& p = pipeline("graph");
//   core::Config cfg = p.defaults();  cfg.merge_file("experiments/configs/graph/csl-gine+lap.toml");
//   UnitResult u = p.run(cfg, "runs");     // u.metrics["accuracy"], u.metrics["unit_wall_s"], ...
//
// Metrics by pipeline:
//   graph                 every test metric of the run (accuracy, rocauc, mae, rmse, mae.<target>, ...),
//                         test_curve (eval.track_test), unit_wall_s; across folds: wall_s (their sum) and
//                         gin_<metric> (GIN's protocol, when every fold tracked its test curve)
//   image-classification  acc@<size> (top-1, or mAP for multi-label data), top5@<size>, loss@<size>,
//                         train_s, images_per_s
//   headpose              per test set <name>: <name>.mae (mean of yaw / pitch / roll MAE, degrees), <name>.yaw,
//                         <name>.pitch, <name>.roll, <name>.geodesic, <name>.baseline_mae (predicting the
//                         training mean), <name>.n; train_s, images_per_s, labelled
//   clip                  zs_acc, zs_chance (test scenes), zs_heldout_acc, zs_heldout_chance (held-out classes),
//                         train_s, final_loss, logit_scale, and the analyses' metrics (vision/clip_analysis.h:
//                         zs_acc_f32, abl.<row>, drop.<row>, ts.*, seg.*, rollout.*, uniform.*)
//   vlm                   token_acc, perplexity, shuffled_token_acc (held-out scenes; the image of another scene),
//                         params, train_s, final_loss
//   pin                   per split (test: training classes, heldout: held-out classes): <split>.miou,
//                         <split>.miou_medium, <split>.miou_large, <split>.malformed (share of answers that are
//                         not a box), <split>.queries; params (trained), train_s
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pesuite/core/config.h"

namespace pesuite::experiments {

struct UnitResult {
  std::map<std::string, std::vector<double>> metrics;
  std::map<std::string, std::string> notes;
};

struct Pipeline {
  std::string name;
  std::string help;
  std::function<core::Config()> defaults;
  std::function<std::vector<std::string>(const core::Config&)> dataset_specs;  // ${data} expanded
  std::function<int(const core::Config&)> folds;                                // units per row and seed
  std::function<void(core::Config&, int fold)> select_fold;                     // a unit's config
  std::function<UnitResult(const core::Config&, const std::string& runs_dir)> run;
  // Metrics computed from a seed's units (those run so far; `folds` = how many it has in all).
  // Empty function: none.
  std::function<std::map<std::string, std::vector<double>>(const std::vector<UnitResult>& units, int folds)> across_folds;
};

const std::vector<Pipeline>& pipelines();
const Pipeline& pipeline(const std::string& name);  // InputError listing the valid names

}  // namespace pesuite::experiments
