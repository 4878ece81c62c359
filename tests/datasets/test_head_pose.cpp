// Head-pose formats: 300W-LP and AFLW2000 on real MATLAB v5 files this test writes with libmatio,
// BIWI on a layout it writes, every bad input named, Hopenet's loose crop on hand-made landmarks,
// the Euler convention, and the real samples in ../shared/data when present.
#include <matio.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/euler.h"
#include "pesuite/datasets/head_pose.h"
#include "pesuite/datasets/inspect.h"
#include "pesuite/datasets/png.h"
#include "pesuite/core/error.h"
#include "mat_writer.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::datasets;
using pesuite::test::TempDir;
using pesuite::test::expect_input_error;
using pesuite::test::Var;
using pesuite::test::pose_para;
using pesuite::test::pt2d;
using pesuite::test::write_mat;
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;


void touch(const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << "not decoded by the loaders";  // they check the image is there, decoding is imageio's job
}

Matrix3 rot(char axis, double deg) {
  const double a = deg * kPi / 180, c = std::cos(a), s = std::sin(a);
  if (axis == 'x') return {{{1, 0, 0}, {0, c, -s}, {0, s, c}}};
  if (axis == 'y') return {{{c, 0, s}, {0, 1, 0}, {-s, 0, c}}};
  return {{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}};
}

double max_diff(const Matrix3& a, const Matrix3& b) {
  double d = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) d = std::max(d, std::abs(a[i][j] - b[i][j]));
  return d;
}

}  // namespace

// ---- Hopenet's loose crop and the landmark box ------------------------------------------------

TEST(HeadPoseBox, LooseCropIsHopenetsSequentialFormula) {
  // Tight box (10, 20)-(50, 80): w 40, h 60. A missing AFLW2000 point (-1, 452) is skipped.
  const std::vector<Point2> pts = {{10, 50}, {50, 20}, {30, 80}, {-1, 452}, {20, 30}};
  const FaceBox t = landmark_box(pts);
  EXPECT_EQ(t.x1, 10); EXPECT_EQ(t.y1, 20); EXPECT_EQ(t.x2, 50); EXPECT_EQ(t.y2, 80);
  // Released code (min / max over every point): the -1 point is in.
  const FaceBox all = landmark_box(pts, /*keep_missing=*/true);
  EXPECT_EQ(all.x1, -1); EXPECT_EQ(all.y2, 452);

  // Pose_300W_LP, k = 0.3: x1 -= 0.6*0.3*40 = 7.2 -> 2.8; y1 -= 2*0.3*60 = 36 -> -16;
  // x2 += 0.6*0.3*|50 - 2.8| = 8.496 -> 58.496; y2 += 0.6*0.3*|80 + 16| = 17.28 -> 97.28.
  const FaceBox tr = loose_box(t, LooseCrop::hopenet_train(0.3));
  EXPECT_NEAR(tr.x1, 2.8, 1e-12); EXPECT_NEAR(tr.y1, -16, 1e-12); EXPECT_NEAR(tr.x2, 58.496, 1e-12); EXPECT_NEAR(tr.y2, 97.28, 1e-12);
  // AFLW2000, k = 0.2: x1 -= 0.4*40 -> -6; y1 -= 0.4*60 -> -4; x2 += 0.4*56 -> 72.4; y2 += 0.12*84 -> 90.08.
  const FaceBox te = loose_box(t, LooseCrop::hopenet_test());
  EXPECT_NEAR(te.x1, -6, 1e-12); EXPECT_NEAR(te.y1, -4, 1e-12); EXPECT_NEAR(te.x2, 72.4, 1e-12); EXPECT_NEAR(te.y2, 90.08, 1e-12);
  // BIWI, k = 0.35: x1 -= 0.21*40 -> 1.6; y1 -= 0.35*60 -> -1; x2 += 0.21*48.4 -> 60.164; y2 += 0.21*81 -> 97.01.
  const FaceBox bi = loose_box(t, LooseCrop::hopenet_biwi());
  EXPECT_NEAR(bi.x1, 1.6, 1e-12); EXPECT_NEAR(bi.y1, -1, 1e-12); EXPECT_NEAR(bi.x2, 60.164, 1e-12); EXPECT_NEAR(bi.y2, 97.01, 1e-12);
  // PIL gets int(): truncation towards zero, so -16.0 -> -16 and 2.8 -> 2 but -3.7 -> -3.
  EXPECT_EQ(crop_rect(tr), (std::array<std::int64_t, 4>{2, -16, 58, 97}));
  EXPECT_EQ(crop_rect(FaceBox{-3.7, -0.5, 9.9, 10}), (std::array<std::int64_t, 4>{-3, 0, 9, 10}));
}

