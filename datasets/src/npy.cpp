// .npy reader (format 1.0 / 2.0). The header is a Python literal; we read the three keys numpy
// writes and check every one, rather than trusting offsets.
#include "pesuite/datasets/npy.h"

#include <cstring>
#include <regex>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {
namespace {

template <class T>
void widen(const char* p, std::size_t n, std::vector<double>& out) {
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));  // unaligned-safe; x86-64 and aarch64 are little-endian
    out[i] = static_cast<double>(v);
  }
}

}  // namespace

std::int64_t NpyArray::size() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

NpyArray parse_npy(const std::string& bytes, const std::string& source) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw core::InputError(source + ": not a .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw core::InputError(source + ": .npy header cut short");
    for (int i = 0; i < 4; ++i) header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    throw core::InputError(source + ": .npy format version " + std::to_string(major) + " is not supported (1.0, 2.0)");
  }
  if (offset + header_len > bytes.size()) throw core::InputError(source + ": .npy header cut short");
  const std::string header = bytes.substr(offset, header_len);
  std::smatch m;
  NpyArray a;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    throw core::InputError(source + ": .npy header has no 'descr': " + header);
  a.descr = m[1];
  if (!std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")))
    throw core::InputError(source + ": .npy header has no 'fortran_order'");
  if (m[1] == "True") throw core::InputError(source + ": .npy array is in Fortran order (only C order is read)");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    throw core::InputError(source + ": .npy header has no 'shape'");
  {
    const std::string dims = m[1];
    static const std::regex number(R"(\d+)");
    std::sregex_iterator it(dims.begin(), dims.end(), number), end;
    for (; it != end; ++it) {
      const std::string digits = it->str();
      if (digits.size() > 15) throw core::InputError(source + ": .npy shape entry " + digits + " is too large");
      a.shape.push_back(std::stoll(digits));
    }
  }
  const std::string& d = a.descr;
  if (d.size() < 3 || (d[0] != '<' && d[0] != '|' && d[0] != '='))
    throw core::InputError(source + ": .npy dtype '" + d + "' is not supported (little-endian numbers only)");
  const std::string kind = d.substr(1);
  std::size_t item = 0;
  if (kind == "f8" || kind == "i8" || kind == "u8") item = 8;
  else if (kind == "f4" || kind == "i4" || kind == "u4") item = 4;
  else if (kind == "i2" || kind == "u2") item = 2;
  else if (kind == "i1" || kind == "u1" || kind == "b1") item = 1;
  else throw core::InputError(source + ": .npy dtype '" + d + "' is not supported (floats and integers only)");
  const std::size_t data_begin = offset + header_len;
  // The element count and byte size; a product of large sizes may overflow (then it is surely too big).
  std::size_t n = 1, need = 0;
  bool overflow = false;
  for (auto dim : a.shape) overflow |= __builtin_mul_overflow(n, static_cast<std::size_t>(dim), &n);
  overflow |= __builtin_mul_overflow(n, item, &need);
  if (overflow || bytes.size() - data_begin != need)
    throw core::InputError(source + ": .npy data is " + std::to_string(bytes.size() - data_begin) + " bytes, the header's shape and dtype need " +
                     (overflow ? std::string("more than 2^64") : std::to_string(need)));
  const char* p = bytes.data() + data_begin;
  if (kind == "f8") widen<double>(p, n, a.data);
  else if (kind == "f4") widen<float>(p, n, a.data);
  else if (kind == "i8") widen<std::int64_t>(p, n, a.data);
  else if (kind == "u8") widen<std::uint64_t>(p, n, a.data);
  else if (kind == "i4") widen<std::int32_t>(p, n, a.data);
  else if (kind == "u4") widen<std::uint32_t>(p, n, a.data);
  else if (kind == "i2") widen<std::int16_t>(p, n, a.data);
  else if (kind == "u2") widen<std::uint16_t>(p, n, a.data);
  else if (kind == "i1") widen<std::int8_t>(p, n, a.data);
  else widen<std::uint8_t>(p, n, a.data);
  return a;
}

NpyArray read_npy(const std::string& path) { return parse_npy(core::read_file(path), path); }

}  // namespace pesuite::datasets
