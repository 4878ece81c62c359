// Z-buffer rasteriser for the face mesh (see face_render.h). Work per image: one pass over the
// vertices (project, shade), one over the triangles (edge functions over each bounding box), one
// over the pixels (resolve the supersamples). Deterministic: triangles in a fixed order, a nearer
// sample replaces a farther one only when strictly nearer.
#include "pesuite/datasets/face_render.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "pesuite/core/error.h"

namespace pesuite::datasets {
namespace {

int iceil(float v) {
  const int i = static_cast<int>(v);  // truncates towards zero
  return i + (static_cast<float>(i) < v);
}
int ifloor(float v) {
  const int i = static_cast<int>(v);
  return i - (static_cast<float>(i) > v);
}

}  // namespace

std::array<double, 3> project_point(const FaceMesh& mesh, const FaceView& view, const std::array<double, 3>& x) {
  const auto& R = view.rotation;
  const auto& c = mesh.landmark_centre;
  const double d[3] = {x[0] - c[0], x[1] - c[1], x[2] - c[2]};
  double p[3];
  for (int i = 0; i < 3; ++i) p[i] = R[i][0] * d[0] + R[i][1] * d[1] + R[i][2] * d[2];
  return {view.cx + view.scale * p[0], view.cy - view.scale * p[1], p[2]};
}

std::vector<Point2> project_landmarks(const FaceMesh& mesh, const FaceView& view) {
  std::vector<Point2> out(68);
  for (int k = 0; k < 68; ++k) {
    const auto& v = mesh.vertices[mesh.landmarks[k]];
    const auto p = project_point(mesh, view, {v[0], v[1], v[2]});
    out[k] = {p[0], p[1]};
  }
  return out;
}

FaceLayer render_face(const FaceMesh& mesh, const FaceView& view, const Lighting& light, int width, int height,
                      const RenderOptions& options, const std::vector<std::array<std::uint8_t, 3>>* colors) {
  if (width <= 0 || height <= 0) throw core::InputError("render_face: image size " + std::to_string(width) + " x " + std::to_string(height));
  const int s = std::max(1, options.supersample);
  const int W = width * s, H = height * s;
  const std::size_t nv = mesh.vertices.size();
  const auto& albedo = colors ? *colors : mesh.colors;
  if (albedo.size() != nv) throw core::InputError("render_face: " + std::to_string(albedo.size()) + " colours for " + std::to_string(nv) + " vertices");

  // Vertices -> supersample grid (centre of sample J at 1-based u = (J + 0.5) / s + 0.5), shaded colours.
  std::vector<float> X(nv), Y(nv), Z(nv), C(nv * 3);
  const auto& R = view.rotation;
  const auto& c = mesh.landmark_centre;
  const auto& l = light.direction;
  for (std::size_t i = 0; i < nv; ++i) {
    const auto& v = mesh.vertices[i];
    const double d[3] = {v[0] - c[0], v[1] - c[1], v[2] - c[2]};
    const double px = R[0][0] * d[0] + R[0][1] * d[1] + R[0][2] * d[2];
    const double py = R[1][0] * d[0] + R[1][1] * d[1] + R[1][2] * d[2];
    const double pz = R[2][0] * d[0] + R[2][1] * d[1] + R[2][2] * d[2];
    X[i] = static_cast<float>((view.cx + view.scale * px - 0.5) * s - 0.5);
    Y[i] = static_cast<float>((view.cy - view.scale * py - 0.5) * s - 0.5);
    Z[i] = static_cast<float>(pz);
    const auto& n = mesh.normals[i];
    double ndotl = 0;
    for (int k = 0; k < 3; ++k) ndotl += (R[k][0] * n[0] + R[k][1] * n[1] + R[k][2] * n[2]) * l[k];
    const double shade = light.ambient + light.diffuse * std::max(0.0, ndotl);
    for (int k = 0; k < 3; ++k) C[3 * i + k] = static_cast<float>(albedo[i][k] * shade * light.color[k]);
  }

  std::vector<float> zbuf(static_cast<std::size_t>(W) * H, -std::numeric_limits<float>::infinity());
  std::vector<float> buf(static_cast<std::size_t>(W) * H * 3, 0.f);
  for (const auto& t : mesh.triangles) {
    const int i0 = t[0], i1 = t[1], i2 = t[2];
    const float x0 = X[i0], y0 = Y[i0], x1 = X[i1], y1 = Y[i1], x2 = X[i2], y2 = Y[i2];
    // Twice the signed area; the screen's y runs down, so a front face (counter-clockwise seen
    // from +z) has a negative one.
    const float area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0);
    if (area == 0.f || (options.cull_back_faces && area > 0.f)) continue;
    // Sample columns / rows inside the bounding box, clamped to the image first so that the
    // integer conversions stay in range (x86-64's baseline has no rounding instruction: ceil and
    // floor would be calls, four per triangle).
    const float bx0 = std::max(-1.f, std::min({x0, x1, x2})), bx1 = std::min(static_cast<float>(W), std::max({x0, x1, x2}));
    const float by0 = std::max(-1.f, std::min({y0, y1, y2})), by1 = std::min(static_cast<float>(H), std::max({y0, y1, y2}));
    const int xmin = std::max(0, iceil(bx0)), xmax = std::min(W - 1, ifloor(bx1));
    const int ymin = std::max(0, iceil(by0)), ymax = std::min(H - 1, ifloor(by1));
    if (xmin > xmax || ymin > ymax) continue;
    const float inv = 1.f / area;
    for (int y = ymin; y <= ymax; ++y) {
      const float py = static_cast<float>(y);
      for (int x = xmin; x <= xmax; ++x) {
        const float px = static_cast<float>(x);
        // Barycentric weights (each edge function over the signed area: >= 0 inside).
        const float b0 = ((x1 - px) * (y2 - py) - (y1 - py) * (x2 - px)) * inv;
        const float b1 = ((x2 - px) * (y0 - py) - (y2 - py) * (x0 - px)) * inv;
        const float b2 = 1.f - b0 - b1;
        if (b0 < 0.f || b1 < 0.f || b2 < 0.f) continue;
        const float z = b0 * Z[i0] + b1 * Z[i1] + b2 * Z[i2];
        const std::size_t p = static_cast<std::size_t>(y) * W + x;
        if (!(z > zbuf[p])) continue;
        zbuf[p] = z;
        for (int k = 0; k < 3; ++k) buf[3 * p + k] = b0 * C[3 * i0 + k] + b1 * C[3 * i1 + k] + b2 * C[3 * i2 + k];
      }
    }
  }

