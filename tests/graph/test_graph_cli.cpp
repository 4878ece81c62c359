// `pesuite graph pe` and `pesuite data inspect` for graph specs, through the real executable.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/safetensors.h"
#include "test_util.h"

using pesuite::test::run_cli;
using pesuite::test::TempDir;

TEST(GraphCli, PeWritesSafetensorsAndCaches) {
  TempDir tmp;
  const std::string out = tmp / "csl.safetensors";
  const std::string args = "graph pe --data 'csl:?seed=0&per_class=2' --pe lap:k=8 --pe rwse:steps=20 --pe rfp:features=4,steps=3 --out " +
                           out + " --threads 2 --cache-dir " + tmp.str() + "/cache";
  auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("computed in"), std::string::npos) << r.out;
  auto f = pesuite::core::load_safetensors(out);
  ASSERT_EQ(f.tensors.count("node_ptr"), 1u);
  EXPECT_EQ(f.tensors["node_ptr"].scalar_type(), torch::kInt64);
  EXPECT_EQ(f.tensors["node_ptr"].size(0), 21);
  EXPECT_EQ(f.tensors["lap"].sizes(), (std::vector<int64_t>{20 * 41, 8}));
  EXPECT_EQ(f.tensors["lap.eigval"].scalar_type(), torch::kFloat32);
  EXPECT_EQ(f.tensors["lap.mask"].sum().item<float>(), 20 * 41 * 8);
  EXPECT_EQ(f.tensors["rwse"].sizes(), (std::vector<int64_t>{20 * 41, 20}));
  EXPECT_EQ(f.tensors["rfp"].sizes(), (std::vector<int64_t>{20 * 41, 16}));
  EXPECT_EQ(f.metadata["dataset"], "csl:?seed=0&per_class=2");
  EXPECT_EQ(f.metadata["lap.solver"], "dense=20");
  EXPECT_NE(f.metadata["pe_specs"].find("rwse:steps=20"), std::string::npos);
  // CSL graphs are 4-regular: odd returns happen (triangles for R=2), rwse step 1 is 0.
  EXPECT_EQ(f.tensors["rwse"].select(1, 0).abs().max().item<float>(), 0.f);

  auto again = run_cli(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("from cache"), std::string::npos) << again.out;
  auto g = pesuite::core::load_safetensors(out);
  EXPECT_TRUE(torch::equal(g.tensors["lap"], f.tensors["lap"]));
}

TEST(GraphCli, PeErrorsExit2) {
  TempDir tmp;
  auto r = run_cli("graph pe --data 'csl:?seed=0' --pe lapx --out " + (tmp / "x.safetensors") + " --no-cache");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("error: "), std::string::npos);
  EXPECT_NE(r.err.find("graph encoding 'lapx' is unknown"), std::string::npos) << r.err;
  auto m = run_cli("graph pe --data tu:" + (tmp / "none.zip") + " --pe lap --out " + (tmp / "x.safetensors"));
  EXPECT_EQ(m.exit_code, 2);
  EXPECT_NE(m.err.find("none.zip"), std::string::npos) << m.err;
}

// Shards computed as separate processes (as on separate machines), joined by --merge: the same bytes
// as one process's file; an incomplete set exits 2 naming what is missing.
TEST(GraphCli, PeShardsMergeToTheSameFile) {
  TempDir tmp;
  const std::string common = "graph pe --data 'csl:?seed=1&per_class=1' --pe lap:k=6 --pe rfp:features=2,steps=2 --no-cache --out ";
  ASSERT_EQ(run_cli(common + (tmp / "whole.safetensors")).exit_code, 0);
  for (int i = 0; i < 3; ++i) {
    auto r = run_cli(common + (tmp / ("shards/" + std::to_string(i) + ".safetensors")) + " --shard " + std::to_string(i) + "/3");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("shard " + std::to_string(i) + "/3: graphs"), std::string::npos) << r.out;
  }
  auto m = run_cli("graph pe --merge " + (tmp / "shards") + " --out " + (tmp / "joined.safetensors"));
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_NE(m.out.find("10 graphs"), std::string::npos) << m.out;
  EXPECT_EQ(pesuite::core::read_file(tmp / "joined.safetensors"), pesuite::core::read_file(tmp / "whole.safetensors"));
  auto bad = run_cli("graph pe --merge " + (tmp / "shards/0.safetensors") + " " + (tmp / "shards/2.safetensors") + " --out " +
                     (tmp / "bad.safetensors"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("shard 1/3 of"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "bad.safetensors"));
  EXPECT_EQ(run_cli("graph pe --merge " + (tmp / "shards") + " --pe lap --out " + (tmp / "x.safetensors")).exit_code, 2);
  EXPECT_EQ(run_cli(common + (tmp / "x.safetensors") + " --shard 3/3").exit_code, 2);
}

TEST(GraphCli, InspectJson) {
  auto r = run_cli("data inspect 'grid:?rows=3&cols=3&graphs=2' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["graphs"], 2);
  EXPECT_EQ(j["nodes"], 18);
  EXPECT_EQ(j["edges"], 24);
  EXPECT_EQ(j["components"], 2);
}
