// Padded batches (static_batch.h) and CUDA-graph steps (heads/cuda_graph.h): padding must change
// nothing that is real — outputs, every gradient, batch-norm running statistics — for every model,
// encoder and pooling; a graphed training run must follow the eager one.
#include <gtest/gtest.h>

#include <map>

#include "gnn_test_util.h"
#include "pesuite/graph/gnn.h"
#include "pesuite/graph/gnn_layers.h"
#include "pesuite/graph/static_batch.h"
#include "pesuite/core/cuda_graph.h"
#include "pesuite/core/error.h"
#include "pesuite/core/optim.h"

using namespace pesuite::graph;
using namespace pesuite::test;

namespace {

std::map<std::string, torch::Tensor> buffers_of(const GraphModel& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : m->named_buffers()) out[item.key()] = item.value().clone();
  return out;
}
void restore_buffers(GraphModel& m, const std::map<std::string, torch::Tensor>& saved) {
  torch::NoGradGuard ng;
  for (auto& item : m->named_buffers()) item.value().copy_(saved.at(item.key()));
}

struct Pass {
  torch::Tensor out;
  std::map<std::string, torch::Tensor> grads, buffers;
};

// One forward + backward of a loss over the real rows; lap's sign flips drawn from the same seed.
Pass run_pass(GraphModel& m, const GraphBatch& b, const PeTensors& pe, std::int64_t real_rows, bool node_level) {
  for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  torch::manual_seed(3);
  auto out = m->forward(b, pe);
  if (node_level) out = out.narrow(0, 0, real_rows);
  (out * out).sum().backward();
  Pass r{out.detach(), {}, buffers_of(m)};
  for (const auto& item : m->named_parameters())
    if (item.value().grad().defined()) r.grads[item.key()] = item.value().grad().clone();
  return r;
}

PeTensors as_double(const PeTensors& pe) {
  PeTensors o;
  for (const auto& [k, t] : pe) o[k] = t.to(torch::kFloat64);
  return o;
}

}  // namespace

TEST(GraphStatic, PaddingChangesNothingReal) {
  auto graphs = small_graphs();
  auto b = featured_batch(graphs, 5);
  b.x = b.x.to(torch::kFloat64), b.edge_attr = b.edge_attr.to(torch::kFloat64);
  const auto N = b.x.size(0);
  for (const auto& enc : encoder_cases()) {
    auto pe = as_double(enc.spec.empty() ? PeTensors() : compute_pe(graphs, enc.spec));
    // Several padding nodes and edges, a dense Nmax above the largest graph (10 nodes).
    StaticShape shape = bucket_shape(b, 16, 32);
    shape.dense_nodes = 16;
    auto padded = pad_batch(b, pe, shape);
    ASSERT_GT(shape.nodes, N + 2);
    ASSERT_GT(shape.edges, b.edge_index.size(1) + 2);
    for (const auto& [model, help, dense] : pesuite::graph::graph_models()) {
      for (const std::string pool : {"sum", "mean", "none"}) {
        for (const bool training : {true, false}) {
          const auto what = model + "+" + enc.encoder + " pool " + pool + (training ? " train" : " eval");
          torch::manual_seed(11);
          GraphModel m(model_options(model, enc, pool));
          m->to(torch::kFloat64);
          m->train(training);
          const auto before = buffers_of(m);
          auto plain = run_pass(m, b, pe, N, pool == "none");
          restore_buffers(m, before);
          auto pad = run_pass(m, padded.batch, padded.pe, N, pool == "none");
          expect_close(pad.out, plain.out, what + ": output", 1e-9);
          ASSERT_EQ(pad.grads.size(), plain.grads.size()) << what;
          for (const auto& [name, g] : plain.grads) expect_close(pad.grads.at(name), g, what + ": grad " + name, 1e-9);
          for (const auto& [name, t] : plain.buffers)
            expect_close(pad.buffers.at(name).to(torch::kFloat64), t.to(torch::kFloat64), what + ": buffer " + name, 1e-9);
        }
      }
    }
  }
}

