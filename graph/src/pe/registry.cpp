// The graph encoding registry (pe.h): one row per encoding, each owning its keys, its computation,
// its tensors and width, and its learnable encoder (precomputed tensors -> pe_dim node channels; what
// each reads and computes is documented in gnn_encoders.h). The encoders live here, in one
// translation unit, because they are the only part of the registry that needs torch.
//
// Adding an encoding: its computation in a torch-free file of this folder (declared below), its
// encoder class and its row here (docs/EXTENDING.md).
#include <algorithm>

#include "pesuite/core/error.h"
#include "pesuite/graph/gnn_encoders.h"
#include "pesuite/graph/pe.h"

namespace pesuite::graph {
namespace {


// Linear-ReLU-Linear[-ReLU] on the last axis.
torch::nn::Sequential mlp(std::int64_t in, std::int64_t hidden, std::int64_t out, bool final_relu) {
  torch::nn::Sequential s(torch::nn::Linear(in, hidden), torch::nn::ReLU(), torch::nn::Linear(hidden, out));
  if (final_relu) s->push_back(torch::nn::ReLU());
  return s;
}

// The optional ".mask" tensor, or an undefined tensor (= all frequencies real).
torch::Tensor optional_mask(const PeTensors& pe, const std::string& name, std::int64_t rows, std::int64_t cols,
                            const std::string& encoder, const torch::Tensor& like) {
  return pe.count(name) ? pe_tensor(pe, name, rows, cols, encoder, like) : torch::Tensor();
}

// GIN layers where every node carries C independent channels ([N, C, F]): aggregation over the
// graph's edges on the first axis, MLPs on the last, nothing mixes the C axis. SignNet's phi (C =
// eigenvectors) and SPE's rho (C = the columns of Z) are both this.
class SetGINImpl : public torch::nn::Module {
 public:
  SetGINImpl(std::int64_t in, std::int64_t hidden, std::int64_t out, std::int64_t layers) {
    if (layers < 1) throw core::InputError("GIN needs at least 1 layer, got " + std::to_string(layers));
    mlps = register_module("mlps", torch::nn::ModuleList());
    for (std::int64_t l = 0; l < layers; ++l) {
      layers_.push_back(mlp(l == 0 ? in : hidden, hidden, l + 1 == layers ? out : hidden, false));
      mlps->push_back(layers_.back());
    }
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& edge_index) {
    auto src = edge_index[0], dst = edge_index[1];
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      x = layers_[l]->forward(x + scatter_sum(gather_rows(x, src), dst, x.size(0)));
      if (l + 1 < layers_.size()) x = torch::relu(x);
    }
    return x;
  }
  torch::nn::ModuleList mlps{nullptr};  // the same modules as layers_, registered ("mlps.0", ...)

 private:
  std::vector<torch::nn::Sequential> layers_;
};
TORCH_MODULE(SetGIN);

// ---- lap (GraphGPS LapPE) ---------------------------------------------------------------------

class LapEncoder : public PeEncoderImpl {
 public:
  LapEncoder(const pe::PeSpec& spec, const pe::EncoderShape& s) : k_(s.in_dim), deepset_(spec.get("encoder") == "deepset") {
    out_dim_ = s.out_dim;
    if (deepset_)
      net = register_module("net", mlp(2, out_dim_, out_dim_, true));
    else
      lin = register_module("lin", torch::nn::Linear(k_, out_dim_));
  }
  std::vector<std::string> reads() const override {
    return deepset_ ? std::vector<std::string>{"lap", "lap.eigval", "lap.mask"}
                    : std::vector<std::string>{"lap", "lap.mask"};
  }
  torch::Tensor forward(const GraphBatch& b, const PeTensors& pe, const DenseLayout*) override {
    const auto n = b.x.size(0);
    auto v = pe_tensor(pe, "lap", n, k_, "lap", b.x);
    auto mask = optional_mask(pe, "lap.mask", n, k_, "lap", b.x);
    // Eigenvector signs are arbitrary: learn invariance by flipping them at random (one sign per
    // frequency for the whole batch, as GraphGPS), in training only.
    if (is_training()) v = v * (torch::randint(0, 2, {k_}, v.options()) * 2 - 1);
    if (!deepset_) return lin(mask.defined() ? v * mask : v);
    auto lam = pe_tensor(pe, "lap.eigval", n, k_, "lap", b.x);
    auto y = net->forward(torch::stack({v, lam}, -1));  // [N, k, pe_dim]
    if (mask.defined()) y = y * mask.unsqueeze(-1);
    return y.sum(1);
  }
  torch::nn::Sequential net{nullptr};
  torch::nn::Linear lin{nullptr};