TEST(HeadPoseBox, MirrorPermutationAndFlip) {
  const auto& p = mirror_permutation_68();
  for (int i = 0; i < 68; ++i) EXPECT_EQ(p[p[i]], i) << i;  // an involution
  // REFERENCES.md: jaw reversed, brows 17..21 <-> 26..22, nose 31..35 reversed, eyes 36..41 <-> 45..42 / 47..46,
  // mouth 48..54, 55..59, 60..64, 65..67 each reversed; the bridge 27..30 stays.
  EXPECT_EQ(p[0], 16); EXPECT_EQ(p[8], 8); EXPECT_EQ(p[17], 26); EXPECT_EQ(p[21], 22); EXPECT_EQ(p[27], 27);
  EXPECT_EQ(p[30], 30); EXPECT_EQ(p[31], 35); EXPECT_EQ(p[33], 33); EXPECT_EQ(p[36], 45); EXPECT_EQ(p[39], 42);
  EXPECT_EQ(p[40], 47); EXPECT_EQ(p[41], 46); EXPECT_EQ(p[48], 54); EXPECT_EQ(p[51], 51); EXPECT_EQ(p[55], 59);
  EXPECT_EQ(p[60], 64); EXPECT_EQ(p[65], 67); EXPECT_EQ(p[66], 66);
  std::vector<Point2> pts(68);
  for (int i = 0; i < 68; ++i) pts[i] = {10.0 + i, 5.0 + 2 * i};
  pts[3] = {-1, 452};
  const auto m = mirror_landmarks(pts, 450);
  EXPECT_EQ(m[0][0], 451 - pts[16][0]);  // x' = W + 1 - x (1-based), point 16 becomes point 0
  EXPECT_EQ(m[0][1], pts[16][1]);
  EXPECT_EQ(m[13][0], -1);               // missing stays missing (point 3 -> index 13)
  const auto back = mirror_landmarks(m, 450);
  for (int i = 0; i < 68; ++i) EXPECT_EQ(back[i], pts[i]) << i;
}

// ---- Euler convention ----------------------------------------------------------------------------

TEST(HeadPoseEuler, ConventionRoundTripAndFlip) {
  // R = Rx(-pitch) Ry(-yaw) Rz(-roll), composed here from the elementary rotations.
  const EulerAngles e{30, -20, 10};
  const Matrix3 expected = multiply(multiply(rot('x', 20), rot('y', -30)), rot('z', -10));
  EXPECT_LT(max_diff(rotation_from_euler(e), expected), 1e-15);
  // Positive yaw turns the face (its +z) towards the image's left (-x); positive pitch lifts it (+y).
  EXPECT_NEAR(rotation_from_euler({90, 0, 0})[0][2], -1, 1e-15);
  EXPECT_NEAR(rotation_from_euler({0, 90, 0})[1][2], 1, 1e-15);
  // Positive roll: the face's x axis goes down in the image (y up frame: negative y) -> clockwise.
  EXPECT_LT(rotation_from_euler({0, 0, 30})[1][0], 0);
  for (double y : {-89.0, -45.0, 0.0, 33.0, 89.0})
    for (double p : {-80.0, -10.0, 0.0, 60.0})
      for (double r : {-70.0, 0.0, 25.0}) {
        const EulerAngles back = euler_from_rotation(rotation_from_euler({y, p, r}));
        EXPECT_NEAR(back.yaw, y, 1e-9); EXPECT_NEAR(back.pitch, p, 1e-9); EXPECT_NEAR(back.roll, r, 1e-9);
      }
  // Full-range yaw: the other branch gives |yaw| > 90 back with |pitch| <= 90.
  for (double y : {-179.0, -120.0, 95.0, 150.0}) {
    const EulerAngles back = euler_from_rotation(rotation_from_euler({y, 20, -30}), /*full_range_yaw=*/true);
    EXPECT_NEAR(back.yaw, y, 1e-9); EXPECT_NEAR(back.pitch, 20, 1e-9); EXPECT_NEAR(back.roll, -30, 1e-9);
    EXPECT_LT(geodesic_degrees(rotation_from_euler(euler_from_rotation(rotation_from_euler({y, 20, -30}))),
                               rotation_from_euler({y, 20, -30})),
              1e-6);  // the default branch is the same rotation
  }
  // Flipping the image: (yaw, roll) -> (-yaw, -roll) is R -> F R F, F = diag(-1, 1, 1).
  const Matrix3 r = rotation_from_euler(e), f = rotation_from_euler(flip_angles(e));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(f[i][j], r[i][j] * ((i == 0) != (j == 0) ? -1 : 1), 1e-15);
  EXPECT_NEAR(geodesic_degrees(rotation_from_euler({0, 0, 0}), rotation_from_euler({0, 0, 37})), 37, 1e-9);
}

