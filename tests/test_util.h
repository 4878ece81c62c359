#pragma once
// Helpers shared by the tests: temporary folders, the sample-data folder, running the CLI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::test {

// A fresh, empty folder removed at destruction.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("pesuite-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    pesuite::core::remove_tree(path_.string());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { pesuite::core::remove_tree(path_.string()); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Sets an environment variable for the scope and puts back what was there (or unsets it):
//   ScopedEnv cache("PESUITE_CACHE", dir / "cache");
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old, had_ = true;
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { had_ ? ::setenv(name_.c_str(), old_.c_str(), 1) : ::unsetenv(name_.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// ../shared/data/<sub> (PESUITE_TEST_DATA), or "" when absent: callers skip then, through
// PESUITE_SKIP_WITHOUT_SAMPLE (below).
inline std::string sample_data(const std::string& sub) {
  const char* root = std::getenv("PESUITE_TEST_DATA");
  if (!root) return "";
  std::filesystem::path p = std::filesystem::path(root) / sub;
  return std::filesystem::exists(p) ? p.string() : "";
}

// Under CI (CI=true) with the sample folder present, a test that lacks a sample must fail rather
// than skip: the folder is there, so the sample or the test is broken, and a green run that
// checked nothing would hide it.
inline bool ci_requires_samples() {
  const char* ci = std::getenv("CI");
  const char* root = std::getenv("PESUITE_TEST_DATA");
  return ci && std::string(ci) == "true" && root && std::filesystem::is_directory(root);
}

// Runs f and expects a pesuite::core::InputError whose message contains every piece:
//   expect_input_error([] { parse_spec("voc:/x?colour=red"); }, {"unknown key 'colour'"});
template <class F>
void expect_input_error(F f, std::initializer_list<std::string> pieces) {
  try {
    f();
    ADD_FAILURE() << "no pesuite::core::InputError";
  } catch (const pesuite::core::InputError& e) {
    for (const auto& p : pieces) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\n  lacks: " << p;
  }
}

}  // namespace pesuite::test

// Skips (printing why) when the sample `path` (from sample_data) is empty; fails instead under CI
// with the sample folder present.
#define PESUITE_SKIP_WITHOUT_SAMPLE(path, what)                                                              \
  do {                                                                                                       \
    if ((path).empty()) {                                                                                    \
      if (::pesuite::test::ci_requires_samples()) FAIL() << "sample " << (what) << " is missing under CI";   \
      GTEST_SKIP() << "sample " << (what) << " not found under $PESUITE_TEST_DATA";                          \
    }                                                                                                        \
  } while (0)

namespace pesuite::test {

struct CliResult {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `pesuite <args>` (PESUITE_CLI), capturing stdout and stderr.
CliResult run_cli(const std::string& args);

}  // namespace pesuite::test