TEST(GraphStatic, MaskedBatchNormIsBatchNormOfRealRows) {
  for (const bool cumulative : {false, true}) {
    auto opts = torch::nn::BatchNorm1dOptions(4).momentum(cumulative ? c10::nullopt : c10::optional<double>(0.3));
    torch::nn::BatchNorm1d plain(opts), masked(opts);
    torch::manual_seed(2);
    auto x = torch::randn({7, 4}, torch::kFloat64);
    plain->to(torch::kFloat64), masked->to(torch::kFloat64);
    auto mask = torch::tensor({1, 1, 0, 1, 1, 0, 1}, torch::kFloat32);
    auto real = x.index_select(0, torch::tensor({0, 1, 3, 4, 6}));
    for (int step = 0; step < 3; ++step) {  // running statistics accumulate alike
      auto y = plain(real);
      auto ym = batch_norm_rows(masked, x, mask).index_select(0, torch::tensor({0, 1, 3, 4, 6}));
      expect_close(ym, y, "output", 1e-12);
    }
    expect_close(masked->running_mean, plain->running_mean, "running_mean", 1e-12);
    expect_close(masked->running_var, plain->running_var, "running_var", 1e-12);
    EXPECT_EQ(masked->num_batches_tracked.item<std::int64_t>(), 3);
  }
}

TEST(GraphStatic, BucketShapesAndCopies) {
  auto graphs = small_graphs();
  auto b = featured_batch(graphs, 1);
  const auto s = bucket_shape(b, 16, 32);
  EXPECT_EQ(s.nodes % 16, 0);
  EXPECT_GT(s.nodes, b.x.size(0));  // always a padding node for padding edges to join
  EXPECT_EQ(s.edges % 32, 0);
  EXPECT_GE(s.edges, b.edge_index.size(1));
  EXPECT_EQ(s.dense_nodes, 16);  // the largest graph (10 nodes) rounded up to 8
  EXPECT_EQ(s.graphs, b.num_graphs);

  // Another batch of the same sizes, different values: copied into the first one's memory.
  auto b2 = featured_batch(graphs, 2);
  auto p1 = pad_batch(b, {}, s), p2 = pad_batch(b2, {}, s);
  EXPECT_TRUE(p1.batch.padded());
  EXPECT_EQ(p1.batch.batch.slice(0, b.x.size(0)).min().item<std::int64_t>(), b.num_graphs);
  EXPECT_TRUE(p1.batch.edge_index.slice(1, b.edge_index.size(1)).eq(s.nodes - 1).all().item<bool>());
  EXPECT_DOUBLE_EQ(p1.batch.node_mask.sum().item<double>(), static_cast<double>(b.x.size(0)));
  auto slot = p1.clone();
  const auto* where = slot.batch.x.data_ptr();
  slot.copy_from(p2);
  EXPECT_EQ(slot.batch.x.data_ptr(), where);
  EXPECT_TRUE(slot.batch.x.equal(p2.batch.x));
  EXPECT_FALSE(p1.batch.x.equal(p2.batch.x));  // the clone owns its memory
}

