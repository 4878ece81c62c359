// Graph encoding specs against the registry (registry.cpp): parsing, the computation a spec asks
// for, and the per-graph dispatch to the computing row. Torch-free.
#include <algorithm>

#include "pesuite/core/error.h"
#include "pesuite/core/registry.h"
#include "pesuite/graph/pe.h"

namespace pesuite::graph::pe {

const PeRow& row(const std::string& name) { return core::find_row(rows(), name, "graph encoding"); }

const PeRow& computing_row(const std::string& name) {
  const PeRow& r = row(name);
  return r.computes.empty() ? r : row(r.computes);
}

std::string PeSpec::canonical() const { return core::Params(name, params).canonical(); }

std::string PeSpec::get(const std::string& key) const { return core::Params(name, params).text(key); }

std::int64_t PeSpec::get_int(const std::string& key) const { return core::Params(name, params).integer(key); }

PeSpec PeSpec::computation() const {
  const PeRow& own = row(name);
  const PeRow& by = computing_row(name);
  PeSpec out;
  out.name = by.name;
  for (const auto& k : own.keys) out.params[k.key] = get(k.key);
  return out;
}

PeSpec parse_pe_spec(const std::string& text) {
  const auto named = core::parse_named_spec(text, "graph pe");
  const PeRow& r = row(named.name);
  std::vector<core::ParamInfo> schema = r.keys;
  schema.insert(schema.end(), r.encoder_keys.begin(), r.encoder_keys.end());
  const core::Params p = core::resolve(named, schema, "graph pe");
  return PeSpec{p.name(), p.values()};
}

GraphPe compute(const Graph& g, const PeSpec& spec, Index graph_index) {
  const PeSpec c = spec.computation();
  const PeRow& by = row(c.name);
  if (!by.compute) throw core::InputError("graph encoding '" + spec.name + "' computes nothing (it is the model's choice of no encoding)");
  return by.compute(g, c, graph_index);
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace pesuite::graph::pe
