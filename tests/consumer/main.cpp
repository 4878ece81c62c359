// Uses each exported pesuite library through the installed package (grows with them).
#include <iostream>

#include "pesuite/datasets/spec.h"
#include "pesuite/core/config.h"
#include "pesuite/core/safetensors.h"

int main() {
  // heads: tensor IO
  auto bytes = pesuite::core::serialize_safetensors({{"x", torch::arange(4)}});
  auto back = pesuite::core::parse_safetensors(bytes, "memory");
  if (!torch::equal(back.tensors.at("x"), torch::arange(4))) return 1;
  // datasets: the spec parser
  auto spec = pesuite::datasets::parse_spec("csl:?seed=3");
  if (spec.get_int("seed") != 3) return 1;
  // experiments: config
  auto cfg = pesuite::core::Config::from_toml_string("[a]\nb = 1\n", "consumer");
  cfg.apply_set("a.b=2");
  if (cfg.get_int("a.b") != 2) return 1;
  std::cout << "consumer ok\n";
  return 0;
}