TEST(GraphStatic, PadBatchRejectsWhatDoesNotFit) {
  auto graphs = small_graphs();
  auto b = featured_batch(graphs, 1);
  const auto s = bucket_shape(b, 16, 32);
  auto expect_fail = [&](StaticShape bad, const std::string& why) {
    try {
      pad_batch(b, {}, bad);
      ADD_FAILURE() << "no error for " << why;
    } catch (const pesuite::core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("does not fit shape " + bad.key()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  auto small = s;
  small.nodes = b.x.size(0) - 1;
  expect_fail(small, "too many nodes");
  auto graphs_off = s;
  graphs_off.graphs += 1;
  expect_fail(graphs_off, "for " + std::to_string(b.num_graphs + 1) + " graphs");
  auto narrow = s;
  narrow.dense_nodes = 8;
  expect_fail(narrow, "more than dense_nodes");
  auto no_spare = s;
  no_spare.nodes = b.x.size(0);
  expect_fail(no_spare, "padding edges need a padding node");
  auto p = pad_batch(b, {}, s);
  EXPECT_THROW(pad_batch(p.batch, {}, s), pesuite::core::InputError);  // padded twice
  auto other = s;
  other.nodes += 16;
  auto q = pad_batch(b, {}, other);
  EXPECT_THROW(p.copy_from(q), pesuite::core::InputError);
}

// For the CPU (or without a CUDA LibTorch) run() is just prepare + step.
TEST(GraphStatic, StepGraphsRunEagerlyOffCuda) {
  pesuite::core::StepGraphs graphs(torch::Device(torch::kCPU));
  int prepared = 0, stepped = 0;
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(graphs.run("k", [&] { ++prepared; }, [&] { ++stepped; }), pesuite::core::StepGraphs::Ran::eager);
  EXPECT_EQ(prepared, 4);
  EXPECT_EQ(stepped, 4);
  EXPECT_EQ(graphs.captured(), 0u);
}

// On a GPU: GINE + RWSE (mean pooling, gradient clipping) trained 10 steps over batches of two
// shapes, once with captured and replayed steps and once eagerly on the same padded batches, ends
// with the same weights (up to the order of atomic adds) and the same optimiser step counts; the
// learning rate, new every step, reaches the replays.
TEST(GraphStatic, GraphedTrainingFollowsEager) {
  if (!pesuite::core::StepGraphs::available() || !torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA build and GPU";
  const torch::Device dev(torch::kCUDA);
  std::vector<std::vector<Graph>> sets = {small_graphs(), small_graphs()};
  sets[1].push_back(random_connected(12, 0.3, 9));
  sets[1].erase(sets[1].begin());
  EncoderCase enc{"rwse", "rwse:steps=5", 5};
  std::vector<PaddedBatch> stream;
  for (const auto& set : sets) {
    auto b = featured_batch(set, 4);
    auto pe = compute_pe(set, enc.spec);
    auto p = pad_batch(b, pe, bucket_shape(b, 16, 32));
    for (auto* t : {&p.batch.x, &p.batch.edge_index, &p.batch.edge_attr, &p.batch.batch, &p.batch.y,
                    &p.batch.node_mask, &p.batch.edge_mask})
      *t = t->to(dev);
    for (auto& [k, t] : p.pe) t = t.to(dev);
    stream.push_back(p);
  }
  ASSERT_NE(stream[0].shape.key(), stream[1].shape.key());
  auto make = [&] {
    torch::manual_seed(11);
    GraphModel m(model_options("gine", enc, "mean"));
    m->to(dev);
    m->train();
    return m;
  };
  auto eager = make(), graphed = make();
  // eps 1e-3: the biases in front of batch norms get gradients of pure rounding noise (BN cancels
  // them), which Adam with a tiny eps turns into +-lr steps that differ between any two GPU runs.
  auto adamw = torch::optim::AdamWOptions(1e-2).weight_decay(0.01).eps(1e-3);
  pesuite::core::FusedAdamW opt_eager(eager->parameters(), adamw), opt_graphed(graphed->parameters(), adamw);
  opt_graphed.set_graph_safe(true);
  auto step_on = [](GraphModel& m, pesuite::core::FusedAdamW& opt, const PaddedBatch& p) {
    opt.zero_grad();
    auto loss = (m->forward(p.batch, p.pe) - p.batch.y).pow(2).mean();
    loss.backward();
    pesuite::core::clip_grad_norm(m->parameters(), 0.5);
    opt.step();
  };
  pesuite::core::StepGraphs graphs(dev, 2);
  std::map<std::string, PaddedBatch> slots;
  int replays = 0;
  for (int i = 0; i < 10; ++i) {
    const double lr = 1e-2 / (1 + i);  // a new rate every step, as a schedule
    for (auto* o : {&opt_eager, &opt_graphed})
      for (auto& g : o->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    const auto& p = stream[static_cast<std::size_t>(i % 2)];
    step_on(eager, opt_eager, p);
    auto& slot = slots.try_emplace(p.shape.key(), p.clone()).first->second;
    auto ran = graphs.run(p.shape.key(), [&] { slot.copy_from(p), opt_graphed.stage_lr(); },
                          [&] { step_on(graphed, opt_graphed, slot); });
    if (ran == pesuite::core::StepGraphs::Ran::replayed) opt_graphed.replayed(), ++replays;
  }
  torch::cuda::synchronize();
  EXPECT_EQ(graphs.captured(), 2u);
  EXPECT_EQ(replays, 4);  // per shape: 2 eager runs, 1 capture, then replays (steps 6 to 9)
  auto pe_ = eager->named_parameters(), pg = graphed->named_parameters();
  for (const auto& item : pe_) expect_close(pg[item.key()].cpu(), item.value().cpu(), "param " + item.key(), 1e-4);
  for (const auto& item : eager->named_buffers())
    expect_close(graphed->named_buffers()[item.key()].cpu().to(torch::kFloat64), item.value().cpu().to(torch::kFloat64),
                 "buffer " + item.key(), 1e-4);
  for (const auto& p : graphed->parameters()) {
    auto& s = static_cast<torch::optim::AdamWParamState&>(*opt_graphed.state().at(pesuite::core::optimizer_state_key(p)));
    EXPECT_EQ(s.step(), 10);
  }
}
