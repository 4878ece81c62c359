// `pesuite vision train|eval|attention` and `data inspect idx:` end to end on a small IDX dataset written here in
// the real format, and the bad-input paths: exit 2, one line naming the file and place, no run
// folder left behind.
#include <gtest/gtest.h>

#include <cmath>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/safetensors.h"
#include "checkpoint_compare.h"
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
  pesuite::core::write_file_atomic(dir + "/" + prefix + "-images-idx3-ubyte", images);
  pesuite::core::write_file_atomic(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
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
  EXPECT_NE(pesuite::core::read_file(run + "/config.toml").find("pe = \"peg\""), std::string::npos);
  for (const char* k : {"test_acc@28", "test_acc@44", "test_acc@56"}) EXPECT_TRUE(j.contains(k)) << k;
}

TEST(CliVision, BadInputsExit2AndWriteNothing) {
  TempDir dir;
  write_idx_split(dir.str(), "train", 8);
  write_idx_split(dir.str(), "t10k", 8);
  pesuite::core::write_file_atomic(dir / "bad.toml", "[train]\nepochs = 1\nlearning_rate = 3\n");
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

  std::string bytes = pesuite::core::read_file(dir / "train-images-idx3-ubyte");
  bytes[2] = 0x0D;  // float elements: not what MNIST files hold
  pesuite::core::write_file_atomic(dir / "train-images-idx3-ubyte", bytes);
  r = run_cli("data inspect 'idx:" + dir.str() + "?split=train'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(dir / "train-images-idx3-ubyte"), std::string::npos) << r.err;
  pesuite::core::write_file_atomic(dir / "train-images-idx3-ubyte", bytes.substr(0, 100));
  r = run_cli("data inspect 'idx:" + dir.str() + "?split=train'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "runs"));  // nothing was started
}

namespace {

// Train / test splits of the banded IDX set and the --set flags that point a run at them.
std::string tiny_data(const TempDir& dir) {
  write_idx_split(dir.str(), "train", 48);
  write_idx_split(dir.str(), "t10k", 24);
  return " --set 'data.train=idx:" + dir.str() + "?split=train' --set 'data.test=idx:" + dir.str() +
         "?split=test' --set device=cpu --set train.batch_size=16 --set train.epochs=2";
}

nlohmann::json train_json(const std::string& args) {
  auto r = run_cli("vision train --json" + args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

}  // namespace

// Resume gives the weights of an uninterrupted run, bit for bit (with drop-path and mixup/cutmix
// drawing random numbers), and evaluating the final checkpoint repeats the run's final test.
TEST(CliVision, ResumeIsBitwiseAndEvalMatchesTheRun) {
  TempDir dir;
  const std::string common = tiny_data(dir) + " --runs " + dir.str() + "/runs --set model.drop_path=0.1" +
                             " --set train.mixup=0.8 --set train.cutmix=1.0 --set train.mix_prob=0.7 --set model.pe=learned";
  auto full = train_json(common);
  ASSERT_TRUE(full.value("finished", false));
  EXPECT_EQ(full["steps"], 6);

  auto part = train_json(common + " --set train.stop_after_steps=2");
  ASSERT_FALSE(part.value("finished", true));
  EXPECT_EQ(part["steps"], 2);
  EXPECT_FALSE(part.contains("test_acc@28"));
  const std::string run = part["run"];
  auto rest = train_json(" --resume " + run + " --set train.stop_after_steps=0");
  ASSERT_TRUE(rest.value("finished", false));
  EXPECT_EQ(rest["run"], run);
  EXPECT_EQ(rest["steps"], 6);

  EXPECT_GT(pesuite::test::expect_same_checkpoint_state(full["run"].get<std::string>() + "/ckpt/last.safetensors",
                                                        run + "/ckpt/last.safetensors"),
            20);
  for (const char* k : {"test_acc@28", "test_acc@44", "test_acc@56", "test_top5@28"}) EXPECT_EQ(full[k], rest[k]) << k;

  // The checkpoint carries its config: eval needs nothing else.
  auto r = run_cli("vision eval --json --ckpt " + full["run"].get<std::string>() + "/ckpt/last.safetensors --sizes 28,56");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto e = nlohmann::json::parse(r.out);
  EXPECT_EQ(e["test_acc@28"], full["test_acc@28"]);
  EXPECT_EQ(e["test_acc@56"], full["test_acc@56"]);
  EXPECT_FALSE(e.contains("test_acc@44"));

  r = run_cli("vision eval --ckpt " + dir / "nothing.safetensors");
  EXPECT_EQ(r.exit_code, 2);
  r = run_cli("vision eval --ckpt " + full["run"].get<std::string>() + "/ckpt/last.safetensors --sizes 28,30");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("30"), std::string::npos) << r.err;
  r = run_cli("vision train --resume " + dir / "no-such-run");
  EXPECT_EQ(r.exit_code, 2);
}

// `vision attention` writes the class-token attention of every layer and the PE similarity map.
TEST(CliVision, AttentionWritesMapsAndPngs) {
  TempDir dir;
  auto j = train_json(tiny_data(dir) + " --runs " + dir.str() + "/runs --set train.epochs=1 --set model.pe=sincos2d");
  const std::string ckpt = j["run"].get<std::string>() + "/ckpt/last.safetensors";
  auto r = run_cli("vision attention --ckpt " + ckpt + " --image 'idx:" + dir.str() + "?split=test' --index 3 --out " + dir / "att");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto summary = nlohmann::json::parse(pesuite::core::read_file(dir / "att/summary.json"));
  EXPECT_EQ(summary["layers"].size(), 4u);
  EXPECT_EQ(summary["layers"][0]["entropy"].size(), 3u);
  EXPECT_EQ(summary["label"], "3");
  auto t = pesuite::core::load_safetensors(dir / "att/attention.safetensors");
  EXPECT_EQ(t.tensors.at("layer3.maps").sizes(), (std::vector<int64_t>{3, 7, 7}));
  EXPECT_EQ(t.tensors.at("pe_similarity").sizes(), (std::vector<int64_t>{49, 7, 7}));
  if (!summary.contains("png")) {  // built with OpenCV
    for (const char* f : {"attention_layer0.png", "attention_layer3.png", "pe_similarity.png"}) {
      ASSERT_TRUE(fs::exists(dir / ("att/" + std::string(f)))) << f;
      EXPECT_EQ(pesuite::core::read_file(dir / ("att/" + std::string(f))).substr(1, 3), "PNG") << f;
    }
  }
  // At 2x the grid is 14x14; a PEG model has no embedding to compare, and says so.
  auto peg = train_json(tiny_data(dir) + " --runs " + dir.str() + "/runs --set train.epochs=1 --set model.pe=peg --set model.pooling=gap");
  r = run_cli("vision attention --ckpt " + peg["run"].get<std::string>() + "/ckpt/last.safetensors --image 'idx:" + dir.str() +
              "?split=test' --size 56 --out " + dir / "att2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  summary = nlohmann::json::parse(pesuite::core::read_file(dir / "att2/summary.json"));
  EXPECT_EQ(summary["grid"], nlohmann::json::array({14, 14}));
  EXPECT_TRUE(summary.contains("pe_similarity"));
  r = run_cli("vision attention --ckpt " + ckpt + " --image 'idx:" + dir.str() + "?split=test' --index 999 --out " + dir / "att3");
  EXPECT_EQ(r.exit_code, 2);
}

namespace {

// CIFAR-10 binary batches: records of 1 label byte + R, G, B planes of 32x32; class c (0..2)
// lights channel c. Five training batches of `per_batch` records and one test batch.
void write_cifar10(const std::string& dir, int per_batch, int test) {
  auto batch = [](int n, int offset) {
    std::string bytes;
    for (int i = 0; i < n; ++i) {
      const int c = (i + offset) % 3;
      bytes += static_cast<char>(c);
      for (int ch = 0; ch < 3; ++ch) bytes += std::string(1024, static_cast<char>(ch == c ? 220 : 30 + (i * 7) % 40));
    }
    return bytes;
  };
  for (int b = 1; b <= 5; ++b) pesuite::core::write_file_atomic(dir + "/data_batch_" + std::to_string(b) + ".bin", batch(per_batch, b));
  pesuite::core::write_file_atomic(dir + "/test_batch.bin", batch(test, 0));
}

// The checkpoint's own eval gives the run's final numbers.
void expect_eval_matches(const nlohmann::json& run, const std::string& key, const std::string& sizes) {
  auto r = run_cli("vision eval --json --ckpt " + run["run"].get<std::string>() + "/ckpt/last.safetensors --sizes " + sizes);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)[key], run[key]) << key;
}

}  // namespace

// cifar10: trains in memory (colour, 32 px) and reports top-1 / top-5.
TEST(CliVision, TrainsOnCifarBinaryInMemory) {
  TempDir dir;
  write_cifar10(dir.str(), 8, 12);
  auto j = train_json(" --runs " + dir.str() + "/runs --set 'data.train=cifar10:" + dir.str() + "' --set 'data.test=cifar10:" +
                      dir.str() + "?split=test' --set model.name=vit_tiny_patch4_32 --set model.dim=32 --set model.depth=1" +
                      " --set model.heads=2 --set train.batch_size=16 --set train.epochs=1 --set 'eval.sizes=[32, 48]' --set device=cpu");
  ASSERT_TRUE(j.value("finished", false)) << j.dump();
  EXPECT_EQ(j["steps"], 2);
  // 12 test images: every accuracy is a count over 12, and top-5 is at least top-1.
  for (const char* k : {"test_acc@32", "test_acc@48", "test_top5@32"}) {
    ASSERT_TRUE(j.contains(k)) << k;
    const double v = j[k].get<double>();
    EXPECT_NEAR(v * 12, std::round(v * 12), 1e-9) << k << " = " << v;
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
  EXPECT_GE(j["test_top5@32"].get<double>(), j["test_acc@32"].get<double>());
  expect_eval_matches(j, "test_acc@32", "32");
  // A multi-label metric of single-label data is refused before training.
  auto r = run_cli("vision train --runs " + dir.str() + "/runs2 --set 'data.train=cifar10:" + dir.str() + "' --set 'data.test=cifar10:" +
                   dir.str() + "?split=test' --set model.name=vit_tiny_patch4_32 --set eval.metric=mAP");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("eval.metric: 'mAP' needs multi-label data"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "runs2"));
}