TEST(HeadPoseEuler, BiwiAsHopenetComputesIt) {
  // Golden values from deep-head-pose's BIWI loader run by numpy on this (not quite orthogonal) matrix.
  const Matrix3 m{{{0.9, 0.1, -0.42}, {-0.05, 0.98, 0.2}, {0.43, -0.17, 0.88}}};
  const EulerAngles e = hopenet_biwi_euler(m);
  EXPECT_NEAR(e.yaw, -24.95747191710583, 1e-12);
  EXPECT_NEAR(e.pitch, 12.804266065286752, 1e-12);
  EXPECT_NEAR(e.roll, -6.34019174590991, 1e-12);
  // Algebra: a file rotation Rx(-pitch) Ry(yaw) Rz(roll) comes back as (yaw, pitch, roll).
  const Matrix3 file = multiply(multiply(rot('x', -12), rot('y', 35)), rot('z', -8));
  const EulerAngles back = hopenet_biwi_euler(file);
  EXPECT_NEAR(back.yaw, 35, 1e-9); EXPECT_NEAR(back.pitch, 12, 1e-9); EXPECT_NEAR(back.roll, -8, 1e-9);
}

// ---- 300W-LP ------------------------------------------------------------------------------------

TEST(HeadPose300WLP, ReleaseLayoutWrittenWithLibmatio) {
  TempDir dir;
  const std::string root = dir / "300W_LP";
  write_mat(root + "/AFW/AFW_1_1_0.mat", {pose_para(-10, 30, 5), pt2d(68, 100, 110)});
  touch(root + "/AFW/AFW_1_1_0.jpg");
  write_mat(root + "/AFW/AFW_1_1_1.mat", {pose_para(-12, 105, 4), pt2d(68, 100, 110)});  // yaw 105: dropped at 99
  touch(root + "/AFW/AFW_1_1_1.jpg");
  write_mat(root + "/AFW_Flip/AFW_1_1_0.mat", {pose_para(-10, -30, -5), pt2d(68, 150, 110)});
  touch(root + "/AFW_Flip/AFW_1_1_0.jpg");
  write_mat(root + "/HELEN/HELEN_2_1_0.mat", {pose_para(3, -7, 1), pt2d(68, 50, 60)});
  touch(root + "/HELEN/HELEN_2_1_0.jpg");
  fs::create_directories(root + "/landmarks");  // other release folders are ignored

  const HeadPoseDataset set = load_head_pose_dataset(parse_spec("300wlp:" + root));
  EXPECT_EQ(set.format, "300wlp");
  ASSERT_EQ(set.records.size(), 3u);
  ASSERT_EQ(set.dropped.size(), 1u);
  EXPECT_EQ(set.dropped[0].id, "AFW/AFW_1_1_1");
  EXPECT_NEAR(set.dropped[0].pose.yaw, 105, 1e-4);
  // Release folder order (AFW, AFW_Flip, HELEN, ...), files sorted in each.
  EXPECT_EQ(set.records[0].id, "AFW/AFW_1_1_0");
  EXPECT_EQ(set.records[1].id, "AFW_Flip/AFW_1_1_0");
  EXPECT_EQ(set.records[2].id, "HELEN/HELEN_2_1_0");
  const HeadPoseRecord& r = set.records[0];
  EXPECT_EQ(r.file, root + "/AFW/AFW_1_1_0.jpg");
  // Pose_Para is single precision in the files: degrees back to float rounding.
  EXPECT_NEAR(r.pose.yaw, 30, 1e-5); EXPECT_NEAR(r.pose.pitch, -10, 1e-5); EXPECT_NEAR(r.pose.roll, 5, 1e-5);
  ASSERT_EQ(r.pose_para.size(), 7u);
  EXPECT_NEAR(r.pose_para[6], 0.0012, 1e-9);
  ASSERT_EQ(r.landmarks.size(), 68u);
  EXPECT_EQ(r.landmarks[5], (Point2{115, 120}));
  EXPECT_FALSE(r.mirrored);
  // Tight box (100, 110)-(301, 244); the record's box is Pose_300W_LP's crop at k = 0.2.
  EXPECT_EQ(r.landmark_box.x1, 100); EXPECT_EQ(r.landmark_box.x2, 301); EXPECT_EQ(r.landmark_box.y2, 244);
  const FaceBox want = loose_box(r.landmark_box, LooseCrop::hopenet_train(0.2));
  EXPECT_EQ(r.box.x1, want.x1); EXPECT_EQ(r.box.y1, want.y1); EXPECT_EQ(r.box.x2, want.x2); EXPECT_EQ(r.box.y2, want.y2);
  EXPECT_NEAR(r.box.y1, 110 - 0.4 * 134, 1e-12);
  // _Flip: mirrored, landmarks put in the face's order (index 0 = the file's point 16).
  const HeadPoseRecord& f = set.records[1];
  EXPECT_TRUE(f.mirrored);
  EXPECT_EQ(f.landmarks[0], (Point2{150 + 3 * 16, 110 + 2 * 16}));
  EXPECT_EQ(f.landmarks[36], (Point2{150 + 3 * 45, 110 + 2 * 45}));
  const auto as_file = load_300wlp(parse_spec("300wlp:" + root + "?flip_order=file&folders=AFW_Flip"));
  ASSERT_EQ(as_file.records.size(), 1u);
  EXPECT_EQ(as_file.records[0].landmarks[0], (Point2{150, 110}));

  // Keys: no filter, limit, test crop, folders.
  EXPECT_EQ(load_300wlp(parse_spec("300wlp:" + root + "?filter=")).records.size(), 4u);
  EXPECT_EQ(load_300wlp(parse_spec("300wlp:" + root + "?limit=2")).records.size(), 2u);
  const auto test_crop = load_300wlp(parse_spec("300wlp:" + root + "?crop=test&k=0.25&folders=HELEN"));
  ASSERT_EQ(test_crop.records.size(), 1u);
  const FaceBox tb = loose_box(test_crop.records[0].landmark_box, LooseCrop::hopenet_test(0.25));
  EXPECT_EQ(test_crop.records[0].box.x2, tb.x2);
  // Split by face: train and val partition the records, a face's rotations and flips on one side.
  for (double frac : {0.0, 0.5, 1.0}) {
    const std::string q = "300wlp:" + root + "?filter=&val_fraction=" + std::to_string(frac);
    const auto tr = load_300wlp(parse_spec(q + "&split=train")), va = load_300wlp(parse_spec(q + "&split=val"));
    EXPECT_EQ(tr.records.size() + va.records.size(), 4u);
    std::set<std::string> train_faces, val_faces;
    for (const auto& x : tr.records) train_faces.insert(fs::path(x.id).stem().string().substr(0, 7));
    for (const auto& x : va.records) val_faces.insert(fs::path(x.id).stem().string().substr(0, 7));
    for (const auto& face : train_faces) EXPECT_FALSE(val_faces.count(face)) << face;
    if (frac == 0.0) {
      EXPECT_TRUE(va.records.empty());
    }
    if (frac == 1.0) {
      EXPECT_TRUE(tr.records.empty());
    }
  }
}

