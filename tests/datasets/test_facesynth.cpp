// The face renderer: .npy parsing, the mesh (shared/data/face-mesh) and its bad files, determinism,
// exact labels (rotation recovered from the projected landmarks; painted landmarks found where the
// labels put them), flip consistency, and the convention test that ties the renderer to the real
// 300W-LP / AFLW2000 labels.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <set>

#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/face_mesh.h"
#include "pesuite/datasets/face_render.h"
#include "pesuite/datasets/facesynth.h"
#include "pesuite/datasets/head_pose.h"
#include "pesuite/datasets/npy.h"
#include "pesuite/core/error.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::datasets;
using pesuite::test::TempDir;
using pesuite::test::expect_input_error;
namespace fs = std::filesystem;

namespace {


// A .npy file as numpy writes it: magic, version 1.0, u16 header length, dict padded to 64 bytes.
std::string npy_bytes(const std::string& descr, const std::string& shape, const std::string& data, bool fortran = false) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// The shared mesh, loaded once; "" when ../shared/data/face-mesh is absent.
const FaceMesh* shared_mesh() {
  static const std::string dir = pesuite::test::sample_data("face-mesh");
  static const std::unique_ptr<FaceMesh> mesh = dir.empty() ? nullptr : std::make_unique<FaceMesh>(load_face_mesh(dir));
  return mesh.get();
}
#define REQUIRE_MESH()                                                                     \
  if (!shared_mesh()) GTEST_SKIP() << "../shared/data/face-mesh absent (set PESUITE_TEST_DATA)"

// Mean distance of the best scale + translation fit of `model` (2-D) to `target`, over the
// largest side of the target's box: the measure REFERENCES.md quotes (4-6 % on 300W-LP).
double fit_error(const std::vector<Point2>& model, const std::vector<Point2>& target) {
  const std::size_t n = model.size();
  double mx[2] = {0, 0}, tx[2] = {0, 0};
  for (std::size_t i = 0; i < n; ++i)
    for (int d = 0; d < 2; ++d) mx[d] += model[i][d] / n, tx[d] += target[i][d] / n;
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (int d = 0; d < 2; ++d) num += (model[i][d] - mx[d]) * (target[i][d] - tx[d]), den += (model[i][d] - mx[d]) * (model[i][d] - mx[d]);
  const double s = num / den;
  double err = 0;
  for (std::size_t i = 0; i < n; ++i)
    err += std::hypot(s * (model[i][0] - mx[0]) + tx[0] - target[i][0], s * (model[i][1] - mx[1]) + tx[1] - target[i][1]);
  const FaceBox b = landmark_box(target, true);
  return err / n / std::max(b.width(), b.height());
}

// The mesh's 68 landmarks rotated by the label (y-up) and put in image axes (y down): the model
// side of the convention test. Scale and translation are left to fit_error.
std::vector<Point2> model_landmarks(const FaceMesh& mesh, const EulerAngles& pose) {
  FaceView v;
  v.rotation = rotation_from_euler(pose);
  return project_landmarks(mesh, v);
}

// Weak-perspective camera from 3-D / 2-D correspondences by least squares (u, -v) = M X + b, then
// R's first two rows = M's rows over their norm. Returns R.
Matrix3 recover_rotation(const FaceMesh& mesh, const std::vector<Point2>& pts) {
  double xm[3] = {0, 0, 0}, um[2] = {0, 0};
  for (int k = 0; k < 68; ++k) {
    const auto& x = mesh.vertices[mesh.landmarks[k]];
    for (int d = 0; d < 3; ++d) xm[d] += x[d] / 68.0;
    um[0] += pts[k][0] / 68.0, um[1] += -pts[k][1] / 68.0;
  }
  double a[3][3] = {}, b[2][3] = {};
  for (int k = 0; k < 68; ++k) {
    const auto& x = mesh.vertices[mesh.landmarks[k]];
    const double xc[3] = {x[0] - xm[0], x[1] - xm[1], x[2] - xm[2]}, uc[2] = {pts[k][0] - um[0], -pts[k][1] - um[1]};
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) a[i][j] += xc[i] * xc[j];
      for (int r = 0; r < 2; ++r) b[r][i] += uc[r] * xc[i];
    }
  }
  // M = B A^-1 (A symmetric positive definite, 3 x 3: the adjugate is enough).
  const double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                     a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  double inv[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
      inv[i][j] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
    }
  Matrix3 r{};
  for (int row = 0; row < 2; ++row) {
    double norm = 0;
    for (int j = 0; j < 3; ++j) {
      r[row][j] = 0;
      for (int k = 0; k < 3; ++k) r[row][j] += b[row][k] * inv[k][j];
      norm += r[row][j] * r[row][j];
    }
    for (int j = 0; j < 3; ++j) r[row][j] /= std::sqrt(norm);
  }
  r[2] = {r[0][1] * r[1][2] - r[0][2] * r[1][1], r[0][2] * r[1][0] - r[0][0] * r[1][2], r[0][0] * r[1][1] - r[0][1] * r[1][0]};
  return r;
}

