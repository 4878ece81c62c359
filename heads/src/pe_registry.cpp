// The registry table of positional encodings: one row per PE, its parameters with defaults, and
// the factory that builds it. Explicit on purpose (no self-registering statics).
#include "pesuite/heads/pe_registry.h"

#include <functional>

#include "pesuite/core/error.h"

namespace pesuite::heads {
namespace {

// The spec's values, already checked against the row's schema (core::resolve).
using Reader = core::Params;

struct Need {
  const std::string& pe;
  const PeShape& s;
  std::int64_t heads() const {
    if (s.heads <= 0) throw core::InputError("pe '" + pe + "': the model gave no head count");
    return s.heads;
  }
  std::int64_t head_dim() const {
    if (s.head_dim > 0) return s.head_dim;
    if (s.dim <= 0 || s.heads <= 0) throw core::InputError("pe '" + pe + "': the model gave no head_dim (dim / heads)");
    return s.dim / s.heads;
  }
  std::int64_t dim() const {
    if (s.dim <= 0) throw core::InputError("pe '" + pe + "': the model gave no token width");
    return s.dim;
  }
  void grid() const {
    if (s.grid_h <= 0 || s.grid_w <= 0) throw core::InputError("pe '" + pe + "': needs an image grid (grid_h x grid_w)");
  }
};

struct Entry {
  PeInfo info;
  std::function<void(const Reader&, const Need&, PositionalEncoding&)> make;
};

const std::vector<Entry>& table() {
  static const std::vector<Entry> rows = {
      {{"none", "none", {}, "NoPE: no positional information"},
       [](const Reader&, const Need&, PositionalEncoding& pe) { pe.term = NoPE().ptr(); }},
      {{"alibi", "bias", {}, "ALiBi: -m_h * distance, paper slopes for any head count (Press et al. 2022)"},
       [](const Reader&, const Need& n, PositionalEncoding& pe) { pe.term = Alibi(AlibiOptions(n.heads())).ptr(); }},
      {{"alibi2d",
        "bias",
        {core::ParamInfo::choice("metric", "euclidean", "distance between grid cells", {"euclidean", "manhattan"}),
         core::ParamInfo::real("scale", "1", "distances are divided by this (> 0), e.g. 2 on a grid twice the training size", 1e-12)},
        "2D ALiBi on the patch grid: -m_h * distance(cell_i, cell_j) / scale, ALiBi slopes, zero bias for class tokens"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         const auto metric = r.text("metric");
         pe.term = Alibi2D(Alibi2DOptions(n.heads())
                               .metric(metric == "euclidean" ? GridMetric::Euclidean : GridMetric::Manhattan)
                               .scale(r.real("scale")))
                       .ptr();
       }},
      {{"kerple_log",
        "bias",
        {core::ParamInfo::real("r1", "1", "initial r1 > 0"), core::ParamInfo::real("r2", "1", "initial r2 > 0")},
        "KERPLE log: -r1 * log(1 + r2 * distance), learnable per head (Chi et al. 2022)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         pe.term = Kerple(KerpleOptions(n.heads(), KerpleKind::Log).init_r1(r.real("r1")).init_r2(r.real("r2"))).ptr();
       }},
      {{"kerple_power",
        "bias",
        {core::ParamInfo::real("r1", "1", "initial r1 > 0"), core::ParamInfo::real("r2", "1", "initial r2 in (0, 2)")},
        "KERPLE power: -r1 * distance^r2, learnable per head (Chi et al. 2022)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         pe.term = Kerple(KerpleOptions(n.heads(), KerpleKind::Power).init_r1(r.real("r1")).init_r2(r.real("r2"))).ptr();
       }},
      {{"t5",
        "bias",
        {core::ParamInfo::integer("buckets", "32", "relative-position buckets", 1),
         core::ParamInfo::integer("max_distance", "128", "distance of the last bucket", 1),
         core::ParamInfo::boolean("bidirectional", "true", "separate buckets for keys before and after the query")},
        "T5 bucketed relative bias, learned per (bucket, head) (Raffel et al. 2020)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         pe.term = T5Bias(T5BiasOptions(n.heads())
                              .buckets(r.integer("buckets"))
                              .max_distance(r.integer("max_distance"))
                              .bidirectional(r.boolean("bidirectional")))
                       .ptr();
       }},
      {{"relbias2d", "bias", {}, "2D relative position bias table over the patch grid, class-token entries when the model has one (Swin / BEiT)"},
       [](const Reader&, const Need& n, PositionalEncoding& pe) {
         n.grid();
         if (n.s.prefix > 1) throw core::InputError("pe 'relbias2d': supports at most one prefix (class) token");
         pe.term = RelBias2D(RelBias2DOptions(n.heads(), n.s.grid_h, n.s.grid_w).class_token(n.s.prefix == 1)).ptr();
       }},
      {{"rope1d",
        "rotary",
        {core::ParamInfo::real("base", "10000", "frequency base"), core::ParamInfo::real("scale", "1", "position interpolation: p -> p / scale")},
        "RoPE over the (raster) sequence position (Su et al. 2021)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         pe.term = RoPE1D(RoPE1DOptions(n.head_dim()).base(r.real("base")).scale(r.real("scale"))).ptr();
       }},
      {{"rope2d",
        "rotary",
        {core::ParamInfo::real("base", "100", "frequency base (RoPE-ViT axial uses 100)"),
         core::ParamInfo::real("scale", "1", "position interpolation: p -> p / scale")},
        "2D axial RoPE: half the head channels rotate with the column, half with the row (Heo et al. 2024)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         pe.term = RoPE2D(RoPE2DOptions(n.head_dim()).base(r.real("base")).scale(r.real("scale"))).ptr();
       }},
      {{"sincos1d", "absolute", {core::ParamInfo::real("base", "10000", "frequency base")}, "fixed sinusoidal table of the sequence position (Vaswani et al. 2017)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         pe.token = SinCosPE(SinCosPEOptions(n.dim()).base(r.real("base"))).ptr();
       }},
      {{"sincos2d", "absolute", {core::ParamInfo::real("base", "10000", "frequency base")}, "fixed 2D sinusoidal: half the channels for the row, half for the column (MAE)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         pe.token = SinCosPE(SinCosPEOptions(n.dim()).base(r.real("base")).two_d(true)).ptr();
       }},
      {{"learned", "absolute", {core::ParamInfo::real("std", "0.02", "init standard deviation", 0)}, "learned table, bicubic resize to a new grid (ViT / DeiT)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         std::int64_t h = n.s.grid_h, w = n.s.grid_w;
         if (h <= 0 || w <= 0) {
           if (n.s.max_len <= 0) throw core::InputError("pe 'learned': needs an image grid or max_len from the model");
           h = 1, w = n.s.max_len;
         }
         pe.token = LearnedPE(LearnedPEOptions(n.dim(), h, w).prefix(n.s.prefix).std(r.real("std"))).ptr();
       }},
      {{"fourier",
        "absolute",
        {core::ParamInfo::integer("fourier_dim", "64", "F: number of Fourier features (even)", 2),
         core::ParamInfo::integer("hidden", "32", "MLP hidden width", 1),
         core::ParamInfo::real("gamma", "1", "Wr ~ N(0, gamma^-2), positions in grid units")},
        "learnable Fourier features then an MLP (Li et al. 2021)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         const bool grid = n.s.grid_h > 0 && n.s.grid_w > 0;
         pe.token = FourierPE(FourierPEOptions(n.dim())
                                  .pos_dims(grid ? 2 : 1)
                                  .fourier_dim(r.integer("fourier_dim"))
                                  .hidden(r.integer("hidden"))
                                  .gamma(r.real("gamma")))
                        .ptr();
       }},
      {{"peg",
        "conditional",
        {core::ParamInfo::integer("kernel", "3", "depthwise kernel size (odd)", 1),
         core::ParamInfo::boolean("padding", "true", "zero padding (k-1)/2; false = valid conv on the interior")},
        "CPVT positional encoding generator: depthwise conv + residual on the patch grid (Chu et al.)"},
       [](const Reader& r, const Need& n, PositionalEncoding& pe) {
         pe.token = PEG(PEGOptions(n.dim()).kernel(r.integer("kernel")).padding(r.boolean("padding"))).ptr();
       }},
  };
  return rows;
}

}  // namespace

const std::vector<PeInfo>& list_pes() {
  static const std::vector<PeInfo> infos = [] {
    std::vector<PeInfo> out;
    for (const auto& e : table()) out.push_back(e.info);
    return out;
  }();
  return infos;
}

PositionalEncoding create_pe(const std::string& spec, const PeShape& shape) {
  const auto parsed = core::parse_named_spec(spec, "pe");
  const Entry* entry = nullptr;
  for (const auto& e : table())
    if (e.info.name == parsed.name) entry = &e;
  if (!entry) {
    std::vector<std::string> names;
    for (const auto& e : table()) names.push_back(e.info.name);
    throw core::InputError("pe spec '" + spec + "': unknown positional encoding '" + parsed.name + "'; valid: " + core::join_names(names));
  }
  const core::Params params = core::resolve(parsed, entry->info.params, "pe");
  PositionalEncoding pe;
  pe.name = parsed.name;
  pe.kind = entry->info.kind;
  pe.params = params.values();
  entry->make(params, Need{pe.name, shape}, pe);
  return pe;
}

}  // namespace pesuite::heads