TEST(HeadPose300WLP, BadInputNamesFileAndField) {
  TempDir dir;
  const std::string root = dir / "lp";
  auto one = [&](const std::vector<Var>& vars) {
    pesuite::core::remove_tree(root);
    write_mat(root + "/IBUG/IBUG_x_1_0.mat", vars);
    touch(root + "/IBUG/IBUG_x_1_0.jpg");
    return root + "/IBUG/IBUG_x_1_0.mat";
  };
  auto load = [&] { load_300wlp(parse_spec("300wlp:" + root)); };
  std::string f = one({pt2d(68, 1, 1)});
  expect_input_error(load, {f, "no variable 'Pose_Para'"});
  f = one({Var{"Pose_Para", 1, 6, {0, 0, 0, 0, 0, 0}}, pt2d(68, 1, 1)});
  expect_input_error(load, {f, "'Pose_Para' is 1x6, expected 1x7"});
  f = one({Var{"Pose_Para", 7, 1, {0, 0, 0, 0, 0, 0, 0}}, pt2d(68, 1, 1)});
  expect_input_error(load, {f, "'Pose_Para' is 7x1, expected 1x7"});
  f = one({Var{"Pose_Para", 1, 7, {}, Var::Char}, pt2d(68, 1, 1)});
  expect_input_error(load, {f, "'Pose_Para' is a char array, expected a real numeric matrix"});
  f = one({pose_para(0, 0, 0), Var{"pt2d", 1, 1, {}, Var::Struct}});
  expect_input_error(load, {f, "'pt2d' is a struct array"});
  f = one({pose_para(0, 0, 0), pt2d(21, 1, 1)});
  expect_input_error(load, {f, "'pt2d' is 2x21, expected 2x68"});
  f = one({pose_para(0, 0, 0)});
  expect_input_error(load, {f, "no variable 'pt2d'"});
  f = one({Var{"Pose_Para", 1, 7, {0, std::nan(""), 0, 0, 0, 0, 0}}, pt2d(68, 1, 1)});
  expect_input_error(load, {f, "'Pose_Para' element (1, 2) is not finite"});
  // Not a .mat at all, and a .mat cut short.
  one({pose_para(0, 0, 0), pt2d(68, 1, 1)});
  const std::string mat = root + "/IBUG/IBUG_x_1_0.mat";
  const std::string good = pesuite::core::read_file(mat);
  pesuite::core::write_file_atomic(mat, "this is no MATLAB file at all, just text that is long enough to have a header.....");
  expect_input_error(load, {mat, "not a MATLAB .mat file"});
  // libmatio alone reads a cut compressed variable as zeros; the layout check refuses it.
  pesuite::core::write_file_atomic(mat, good.substr(0, good.size() - 40));
  expect_input_error(load, {mat, "cut short"});
  // An image missing beside its .mat, and the other way round.
  one({pose_para(0, 0, 0), pt2d(68, 1, 1)});
  fs::remove(root + "/IBUG/IBUG_x_1_0.jpg");
  expect_input_error(load, {root + "/IBUG/IBUG_x_1_0.jpg", "missing", "beside IBUG_x_1_0.mat"});
  one({pose_para(0, 0, 0), pt2d(68, 1, 1)});
  touch(root + "/IBUG/IBUG_y_1_0.jpg");
  expect_input_error(load, {root + "/IBUG/IBUG_y_1_0.mat", "missing"});
  // A copy converted to PNG: NAME.png stands for NAME.jpg; where both are there the release's .jpg
  // is read; a PNG without its .mat is named like a JPEG without one.
  one({pose_para(0, 0, 0), pt2d(68, 1, 1)});
  fs::rename(root + "/IBUG/IBUG_x_1_0.jpg", root + "/IBUG/IBUG_x_1_0.png");
  EXPECT_EQ(load_300wlp(parse_spec("300wlp:" + root)).records.at(0).file, root + "/IBUG/IBUG_x_1_0.png");
  touch(root + "/IBUG/IBUG_x_1_0.jpg");
  EXPECT_EQ(load_300wlp(parse_spec("300wlp:" + root)).records.at(0).file, root + "/IBUG/IBUG_x_1_0.jpg");
  touch(root + "/IBUG/IBUG_z_1_0.png");
  expect_input_error(load, {root + "/IBUG/IBUG_z_1_0.mat", "missing", "beside IBUG_z_1_0.png"});
  // The layout and the keys.
  expect_input_error([&] { load_300wlp(parse_spec("300wlp:" + (dir / "nowhere"))); }, {"nowhere", "not a directory"});
  fs::create_directories(dir / "empty");
  expect_input_error([&] { load_300wlp(parse_spec("300wlp:" + (dir / "empty"))); }, {"AFW", "300W-LP release layout"});
  expect_input_error([&] { parse_spec("300wlp:" + root + "?flip=1"); }, {"unknown key 'flip'", "flip_order"});
  expect_input_error([&] { load_300wlp(parse_spec("300wlp:" + root + "?split=test")); }, {"split", "must be one of"});
  expect_input_error([&] { load_300wlp(parse_spec("300wlp:" + root + "?filter=-3")); }, {"filter"});
  expect_input_error([&] { load_300wlp(parse_spec("300wlp:" + root + "?folders=LFPW")); }, {"LFPW", "missing"});
}

