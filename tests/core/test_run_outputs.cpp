// Run folders, metrics logs, results tables, progress lines.
#include <gtest/gtest.h>

#include <filesystem>

#include "pesuite/core/progress.h"
#include "pesuite/core/results_table.h"
#include "pesuite/core/run_dir.h"
#include "pesuite/core/run_files.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::core;
namespace fs = std::filesystem;

TEST(RunDir, LayoutAsDesigned) {
  test::TempDir dir;
  auto cfg = pesuite::core::Config::from_toml_string("[train]\nlr = 0.1\n", "defaults");
  auto run = pesuite::core::RunDir::create(dir.str(), "demo", 3, cfg, "cpu");
  EXPECT_NE(run.path().find(dir / "demo/"), std::string::npos);
  EXPECT_EQ(run.path().substr(run.path().size() - 3), "-s3");
  for (const char* f : {"config.toml", "env.json"}) EXPECT_TRUE(fs::is_regular_file(run.file(f))) << f;
  for (const char* d : {"ckpt", "plots"}) EXPECT_TRUE(fs::is_directory(run.file(d))) << d;
  auto env = nlohmann::json::parse(pesuite::core::read_file(run.file("env.json")));
  EXPECT_EQ(env["device"], "cpu");
  EXPECT_TRUE(env.contains("git_sha"));
  EXPECT_TRUE(env.contains("torch"));
  run.log("hello", false);
  EXPECT_EQ(pesuite::core::read_file(run.file("log.txt")), "hello\n");
  // Same second, same seed: a second folder, not a clash.
  auto again = pesuite::core::RunDir::create(dir.str(), "demo", 3, cfg, "cpu");
  EXPECT_NE(again.path(), run.path());
  EXPECT_THROW(pesuite::core::RunDir::open(dir / "nope"), pesuite::core::InputError);
}

