#pragma once
// PRNet's textured mean face (../shared/data/face-mesh, SOURCES.md there), ready to render:
//   canonical_vertices.npy  43,867 x 3 float64, PRNet's UV order, image-like axes (x right, y down)
//   face_ind.txt            the UV cell (row * 256 + col of the 256 x 256 grid) of each vertex
//   uv_face.png             the texture in that grid
//   uv_kpt_ind.txt          the 68 landmarks as UV cells (first line columns, second line rows)
// There is no triangle file: faces are the UV grid's cells, two triangles per 2 x 2 cell whose
// four corners are all face cells.
//
// Frame: vertices are returned in the head-pose frame of euler.h, (x, -y, z) of the file: x right,
// y up, z out of the face towards the viewer, in the file's units (about 210 wide).
//
//   pesuite::datasets::FaceMesh mesh = pesuite::datasets::load_face_mesh("../shared/data/face-mesh");
//   auto nose = mesh.vertices[mesh.landmarks[30]];          // nose tip, z the largest
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace pesuite::datasets {

struct FaceMesh {
  std::vector<std::array<float, 3>> vertices;         // y-up head frame (see above)
  std::vector<std::array<std::int32_t, 3>> triangles;  // counter-clockwise seen from the front (+z)
  std::vector<std::array<float, 3>> normals;           // unit vertex normals, out of the face (area-weighted)
  std::vector<std::array<std::uint8_t, 3>> colors;     // RGB of each vertex's texel in uv_face.png
  std::vector<std::int32_t> uv_cell;                   // row * 256 + col
  std::array<std::int32_t, 68> landmarks{};            // vertex of each of the 68 iBUG points
  std::array<double, 3> landmark_centre{};             // mean of the 68 landmark vertices
  double landmark_size = 0;                            // max side of their frontal (x, y) box
};

// Reads the folder; InputError naming the file for a missing file, a .npy of the wrong dtype
// (not float) or shape (not N x 3, N = lines of face_ind.txt), a UV cell outside the grid, a
// landmark cell that is no vertex's, or a texture that is not 256 x 256.
FaceMesh load_face_mesh(const std::string& dir);

// Where the mesh is when no folder is given: $PESUITE_FACE_MESH, else $PESUITE_DATA/face-mesh,
// else ../shared/data/face-mesh beside the source tree (the first that exists; the last otherwise).
std::string default_face_mesh_dir();

}  // namespace pesuite::datasets
