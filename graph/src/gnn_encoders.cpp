// Learnable PE encoders (lap, rwse, spe, signnet, rfp): precomputed tensors -> pe_dim node channels.
// What each reads and computes is documented in gnn_encoders.h.
#include "pesuite/graph/gnn_encoders.h"

#include <algorithm>

#include "pesuite/heads/error.h"

namespace pesuite::graph {
namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

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
    if (layers < 1) throw InputError("GIN needs at least 1 layer, got " + str(layers));
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
  explicit LapEncoder(const GraphModelOptions& o) : k_(o.pe_in_dim()), deepset_(o.lap_encoder() == "deepset") {
    out_dim_ = o.pe_dim();
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
  explicit RwseEncoder(const GraphModelOptions& o) : steps_(o.pe_in_dim()) {
    out_dim_ = o.pe_dim();
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
  explicit SpeEncoder(const GraphModelOptions& o) : k_(o.pe_in_dim()), m_(o.spe_phis()) {
    out_dim_ = o.pe_dim();
    if (m_ < 1) throw InputError("spe_phis must be >= 1, got " + str(m_));
    phi = register_module("phi", mlp(1, kPhiHidden, m_, false));
    rho = register_module("rho", SetGIN(m_, kRhoHidden, out_dim_, o.spe_rho_layers()));
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
  explicit SignNetEncoder(const GraphModelOptions& o) : k_(o.pe_in_dim()) {
    out_dim_ = o.pe_dim();
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
  explicit RfpEncoder(const GraphModelOptions& o)
      : cols_(o.pe_in_dim()), steps_(o.rfp_steps() + 1), features_(o.rfp_features()) {
    out_dim_ = o.pe_dim();
    if (o.rfp_steps() < 0 || features_ < 1 || cols_ % (steps_ * features_))
      throw InputError("encoder 'rfp': pe_in_dim " + str(cols_) + " is not runs * (rfp_steps + 1) * rfp_features with " +
                       "rfp_steps = " + str(o.rfp_steps()) + ", rfp_features = " + str(features_));
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
    throw InputError("encoder '" + encoder + "' needs the encoding '" + name + "' (precompute `" +
                     required_pe_spec(encoder) + "` with `pesuite graph pe`)");
  const auto& t = it->second;
  if (t.dim() != 2 || t.size(0) != rows)
    throw InputError("encoding '" + name + "' must be [" + str(rows) + ", " + str(cols) + "] (one row per node of the batch), got " +
                     (t.dim() == 2 ? "[" + str(t.size(0)) + ", " + str(t.size(1)) + "]" : str(t.dim()) + " dims"));
  if (t.size(1) != cols)
    throw InputError("encoding '" + name + "' has " + str(t.size(1)) + " columns, model expects " + str(cols));
  return t.to(like.device(), like.scalar_type());
}

std::shared_ptr<PeEncoderImpl> make_pe_encoder(const GraphModelOptions& o) {
  const auto& e = o.encoder();
  if (e == "none") return nullptr;
  const auto valid = list_graph_encoders();
  if (std::find(valid.begin(), valid.end(), e) == valid.end()) {
    std::string names;
    for (const auto& v : valid) names += (names.empty() ? "" : ", ") + v;
    throw InputError("graph encoder '" + e + "' is unknown (valid: " + names + ")");
  }
  if (o.pe_in_dim() <= 0)
    throw InputError("encoder '" + e + "' needs pe_in_dim (the columns of its encoding; " + str(required_pe_in_dim(e)) +
                     " for `" + required_pe_spec(e) + "`)");
  if (o.pe_dim() <= 0) throw InputError("encoder '" + e + "': pe_dim must be > 0, got " + str(o.pe_dim()));
  if (e == "lap") {
    if (o.lap_encoder() != "deepset" && o.lap_encoder() != "linear")
      throw InputError("lap_encoder '" + o.lap_encoder() + "' is unknown (valid: linear, deepset)");
    return std::make_shared<LapEncoder>(o);
  }
  if (e == "rwse") return std::make_shared<RwseEncoder>(o);
  if (e == "spe") return std::make_shared<SpeEncoder>(o);
  if (e == "signnet") return std::make_shared<SignNetEncoder>(o);
  return std::make_shared<RfpEncoder>(o);
}

}  // namespace pesuite::graph
