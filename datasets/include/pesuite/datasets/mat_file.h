#pragma once
// Reading numeric matrices from MATLAB .mat files (v5, compressed or not, and v7.3 where libmatio
// was built with HDF5) through libmatio. Used by the 300W-LP / AFLW2000 loaders; every failure is
// an InputError naming the file and the variable: not a .mat file, no such variable, a variable
// that is not a real numeric matrix (char, cell, struct, sparse, complex), or of the wrong shape.
//
//   pesuite::datasets::MatFile mat("/data/AFLW2000/image00050.mat");
//   auto pose = mat.matrix("Pose_Para");          // 1 x 7 doubles (singles and integers converted)
//   pose.require_shape(1, 7);                     // InputError "<file>: 'Pose_Para' is 1x6, expected 1x7"
//   double pitch = pose(0, 0);
//
// Without libmatio (PESUITE_HAVE_MATIO off, e.g. the GPU machine's sysroot) opening any file is an
// InputError saying so; mat_support_built() tells in advance.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace pesuite::datasets {

// A real 2-D matrix as doubles, column-major as MATLAB stores it.
struct MatMatrix {
  std::string file, name;  // where it came from (for messages)
  std::size_t rows = 0, cols = 0;
  std::vector<double> data;  // data[r + c * rows]
  std::string class_name;    // MATLAB class: double, single, int16, ...

  double operator()(std::size_t r, std::size_t c) const { return data[r + c * rows]; }
  // InputError "<file>: '<name>' is RxC, expected rows x cols" unless the shape matches.
  void require_shape(std::size_t rows, std::size_t cols) const;
  // InputError "<file>: '<name>' element (r, c) is not finite" for NaN / Inf.
  void require_finite() const;
};

class MatFile {
 public:
  explicit MatFile(const std::string& path);  // core::InputError: missing, unreadable, not a .mat file
  ~MatFile();
  MatFile(const MatFile&) = delete;
  MatFile& operator=(const MatFile&) = delete;

  bool has(const std::string& name);
  // The variable as a real numeric 2-D matrix; InputError naming file and variable otherwise.
  MatMatrix matrix(const std::string& name);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* mat_ = nullptr;  // mat_t*
};

// Whether this build reads .mat files (libmatio found at configure time).
bool mat_support_built();

}  // namespace pesuite::datasets