 private:
  std::int64_t k_;
  bool deepset_;
};

// ---- rwse (GraphGPS kernel PE) ----------------------------------------------------------------

class RwseEncoder : public PeEncoderImpl {
 public:
  RwseEncoder(const pe::PeSpec&, const pe::EncoderShape& s) : steps_(s.in_dim) {
    out_dim_ = s.out_dim;
    norm = register_module("norm", torch::nn::BatchNorm1d(steps_));
    lin = register_module("lin", torch::nn::Linear(steps_, out_dim_));
  }
  std::vector<std::string> reads() const override { return {"rwse"}; }
  torch::Tensor forward(const GraphBatch& b, const PeTensors& pe, const DenseLayout*) override {
    return lin(batch_norm_rows(norm, pe_tensor(pe, "rwse", b.x.size(0), steps_, "rwse", b.x), b.node_mask));
  }
  torch::nn::BatchNorm1d norm{nullptr};
  torch::nn::Linear lin{nullptr};

 private:
  std::int64_t steps_;
};

// ---- spe (Huang et al., stable expressive PE) -------------------------------------------------

class SpeEncoder : public PeEncoderImpl {
 public:
  static constexpr std::int64_t kPhiHidden = 32, kRhoHidden = 32;
  SpeEncoder(const pe::PeSpec& spec, const pe::EncoderShape& s) : k_(s.in_dim), m_(spec.get_int("phis")) {
    out_dim_ = s.out_dim;
    phi = register_module("phi", mlp(1, kPhiHidden, m_, false));
    rho = register_module("rho", SetGIN(m_, kRhoHidden, out_dim_, spec.get_int("rho_layers")));
  }
  std::vector<std::string> reads() const override { return {"eig", "eig.eigval", "eig.mask"}; }
  torch::Tensor forward(const GraphBatch& b, const PeTensors& pe, const DenseLayout* dense) override {
    const auto n = b.x.size(0);
    auto v = pe_tensor(pe, "eig", n, k_, "spe", b.x);
    auto lam = pe_tensor(pe, "eig.eigval", n, k_, "spe", b.x);
    auto mask = optional_mask(pe, "eig.mask", n, k_, "spe", b.x);
    DenseLayout own;
    if (!dense) {
      own = dense_layout(b);
      dense = &own;
    }
    const auto& d = *dense;
    // Eigenvalues are stored per node (the graph's, repeated): a graph's are its first row's.
    auto lam_g = to_dense(lam, d).select(1, 0);  // [G, k]
    auto f = phi->forward(lam_g.unsqueeze(-1));  // [G, k, m]: phi_l(lambda_k), element-wise
    if (mask.defined()) {
      f = f * to_dense(mask, d).select(1, 0).unsqueeze(-1);
      v = v * mask;
    }
    auto vd = to_dense(v, d);                                         // [G, Nmax, k]
    auto scaled = vd.unsqueeze(1) * f.transpose(1, 2).unsqueeze(2);   // [G, m, Nmax, k]
    auto z = torch::matmul(scaled, vd.transpose(1, 2).unsqueeze(1));  // [G, m, Nmax, Nmax]
    // Row i of each graph's Z becomes node i's features: [N, Nmax (columns j), m].
    auto x = from_dense(z.permute({0, 2, 3, 1}), d);
    auto y = rho(x, b.edge_index);                                    // [N, Nmax, pe_dim]
    auto cols = d.mask.index_select(0, d.node_graph).unsqueeze(-1).to(y.scalar_type());
    return (y * cols).sum(1);  // padding columns carry rho's biases: drop them
  }
  torch::nn::Sequential phi{nullptr};
  SetGIN rho{nullptr};