// ---- AFLW2000 -----------------------------------------------------------------------------------

TEST(HeadPoseAFLW2000, FlatLayoutFilterAndSummary) {
  TempDir dir;
  const std::string root = dir / "AFLW2000";
  Var p3{"pt3d_68", 3, 68, std::vector<double>(3 * 68, 7.0), Var::Single};
  write_mat(root + "/image00002.mat", {pose_para(-120, 10, 0), pt2d(21, 30, 40), p3});  // pitch -120: dropped
  touch(root + "/image00002.jpg");
  write_mat(root + "/image00004.mat", {pose_para(15, -40, 8), pt2d(21, 30, 40, {3, 20}), p3});
  touch(root + "/image00004.jpg");
  write_mat(root + "/image00006.mat", {pose_para(0, 98.5, 0), pt2d(68, 10, 10)});  // 98.5 kept, no pt3d_68
  touch(root + "/image00006.jpg");

  const HeadPoseDataset set = load_head_pose_dataset(parse_spec("aflw2000:" + root));
  ASSERT_EQ(set.records.size(), 2u);
  ASSERT_EQ(set.dropped.size(), 1u);
  EXPECT_EQ(set.dropped[0].id, "image00002");
  EXPECT_EQ(set.filter_degrees, 99);
  const HeadPoseRecord& r = set.records[0];
  EXPECT_EQ(r.id, "image00004");
  EXPECT_NEAR(r.pose.yaw, -40, 1e-5); EXPECT_NEAR(r.pose.pitch, 15, 1e-5); EXPECT_NEAR(r.pose.roll, 8, 1e-5);
  ASSERT_EQ(r.landmarks.size(), 21u);
  EXPECT_EQ(r.landmarks[3], (Point2{-1, 452}));  // kept as in the file
  ASSERT_EQ(r.landmarks_3d.size(), 68u);
  EXPECT_EQ(r.landmarks_3d[5][2], 7.0);
  // Points 3 and 20 are missing: the box spans points 0 .. 19 -> (30, 40)-(87, 78).
  EXPECT_EQ(r.landmark_box.x1, 30); EXPECT_EQ(r.landmark_box.y1, 40); EXPECT_EQ(r.landmark_box.x2, 87); EXPECT_EQ(r.landmark_box.y2, 78);
  const FaceBox want = loose_box(r.landmark_box, LooseCrop::hopenet_test(0.2));
  EXPECT_EQ(r.box.x1, want.x1); EXPECT_EQ(r.box.y2, want.y2);
  EXPECT_TRUE(set.records[1].landmarks_3d.empty());
  // missing=keep: the released code's min / max over all points.
  const auto keep = load_aflw2000(parse_spec("aflw2000:" + root + "?missing=keep"));
  EXPECT_EQ(keep.records[0].landmark_box.x1, -1); EXPECT_EQ(keep.records[0].landmark_box.y2, 452);
  EXPECT_EQ(load_aflw2000(parse_spec("aflw2000:" + root + "?filter=")).records.size(), 3u);
  EXPECT_EQ(load_aflw2000(parse_spec("aflw2000:" + root + "?filter=98")).dropped.size(), 2u);

  // What `pesuite data inspect aflw2000:... --items` prints (through the dataset dispatch).
  const nlohmann::json j = inspect(parse_spec("aflw2000:" + root), {/*items=*/true});
  EXPECT_EQ(j["images"], 2);
  EXPECT_EQ(j["dropped"], 1);
  EXPECT_EQ(j["dropped_items"][0]["id"], "image00002");
  EXPECT_NEAR(j["dropped_items"][0]["pitch"].get<double>(), -120, 1e-4);
  EXPECT_EQ(j["format"], "aflw2000");
  ASSERT_EQ(j["items"].size(), 2u);
  EXPECT_EQ(j["items"][0]["file"], root + "/image00004.jpg");
  EXPECT_NEAR(j["items"][0]["yaw"].get<double>(), -40, 1e-5);
  EXPECT_EQ(j["items"][0]["box"][0].get<double>(), want.x1);
  EXPECT_EQ(j["landmarks_per_image"]["21"], 1);
  EXPECT_NE(j["euler"].get<std::string>().find("Rx(-pitch) Ry(-yaw) Rz(-roll)"), std::string::npos);

  // Bad pt3d_68 and pt2d shapes name the field.
  write_mat(root + "/image00008.mat", {pose_para(0, 0, 0), pt2d(21, 1, 1), Var{"pt3d_68", 2, 68, std::vector<double>(136)}});
  touch(root + "/image00008.jpg");
  expect_input_error([&] { load_aflw2000(parse_spec("aflw2000:" + root)); }, {"image00008.mat", "'pt3d_68' is 2x68, expected 3x68"});
  write_mat(root + "/image00008.mat", {pose_para(0, 0, 0), pt2d(20, 1, 1)});
  expect_input_error([&] { load_aflw2000(parse_spec("aflw2000:" + root)); }, {"image00008.mat", "'pt2d' is 2x20, expected 2x21 or 2x68"});
}

