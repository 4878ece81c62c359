// Data and encodings for graph training: load + check the dataset against the task, fix feature
// widths for the whole dataset, precompute the encodings once (PE cache), gather rows per batch.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "pesuite/graph/pe_cache.h"
#include "pesuite/graph/training.h"
#include "pesuite/graph/training_data.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/graph/pe.h"

namespace pesuite::graph {

std::int64_t GraphData::size() const {
  return task == "node_classification" ? ds.graphs.front().num_nodes : static_cast<std::int64_t>(ds.graphs.size());
}

graph::GraphBatch GraphData::batch(const std::vector<std::int64_t>& graphs, graph::PeTensors* out) const {
  std::vector<const graph::Graph*> ptrs;
  ptrs.reserve(graphs.size());
  for (auto g : graphs) ptrs.push_back(&ds.graphs[static_cast<std::size_t>(g)]);
  graph::GraphBatch b = graph::make_batch(ptrs, num_node_labels, num_edge_labels);
  if (edge_dim > 0 && b.edge_attr.size(1) != edge_dim) {
    // make_batch drops edge features when a graph of the batch has no edges (its feature list is
    // empty, e.g. a one-atom molecule); rebuild them here, in make_batch's edge order (CSR).
    auto ea = torch::zeros({b.edge_index.size(1), edge_dim}, torch::kFloat32);
    float* p = ea.data_ptr<float>();
    std::int64_t row = 0;
    for (const auto* g : ptrs)
      for (std::size_t e = 0; e < g->col.size(); ++e, ++row) {
        const auto src = static_cast<std::size_t>(g->edge_source[e]);
        if (!g->edge_features.empty() && g->edge_feature_dim == edge_dim)
          std::copy_n(&g->edge_features[src * static_cast<std::size_t>(edge_dim)], edge_dim, p + row * edge_dim);
        else if (!g->edge_labels.empty())
          p[row * edge_dim + g->edge_labels[src]] = 1.f;
      }
    b.edge_attr = ea;
  }
  if (out) {
    out->clear();
    if (!pe.empty()) {
      // Rows node_ptr[g] .. node_ptr[g+1] of every graph, in batch order: the same rows as b.x.
      std::vector<std::int64_t> rows;
      for (auto g : graphs)
        for (auto r = pe_node_ptr[static_cast<std::size_t>(g)]; r < pe_node_ptr[static_cast<std::size_t>(g) + 1]; ++r)
          rows.push_back(r);
      auto idx = torch::from_blob(rows.data(), {static_cast<std::int64_t>(rows.size())}, torch::kInt64).clone();
      for (const auto& [name, t] : pe) (*out)[name] = t.index_select(0, idx);
    }
  }
  return b;
}

torch::Tensor GraphData::targets(const std::vector<std::int64_t>& graphs) const {
  const auto T = static_cast<std::int64_t>(target_columns.size());
  auto y = torch::empty({static_cast<std::int64_t>(graphs.size()), T}, torch::kFloat32);
  float* p = y.data_ptr<float>();
  for (std::size_t i = 0; i < graphs.size(); ++i) {
    const auto& t = ds.graphs[static_cast<std::size_t>(graphs[i])].graph_targets;
    for (std::int64_t j = 0; j < T; ++j)
      p[static_cast<std::int64_t>(i) * T + j] = static_cast<float>(t[static_cast<std::size_t>(target_columns[static_cast<std::size_t>(j)])]);
  }
  return y;
}

namespace {

// Integer-coded categorical columns (OGB atom / bond features) -> concatenated one-hot blocks, the
// vocabulary of each column being its largest value in the dataset + 1. OGB's AtomEncoder embeds
// the same codes; a linear layer on one-hot columns is that embedding.
void one_hot_columns(std::vector<graph::Graph>& graphs, bool edges) {
  std::int64_t dim = -1;
  std::vector<std::int64_t> vocab;
  for (const auto& g : graphs) {
    const auto& f = edges ? g.edge_features : g.node_features;
    const auto d = edges ? g.edge_feature_dim : g.node_feature_dim;
    if (f.empty()) continue;
    if (dim < 0) {
      dim = d;
      vocab.assign(static_cast<std::size_t>(d), 0);
    }
    if (d != dim) return;  // mixed widths: leave as they are
    for (std::size_t i = 0; i < f.size(); ++i) {
      const double v = f[i];
      if (v < 0 || v != std::floor(v) || v > 100000) return;  // not categorical codes
      auto& m = vocab[i % static_cast<std::size_t>(d)];
      m = std::max(m, static_cast<std::int64_t>(v) + 1);
    }
  }
  if (dim <= 0) return;
  std::vector<std::int64_t> offset(static_cast<std::size_t>(dim) + 1, 0);
  for (std::int64_t j = 0; j < dim; ++j) offset[static_cast<std::size_t>(j) + 1] = offset[static_cast<std::size_t>(j)] + vocab[static_cast<std::size_t>(j)];
  const auto width = offset.back();
  for (auto& g : graphs) {
    auto& f = edges ? g.edge_features : g.node_features;
    if (f.empty()) continue;
    const auto rows = static_cast<std::int64_t>(f.size()) / dim;
    std::vector<float> out(static_cast<std::size_t>(rows * width), 0.f);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < dim; ++j)
        out[static_cast<std::size_t>(r * width + offset[static_cast<std::size_t>(j)] + static_cast<std::int64_t>(f[static_cast<std::size_t>(r * dim + j)]))] = 1.f;
    f = std::move(out);
    (edges ? g.edge_feature_dim : g.node_feature_dim) = width;
  }
}

}  // namespace

