#include "pesuite/core/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::core {
namespace {

struct DtypeInfo {
  const char* name;
  torch::Dtype dtype;
  std::size_t size;
};

const DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string valid_dtype_list() {
  std::string s;
  for (const auto& d : kDtypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

}  // namespace

std::string dtype_name(torch::Dtype dtype) {
  for (const auto& d : kDtypes)
    if (d.dtype == dtype) return d.name;
  throw InputError(std::string("safetensors: unsupported dtype ") + c10::toString(dtype));
}

std::string serialize_safetensors(const TensorMap& tensors, const Metadata& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {  // std::map: ordered by name
    if (name == "__metadata__") throw InputError("safetensors: '__metadata__' is reserved");
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const std::uint64_t bytes = c.numel() * c.element_size();
    header[name] = {{"dtype", dtype_name(c.scalar_type())},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += json;
  out.reserve(out.size() + offset);
  for (const auto& c : data) out.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  return out;
}

TensorFile parse_safetensors(const std::string& bytes, const std::string& source) {
  auto fail = [&](const std::string& what) { throw InputError(source + ": " + what); };
  if (bytes.size() < 8) fail("truncated: " + std::to_string(bytes.size()) + " bytes, no header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  if (n > bytes.size() - 8)
    fail("header length " + std::to_string(n) + " runs past the end of the file (" +
         std::to_string(bytes.size()) + " bytes)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail("header is not a JSON object");
  const std::uint64_t buffer_size = bytes.size() - 8 - n;
  const char* buffer = bytes.data() + 8 + n;

  TensorFile file;
  std::vector<std::tuple<std::uint64_t, std::uint64_t, std::string>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("__metadata__ is not an object of strings");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__." + m.key() + ": value is not a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string at = "tensor '" + name + "'";
    if (!entry.is_object()) fail(at + ": entry is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) fail(at + ": missing dtype");
    const DtypeInfo* dt = find_dtype(entry["dtype"].get<std::string>());
    if (!dt) fail(at + ": unknown dtype '" + entry["dtype"].get<std::string>() + "' (valid: " + valid_dtype_list() + ")");
    if (!entry.contains("shape") || !entry["shape"].is_array()) fail(at + ": missing shape");
    std::vector<int64_t> shape;
    std::uint64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_unsigned()) fail(at + ": shape has a negative or non-integer dimension");
      std::uint64_t v = d.get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<int64_t>::max())) fail(at + ": shape has a dimension above 2^63 - 1");
      if (v > 0 && numel > std::numeric_limits<std::uint64_t>::max() / v / 8) fail(at + ": shape too large");
      numel *= v;
      shape.push_back(static_cast<int64_t>(v));
    }
    const auto& off = entry.contains("data_offsets") ? entry["data_offsets"] : nlohmann::json();
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(at + ": data_offsets must be [begin, end]");
    const std::uint64_t b = off[0].get<std::uint64_t>(), e = off[1].get<std::uint64_t>();
    if (b > e) fail(at + ": data_offsets begin " + std::to_string(b) + " > end " + std::to_string(e));
    if (e > buffer_size)
      fail(at + ": data_offsets end " + std::to_string(e) + " is past the data buffer (" +
           std::to_string(buffer_size) + " bytes; file truncated?)");
    if (e - b != numel * dt->size)
      fail(at + ": shape and dtype need " + std::to_string(numel * dt->size) + " bytes, data_offsets give " +
           std::to_string(e - b));
    ranges.emplace_back(b, e, name);
    torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(dt->dtype));
    if (e > b) std::memcpy(t.data_ptr(), buffer + b, e - b);
    file.tensors.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const auto& [b, e, name] = ranges[i];
    if (i > 0 && b < std::get<1>(ranges[i - 1]))
      fail("tensor '" + name + "' overlaps tensor '" + std::get<2>(ranges[i - 1]) + "'");
    if (b != covered) fail("data buffer has a gap before tensor '" + name + "' at byte " + std::to_string(covered));
    covered = e;
  }
  if (covered != buffer_size)
    fail("data buffer has " + std::to_string(buffer_size - covered) + " trailing bytes not covered by any tensor");
  return file;
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

TensorFile load_safetensors(const std::string& path) { return parse_safetensors(read_file(path), path); }

TensorMap module_state(const torch::nn::Module& module) {
  TensorMap state;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) state[p.key()] = p.value();
  for (const auto& b : module.named_buffers(/*recurse=*/true)) state[b.key()] = b.value();
  return state;
}

void load_module_state(torch::nn::Module& module, const TensorMap& state, const std::string& source) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> targets;
  for (auto& p : module.named_parameters(true)) targets[p.key()] = p.value();
  for (auto& b : module.named_buffers(true)) targets[b.key()] = b.value();
  for (const auto& [name, t] : state)
    if (!targets.count(name)) throw InputError(source + ": tensor '" + name + "' is not in the model");
  for (auto& [name, target] : targets) {
    auto it = state.find(name);
    if (it == state.end()) throw InputError(source + ": model tensor '" + name + "' is missing from the file");
    if (it->second.sizes() != target.sizes())
      throw InputError(source + ": tensor '" + name + "' has shape " + c10::str(it->second.sizes()) +
                       ", the model expects " + c10::str(target.sizes()));
    target.copy_(it->second);
  }
}

void save_module(const std::string& path, const torch::nn::Module& module, const Metadata& metadata) {
  save_safetensors(path, module_state(module), metadata);
}

void load_module(const std::string& path, torch::nn::Module& module) {
  load_module_state(module, load_safetensors(path).tensors, path);
}

}  // namespace pesuite::core