// ---- BIWI ---------------------------------------------------------------------------------------

TEST(HeadPoseBIWI, LayoutWrittenHereAnglesAsHopenet) {
  TempDir dir;
  const std::string root = dir / "hpdb";
  // Rotations Rx(-pitch) Ry(yaw) Rz(roll) as the file's rows: Hopenet's conversion returns (yaw, pitch, roll).
  auto write_frame = [&](const std::string& subject, const std::string& frame, EulerAngles e, int w, int h) {
    const Matrix3 m = multiply(multiply(rot('x', -e.pitch), rot('y', e.yaw)), rot('z', e.roll));
    fs::create_directories(root + "/" + subject);
    std::ofstream out(root + "/" + subject + "/" + frame + "_pose.txt");
    out.precision(17);
    for (int i = 0; i < 3; ++i) out << m[i][0] << " " << m[i][1] << " " << m[i][2] << " \n";
    out << "\n" << 12.5 << " " << -30.25 << " " << 900 << " \n";
    write_png_rgb(root + "/" + subject + "/" + frame + "_rgb.png", RgbImage(w, h, 90));
  };
  write_frame("01", "frame_00003", {20, -10, 5}, 64, 48);
  write_frame("01", "frame_00004", {-35, 12, -3}, 64, 48);
  write_frame("02", "frame_00010", {110, 0, 0}, 32, 24);  // yaw 110: dropped at 99
  write_frame("12", "frame_00001", {0, 45, 2}, 32, 24);
  std::ofstream(root + "/01/dockerface-frame_00004_rgb.txt") << "0.99 10 8 40.5 44\n";
  std::ofstream(root + "/01/depth.cal") << "1 2 3\n";  // other BIWI files are ignored

  const HeadPoseDataset set = load_head_pose_dataset(parse_spec("biwi:" + root));
  ASSERT_EQ(set.records.size(), 3u);
  ASSERT_EQ(set.dropped.size(), 1u);
  EXPECT_EQ(set.dropped[0].id, "02/frame_00010");
  const HeadPoseRecord& a = set.records[0];
  EXPECT_EQ(a.id, "01/frame_00003");
  EXPECT_EQ(a.file, root + "/01/frame_00003_rgb.png");
  EXPECT_NEAR(a.pose.yaw, 20, 1e-9); EXPECT_NEAR(a.pose.pitch, -10, 1e-9); EXPECT_NEAR(a.pose.roll, 5, 1e-9);
  EXPECT_EQ(a.head_centre, (std::array<double, 3>{12.5, -30.25, 900}));
  EXPECT_EQ(a.width, 64); EXPECT_EQ(a.height, 48);
  // No detector box: Hopenet takes the whole image, then its BIWI crop (k = 0.35).
  EXPECT_EQ(a.landmark_box.x2, 64); EXPECT_EQ(a.landmark_box.y2, 48);
  EXPECT_NEAR(a.box.x1, -0.21 * 64, 1e-12); EXPECT_NEAR(a.box.y1, -0.35 * 48, 1e-12);
  const HeadPoseRecord& b = set.records[1];
  EXPECT_EQ(b.landmark_box.x1, 10); EXPECT_EQ(b.landmark_box.x2, 40.5);
  EXPECT_NEAR(b.box.x1, 10 - 0.21 * 30.5, 1e-12);
  EXPECT_NEAR(b.pose.yaw, -35, 1e-9);
  EXPECT_EQ(set.records[2].id, "12/frame_00001");  // subjects in numeric order
  EXPECT_EQ(load_biwi(parse_spec("biwi:" + root + "?subjects=2-12&filter=")).records.size(), 2u);
  EXPECT_EQ(load_biwi(parse_spec("biwi:" + root + "?subjects=1")).records.size(), 2u);

  // Bad input.
  std::ofstream(root + "/12/frame_00001_pose.txt") << "1 0 0\n0 1 0\n0 0 1\n\n5 6\n";
  expect_input_error([&] { load_biwi(parse_spec("biwi:" + root)); },
                     {root + "/12/frame_00001_pose.txt", "expected 12 numbers", "got 11"});
  std::ofstream(root + "/12/frame_00001_pose.txt") << "1 0 0\n0 1 zero\n0 0 1\n\n5 6 7\n";
  expect_input_error([&] { load_biwi(parse_spec("biwi:" + root)); }, {root + "/12/frame_00001_pose.txt:2", "'zero' is not a number"});
  fs::remove(root + "/12/frame_00001_pose.txt");
  fs::remove(root + "/01/frame_00004_rgb.png");
  expect_input_error([&] { load_biwi(parse_spec("biwi:" + root)); }, {root + "/01/frame_00004_rgb.png", "missing"});
  std::ofstream(root + "/01/frame_00004_rgb.png") << "GIF89a, not a PNG at all..........";
  expect_input_error([&] { load_biwi(parse_spec("biwi:" + root)); }, {"frame_00004_rgb.png", "not a PNG"});
  expect_input_error([&] { load_biwi(parse_spec("biwi:" + root + "?subjects=7")); }, {"subjects=7", "matches no subject folder"});
}

