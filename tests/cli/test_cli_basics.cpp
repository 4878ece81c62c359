// The CLI's contract: --help everywhere, exit codes (0 ok, 2 bad input/usage), one-line errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

using pesuite::test::run_cli;

TEST(Cli, VersionJson) {
  auto r = run_cli("version --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.contains("pesuite"));
  EXPECT_TRUE(j.contains("git_sha"));
  EXPECT_TRUE(j.contains("torch"));
  EXPECT_TRUE(j["cuda_available"].is_boolean());
  // Set before LibTorch's OpenMP runtime loads (.preinit_array), without re-executing.
  EXPECT_EQ(j["omp_wait_policy"], "PASSIVE");
}

TEST(Cli, KeepsTheUsersOmpWaitPolicy) {
  ::setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  auto r = run_cli("version --json");
  ::unsetenv("OMP_WAIT_POLICY");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["omp_wait_policy"], "ACTIVE");
}

TEST(Cli, HelpOnEverySubcommand) {
  for (const char* cmd : {"", "version", "list", "data", "data inspect", "graph", "vision", "bench", "reproduce"}) {
    auto r = run_cli(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

// `reproduce <table> --quick` is the table's short version, also for a table `reproduce quick`
// leaves out (in_quick = false): --assemble shows which version it wrote without running it.
TEST(Cli, ReproduceQuickOfOneTable) {
  pesuite::test::TempDir dir;
  auto r = run_cli("reproduce pin --quick --assemble --out " + dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("# pin (quick): "), std::string::npos) << r.out;
  r = run_cli("reproduce pin --assemble --out " + dir.str() + "/full");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("(quick)"), std::string::npos) << r.out;
}

TEST(Cli, UsageErrorsExit2WithOneLine) {
  for (const char* args : {"no-such-command", "list nonsense", "version --bogus", "data inspect"}) {
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

TEST(Cli, DatasetSpecErrorsListValidChoices) {
  auto r = run_cli("data inspect nosuch:/x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("dataset format 'nosuch' is unknown (valid: tu, ogb"), std::string::npos) << r.err;
  r = run_cli("data inspect 'csl:?seed=1&colour=red'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown key 'colour' for format 'csl' (valid: seed, per_class)"), std::string::npos) << r.err;
  r = run_cli("data inspect tu:");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs a path"), std::string::npos) << r.err;
}

TEST(Cli, ListDatasetsJson) {
  auto r = run_cli("list datasets --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  bool has_tu = false;
  for (const auto& f : j) has_tu |= f["format"] == "tu";
  EXPECT_TRUE(has_tu);
}

// `bench vit --memory-trace` hooks every node of one step's backward (the allocator figures are
// CUDA's; on the CPU they read 0, and the node list still comes, in the order the nodes ran).
TEST(Cli, BenchVitMemoryTraceListsTheBackwardNodes) {
  auto r = run_cli("--threads 1 bench vit --json --device cpu --model vit_tiny_patch4_28 --img 28 --classes 10 --batch 4 --steps 1 "
                   "--warmup 0 --repeats 1 --skip-infer --memory-trace");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("memory_trace")) << r.out;
  const auto& t = j["memory_trace"];
  // 4 blocks of about 15 nodes each, the embedding, the head and the loss.
  EXPECT_GT(t["backward_nodes"].get<int>(), 60);
  ASSERT_EQ(t["top_nodes"].size(), 12u);
  EXPECT_NE(t["top_nodes"][0]["node"].get<std::string>().find("NllLoss"), std::string::npos) << t.dump();
  for (const auto& row : t["top_nodes"]) EXPECT_FALSE(row["node"].get<std::string>().empty());
  for (const char* key : {"before_forward_mb", "forward_peak_mb", "before_backward_mb", "backward_peak_mb"})
    EXPECT_TRUE(t.contains(key)) << key;
}