 private:
  std::int64_t k_, m_;
};

// ---- signnet (Lim et al.) ---------------------------------------------------------------------

class SignNetEncoder : public PeEncoderImpl {
 public:
  static constexpr std::int64_t kPhiHidden = 64, kPhiOut = 4, kPhiLayers = 3;
  SignNetEncoder(const pe::PeSpec&, const pe::EncoderShape& s) : k_(s.in_dim) {
    out_dim_ = s.out_dim;
    phi = register_module("phi", SetGIN(1, kPhiHidden, kPhiOut, kPhiLayers));
    rho = register_module("rho", mlp(k_ * kPhiOut, 2 * out_dim_, out_dim_, false));
  }
  std::vector<std::string> reads() const override { return {"eig", "eig.mask"}; }
  torch::Tensor forward(const GraphBatch& b, const PeTensors& pe, const DenseLayout*) override {
    const auto n = b.x.size(0);
    auto v = pe_tensor(pe, "eig", n, k_, "signnet", b.x).unsqueeze(-1);  // [N, k, 1]
    auto mask = optional_mask(pe, "eig.mask", n, k_, "signnet", b.x);
    auto y = phi(v, b.edge_index) + phi(-v, b.edge_index);  // [N, k, 4], sign invariant
    if (mask.defined()) y = y * mask.unsqueeze(-1);
    return rho->forward(y.reshape({n, k_ * kPhiOut}));
  }
  SetGIN phi{nullptr};
  torch::nn::Sequential rho{nullptr};

 private:
  std::int64_t k_;
};

// ---- rfp (random feature propagation trajectories) ---------------------------------------------

class RfpEncoder : public PeEncoderImpl {
 public:
  RfpEncoder(const pe::PeSpec& spec, const pe::EncoderShape& s)
      : cols_(s.in_dim), steps_(spec.get_int("steps") + 1), features_(spec.get_int("features")) {
    out_dim_ = s.out_dim;
    if (cols_ % (steps_ * features_))
      throw core::InputError("encoder 'rfp': pe_in_dim " + std::to_string(cols_) + " is not runs * (steps + 1) * features with steps = " +
                             std::to_string(steps_ - 1) + ", features = " + std::to_string(features_) + " (narrow whole runs only)");
    runs_ = cols_ / (steps_ * features_);
    phi = register_module("phi", mlp(steps_, 2 * out_dim_, 2 * out_dim_, true));
    rho = register_module("rho", torch::nn::Linear(2 * out_dim_, out_dim_));
  }
  std::vector<std::string> reads() const override { return {"rfp"}; }
  torch::Tensor forward(const GraphBatch& b, const PeTensors& pe, const DenseLayout*) override {
    const auto n = b.x.size(0);
    auto t = pe_tensor(pe, "rfp", n, cols_, "rfp", b.x).view({n, runs_, steps_, features_}).transpose(2, 3);
    // [N, runs, features, steps]: one trajectory per (run, feature), the same phi for all of them.
    return rho(phi->forward(t).mean(std::vector<std::int64_t>{1, 2}));
  }
  torch::nn::Sequential phi{nullptr};
  torch::nn::Linear rho{nullptr};

 private:
  std::int64_t cols_, steps_, features_, runs_ = 1;
};

}  // namespace


torch::Tensor pe_tensor(const PeTensors& pe, const std::string& name, std::int64_t rows, std::int64_t cols,
                        const std::string& encoder, const torch::Tensor& like) {
  auto it = pe.find(name);
  if (it == pe.end() || !it->second.defined())
    throw core::InputError("encoder '" + encoder + "' needs the encoding '" + name + "' (precompute the model's pe spec with `pesuite graph pe`)");
  const auto& t = it->second;
  if (t.dim() != 2 || t.size(0) != rows)
    throw core::InputError("encoding '" + name + "' must be [" + std::to_string(rows) + ", " + std::to_string(cols) + "] (one row per node of the batch), got " +
                           (t.dim() == 2 ? "[" + std::to_string(t.size(0)) + ", " + std::to_string(t.size(1)) + "]" : std::to_string(t.dim()) + " dims"));
  if (t.size(1) != cols)
    throw core::InputError("encoding '" + name + "' has " + std::to_string(t.size(1)) + " columns, model expects " + std::to_string(cols));
  return t.to(like.device(), like.scalar_type());
}

