#pragma once
// safetensors read/write (https://huggingface.co/docs/safetensors): the one on-disk tensor format of
// pesuite (checkpoints, precomputed encodings, golden values). Python reads our files with nothing
// but numpy (tests/python/read_safetensors.py), and we read theirs.
//
// Layout: u64 little-endian header length N, N bytes of JSON header (padded with spaces to a
// multiple of 8), then the data buffer. Header entries are
//   "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// plus an optional "__metadata__": {string: string}. Our writer orders tensors by name.
//
//   pesuite::core::TensorMap t{{"w", torch::ones({2, 3})}};
//   pesuite::core::save_safetensors("w.safetensors", t, {{"format", "pt"}});
//   auto file = pesuite::core::load_safetensors("w.safetensors");   // file.tensors["w"]
//   pesuite::core::save_module("model.safetensors", *model);          // state dict by parameter name
#include <torch/torch.h>

#include <map>
#include <string>

namespace pesuite::core {

using TensorMap = std::map<std::string, torch::Tensor>;
using Metadata = std::map<std::string, std::string>;

struct TensorFile {
  TensorMap tensors;
  Metadata metadata;
};

// Serialise to bytes / parse from bytes. `source` names the input in error messages.
std::string serialize_safetensors(const TensorMap& tensors, const Metadata& metadata = {});
TensorFile parse_safetensors(const std::string& bytes, const std::string& source);

// Atomic write (temporary + rename); tensors are moved to CPU and made contiguous.
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {});
// InputError naming the file and the tensor for anything malformed.
TensorFile load_safetensors(const std::string& path);

// The safetensors dtype string of a torch dtype ("F32", ...); InputError for unsupported ones.
std::string dtype_name(torch::Dtype dtype);

// Module state (parameters and buffers, by their dotted names), as a TensorMap and back.
TensorMap module_state(const torch::nn::Module& module);
// Copies `state` into the module's parameters and buffers. Strict: every name must match both ways
// and every shape must agree; errors name `source` and the offending tensor.
void load_module_state(torch::nn::Module& module, const TensorMap& state, const std::string& source);

void save_module(const std::string& path, const torch::nn::Module& module, const Metadata& metadata = {});
void load_module(const std::string& path, torch::nn::Module& module);

}  // namespace pesuite::core
