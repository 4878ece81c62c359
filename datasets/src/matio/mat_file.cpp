// MatFile through libmatio (compiled when CMake finds it; without_matio/mat_file.cpp otherwise).
#include "pesuite/datasets/mat_file.h"

#include <matio.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "pesuite/core/error.h"

namespace pesuite::datasets {
namespace {

// matio prints its own diagnostics on stderr; ours name the file and variable, so silence it.
// (Mat_LogInitFunc sets a process-wide logger; once is enough.)
void quiet_matio() {
  static std::once_flag once;
  std::call_once(once, [] { Mat_LogInitFunc("pesuite", [](int, char*) {}); });
}

const char* class_name(int c) {
  switch (c) {
    case MAT_C_EMPTY: return "empty";
    case MAT_C_CELL: return "cell";
    case MAT_C_STRUCT: return "struct";
    case MAT_C_OBJECT: return "object";
    case MAT_C_CHAR: return "char";
    case MAT_C_SPARSE: return "sparse";
    case MAT_C_DOUBLE: return "double";
    case MAT_C_SINGLE: return "single";
    case MAT_C_INT8: return "int8";
    case MAT_C_UINT8: return "uint8";
    case MAT_C_INT16: return "int16";
    case MAT_C_UINT16: return "uint16";
    case MAT_C_INT32: return "int32";
    case MAT_C_UINT32: return "uint32";
    case MAT_C_INT64: return "int64";
    case MAT_C_UINT64: return "uint64";
    case MAT_C_FUNCTION: return "function";
    default: return "opaque";
  }
}

template <class T>
void widen(const void* src, std::size_t n, std::vector<double>& out) {
  const T* p = static_cast<const T*>(src);
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<double>(p[i]);
}

// MAT v5 layout check: a 128-byte header, then top-level data elements, each an 8-byte tag (type,
// byte count) and its bytes. libmatio reads a variable whose compressed bytes are cut short as
// zeros without a word, so a file that ends inside an element is refused here. (v7.3 files are
// HDF5 and are left to libmatio.)
void check_v5_layout(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char header[128];
  if (!in.read(reinterpret_cast<char*>(header), 128)) return;  // too short for v5: Mat_Open decides
  const bool little = header[126] == 'I' && header[127] == 'M';
  const bool big = header[126] == 'M' && header[127] == 'I';
  if (!little && !big) return;
  const unsigned version = little ? header[124] | (header[125] << 8) : (header[124] << 8) | header[125];
  if (version != 0x0100) return;
  in.seekg(0, std::ios::end);
  const std::uint64_t size = static_cast<std::uint64_t>(in.tellg());
  auto u32 = [&](const unsigned char* p) {
    return little ? std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24
                  : std::uint32_t(p[3]) | std::uint32_t(p[2]) << 8 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[0]) << 24;
  };
  std::uint64_t offset = 128;
  int element = 0;
  while (offset < size) {
    ++element;
    unsigned char tag[8];
    in.seekg(static_cast<std::streamoff>(offset));
    if (size - offset < 8 || !in.read(reinterpret_cast<char*>(tag), 8))
      throw core::InputError(path + ": cut short (data element " + std::to_string(element) + " at byte " + std::to_string(offset) + " has no full tag)");
    const std::uint32_t type = u32(tag), bytes = u32(tag + 4);
    std::uint64_t next = offset + 8 + bytes;
    if (type != 15) next = (next + 7) / 8 * 8;  // uncompressed elements are padded to 8 bytes
    if (offset + 8 + bytes > size)
      throw core::InputError(path + ": cut short (data element " + std::to_string(element) + " at byte " + std::to_string(offset) +
                       " needs " + std::to_string(bytes) + " bytes, the file has " + std::to_string(size - offset - 8) + " left)");
    offset = next;
  }
}

struct VarDeleter {
  void operator()(matvar_t* v) const { Mat_VarFree(v); }
};

}  // namespace

bool mat_support_built() { return true; }

