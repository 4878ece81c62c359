// GNN layers, models and PE encoders (gnn.h, gnn_layers.h, gnn_encoders.h): against naive
// per-node references, and the invariances each model / encoder promises.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>

#include "gnn_test_util.h"
#include "graph_test_util.h"
#include "pesuite/graph/batch.h"
#include "pesuite/graph/gnn.h"
#include "pesuite/graph/gnn_encoders.h"
#include "pesuite/graph/gnn_layers.h"
#include "pesuite/graph/pe.h"
#include "pesuite/graph/pe_dataset.h"
#include "pesuite/core/error.h"

using namespace pesuite::graph;
using namespace pesuite::test;

namespace {

// Nodes renamed within each graph and edges reordered: node i becomes node[i], edge e of the new
// batch is edge edge[e] of the old one.
struct Relabel {
  torch::Tensor node, edge;
};
Relabel random_relabel(const GraphBatch& b, unsigned seed) {
  std::vector<std::int64_t> node;
  auto ptr = b.node_ptr.accessor<std::int64_t, 1>();
  for (std::int64_t g = 0; g < b.num_graphs; ++g) {
    auto p = random_perm(ptr[g + 1] - ptr[g], seed + static_cast<unsigned>(g));
    for (auto v : p) node.push_back(ptr[g] + v);
  }
  auto edge = random_perm(b.edge_index.size(1), seed + 1000);
  return {torch::tensor(node, torch::kInt64), torch::tensor(std::vector<std::int64_t>(edge.begin(), edge.end()), torch::kInt64)};
}
torch::Tensor move_rows(const torch::Tensor& t, const Relabel& r) { return torch::zeros_like(t).index_copy(0, r.node, t); }
GraphBatch relabelled(const GraphBatch& b, const Relabel& r) {
  GraphBatch o = b;
  o.x = move_rows(b.x, r);
  o.edge_index = r.node.index_select(0, b.edge_index.reshape({-1})).view({2, -1}).index_select(1, r.edge);
  o.edge_attr = b.edge_attr.index_select(0, r.edge);
  return o;
}
PeTensors relabelled(const PeTensors& pe, const Relabel& r) {
  PeTensors o;
  for (const auto& [k, t] : pe) o[k] = move_rows(t, r);
  return o;
}

}  // namespace

TEST(GraphNN, PoolingMatchesNaive) {
  torch::manual_seed(0);
  // Graph sizes 3, 0, 4, 1: an empty graph pools to 0.
  auto batch = torch::tensor(std::vector<std::int64_t>{0, 0, 0, 2, 2, 2, 2, 3}, torch::kInt64);
  auto x = torch::randn({8, 5});
  auto sum = global_pool(x, batch, 4, "sum"), mean = global_pool(x, batch, 4, "mean");
  for (std::int64_t g = 0; g < 4; ++g) {
    auto s = torch::zeros({5});
    std::int64_t n = 0;
    for (std::int64_t i = 0; i < 8; ++i)
      if (batch[i].item<std::int64_t>() == g) s += x[i], ++n;
    EXPECT_LT(max_diff(sum[g], s), 1e-6) << g;
    EXPECT_LT(max_diff(mean[g], n ? s / n : s), 1e-6) << g;
  }
  EXPECT_THROW(global_pool(x, batch, 4, "max"), pesuite::core::InputError);
}

TEST(GraphNN, DenseLayoutRoundTrip) {
  auto graphs = small_graphs();
  auto b = featured_batch(graphs, 1);
  auto d = dense_layout(b);
  EXPECT_EQ(d.num_graphs, 4);
  EXPECT_EQ(d.max_nodes, 10);
  EXPECT_EQ(d.mask.sum().item<std::int64_t>(), b.x.size(0));
  auto dense = to_dense(b.x, d);
  ASSERT_EQ(dense.sizes(), (std::vector<std::int64_t>{4, 10, kNodeDim}));
  EXPECT_EQ(max_diff(dense[1].slice(0, 0, 6), b.x.slice(0, 5, 11)), 0.0);  // graph 1 = rows 5..10
  EXPECT_EQ(dense[0].slice(0, 5).abs().sum().item<double>(), 0.0);          // padding is zero
  EXPECT_EQ(max_diff(from_dense(dense, d), b.x), 0.0);
  // The same layout when node_ptr is not on the CPU-readable path (read from the device instead).
  GraphBatch nb = b;
  nb.node_ptr = torch::Tensor();
  auto d2 = dense_layout(nb);
  EXPECT_EQ(d2.max_nodes, 10);
  EXPECT_TRUE(torch::equal(d2.index, d.index));
}

