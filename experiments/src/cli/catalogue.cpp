// Rows of `pesuite list pes` and `pesuite list models`. Each frontend contributes its registry here.
#include "cli.h"

#include <map>

#include "pesuite/graph/gnn.h"
#include "pesuite/graph/pe.h"
#include "pesuite/heads/pe_registry.h"
#include "pesuite/vision/vit.h"

namespace pesuite::cli {

std::vector<CatalogueEntry> pe_catalogue() {
  std::vector<CatalogueEntry> rows;
  // Attention / token encodings: straight from pesuite::heads' registry (create_pe specs).
  for (const auto& info : heads::list_pes()) {
    std::string params;
    for (const auto& p : info.params) params += (params.empty() ? "" : ", ") + p.key + "=" + p.default_value;
    rows.push_back({info.name, info.kind, params, info.help});
  }
  // Graph encodings: straight from pesuite::graph::pe's registry, so the two never disagree.
  for (const auto& info : graph::pe::pe_table()) {
    std::string params;
    for (const auto& k : info.keys) params += (params.empty() ? "" : ", ") + k.name + "=" + k.default_value;
    rows.push_back({info.name, "graph", params, info.help});
  }
  return rows;
}

std::vector<CatalogueEntry> model_catalogue() {
  std::vector<CatalogueEntry> rows;
  // Vision transformers (pesuite::vision::create_vit); the encoding is chosen with model.pe.
  for (const auto& info : vision::list_vit_models()) rows.push_back({info.name, "vit", "pe=<any attention/token PE>", info.help});
  // GNNs and graph transformers (pesuite::graph::GraphModel); the encoding is chosen with model.encoder.
  std::string encoders;
  for (const auto& e : graph::list_graph_encoders()) encoders += (encoders.empty() ? "" : "|") + e;
  const std::map<std::string, std::string> gnn_help = {
      {"gine", "GINE message passing (Hu et al. 2020), edge features"},
      {"gatedgcn", "residual gated graph convnet (Bresson & Laurent), edge gates"},
      {"gps", "GPS layer: local GINE + global multi-head attention + MLP (Rampasek et al. 2022)"}};
  for (const auto& m : graph::list_graph_models()) {
    auto it = gnn_help.find(m);
    rows.push_back({m, "gnn", "encoder=" + encoders, it == gnn_help.end() ? "" : it->second});
  }
  return rows;
}

}  // namespace pesuite::cli
