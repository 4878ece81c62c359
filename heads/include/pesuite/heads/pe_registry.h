#pragma once
// The one registry of attention / token positional encodings: a spec string names an entry and
// overrides its parameters; the model supplies the shapes.
//
//   using namespace pesuite::heads;
//   PeShape shape;  shape.dim = 384; shape.heads = 6; shape.grid_h = shape.grid_w = 14; shape.prefix = 1;
//   PositionalEncoding pe = create_pe("rope2d:base=10000,scale=2", shape);
//   MultiHeadAttention attn(MultiHeadAttentionOptions(384, 6), pe.term);   // pe.token is null here
//   for (const PeInfo& info : list_pes()) std::cout << info.name << "\n";
//
// Spec grammar: core/params.h (name[:key=value[,key=value...]], the same for graph encodings); keys
// and values are checked against the row's schema, and any error is an InputError naming the key
// and listing the valid ones.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pesuite/core/params.h"
#include "pesuite/heads/absolute_pe.h"
#include "pesuite/heads/positional.h"

namespace pesuite::heads {

struct PeInfo {
  std::string name;
  std::string kind;  // "none", "bias", "rotary" (inside attention), "absolute", "conditional" (on tokens)
  std::vector<core::ParamInfo> params;
  std::string help;
};

// What the model knows and the spec does not.
struct PeShape {
  std::int64_t dim = 0;       // token width
  std::int64_t heads = 0;
  std::int64_t head_dim = 0;  // 0 = dim / heads
  std::int64_t grid_h = 0;    // patch grid (vision); 0 for sequences / graphs
  std::int64_t grid_w = 0;
  std::int64_t prefix = 0;    // class / register tokens in front
  std::int64_t max_len = 0;   // for learned 1D tables when there is no grid
};

// Exactly one of `term` (goes into MultiHeadAttention) and `token` (applied to token embeddings)
// is set, except for "none", where term is a NoPE and token is null.
struct PositionalEncoding {
  std::string name;
  std::string kind;
  std::map<std::string, std::string> params;  // resolved: defaults plus the spec's overrides
  PositionalTermPtr term;
  TokenPEPtr token;
};

const std::vector<PeInfo>& list_pes();
PositionalEncoding create_pe(const std::string& spec, const PeShape& shape);

}  // namespace pesuite::heads