std::string spec_with_mesh(const std::string& query) {
  return "facesynth:?" + query + "&mesh=" + pesuite::test::sample_data("face-mesh");
}

}  // namespace

// ---- .npy ---------------------------------------------------------------------------------------

TEST(Npy, ParsesVersion1AndRejectsWhatItCannotRead) {
  const std::vector<double> d = {1.5, -2, 3, 4, 5, 6.25};
  NpyArray a = parse_npy(npy_bytes("<f8", "(3, 2)", raw(d)), "a.npy");
  EXPECT_EQ(a.descr, "<f8");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(a.data, d);
  const std::vector<float> f = {0.5f, 1.25f};
  EXPECT_EQ(parse_npy(npy_bytes("<f4", "(2,)", raw(f)), "f.npy").data, (std::vector<double>{0.5, 1.25}));
  const std::vector<std::int64_t> i = {-7, 9, 1 << 30};
  EXPECT_EQ(parse_npy(npy_bytes("<i8", "(1, 3)", raw(i)), "i.npy").data, (std::vector<double>{-7, 9, 1 << 30}));
  EXPECT_EQ(parse_npy(npy_bytes("|u1", "()", std::string(1, '\xff')), "u.npy").data, (std::vector<double>{255}));
  expect_input_error([&] { parse_npy("\x93NUMPX\x01\x00", "m.npy"); }, {"m.npy", "magic"});
  expect_input_error([&] { parse_npy(npy_bytes("<f8", "(3, 2)", raw(d), true), "t.npy"); }, {"t.npy", "Fortran order"});
  expect_input_error([&] { parse_npy(npy_bytes(">f8", "(3, 2)", raw(d)), "b.npy"); }, {"b.npy", "'>f8'", "little-endian"});
  expect_input_error([&] { parse_npy(npy_bytes("|O", "(3, 2)", raw(d)), "o.npy"); }, {"o.npy", "'|O'"});
  expect_input_error([&] { parse_npy(npy_bytes("<f8", "(3, 3)", raw(d)), "s.npy"); }, {"s.npy", "48 bytes", "need 72"});
  expect_input_error([&] { parse_npy(npy_bytes("<f8", "(3, 2)", raw(d)).substr(0, 60), "c.npy"); }, {"c.npy", "cut short"});
  expect_input_error([] { read_npy("/nonexistent/x.npy"); }, {"/nonexistent/x.npy"});
}

// ---- the mesh -----------------------------------------------------------------------------------

TEST(FaceMesh, SharedMeshLoadsInTheHeadPoseFrame) {
  REQUIRE_MESH();
  const FaceMesh& m = *shared_mesh();
  EXPECT_EQ(m.vertices.size(), 43867u);
  EXPECT_EQ(m.colors.size(), 43867u);
  EXPECT_GT(m.triangles.size(), 80000u);
  // y up: the chin (8) below the nose tip (30), below the brows (19, 24); the nose tip nearest the viewer.
  const auto& chin = m.vertices[m.landmarks[8]];
  const auto& nose = m.vertices[m.landmarks[30]];
  EXPECT_LT(chin[1], nose[1]);
  EXPECT_LT(nose[1], m.vertices[m.landmarks[19]][1]);
  for (int k = 0; k < 68; ++k) EXPECT_LE(m.vertices[m.landmarks[k]][2], nose[2]) << k;
  // x right: the face's right eye corner (36) is on the image's left.
  EXPECT_LT(m.vertices[m.landmarks[36]][0], m.vertices[m.landmarks[45]][0]);
  // Normals out of the face: the nose tip's points to the viewer; REFERENCES.md's landmark centre.
  EXPECT_GT(m.normals[m.landmarks[30]][2], 0.9);
  EXPECT_NEAR(m.landmark_centre[0], -0.287, 1e-3);
  EXPECT_NEAR(m.landmark_centre[1], -269.171, 1e-3);
  EXPECT_NEAR(m.landmark_size, 174.68, 0.01);
  // Colours from the texture: skin, not black.
  EXPECT_GT(m.colors[m.landmarks[33]][0], 100);
}