// What --resume and --ckpt accept: a run folder or a checkpoint in one; the config from the
// checkpoint's metadata first, then from the run folder, over the defaults.
TEST(RunFiles, RunFolderOrCheckpointAndTheirConfig) {
  test::TempDir dir;
  const auto defaults = Config::from_toml_string("[train]\nlr = 0.1\nepochs = 3\n", "defaults");
  auto run = RunDir::create(dir.str(), "demo", 0, Config::from_toml_string("[train]\nlr = 0.5\n", "run"), "cpu");
  auto error_of = [](auto&& f) {
    try {
      f();
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of([&] { resolve_run_or_checkpoint(run.path()); }).find(run.path() + ": no checkpoint to resume from"), std::string::npos);
  EXPECT_NE(error_of([&] { resolve_run_or_checkpoint(dir / "nope.safetensors"); }).find("no such run folder or checkpoint"), std::string::npos);

  const std::string last = run.ckpt_dir() + "/last.safetensors";
  save_safetensors(last, {{"w", torch::zeros({1})}});
  EXPECT_EQ(resolve_run_or_checkpoint(run.path()), std::make_pair(run.path(), last));
  EXPECT_EQ(resolve_run_or_checkpoint(last).first, run.path());
  EXPECT_DOUBLE_EQ(run_config(last, defaults).get_double("train.lr"), 0.5);  // the run's value
  EXPECT_EQ(run_config(run.path(), defaults).get_int("train.epochs"), 3);    // the defaults' where the run is silent
  EXPECT_DOUBLE_EQ(checkpoint_config(last, defaults).get_double("train.lr"), 0.5);  // no saved config: the run folder's

  // A saved config wins over the run folder; 'extra' that is not JSON is named.
  const std::string saved = run.ckpt_dir() + "/saved.safetensors";
  save_safetensors(saved, {{"w", torch::zeros({1})}}, {{"extra", nlohmann::json{{"config", "[train]\nlr = 0.25\n"}}.dump()}});
  EXPECT_DOUBLE_EQ(checkpoint_config(saved, defaults).get_double("train.lr"), 0.25);
  EXPECT_EQ(checkpoint_extra(last), nlohmann::json::object());
  const std::string broken = run.ckpt_dir() + "/broken.safetensors";
  save_safetensors(broken, {{"w", torch::zeros({1})}}, {{"extra", "{not json"}});
  EXPECT_NE(error_of([&] { checkpoint_extra(broken); }).find(broken + ": metadata 'extra' is not JSON"), std::string::npos);

  // A lone checkpoint: the defaults, or, when the caller names what it expects, an error.
  const std::string lone = dir / "lone.safetensors";
  save_safetensors(lone, {{"w", torch::zeros({1})}});
  EXPECT_DOUBLE_EQ(checkpoint_config(lone, defaults).get_double("train.lr"), 0.1);
  EXPECT_NE(error_of([&] { checkpoint_config(lone, defaults, "head-pose"); }).find(lone + ": not a head-pose checkpoint"), std::string::npos);
  EXPECT_NE(error_of([&] { run_config(lone, defaults); }).find("not a run folder (no config.toml)"), std::string::npos);
}

TEST(MetricsLog, JsonlAndCsvAgreeAndTruncate) {
  test::TempDir dir;
  auto cfg = pesuite::core::Config::from_toml_string("", "defaults");
  auto run = pesuite::core::RunDir::create(dir.str(), "m", 0, cfg, "cpu");
  run.metrics().append({{"step", 1}, {"loss", 0.5}});
  run.metrics().append({{"step", 2}, {"loss", 0.25}, {"val_acc", 0.75}});
  run.metrics().append({{"step", 3}, {"loss", 0.125}});
  EXPECT_EQ(pesuite::core::read_file(run.file("metrics.csv")), "step,loss,val_acc\n1,0.5,\n2,0.25,0.75\n3,0.125,\n");
  auto reopened = pesuite::core::RunDir::open(run.path());
  EXPECT_EQ(reopened.metrics().rows().size(), 3u);
  reopened.metrics().truncate_after("step", 2);
  EXPECT_EQ(pesuite::core::read_file(run.file("metrics.csv")), "step,loss,val_acc\n1,0.5,\n2,0.25,0.75\n");
  EXPECT_EQ(pesuite::core::RunDir::open(run.path()).metrics().rows().size(), 2u);
  auto [x, y] = reopened.metrics().series("step", "loss");
  EXPECT_EQ(x, (std::vector<double>{1, 2}));
  EXPECT_EQ(y, (std::vector<double>{0.5, 0.25}));
}

TEST(ResultsTable, MeanStdFromTheSameRows) {
  pesuite::core::ResultsTable t({"model", "pe"}, {"acc"}, {"reference"});
  t.add({{"model", "gine"}, {"pe", "lap"}}, "acc", 0.9);
  t.add({{"model", "gine"}, {"pe", "lap"}}, "acc", 1.0);
  t.add({{"model", "gine"}, {"pe", "none"}}, "acc", 0.1);
  t.set_note({{"model", "gine"}, {"pe", "lap"}}, "reference", "99.0");
  auto s = t.summary({{"model", "gine"}, {"pe", "lap"}}, "acc");
  EXPECT_NEAR(s.mean, 0.95, 1e-12);
  EXPECT_NEAR(s.std, std::sqrt(0.005), 1e-12);  // sample std
  EXPECT_EQ(s.n, 2u);
  const auto md = t.markdown("CSL");
  EXPECT_NE(md.find("| gine | lap | 0.95 ± 0.07071 | 99.0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| gine | none | 0.1 |  |"), std::string::npos) << md;
  const auto csv = t.csv();
  EXPECT_NE(csv.find("model,pe,acc_mean,acc_std,acc_n,acc_values,reference\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("gine,lap,0.95,0.07071067812,2,0.9;1,99.0\n"), std::string::npos) << csv;
  test::TempDir dir;
  t.write(dir / "out", "CSL");
  EXPECT_EQ(pesuite::core::read_file(dir / "out/results.md"), md);
  EXPECT_EQ(pesuite::core::read_file(dir / "out/results.csv"), csv);
  EXPECT_THROW(t.add({{"model", "x"}}, "acc", 1), std::invalid_argument);
}

TEST(Progress, LineHasRateAndEtaAndIsSilentOffTerminal) {
  pesuite::core::Progress p(100, "train", /*enabled=*/false);
  p.tick(50);
  const auto line = p.line("loss 0.3");
  EXPECT_NE(line.find("train [############............] 50/100"), std::string::npos) << line;
  EXPECT_NE(line.find("/s ETA "), std::string::npos) << line;
  EXPECT_NE(line.find("loss 0.3"), std::string::npos);
  testing::internal::CaptureStderr();
  pesuite::core::Progress quiet(10, "x", false);
  quiet.tick(10);
  quiet.finish();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}