TEST(GraphNN, GINEConvMatchesNaive) {
  auto g = random_connected(6, 0.4, 3);
  auto b = featured_batch({g}, 2);
  const std::int64_t D = 4, n = b.x.size(0);
  torch::manual_seed(3);
  auto x = torch::randn({n, D});
  auto e = torch::randn({b.edge_index.size(1), D});
  GINEConv conv(GINEConvOptions(D).eps(0.3));
  auto out = conv(x, b.edge_index, e);

  // Dense adjacency and edge features, then the formula node by node.
  auto adj = torch::zeros({n, n});
  auto ea = torch::zeros({n, n, D});
  for (std::int64_t k = 0; k < b.edge_index.size(1); ++k) {
    auto s = b.edge_index[0][k].item<std::int64_t>(), t = b.edge_index[1][k].item<std::int64_t>();
    adj[s][t] = 1;
    ea[s][t] = e[k];
  }
  torch::NoGradGuard ng;
  for (std::int64_t i = 0; i < n; ++i) {
    auto acc = 1.3 * x[i];
    for (std::int64_t j = 0; j < n; ++j)
      if (adj[j][i].item<float>() > 0) acc = acc + torch::relu(x[j] + conv->edge_lin(ea[j][i].unsqueeze(0))[0]);
    auto ref = conv->nn->forward(acc.unsqueeze(0))[0];
    EXPECT_LT(max_diff(out[i], ref), 1e-5) << "node " << i;
  }
}

// The one-GEMM edge projection of all layers equals each conv's own Linear, and its gradient
// reaches every conv's weights as the separate calls' would.
TEST(GraphNN, ProjectEdgesMatchesPerLayerLinear) {
  torch::manual_seed(5);
  const std::int64_t D = 8, E = 13;
  std::vector<GINEConv> convs;
  for (int l = 0; l < 3; ++l) convs.push_back(GINEConv(GINEConvOptions(D)));
  auto e = torch::randn({E, D});
  auto joint = project_edges(convs, e);
  ASSERT_EQ(joint.size(), 3u);
  torch::Tensor joint_loss = torch::zeros({}), sep_loss = torch::zeros({});
  for (int l = 0; l < 3; ++l) {
    auto sep = convs[l]->edge_lin(e);
    EXPECT_LT(max_diff(joint[l], sep), 1e-5) << "layer " << l;
    joint_loss = joint_loss + (joint[l] * (l + 1)).pow(2).sum();
    sep_loss = sep_loss + (sep * (l + 1)).pow(2).sum();
  }
  joint_loss.backward();
  std::vector<torch::Tensor> g_joint;
  for (auto& c : convs) g_joint.push_back(c->edge_lin->weight.grad().clone()), c->edge_lin->weight.mutable_grad().zero_();
  sep_loss.backward();
  for (int l = 0; l < 3; ++l)
    EXPECT_LT(max_diff(g_joint[static_cast<std::size_t>(l)], convs[l]->edge_lin->weight.grad()), 1e-4) << "layer " << l;
  EXPECT_TRUE(project_edges({}, e).empty());
}

TEST(GraphNN, GatedGCNMatchesNaive) {
  auto g = random_connected(6, 0.5, 4);
  auto b = featured_batch({g}, 3);
  const std::int64_t D = 4, n = b.x.size(0);
  torch::manual_seed(4);
  auto x = torch::randn({n, D});
  auto e = torch::randn({b.edge_index.size(1), D});
  GatedGCNLayer layer(GNNLayerOptions(D).norm("none"));
  torch::Tensor h, eo;
  std::tie(h, eo) = layer(x, b.edge_index, e);

  auto adj = torch::full({n, n}, -1, torch::kInt64);  // edge id of j -> i, -1 = none
  for (std::int64_t k = 0; k < b.edge_index.size(1); ++k)
    adj[b.edge_index[0][k].item<std::int64_t>()][b.edge_index[1][k].item<std::int64_t>()] = k;
  torch::NoGradGuard ng;
  auto lin = [](torch::nn::Linear& l, const torch::Tensor& v) { return l(v.unsqueeze(0))[0]; };
  for (std::int64_t i = 0; i < n; ++i) {
    auto num = torch::zeros({D}), den = torch::zeros({D});
    for (std::int64_t j = 0; j < n; ++j) {
      const auto k = adj[j][i].item<std::int64_t>();
      if (k < 0) continue;
      auto eij = lin(layer->D, x[i]) + lin(layer->E, x[j]) + lin(layer->C, e[k]);
      auto s = torch::sigmoid(eij);
      num += s * lin(layer->B, x[j]);
      den += s;
      EXPECT_LT(max_diff(eo[k], e[k] + torch::relu(eij)), 1e-5) << "edge " << k;
    }
    auto ref = x[i] + torch::relu(lin(layer->A, x[i]) + num / (den + 1e-6));
    EXPECT_LT(max_diff(h[i], ref), 1e-5) << "node " << i;
  }
}

