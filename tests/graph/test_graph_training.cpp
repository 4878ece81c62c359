// Graph training engine: folds, metrics against hand-computed values, a tiny CSL run and its run
// folder, bitwise resume, and bad configs rejected before any training.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pesuite/graph/training.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::graph;
namespace fs = std::filesystem;

TEST(GraphFolds, StratifiedFoldsPartitionAndKeepProportions) {
  std::vector<std::int64_t> labels;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < (c == 0 ? 30 : c == 1 ? 20 : 10); ++i) labels.push_back(c);
  const auto folds = stratified_kfold(labels, 5, 7, 0.1);
  ASSERT_EQ(folds.size(), 5u);
  std::multiset<std::int64_t> all_test;
  for (const auto& f : folds) {
    std::map<std::int64_t, int> per_class;
    for (auto i : f.test) ++per_class[labels[static_cast<std::size_t>(i)]];
    EXPECT_EQ(per_class[0], 6);
    EXPECT_EQ(per_class[1], 4);
    EXPECT_EQ(per_class[2], 2);
    all_test.insert(f.test.begin(), f.test.end());
    // train, val, test partition the data.
    std::set<std::int64_t> seen;
    for (const auto* part : {&f.train, &f.val, &f.test})
      for (auto i : *part) EXPECT_TRUE(seen.insert(i).second) << "index " << i << " in two parts";
    EXPECT_EQ(seen.size(), labels.size());
    // Validation: 10 % of each class's training items.
    std::map<std::int64_t, int> val_class;
    for (auto i : f.val) ++val_class[labels[static_cast<std::size_t>(i)]];
    EXPECT_EQ(val_class[0], 2);  // 24 * 0.1 rounds to 2
    EXPECT_EQ(val_class[1], 2);  // 16 * 0.1 rounds to 2
    EXPECT_EQ(val_class[2], 1);  // 8 * 0.1 rounds to 1
  }
  // Every item is tested exactly once.
  EXPECT_EQ(all_test.size(), labels.size());
  EXPECT_EQ(std::set<std::int64_t>(all_test.begin(), all_test.end()).size(), labels.size());
  // Deterministic in the seed, different across seeds.
  EXPECT_EQ(stratified_kfold(labels, 5, 7, 0.1)[2].test, folds[2].test);
  EXPECT_NE(stratified_kfold(labels, 5, 8, 0.1)[2].test, folds[2].test);
  EXPECT_THROW(stratified_kfold(labels, 1, 0, 0.1), pesuite::core::InputError);
}

TEST(GraphFolds, RandomAndPerClassSplits) {
  const auto f = random_split(100, 0.1, 0.2, 3);
  EXPECT_EQ(f.train.size(), 70u);
  EXPECT_EQ(f.val.size(), 10u);
  EXPECT_EQ(f.test.size(), 20u);
  std::vector<std::int64_t> labels;
  for (int i = 0; i < 90; ++i) labels.push_back(i % 3);
  const auto p = per_class_split(labels, 5, 10, 20, 1);
  EXPECT_EQ(p.train.size(), 15u);
  std::map<std::int64_t, int> per;
  for (auto i : p.train) ++per[labels[static_cast<std::size_t>(i)]];
  EXPECT_EQ(per[0], 5);
  EXPECT_EQ(per[2], 5);
  EXPECT_EQ(p.val.size(), 10u);
  EXPECT_EQ(p.test.size(), 20u);
}

TEST(GraphMetrics, RocAucAgainstHandComputedValues) {
  // Positives 0.35, 0.8; negatives 0.1, 0.4: pairs won 1 + 2 of 4.
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  // Ties count one half: positive 0.5 vs negatives 0.5, 0.5 -> 1; positive 0.9 -> 2; 3 / 4.
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.5, 0.5, 0.9}, {0, 1, 0, 1}), 0.75);
  EXPECT_DOUBLE_EQ(roc_auc({0.3, 0.3, 0.3}, {0, 1, 1}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({0.9, 0.1}, {1, 0}), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.9, 0.1}, {0, 1}), 0.0);
  EXPECT_TRUE(std::isnan(roc_auc({0.1, 0.2}, {1, 1})));
}

