#pragma once
// NumPy .npy files (format versions 1.0 and 2.0): magic "\x93NUMPY", version, header length
// (u16 little-endian for 1.0, u32 for 2.0), a Python-dict header
//   {'descr': '<f8', 'fortran_order': False, 'shape': (43867, 3), }
// padded with spaces and ending in '\n', then the raw data. Read: little-endian (or byte-sized)
// floats and integers in C order; the values come back as doubles. Anything else (big-endian,
// Fortran order, object arrays, a data block whose size disagrees with the shape) is an InputError
// naming the file and what is wrong.
//
//   pesuite::datasets::NpyArray a = pesuite::datasets::read_npy("canonical_vertices.npy");
//   // a.descr == "<f8", a.shape == {43867, 3}, a.data[i * 3 + j]
#include <cstdint>
#include <string>
#include <vector>

namespace pesuite::datasets {

struct NpyArray {
  std::string descr;                // numpy dtype string as in the header: "<f8", "<f4", "<i8", "|u1", ...
  std::vector<std::int64_t> shape;  // () for a scalar
  std::vector<double> data;         // C order

  std::int64_t size() const;  // product of shape
};

// Supported descr: <f8 <f4 <i8 <i4 <i2 |i1 <u8 <u4 <u2 |u1 (and '=' / '|' where the byte order is moot).
NpyArray read_npy(const std::string& path);
NpyArray parse_npy(const std::string& bytes, const std::string& source);  // source names it in errors

}  // namespace pesuite::datasets
