#pragma once
// Head-pose datasets in their release formats: 300W-LP and AFLW2000(-3D) (JPEG + MATLAB .mat with
// Pose_Para and pt2d, read through libmatio) and BIWI Kinect Head Pose (PNG + pose text file).
// A 300W-LP / AFLW2000 copy whose images were converted to NAME.png reads too (the .jpg wins where
// both are there): builds without OpenCV decode PNG only (scripts/gpu/headpose-samples.sh).
// One record per image: the file, yaw / pitch / roll in degrees, the landmarks and the face box
// (Hopenet's loose crop around the landmarks, or around BIWI's detector box).
//
// Angles: degrees, in the convention of pesuite/datasets/euler.h (300W-LP's Pose_Para:
// R = Rx(-pitch) Ry(-yaw) Rz(-roll) on a y-up face, projected with y down); BIWI's rotation
// matrices are converted exactly as Hopenet's loader does.
// Pixel coordinates: as the files give them. 300W-LP / AFLW2000 landmarks are MATLAB's 1-based
// pixel coordinates (the centre of the top-left pixel is (1, 1)): 300W-LP's _Flip copies satisfy
// x' = W + 1 - x. The facesynth: renderer uses the same convention.
//
//   using namespace pesuite::datasets;
//   HeadPoseDataset set = load_head_pose_dataset(parse_spec("aflw2000:/data/AFLW2000?filter=99"));   // formats.h
//   std::cout << set.records.size() << " kept, " << set.dropped.size() << " dropped\n";   // 1969, 31
//   for (const HeadPoseRecord& r : set.records) {
//     FaceBox crop = loose_box(r.landmark_box, LooseCrop::hopenet_train(0.3));   // a training crop
//     train_on(r.file, crop, r.pose.yaw, r.pose.pitch, r.pose.roll);
//   }
//   nlohmann::json summary = inspect_head_pose(set, {/*items=*/true});   // `pesuite data inspect --items`
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pesuite/datasets/euler.h"
#include "pesuite/datasets/inspect.h"
#include "pesuite/datasets/spec.h"

namespace pesuite::datasets {

using Point2 = std::array<double, 2>;

struct FaceBox {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // corners, in the record's pixel coordinates
  double width() const { return x2 - x1; }
  double height() const { return y2 - y1; }
};

// Hopenet's loose crop (deep-head-pose code/datasets.py): the box grows by k * (multiple) * its
// size on each side, in the order left, top, right, bottom, each step using the box as already
// grown (so right and bottom grow by a fraction of the widened box, exactly as the released code):
//   x1 -= left*k*|x2-x1|; y1 -= top*k*|y2-y1|; x2 += right*k*|x2-x1|; y2 += bottom*k*|y2-y1|
struct LooseCrop {
  double k = 0.2;
  double left = 2, top = 2, right = 2, bottom = 0.6;
  // Pose_300W_LP (training): 0.6, 2, 0.6, 0.6, with k drawn uniformly in [0.2, 0.4).
  static LooseCrop hopenet_train(double k) { return {k, 0.6, 2, 0.6, 0.6}; }
  // AFLW2000 (testing): 2, 2, 2, 0.6 with k = 0.2.
  static LooseCrop hopenet_test(double k = 0.2) { return {k, 2, 2, 2, 0.6}; }
  // BIWI, around the detector's box: 0.6, 1, 0.6, 0.6 with k = 0.35.
  static LooseCrop hopenet_biwi(double k = 0.35) { return {k, 0.6, 1, 0.6, 0.6}; }
};
FaceBox loose_box(const FaceBox& tight, const LooseCrop& crop);

// The integer crop PIL is given by Hopenet, img.crop((int(x1), int(y1), int(x2), int(y2))):
// corners truncated towards zero. {left, top, right, bottom}, right / bottom exclusive.
std::array<std::int64_t, 4> crop_rect(const FaceBox& box);

// AFLW2000 marks a point it does not have with x = -1 (its y is then the image height + 2);
// a point is missing when either coordinate is exactly -1.
bool landmark_missing(const Point2& p);
// The tight box of the landmarks. Missing points are skipped (keep_missing = true: every point,
// -1 included, as the released Hopenet / 6DRepNet code takes min / max over the whole array).
// InputError-free: with no usable point the box is all zeros.
FaceBox landmark_box(const std::vector<Point2>& points, bool keep_missing = false);

// The 68-point (iBUG) mirror permutation: index i of a mirrored face is point perm[i] of the
// original (jaw 0..16 reversed, brows 17..21 <-> 26..22, nose 31..35 reversed, eyes 36..41 <->
// 45..42 / 47..46, mouth 48..54, 55..59, 60..64, 65..67 each reversed). Its own inverse.
const std::array<int, 68>& mirror_permutation_68();
// Points of an image flipped horizontally: x -> W + 1 - x (1-based coordinates), and for 68
// points the order mirrored too, so index i stays the same point of the face. Missing points stay
// missing.
std::vector<Point2> mirror_landmarks(const std::vector<Point2>& points, double image_width);

// A box of an image flipped horizontally: x1' = W + 1 - x2, x2' = W + 1 - x1 (1-based coordinates).
FaceBox mirror_box(const FaceBox& box, double image_width);

struct HeadPoseRecord {
  std::string file;        // the image (absolute or as the spec's root gives it)
  std::string annotation;  // the .mat or _pose.txt it was read from
  std::string id;          // path under the root without extension: "AFW/AFW_134212_1_0", "01/frame_00003"
  EulerAngles pose;        // degrees
  std::vector<double> pose_para;         // 300W-LP / AFLW2000: Pose_Para as in the file (radians, tx, ty, tz, scale)
  std::vector<Point2> landmarks;         // pt2d as (x, y); AFLW2000: 21 points with -1 for missing ones
  std::vector<std::array<double, 3>> landmarks_3d;  // AFLW2000's pt3d_68 (x, y in pixels, z), when present
  FaceBox landmark_box;    // tight box of the usable landmarks (BIWI: the detector box, or the whole image)
  FaceBox box;             // the loose crop of the format's protocol (keys crop= and k=)
  bool mirrored = false;   // from a 300W-LP _Flip folder
  std::array<double, 3> head_centre{};   // BIWI: the head centre of the pose file (mm, camera frame)
  std::int64_t width = 0, height = 0;    // image size when known without decoding (BIWI PNG header), else 0

