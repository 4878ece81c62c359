// `pesuite vision train` and `data inspect idx:` end to end on a small IDX dataset written here in
// the real format, and the bad-input paths: exit 2, one line naming the file and place, no run
// folder left behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "pesuite/heads/atomic_file.h"
#include "test_util.h"

using pesuite::test::run_cli;
using pesuite::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// MNIST layout: images (magic 0x803) and labels (0x801); class c has a bright band at row 3c.
void write_idx_split(const std::string& dir, const std::string& prefix, int n) {
  std::string images = be32(0x803) + be32(n) + be32(28) + be32(28), labels = be32(0x801) + be32(n);
  for (int i = 0; i < n; ++i) {
    const int c = i % 4;
    std::string img(28 * 28, '\0');
    for (int x = 0; x < 28; ++x) img[(3 * c + 4) * 28 + x] = static_cast<char>(250);
    images += img;
    labels += static_cast<char>(c);
  }
  pesuite::write_file_atomic(dir + "/" + prefix + "-images-idx3-ubyte", images);
  pesuite::write_file_atomic(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
}

}  // namespace

TEST(CliVision, InspectIdx) {
  TempDir dir;
  write_idx_split(dir.str(), "train", 40);
  auto r = run_cli("data inspect 'idx:" + dir.str() + "?split=train' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["images"], 40);
  EXPECT_EQ(j["classes"], 4);
  EXPECT_EQ(j["images_per_class"]["0"], 10);
  EXPECT_EQ(j["image_size"], nlohmann::json::array({28, 28}));
}

TEST(CliVision, TrainWritesARunFolder) {
  TempDir dir;
  write_idx_split(dir.str(), "train", 64);
  write_idx_split(dir.str(), "t10k", 32);
  const std::string data = " --set 'data.train=idx:" + dir.str() + "?split=train' --set 'data.test=idx:" + dir.str() + "?split=test'";
  auto r = run_cli("vision train --json --runs " + dir.str() + "/runs" + data +
                   " --set model.pe=peg --set train.batch_size=16 --set train.epochs=2 --set device=cpu");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const std::string run = j["run"];
  for (const char* f : {"config.toml", "env.json", "metrics.jsonl", "metrics.csv", "log.txt", "ckpt/last.safetensors"})
    EXPECT_TRUE(fs::exists(run + "/" + f)) << f;
  EXPECT_NE(pesuite::read_file(run + "/config.toml").find("pe = 'peg'"), std::string::npos);
  for (const char* k : {"test_acc@28", "test_acc@44", "test_acc@56"}) EXPECT_TRUE(j.contains(k)) << k;
}

TEST(CliVision, BadInputsExit2AndWriteNothing) {
  TempDir dir;
  write_idx_split(dir.str(), "train", 8);
  write_idx_split(dir.str(), "t10k", 8);
  pesuite::write_file_atomic(dir / "bad.toml", "[train]\nepochs = 1\nlearning_rate = 3\n");
  const std::string runs = " --runs " + dir.str() + "/runs";
  auto r = run_cli("vision train --config " + dir / "bad.toml" + runs);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(dir / "bad.toml:3: unknown key 'train.learning_rate'"), std::string::npos) << r.err;

  r = run_cli("vision train --config " + dir.str() + runs);  // a directory
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_cli("vision train --set train.epochs=many" + runs);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--set train.epochs=many"), std::string::npos) << r.err;
  r = run_cli("vision train --set model.name=deit_huge" + runs + " --set 'data.train=idx:" + dir.str() +
              "?split=train' --set 'data.test=idx:" + dir.str() + "?split=test'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("model 'deit_huge' is unknown"), std::string::npos) << r.err;

  std::string bytes = pesuite::read_file(dir / "train-images-idx3-ubyte");
  bytes[2] = 0x0D;  // float elements: not what MNIST files hold
  pesuite::write_file_atomic(dir / "train-images-idx3-ubyte", bytes);
  r = run_cli("data inspect 'idx:" + dir.str() + "?split=train'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(dir / "train-images-idx3-ubyte"), std::string::npos) << r.err;
  pesuite::write_file_atomic(dir / "train-images-idx3-ubyte", bytes.substr(0, 100));
  r = run_cli("data inspect 'idx:" + dir.str() + "?split=train'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "runs"));  // nothing was started
}