TEST(GraphMetrics, MaeRmseAccuracyAgainstHandComputedValues) {
  EXPECT_DOUBLE_EQ(mean_absolute_error({1, 2, 3}, {2, 2, 5}), 1.0);
  EXPECT_DOUBLE_EQ(root_mean_squared_error({1, 2, 3}, {2, 2, 5}), std::sqrt(5.0 / 3.0));
  const double nan = std::nan("");
  EXPECT_DOUBLE_EQ(mean_absolute_error({1, 2, 3}, {2, nan, 5}), 1.5);  // missing targets are skipped
  EXPECT_DOUBLE_EQ(accuracy({0, 1, 2, 2}, {0, 1, 1, 2}), 0.75);
  EXPECT_TRUE(higher_is_better("accuracy"));
  EXPECT_FALSE(higher_is_better("mae"));
}

namespace {
pesuite::core::Config tiny_csl(const test::TempDir& dir, const std::string& pe = "lap:k=8") {
  pesuite::core::Config cfg = graph_training_defaults();
  cfg.apply_set("experiment=tiny-csl");
  cfg.apply_set("data.spec=csl:?seed=0&per_class=4");
  cfg.apply_set("model.pe=" + pe);
  cfg.apply_set("model.hidden=16");
  cfg.apply_set("model.layers=2");
  cfg.apply_set("model.pe_dim=8");
  cfg.apply_set("model.dropout=0.1");  // dropout draws from the checkpointed torch RNG
  cfg.apply_set("train.epochs=4");
  cfg.apply_set("train.batch_size=8");
  cfg.apply_set("train.warmup_epochs=1");
  cfg.apply_set("cv.folds=2");
  cfg.apply_set("cv.max_folds=1");
  cfg.apply_set("eval.track_test=true");
  cfg.apply_set("data.pe_cache_dir=" + dir / "cache");
  cfg.apply_set("device=cpu");
  return cfg;
}

std::string only_run(const std::string& root) {
  std::vector<std::string> runs;
  for (const auto& e : fs::directory_iterator(root + "/tiny-csl")) runs.push_back(e.path().string());
  EXPECT_EQ(runs.size(), 1u);
  return runs.empty() ? "" : runs.front();
}
}  // namespace

TEST(GraphTraining, TinyCslRunTrainsAndWritesRunFolder) {
  test::TempDir dir;
  const auto r = run_graph_training(tiny_csl(dir), dir / "runs");
  EXPECT_FALSE(r.interrupted);
  EXPECT_EQ(r.task, "graph_classification");
  EXPECT_EQ(r.metric, "accuracy");
  ASSERT_EQ(r.folds.size(), 1u);
  EXPECT_EQ(r.folds[0].epochs, 4);
  EXPECT_EQ(r.folds[0].test_curve.size(), 4u);
  const double acc = r.summary.at("accuracy").mean;
  // One fold: the summary is that fold's test accuracy, a count of right answers over the fold's
  // 20 test graphs (40 CSL graphs, 2 folds).
  EXPECT_EQ(acc, r.folds[0].test.at("accuracy"));
  EXPECT_NEAR(acc * 20, std::round(acc * 20), 1e-9) << acc;
  EXPECT_EQ(r.summary.at("accuracy").n, 1u);
  EXPECT_TRUE(r.summary.count("gin_accuracy"));
  for (const char* f : {"config.toml", "env.json", "metrics.jsonl", "metrics.csv", "log.txt", "results.json",
                        "fold0/metrics.jsonl", "ckpt/fold0/last.safetensors", "ckpt/fold0/best.safetensors"})
    EXPECT_TRUE(fs::exists(r.run_path + "/" + f)) << f;
  // A second run reads the encodings from the cache.
  const auto again = run_graph_training(tiny_csl(dir), dir / "runs2");
  EXPECT_TRUE(again.pe_from_cache);
  EXPECT_EQ(again.summary.at("accuracy").mean, acc);  // same seed, same result
  // The checkpoint evaluates to the reported test value.
  const auto ev = evaluate_graph_checkpoint(r.run_path + "/ckpt/fold0/best.safetensors");
  EXPECT_DOUBLE_EQ(ev.at("test").at("accuracy"), r.folds[0].test.at("accuracy"));
}

TEST(GraphTraining, ResumeEqualsUninterruptedRunBitwise) {
  test::TempDir dir;
  const auto full = run_graph_training(tiny_csl(dir, "rwse:steps=20"), dir / "full");
  pesuite::core::Config cut = tiny_csl(dir, "rwse:steps=20");
  cut.apply_set("train.stop_at_step=5");  // mid-epoch (steps per epoch: 2)
  const auto first = run_graph_training(cut, dir / "cut");
  EXPECT_TRUE(first.interrupted);
  const auto resumed = resume_graph_training(first.run_path, {"train.stop_at_step=0"});
  ASSERT_FALSE(resumed.interrupted);
  const auto a = core::load_safetensors(full.run_path + "/ckpt/fold0/last.safetensors");
  const auto b = core::load_safetensors(resumed.run_path + "/ckpt/fold0/last.safetensors");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    ASSERT_TRUE(b.tensors.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, b.tensors.at(name))) << name;
  }
  EXPECT_EQ(full.folds[0].test, resumed.folds[0].test);
  EXPECT_EQ(pesuite::core::read_file(full.run_path + "/fold0/metrics.jsonl"), pesuite::core::read_file(resumed.run_path + "/fold0/metrics.jsonl"));
}

