// The model registry over both frontends (experiments/models.h): every row builds from plain
// options and runs forward and backward at two input sizes, with finite gradients reaching its head.
#include <gtest/gtest.h>

#include <set>

#include "pesuite/core/error.h"
#include "pesuite/experiments/models.h"
#include "pesuite/graph/batch.h"
#include "pesuite/graph/gnn.h"
#include "pesuite/vision/clip.h"
#include "pesuite/vision/head_pose_heads.h"
#include "pesuite/vision/vit.h"
#include "pesuite/vision/vlm.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::experiments;

namespace {

// A ring of n nodes and a star of m leaves, as one batch with random features.
graph::GraphBatch ring_and_star(graph::Index n, graph::Index m, std::int64_t in_dim, std::int64_t edge_dim) {
  std::vector<std::pair<graph::Index, graph::Index>> ring, star;
  for (graph::Index i = 0; i < n; ++i) ring.push_back({i, (i + 1) % n});
  for (graph::Index i = 1; i <= m; ++i) star.push_back({0, i});
  const graph::Graph a = graph::Graph::from_pairs(n, ring), b = graph::Graph::from_pairs(m + 1, star);
  auto batch = graph::make_batch({&a, &b});
  batch.x = torch::randn({batch.x.size(0), in_dim});
  batch.edge_attr = torch::randn({batch.edge_index.size(1), edge_dim});
  return batch;
}

void expect_trainable(torch::nn::Module& m, const torch::Tensor& out, const std::string& what) {
  out.pow(2).mean().backward();
  int with_grad = 0;
  for (const auto& p : m.named_parameters()) {
    if (!p.value().grad().defined()) continue;
    ++with_grad;
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << what << ": " << p.key();
  }
  EXPECT_GT(with_grad, 0) << what;
  m.zero_grad();
}

}  // namespace