std::vector<std::string> graph_dataset_specs(const core::Config& cfg) {
  const std::string root = datasets::data_root(cfg.get_string("data.root"));
  std::vector<std::string> out;
  for (const char* key : {"data.spec", "data.val_spec", "data.test_spec"})
    if (const auto text = cfg.get_string(key); !text.empty()) out.push_back(datasets::expand_data_root(text, root));
  return out;
}

namespace {

// The dataset of data.spec, and with data.val_spec / data.test_spec (ZINC_train / ZINC_val /
// ZINC_test) the parts appended to it as the split.
void load_graphs(const core::Config& cfg, GraphData& d) {
  const std::string root = datasets::data_root(cfg.get_string("data.root"));
  d.spec = datasets::expand_data_root(cfg.get_string("data.spec"), root);
  const auto spec = datasets::parse_spec(d.spec);
  d.format = spec.format;
  if (!spec.info().load_graphs)
    throw core::InputError("config data.spec '" + d.spec + "': '" + spec.format + "' is not a graph format");
  d.ds = datasets::load_graph_dataset(spec);
  if (d.ds.graphs.empty()) throw core::InputError("config data.spec '" + d.spec + "': the dataset has no graphs");
  const std::string val_text = cfg.get_string("data.val_spec"), test_text = cfg.get_string("data.test_spec");
  if (val_text.empty() && test_text.empty()) return;
  if (test_text.empty()) throw core::InputError("config data.val_spec is set but data.test_spec is not");
  const auto n_train = static_cast<std::int64_t>(d.ds.graphs.size());
  d.ds.splits.clear();
  for (std::int64_t i = 0; i < n_train; ++i) d.ds.splits["train"].push_back(i);
  for (const auto& [part, text] : {std::pair<std::string, std::string>{"valid", val_text}, {"test", test_text}}) {
    if (text.empty()) continue;
    const auto part_spec = datasets::parse_spec(datasets::expand_data_root(text, root));
    auto extra = datasets::load_graph_dataset(part_spec);
    if (extra.task != d.ds.task)
      throw core::InputError("config data." + std::string(part == "valid" ? "val_spec" : "test_spec") + " '" + part_spec.text +
                             "': task " + extra.task + ", the training set's is " + d.ds.task);
    for (auto& g : extra.graphs) {
      d.ds.splits[part].push_back(static_cast<std::int64_t>(d.ds.graphs.size()));
      d.ds.graphs.push_back(std::move(g));
    }
    d.ds.num_classes = std::max(d.ds.num_classes, extra.num_classes);
  }
}

// data.task against the dataset; class labels or regression targets.
void set_task_and_labels(const core::Config& cfg, GraphData& d) {
  std::string task = cfg.get_string("data.task");
  if (task == "auto") task = d.ds.task;
  if (task != "graph_classification" && task != "graph_regression" && task != "node_classification")
    throw core::InputError("config data.spec '" + d.spec + "': dataset '" + d.ds.name + "' has no labels or targets to train on (task '" +
                           task + "'; graph training needs graph_classification, graph_regression or node_classification)");
  d.task = task;
  if (task == "graph_classification") {
    for (std::size_t i = 0; i < d.ds.graphs.size(); ++i) {
      const auto l = d.ds.graphs[i].graph_label;
      if (l < 0)
        throw core::InputError("config data.spec '" + d.spec + "': graph " + std::to_string(i) +
                               " has no class label (task graph_classification needs one per graph)");
      d.labels.push_back(l);
      d.num_classes = std::max(d.num_classes, l + 1);
    }
    d.num_classes = std::max(d.num_classes, d.ds.num_classes);
    if (d.num_classes < 2) throw core::InputError("config data.spec '" + d.spec + "': graph_classification needs at least 2 classes");
    d.out_dim = d.num_classes;
  } else if (task == "node_classification") {
    if (d.ds.graphs.size() != 1)
      throw core::InputError("config data.spec '" + d.spec + "': node_classification trains on one graph, the dataset has " +
                             std::to_string(d.ds.graphs.size()));
    const auto& g = d.ds.graphs.front();
    if (static_cast<std::int64_t>(g.node_labels.size()) != g.num_nodes)
      throw core::InputError("config data.spec '" + d.spec + "': node_classification needs a label on every node");
    d.labels = g.node_labels;
    for (auto l : d.labels) d.num_classes = std::max(d.num_classes, l + 1);
    d.out_dim = d.num_classes;
  } else {
    const auto width = d.ds.graphs.front().graph_targets.size();
    for (std::size_t i = 0; i < d.ds.graphs.size(); ++i)
      if (d.ds.graphs[i].graph_targets.empty() || d.ds.graphs[i].graph_targets.size() != width)
        throw core::InputError("config data.spec '" + d.spec + "': graph " + std::to_string(i) + " has " +
                               std::to_string(d.ds.graphs[i].graph_targets.size()) + " regression targets, expected " +
                               std::to_string(width) + " (task graph_regression)");
    auto cols = cfg.get_ints("data.targets");
    if (cols.empty())
      for (std::size_t j = 0; j < width; ++j) cols.push_back(static_cast<std::int64_t>(j));
    for (auto c : cols) {
      if (c < 0 || c >= static_cast<std::int64_t>(width))
        throw core::InputError("config data.targets: column " + std::to_string(c) + " out of range (the dataset has " +
                               std::to_string(width) + " targets)");
      d.target_columns.push_back(c);
      d.target_names.push_back(static_cast<std::size_t>(c) < d.ds.target_names.size() ? d.ds.target_names[static_cast<std::size_t>(c)]
                                                                                      : "target" + std::to_string(c));
    }
    d.out_dim = static_cast<std::int64_t>(d.target_columns.size());
  }
}

// One-hot categorical codes (data.categorical), label vocabularies, and the node / edge widths every
// batch will have.
void fix_feature_widths(const core::Config& cfg, GraphData& d) {
  const std::string cat = cfg.get_string("data.categorical");
  if (cat != "auto" && cat != "true" && cat != "false")
    throw core::InputError("config data.categorical: expected auto, true or false (got '" + cat + "')");
  if (cat == "true" || (cat == "auto" && d.ds.categorical_features)) {
    one_hot_columns(d.ds.graphs, false);
    one_hot_columns(d.ds.graphs, true);
  }
  for (const auto& g : d.ds.graphs) {
    for (auto l : g.node_labels) d.num_node_labels = std::max(d.num_node_labels, l + 1);
    for (auto l : g.edge_labels) d.num_edge_labels = std::max(d.num_edge_labels, l + 1);
  }
  // Widths from a graph that has edges (a graph without any carries no edge features).
  std::int64_t probe_graph = 0;
  for (std::size_t i = 0; i < d.ds.graphs.size(); ++i)
    if (d.ds.graphs[i].num_stored_edges() > 0) {
      probe_graph = static_cast<std::int64_t>(i);
      break;
    }
  graph::GraphBatch probe = d.batch({probe_graph});
  d.in_dim = probe.x.size(1);
  d.edge_dim = probe.edge_attr.size(1);
}

// The model's encoding, once for the whole dataset (through the PE cache), narrowed to
// model.pe_in_dim columns.
void compute_encodings(const core::Config& cfg, GraphData& d) {
  if (d.pe_main.empty()) return;
  PeCacheOptions o;
  o.use_cache = cfg.get_bool("data.pe_cache");
  o.cache_dir = cfg.get_string("data.pe_cache_dir");
  o.progress = true;
  const auto r = graph_encodings(d.ds, {d.pe_spec.computation().canonical()}, o);
  d.pe_seconds = r.from_cache ? 0.0 : r.seconds;
  d.pe_from_cache = r.from_cache;
  auto np = r.file.tensors.at("node_ptr").to(torch::kInt64).contiguous();
  d.pe_node_ptr.assign(np.data_ptr<std::int64_t>(), np.data_ptr<std::int64_t>() + np.numel());
  for (const auto& [name, t] : r.file.tensors)
    if (name != "node_ptr") d.pe[name] = t.to(torch::kFloat32).contiguous();
  const std::string text = cfg.get_string("model.pe");
  if (!d.pe.count(d.pe_main))
    throw core::InputError("config model.pe '" + text + "': the encodings hold no '" + d.pe_main + "' tensor");
  const auto have = d.pe.at(d.pe_main).size(1);
  const auto want = cfg.get_int("model.pe_in_dim");
  if (want > have)
    throw core::InputError("config model.pe_in_dim = " + std::to_string(want) + ": encoding '" + text + "' gives only " +
                           std::to_string(have) + " columns of '" + d.pe_main + "'");
  if (want < 0) throw core::InputError("config model.pe_in_dim must be >= 0 (0 = the encoding's width)");
  d.pe_in_dim = want > 0 ? want : have;
  if (d.pe_in_dim < have)  // narrow the encoding and its companions (eigval, mask) alike
    for (auto& [name, t] : d.pe)
      if (name.rfind(d.pe_main, 0) == 0 && t.size(1) == have) t = t.narrow(1, 0, d.pe_in_dim).contiguous();
}

}  // namespace

GraphData prepare_graph_data(const core::Config& cfg) {
  GraphData d;
  // The encoding and the model are checked before the (possibly long) load.
  try {
    d.pe_spec = pe::parse_pe_spec(cfg.get_string("model.pe"));
  } catch (const core::InputError& e) {
    throw core::InputError(std::string("config model.pe: ") + e.what());
  }
  const auto& tensors = pe::computing_row(d.pe_spec.name).tensors;
  d.pe_main = tensors.empty() ? "" : tensors.front();
  try {
    graph_model(cfg.get_string("model.name"));
  } catch (const core::InputError& e) {
    throw core::InputError(std::string("config model.name: ") + e.what());
  }
  load_graphs(cfg, d);
  set_task_and_labels(cfg, d);
  fix_feature_widths(cfg, d);
  compute_encodings(cfg, d);
  return d;
}

}  // namespace pesuite::graph
