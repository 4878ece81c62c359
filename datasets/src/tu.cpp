// TU Dortmund format (https://chrsmrrs.github.io/datasets/docs/format/): comma-separated text,
// 1-based node and graph ids, one zip or folder per dataset.
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <unordered_set>

#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/text_source.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

namespace fs = std::filesystem;

namespace {

// Files of one dataset, from the official zip ("DS//DS_A.txt") or a folder (DS/DS_A.txt or flat).
class TuSource {
 public:
  TuSource(const std::string& path, std::string name) : name_(std::move(name)) {
    if (fs::is_directory(path)) {
      dir_ = path;
      if (name_.empty()) name_ = fs::path(path).filename().string();
      if (!fs::exists(fs::path(dir_) / (name_ + "_A.txt")) && fs::exists(fs::path(dir_) / name_ / (name_ + "_A.txt")))
        dir_ = (fs::path(dir_) / name_).string();
    } else {
      zip_ = std::make_unique<ZipArchive>(path);
      if (name_.empty()) {
        const std::string a = zip_->find_suffix("_A.txt");
        if (a.empty()) throw core::InputError(core::where(path) + ": no member *_A.txt (not a TU dataset zip)");
        const std::string base = a.substr(a.find_last_of('/') + 1);
        name_ = base.substr(0, base.size() - 6);
      }
    }
  }
  const std::string& name() const { return name_; }
  std::string member(const std::string& suffix) const {  // "" when absent
    const std::string file = name_ + "_" + suffix + ".txt";
    if (zip_) return zip_->find_suffix(file);
    const fs::path p = fs::path(dir_) / file;
    return fs::exists(p) ? p.string() : "";
  }
  bool has(const std::string& suffix) const { return !member(suffix).empty(); }
  TextFile read(const std::string& suffix) const {
    const std::string m = member(suffix);
    if (m.empty())
      throw core::InputError(core::where(zip_ ? zip_->path() : dir_) + ": " + (zip_ ? "zip member" : "file") + " '" + name_ + "_" +
                       suffix + ".txt' is missing");
    return zip_ ? zip_->read(m) : read_text_file(m);
  }

 private:
  std::string name_, dir_;
  std::unique_ptr<ZipArchive> zip_;
};

// One value (or row of values) per line; the line count must equal `expected` when > 0.
std::vector<std::vector<double>> read_rows(const TextFile& f, std::int64_t expected, const std::string& what) {
  std::vector<std::vector<double>> rows;
  LineCursor c(f.name, f.data);
  std::size_t width = 0;
  while (c.next()) {
    auto r = c.doubles(',');
    if (width == 0) width = r.size();
    else if (r.size() != width) c.fail("expected " + std::to_string(width) + " columns, got " + std::to_string(r.size()));
    rows.push_back(std::move(r));
  }
  if (expected > 0 && static_cast<std::int64_t>(rows.size()) != expected)
    throw core::InputError(core::where(f.name, c.line()) + ": " + std::to_string(rows.size()) + " " + what + " lines, expected " +
                     std::to_string(expected));
  return rows;
}

std::vector<std::int64_t> read_int_column(const TextFile& f, std::int64_t expected, const std::string& what) {
  std::vector<std::int64_t> out;
  LineCursor c(f.name, f.data);
  while (c.next()) out.push_back(c.ints(',')[0]);  // extra label columns (rare) ignored: first one used
  if (expected > 0 && static_cast<std::int64_t>(out.size()) != expected)
    throw core::InputError(core::where(f.name, c.line()) + ": " + std::to_string(out.size()) + " " + what + " lines, expected " +
                     std::to_string(expected));
  return out;
}

}  // namespace

