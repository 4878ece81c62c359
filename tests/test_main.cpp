// main() of every test executable: GoogleTest's, plus what CI needs from skips.
//  * Every skipped test prints its reason ("[ SKIPPED  ] Suite.Name: reason"), even with --gtest_brief.
//  * Under CI (CI=true) with the sample folder present ($PESUITE_TEST_DATA is a directory), a test
//    that skipped for missing sample data (its reason names ../shared/data, $PESUITE_TEST_DATA or a
//    "sample") fails the executable: the folder is there, so a sample or a test is broken. This also
//    catches GTEST_SKIP sites that do not use PESUITE_SKIP_WITHOUT_SAMPLE.
//  * With $PESUITE_SKIP_LOG set, each skip is appended there as "<executable> Suite.Name: reason"
//    (.ci/run counts and lists them).
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "pesuite/core/append_log.h"
#include "pesuite/core/malloc_policy.h"
#include "test_util.h"

namespace {

bool is_missing_data_reason(const std::string& why) {
  for (const char* needle : {"shared/data", "PESUITE_TEST_DATA", "sample"})
    if (why.find(needle) != std::string::npos) return true;
  return false;
}

class SkipReporter : public testing::EmptyTestEventListener {
 public:
  explicit SkipReporter(std::string exe) : exe_(std::move(exe)) {}
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (r.skipped()) reason_ = r.message() ? r.message() : "";
  }
  void OnTestStart(const testing::TestInfo&) override { reason_.clear(); }
  void OnTestEnd(const testing::TestInfo& info) override {
    if (!info.result()->Skipped()) return;
    std::string why = reason_;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    if (why.empty()) why = "(no reason given)";
    const std::string name = std::string(info.test_suite_name()) + "." + info.name();
    std::cout << "[ SKIPPED  ] " << name << ": " << why << std::endl;
    if (const char* log = std::getenv("PESUITE_SKIP_LOG"); log && *log) {
      try {
        pesuite::core::append_line(log, exe_ + " " + name + ": " + why, false);
      } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
      }
    }
    if (pesuite::test::ci_requires_samples() && is_missing_data_reason(why)) data_skips_.push_back(name + ": " + why);
  }
  const std::vector<std::string>& data_skips() const { return data_skips_; }

 private:
  std::string exe_, reason_;
  std::vector<std::string> data_skips_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  pesuite::core::keep_freed_memory();  // as the CLI does (core/malloc_policy.h)
  std::string exe = argc > 0 ? argv[0] : "test";
  exe = exe.substr(exe.find_last_of('/') + 1);
  auto* reporter = new SkipReporter(exe);  // owned by gtest
  testing::UnitTest::GetInstance()->listeners().Append(reporter);
  int rc = RUN_ALL_TESTS();
  if (!reporter->data_skips().empty()) {
    std::cout << "FAILED under CI: " << reporter->data_skips().size()
              << " test(s) skipped for missing sample data although $PESUITE_TEST_DATA exists:\n";
    for (const auto& s : reporter->data_skips()) std::cout << "  " << s << "\n";
    rc = 1;
  }
  return rc;
}
