// LINQS citation graphs (Cora, CiteSeer): <name>.content = "paper_id f1 ... fK class" (tab
// separated), <name>.cites = "cited citing". From a zip, a folder or the .content path itself.
// The graph is made undirected (as PyG's Planetoid/CitationFull). Citations naming a paper that
// is not in .content (CiteSeer has some) are skipped and counted in notes.
#include <filesystem>
#include <map>
#include <memory>
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/text_source.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

namespace fs = std::filesystem;

GraphDataset load_linqs(const DatasetSpec& spec) {
  std::string name = spec.get("name");
  TextFile content, cites;
  const fs::path p(spec.path);
  if (fs::is_directory(p) || (p.extension() == ".content")) {
    fs::path dir = fs::is_directory(p) ? p : p.parent_path();
    if (!fs::is_directory(p)) name = p.stem().string();
    if (name.empty())
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".content") name = e.path().stem().string();
    if (name.empty()) throw core::InputError(core::where(spec.path) + ": no *.content file");
    if (!fs::exists(dir / (name + ".content")) && fs::exists(dir / name / (name + ".content"))) dir /= name;
    content = read_text_file((dir / (name + ".content")).string());
    cites = read_text_file((dir / (name + ".cites")).string());
  } else {
    ZipArchive zip(spec.path);
    std::string cm = name.empty() ? zip.find_suffix(".content") : zip.find_suffix(name + ".content");
    if (cm.empty()) throw core::InputError(core::where(spec.path) + ": zip member '" + (name.empty() ? "*" : name) + ".content' is missing");
    const std::string base = cm.substr(cm.find_last_of('/') + 1);
    name = base.substr(0, base.size() - 8);
    content = zip.read(cm);
    cites = zip.read(zip.find_suffix(name + ".cites").empty() ? name + ".cites" : zip.find_suffix(name + ".cites"));
  }
  GraphDataset ds;
  ds.name = name;
  ds.task = "node_classification";
  std::unordered_map<std::string, std::int64_t> id;
  std::vector<std::string> labels;
  std::vector<float> feats;
  std::size_t width = 0;
  {
    LineCursor c(content.name, content.data);
    while (c.next()) {
      const auto f = c.fields(' ', width);
      if (f.size() < 3) c.fail("expected paper id, features and a class, got " + std::to_string(f.size()) + " columns");
      if (width == 0) width = f.size();
      const std::string pid(f.front());
      if (!id.emplace(pid, static_cast<std::int64_t>(labels.size())).second) c.fail("paper id '" + pid + "' appears twice");
      for (std::size_t j = 1; j + 1 < f.size(); ++j) feats.push_back(static_cast<float>(c.to_double(f[j])));
      labels.emplace_back(f.back());
    }
  }
  const auto N = static_cast<std::int64_t>(labels.size());
  std::map<std::string, std::int64_t> classes;
  for (const auto& l : labels) classes.emplace(l, 0);
  for (auto& [n, i] : classes) {
    i = static_cast<std::int64_t>(ds.class_names.size());
    ds.class_names.push_back(n);
  }
  std::vector<graph::EdgeInput> edges;
  std::int64_t dangling = 0, duplicates = 0;
  std::unordered_set<std::int64_t> seen;
  {
    LineCursor c(cites.name, cites.data);
    while (c.next()) {
      const auto f = c.fields(' ', 2);
      auto a = id.find(std::string(f[0])), b = id.find(std::string(f[1]));
      if (a == id.end() || b == id.end()) {
        ++dangling;
        continue;
      }
      // Mutual citations (both directions listed) are one undirected edge.
      const auto lo = std::min(a->second, b->second), hi = std::max(a->second, b->second);
      if (seen.insert(lo * N + hi).second) edges.push_back({b->second, a->second, 1.0});  // citing -> cited
      else ++duplicates;
    }
  }
  graph::Graph g = graph::Graph::from_edges(N, edges, false, true);
  g.node_feature_dim = static_cast<graph::Index>(width - 2);
  g.node_features = std::move(feats);
  for (const auto& l : labels) g.node_labels.push_back(classes[l]);
  ds.graphs.push_back(std::move(g));
  ds.num_classes = static_cast<std::int64_t>(classes.size());
  if (duplicates) ds.notes["duplicate_citations_merged"] = std::to_string(duplicates);
  if (dangling) ds.notes["dangling_citations_skipped"] = std::to_string(dangling);
  return ds;
}

}  // namespace pesuite::datasets