TEST(Models, EveryRowBuildsAndTrainsAtTwoSizes) {
  ASSERT_FALSE(models().empty());
  std::set<std::string> frontends;
  for (const auto& row : models()) {
    frontends.insert(row.frontend);
    torch::manual_seed(0);
    if (row.pipeline == "headpose") {
      // A head-pose model: ResNet rows as they are, ViT rows narrowed; two input sizes each.
      const bool vit = row.name.size() > 4 && row.name.compare(row.name.size() - 4, 4, "-vit") == 0;
      ModelOptions o{{"img_size", "48"}, {"alpha", "2"}};
      if (vit) o.insert({{"backbone", "cpvt_tiny"}, {"pe", "peg"}, {"dim", "32"}, {"depth", "2"}, {"heads", "2"}});
      auto module = create_model(row.name, o);
      auto* net = dynamic_cast<vision::HeadPoseNetImpl*>(module.get());
      ASSERT_NE(net, nullptr) << row.name;
      const std::int64_t width = net->options().head() == "hopenet" ? 3 * vision::kHopenetBins : net->options().head() == "6d" ? 6 : 4;
      for (const std::int64_t s : {32, 48}) {
        auto y = net->forward(torch::randn({2, 3, s, s}));
        ASSERT_EQ(y.numel(), 2 * width) << row.name << " at " << s;
        auto l = net->loss(y, torch::tensor({{10.0f, -20.0f, 5.0f}, {-40.0f, 15.0f, 0.0f}}));
        l.total.backward();
        int with_grad = 0;
        for (const auto& p : net->named_parameters()) {
          if (!p.value().grad().defined()) continue;
          ++with_grad;
          EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << row.name << ": " << p.key();
        }
        EXPECT_GT(with_grad, 0) << row.name;
        net->zero_grad();
      }
    } else if (row.pipeline == "clip") {
      // A narrow, shallow CLIP of the row's patch: image and text towers, logits at two input sizes.
      auto module = create_model(row.name, {{"embed_dim", "16"}, {"vision_width", "32"}, {"vision_layers", "2"}, {"vision_heads", "2"},
                                            {"text_width", "32"}, {"text_layers", "1"}, {"text_heads", "2"}, {"context_length", "8"}});
      auto* clip = dynamic_cast<vision::ClipImpl*>(module.get());
      ASSERT_NE(clip, nullptr) << row.name;
      const auto p = clip->options.patch_size();
      auto tokens = torch::randint(1, 1000, {3, 8}, torch::kInt64);
      tokens.select(1, 7).fill_(49407);
      for (const auto s : {2 * p, 3 * p}) {
        auto out = clip->forward(torch::randn({2, 3, s, s}), tokens);
        ASSERT_EQ(out.logits_per_image.sizes(), (std::vector<std::int64_t>{2, 3})) << row.name << " at " << s;
        expect_trainable(*clip, out.logits_per_image, row.name + " at " + std::to_string(s));
      }
    } else if (row.pipeline == "vlm") {
      // A narrow VLM of the row's image size and patch: logits for two text lengths, one image per row.
      auto module = create_model(row.name, {{"vocab_size", "40"}, {"latents", "4"}, {"lm_width", "32"}, {"lm_layers", "2"}, {"lm_heads", "2"}});
      auto* vlm = dynamic_cast<vision::VlmImpl*>(module.get());
      ASSERT_NE(vlm, nullptr) << row.name;
      const auto s = vlm->options.image_size();
      for (const std::int64_t T : {3, 9}) {
        auto ids = torch::randint(3, 40, {2, T}, torch::kInt64);
        ids.select(1, 0).fill_(vision::VlmVocab::kImage);
        auto y = vlm->forward(torch::randn({2, 3, s, s}), ids);
        ASSERT_EQ(y.sizes(), (std::vector<std::int64_t>{2, T, 40})) << row.name << " at " << T;
        expect_trainable(*vlm, y, row.name + " at " + std::to_string(T));
      }
    } else if (row.frontend == "vision") {
      // A narrow, shallow model of the row's recipe (its patch, channels, encoding and pooling).
      auto module = create_model(row.name, {{"dim", "32"}, {"depth", "6"}, {"heads", "2"}, {"num_classes", "3"}});
      auto* vit = dynamic_cast<vision::ViTImpl*>(module.get());
      ASSERT_NE(vit, nullptr) << row.name;
      const auto p = vit->options.patch_size(), side = vit->options.img_size();
      for (const auto s : {side, side + 2 * p}) {
        auto y = vit->forward(torch::randn({2, vit->options.in_chans(), s, s}));
        ASSERT_EQ(y.sizes(), (std::vector<std::int64_t>{2, 3})) << row.name << " at " << s;
        expect_trainable(*vit, y, row.name + " at " + std::to_string(s));
      }
    } else {
      ASSERT_EQ(row.frontend, "graph");
      auto module = create_model(row.name, {{"in_dim", "3"}, {"edge_dim", "2"}, {"out_dim", "2"}, {"hidden", "16"}, {"layers", "2"},
                                            {"heads", "2"}, {"pe", "none"}});
      auto* gnn = dynamic_cast<graph::GraphModelImpl*>(module.get());
      ASSERT_NE(gnn, nullptr) << row.name;
      for (const auto& [n, m] : {std::pair<graph::Index, graph::Index>{5, 3}, {11, 7}}) {
        auto y = gnn->forward(ring_and_star(n, m, 3, 2));
        ASSERT_EQ(y.sizes(), (std::vector<std::int64_t>{2, 2})) << row.name;
        expect_trainable(*gnn, y, row.name + " on graphs of " + std::to_string(n) + " and " + std::to_string(m + 1));
      }
    }
  }
  EXPECT_EQ(frontends, (std::set<std::string>{"vision", "graph"}));
}

TEST(Models, OptionsAreCheckedAgainstTheRow) {
  auto error_of = [](const std::string& name, const ModelOptions& o) {
    try {
      create_model(name, o);
    } catch (const core::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("vit9000", {}).find("model 'vit9000' is unknown (valid: "), std::string::npos);
  EXPECT_NE(error_of("cpvt_tiny", {{"widht", "3"}}).find("unknown parameter 'widht'"), std::string::npos);
  EXPECT_NE(error_of("gine", {{"in_dim", "x"}}).find("'in_dim' must be an integer"), std::string::npos);
  EXPECT_NE(error_of("gps", {{"pe", "lap:k=0"}}).find("'k' must be >= 1"), std::string::npos);
  EXPECT_NE(error_of("hopenet-vit", {{"backbone", "resnet50"}}).find("use the row hopenet-resnet50"), std::string::npos);
  EXPECT_NE(error_of("6d-resnet18", {{"pe", "peg"}}).find("unknown parameter 'pe'"), std::string::npos);
}