// Every model x encoder: graph-level output invariant, node-level output equivariant to renaming
// the nodes within each graph (and to reordering the edges). Eval mode: no random sign flips.
TEST(GraphNN, ModelsInvariantToNodeOrder) {
  auto graphs = small_graphs();
  auto b = featured_batch(graphs, 5);
  auto r = random_relabel(b, 7);
  auto b2 = relabelled(b, r);
  for (const auto& enc : encoder_cases()) {
    auto pe = enc.spec.empty() ? PeTensors() : compute_pe(graphs, enc.spec);
    auto pe2 = relabelled(pe, r);
    for (const auto& [model, help, dense] : pesuite::graph::graph_models()) {
      for (const std::string pool : {"mean", "none"}) {
        const auto what = model + "+" + enc.encoder + " pool " + pool;
        torch::manual_seed(11);
        GraphModel m(model_options(model, enc, pool));
        m->eval();
        torch::NoGradGuard ng;
        auto y = m->forward(b, pe), y2 = m->forward(b2, pe2);
        if (pool == "none")
          expect_close(y2.index_select(0, r.node), y, what);
        else
          expect_close(y2, y, what);
        EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << what;
      }
    }
  }
}

TEST(GraphNN, SignNetInvariantToEigenvectorSigns) {
  auto graphs = small_graphs();
  auto b = featured_batch(graphs, 6);
  auto pe = compute_pe(graphs, "eig:k=6");
  auto flipped = pe;
  torch::manual_seed(12);
  // An independent sign per graph and eigenvector.
  auto signs = torch::randint(0, 2, {b.num_graphs, 6}).to(torch::kFloat32) * 2 - 1;
  flipped["eig"] = pe["eig"] * signs.index_select(0, b.batch);
  ASSERT_GT(max_diff(flipped["eig"], pe["eig"]), 0.1);
  GraphModel m(model_options("gine", {"signnet", "signnet:k=6", 6}, "none"));
  m->eval();
  torch::NoGradGuard ng;
  expect_close(m->forward(b, flipped), m->forward(b, pe), "signnet");
}

// SPE sees V only through V diag(phi(lambda)) V^T: signs and the basis of a repeated eigenvalue's
// eigenspace (a cycle's 2-dimensional ones) do not matter.
TEST(GraphNN, SpeInvariantToSignsAndEigenspaceRotations) {
  std::vector<Graph> graphs = {cycle_graph(6), path_graph(4), cycle_graph(5)};
  auto b = featured_batch(graphs, 8);
  auto pe = compute_pe(graphs, "eig:k=6");
  auto v = pe["eig"].clone();
  auto lam = pe["eig.eigval"];
  auto ptr = b.node_ptr.accessor<std::int64_t, 1>();
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> angle(0.3, 2.5);
  int rotated = 0;
  for (std::int64_t g = 0; g < b.num_graphs; ++g) {
    auto rows = v.slice(0, ptr[g], ptr[g + 1]);  // a view: edits land in v
    auto l = lam[ptr[g]];
    for (std::int64_t c = 0; c + 1 < 6; ++c) {
      if (std::abs(l[c].item<double>() - l[c + 1].item<double>()) > 1e-5 || rows.select(1, c).abs().sum().item<double>() == 0)
        continue;
      const double t = angle(rng);
      auto a = rows.select(1, c).clone(), bb = rows.select(1, c + 1).clone();
      rows.select(1, c).copy_(std::cos(t) * a - std::sin(t) * bb);
      rows.select(1, c + 1).copy_(std::sin(t) * a + std::cos(t) * bb);
      ++rotated, ++c;
    }
    rows.mul_(torch::tensor({1.f, -1.f, 1.f, -1.f, -1.f, 1.f}));
  }
  ASSERT_GE(rotated, 3);  // C6 has two 2-dim eigenspaces, C5 two
  auto pe2 = pe;
  pe2["eig"] = v;
  ASSERT_GT(max_diff(v, pe["eig"]), 0.1);

  torch::manual_seed(13);
  auto o = model_options("gine", {"spe", "spe:k=6,phis=4,rho_layers=3", 6}, "none");
  auto enc = encoder_of(o);
  enc->eval();
  torch::NoGradGuard ng;
  auto z = enc->forward(b, pe, nullptr);
  expect_close(enc->forward(b, pe2, nullptr), z, "spe encoder", 1e-4);
  EXPECT_GT(z.abs().max().item<double>(), 1e-3);  // not trivially zero
}

