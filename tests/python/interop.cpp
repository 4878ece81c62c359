// Helper for the Python interop test (run_interop.sh):
//   safetensors_interop write <file>   writes every dtype with known values
//   safetensors_interop check <file>   reads a file numpy wrote and checks its values
#include <iostream>

#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"

using namespace pesuite;

static core::TensorMap reference() {
  core::TensorMap t;
  auto base = torch::arange(12, torch::kFloat64).reshape({3, 4}) * 0.5 - 2.0;  // exact in every float type
  t["f64"] = base;
  t["f32"] = base.to(torch::kFloat32);
  t["f16"] = base.to(torch::kFloat16);
  t["bf16"] = base.to(torch::kBFloat16);
  t["i64"] = torch::arange(-6, 6, torch::kInt64).reshape({2, 6});
  t["i32"] = torch::arange(-6, 6, torch::kInt32);
  t["u8"] = torch::arange(250, 256, torch::kInt64).to(torch::kUInt8);
  t["bool"] = torch::tensor({true, false, false, true});
  return t;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: safetensors_interop write|check FILE\n";
    return 2;
  }
  const std::string mode = argv[1], path = argv[2];
  try {
    if (mode == "write") {
      core::save_safetensors(path, reference(), {{"writer", "pesuite"}});
      return 0;
    }
    const auto file = core::load_safetensors(path);
    const auto ref = reference();
    for (const auto& [name, t] : ref) {
      if (name == "bf16") continue;  // numpy cannot write bfloat16
      auto it = file.tensors.find(name);
      if (it == file.tensors.end()) throw std::runtime_error("missing " + name);
      if (it->second.scalar_type() != t.scalar_type() || !torch::equal(it->second, t))
        throw std::runtime_error("mismatch in " + name);
    }
    if (file.metadata.at("writer") != "numpy") throw std::runtime_error("metadata");
    std::cout << "pesuite read numpy's file: " << file.tensors.size() << " tensors ok\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
