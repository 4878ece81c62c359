// `pesuite bench gnn`: training throughput (graphs per second) of a GraphModel (gnn.h) on a stream
// of synthetic ZINC-sized molecules; the C++ side of scripts/reference/bench_gnn_pyg.py, which
// builds the same models with PyG on the same kind of stream (see its docstring: sizes, models,
// optimiser, loss). Run both on the same machine and compare "graphs_per_s".
//
// Like for like: the batches and their encodings are built and moved to the device before the
// clock starts (both sides); the clock covers forward, backward and the optimiser step; the loss
// stays on the device until the end (one host read after timing). GraphBatch::node_ptr stays on the
// CPU, so the model never synchronises with the GPU inside a step (gnn.h, "Devices").
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "bench_timing.h"
#include "cli.h"
#include "kernel_trace.h"
#include "pesuite/graph/batch.h"
#include "pesuite/graph/gnn.h"
#include "pesuite/graph/pe_dataset.h"
#include "pesuite/graph/static_batch.h"
#include "pesuite/core/cuda_graph.h"
#include "pesuite/core/error.h"
#include "pesuite/core/optim.h"
#include "pesuite/core/runtime.h"
#include "pesuite/core/torch_compat.h"

namespace pesuite::cli {
namespace {

constexpr std::int64_t kAtomTypes = 28, kBondTypes = 4;

struct BenchArgs {
  std::string model = "gps", pe = "", device = "cpu";
  std::int64_t batch = 128, hidden = 64, layers = 10, heads = 4, pe_dim = 16;
  int batches = 20, steps = 100, warmup = 20, repeats = 3, threads = 0;
  std::uint64_t seed = 0;
  bool json = false, cuda_graphs = false;
  std::int64_t node_step = 256, edge_step = 512;  // bucket grid of --cuda-graphs
  std::string profile;  // Chrome-trace file: 10 more steps under the profiler, after timing
};

// A ZINC-sized molecule: 18..28 atoms (mean 23), a random tree plus 3 ring closures (so about 50
// directed edges), random atom and bond types, a normal target. As bench_gnn_pyg.py's synth_graph.
graph::Graph synth_molecule(std::mt19937_64& rng) {
  auto uniform = [&](std::int64_t n) { return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n)); };
  const auto n = 18 + uniform(11);
  std::set<std::pair<std::int64_t, std::int64_t>> und;
  for (std::int64_t v = 1; v < n; ++v) und.insert({uniform(v), v});
  while (static_cast<std::int64_t>(und.size()) < n - 1 + 3) {
    auto a = uniform(n), b = uniform(n);
    if (a != b) und.insert({std::min(a, b), std::max(a, b)});
  }
  std::vector<graph::EdgeInput> edges;
  for (const auto& [a, b] : und) edges.push_back({a, b, 1.0});
  auto g = graph::Graph::from_edges(n, edges);
  for (std::int64_t i = 0; i < n; ++i) g.node_labels.push_back(uniform(kAtomTypes));
  for (std::size_t e = 0; e < edges.size(); ++e) g.edge_labels.push_back(uniform(kBondTypes));
  g.graph_targets = {std::normal_distribution<double>()(rng)};
  return g;
}

struct DeviceBatch {
  graph::GraphBatch batch;
  graph::PeTensors pe;
  graph::PaddedBatch padded;  // --cuda-graphs: the batch on its bucket's shape
};