// ---- the real samples in ../shared/data ---------------------------------------------------------

TEST(HeadPoseSamples, Real300WLP) {
  const std::string root = pesuite::test::sample_data("300wlp-sample");
  if (root.empty()) GTEST_SKIP() << "../shared/data/300wlp-sample absent (set PESUITE_TEST_DATA)";
  const HeadPoseDataset set = load_300wlp(parse_spec("300wlp:" + root));
  ASSERT_EQ(set.records.size(), 9u);
  EXPECT_TRUE(set.dropped.empty());
  int mirrored = 0;
  for (const auto& r : set.records) {
    mirrored += r.mirrored;
    EXPECT_EQ(r.landmarks.size(), 68u);
    EXPECT_TRUE(fs::exists(r.file)) << r.file;
    EXPECT_LT(r.box.x1, r.landmark_box.x1);
  }
  EXPECT_EQ(mirrored, 4);
  // AFW_134212_1_0 (scipy.io.loadmat: Pose_Para[0][:3] = pitch, yaw, roll in radians).
  EXPECT_EQ(set.records[0].id, "AFW/AFW_134212_1_0");
  EXPECT_NEAR(set.records[0].pose.yaw, 26.87, 0.01);
  EXPECT_NEAR(set.records[0].pose.pitch, -18.20, 0.01);
  EXPECT_NEAR(set.records[0].pose.roll, -8.62, 0.01);
  // Its _Flip copy: yaw and roll negated (up to the release's own fit), landmarks mirrored (x' = 451 - x)
  // and, with flip_order=face, in the face's order.
  const HeadPoseRecord& flip = set.records[2];
  EXPECT_EQ(flip.id, "AFW_Flip/AFW_134212_1_0");
  EXPECT_NEAR(flip.pose.yaw, -26.6, 0.1);
  const auto mirrored_pts = mirror_landmarks(set.records[0].landmarks, 450);
  for (int k = 0; k < 68; ++k) {
    EXPECT_NEAR(flip.landmarks[k][0], mirrored_pts[k][0], 1e-6) << k;
    EXPECT_NEAR(flip.landmarks[k][1], mirrored_pts[k][1], 1e-6) << k;
  }
  // flip_record of the original gives its _Flip copy's landmarks and landmark box (to 1e-6 px);
  // the angles come from the release's own fit of the mirrored image (0.3 degrees off here).
  const HeadPoseRecord flipped = flip_record(set.records[0], 450);
  EXPECT_TRUE(flipped.mirrored);
  EXPECT_NEAR(flipped.pose.yaw, -set.records[0].pose.yaw, 1e-12);
  EXPECT_NEAR(flipped.pose.yaw, flip.pose.yaw, 0.5);
  EXPECT_NEAR(flipped.landmark_box.x1, flip.landmark_box.x1, 1e-6);
  EXPECT_NEAR(flipped.landmark_box.x2, flip.landmark_box.x2, 1e-6);
  EXPECT_NEAR(flipped.landmarks[36][0], flip.landmarks[36][0], 1e-6);
  const nlohmann::json j = inspect(parse_spec("300wlp:" + root), {true});
  EXPECT_EQ(j["images"], 9);
  EXPECT_EQ(j["mirrored"], 4);
  EXPECT_EQ(j["items"].size(), 9u);
}

