#pragma once
// MATLAB v5 files written with libmatio, as MATLAB saves them (zlib-compressed variables): the
// head-pose labels of 300W-LP / AFLW2000 (Pose_Para, pt2d) for tests. Needs libmatio.
//
//   pesuite::test::write_mat(dir / "AFW/x.mat", {pesuite::test::pose_para(10, -20, 5), pesuite::test::pt2d(68, 100, 80)});
#include <gtest/gtest.h>
#include <matio.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace pesuite::test {

// One variable of a MATLAB file, column-major.
struct Var {
  std::string name;
  std::size_t rows = 0, cols = 0;
  std::vector<double> data;
  enum Kind { Double, Single, Char, Struct } kind = Double;
};

// Writes a real MATLAB v5 file (zlib-compressed variables, as MATLAB saves them) with libmatio.
inline void write_mat(const std::string& path, const std::vector<Var>& vars) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  ASSERT_NE(mat, nullptr) << path;
  for (const auto& v : vars) {
    size_t dims[2] = {v.rows, v.cols};
    matvar_t* mv = nullptr;
    std::vector<float> f(v.data.begin(), v.data.end());
    std::string text(v.rows * v.cols, 'x');
    if (v.kind == Var::Double) mv = Mat_VarCreate(v.name.c_str(), MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, const_cast<double*>(v.data.data()), 0);
    else if (v.kind == Var::Single) mv = Mat_VarCreate(v.name.c_str(), MAT_C_SINGLE, MAT_T_SINGLE, 2, dims, f.data(), 0);
    else if (v.kind == Var::Char) mv = Mat_VarCreate(v.name.c_str(), MAT_C_CHAR, MAT_T_UINT8, 2, dims, text.data(), 0);
    else {
      size_t one[2] = {1, 1};
      const char* fields[] = {"a", nullptr};  // NULL-terminated
      mv = Mat_VarCreateStruct2(v.name.c_str(), 2, one, fields);
      static double x = 1;
      Mat_VarSetStructFieldByName(mv, "a", 0, Mat_VarCreate(nullptr, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, one, &x, MAT_F_DONT_COPY_DATA));
    }
    ASSERT_NE(mv, nullptr) << v.name;
    ASSERT_EQ(Mat_VarWrite(mat, mv, MAT_COMPRESSION_ZLIB), 0) << v.name;
    Mat_VarFree(mv);
  }
  Mat_Close(mat);
}

// Pose_Para (single, as in the release) from degrees, tx ty tz scale arbitrary.
inline Var pose_para(double pitch, double yaw, double roll) {
  return {"Pose_Para", 1, 7, {pitch * 3.14159265358979323846 / 180, yaw * 3.14159265358979323846 / 180, roll * 3.14159265358979323846 / 180, 100, 120, -50, 0.0012}, Var::Single};
}

// 2 x n landmarks, point i = (x0 + 3 i, y0 + 2 i) unless listed as missing (-1, 452 as AFLW2000 writes them).
inline Var pt2d(std::size_t n, double x0, double y0, std::set<std::size_t> missing = {}) {
  Var v{"pt2d", 2, n, std::vector<double>(2 * n)};
  for (std::size_t i = 0; i < n; ++i) {
    v.data[2 * i] = missing.count(i) ? -1 : x0 + 3.0 * i;
    v.data[2 * i + 1] = missing.count(i) ? 452 : y0 + 2.0 * i;
  }
  return v;
}

}  // namespace pesuite::test