MatFile::MatFile(const std::string& path) : path_(path) {
  quiet_matio();
  if (!std::filesystem::is_regular_file(path)) throw core::InputError(path + ": missing (expected a MATLAB .mat file)");
  mat_ = Mat_Open(path.c_str(), MAT_ACC_RDONLY);
  if (!mat_) throw core::InputError(path + ": not a MATLAB .mat file (libmatio cannot open it)");
  try {
    check_v5_layout(path);
  } catch (...) {
    Mat_Close(static_cast<mat_t*>(mat_));
    mat_ = nullptr;
    throw;
  }
}

MatFile::~MatFile() {
  if (mat_) Mat_Close(static_cast<mat_t*>(mat_));
}

bool MatFile::has(const std::string& name) {
  Mat_Rewind(static_cast<mat_t*>(mat_));
  std::unique_ptr<matvar_t, VarDeleter> info(Mat_VarReadInfo(static_cast<mat_t*>(mat_), name.c_str()));
  return info != nullptr;
}

MatMatrix MatFile::matrix(const std::string& name) {
  mat_t* mat = static_cast<mat_t*>(mat_);
  Mat_Rewind(mat);
  std::unique_ptr<matvar_t, VarDeleter> info(Mat_VarReadInfo(mat, name.c_str()));
  if (!info) throw core::InputError(path_ + ": no variable '" + name + "'");
  const std::string cls = class_name(info->class_type);
  const bool numeric = info->class_type >= MAT_C_DOUBLE && info->class_type <= MAT_C_UINT64;
  if (!numeric || info->isComplex)
    throw core::InputError(path_ + ": '" + name + "' is a " + (info->isComplex ? "complex " : "") + cls +
                     " array, expected a real numeric matrix");
  if (info->rank != 2) throw core::InputError(path_ + ": '" + name + "' has " + std::to_string(info->rank) + " dimensions, expected 2");
  // Read the data now (a second pass, as Mat_VarReadInfo leaves it unread).
  Mat_Rewind(mat);
  std::unique_ptr<matvar_t, VarDeleter> var(Mat_VarRead(mat, name.c_str()));
  if (!var || (var->dims[0] * var->dims[1] > 0 && !var->data))
    throw core::InputError(path_ + ": '" + name + "' cannot be read (file cut short or corrupt)");
  MatMatrix m;
  m.file = path_;
  m.name = name;
  m.rows = var->dims[0];
  m.cols = var->dims[1];
  m.class_name = cls;
  const std::size_t n = m.rows * m.cols;
  // matio hands the data back in the variable's class type.
  switch (var->class_type) {
    case MAT_C_DOUBLE: widen<double>(var->data, n, m.data); break;
    case MAT_C_SINGLE: widen<float>(var->data, n, m.data); break;
    case MAT_C_INT8: widen<std::int8_t>(var->data, n, m.data); break;
    case MAT_C_UINT8: widen<std::uint8_t>(var->data, n, m.data); break;
    case MAT_C_INT16: widen<std::int16_t>(var->data, n, m.data); break;
    case MAT_C_UINT16: widen<std::uint16_t>(var->data, n, m.data); break;
    case MAT_C_INT32: widen<std::int32_t>(var->data, n, m.data); break;
    case MAT_C_UINT32: widen<std::uint32_t>(var->data, n, m.data); break;
    case MAT_C_INT64: widen<std::int64_t>(var->data, n, m.data); break;
    case MAT_C_UINT64: widen<std::uint64_t>(var->data, n, m.data); break;
    default: throw core::InputError(path_ + ": '" + name + "' is a " + cls + " array, expected a real numeric matrix");
  }
  return m;
}

void MatMatrix::require_shape(std::size_t r, std::size_t c) const {
  if (rows != r || cols != c)
    throw core::InputError(file + ": '" + name + "' is " + std::to_string(rows) + "x" + std::to_string(cols) + ", expected " +
                     std::to_string(r) + "x" + std::to_string(c));
}

void MatMatrix::require_finite() const {
  for (std::size_t i = 0; i < data.size(); ++i)
    if (!std::isfinite(data[i]))
      throw core::InputError(file + ": '" + name + "' element (" + std::to_string(i % rows + 1) + ", " +
                       std::to_string(i / rows + 1) + ") is not finite");
}

}  // namespace pesuite::datasets
