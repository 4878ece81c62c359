// Graph type: CSR construction, Boost.Graph algorithms, relabelling, batching.
#include <gtest/gtest.h>

#include "graph_test_util.h"
#include "pesuite/graph/batch.h"
#include "pesuite/graph/graph.h"

using namespace pesuite::graph;
using namespace pesuite::test;

TEST(GraphCore, CsrFromEdgesUndirected) {
  Graph g = Graph::from_pairs(4, {{0, 1}, {2, 1}, {2, 3}, {3, 3}});
  EXPECT_EQ(g.num_nodes, 4);
  EXPECT_EQ(g.num_stored_edges(), 7);  // 3 edges both ways + one self loop
  EXPECT_EQ(g.num_edges(), 4);
  EXPECT_EQ(g.degree(1), 2);
  EXPECT_EQ(g.col[static_cast<std::size_t>(g.row_begin(1))], 0);
  EXPECT_EQ(g.col[static_cast<std::size_t>(g.row_begin(1)) + 1], 2);
  EXPECT_FALSE(g.has_weights());
  EXPECT_EQ(count_isolated(Graph::from_pairs(3, {{0, 1}})), 1);
}

TEST(GraphCore, DirectedAndWeighted) {
  Graph g = Graph::from_edges(3, std::vector<EdgeInput>{{0, 1, 2.5}, {1, 2, 1.0}}, /*directed=*/true);
  EXPECT_EQ(g.num_stored_edges(), 2);
  EXPECT_EQ(g.degree(2), 0);
  EXPECT_DOUBLE_EQ(g.weighted_degree(0), 2.5);
  auto d = bfs_distances(g, 0);
  EXPECT_EQ(d, (std::vector<Index>{0, 1, 2}));
  EXPECT_EQ(bfs_distances(g, 2), (std::vector<Index>{-1, -1, 0}));
  EXPECT_THROW(Graph::from_pairs(2, {{0, 2}}), std::out_of_range);
}

TEST(GraphCore, ComponentsBfsCycles) {
  Graph g = Graph::from_pairs(7, {{0, 1}, {1, 2}, {3, 4}, {4, 5}, {5, 3}});
  auto c = connected_components(g);
  EXPECT_EQ(c.count, 3);
  EXPECT_EQ(c.component, (std::vector<Index>{0, 0, 0, 1, 1, 1, 2}));
  EXPECT_EQ(bfs_distances(g, 0), (std::vector<Index>{0, 1, 2, -1, -1, -1, -1}));
  EXPECT_TRUE(has_cycle(g));
  EXPECT_FALSE(has_cycle(path_graph(5)));
  EXPECT_EQ(bfs_distances(grid_graph(3, 3), 0)[8], 4);
}

TEST(GraphCore, RelabelAndHash) {
  Graph g = random_connected(12, 0.3, 1);
  auto p = random_perm(12, 2);
  Graph h = g.relabel(p);
  EXPECT_EQ(h.num_edges(), g.num_edges());
  for (Index u = 0; u < 12; ++u) EXPECT_EQ(h.degree(p[static_cast<std::size_t>(u)]), g.degree(u));
  EXPECT_EQ(content_hash(g), content_hash(random_connected(12, 0.3, 1)));
  EXPECT_NE(content_hash(g), content_hash(h));
}

TEST(GraphCore, BatchBlockDiagonal) {
  Graph a = path_graph(3), b = cycle_graph(4);
  a.graph_label = 1;
  b.graph_label = 0;
  a.node_labels = {0, 1, 2};
  b.node_labels = {2, 2, 1, 0};
  auto batch = make_batch({&a, &b});
  EXPECT_EQ(batch.node_ptr.sizes(), (std::vector<int64_t>{3}));
  EXPECT_EQ(batch.node_ptr[2].item<int64_t>(), 7);
  EXPECT_EQ(batch.edge_index.size(1), 4 + 8);
  EXPECT_EQ(batch.batch[5].item<int64_t>(), 1);
  EXPECT_GE(batch.edge_index[0].slice(0, 4).min().item<int64_t>(), 3);
  EXPECT_EQ(batch.x.sizes(), (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(batch.x[3][2].item<float>(), 1.f);
  EXPECT_EQ(batch.y[0].item<int64_t>(), 1);
}