TEST(FaceMesh, BadFilesAreNamed) {
  const std::string src = pesuite::test::sample_data("face-mesh");
  if (src.empty()) GTEST_SKIP() << "../shared/data/face-mesh absent (set PESUITE_TEST_DATA)";
  TempDir dir;
  const std::string mesh = dir / "face-mesh";
  fs::create_directories(mesh);
  for (const char* f : {"canonical_vertices.npy", "face_ind.txt", "uv_face.png", "uv_kpt_ind.txt"})
    fs::copy_file(fs::path(src) / f, fs::path(mesh) / f);
  const std::string npy = mesh + "/canonical_vertices.npy";
  const std::string good = pesuite::core::read_file(npy);
  // One row short: the size disagrees with face_ind.txt.
  pesuite::core::write_file_atomic(npy, npy_bytes("<f8", "(43866, 3)", std::string(43866 * 3 * 8, '\0')));
  expect_input_error([&] { load_face_mesh(mesh); }, {npy, "(43866, 3)", "expected (43867, 3)"});
  // Integers instead of float64.
  pesuite::core::write_file_atomic(npy, npy_bytes("<i8", "(43867, 3)", std::string(43867 * 3 * 8, '\0')));
  expect_input_error([&] { load_face_mesh(mesh); }, {npy, "'<i8'", "float64"});
  // Cut short.
  pesuite::core::write_file_atomic(npy, good.substr(0, good.size() - 8));
  expect_input_error([&] { load_face_mesh(mesh); }, {npy, "bytes"});
  pesuite::core::write_file_atomic(npy, good);
  pesuite::core::write_file_atomic(mesh + "/uv_kpt_ind.txt", "1 2 3\n4 5 6\n");
  expect_input_error([&] { load_face_mesh(mesh); }, {"uv_kpt_ind.txt", "expected 2 x 68"});
  for (const char* bad : {"2.5", "inf", "nan", "x"}) {  // each named with its line
    pesuite::core::write_file_atomic(mesh + "/uv_kpt_ind.txt", std::string("1 2\n3 ") + bad + "\n");
    expect_input_error([&] { load_face_mesh(mesh); }, {"uv_kpt_ind.txt:2", bad});
  }
  fs::remove(mesh + "/uv_kpt_ind.txt");
  expect_input_error([&] { load_face_mesh(mesh); }, {"uv_kpt_ind.txt", "missing"});
  expect_input_error([&] { make_facesynth(parse_spec("facesynth:?mesh=" + (dir / "none"))); }, {"none", "not a directory"});
}

// ---- determinism, resolution, keys ----------------------------------------------------------------