TEST(GraphNN, GpsDoesNotMixGraphs) {
  // Nmax >= 8 in both batches: GpsRepeatableOnTinyGraphs covers the tiny shapes.
  std::vector<Graph> a = {random_connected(5, 0.4, 1), cycle_graph(8)};
  std::vector<Graph> c = {random_connected(5, 0.4, 1), random_connected(9, 0.3, 9)};  // graph 1 differs
  auto ba = featured_batch(a, 20), bc = featured_batch(c, 21);
  bc.x.slice(0, 0, 5).copy_(ba.x.slice(0, 0, 5));
  // Graph 0's edges come first in both batches and are the same graph: give them the same features.
  const auto e0 = a[0].num_stored_edges();
  bc.edge_attr.slice(0, 0, e0).copy_(ba.edge_attr.slice(0, 0, e0));
  ASSERT_TRUE(torch::equal(ba.edge_index.slice(1, 0, e0), bc.edge_index.slice(1, 0, e0)));
  for (const std::string enc : {"none", "spe"}) {
    auto pa = enc == "none" ? PeTensors() : compute_pe(a, "eig:k=6");
    auto pc = enc == "none" ? PeTensors() : compute_pe(c, "eig:k=6");
    for (const std::string pool : {"none", "sum"}) {
      torch::manual_seed(14);
      GraphModel m(model_options("gps", {enc, enc == "none" ? "" : "spe:k=6,phis=4,rho_layers=3", enc == "none" ? 0 : 6}, pool));
      m->eval();  // batch norm in training mode shares statistics across graphs by design
      torch::NoGradGuard ng;
      auto ya = m->forward(ba, pa), yc = m->forward(bc, pc);
      if (pool == "none")
        expect_close(yc.slice(0, 0, 5), ya.slice(0, 0, 5), "gps+" + enc + " nodes of graph 0", 1e-5);
      else
        expect_close(yc[0], ya[0], "gps+" + enc + " graph 0", 1e-5);
      EXPECT_GT(max_diff(yc[pool == "none" ? 6 : 1], ya[pool == "none" ? 6 : 1]), 1e-6);  // graph 1 did change
    }
  }
}

TEST(GraphNN, LapSignFlipsOnlyWhileTraining) {
  auto graphs = small_graphs();
  auto b = featured_batch(graphs, 9);
  auto pe = compute_pe(graphs, "lap:k=4");
  torch::manual_seed(15);
  auto o = model_options("gine", {"lap", "lap:k=4,encoder=linear", 4}, "none");
  auto enc = encoder_of(o);
  torch::NoGradGuard ng;
  enc->eval();
  EXPECT_TRUE(torch::equal(enc->forward(b, pe, nullptr), enc->forward(b, pe, nullptr)));
  enc->train();
  bool differs = false;
  for (int i = 0; i < 8 && !differs; ++i) differs = max_diff(enc->forward(b, pe, nullptr), enc->forward(b, pe, nullptr)) > 1e-6;
  EXPECT_TRUE(differs);
}

