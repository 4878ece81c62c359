#pragma once
// Train and evaluate a GNN / graph transformer from a config (the engine behind `pesuite graph
// train|eval` and the graph tables): a dataset from its spec, positional encodings precomputed
// once for the whole dataset through the on-disk PE cache and gathered per batch by node rows,
// a GraphModel (gnn.h) with any encoder, AdamW with warm-up + cosine or reduce-on-plateau, early
// stopping on validation, checkpoints and bitwise resume through the shared Trainer.
//
// Splits (cv.folds):
//   k >= 2  stratified k-fold cross-validation (TU, CSL): graphs of each class are shuffled
//           (cv.seed) and dealt round-robin into k folds; fold i is the test set of run i
//           (seeded by seed and i alone, so cv.only_fold = i runs exactly that fold). The
//           validation set is carved from the k-1 training folds (cv.val_fraction, stratified);
//           the test value of the epoch with the best validation value is reported. With
//           eval.track_test the test curve is recorded too and GIN's protocol (Xu et al. 2019:
//           the single epoch with the best test accuracy averaged over the folds) is reported
//           beside it ("gin_" metrics), for comparison with published TU numbers.
//   0       the dataset's own split (OGB scaffold: train/valid/test); generated datasets without
//           one get a seeded random split (split.val_fraction / split.test_fraction); node
//           classification (Cora) draws Planetoid-style masks: split.per_class training nodes per
//           class, split.val_nodes validation and split.test_nodes test nodes (seeded).
// Metrics: accuracy, rocauc (binary; exact, ranks with ties averaged), mae, rmse (+ per-target
// "mae.<name>" / "rmse.<name>" for multi-target regression), in the data's original units.
//
//   auto cfg = graph_training_defaults();
//   cfg.merge_file("experiments/configs/graph/csl-gine+lap.toml");
//   cfg.apply_set("train.epochs=50");
//   GraphTrainResult r = run_graph_training(cfg, "runs");
//   r.summary.at("accuracy").mean;     // over folds
//
// This header is torch-free on purpose: tables include it without the torch headers.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/core/results_table.h"

namespace pesuite::graph {

core::Config graph_training_defaults();

// ---- folds --------------------------------------------------------------------------------------
struct Fold {
  std::vector<std::int64_t> train, val, test;  // indices into the dataset (graphs or nodes)
};
// Stratified k-fold over `labels` (one per item): each test fold holds floor or ceil of 1/k of
// every class; val_fraction of each class's remaining items (stratified, at least one per class
// when the class has >= 2 training items and val_fraction > 0) is moved to validation.
std::vector<Fold> stratified_kfold(const std::vector<std::int64_t>& labels, int k, std::uint64_t seed,
                                   double val_fraction);
// A seeded random train/val/test split of n items.
Fold random_split(std::int64_t n, double val_fraction, double test_fraction, std::uint64_t seed);
// Planetoid-style node split: per_class training nodes of each class, then val and test nodes
// drawn from the rest (seeded).
Fold per_class_split(const std::vector<std::int64_t>& labels, std::int64_t per_class, std::int64_t val,
                     std::int64_t test, std::uint64_t seed);

// ---- metrics ------------------------------------------------------------------------------------
double accuracy(const std::vector<std::int64_t>& predicted, const std::vector<std::int64_t>& labels);
// Exact ROC-AUC of scores for the positive class (label 1): the Mann-Whitney U statistic with
// tied scores given their average rank. NaN when only one class is present.
double roc_auc(const std::vector<double>& scores, const std::vector<std::int64_t>& labels);
// Over pairs whose target is finite (OGB writes missing labels as NaN).
double mean_absolute_error(const std::vector<double>& predicted, const std::vector<double>& targets);
double root_mean_squared_error(const std::vector<double>& predicted, const std::vector<double>& targets);
// GIN's protocol (Xu et al. 2019): the evaluation epoch whose test value, averaged over the folds,
// is best; returns every fold's value at that epoch (a fold that stopped early keeps its last value).
std::vector<double> gin_protocol(const std::vector<std::vector<double>>& fold_test_curves, const std::string& metric);
// Whether larger is better for a metric name ("accuracy", "rocauc": yes; "mae", "rmse", "loss": no).
bool higher_is_better(const std::string& metric);

// ---- runs ---------------------------------------------------------------------------------------
struct GraphFoldResult {
  int fold = 0;
  std::map<std::string, double> test;  // metric -> value on the test split (selected weights)
  std::map<std::string, double> val;   // the same on validation
  std::vector<double> test_curve;      // eval.track_test: the main metric per evaluated epoch
  std::int64_t epochs = 0;             // epochs trained (early stopping may end sooner)
  std::int64_t best_epoch = 0;
  double seconds = 0;                  // wall time of this fold (training + evaluation)
};

struct GraphTrainResult {
  std::string run_path;
  std::string metric;                   // the main metric (eval.metric resolved)
  std::string task;                     // graph_classification | graph_regression | node_classification
  std::vector<GraphFoldResult> folds;
  std::map<std::string, core::Summary> summary;  // test metric -> mean ± std over folds (+ "gin_<metric>")
  std::map<std::string, std::vector<double>> values;  // the same metrics, one value per fold
  double seconds = 0;                   // wall time of the whole run (this process)
  double pe_seconds = 0;                // encodings (0 when read from the cache)
  bool pe_from_cache = false;
  bool interrupted = false;             // train.stop_at_step ended it before the last step
};

// Checks the whole config (dataset, task labels, model, encoder, encoding width, metric) before
// any training starts; InputError naming the key otherwise.
GraphTrainResult run_graph_training(const core::Config& config, const std::string& runs_root);
// Continues the run folder `run_path` (its config.toml, plus `sets` overrides): finished folds are
// kept, the unfinished one resumes from its last checkpoint, bitwise as if never stopped (CPU).
GraphTrainResult resume_graph_training(const std::string& run_path, const std::vector<std::string>& sets = {});

// Evaluates a checkpoint (ckpt/[foldK/]best|last.safetensors) on its fold's splits. The config is
// the run folder's unless `config` is given. Returns split -> metric -> value.
std::map<std::string, std::map<std::string, double>> evaluate_graph_checkpoint(const std::string& ckpt_path,
                                                                               const core::Config* config = nullptr);


}  // namespace pesuite::graph