TEST(FaceSynth, SameSeedSameBytesAnyThreadsAnySize) {
  REQUIRE_MESH();
  const auto mesh = std::make_shared<const FaceMesh>(*shared_mesh());
  FaceSynthOptions o;
  o.n = 8, o.width = 96, o.height = 80, o.seed = 3;
  const FaceSynth synth(o, mesh);
  const FaceSample a = synth.sample(5), b = synth.sample(5);
  EXPECT_EQ(a.image, b.image);
  EXPECT_EQ(a.image.width, 96); EXPECT_EQ(a.image.height, 80);
  const auto one = [&] { return synth.render_range(0, 8, 1); }();
  const auto two = synth.render_range(0, 8, 2);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(one[i].image, two[i].image) << i;
  EXPECT_EQ(one[5].image, a.image);
  EXPECT_NE(one[4].image, one[5].image);
  // Another seed, another scene; another size, the same scene (angles, light, background draw).
  o.seed = 4;
  EXPECT_NE(FaceSynth(o, mesh).sample(5).pose.yaw, a.pose.yaw);
  o.seed = 3, o.width = o.height = 224;
  const FaceSynthParams big = FaceSynth(o, mesh).params(5);
  EXPECT_EQ(big.pose.yaw, a.pose.yaw); EXPECT_EQ(big.pose.roll, a.pose.roll); EXPECT_EQ(big.light.direction, a.params.light.direction);
  EXPECT_EQ(big.background_seed, a.params.background_seed);
  // Every background kind appears, angles stay in their ranges, and a label needs no pixels.
  o.n = 200;
  const FaceSynth many(o, mesh);
  std::set<int> kinds;
  for (int i = 0; i < 200; ++i) {
    const FaceSynthParams p = many.params(i);
    kinds.insert(p.background);
    EXPECT_GE(p.pose.yaw, -90); EXPECT_LT(p.pose.yaw, 90); EXPECT_GE(p.pose.pitch, -45); EXPECT_LT(p.pose.roll, 45);
  }
  EXPECT_EQ(kinds, (std::set<int>{0, 1, 2, 3}));
  EXPECT_TRUE(many.label(3).image.pixels.empty());
}

TEST(FaceSynth, SpecKeysFullRangeAndInspect) {
  REQUIRE_MESH();
  const FaceSynth s = make_facesynth(parse_spec(spec_with_mesh("n=300&seed=1&size=64x48&full_range=1&pitch=-10,10&roll=5")));
  EXPECT_EQ(s.size(), 300);
  EXPECT_EQ(s.options().width, 64); EXPECT_EQ(s.options().height, 48);
  double lo = 1e9, hi = -1e9;
  for (int i = 0; i < 300; ++i) {
    const auto p = s.params(i).pose;
    lo = std::min(lo, p.yaw), hi = std::max(hi, p.yaw);
    EXPECT_EQ(p.roll, 5);
    EXPECT_LE(std::abs(p.pitch), 10);
  }
  EXPECT_LT(lo, -170); EXPECT_GT(hi, 170); EXPECT_LT(hi, 180);
  const FaceSample x = s.sample(0);
  EXPECT_EQ(x.image.width, 64); EXPECT_EQ(x.image.height, 48);
  const nlohmann::json j = inspect(parse_spec(spec_with_mesh("n=6&size=32")), {/*items=*/true});
  EXPECT_EQ(j["images"], 6);
  EXPECT_EQ(j["format"], "facesynth");
  ASSERT_EQ(j["items"].size(), 6u);
  const FaceSample l2 = make_facesynth(parse_spec(spec_with_mesh("n=6&size=32"))).label(2);
  EXPECT_EQ(j["items"][2]["yaw"].get<double>(), l2.pose.yaw);
  EXPECT_EQ(j["items"][2]["box"][3].get<double>(), l2.box.y2);
  expect_input_error([] { facesynth_options(parse_spec("facesynth:?yaw=30,-30")); }, {"'yaw'", "lo <= hi"});
  expect_input_error([] { facesynth_options(parse_spec("facesynth:?size=0")); }, {"'size'"});
  expect_input_error([] { facesynth_options(parse_spec("facesynth:?supersample=9")); }, {"'supersample'"});
  expect_input_error([] { parse_spec("facesynth:/some/path"); }, {"takes no path"});
  expect_input_error([] { parse_spec("facesynth:?angle=3"); }, {"unknown key 'angle'", "full_range"});
}

// ---- exact labels -------------------------------------------------------------------------------

