#include "pesuite/graph/batch.h"

#include <algorithm>

namespace pesuite::graph {

GraphBatch make_batch(const std::vector<const Graph*>& graphs, std::int64_t nl, std::int64_t el) {
  GraphBatch b;
  b.num_graphs = static_cast<std::int64_t>(graphs.size());
  std::int64_t N = 0, E = 0;
  bool feats = !graphs.empty(), labels = !graphs.empty(), efeats = !graphs.empty(), elabels = !graphs.empty();
  bool targets = !graphs.empty(), weighted = false;
  std::int64_t fdim = -1, edim = -1, tdim = -1;
  for (const Graph* g : graphs) {
    N += g->num_nodes;
    E += g->num_stored_edges();
    feats = feats && !g->node_features.empty() && (fdim < 0 || fdim == g->node_feature_dim);
    fdim = g->node_feature_dim;
    labels = labels && static_cast<Index>(g->node_labels.size()) == g->num_nodes;
    // A graph without edges (a single-atom molecule) says nothing about edge features.
    if (g->num_stored_edges() > 0) {
      efeats = efeats && !g->edge_features.empty() && (edim < 0 || edim == g->edge_feature_dim);
      edim = g->edge_feature_dim;
      elabels = elabels && !g->edge_labels.empty();
    }
    targets = targets && !g->graph_targets.empty() && (tdim < 0 || tdim == static_cast<std::int64_t>(g->graph_targets.size()));
    tdim = static_cast<std::int64_t>(g->graph_targets.size());
    weighted = weighted || g->has_weights();
    if (labels && nl <= 0)
      for (auto l : g->node_labels) nl = std::max(nl, l + 1);
    if (elabels && el <= 0 && g->num_stored_edges() > 0)
      for (auto l : g->edge_labels) el = std::max(el, l + 1);
  }
  if (edim < 0) efeats = elabels = false;  // no graph has an edge
  b.edge_index = torch::empty({2, E}, torch::kInt64);
  b.batch = torch::empty({N}, torch::kInt64);
  b.node_ptr = torch::empty({b.num_graphs + 1}, torch::kInt64);
  if (weighted) b.edge_weight = torch::empty({E}, torch::kFloat32);
  auto ei = b.edge_index.accessor<std::int64_t, 2>();
  auto bt = b.batch.accessor<std::int64_t, 1>();
  auto np = b.node_ptr.accessor<std::int64_t, 1>();
  b.x = feats ? torch::empty({N, fdim}, torch::kFloat32) : labels ? torch::zeros({N, nl}, torch::kFloat32) : torch::ones({N, 1});
  b.edge_attr = efeats ? torch::empty({E, edim}, torch::kFloat32)
                : elabels ? torch::zeros({E, el}, torch::kFloat32) : torch::empty({E, 0}, torch::kFloat32);
  std::int64_t off = 0, eoff = 0;
  for (std::size_t gi = 0; gi < graphs.size(); ++gi) {
    const Graph& g = *graphs[gi];
    np[static_cast<std::int64_t>(gi)] = off;
    for (Index u = 0; u < g.num_nodes; ++u) {
      bt[off + u] = static_cast<std::int64_t>(gi);
      if (feats)
        std::copy_n(&g.node_features[static_cast<std::size_t>(u * fdim)], fdim, b.x.data_ptr<float>() + (off + u) * fdim);
      else if (labels)
        b.x.data_ptr<float>()[(off + u) * nl + g.node_labels[static_cast<std::size_t>(u)]] = 1.f;
      for (Index e = g.row_begin(u); e < g.row_end(u); ++e, ++eoff) {
        ei[0][eoff] = off + u;
        ei[1][eoff] = off + g.col[static_cast<std::size_t>(e)];
        if (weighted) b.edge_weight.data_ptr<float>()[eoff] = static_cast<float>(g.weight(e));
        const auto src = static_cast<std::size_t>(g.edge_source[static_cast<std::size_t>(e)]);
        if (efeats)
          std::copy_n(&g.edge_features[src * static_cast<std::size_t>(edim)], edim, b.edge_attr.data_ptr<float>() + eoff * edim);
        else if (elabels)
          b.edge_attr.data_ptr<float>()[eoff * el + g.edge_labels[src]] = 1.f;
      }
    }
    off += g.num_nodes;
  }
  np[b.num_graphs] = off;
  if (targets) {
    b.y = torch::empty({b.num_graphs, tdim}, torch::kFloat32);
    for (std::int64_t gi = 0; gi < b.num_graphs; ++gi)
      for (std::int64_t t = 0; t < tdim; ++t)
        b.y[gi][t] = static_cast<float>(graphs[static_cast<std::size_t>(gi)]->graph_targets[static_cast<std::size_t>(t)]);
  } else {
    b.y = torch::empty({b.num_graphs}, torch::kInt64);
    for (std::int64_t gi = 0; gi < b.num_graphs; ++gi) b.y[gi] = graphs[static_cast<std::size_t>(gi)]->graph_label;
  }
  return b;
}

std::int64_t largest_graph(const GraphBatch& b) {
  if (!b.node_ptr.defined() || b.node_ptr.numel() != b.num_graphs + 1) return 0;
  auto p = b.node_ptr.to(torch::kCPU, torch::kInt64).contiguous();
  const auto* ptr = p.data_ptr<std::int64_t>();
  std::int64_t n = 0;
  for (std::int64_t g = 0; g < b.num_graphs; ++g) n = std::max(n, ptr[g + 1] - ptr[g]);
  return n;
}

}  // namespace pesuite::graph
