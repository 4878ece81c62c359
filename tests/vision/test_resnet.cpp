// ResNet backbones: torchvision's names and shapes, any input size, the feature extractor, strict
// loading of state dicts converted by scripts/convert/torch_to_safetensors.py with outputs equal
// to PyTorch's (tests/python/resnet_reference.py, Debian's python3-torch), bad tensors named.
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/vision/resnet.h"
#include "test_util.h"

using namespace pesuite;
using pesuite::test::TempDir;
using pesuite::test::expect_input_error;

namespace {


// Runs a shell command; its output goes to `log` so a failure can show it.
int run(const std::string& cmd, const std::string& log) { return std::system((cmd + " > '" + log + "' 2>&1").c_str()); }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(ResNet, TorchvisionNamesAndShapes) {
  auto r18 = vision::create_resnet("resnet18");
  auto r50 = vision::create_resnet("resnet50");
  const auto s18 = core::module_state(*r18), s50 = core::module_state(*r50);
  // torchvision's state_dict() sizes: 62 parameters + 60 BatchNorm buffers (18), 161 + 159 (50).
  EXPECT_EQ(s18.size(), 122u);
  EXPECT_EQ(s50.size(), 320u);
  const std::map<std::string, std::vector<int64_t>> expected18 = {
      {"conv1.weight", {64, 3, 7, 7}},          {"bn1.running_var", {64}},
      {"bn1.num_batches_tracked", {}},          {"layer1.1.conv2.weight", {64, 64, 3, 3}},
      {"layer2.0.downsample.0.weight", {128, 64, 1, 1}}, {"layer2.0.downsample.1.running_mean", {128}},
      {"layer4.1.bn2.bias", {512}},             {"fc.weight", {1000, 512}}, {"fc.bias", {1000}}};
  for (const auto& [name, shape] : expected18) {
    ASSERT_TRUE(s18.count(name)) << name;
    EXPECT_EQ(s18.at(name).sizes(), shape) << name;
  }
  const std::map<std::string, std::vector<int64_t>> expected50 = {
      {"layer1.0.downsample.0.weight", {256, 64, 1, 1}}, {"layer3.5.conv3.weight", {1024, 256, 1, 1}},
      {"layer4.0.conv2.weight", {512, 512, 3, 3}},       {"layer4.2.bn3.running_mean", {2048}},
      {"fc.weight", {1000, 2048}}};
  for (const auto& [name, shape] : expected50) {
    ASSERT_TRUE(s50.count(name)) << name;
    EXPECT_EQ(s50.at(name).sizes(), shape) << name;
  }
  EXPECT_EQ(s18.at("bn1.num_batches_tracked").scalar_type(), torch::kLong);
  EXPECT_FALSE(s50.count("layer1.1.downsample.0.weight"));  // only the first block of a stage projects
}

TEST(ResNet, AnyInputSizeAndFeatureExtractor) {
  torch::manual_seed(0);
  auto net = vision::create_resnet("resnet18", [](vision::ResNetOptions& o) { o.num_classes(0); });
  net->eval();
  EXPECT_FALSE(core::module_state(*net).count("fc.weight"));
  EXPECT_EQ(net->feature_dim(), 512);
  torch::NoGradGuard ng;
  const auto x = torch::randn({3, 3, 40, 72});
  EXPECT_EQ(net->forward(x).sizes(), (std::vector<int64_t>{3, 512}));
  EXPECT_EQ(net->forward_map(x).sizes(), (std::vector<int64_t>{3, 512, 2, 3}));
  EXPECT_TRUE(torch::equal(net->forward(x), net->forward_features(x)));
  auto r50 = vision::create_resnet("resnet50", [](vision::ResNetOptions& o) { o.num_classes(66); });
  r50->eval();
  EXPECT_EQ(r50->forward(torch::randn({1, 3, 64, 64})).sizes(), (std::vector<int64_t>{1, 66}));
  EXPECT_EQ(r50->feature_dim(), 2048);
  expect_input_error([&] { r50->forward(torch::randn({1, 1, 64, 64})); }, {"resnet", "[1, 1, 64, 64]"});
  expect_input_error([] { vision::create_resnet("resnet19"); }, {"resnet19", "resnet18", "resnet152"});
}

TEST(ResNet, ConvertedPyTorchStateDictLoadsStrictlyAndMatches) {
  const std::string python = PESUITE_TORCH_PYTHON;
  if (python.empty()) GTEST_SKIP() << "no python3 with torch found at configure time (Debian: apt-get install python3-torch)";
  const std::string src = PESUITE_SOURCE_DIR;
  TempDir dir;
  const std::string log = dir / "log.txt";
  ASSERT_EQ(run("'" + python + "' '" + src + "/tests/python/resnet_reference.py' '" + dir.str() + "'", log), 0) << slurp(log);
  const std::string convert = "'" + python + "' '" + src + "/scripts/convert/torch_to_safetensors.py' ";
  for (const std::string name : {"resnet18.pth", "resnet50.pth", "io.pt"}) {
    const std::string out = dir / (name.substr(0, name.find('.')) + ".safetensors");
    ASSERT_EQ(run(convert + "'" + (dir / name) + "' '" + out + "'", log), 0) << slurp(log);
  }
  const auto io_file = core::load_safetensors(dir / "io.safetensors");
  const torch::Tensor x = io_file.tensors.at("input");
  torch::NoGradGuard ng;

  auto r18 = vision::create_resnet("resnet18", [](vision::ResNetOptions& o) { o.num_classes(10); });
  // resnet18.pth was saved as {'state_dict': {'module.' + name: ...}}: the converter undoes both.
  core::load_module(dir / "resnet18.safetensors", *r18);
  r18->eval();
  const auto y18 = r18->forward(x), ref18 = io_file.tensors.at("resnet18");
  const double d18 = (y18 - ref18).abs().max().item<double>();
  EXPECT_LT(d18, 1e-4) << y18 << ref18;
  EXPECT_GT(ref18.abs().max().item<double>(), 0.1);  // a comparison of non-trivial outputs

  auto r50 = vision::create_resnet("resnet50", [](vision::ResNetOptions& o) { o.num_classes(7); });
  core::load_module(dir / "resnet50.safetensors", *r50);
  r50->eval();
  const double d50 = (r50->forward(x) - io_file.tensors.at("resnet50")).abs().max().item<double>();
  const double d50f = (r50->forward_features(x) - io_file.tensors.at("resnet50_features")).abs().max().item<double>();
  EXPECT_LT(d50, 1e-4);
  EXPECT_LT(d50f, 1e-4);
  std::cout << "  max |pesuite - PyTorch|: resnet18 logits " << d18 << " (of max " << ref18.abs().max().item<double>()
            << "), resnet50 logits " << d50 << ", resnet50 features " << d50f << "\n";
  // The running statistics and counters came across too (eval-mode BatchNorm depends on them).
  const auto s50 = core::module_state(*r50);
  EXPECT_GT(s50.at("layer3.2.bn1.num_batches_tracked").item<int64_t>(), 0);

  // The same weights load strictly into a feature extractor only after fc is excluded.
  auto trunk = vision::create_resnet("resnet50", [](vision::ResNetOptions& o) { o.num_classes(0); });
  expect_input_error([&] { core::load_module(dir / "resnet50.safetensors", *trunk); }, {"resnet50.safetensors", "fc."});
  ASSERT_EQ(run(convert + "'" + (dir / "resnet50.pth") + "' '" + (dir / "trunk.safetensors") + "' --exclude '^fc\\.'", log), 0) << slurp(log);
  core::load_module(dir / "trunk.safetensors", *trunk);
  trunk->eval();
  EXPECT_LT((trunk->forward(x) - io_file.tensors.at("resnet50_features")).abs().max().item<double>(), 1e-4);
}

TEST(ResNet, MisShapedMissingOrExtraTensorIsNamed) {
  TempDir dir;
  auto net = vision::create_resnet("resnet18", [](vision::ResNetOptions& o) { o.num_classes(66); });
  core::TensorMap state = core::module_state(*net);
  auto bad = state;
  bad["layer3.1.bn2.running_var"] = torch::ones({255});
  core::save_safetensors(dir / "bad.safetensors", bad);
  expect_input_error([&] { core::load_module(dir / "bad.safetensors", *net); },
                     {"bad.safetensors", "layer3.1.bn2.running_var", "[255]", "[256]"});
  auto missing = state;
  missing.erase("layer2.0.downsample.1.weight");
  core::save_safetensors(dir / "missing.safetensors", missing);
  expect_input_error([&] { core::load_module(dir / "missing.safetensors", *net); }, {"layer2.0.downsample.1.weight", "missing"});
  auto extra = state;
  extra["fc_yaw.weight"] = torch::zeros({66, 512});  // a Hopenet head in a plain ResNet
  core::save_safetensors(dir / "extra.safetensors", extra);
  expect_input_error([&] { core::load_module(dir / "extra.safetensors", *net); }, {"fc_yaw.weight", "not in the model"});
}