TEST(FaceSynth, LabelRotationIsRecoveredFromTheProjectedLandmarks) {
  REQUIRE_MESH();
  const FaceSynth s(FaceSynthOptions{}, std::make_shared<const FaceMesh>(*shared_mesh()));
  for (int i = 0; i < 20; ++i) {
    const FaceSample l = s.label(i);
    EXPECT_LT(geodesic_degrees(recover_rotation(s.mesh(), l.landmarks), l.rotation), 1e-6) << i;
    EXPECT_LT(geodesic_degrees(rotation_from_euler(l.pose), l.rotation), 1e-12);
    // The landmark centroid lands where the view puts it; the box holds every landmark.
    double cx = 0, cy = 0;
    for (const auto& p : l.landmarks) cx += p[0] / 68, cy += p[1] / 68;
    EXPECT_NEAR(cx, l.view.cx, 1e-9); EXPECT_NEAR(cy, l.view.cy, 1e-9);
    EXPECT_LT(l.box.x1, l.landmark_box.x1); EXPECT_GT(l.box.x2, l.landmark_box.x2);
  }
}

TEST(FaceRender, PixelConventionOnAFlatSquare) {
  // A square x in [-10, 10], y in [0, 10] (y up) at the origin, scale 1, centre (20, 20) in 1-based
  // pixels: it covers u in [10, 30], v in [10, 20]. With 2 x 2 samples per pixel, the samples of
  // pixel j (0-based) sit at u = j + 0.75 and j + 1.25, so pixels 9 and 29 are half covered in x,
  // rows 9 and 19 half covered in y, and nothing lies below the centre (the square is above it).
  FaceMesh sq;
  sq.vertices = {{-10, 0, 0}, {10, 0, 0}, {10, 10, 0}, {-10, 10, 0}};
  sq.triangles = {{0, 1, 2}, {0, 2, 3}};  // counter-clockwise seen from +z
  sq.normals.assign(4, {0, 0, 1});
  sq.colors.assign(4, {200, 100, 50});
  FaceView v;
  v.scale = 1, v.cx = 20, v.cy = 20;
  Lighting flat;
  flat.ambient = 1, flat.diffuse = 0;
  const FaceLayer f = render_face(sq, v, flat, 40, 40, {2, true});
  auto cover = [](int j, double lo, double hi) { return 0.5 * ((j + 0.75 >= lo && j + 0.75 <= hi) + (j + 1.25 >= lo && j + 1.25 <= hi)); };
  for (int i = 0; i < 40; ++i)
    for (int j = 0; j < 40; ++j) {
      const double want = cover(j, 10, 30) * cover(i, 10, 20);
      ASSERT_EQ(f.alpha[i * 40 + j], static_cast<float>(want)) << "row " << i << " col " << j;
      ASSERT_FLOAT_EQ(f.rgb[(i * 40 + j) * 3 + 1], static_cast<float>(100 * want));
    }
  // Seen from behind (yaw 180) it is culled; without culling it is drawn mirrored.
  v.rotation = rotation_from_euler({180, 0, 0});
  const FaceLayer back = render_face(sq, v, flat, 40, 40, {2, true});
  EXPECT_EQ(*std::max_element(back.alpha.begin(), back.alpha.end()), 0.f);
  const FaceLayer drawn = render_face(sq, v, flat, 40, 40, {2, false});
  EXPECT_EQ(drawn.alpha[15 * 40 + 15], 1.f);
  // Nearer wins: a second square 5 units in front, another colour, over the left half only.
  sq.vertices.insert(sq.vertices.end(), {{-10, 0, 5}, {0, 0, 5}, {0, 10, 5}, {-10, 10, 5}});
  sq.triangles.push_back({4, 5, 6});
  sq.triangles.push_back({4, 6, 7});
  sq.normals.assign(8, {0, 0, 1});
  sq.colors.insert(sq.colors.end(), 4, {0, 0, 255});
  v.rotation = rotation_from_euler({0, 0, 0});
  const FaceLayer two = render_face(sq, v, flat, 40, 40, {1, true});
  EXPECT_NEAR(two.rgb[(15 * 40 + 12) * 3 + 2], 255, 1e-3);  // left half: the nearer blue square (barycentric rounding)
  EXPECT_NEAR(two.rgb[(15 * 40 + 25) * 3 + 0], 200, 1e-3);  // right half: the farther one
}

