// Append-only logs: whole lines, torn tails dropped with a note and cut before the next append;
// metrics.jsonl and log.txt of a run folder survive a crash mid-append; published files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pesuite/core/append_log.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/publish_file.h"
#include "pesuite/core/run_dir.h"
#include "test_util.h"

using namespace pesuite;
namespace fs = std::filesystem;

namespace {
// What a crash mid-append leaves: bytes without the closing '\n'.
void write_raw(const std::string& path, const std::string& bytes, bool append = true) {
  std::ofstream out(path, append ? std::ios::app | std::ios::binary : std::ios::binary);
  out << bytes;
}
}  // namespace

TEST(AppendLog, WholeLinesAndTheTornTailAreTold) {
  test::TempDir dir;
  const auto p = dir / "log.txt";
  EXPECT_TRUE(core::read_lines(p).lines.empty());  // no file: no lines
  EXPECT_EQ(core::append_line(p, "one"), "");
  EXPECT_EQ(core::append_line(p, "two"), "");
  EXPECT_EQ(core::read_file(p), "one\ntwo\n");
  write_raw(p, "thr");  // killed mid-line
  auto l = core::read_lines(p);
  EXPECT_EQ(l.lines, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(l.torn_tail, "thr");
  EXPECT_EQ(l.describe_torn_tail("log.txt"),
            "log.txt: dropped a torn last line (3 bytes, 'thr') left by an interrupted write; 2 complete line(s) kept");
  // The next append cuts the torn bytes off first and says what it cut.
  EXPECT_EQ(core::append_line(p, "three"), "thr");
  EXPECT_EQ(core::read_file(p), "one\ntwo\nthree\n");
  // A torn tail longer than the backwards-scan buffer, and a file that is only a torn line.
  const std::string big(10000, 'x');
  write_raw(p, big);
  EXPECT_EQ(core::append_line(p, "four"), big);
  EXPECT_EQ(core::read_file(p), "one\ntwo\nthree\nfour\n");
  write_raw(p, "no newline at all", false);
  EXPECT_EQ(core::append_line(p, "first"), "no newline at all");
  EXPECT_EQ(core::read_file(p), "first\n");
}

TEST(AppendLog, FailedWritesThrowNamingTheFile) {
  test::TempDir dir;
  try {
    core::append_line(dir / "missing/dir/log.txt", "x");
    FAIL() << "no error";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing/dir/log.txt: cannot open for appending"), std::string::npos) << e.what();
  }
  if (fs::exists("/dev/full")) {  // every write to /dev/full fails with ENOSPC
    try {
      core::append_line("/dev/full", "x", false);
      FAIL() << "no error writing to /dev/full";
    } catch (const core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("/dev/full: write failed: No space left on device"), std::string::npos) << e.what();
    }
  }
}

TEST(MetricsLog, TornLastRowIsDroppedAndResumeAppendsCleanly) {
  test::TempDir dir;
  auto cfg = core::Config::from_toml_string("", "defaults");
  auto run = core::RunDir::create(dir.str(), "m", 0, cfg, "cpu");
  run.metrics().append({{"step", 1}, {"loss", 0.5}});
  run.metrics().append({{"step", 2}, {"loss", 0.25}});
  write_raw(run.file("metrics.jsonl"), R"({"step":3,"lo)");  // the crash
  auto reopened = core::RunDir::open(run.path());
  ASSERT_EQ(reopened.metrics().rows().size(), 2u);
  EXPECT_EQ(reopened.metrics().rows()[1]["step"], 2);
  EXPECT_EQ(reopened.metrics().dropped_tail(), R"({"step":3,"lo)");
  reopened.metrics().append({{"step", 3}, {"loss", 0.125}});
  EXPECT_EQ(core::read_file(run.file("metrics.jsonl")),
            "{\"step\":1,\"loss\":0.5}\n{\"step\":2,\"loss\":0.25}\n{\"step\":3,\"loss\":0.125}\n");
  EXPECT_EQ(core::read_file(run.file("metrics.csv")), "step,loss\n1,0.5\n2,0.25\n3,0.125\n");
  EXPECT_EQ(core::RunDir::open(run.path()).metrics().dropped_tail(), "");
  // A broken line in the middle is not a crash's tear: an error naming the line.
  write_raw(run.file("metrics.jsonl"), "{\"step\":1}\nnot json\n{\"step\":2}\n", false);
  try {
    core::RunDir::open(run.path());
    FAIL() << "no error";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl:2: not a JSON object"), std::string::npos) << e.what();
  }
  write_raw(run.file("metrics.jsonl"), "[1,2]\n", false);
  EXPECT_THROW(core::RunDir::open(run.path()), core::InputError);
}

TEST(RunDir, LogCutsATornLineAndSaysSo) {
  test::TempDir dir;
  auto cfg = core::Config::from_toml_string("", "defaults");
  auto run = core::RunDir::create(dir.str(), "m", 0, cfg, "cpu");
  run.log("epoch 1", false);
  write_raw(run.file("log.txt"), "epoch 2 lo");
  run.log("resume", false);
  EXPECT_EQ(core::read_file(run.file("log.txt")),
            "epoch 1\nresume\n(log.txt: dropped a torn last line (10 bytes, 'epoch 2 lo') left by an interrupted write)\n");
}

TEST(AtomicFile, PublishRenamesAWrittenTemporary) {
  test::TempDir dir;
  const auto target = dir / "trace.json";
  const auto tmp = core::temporary_path_for(target);
  EXPECT_EQ(tmp.rfind(target + ".tmp", 0), 0u) << tmp;
  write_raw(tmp, "{}", false);
  core::publish_file(tmp, target);
  EXPECT_EQ(core::read_file(target), "{}");
  EXPECT_FALSE(fs::exists(tmp));
  try {
    core::publish_file(dir / "never-written", target);
    FAIL() << "no error";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("never-written: was not written"), std::string::npos) << e.what();
  }
  EXPECT_EQ(core::read_file(target), "{}");  // untouched
}
