#pragma once
// The face rasteriser: a FaceMesh under a weak-perspective view, Gouraud-shaded (Lambert +
// ambient), z-buffered, supersampled for anti-aliased edges. Plain C++, one image per call, no
// threads inside (callers render many images in parallel; facesynth.h does).
//
// Projection (euler.h's convention, 1-based pixel coordinates like 300W-LP's pt2d):
//   p = R (X - mesh.landmark_centre);  u = cx + scale * p.x;  v = cy - scale * p.y;  depth = p.z
// so the 68-landmark centroid lands on (cx, cy) and a larger depth is nearer the viewer.
//
//   using namespace pesuite::datasets;
//   FaceView view{rotation_from_euler({30, 0, 0}), /*scale=*/0.5, /*cx=*/64.5, /*cy=*/64.5};
//   FaceLayer face = render_face(mesh, view, Lighting{}, 128, 128);
//   RgbImage img = composite(face, background);            // face over any background
//   auto lm = project_landmarks(mesh, view);                // the labels' 68 points
#include <array>
#include <cstdint>
#include <vector>

#include "pesuite/datasets/euler.h"
#include "pesuite/datasets/face_mesh.h"
#include "pesuite/datasets/head_pose.h"
#include "pesuite/datasets/rgb_image.h"

namespace pesuite::datasets {

struct FaceView {
  Matrix3 rotation{{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};  // head frame -> camera frame
  double scale = 1;                                     // pixels per mesh unit
  double cx = 0, cy = 0;                                // 1-based pixel position of mesh.landmark_centre
};

struct Lighting {
  std::array<double, 3> direction{0, 0, 1};  // unit vector towards the light, camera frame (z to the viewer)
  double ambient = 0.4, diffuse = 0.6;       // shade = ambient + diffuse * max(0, n . direction)
  std::array<double, 3> color{1, 1, 1};      // per-channel gain
};

struct RenderOptions {
  int supersample = 2;          // s x s samples per pixel (1 = none)
  bool cull_back_faces = true;  // the mask's inside is never drawn
};

// The face alone: colour premultiplied by coverage, and coverage (0..1), width * height each.
struct FaceLayer {
  int width = 0, height = 0;
  std::vector<float> rgb;    // height * width * 3, 0..255, premultiplied
  std::vector<float> alpha;  // height * width
};

// Image position (1-based pixels) and depth of a head-frame point.
std::array<double, 3> project_point(const FaceMesh& mesh, const FaceView& view, const std::array<double, 3>& x);
// The 68 landmarks as the view projects them (occluded ones too), 1-based pixels.
std::vector<Point2> project_landmarks(const FaceMesh& mesh, const FaceView& view);

// colors: per-vertex albedo replacing mesh.colors (tests paint landmarks with it); nullptr = texture.
FaceLayer render_face(const FaceMesh& mesh, const FaceView& view, const Lighting& light, int width, int height,
                      const RenderOptions& options = {}, const std::vector<std::array<std::uint8_t, 3>>* colors = nullptr);

// face over background (same size), float result for further processing: out = face + (1 - a) * bg.
std::vector<float> composite(const FaceLayer& face, const std::vector<float>& background_rgb);
RgbImage composite(const FaceLayer& face, const RgbImage& background);

}  // namespace pesuite::datasets