// train.cuda_graphs pads every batch to a bucket shape and stages it into per-shape tensors (on a
// GPU, replayed as CUDA graphs; here the same steps run eagerly): training follows the plain run up
// to float rounding (masked batch norm sums in another order). Random graphs of the counting task,
// not CSL: CSL's nodes all look alike (4-regular, vertex-transitive), so its batch norms divide
// rounding noise by a near-zero spread and no two summation orders agree closely.
TEST(GraphTraining, PaddedStagedStepsTrainLikePlainSteps) {
  test::TempDir dir;
  auto cfg = [&](bool graphs) {
    pesuite::core::Config c = tiny_csl(dir, "rwse:steps=20");
    c.apply_set("data.spec=count:?graphs=48&nodes=8-16&p=0.3&seed=0");
    c.apply_set("cv.folds=0");  // a random train / val / test split
    c.apply_set("model.dropout=0.0");  // padded batches draw dropout masks over more rows
    // Adam moves every weight by about lr per step whatever the size of its gradient, so rounding
    // noise (e.g. the gradient of a bias in front of a batch norm, zero up to rounding) becomes
    // lr-sized differences: a small lr keeps those below the tolerance, while a wrong padding,
    // target or staging shows already in the first epoch's loss (the initial weights').
    c.apply_set("train.lr=1e-5");
    c.apply_set(std::string("train.cuda_graphs=") + (graphs ? "true" : "false"));
    c.apply_set("train.graph_node_step=16");
    return c;
  };
  const auto plain = run_graph_training(cfg(false), dir / "plain");
  const auto staged = run_graph_training(cfg(true), dir / "staged");
  auto rows = [](const std::string& run) {
    std::vector<nlohmann::json> out;
    std::istringstream in(pesuite::core::read_file(run + "/metrics.jsonl"));  // no cross-validation: no fold folders
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && nlohmann::json::parse(line).contains("train_loss")) out.push_back(nlohmann::json::parse(line));
    return out;
  };
  const auto a = rows(plain.run_path), b = rows(staged.run_path);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.size(), 4u);
  for (std::size_t i = 0; i < a.size(); ++i)
    for (const char* k : {"train_loss", "val_loss"})
      EXPECT_NEAR(b[i][k].get<double>(), a[i][k].get<double>(), 1e-5 * std::max(1.0, std::abs(a[i][k].get<double>())))
          << k << " at epoch " << i + 1;
}

TEST(GraphTraining, BadConfigsFailBeforeTraining) {
  test::TempDir dir;
  auto expect_error = [&](const std::vector<std::string>& sets, const std::string& needle) {
    pesuite::core::Config cfg = tiny_csl(dir);
    try {
      for (const auto& s : sets) cfg.apply_set(s);
      run_graph_training(cfg, dir / "runs");
      ADD_FAILURE() << "no error for " << needle;
    } catch (const pesuite::core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir / "runs")) << "a run folder was created for " << needle;
  };
  expect_error({"model.name=gcn9"}, "config model.name: graph model 'gcn9' is unknown (valid: gine, gatedgcn, gps)");
  expect_error({"model.pe=fancy"}, "config model.pe: graph encoding 'fancy' is unknown");
  expect_error({"eval.metric=f1"}, "unknown value 'f1'");
  expect_error({"eval.metric=mae"}, "needs regression targets");
  expect_error({"eval.metric=rocauc"}, "needs 2 classes");
  expect_error({"model.pe=lap:k=4", "model.pe_in_dim=8"}, "gives only 4 columns");
  expect_error({"model.pe=lap:k=0"}, "config model.pe: graph pe 'lap': parameter 'k' must be >= 1");
  expect_error({"data.spec=regular:?nodes=10&degree=2"}, "has no labels or targets");
  expect_error({"model.pool=none"}, "does not fit task");
  expect_error({"train.graph_node_step=0"}, "train.graph_node_step must be >= 1");
  expect_error({"data.spec=tu:/nonexistent/MUTAG.zip"}, "/nonexistent/MUTAG.zip");
}
