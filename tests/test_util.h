#pragma once
// Helpers shared by the tests: temporary folders, the sample-data folder, running the CLI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "pesuite/heads/atomic_file.h"

namespace pesuite::test {

// A fresh, empty folder removed at destruction.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("pesuite-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    pesuite::remove_tree(path_.string());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { pesuite::remove_tree(path_.string()); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// ../shared/data/<sub> (PESUITE_TEST_DATA), or "" when absent: callers GTEST_SKIP() then.
inline std::string sample_data(const std::string& sub) {
  const char* root = std::getenv("PESUITE_TEST_DATA");
  if (!root) return "";
  std::filesystem::path p = std::filesystem::path(root) / sub;
  return std::filesystem::exists(p) ? p.string() : "";
}

struct CliResult {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `pesuite <args>` (PESUITE_CLI), capturing stdout and stderr.
CliResult run_cli(const std::string& args);

}  // namespace pesuite::test
