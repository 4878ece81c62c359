// Padding graph batches to fixed shapes (static_batch.h).
#include "pesuite/graph/static_batch.h"

#include <algorithm>

#include "pesuite/core/error.h"

namespace pesuite::graph {
namespace {

std::int64_t round_up(std::int64_t v, std::int64_t step) { return (v + step - 1) / step * step; }

// `t` with `rows` rows: its own, then `value`.
torch::Tensor pad_rows(const torch::Tensor& t, std::int64_t rows, double value = 0.0) {
  if (t.size(0) == rows) return t;
  auto shape = t.sizes().vec();
  shape[0] = rows - t.size(0);
  return torch::cat({t, torch::full(shape, value, t.options())}, 0);
}

}  // namespace

std::string StaticShape::key() const {
  return "n" + std::to_string(nodes) + "-e" + std::to_string(edges) + "-g" + std::to_string(graphs) + "-d" +
         std::to_string(dense_nodes);
}

StaticShape bucket_shape(const GraphBatch& b, std::int64_t node_step, std::int64_t edge_step) {
  if (node_step < 1 || edge_step < 1)
    throw core::InputError("bucket_shape: node_step and edge_step must be >= 1, got " + std::to_string(node_step) + " and " +
                     std::to_string(edge_step));
  StaticShape s;
  s.nodes = round_up(b.x.size(0) + 1, node_step);
  s.edges = std::max(round_up(b.edge_index.size(1), edge_step), edge_step);
  s.graphs = b.num_graphs;
  s.dense_nodes = round_up(std::max<std::int64_t>(largest_graph(b), 1), 8);
  return s;
}

PaddedBatch pad_batch(const GraphBatch& b, const PeTensors& pe, const StaticShape& shape) {
  const auto N = b.x.size(0), E = b.edge_index.size(1), G = b.num_graphs;
  auto fail = [&](const std::string& why) {
    throw core::InputError("pad_batch: a batch of " + std::to_string(N) + " nodes, " + std::to_string(E) + " edges and " +
                     std::to_string(G) + " graphs does not fit shape " + shape.key() + ": " + why);
  };
  if (b.padded()) fail("it is padded already");
  if (shape.nodes < N || shape.edges < E) fail("too many nodes or edges");
  if (shape.graphs != G) fail("the shape is for " + std::to_string(shape.graphs) + " graphs");
  if (shape.edges > E && shape.nodes == N) fail("padding edges need a padding node");
  const auto largest = largest_graph(b);
  if (shape.dense_nodes < std::max<std::int64_t>(largest, 1))
    fail("its largest graph has " + std::to_string(largest) + " nodes, more than dense_nodes");

  PaddedBatch p;
  p.shape = shape;
  GraphBatch& o = p.batch;
  o = b;
  o.x = pad_rows(b.x, shape.nodes);
  o.batch = pad_rows(b.batch, shape.nodes, static_cast<double>(G));  // the padding's own graph
  // Padding edges loop on the last node, a padding node.
  o.edge_index = pad_rows(b.edge_index.t(), shape.edges, static_cast<double>(shape.nodes - 1)).t().contiguous();
  if (b.edge_attr.defined()) o.edge_attr = pad_rows(b.edge_attr, shape.edges);
  if (b.edge_weight.defined()) o.edge_weight = pad_rows(b.edge_weight, shape.edges);
  auto fopt = b.x.options().dtype(torch::kFloat32);
  o.node_mask = pad_rows(torch::ones({N}, fopt), shape.nodes);
  o.edge_mask = pad_rows(torch::ones({E}, fopt), shape.edges);
  o.dense_nodes = shape.dense_nodes;
  for (const auto& [name, t] : pe) {
    if (t.size(0) != N)
      throw core::InputError("pad_batch: encoding '" + name + "' has " + std::to_string(t.size(0)) + " rows, the batch " +
                       std::to_string(N) + " nodes");
    p.pe[name] = pad_rows(t, shape.nodes);
  }
  return p;
}

void PaddedBatch::copy_from(const PaddedBatch& src) {
  if (!(shape == src.shape) || pe.size() != src.pe.size())
    throw core::InputError("PaddedBatch::copy_from: shape " + src.shape.key() + " into " + shape.key());
  auto copy = [](torch::Tensor& to, const torch::Tensor& from) {
    if (to.defined() != from.defined() || (to.defined() && to.sizes() != from.sizes()))
      throw core::InputError("PaddedBatch::copy_from: tensors of different sizes");
    if (to.defined()) to.copy_(from, /*non_blocking=*/true);
  };
  GraphBatch& d = batch;
  const GraphBatch& s = src.batch;
  copy(d.x, s.x);
  copy(d.edge_index, s.edge_index);
  copy(d.edge_attr, s.edge_attr);
  copy(d.edge_weight, s.edge_weight);
  copy(d.batch, s.batch);
  copy(d.y, s.y);
  copy(d.node_mask, s.node_mask);
  copy(d.edge_mask, s.edge_mask);
  d.node_ptr = s.node_ptr;  // host side, read on the host only
  for (auto& [name, t] : pe) {
    auto it = src.pe.find(name);
    if (it == src.pe.end()) throw core::InputError("PaddedBatch::copy_from: the source has no encoding '" + name + "'");
    copy(t, it->second);
  }
}

namespace {

// `p` with f applied to each of its tensors but node_ptr.
template <class F>
PaddedBatch map_tensors(const PaddedBatch& p, F f) {
  PaddedBatch c = p;
  for (auto* t : {&c.batch.x, &c.batch.edge_index, &c.batch.edge_attr, &c.batch.edge_weight, &c.batch.batch,
                  &c.batch.y, &c.batch.node_mask, &c.batch.edge_mask})
    if (t->defined()) *t = f(*t);
  for (auto& [name, t] : c.pe) t = f(t);
  return c;
}

}  // namespace

PaddedBatch PaddedBatch::clone() const {
  return map_tensors(*this, [](const torch::Tensor& t) { return t.clone(); });
}

PaddedBatch PaddedBatch::to(const torch::Device& device) const {
  return map_tensors(*this, [&](const torch::Tensor& t) { return t.to(device, /*non_blocking=*/true); });
}

}  // namespace pesuite::graph