  FaceLayer out;
  out.width = width, out.height = height;
  out.rgb.assign(static_cast<std::size_t>(width) * height * 3, 0.f);
  out.alpha.assign(static_cast<std::size_t>(width) * height, 0.f);
  const float norm = 1.f / static_cast<float>(s * s);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      float a = 0, rgb[3] = {0, 0, 0};
      for (int dy = 0; dy < s; ++dy)
        for (int dx = 0; dx < s; ++dx) {
          const std::size_t p = static_cast<std::size_t>(y * s + dy) * W + (x * s + dx);
          if (zbuf[p] == -std::numeric_limits<float>::infinity()) continue;
          a += 1.f;
          for (int k = 0; k < 3; ++k) rgb[k] += buf[3 * p + k];
        }
      const std::size_t q = static_cast<std::size_t>(y) * width + x;
      out.alpha[q] = a * norm;
      for (int k = 0; k < 3; ++k) out.rgb[3 * q + k] = rgb[k] * norm;
    }
  return out;
}

std::vector<float> composite(const FaceLayer& face, const std::vector<float>& bg) {
  std::vector<float> out(face.rgb.size());
  for (std::size_t q = 0; q < face.alpha.size(); ++q)
    for (int k = 0; k < 3; ++k) out[3 * q + k] = face.rgb[3 * q + k] + (1.f - face.alpha[q]) * bg[3 * q + k];
  return out;
}

RgbImage composite(const FaceLayer& face, const RgbImage& background) {
  if (background.width != face.width || background.height != face.height)
    throw core::InputError("composite: background " + std::to_string(background.width) + " x " + std::to_string(background.height) +
                     " for a face layer of " + std::to_string(face.width) + " x " + std::to_string(face.height));
  std::vector<float> bg(background.pixels.begin(), background.pixels.end());
  const std::vector<float> f = composite(face, bg);
  RgbImage out(face.width, face.height);
  for (std::size_t i = 0; i < f.size(); ++i) out.pixels[i] = static_cast<std::uint8_t>(std::lround(std::clamp(f[i], 0.f, 255.f)));
  return out;
}

}  // namespace pesuite::datasets
