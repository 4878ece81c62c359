// OGB graph-property raw layout: raw/*.csv.gz (graphs concatenated, node ids local to each graph,
// one direction per edge) and split/<name>/{train,valid,test}.csv.gz (graph indices).
#include <cmath>
#include <filesystem>

#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/text_source.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

namespace fs = std::filesystem;

namespace {
TextFile open_csv(const fs::path& dir, const std::string& stem) {
  for (const char* ext : {".csv.gz", ".csv"}) {
    const fs::path p = dir / (stem + ext);
    if (fs::exists(p)) return read_text_file(p.string());
  }
  throw core::InputError(core::where((dir / (stem + ".csv.gz")).string()) + ": file is missing");
}
bool has_csv(const fs::path& dir, const std::string& stem) {
  return fs::exists(dir / (stem + ".csv.gz")) || fs::exists(dir / (stem + ".csv"));
}
std::vector<std::int64_t> int_column(const TextFile& f) {
  std::vector<std::int64_t> v;
  LineCursor c(f.name, f.data);
  while (c.next()) v.push_back(c.ints(',', 1)[0]);
  return v;
}
}  // namespace

GraphDataset load_ogb(const DatasetSpec& spec) {
  const fs::path root(spec.path);
  const fs::path raw = root / "raw";
  if (!fs::is_directory(raw)) throw core::InputError(core::where(spec.path) + ": no raw/ folder (not an OGB dataset folder)");
  GraphDataset ds;
  ds.name = root.filename().string();
  if (ds.name.empty()) ds.name = root.parent_path().filename().string();

  const TextFile nn_file = open_csv(raw, "num-node-list"), ne_file = open_csv(raw, "num-edge-list");
  const auto num_nodes = int_column(nn_file), num_edges = int_column(ne_file);
  const auto G = static_cast<std::int64_t>(num_nodes.size());
  if (static_cast<std::int64_t>(num_edges.size()) != G)
    throw core::InputError(core::where(ne_file.name, static_cast<std::int64_t>(num_edges.size())) + ": " + std::to_string(num_edges.size()) +
                     " graphs, but num-node-list has " + std::to_string(G));
  std::int64_t N = 0, E = 0;
  for (auto n : num_nodes) N += n;
  for (auto e : num_edges) E += e;

  // Reads one csv with `expected` lines as rows of doubles (features) checking a constant width.
  auto rows = [&](const std::string& stem, std::int64_t expected, std::size_t& width) {
    const TextFile f = open_csv(raw, stem);
    std::vector<double> out;
    LineCursor c(f.name, f.data);
    std::int64_t n = 0;
    width = 0;
    while (c.next()) {
      const auto r = c.doubles(',', width);
      if (width == 0) width = r.size();
      out.insert(out.end(), r.begin(), r.end());
      ++n;
    }
    if (n != expected)
      throw core::InputError(core::where(f.name, c.line()) + ": " + std::to_string(n) + " lines, expected " + std::to_string(expected));
    return out;
  };

  // Edges.
  const TextFile e_file = open_csv(raw, "edge");
  std::vector<std::vector<graph::EdgeInput>> edges(static_cast<std::size_t>(G));
  {
    LineCursor c(e_file.name, e_file.data);
    std::int64_t g = 0, left = G > 0 ? num_edges[0] : 0;
    while (c.next()) {
      while (g < G && left == 0) left = ++g < G ? num_edges[static_cast<std::size_t>(g)] : 0;
      if (g >= G) c.fail("more edges than num-edge-list.csv.gz declares (" + std::to_string(E) + ")");
      const auto f = c.ints(',', 2);
      const auto n = num_nodes[static_cast<std::size_t>(g)];
      for (auto id : f)
        if (id < 0 || id >= n)
          c.fail("node id " + std::to_string(id) + " out of range 0.." + std::to_string(n - 1) + " of graph " + std::to_string(g));
      edges[static_cast<std::size_t>(g)].push_back({f[0], f[1], 1.0});
      --left;
    }
    std::int64_t got = 0;
    for (auto& v : edges) got += static_cast<std::int64_t>(v.size());
    if (got != E)
      throw core::InputError(core::where(e_file.name, c.line()) + ": " + std::to_string(got) + " edges, num-edge-list declares " + std::to_string(E));
  }
  std::size_t nf_dim = 0, ef_dim = 0, y_dim = 0;
  std::vector<double> nfeat, efeat;
  if (has_csv(raw, "node-feat")) nfeat = rows("node-feat", N, nf_dim);
  if (has_csv(raw, "edge-feat")) efeat = rows("edge-feat", E, ef_dim);
  const std::vector<double> y = rows("graph-label", G, y_dim);

  // Single integral column -> classification (ogbg-molhiv); otherwise regression / multi-task
  // targets kept as doubles (NaN = missing label, as OGB writes them).
  bool integral = y_dim == 1;
  for (double v : y) integral = integral && std::isfinite(v) && v == std::floor(v) && v >= 0;
  std::int64_t noff = 0, eoff = 0;
  ds.graphs.resize(static_cast<std::size_t>(G));
  for (std::int64_t g = 0; g < G; ++g) {
    const auto n = num_nodes[static_cast<std::size_t>(g)];
    auto& gr = ds.graphs[static_cast<std::size_t>(g)];
    gr = graph::Graph::from_edges(n, edges[static_cast<std::size_t>(g)], false, true);
    const auto ne = static_cast<std::int64_t>(edges[static_cast<std::size_t>(g)].size());
    if (!nfeat.empty()) {
      gr.node_feature_dim = static_cast<graph::Index>(nf_dim);
      gr.node_features.assign(nfeat.begin() + noff * static_cast<std::int64_t>(nf_dim), nfeat.begin() + (noff + n) * static_cast<std::int64_t>(nf_dim));
    }
    if (!efeat.empty()) {
      gr.edge_feature_dim = static_cast<graph::Index>(ef_dim);
      gr.edge_features.assign(efeat.begin() + eoff * static_cast<std::int64_t>(ef_dim), efeat.begin() + (eoff + ne) * static_cast<std::int64_t>(ef_dim));
    }
    gr.graph_targets.assign(y.begin() + g * static_cast<std::int64_t>(y_dim), y.begin() + (g + 1) * static_cast<std::int64_t>(y_dim));
    if (integral) gr.graph_label = static_cast<std::int64_t>(gr.graph_targets[0]);
    noff += n;
    eoff += ne;
  }
  if (integral) {
    ds.task = "graph_classification";
    for (auto& gr : ds.graphs) ds.num_classes = std::max(ds.num_classes, gr.graph_label + 1);
    for (std::int64_t c = 0; c < ds.num_classes; ++c) ds.class_names.push_back(std::to_string(c));
  } else {
    ds.task = "graph_regression";
    ds.metric = "rmse";  // OGB's evaluator for its regression sets (ogbg-molesol, -molfreesolv, -mollipo)
    for (std::size_t j = 0; j < y_dim; ++j) ds.target_names.push_back("task" + std::to_string(j));
  }
  ds.categorical_features = true;  // OGB stores atom / bond categories as integer codes

  // Split (graph indices); missing split folder is fine unless a subset was asked for.
  const fs::path split_dir = root / "split" / spec.get("split");
  for (const char* part : {"train", "valid", "test"}) {
    if (!has_csv(split_dir, part)) continue;
    const TextFile f = open_csv(split_dir, part);
    LineCursor c(f.name, f.data);
    auto& idx = ds.splits[part];
    while (c.next()) {
      const auto i = c.ints(',', 1)[0];
      if (i < 0 || i >= G) c.fail("graph index " + std::to_string(i) + " out of range 0.." + std::to_string(G - 1));
      idx.push_back(i);
    }
  }
  if (spec.has("subset")) {
    const std::string subset = spec.get("subset");
    auto it = ds.splits.find(subset);
    if (it == ds.splits.end())
      throw core::InputError(core::where(split_dir.string()) + ": split part '" + subset + "' is missing (expected train|valid|test .csv.gz)");
    std::vector<graph::Graph> kept;
    for (auto i : it->second) kept.push_back(ds.graphs[static_cast<std::size_t>(i)]);
    ds.graphs = std::move(kept);
    ds.notes["subset"] = subset + " of split " + spec.get("split") + " (" + std::to_string(ds.graphs.size()) + " graphs)";
    ds.splits.clear();
  }
  return ds;
}

}  // namespace pesuite::datasets