std::shared_ptr<PeEncoderImpl> make_pe_encoder(const pe::PeSpec& spec, const pe::EncoderShape& shape) {
  const pe::PeRow& r = pe::row(spec.name);
  if (!r.encoder) return nullptr;
  if (shape.in_dim <= 0)
    throw core::InputError("encoder '" + spec.name + "' needs pe_in_dim > 0 (the columns of its encoding; " +
                           std::to_string(pe::computing_row(spec.name).in_dim(spec.computation())) + " for `" + spec.canonical() + "`)");
  if (shape.out_dim <= 0) throw core::InputError("encoder '" + spec.name + "': pe_dim must be > 0, got " + std::to_string(shape.out_dim));
  return r.encoder(spec, shape);
}

namespace pe {

// The computations (torch-free, each in its own file of this folder).
namespace {

LapOptions lap_options(const PeSpec& s) {
  LapOptions o;
  o.k = s.get_int("k");
  o.norm = s.get("norm");
  o.per_component = s.get("per_component") == "1";
  o.solver = s.get("solver");
  o.dense_max = s.get_int("dense_max");
  return o;
}

std::vector<core::ParamInfo> eigen_keys(const std::string& k_default, const std::string& k_help) {
  return {core::ParamInfo::integer("k", k_default, k_help, 1),
          core::ParamInfo::choice("norm", "sym", "Laplacian: none (D - A) | sym | rw", {"none", "sym", "rw"}),
          core::ParamInfo::choice("per_component", "0", "eigenvectors of each connected component separately", {"0", "1"}),
          core::ParamInfo::choice("solver", "auto", "auto | dense | shift_invert | lanczos | chebyshev",
                                  {"auto", "dense", "shift_invert", "lanczos", "chebyshev"}),
          core::ParamInfo::integer("dense_max", "600", "auto: dense solver up to this many nodes", 1)};
}

std::int64_t k_columns(const PeSpec& s) { return s.get_int("k"); }

template <class Encoder>
EncoderFactory encoder_of() {
  return [](const PeSpec& spec, const EncoderShape& shape) -> std::shared_ptr<PeEncoderImpl> {
    return std::make_shared<Encoder>(spec, shape);
  };
}

PeRow lap_row() {
  PeRow r;
  r.name = "lap";
  r.help = "Laplacian eigenvectors (GraphGPS LapPE) + eigenvalues + mask";
  r.keys = eigen_keys("10", "number of eigenvectors (GraphGPS max_freqs)");
  r.keys.insert(r.keys.begin() + 2, core::ParamInfo::choice("trivial", "keep", "keep | drop the first (lambda = 0) pair", {"keep", "drop"}));
  r.keys.insert(r.keys.begin() + 4, core::ParamInfo::choice("random_sign", "0", "flip each eigenvector's sign at random (seeded; for training)", {"0", "1"}));
  r.keys.insert(r.keys.begin() + 5, core::ParamInfo::integer("seed", "0", "seed of random_sign"));
  r.encoder_keys = {core::ParamInfo::choice("encoder", "deepset", "GraphGPS LapPE encoder: deepset | linear", {"deepset", "linear"})};
  r.compute = [](const Graph& g, const PeSpec& s, Index i) {
    LapOptions o = lap_options(s);
    o.keep_trivial = s.get("trivial") == "keep";
    o.random_sign = s.get("random_sign") == "1";
    o.seed = static_cast<std::uint64_t>(s.get_int("seed"));
    return lap_pe(g, o, i, "lap");
  };
  r.tensors = {"lap", "lap.eigval", "lap.mask"};
  r.in_dim = k_columns;
  r.encoder = encoder_of<LapEncoder>();
  return r;
}

PeRow eig_row() {
  PeRow r;
  r.name = "eig";
  r.help = "first k eigenpairs as they are (the input of spe / signnet)";
  r.keys = eigen_keys("37", "number of pairs (SPE ZINC pe_dims)");
  r.compute = [](const Graph& g, const PeSpec& s, Index i) { return lap_pe(g, lap_options(s), i, "eig"); };
  r.tensors = {"eig", "eig.eigval", "eig.mask"};
  r.in_dim = k_columns;
  return r;
}

PeRow rwse_row() {
  PeRow r;
  r.name = "rwse";
  r.help = "random-walk return probabilities diag((D^-1 A)^t), t = 1..steps";
  r.keys = {core::ParamInfo::integer("steps", "20", "walk length (GraphGPS ZINC kernel.times 1..20)", 1)};
  r.compute = [](const Graph& g, const PeSpec& s, Index) {
    const Index steps = s.get_int("steps");
    const auto values = rwse(g, steps);
    GraphPe out;
    out.tensors.push_back(Encoding{"rwse", steps, std::vector<float>(values.begin(), values.end())});
    return out;
  };
  r.tensors = {"rwse"};
  r.in_dim = [](const PeSpec& s) { return s.get_int("steps"); };
  r.encoder = encoder_of<RwseEncoder>();
  return r;
}

PeRow rfp_row() {
  PeRow r;
  r.name = "rfp";
  r.help = "random feature propagation trajectories (Eliasof et al. 2023)";
  r.keys = {core::ParamInfo::integer("features", "8", "random columns r", 1),
            core::ParamInfo::integer("steps", "8", "propagation steps P (all P + 1 are returned)", 1),
            core::ParamInfo::choice("op", "adj", "adj (D~^-1/2 (A + I) D~^-1/2) | lap (sym Laplacian) | rw (D^-1 A)", {"adj", "lap", "rw"}),
            core::ParamInfo::choice("norm", "l2", "l2 (per column) | qr", {"l2", "qr"}),
            core::ParamInfo::choice("init", "gaussian", "gaussian | uniform | rademacher", {"gaussian", "uniform", "rademacher"}),
            core::ParamInfo::integer("runs", "1", "independent initialisations", 1),
            core::ParamInfo::integer("seed", "0", "seed")};
  r.compute = [](const Graph& g, const PeSpec& s, Index i) {
    RfpOptions o;
    o.features = s.get_int("features");
    o.steps = s.get_int("steps");
    o.runs = s.get_int("runs");
    o.op = s.get("op");
    o.norm = s.get("norm");
    o.init = s.get("init");
    o.seed = static_cast<std::uint64_t>(s.get_int("seed"));
    GraphPe out;
    out.tensors.push_back(rfp(g, o, i));
    return out;
  };
  r.tensors = {"rfp"};
  r.in_dim = [](const PeSpec& s) { return s.get_int("runs") * (s.get_int("steps") + 1) * s.get_int("features"); };
  r.encoder = encoder_of<RfpEncoder>();
  return r;
}

// spe and signnet read eig's computation (one cache file serves both); only their encoders differ.
PeRow spe_row() {
  PeRow r;
  r.name = "spe";
  r.help = "SPE (Huang et al. 2024): rho(V diag(phi_l(lambda)) V^T, l = 1..phis), stable and expressive";
  r.keys = eigen_keys("37", "eigenpairs read (SPE ZINC pe_dims; all of a molecule's)");
  r.encoder_keys = {core::ParamInfo::integer("phis", "16", "number of phi_l (the SPE authors' ZINC setting)", 1),
                    core::ParamInfo::integer("rho_layers", "8", "GIN layers of rho", 1)};
  r.computes = "eig";
  r.encoder = encoder_of<SpeEncoder>();
  r.dense = true;
  return r;
}

PeRow signnet_row() {
  PeRow r;
  r.name = "signnet";
  r.help = "SignNet (Lim et al. 2022): rho([phi(v_i) + phi(-v_i)]_i), invariant to eigenvector signs";
  r.keys = eigen_keys("37", "eigenpairs read");
  r.computes = "eig";
  r.encoder = encoder_of<SignNetEncoder>();
  return r;
}

PeRow none_row() {
  PeRow r;
  r.name = "none";
  r.help = "no encoding (the model's node features alone)";
  r.in_dim = [](const PeSpec&) { return std::int64_t{0}; };
  return r;
}

}  // namespace

const std::vector<PeRow>& rows() {
  static const std::vector<PeRow> table = {none_row(), lap_row(), eig_row(), rwse_row(), rfp_row(), spe_row(), signnet_row()};
  return table;
}

}  // namespace pe
}  // namespace pesuite::graph