// Training mode end to end: finite gradients, and a few Adam steps fit a tiny regression batch.
TEST(GraphNN, TrainStepsReduceLoss) {
  auto graphs = small_graphs();
  auto b = featured_batch(graphs, 10);
  const std::vector<std::pair<std::string, EncoderCase>> cases = {
      {"gine", {"rwse", "rwse:steps=5", 5}}, {"gatedgcn", {"signnet", "eig:k=6", 6}}, {"gps", {"lap", "lap:k=4", 4}},
      {"gine", {"spe", "eig:k=6", 6}},      {"gps", {"rfp", "rfp:steps=3,features=4,runs=2", 32}}};
  for (const auto& [model, enc] : cases) {
    const auto what = model + "+" + enc.encoder;
    auto pe = compute_pe(graphs, enc.spec);
    torch::manual_seed(16);
    auto o = model_options(model, enc, "sum");
    o.out_dim(1).dropout(0.1);
    GraphModel m(o);
    m->train();
    torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(1e-2));
    double first = 0, last = 0;
    for (int step = 0; step < 30; ++step) {
      opt.zero_grad();
      auto loss = torch::mse_loss(m->forward(b, pe), b.y);
      loss.backward();
      for (const auto& p : m->named_parameters())
        if (p.value().grad().defined())
          ASSERT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << what << " " << p.key();
      opt.step();
      (step == 0 ? first : last) = loss.item<double>();
    }
    EXPECT_LT(last, 0.5 * first) << what;
  }
}

TEST(GraphNN, BadConfigThrowsInputError) {
  auto enc = EncoderCase{"lap", "lap:k=4", 4};
  auto make = [&](const GraphModelOptions& o) { GraphModel m(o); };
  EXPECT_THROW(make(model_options("gcn", enc, "mean")), pesuite::core::InputError);
  EXPECT_THROW(make(model_options("gine", {"laplace", "laplace", 4}, "mean")), pesuite::core::InputError);
  EXPECT_THROW(make(model_options("gine", enc, "max")), pesuite::core::InputError);
  EXPECT_THROW(make(model_options("gine", enc, "mean").norm("group")), pesuite::core::InputError);
  EXPECT_THROW(make(model_options("gine", {"lap", "lap:k=0", 0}, "mean")), pesuite::core::InputError);
  EXPECT_THROW(make(model_options("gine", enc, "mean").pe_dim(16)), pesuite::core::InputError);  // = hidden
  EXPECT_THROW(make(model_options("gine", {"rfp", "rfp:steps=3,features=4,runs=2", 33}, "mean")), pesuite::core::InputError);
  try {
    make(model_options("gine", {"laplace", "laplace", 4}, "mean"));
  } catch (const pesuite::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("signnet"), std::string::npos) << e.what();  // lists valid names
  }

  auto graphs = small_graphs();
  auto b = featured_batch(graphs, 11);
  GraphModel m(model_options("gine", {"lap", "lap:k=8", 8}, "mean"));
  EXPECT_THROW(m->forward(b, {}), pesuite::core::InputError);
  try {
    m->forward(b, compute_pe(graphs, "lap:k=4"));
    ADD_FAILURE() << "no throw";
  } catch (const pesuite::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("encoding 'lap' has 4 columns, model expects 8"), std::string::npos) << e.what();
  }
  GraphModel plain(model_options("gine", {"none", "", 0}, "mean"));
  GraphBatch wrong = b;
  wrong.x = torch::randn({b.x.size(0), kNodeDim + 1});
  EXPECT_THROW(plain->forward(wrong), pesuite::core::InputError);
}

// The model tests below loop over encoder_cases(): every encoding row with an encoder must be there.
TEST(GraphNN, EveryEncodingRowHasATestCase) {
  for (const auto& row : pesuite::graph::pe::rows()) {
    if (!row.encoder) continue;
    const auto cases = encoder_cases();
    const bool covered = std::any_of(cases.begin(), cases.end(), [&](const EncoderCase& c) { return c.encoder == row.name; });
    EXPECT_TRUE(covered) << "encoding '" << row.name << "' has no case in encoder_cases() (tests/graph/gnn_test_util.h)";
  }
}