void run(const BenchArgs& a) {
  if (a.steps < 1 || a.warmup < 0 || a.batches < 1 || a.batch < 1 || a.repeats < 1)
    throw core::InputError("bench gnn: --steps, --repeats, --batches and --batch must be >= 1, --warmup >= 0");
  if (a.threads > 0) core::set_threads(a.threads);
  const torch::Device dev = core::parse_device(a.device);
  if (a.cuda_graphs && (!dev.is_cuda() || !core::StepGraphs::available()))
    throw core::InputError("bench gnn: --cuda-graphs needs --device cuda and a CUDA build of LibTorch");
  // GraphGPS's ZINC encodings: LapPE with 8 frequencies for GPS, 20 random-walk steps otherwise.
  const std::string pe_text = a.pe.empty() ? (a.model == "gps" ? "lap:k=8" : "rwse:steps=20") : a.pe;
  const auto pe_spec = graph::pe::parse_pe_spec(pe_text);
  const std::string encoder = pe_spec.name;

  graph::GraphModelOptions o;
  o.model(a.model).pe(pe_text).in_dim(kAtomTypes).edge_dim(kBondTypes).out_dim(1).hidden(a.hidden);
  o.layers(a.layers).heads(a.heads).pool("sum").norm("batch").pe_dim(a.pe_dim);
  torch::manual_seed(a.seed);
  graph::GraphModel model(o);  // validates the names before any work
  model->to(dev);
  model->train();

  // The stream: --batches distinct batches, cycled; encodings precomputed, everything on the device
  // except node_ptr (read on the host for the dense attention padding).
  std::mt19937_64 rng(a.seed);
  std::vector<graph::Graph> graphs;
  for (std::int64_t i = 0; i < a.batches * a.batch; ++i) graphs.push_back(synth_molecule(rng));
  graph::pe::DatasetPe pe;
  if (graph::pe::computing_row(encoder).compute) pe = graph::pe::compute_dataset(graphs, {pe_spec.computation()}, a.threads);
  std::vector<DeviceBatch> stream;
  double nodes = 0, edges = 0;
  for (int bi = 0; bi < a.batches; ++bi) {
    std::vector<const graph::Graph*> ptrs;
    for (std::int64_t j = 0; j < a.batch; ++j) ptrs.push_back(&graphs[static_cast<std::size_t>(bi * a.batch + j)]);
    DeviceBatch d;
    auto b = graph::make_batch(ptrs, kAtomTypes, kBondTypes);
    nodes += static_cast<double>(b.x.size(0));
    edges += static_cast<double>(b.edge_index.size(1));
    d.batch = b;
    d.batch.x = b.x.to(dev), d.batch.edge_index = b.edge_index.to(dev), d.batch.edge_attr = b.edge_attr.to(dev);
    d.batch.batch = b.batch.to(dev), d.batch.y = b.y.to(dev).view({-1});
    if (!pe.tensors.empty()) {
      const auto r0 = pe.node_ptr[static_cast<std::size_t>(bi * a.batch)];
      const auto r1 = pe.node_ptr[static_cast<std::size_t>((bi + 1) * a.batch)];
      for (auto& [name, enc] : pe.tensors) {
        auto all = torch::from_blob(enc.values.data(), {static_cast<std::int64_t>(enc.values.size()) / enc.dim, enc.dim},
                                    torch::kFloat32);
        d.pe[name] = all.slice(0, r0, r1).to(dev).clone();
      }
    }
    if (a.cuda_graphs) d.padded = graph::pad_batch(d.batch, d.pe, graph::bucket_shape(d.batch, a.node_step, a.edge_step));
    stream.push_back(std::move(d));
  }
  const double per = static_cast<double>(a.batches * a.batch);

  auto params = model->parameters();
  // AdamW without weight decay = Adam, its step ATen's fused kernel on CUDA (the trainer's
  // optimiser, heads/optim.h), as the PyG side's torch.optim.Adam(fused=True).
  core::FusedAdamW opt(params, torch::optim::AdamWOptions(1e-3).weight_decay(0.0));
  auto total = torch::zeros({}, torch::TensorOptions().device(dev));
  auto train_on = [&](const graph::GraphBatch& b, const graph::PeTensors& pe) {
    opt.zero_grad();
    auto loss = (model->forward(b, pe).squeeze(-1) - b.y).abs().mean();
    loss.backward();
    opt.step();
    total += loss.detach();
  };
  // --cuda-graphs: one captured step per bucket shape, replayed with each batch copied into that
  // shape's static tensors (cuda_graph.h); the same model, optimiser and loss.
  core::StepGraphs step_graphs(dev);
  std::map<std::string, graph::PaddedBatch> slots;
  opt.set_graph_safe(a.cuda_graphs);
  std::int64_t padded_nodes = 0, real_nodes = 0;
  auto step = [&](int i) {
    const auto& d = stream[static_cast<std::size_t>(i % a.batches)];
    if (!a.cuda_graphs) return train_on(d.batch, d.pe);
    const auto key = d.padded.shape.key();
    auto slot = slots.find(key);
    if (slot == slots.end()) slot = slots.emplace(key, d.padded.clone()).first;
    auto& in = slot->second;
    padded_nodes += d.padded.shape.nodes, real_nodes += d.batch.x.size(0);
    const auto ran = step_graphs.run(
        key, [&] { in.copy_from(d.padded), opt.stage_lr(); }, [&] { train_on(in.batch, in.pe); });
    if (ran == core::StepGraphs::Ran::replayed) opt.replayed();
  };
  for (int i = 0; i < a.warmup; ++i) step(i);
  // --repeats blocks of --steps steps, each timed between device synchronisations; the median block
  // gives the figure (a shared machine's hiccups hit single blocks).
  int done = a.warmup;
  const auto blocks = time_blocks(dev, a.repeats, a.steps, [&] { step(done++); });
  const double sec = median(blocks);
  const double gps = static_cast<double>(a.steps * a.batch) / sec;
  const double mean_loss = total.item<double>() / done;
  const double padding = real_nodes ? static_cast<double>(padded_nodes) / static_cast<double>(real_nodes) - 1 : 0.0;
  if (!a.profile.empty()) {
    KernelTrace trace;
    if (trace.start()) {
      for (int i = 0; i < 10; ++i) step(i);
      sync(dev);
      trace.stop(a.profile);
    }
  }

  if (a.json) {
    nlohmann::json out = {{"bench", "gnn"}, {"impl", "pesuite"}, {"model", a.model}, {"encoder", encoder}, {"pe", pe_spec.computation().canonical()},
                          {"device", dev.str()}, {"batch", a.batch}, {"hidden", a.hidden}, {"layers", a.layers},
                          {"heads", a.heads}, {"pe_dim", a.pe_dim}, {"steps", a.steps}, {"repeats", a.repeats}, {"block_s", blocks},
                          {"nodes_per_graph", nodes / per}, {"edges_per_graph", edges / per},
                          {"ms_per_step", 1e3 * sec / a.steps}, {"graphs_per_s", gps}, {"mean_loss", mean_loss},
                          {"cuda_graphs", a.cuda_graphs}, {"graphs_captured", step_graphs.captured()},
                          {"padding", padding},
                          {"torch", TORCH_VERSION}};
    std::cout << out.dump() << "\n";
    return;
  }
  std::cout << "gnn training, " << a.model << " + " << encoder << ", device " << dev.str() << ", batch " << a.batch
            << ", hidden " << a.hidden << ", " << a.layers << " layers, " << nodes / per << " nodes and "
            << edges / per << " directed edges per graph\n"
            << a.steps << " steps after " << a.warmup << " warm-up: " << 1e3 * sec / a.steps << " ms/step, " << gps
            << " graphs/s (mean loss " << mean_loss << ")\n";
  if (a.cuda_graphs)
    std::cout << "CUDA graphs: " << step_graphs.captured() << " shapes captured, "
              << 100.0 * padding << " % padding nodes\n";
}

}  // namespace

