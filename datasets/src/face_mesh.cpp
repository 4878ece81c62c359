// Loading PRNet's mean face: vertices (.npy), UV cells, texture colours, the UV-grid triangles,
// vertex normals and the 68 landmark vertices.
#include "pesuite/datasets/face_mesh.h"
#include "pesuite/datasets/text_source.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "pesuite/datasets/npy.h"
#include "pesuite/datasets/spec.h"
#include "pesuite/datasets/png.h"
#include "pesuite/core/error.h"


namespace pesuite::datasets {
namespace fs = std::filesystem;

namespace {

constexpr int kGrid = 256;

// Whitespace-separated numbers that must be whole (the files store them as "1.285e+03").
std::vector<std::int64_t> read_integers(const std::string& path) {
  if (!fs::is_regular_file(path)) throw core::InputError(path + ": missing or unreadable");
  const TextFile text = read_text_file(path);
  LineCursor lines(text.name, text.data);
  std::vector<std::int64_t> out;
  while (lines.next())
    for (auto field : lines.fields(' ')) {
      const double d = lines.to_double(field);
      if (!std::isfinite(d) || d != std::floor(d)) lines.fail("'" + std::string(field) + "' is not a whole number");
      out.push_back(static_cast<std::int64_t>(d));
    }
  return out;
}

}  // namespace

std::string default_face_mesh_dir() {
  std::vector<std::string> candidates;
  if (const char* e = std::getenv("PESUITE_FACE_MESH"); e && *e) candidates.push_back(e);
  candidates.push_back((fs::path(data_root()) / "face-mesh").lexically_normal().string());  // $PESUITE_DATA or ../shared/data
  for (const auto& c : candidates)
    if (fs::is_directory(c)) return c;
  return candidates.back();
}

FaceMesh load_face_mesh(const std::string& dir) {
  const fs::path d = dir;
  if (!fs::is_directory(d)) throw core::InputError(dir + ": not a directory (expected PRNet's face-mesh folder)");
  const std::string npy_path = (d / "canonical_vertices.npy").string();
  const std::string ind_path = (d / "face_ind.txt").string();
  const std::string kpt_path = (d / "uv_kpt_ind.txt").string();
  const std::string tex_path = (d / "uv_face.png").string();

  const std::vector<std::int64_t> cells = read_integers(ind_path);
  const NpyArray v = read_npy(npy_path);
  if (v.descr.substr(1) != "f8" && v.descr.substr(1) != "f4")
    throw core::InputError(npy_path + ": dtype '" + v.descr + "', expected float64 ('<f8') vertex coordinates");
  if (v.shape.size() != 2 || v.shape[1] != 3 || v.shape[0] != static_cast<std::int64_t>(cells.size())) {
    std::string s;
    for (auto x : v.shape) s += (s.empty() ? "" : ", ") + std::to_string(x);
    throw core::InputError(npy_path + ": shape (" + s + "), expected (" + std::to_string(cells.size()) + ", 3): one row per line of face_ind.txt");
  }
  const std::size_t n = cells.size();
  FaceMesh mesh;
  mesh.vertices.resize(n);
  mesh.uv_cell.resize(n);
  std::vector<std::int32_t> vertex_of(kGrid * kGrid, -1);
  for (std::size_t i = 0; i < n; ++i) {
    if (cells[i] < 0 || cells[i] >= kGrid * kGrid)
      throw core::InputError(core::where(ind_path, static_cast<std::int64_t>(i) + 1) + ": UV cell " + std::to_string(cells[i]) + " is outside the 256 x 256 grid");
    if (vertex_of[cells[i]] >= 0)
      throw core::InputError(core::where(ind_path, static_cast<std::int64_t>(i) + 1) + ": UV cell " + std::to_string(cells[i]) + " is listed twice");
    vertex_of[cells[i]] = static_cast<std::int32_t>(i);
    mesh.uv_cell[i] = static_cast<std::int32_t>(cells[i]);
    // PRNet's axes are image-like (y down); the head-pose frame is y up.
    mesh.vertices[i] = {static_cast<float>(v.data[3 * i]), static_cast<float>(-v.data[3 * i + 1]), static_cast<float>(v.data[3 * i + 2])};
  }

  // Two counter-clockwise triangles (seen from +z: UV rows run down the face, columns to its left
  // side in the image) per grid cell whose four corners are vertices.
  for (int r = 0; r + 1 < kGrid; ++r)
    for (int c = 0; c + 1 < kGrid; ++c) {
      const std::int32_t a = vertex_of[r * kGrid + c], b = vertex_of[r * kGrid + c + 1];
      const std::int32_t e = vertex_of[(r + 1) * kGrid + c], f = vertex_of[(r + 1) * kGrid + c + 1];
      if (a < 0 || b < 0 || e < 0 || f < 0) continue;
      mesh.triangles.push_back({a, e, b});
      mesh.triangles.push_back({b, e, f});
    }

  // Area-weighted vertex normals; the orientation is checked, not assumed: the mean normal of a
  // face seen from the front points towards the viewer (+z).
  std::vector<std::array<double, 3>> acc(n, {0, 0, 0});
  double z_sum = 0;
  for (const auto& t : mesh.triangles) {
    const auto& p0 = mesh.vertices[t[0]];
    const auto& p1 = mesh.vertices[t[1]];
    const auto& p2 = mesh.vertices[t[2]];
    const double ux = p1[0] - p0[0], uy = p1[1] - p0[1], uz = p1[2] - p0[2];
    const double wx = p2[0] - p0[0], wy = p2[1] - p0[1], wz = p2[2] - p0[2];
    const double nx = uy * wz - uz * wy, ny = uz * wx - ux * wz, nz = ux * wy - uy * wx;
    z_sum += nz;
    for (int k = 0; k < 3; ++k) acc[t[k]][0] += nx, acc[t[k]][1] += ny, acc[t[k]][2] += nz;
  }
  if (z_sum < 0) {  // a mesh wound the other way: flip triangles so front faces stay counter-clockwise
    for (auto& t : mesh.triangles) std::swap(t[1], t[2]);
    for (auto& a : acc) a = {-a[0], -a[1], -a[2]};
  }
  mesh.normals.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double len = std::sqrt(acc[i][0] * acc[i][0] + acc[i][1] * acc[i][1] + acc[i][2] * acc[i][2]);
    mesh.normals[i] = len > 0 ? std::array<float, 3>{float(acc[i][0] / len), float(acc[i][1] / len), float(acc[i][2] / len)}
                              : std::array<float, 3>{0, 0, 1};
  }

