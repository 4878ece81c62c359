// `pesuite graph train|eval` end to end on a tiny CSL run, and bad configs: exit 2 with a message
// naming the key, before any run folder exists.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "test_util.h"

using pesuite::test::run_cli;
using pesuite::test::TempDir;
namespace fs = std::filesystem;

namespace {
std::string tiny(const TempDir& dir) {
  return " --set 'data.spec=csl:?seed=0&per_class=3' --set model.hidden=8 --set model.pe_dim=4 --set model.layers=1 --set train.epochs=2"
         " --set train.batch_size=8 --set cv.folds=3 --set cv.max_folds=1 --set experiment=cli-csl"
         " --set data.pe_cache_dir=" + dir / "cache" + " --device cpu --runs " + dir / "runs";
}
}  // namespace

TEST(CliGraphTrain, TrainsEvaluatesAndResumes) {
  TempDir dir;
  auto r = run_cli("graph train --set model.pe=rwse:steps=20 --json" + tiny(dir));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["metric"], "accuracy");
  EXPECT_EQ(j["folds"], 1);
  const std::string run = j["run"];
  ASSERT_TRUE(fs::exists(run + "/ckpt/fold0/best.safetensors"));
  auto ev = run_cli("graph eval --json --ckpt " + run + "/ckpt/fold0/best.safetensors");
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  const auto e = nlohmann::json::parse(ev.out);
  EXPECT_TRUE(e.contains("test"));
  EXPECT_DOUBLE_EQ(e["test"]["accuracy"].get<double>(), j["test_accuracy"]["mean"].get<double>());
  // Resuming a finished run changes nothing.
  auto again = run_cli("graph train --json --resume " + run);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["test_accuracy"], j["test_accuracy"]);
}

TEST(CliGraphTrain, BadConfigsExit2BeforeTraining) {
  TempDir dir;
  for (const auto& [set, needle] : std::vector<std::pair<std::string, std::string>>{
           {"model.name=nope", "config model.name: graph model 'nope' is unknown"},
           {"model.pe=nope", "config model.pe: graph encoding 'nope' is unknown"},
           {"eval.metric=nope", "eval.metric: unknown value 'nope'"},
           {"model.pe_in_dim=99 --set model.pe=lap:k=8", "gives only"},
           {"data.spec=regular:?nodes=10", "has no labels or targets"}}) {
    auto r = run_cli("graph train" + tiny(dir) + " --set " + set);  // the last --set wins
    EXPECT_EQ(r.exit_code, 2) << set << ": " << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "runs")) << set;
  }
  auto r = run_cli("graph train" + tiny(dir) + " --set nosuch.key=1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nosuch"), std::string::npos) << r.err;
}