TEST(FaceSynth, PaintedLandmarksAppearWhereTheLabelsSay) {
  REQUIRE_MESH();
  const FaceMesh& m = *shared_mesh();
  const int W = 224;
  FaceView view;
  view.rotation = rotation_from_euler({25, -10, 12});
  view.scale = 0.65 * W / m.landmark_size;
  view.cx = 110.3, view.cy = 115.8;
  const auto labels = project_landmarks(m, view);
  Lighting flat;
  flat.ambient = 1, flat.diffuse = 0;  // colours exactly as painted
  // Eye corners, nose tip, mouth corners, chin: visible at this pose and far apart.
  for (int k : {8, 30, 36, 39, 42, 45, 48, 54}) {
    std::vector<std::array<std::uint8_t, 3>> colors(m.vertices.size(), {128, 128, 128});
    const auto& c = m.vertices[m.landmarks[k]];
    for (std::size_t v = 0; v < m.vertices.size(); ++v) {
      const double dx = m.vertices[v][0] - c[0], dy = m.vertices[v][1] - c[1], dz = m.vertices[v][2] - c[2];
      if (dx * dx + dy * dy + dz * dz < 1.5 * 1.5) colors[v] = {255, 0, 0};
    }
    const FaceLayer face = render_face(m, view, flat, W, W, {4, true}, &colors);
    double sx = 0, sy = 0, sw = 0;
    for (int y = 0; y < W; ++y)
      for (int x = 0; x < W; ++x) {
        const std::size_t q = static_cast<std::size_t>(y) * W + x;
        const double red = std::max(0.f, face.rgb[3 * q] - face.rgb[3 * q + 1]);  // premultiplied: 127 * coverage for grey
        sx += red * (x + 1), sy += red * (y + 1), sw += red;  // 1-based pixel centres, as the labels
      }
    ASSERT_GT(sw, 0) << "landmark " << k << " not visible";
    std::cout << "  landmark " << k << ": painted centroid " << std::hypot(sx / sw - labels[k][0], sy / sw - labels[k][1]) << " px from the label (" << sx / sw - labels[k][0] << ", " << sy / sw - labels[k][1] << ")\n";
    // Within 1 px at 224: the painted patch (a 1.5-unit ball around the vertex) sits on a curved,
    // partly self-occluded surface, so its centroid is not exactly the vertex (measured 0.2-0.93
    // px, in varying directions); FaceRender.PixelConventionOnAFlatSquare checks the rasteriser exactly.
    EXPECT_LT(std::hypot(sx / sw - labels[k][0], sy / sw - labels[k][1]), 1.0) << "landmark " << k;
  }
}