// Every encoding row: its main tensor has in_dim(spec) columns, the computing row writes the
// tensors it lists, and its encoder reads them (on a graph larger than every k).
TEST(GraphNN, EncodingRowsAgreeWithTheirComputations) {
  std::vector<Graph> graphs = {random_connected(40, 0.1, 3)};
  for (const auto& row : pesuite::graph::pe::rows()) {
    const auto spec = pesuite::graph::pe::parse_pe_spec(row.name);
    const auto& by = pesuite::graph::pe::computing_row(row.name);
    if (!by.compute) {
      EXPECT_EQ(row.name, "none");
      EXPECT_FALSE(row.encoder) << row.name;
      continue;
    }
    auto pe = compute_pe(graphs, row.name);
    for (const auto& t : by.tensors) EXPECT_TRUE(pe.count(t)) << row.name << ": " << t;
    EXPECT_EQ(pe.size(), by.tensors.size()) << row.name;
    const auto width = by.in_dim(spec.computation());
    EXPECT_EQ(pe.at(by.tensors.front()).size(1), width) << row.name;
    if (!row.encoder) continue;
    auto enc = pesuite::graph::make_pe_encoder(spec, {width, 4});
    EXPECT_EQ(enc->reads().front(), by.tensors.front()) << row.name;
    for (const auto& t : enc->reads()) EXPECT_TRUE(pe.count(t)) << row.name << " reads " << t;
    // The encoder trains: 4 channels per node, finite gradients reaching every parameter it has.
    auto b = featured_batch(graphs, 4);
    auto z = enc->forward(b, pe, nullptr);
    ASSERT_EQ(z.sizes(), (std::vector<std::int64_t>{b.x.size(0), 4})) << row.name;
    z.pow(2).sum().backward();
    for (const auto& p : enc->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << row.name << ": no gradient for " << p.key();
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << row.name << ": " << p.key();
    }
  }
  EXPECT_THROW(pesuite::graph::pe::parse_pe_spec("nope"), pesuite::core::InputError);
}

// A GPS layer is a deterministic function: the same batch twice gives the same finite output. On
// graphs this small (Nmax * Nmax * head_dim < 400) LibTorch 1.13's CPU baddbmm takes its
// small-matrix kernel, which is where an attention path that relies on beta = 0 to ignore an
// uninitialised input would leak NaN.
TEST(GraphNN, GpsRepeatableOnTinyGraphs) {
  std::vector<Graph> graphs = {random_connected(5, 0.4, 1), cycle_graph(4), path_graph(3)};
  auto b = featured_batch(graphs, 30);
  torch::manual_seed(31);
  GraphModel m(model_options("gps", {"none", "", 0}, "none"));
  m->eval();
  torch::NoGradGuard ng;
  auto ref = m->forward(b);
  ASSERT_TRUE(torch::isfinite(ref).all().item<bool>());
  int differ = 0;
  for (int i = 0; i < 20; ++i) {
    { auto junk = torch::full({4096}, std::numeric_limits<float>::quiet_NaN()); }  // dirty the allocator
    differ += !torch::equal(m->forward(b), ref);
  }
  EXPECT_EQ(differ, 0);
}

// CPU runs must repeat bit for bit: ATen's parallel index_put_ (atomic float adds) did not once
// several threads shared a large scatter. Checked with 8 threads; gather's gradient is the scatter.
TEST(GraphNN, ScatterAndGatherRepeatBitwiseOnCpu) {
  const int threads = torch::get_num_threads();
  torch::set_num_threads(8);
  torch::manual_seed(0);
  const std::int64_t n = 2000, e = 8000, d = 64;
  auto src = torch::randn({e, d});
  auto idx = torch::randint(0, n, {e}, torch::kInt64);
  auto x = torch::randn({n, d});
  auto grad_of_gather = [&] {
    auto xx = x.clone().requires_grad_();
    gather_rows(xx, idx).backward(src);
    return xx.grad();
  };
  const auto sum = scatter_sum(src, idx, n), grad = grad_of_gather();
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(torch::equal(scatter_sum(src, idx, n), sum)) << "scatter_sum, run " << i;
    EXPECT_TRUE(torch::equal(grad_of_gather(), grad)) << "gather_rows backward, run " << i;
  }
  expect_close(sum, torch::zeros({n, d}).index_add_(0, idx, src), "scatter_sum vs index_add", 1e-5);
  // The gradient of x -> x[idx] is, for each row r, the sum of the output gradients of the edges
  // that read r: a naive double-precision loop, independent of scatter_sum and of ATen.
  std::vector<double> naive(static_cast<std::size_t>(n * d), 0.0);
  const auto src_a = src.accessor<float, 2>();
  const auto idx_a = idx.accessor<std::int64_t, 1>();
  for (std::int64_t k = 0; k < e; ++k)
    for (std::int64_t c = 0; c < d; ++c) naive[static_cast<std::size_t>(idx_a[k] * d + c)] += src_a[k][c];
  expect_close(grad, torch::tensor(naive, torch::kFloat64).view({n, d}).to(torch::kFloat32), "gather_rows backward vs naive sum", 1e-5);
  expect_close(gather_rows(x, idx), x.index_select(0, idx), "gather_rows", 1e-12);
  torch::set_num_threads(threads);
}
