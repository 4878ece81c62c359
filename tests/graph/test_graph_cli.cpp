// `pesuite graph pe` and `pesuite data inspect` for graph specs, through the real executable.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

TEST(GraphCli, InspectJson) {
  auto r = run_cli("data inspect 'grid:?rows=3&cols=3&graphs=2' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["graphs"], 2);
  EXPECT_EQ(j["nodes"], 18);
  EXPECT_EQ(j["edges"], 24);
  EXPECT_EQ(j["components"], 2);
}
