// `pesuite data inspect` for graph formats.
#include <algorithm>
#include <map>

#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/inspect.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

nlohmann::json inspect_graph_dataset(const DatasetSpec& spec, const InspectOptions& options) {
  const GraphDataset ds = load_graph_dataset(spec);
  nlohmann::json j;
  j["name"] = ds.name;
  j["task"] = ds.task;
  j["graphs"] = ds.graphs.size();
  std::int64_t nodes = 0, edges = 0, isolated = 0, components = 0, disconnected = 0;
  std::int64_t min_n = INT64_MAX, max_n = 0;
  std::map<std::string, std::int64_t> labels;
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < ds.graphs.size(); ++i) {
    const auto& g = ds.graphs[i];
    const auto iso = graph::count_isolated(g);
    const auto comp = graph::connected_components(g).count;
    nodes += g.num_nodes;
    edges += g.num_edges();
    isolated += iso;
    components += comp;
    disconnected += comp > 1;
    min_n = std::min(min_n, g.num_nodes);
    max_n = std::max(max_n, g.num_nodes);
    if (ds.task == "graph_classification" && g.graph_label >= 0)
      ++labels[static_cast<std::size_t>(g.graph_label) < ds.class_names.size() ? ds.class_names[static_cast<std::size_t>(g.graph_label)]
                                                                              : std::to_string(g.graph_label)];
    if (ds.task == "node_classification")
      for (auto l : g.node_labels)
        ++labels[static_cast<std::size_t>(l) < ds.class_names.size() ? ds.class_names[static_cast<std::size_t>(l)] : std::to_string(l)];
    if (options.items)
      items.push_back({{"index", i}, {"nodes", g.num_nodes}, {"edges", g.num_edges()}, {"isolated", iso},
                       {"components", comp}, {"label", g.graph_label}});
  }
  j["nodes"] = nodes;
  j["edges"] = edges;
  if (!ds.graphs.empty()) {
    j["nodes_per_graph"] = {{"min", min_n}, {"mean", static_cast<double>(nodes) / static_cast<double>(ds.graphs.size())}, {"max", max_n}};
  }
  j["isolated_nodes"] = isolated;
  j["components"] = components;
  j["disconnected_graphs"] = disconnected;
  if (ds.num_classes > 0) j["classes"] = ds.num_classes;
  if (!labels.empty()) j["label_distribution"] = labels;
  if (!ds.target_names.empty()) j["targets"] = ds.target_names;
  const auto& g0 = ds.graphs.empty() ? graph::Graph{} : ds.graphs.front();
  if (g0.node_feature_dim) j["node_feature_dim"] = g0.node_feature_dim;
  if (g0.edge_feature_dim) j["edge_feature_dim"] = g0.edge_feature_dim;
  j["node_labels"] = !g0.node_labels.empty();
  j["edge_labels"] = !g0.edge_labels.empty();
  if (!ds.splits.empty()) {
    nlohmann::json s;
    for (const auto& [k, v] : ds.splits) s[k] = v.size();
    j["splits"] = s;
  }
  for (const auto& [k, v] : ds.notes) j["notes"][k] = v;
  if (options.items) j["items"] = items;
  return j;
}

}  // namespace pesuite::datasets
