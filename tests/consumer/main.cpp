// Uses every library it links (CMakeLists.txt: heads, graph, datasets, vision, experiments; core
// through them) through the installed package, as a downstream project would, and checks what
// each returns.
#include <iostream>

#include "pesuite/core/config.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/spec.h"
#include "pesuite/experiments/models.h"
#include "pesuite/graph/graph.h"
#include "pesuite/graph/pe.h"
#include "pesuite/heads/pe_registry.h"
#include "pesuite/vision/vit.h"

#define CHECK(cond)                                          \
  do {                                                       \
    if (!(cond)) {                                           \
      std::cerr << "consumer: failed: " #cond "\n";          \
      return 1;                                              \
    }                                                        \
  } while (0)

int main() {
  // core: tensor files and configs.
  auto bytes = pesuite::core::serialize_safetensors({{"x", torch::arange(4)}});
  auto back = pesuite::core::parse_safetensors(bytes, "memory");
  CHECK(torch::equal(back.tensors.at("x"), torch::arange(4)));
  auto cfg = pesuite::core::Config::from_toml_string("[a]\nb = 1\n", "consumer");
  cfg.apply_set("a.b=2");
  CHECK(cfg.get_int("a.b") == 2);
  // heads: a registry PE, used as a token encoding of a 4x4 grid.
  pesuite::heads::PeShape shape;
  shape.dim = 8, shape.heads = 2, shape.grid_h = 4, shape.grid_w = 4;
  auto pe = pesuite::heads::create_pe("sincos2d", shape);
  CHECK(pe.token != nullptr && pe.term == nullptr);
  // datasets: the spec parser and a generated graph dataset (CSL: 10 classes of 41-node cycles with skips).
  auto spec = pesuite::datasets::parse_spec("csl:?seed=3&per_class=2");
  CHECK(spec.get_int("seed") == 3);
  auto csl = pesuite::datasets::load_graph_dataset(spec);
  CHECK(csl.graphs.size() == 20u && csl.num_classes == 10);
  // graph: a Laplacian encoding of a 4-cycle (k=2 columns per node).
  auto ring = pesuite::graph::Graph::from_pairs(4, {{0, 1}, {1, 2}, {2, 3}, {3, 0}});
  auto lap = pesuite::graph::pe::compute(ring, pesuite::graph::pe::parse_pe_spec("lap:k=2"));
  CHECK(lap.tensors.size() >= 1 && lap.tensors[0].values.size() == 8u);
  // vision: a small ViT's logits.
  pesuite::vision::ViT vit(pesuite::vision::ViTOptions().img_size(16).patch_size(4).in_chans(1).dim(16).depth(1).heads(2).num_classes(3).pe("peg"));
  vit->eval();
  CHECK(vit(torch::randn({1, 1, 16, 16})).sizes() == torch::IntArrayRef({1, 3}));
  // experiments: the model registry over both frontends builds a graph model.
  CHECK(!pesuite::experiments::models().empty());
  auto gnn = pesuite::experiments::create_model("gine", {{"in_dim", "4"}, {"out_dim", "2"}});
  CHECK(gnn != nullptr && !gnn->parameters().empty());
  std::cout << "consumer ok\n";
  return 0;
}
