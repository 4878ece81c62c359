// Crash safety: a CLI training run killed with SIGKILL at five seeded random moments, and resumed
// after each kill, ends exactly where an uninterrupted run ends (CPU: every checkpoint tensor and
// every metric row bit for bit). A kill may land anywhere: loading, computing the encodings,
// creating the run folder, mid-step, mid-checkpoint (atomic: never half-written), mid-append of a
// metric row (whole-line appends; a torn line would be dropped on resume).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "checkpoint_compare.h"
#include "pesuite/core/atomic_file.h"
#include "test_util.h"

using pesuite::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Two folds of a small CSL run, a checkpoint every epoch, dropout on (the torch RNG is in the checkpoints).
std::string args(const TempDir& dir, const std::string& runs) {
  return " --set 'data.spec=csl:?seed=0&per_class=4' --set model.pe=rwse:steps=16 --set model.hidden=16"
         " --set model.pe_dim=8 --set model.layers=2 --set model.dropout=0.1 --set train.epochs=30"
         " --set train.batch_size=4 --set train.warmup_epochs=2 --set train.checkpoint_every=1"
         " --set cv.folds=2 --set cv.max_folds=2 --set eval.track_test=true --set experiment=crash"
         " --set data.pe_cache_dir=" + dir / "cache" + " --device cpu --runs " + runs;
}

// Starts `pesuite <cli_args>` as its own process group; returns its pid.
pid_t start(const std::string& cli_args, const std::string& log) {
  const std::string cmd = "exec " + std::string(std::getenv("PESUITE_CLI")) + cli_args + " >>" + log + " 2>&1 </dev/null";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  return pid;
}

// Waits for the process; returns its exit code (-signal when killed).
int wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::vector<std::string> runs_in(const std::string& root) {
  std::vector<std::string> out;
  if (fs::exists(root + "/crash"))
    for (const auto& e : fs::directory_iterator(root + "/crash")) out.push_back(e.path().string());
  return out;
}

// Metric rows with the wall-clock fields taken out.
std::vector<nlohmann::json> rows(const std::string& jsonl) {
  std::vector<nlohmann::json> out;
  std::istringstream in(pesuite::core::read_file(jsonl));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    j.erase("seconds");
    out.push_back(j);
  }
  return out;
}

// Epoch rows the run has appended so far, over both folds (complete lines only).
std::size_t epoch_rows(const std::string& run) {
  std::size_t n = 0;
  for (const char* f : {"/fold0/metrics.jsonl", "/fold1/metrics.jsonl"}) {
    std::error_code ec;
    if (!fs::exists(run + f, ec)) continue;
    std::ifstream in(run + f);
    for (std::string line; std::getline(in, line);) n += !line.empty() && line.back() == '}';
  }
  return n;
}

}  // namespace

TEST(CrashSafety, SigkillFiveTimesThenResumeEqualsUninterrupted) {
  if (!std::getenv("PESUITE_CLI")) GTEST_SKIP() << "PESUITE_CLI is not set (run through ctest)";
  TempDir dir;
  const std::string log = dir / "cli.log";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_for(start(" graph train" + args(dir, dir / "full"), log)), 0) << pesuite::core::read_file(log);
  const double full_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto full = runs_in(dir / "full");
  ASSERT_EQ(full.size(), 1u);

  // The first kill lands at a random moment of start-up (loading, encodings, the run folder); each
  // later one waits until the resumed run has appended at least one new epoch row, then lands a
  // random 0-1.5 epochs further on (mid-step, mid-checkpoint, mid-append). Progress-based rather
  // than clock-based, so the kills fall inside training however loaded the machine is.
  const double epoch_s = full_s / 60;  // 2 folds x 30 epochs, start-up included: an upper bound
  std::mt19937 rng(18);
  std::uniform_real_distribution<double> startup(0.02, 0.08), extra(0.0, 1.5);
  std::string run;
  for (int k = 0; k < 5; ++k) {
    auto cut = runs_in(dir / "cut");
    // A kill inside RunDir::create (the folder made, config.toml not yet in it) leaves a folder
    // that is no run yet: start over, as a user would.
    if (!cut.empty() && !fs::exists(cut.front() + "/config.toml")) pesuite::core::remove_tree(cut.front());
    cut = runs_in(dir / "cut");
    run = cut.empty() ? "" : cut.front();
    const std::size_t rows_before = run.empty() ? 0 : epoch_rows(run);
    const pid_t pid = start(run.empty() ? " graph train" + args(dir, dir / "cut") : " graph train --resume " + run, log);
    double wait_s = startup(rng) * full_s;
    if (k > 0) {
      const auto begin = std::chrono::steady_clock::now();
      int status = 0;
      while (::waitpid(pid, &status, WNOHANG) == 0) {
        const auto now = runs_in(dir / "cut");
        if (!now.empty() && epoch_rows(now.front()) > rows_before) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ASSERT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count(), 10 * full_s + 60)
            << "attempt " << k << " made no progress";
      }
      wait_s = extra(rng) * epoch_s;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(wait_s));
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "attempt " << k << " finished before its kill";
    ::kill(-pid, SIGKILL);
    EXPECT_EQ(wait_for(pid), -SIGKILL);
    const auto now = runs_in(dir / "cut");
    std::cout << "kill " << k + 1 << (run.empty() ? " (fresh start)" : " (resumed)") << ": " << (now.empty() ? 0 : epoch_rows(now.front()))
              << " epoch rows saved\n";
  }
  const auto cut = runs_in(dir / "cut");
  ASSERT_EQ(cut.size(), 1u) << "the kills never got as far as a run folder";
  ASSERT_TRUE(fs::exists(cut.front() + "/config.toml"));
  ASSERT_EQ(wait_for(start(" graph train --resume " + cut.front(), log)), 0) << pesuite::core::read_file(log);

  for (const char* f : {"ckpt/fold0/last.safetensors", "ckpt/fold0/best.safetensors", "ckpt/fold1/last.safetensors",
                        "ckpt/fold1/best.safetensors"})
    EXPECT_GT(pesuite::test::expect_same_checkpoint_state(full.front() + "/" + f, cut.front() + "/" + f), 10) << f;
  for (const char* f : {"metrics.jsonl", "fold0/metrics.jsonl", "fold1/metrics.jsonl"})
    EXPECT_EQ(rows(full.front() + "/" + f), rows(cut.front() + "/" + f)) << f;
  EXPECT_EQ(rows(full.front() + "/fold1/metrics.jsonl").size(), 30u);
  auto results = [](const std::string& r) {
    auto j = nlohmann::json::parse(pesuite::core::read_file(r + "/results.json"));
    j.erase("seconds");
    j.erase("pe_seconds");
    return j;
  };
  EXPECT_EQ(results(full.front()), results(cut.front()));
}