TEST(FaceSynth, FlipMirrorsImageAndLabels) {
  REQUIRE_MESH();
  const FaceMesh& m = *shared_mesh();
  const int W = 160;
  const EulerAngles pose{35, 10, -15};
  FaceView a, b;
  a.rotation = rotation_from_euler(pose);
  b.rotation = rotation_from_euler(flip_angles(pose));
  a.scale = b.scale = 0.6 * W / m.landmark_size;
  a.cy = b.cy = 80.5;
  a.cx = 70.25, b.cx = W + 1 - 70.25;  // the mirrored centre
  // Labels: the flipped sample's landmarks are the mirror image of the original's, up to the mean
  // face's own asymmetry (1.1 mesh units on average).
  const auto la = mirror_landmarks(project_landmarks(m, a), W), lb = project_landmarks(m, b);
  double mean = 0;
  for (int k = 0; k < 68; ++k) mean += std::hypot(la[k][0] - lb[k][0], la[k][1] - lb[k][1]) / 68;
  EXPECT_LT(mean, 1.5 * a.scale);
  // Pixels: the coverage masks mirror each other.
  const FaceLayer fa = render_face(m, a, Lighting{}, W, W), fb = render_face(m, b, Lighting{}, W, W);
  int inter = 0, uni = 0;
  for (int y = 0; y < W; ++y)
    for (int x = 0; x < W; ++x) {
      const bool pa = fa.alpha[y * W + (W - 1 - x)] > 0.5f, pb = fb.alpha[y * W + x] > 0.5f;
      inter += pa && pb, uni += pa || pb;
    }
  EXPECT_GT(static_cast<double>(inter) / uni, 0.97);
  // And the labels' rotation is the mirrored one exactly.
  EXPECT_LT(geodesic_degrees(b.rotation, multiply(multiply(Matrix3{{{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}, a.rotation),
                                                  Matrix3{{{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}}})),
            1e-9);
}

// ---- the convention test: the renderer's projection against the real labels -------------------

// For each 300W-LP sample: the mesh's 68 landmarks rotated by the label's angles, best scale +
// translation, mean distance to pt2d over the landmark box's largest side. Threshold 8 % (measured
// 4.3-6.4 %, REFERENCES.md 4-6 %); with yaw negated the fit must be at least twice as bad and above
// 10 % where |yaw| > 25 degrees (measured 13.7-19.6 %). _Flip folders: the loader's face order
// (flip_order=face) fits as well; the file's order does not (measured 29-32 %).
TEST(FaceSynthConvention, MatchesThe300WLPLabels) {
  REQUIRE_MESH();
  const std::string root = pesuite::test::sample_data("300wlp-sample");
  if (root.empty()) GTEST_SKIP() << "../shared/data/300wlp-sample absent (set PESUITE_TEST_DATA)";
  const FaceMesh& m = *shared_mesh();
  const auto set = load_300wlp(parse_spec("300wlp:" + root));
  const auto as_file = load_300wlp(parse_spec("300wlp:" + root + "?flip_order=file"));
  ASSERT_EQ(set.records.size(), 9u);
  std::cout << "  sample                      yaw    error  yaw-negated  (file order)\n";
  for (std::size_t i = 0; i < set.records.size(); ++i) {
    const auto& r = set.records[i];
    const double err = fit_error(model_landmarks(m, r.pose), r.landmarks);
    EulerAngles neg = r.pose;
    neg.yaw = -neg.yaw;
    const double err_neg = fit_error(model_landmarks(m, neg), r.landmarks);
    const double err_file = fit_error(model_landmarks(m, r.pose), as_file.records[i].landmarks);
    std::cout << "  " << std::left << std::setw(26) << r.id << std::right << std::fixed << std::setprecision(1) << std::setw(6)
              << r.pose.yaw << std::setw(8) << 100 * err << "%" << std::setw(10) << 100 * err_neg << "%";
    if (r.mirrored) std::cout << std::setw(10) << 100 * err_file << "%";
    std::cout << "\n";
    EXPECT_LT(err, 0.08) << r.id;
    if (std::abs(r.pose.yaw) > 25) {
      EXPECT_GT(err_neg, 2 * err) << r.id;
      EXPECT_GT(err_neg, 0.10) << r.id;
    }
    if (r.mirrored) {
      EXPECT_GT(err_file, 0.2) << r.id;
    }
  }
}

// AFLW2000: its pt2d are 21 AFLW points, so the 68-point comparison uses pt3d_68's (x, y), the
// fitted 3DMM's landmarks in image coordinates. Threshold 4 % (measured 1.2-2.3 %); yaw negated at
// least 3x worse where |yaw| > 25 (measured 17-28 %).
TEST(FaceSynthConvention, MatchesTheAFLW2000Labels) {
  REQUIRE_MESH();
  const std::string root = pesuite::test::sample_data("aflw2000-sample");
  if (root.empty()) GTEST_SKIP() << "../shared/data/aflw2000-sample absent (set PESUITE_TEST_DATA)";
  const FaceMesh& m = *shared_mesh();
  const auto set = load_aflw2000(parse_spec("aflw2000:" + root));
  ASSERT_EQ(set.records.size(), 8u);
  for (const auto& r : set.records) {
    ASSERT_EQ(r.landmarks_3d.size(), 68u);
    std::vector<Point2> target(68);
    for (int k = 0; k < 68; ++k) target[k] = {r.landmarks_3d[k][0], r.landmarks_3d[k][1]};
    const double err = fit_error(model_landmarks(m, r.pose), target);
    EulerAngles neg = r.pose;
    neg.yaw = -neg.yaw;
    const double err_neg = fit_error(model_landmarks(m, neg), target);
    std::cout << "  " << r.id << std::fixed << std::setprecision(1) << "  yaw " << std::setw(6) << r.pose.yaw << "  error "
              << 100 * err << "%  yaw-negated " << 100 * err_neg << "%\n";
    EXPECT_LT(err, 0.04) << r.id;
    if (std::abs(r.pose.yaw) > 25) {
      EXPECT_GT(err_neg, 3 * err) << r.id;
    }
  }
}
