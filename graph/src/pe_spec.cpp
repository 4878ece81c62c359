// The PE registry and spec parser: one explicit table, validated keys, canonical text (cache key).
#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "pesuite/graph/pe.h"
#include "pesuite/heads/parse.h"

namespace pesuite::graph::pe {

const std::vector<PeInfo>& pe_table() {
  static const std::vector<PeInfo> table = {
      {"lap", "Laplacian eigenvectors (GraphGPS LapPE) + eigenvalues + mask",
       {{"k", "10", "number of eigenvectors (GraphGPS max_freqs)"},
        {"norm", "sym", "Laplacian: none (D - A) | sym | rw"},
        {"trivial", "keep", "keep | drop the first (lambda = 0) pair"},
        {"per_component", "0", "eigenvectors of each connected component separately"},
        {"random_sign", "0", "flip each eigenvector's sign at random (seeded; for training)"},
        {"seed", "0", "seed of random_sign"},
        {"solver", "auto", "auto | dense | shift_invert | lanczos | chebyshev"},
        {"dense_max", "600", "auto: dense solver up to this many nodes"}}},
      {"eig", "first k eigenpairs as they are (SPE / SignNet input)",
       {{"k", "37", "number of pairs (SPE ZINC pe_dims)"},
        {"norm", "sym", "Laplacian: none | sym | rw"},
        {"per_component", "0", "per connected component"},
        {"solver", "auto", "auto | dense | shift_invert | lanczos | chebyshev"},
        {"dense_max", "600", "auto: dense solver up to this many nodes"}}},
      {"rwse", "random-walk return probabilities diag((D^-1 A)^t), t = 1..steps",
       {{"steps", "20", "walk length (GraphGPS ZINC kernel.times 1..20)"}}},
      {"rfp", "random feature propagation trajectories (Eliasof et al. 2023)",
       {{"features", "8", "random columns r"},
        {"steps", "8", "propagation steps P (all P + 1 are returned)"},
        {"op", "adj", "adj (D~^-1/2 (A + I) D~^-1/2) | lap (sym Laplacian) | rw (D^-1 A)"},
        {"norm", "l2", "l2 (per column) | qr"},
        {"init", "gaussian", "gaussian | uniform | rademacher"},
        {"runs", "1", "independent initialisations"},
        {"seed", "0", "seed"}}},
  };
  return table;
}

std::string PeSpec::canonical() const {
  std::string s = name;
  char sep = ':';
  for (const auto& [k, v] : params) {
    s += sep + k + "=" + v;
    sep = ',';
  }
  return s;
}

std::string PeSpec::get(const std::string& key) const {
  auto it = params.find(key);
  if (it == params.end()) throw std::invalid_argument("PE '" + name + "' has no key '" + key + "'");
  return it->second;
}

std::int64_t PeSpec::get_int(const std::string& key) const {
  const std::string v = get(key);
  if (auto x = parse_int(v)) return *x;
  throw std::invalid_argument("PE spec '" + canonical() + "': key '" + key + "' must be an integer, got '" + v + "'");
}

PeSpec parse_pe_spec(const std::string& text) {
  PeSpec spec;
  const auto colon = text.find(':');
  spec.name = text.substr(0, colon);
  const PeInfo* info = nullptr;
  for (const auto& p : pe_table())
    if (p.name == spec.name) info = &p;
  if (!info) {
    std::string valid;
    for (const auto& p : pe_table()) valid += (valid.empty() ? "" : ", ") + p.name;
    throw std::invalid_argument("PE spec '" + text + "': unknown encoding '" + spec.name + "' (valid: " + valid + ")");
  }
  for (const auto& k : info->keys) spec.params[k.name] = k.default_value;
  if (colon != std::string::npos) {
    std::string rest = text.substr(colon + 1);
    std::replace(rest.begin(), rest.end(), ';', ',');
    std::stringstream ss(rest);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      const auto eq = item.find('=');
      const std::string key = item.substr(0, eq);
      if (eq == std::string::npos || eq == 0 || !spec.params.count(key)) {
        std::string valid;
        for (const auto& k : info->keys) valid += (valid.empty() ? "" : ", ") + k.name;
        throw std::invalid_argument("PE spec '" + text + "': expected key=value with key one of " + valid + ", got '" + item + "'");
      }
      spec.params[key] = item.substr(eq + 1);
    }
  }
  // Validate values now, so a typo fails before hours of compute.
  auto need_pos = [&](const char* key) {
    if (spec.params.count(key) && spec.get_int(key) < 1)
      throw std::invalid_argument("PE spec '" + text + "': " + key + " must be >= 1");
  };
  for (const char* key : {"k", "steps", "features", "runs", "dense_max"}) need_pos(key);
  auto need_one_of = [&](const char* key, std::vector<std::string> valid) {
    if (!spec.params.count(key)) return;
    if (std::find(valid.begin(), valid.end(), spec.params[key]) == valid.end()) {
      std::string v;
      for (auto& s : valid) v += (v.empty() ? "" : ", ") + s;
      throw std::invalid_argument("PE spec '" + text + "': " + key + " must be one of " + v);
    }
  };
  need_one_of("norm", spec.name == "rfp" ? std::vector<std::string>{"l2", "qr"} : std::vector<std::string>{"none", "sym", "rw"});
  need_one_of("trivial", {"keep", "drop"});
  need_one_of("solver", {"auto", "dense", "shift_invert", "lanczos", "chebyshev"});
  need_one_of("op", {"adj", "lap", "rw"});
  need_one_of("init", {"gaussian", "uniform", "rademacher"});
  need_one_of("per_component", {"0", "1"});
  need_one_of("random_sign", {"0", "1"});
  if (spec.params.count("seed")) spec.get_int("seed");
  return spec;
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

GraphPe compute(const Graph& g, const PeSpec& spec, Index graph_index) {
  if (spec.name == "lap" || spec.name == "eig") {
    LapOptions o;
    o.k = spec.get_int("k");
    o.norm = spec.get("norm");
    o.per_component = spec.get("per_component") == "1";
    o.solver = spec.get("solver");
    o.dense_max = spec.get_int("dense_max");
    if (spec.name == "lap") {
      o.keep_trivial = spec.get("trivial") == "keep";
      o.random_sign = spec.get("random_sign") == "1";
      o.seed = static_cast<std::uint64_t>(spec.get_int("seed"));
    }
    return lap_pe(g, o, graph_index, spec.name);
  }
  if (spec.name == "rwse") {
    const Index steps = spec.get_int("steps");
    const auto r = rwse(g, steps);
    GraphPe out;
    Encoding e{"rwse", steps, std::vector<float>(r.begin(), r.end())};
    out.tensors.push_back(std::move(e));
    return out;
  }
  if (spec.name == "rfp") {
    RfpOptions o;
    o.features = spec.get_int("features");
    o.steps = spec.get_int("steps");
    o.runs = spec.get_int("runs");
    o.op = spec.get("op");
    o.norm = spec.get("norm");
    o.init = spec.get("init");
    o.seed = static_cast<std::uint64_t>(spec.get_int("seed"));
    GraphPe out;
    out.tensors.push_back(rfp(g, o, graph_index));
    return out;
  }
  throw std::invalid_argument("PE '" + spec.name + "' has no implementation");
}

}  // namespace pesuite::graph::pe