  Matrix3 rotation() const { return rotation_from_euler(pose); }
};

// The record of the horizontally flipped image (Hopenet's flip augmentation, and how 300W-LP's
// _Flip folders relate to the originals): yaw and roll negated, landmarks and boxes mirrored
// (68 points reordered), `mirrored` toggled; pt3d_68's x mirrored and reordered too. image_width:
// the decoded width (records carry it only for BIWI).
HeadPoseRecord flip_record(const HeadPoseRecord& record, double image_width);

// A sample left out by the angle filter.
struct DroppedRecord {
  std::string id;
  EulerAngles pose;
};

struct HeadPoseDataset {
  std::string source;  // the spec text
  std::string format;  // 300wlp | aflw2000 | biwi
  std::vector<HeadPoseRecord> records;
  std::vector<DroppedRecord> dropped;  // outside [-filter, filter] in any angle, in file order
  double filter_degrees = 0;           // 0 = no filter
};

// One loader per format; load_head_pose_dataset (formats.h) picks by the spec.
HeadPoseDataset load_300wlp(const DatasetSpec& spec);    // head_pose_mat.cpp
HeadPoseDataset load_aflw2000(const DatasetSpec& spec);  // head_pose_mat.cpp
HeadPoseDataset load_biwi(const DatasetSpec& spec);      // head_pose_biwi.cpp

// One 300W-LP / AFLW2000 annotation: Pose_Para (1x7, finite) -> pose and pose_para, pt2d (2xN)
// -> landmarks, pt3d_68 (3x68) when present. InputError naming the file and the field.
// landmark_counts: the accepted numbers of pt2d points (300W-LP {68}, AFLW2000 {21, 68}).
HeadPoseRecord read_pose_mat(const std::string& mat_path, const std::vector<std::size_t>& landmark_counts = {68});
// One BIWI pose file: 3x3 rotation (rows) then the head centre, 12 numbers. InputError naming the
// file (and line) for anything else.
void read_biwi_pose(const std::string& path, Matrix3& rotation, std::array<double, 3>& centre);


// What `pesuite data inspect <spec>` prints: counts, the angle filter and what it dropped (ids),
// angle ranges, and with options.items one entry per image: file, yaw / pitch / roll (degrees),
// box [x1, y1, x2, y2].
nlohmann::json inspect_head_pose(const HeadPoseDataset& set, const InspectOptions& options);
// Any head-pose spec, facesynth: included (its items are computed without rendering).
nlohmann::json inspect_head_pose(const DatasetSpec& spec, const InspectOptions& options);

}  // namespace pesuite::datasets
