// Rows of `pesuite list pes` and `pesuite list models`, straight from the registries, so that the
// listing and what the configs accept never disagree.
#include "cli.h"

#include "pesuite/experiments/models.h"
#include "pesuite/graph/pe.h"
#include "pesuite/heads/pe_registry.h"

namespace pesuite::cli {
namespace {

std::string defaults(const std::vector<core::ParamInfo>& params) {
  std::string out;
  for (const auto& p : params) out += (out.empty() ? "" : ", ") + p.with_default();
  return out;
}

}  // namespace

std::vector<CatalogueEntry> pe_catalogue() {
  std::vector<CatalogueEntry> rows;
  // Attention / token encodings (vision model.pe): pesuite::heads' registry.
  for (const auto& info : heads::list_pes()) rows.push_back({info.name, info.kind, defaults(info.params), info.help});
  // Graph encodings (graph model.pe, `pesuite graph pe --pe`): pesuite::graph's registry.
  for (const auto& row : graph::pe::rows()) {
    auto keys = row.keys;
    keys.insert(keys.end(), row.encoder_keys.begin(), row.encoder_keys.end());
    std::string help = row.help;
    if (!row.computes.empty()) help += " (reads " + row.computes + "'s computation)";
    if (!row.encoder && row.compute) help += " (precomputation only: no model encoder)";
    rows.push_back({row.name, "graph", defaults(keys), help});
  }
  return rows;
}

std::vector<CatalogueEntry> model_catalogue() {
  std::vector<CatalogueEntry> rows;
  for (const auto& m : experiments::models())
    rows.push_back({m.name, m.frontend,
                    m.pipeline == "clip" ? "CLIP (clip train)" : m.frontend == "vision" ? "pe=<any attention/token PE>" : "pe=<any graph encoding>",
                    m.help});
  return rows;
}

}  // namespace pesuite::cli
