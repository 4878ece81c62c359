#include <gtest/gtest.h>

#include "pesuite/core/config.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "test_util.h"

using namespace pesuite;
using pesuite::core::Config;

namespace {
pesuite::core::Config defaults() {
  return pesuite::core::Config::from_toml_string(R"(
name = "demo"
[train]
epochs = 10
lr = 1e-3
amp = false
seeds = [0, 1, 2]
[model]
pe = "none"
)", "<defaults>");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const pesuite::core::InputError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(Config, DefaultsFileAndSet) {
  test::TempDir dir;
  pesuite::core::write_file_atomic(dir / "c.toml", "[train]\nepochs = 3\nlr = 2  # an integer where a float is expected\n");
  pesuite::core::Config c = defaults();
  c.merge_file(dir / "c.toml");
  EXPECT_EQ(c.get_int("train.epochs"), 3);
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 2.0);
  c.apply_set("train.lr=5e-4");
  c.apply_set("model.pe=lap:k=8");  // bare strings need no quotes
  c.apply_set("train.amp=true");
  c.apply_set("train.seeds=[4, 5]");
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 5e-4);
  EXPECT_EQ(c.get_string("model.pe"), "lap:k=8");
  EXPECT_TRUE(c.get_bool("train.amp"));
  EXPECT_EQ(c.get_ints("train.seeds"), (std::vector<std::int64_t>{4, 5}));
  // The resolved config round-trips through TOML.
  pesuite::core::Config again = defaults();
  again.merge_string(c.to_toml(), "resolved");
  EXPECT_EQ(again.to_toml(), c.to_toml());
}

TEST(Config, StringsWithNewlinesRoundTrip) {
  // A value starting with a newline: a multi-line TOML string would drop it (TOML trims a newline
  // right after the opening quotes), so to_toml() escapes newlines instead.
  const auto c = Config::from_toml_string("[a]\nf = \"\"\"\n\nmui\"\"\"\ng = \"x\\ny\\n\"\n", "t.toml");
  EXPECT_EQ(c.get_string("a.f"), "\nmui");
  const auto again = Config::from_toml_string(c.to_toml(), "round-trip");
  EXPECT_EQ(again.get_string("a.f"), "\nmui");
  EXPECT_EQ(again.get_string("a.g"), "x\ny\n");
  EXPECT_EQ(again.to_toml(), c.to_toml());
}

TEST(Config, ErrorsNameFileLineAndKey) {
  test::TempDir dir;
  pesuite::core::write_file_atomic(dir / "bad.toml", "[train]\nepochs = 3\nlearning_rate = 0.1\n");
  pesuite::core::Config c = defaults();
  auto msg = error_of([&] { c.merge_file(dir / "bad.toml"); });
  EXPECT_NE(msg.find(dir / "bad.toml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key 'train.learning_rate'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("valid here: amp, epochs, lr, seeds"), std::string::npos) << msg;

  pesuite::core::write_file_atomic(dir / "type.toml", "\n[train]\nepochs = \"ten\"\n");
  msg = error_of([&] { c.merge_file(dir / "type.toml"); });
  EXPECT_NE(msg.find("type.toml:3: key 'train.epochs' expects integer, got string"), std::string::npos) << msg;

  pesuite::core::write_file_atomic(dir / "syntax.toml", "[train\nepochs = 3\n");
  msg = error_of([&] { c.merge_file(dir / "syntax.toml"); });
  EXPECT_NE(msg.find("syntax.toml:1:"), std::string::npos) << msg;

  pesuite::core::write_file_atomic(dir / "section.toml", "[optim]\nlr = 1\n");
  msg = error_of([&] { c.merge_file(dir / "section.toml"); });
  EXPECT_NE(msg.find("unknown section [optim]"), std::string::npos) << msg;

  msg = error_of([&] { c.apply_set("train.epochs=abc"); });
  EXPECT_NE(msg.find("--set train.epochs=abc"), std::string::npos) << msg;
  msg = error_of([&] { c.apply_set("train.nope=1"); });
  EXPECT_NE(msg.find("unknown key 'train.nope'"), std::string::npos) << msg;
  msg = error_of([&] { c.apply_set("novalue"); });
  EXPECT_NE(msg.find("expected key=value"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { c.merge_file(dir / "missing.toml"); }).find("no such file"), std::string::npos);
  EXPECT_NE(error_of([&] { c.merge_file(dir.str()); }).find("is a directory"), std::string::npos);
}