void add_bench_gnn(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("gnn", "Training graphs/s of a GNN / graph transformer on ZINC-sized molecules");
  static BenchArgs a;
  cmd->add_option("--model", a.model, "gine | gatedgcn | gps")->capture_default_str();
  cmd->add_option("--pe", a.pe, "Graph encoding spec, e.g. lap:k=8 or rwse:steps=20 (default: lap:k=8 for gps, else rwse:steps=20)");
  cmd->add_option("--device", a.device, "cpu | cuda | cuda:N | auto")->capture_default_str();
  cmd->add_option("--batch", a.batch, "Graphs per batch")->capture_default_str();
  cmd->add_option("--hidden", a.hidden, "Hidden width")->capture_default_str();
  cmd->add_option("--layers", a.layers, "Layers (GraphGPS ZINC: 10)")->capture_default_str();
  cmd->add_option("--heads", a.heads, "Attention heads (gps)")->capture_default_str();
  cmd->add_option("--pe-dim", a.pe_dim, "Channels of the PE encoder")->capture_default_str();
  cmd->add_option("--batches", a.batches, "Distinct batches in the stream (cycled)")->capture_default_str();
  cmd->add_option("--steps", a.steps, "Timed training steps")->capture_default_str();
  cmd->add_option("--warmup", a.warmup, "Untimed steps first")->capture_default_str();
  cmd->add_option("--repeats", a.repeats, "Timed blocks of --steps steps (the median block is reported)")->capture_default_str();
  cmd->add_option("--seed", a.seed, "Seed of the data and the weights")->capture_default_str();
  cmd->add_option("--threads", a.threads, "Intra-op threads (0 = torch's default)")->capture_default_str();
  cmd->add_flag("--json", a.json, "One JSON line (the format of bench_gnn_pyg.py)");
  cmd->add_flag("--cuda-graphs", a.cuda_graphs,
                "Pad batches to bucket shapes and replay each shape's training step as a CUDA graph (cuda only)");
  cmd->add_option("--node-step", a.node_step, "Bucket grid of --cuda-graphs: nodes rounded up to a multiple")->capture_default_str();
  cmd->add_option("--edge-step", a.edge_step, "Bucket grid of --cuda-graphs: edges rounded up to a multiple")->capture_default_str();
  cmd->add_option("--profile", a.profile, "Also trace 10 steps (after timing) to this Chrome-trace JSON (Kineto, LibTorch 2.x)");
  cmd->callback([]() { run(a); });
}

}  // namespace pesuite::cli
