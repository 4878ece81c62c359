// Uses each exported pesuite library through the installed package (grows with them).
#include <iostream>

#include "pesuite/datasets/spec.h"
#include "pesuite/experiments/config.h"
#include "pesuite/heads/safetensors.h"

int main() {
  // heads: tensor IO
  auto bytes = pesuite::io::serialize_safetensors({{"x", torch::arange(4)}});
  auto back = pesuite::io::parse_safetensors(bytes, "memory");
  if (!torch::equal(back.tensors.at("x"), torch::arange(4))) return 1;
  // datasets: the spec parser
  auto spec = pesuite::datasets::parse_spec("csl:?seed=3");
  if (spec.get_int("seed") != 3) return 1;
  // experiments: config
  auto cfg = pesuite::experiments::Config::from_toml_string("[a]\nb = 1\n", "consumer");
  cfg.apply_set("a.b=2");
  if (cfg.get_int("a.b") != 2) return 1;
  std::cout << "consumer ok\n";
  return 0;
}