TEST(HeadPoseSamples, RealAFLW2000) {
  const std::string root = pesuite::test::sample_data("aflw2000-sample");
  if (root.empty()) GTEST_SKIP() << "../shared/data/aflw2000-sample absent (set PESUITE_TEST_DATA)";
  const HeadPoseDataset set = load_aflw2000(parse_spec("aflw2000:" + root));
  ASSERT_EQ(set.records.size(), 8u);
  EXPECT_TRUE(set.dropped.empty());  // every sample is within 99 degrees
  for (const auto& r : set.records) {
    EXPECT_EQ(r.landmarks.size(), 21u);
    EXPECT_EQ(r.landmarks_3d.size(), 68u);
    EXPECT_GT(r.landmark_box.x1, 0) << r.id;  // missing (-1) points never reach the box
  }
  // image00251 has 9 missing coordinates (x = -1, y = 452); its box comes from the visible points.
  const HeadPoseRecord& r251 = set.records[2];
  EXPECT_EQ(r251.id, "image00251");
  EXPECT_NEAR(r251.pose.yaw, -54.69, 0.01);
  EXPECT_LT(r251.landmark_box.y2, 452);
  const auto keep = load_aflw2000(parse_spec("aflw2000:" + root + "?missing=keep"));
  EXPECT_EQ(keep.records[2].landmark_box.x1, -1);
  // filter=30 keeps image00050 and image00081 (the others have an angle above 30 degrees).
  const auto f30 = load_aflw2000(parse_spec("aflw2000:" + root + "?filter=30"));
  ASSERT_EQ(f30.records.size(), 2u);
  EXPECT_EQ(f30.records[0].id, "image00050");
  EXPECT_EQ(f30.records[1].id, "image00081");
  EXPECT_EQ(f30.dropped.size(), 6u);
}

// ---- the format table ---------------------------------------------------------------------------

TEST(HeadPoseFormats, RowsInTheFormatTable) {
  // The rows `pesuite list datasets` prints, with their defaults; parse_spec fills them in.
  const std::map<std::string, std::map<std::string, std::string>> defaults = {
      {"300wlp", {{"filter", "99"}, {"split", "all"}, {"val_fraction", "0.05"}, {"crop", "train"}, {"k", "0.2"}, {"flip_order", "face"}}},
      {"aflw2000", {{"filter", "99"}, {"crop", "test"}, {"k", "0.2"}, {"missing", "skip"}}},
      {"biwi", {{"filter", "99"}, {"k", "0.35"}}},
      {"facesynth", {{"n", "10000"}, {"seed", "0"}, {"size", "224"}, {"yaw", "-90,90"}, {"full_range", "0"}, {"head", "auto"}}}};
  for (const auto& [format, keys] : defaults) {
    const Format& info = datasets::format(format);
    EXPECT_EQ(info.kind(), DatasetKind::Image);
    EXPECT_EQ(info.needs_path, format != "facesynth");
    EXPECT_FALSE(info.help.empty());
    const DatasetSpec spec = parse_spec(format + (format == "facesynth" ? ":" : ":/data"));
    for (const auto& [key, value] : keys) EXPECT_EQ(spec.get(key), value) << format << " " << key;
    for (const auto& k : info.keys) EXPECT_FALSE(k.help.empty()) << format << " " << k.key;
    EXPECT_TRUE(info.load_head_pose || info.make_faces) << format;
    EXPECT_TRUE(info.inspect) << format;
  }
  EXPECT_EQ(std::count_if(formats().begin(), formats().end(), [](const Format& f) { return f.name == "aflw2000"; }), 1);
}