  const RgbImage tex = read_png_rgb(tex_path);
  if (tex.width != kGrid || tex.height != kGrid)
    throw core::InputError(tex_path + ": " + std::to_string(tex.width) + " x " + std::to_string(tex.height) + ", expected the 256 x 256 UV grid");
  mesh.colors.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = tex.at(mesh.uv_cell[i] / kGrid, mesh.uv_cell[i] % kGrid);
    mesh.colors[i] = {p[0], p[1], p[2]};
  }

  const std::vector<std::int64_t> kpt = read_integers(kpt_path);
  if (kpt.size() != 136) throw core::InputError(kpt_path + ": " + std::to_string(kpt.size()) + " numbers, expected 2 x 68 (columns, then rows)");
  double x1 = 1e30, x2 = -1e30, y1 = 1e30, y2 = -1e30;
  for (int k = 0; k < 68; ++k) {
    const std::int64_t col = kpt[k], row = kpt[68 + k];
    const std::int32_t vtx = (row >= 0 && row < kGrid && col >= 0 && col < kGrid) ? vertex_of[row * kGrid + col] : -1;
    if (vtx < 0)
      throw core::InputError(kpt_path + ": landmark " + std::to_string(k) + " (row " + std::to_string(row) + ", column " + std::to_string(col) +
                       ") is not a face cell of face_ind.txt");
    mesh.landmarks[k] = vtx;
    const auto& p = mesh.vertices[vtx];
    for (int j = 0; j < 3; ++j) mesh.landmark_centre[j] += p[j] / 68.0;
    x1 = std::min<double>(x1, p[0]), x2 = std::max<double>(x2, p[0]);
    y1 = std::min<double>(y1, p[1]), y2 = std::max<double>(y2, p[1]);
  }
  mesh.landmark_size = std::max(x2 - x1, y2 - y1);
  return mesh;
}

}  // namespace pesuite::datasets