GraphDataset load_tu(const DatasetSpec& spec) {
  TuSource src(spec.path, spec.get("name"));
  GraphDataset ds;
  ds.name = src.name();

  // Graph of each node.
  const TextFile ind_file = src.read("graph_indicator");
  std::vector<std::int64_t> node_graph;
  {
    LineCursor c(ind_file.name, ind_file.data);
    while (c.next()) {
      const auto g = c.ints(',', 1)[0];
      if (g < 1) c.fail("graph id " + std::to_string(g) + " out of range (ids are 1-based)");
      node_graph.push_back(g - 1);
    }
  }
  const auto N = static_cast<std::int64_t>(node_graph.size());
  std::int64_t G = 0;
  for (auto g : node_graph) G = std::max(G, g + 1);
  // Graph ids number the graphs 1..G, each with at least one node in practice: more graphs than
  // nodes is not a TU file (and would have us allocate per-graph tables for ids nobody uses).
  if (G > N)
    throw core::InputError(core::where(ind_file.name) + ": graph ids go up to " + std::to_string(G) + " but there are only " +
                           std::to_string(N) + " nodes");
  std::vector<std::int64_t> local(static_cast<std::size_t>(N)), count(static_cast<std::size_t>(G), 0);
  for (std::int64_t i = 0; i < N; ++i) local[static_cast<std::size_t>(i)] = count[static_cast<std::size_t>(node_graph[static_cast<std::size_t>(i)])]++;

  // Edges (1-based node ids, both directions listed for undirected data).
  const TextFile a_file = src.read("A");
  struct Arc {
    std::int64_t u, v;
  };
  std::vector<Arc> arcs;
  {
    LineCursor c(a_file.name, a_file.data);
    while (c.next()) {
      const auto f = c.ints(',', 2);
      for (auto id : f)
        if (id < 1 || id > N) c.fail("node id " + std::to_string(id) + " out of range 1.." + std::to_string(N));
      const std::int64_t u = f[0] - 1, v = f[1] - 1;
      if (node_graph[static_cast<std::size_t>(u)] != node_graph[static_cast<std::size_t>(v)])
        c.fail("edge joins nodes of different graphs (" + std::to_string(f[0]) + ", " + std::to_string(f[1]) + ")");
      arcs.push_back({u, v});
    }
  }
  const auto E = static_cast<std::int64_t>(arcs.size());

  // Undirected data lists both directions; if any arc lacks its reverse, treat lines as undirected
  // edges and keep each unordered pair once.
  std::unordered_set<std::int64_t> seen;
  seen.reserve(arcs.size() * 2);
  for (const auto& a : arcs) seen.insert(a.u * N + a.v);
  bool symmetric = true;
  for (const auto& a : arcs)
    if (!seen.count(a.v * N + a.u)) {
      symmetric = false;
      break;
    }

  // Optional per-node / per-edge / per-graph files.
  std::vector<std::int64_t> node_labels, edge_labels;
  std::vector<std::vector<double>> node_attr, edge_attr, graph_attr;
  if (src.has("node_labels")) node_labels = read_int_column(src.read("node_labels"), N, "node label");
  if (spec.get_bool("node_attr") && src.has("node_attributes")) node_attr = read_rows(src.read("node_attributes"), N, "node attribute");
  if (src.has("edge_labels")) edge_labels = read_int_column(src.read("edge_labels"), E, "edge label");
  if (src.has("edge_attributes")) edge_attr = read_rows(src.read("edge_attributes"), E, "edge attribute");
  std::vector<std::int64_t> graph_labels;
  if (src.has("graph_labels")) {
    graph_labels = read_int_column(src.read("graph_labels"), G, "graph label");
  } else if (src.has("graph_attributes")) {
    graph_attr = read_rows(src.read("graph_attributes"), G, "graph attribute");
  } else {
    throw core::InputError(core::where(spec.path) + ": neither " + ds.name + "_graph_labels.txt nor " + ds.name +
                     "_graph_attributes.txt is present");
  }

  // Classes as PyG does: sorted unique label values -> 0..C-1 (MUTAG's -1/1 become 0/1).
  std::int64_t node_label_min = 0;
  if (!node_labels.empty()) node_label_min = *std::min_element(node_labels.begin(), node_labels.end());
  std::int64_t edge_label_min = 0;
  if (!edge_labels.empty()) edge_label_min = *std::min_element(edge_labels.begin(), edge_labels.end());
  std::map<std::int64_t, std::int64_t> classes;
  for (auto l : graph_labels) classes.emplace(l, 0);
  std::int64_t ci = 0;
  for (auto& [value, index] : classes) {
    index = ci++;
    ds.class_names.push_back(std::to_string(value));
  }

  // Group edges by graph, in file order.
  std::vector<std::vector<graph::EdgeInput>> g_edges(static_cast<std::size_t>(G));
  std::vector<std::vector<std::int64_t>> g_edge_line(static_cast<std::size_t>(G));
  for (std::int64_t i = 0; i < E; ++i) {
    const auto& a = arcs[static_cast<std::size_t>(i)];
    if (!symmetric && a.u > a.v && seen.count(a.v * N + a.u)) continue;  // the pair's other line is kept
    const auto g = static_cast<std::size_t>(node_graph[static_cast<std::size_t>(a.u)]);
    g_edges[g].push_back({local[static_cast<std::size_t>(a.u)], local[static_cast<std::size_t>(a.v)], 1.0});
    g_edge_line[g].push_back(i);
  }
  ds.graphs.resize(static_cast<std::size_t>(G));
  std::vector<std::vector<std::int64_t>> g_nodes(static_cast<std::size_t>(G));
  for (std::int64_t i = 0; i < N; ++i) g_nodes[static_cast<std::size_t>(node_graph[static_cast<std::size_t>(i)])].push_back(i);
  for (std::size_t g = 0; g < static_cast<std::size_t>(G); ++g) {
    graph::Graph gr = graph::Graph::from_edges(count[g], g_edges[g], false, /*symmetrize=*/!symmetric);
    for (auto i : g_nodes[g]) {
      if (!node_labels.empty()) gr.node_labels.push_back(node_labels[static_cast<std::size_t>(i)] - node_label_min);
      if (!node_attr.empty()) {
        gr.node_feature_dim = static_cast<graph::Index>(node_attr[0].size());
        for (double x : node_attr[static_cast<std::size_t>(i)]) gr.node_features.push_back(static_cast<float>(x));
      }
    }
    for (auto line : g_edge_line[g]) {
      if (!edge_labels.empty()) gr.edge_labels.push_back(edge_labels[static_cast<std::size_t>(line)] - edge_label_min);
      if (!edge_attr.empty()) {
        gr.edge_feature_dim = static_cast<graph::Index>(edge_attr[0].size());
        for (double x : edge_attr[static_cast<std::size_t>(line)]) gr.edge_features.push_back(static_cast<float>(x));
      }
    }
    if (!graph_labels.empty()) gr.graph_label = classes[graph_labels[g]];
    if (!graph_attr.empty()) gr.graph_targets = graph_attr[g];
    ds.graphs[g] = std::move(gr);
  }
  if (!graph_labels.empty()) {
    ds.task = "graph_classification";
    ds.num_classes = static_cast<std::int64_t>(classes.size());
  } else {
    ds.task = "graph_regression";
    for (std::size_t j = 0; j < graph_attr[0].size(); ++j) ds.target_names.push_back("attr" + std::to_string(j));
  }
  if (count.empty() || std::find(count.begin(), count.end(), 0) != count.end())
    ds.notes["empty_graphs"] = "some graph ids in 1.." + std::to_string(G) + " have no nodes";
  return ds;
}

}  // namespace pesuite::datasets
