#pragma once
// Head-pose angles and rotation matrices: the one Euler convention of pesuite's head-pose data
// (300W-LP, AFLW2000, BIWI as Hopenet converts it, and the facesynth: renderer).
//
// Convention (measured on the shared 300W-LP / AFLW2000 samples, REFERENCES.md "Head pose"):
// angles in degrees, yaw / pitch / roll as 300W-LP's Pose_Para = [pitch, yaw, roll] (radians in
// the file), and the rotation that takes the face (x right, y up, z out of the face towards the
// viewer) into the camera frame (same axes) is
//     R = Rx(-pitch) Ry(-yaw) Rz(-roll)
// with Rx(a) = [[1,0,0],[0,c,-s],[0,s,c]], Ry(a) = [[c,0,s],[0,1,0],[-s,0,c]],
// Rz(a) = [[c,-s,0],[s,c,0],[0,0,1]]. A face point X lands in the image (y down) at
//     u = tx + s * (R X).x,   v = ty - s * (R X).y        (weak perspective)
// So positive yaw turns the face towards the image's left (the subject's right), positive pitch
// lifts the chin (the face looks up), positive roll tilts the head clockwise in the image.
// A horizontal flip of the image negates yaw and roll: R -> F R F with F = diag(-1, 1, 1).
//
//   using namespace pesuite::datasets;
//   Matrix3 R = rotation_from_euler({/*yaw=*/30, /*pitch=*/-10, /*roll=*/5});
//   EulerAngles a = euler_from_rotation(R);            // {30, -10, 5} up to rounding
//   EulerAngles b = hopenet_biwi_euler(biwi_rotation);  // BIWI pose file -> the same convention
#include <array>

namespace pesuite::datasets {

using Matrix3 = std::array<std::array<double, 3>, 3>;  // row-major: m[row][col]

struct EulerAngles {
  double yaw = 0, pitch = 0, roll = 0;  // degrees
};

// R = Rx(-pitch) Ry(-yaw) Rz(-roll), angles in degrees.
Matrix3 rotation_from_euler(const EulerAngles& angles);

// The inverse. The decomposition has two branches; the default returns |yaw| <= 90 (the range of
// 300W-LP / AFLW2000 labels), full_range_yaw = true returns |pitch| <= 90 and yaw in (-180, 180]
// (for full-range data whose yaw passes 90 degrees). At the gimbal lock (|middle angle| = 90)
// roll is set to 0 and pitch takes the whole in-plane rotation.
EulerAngles euler_from_rotation(const Matrix3& r, bool full_range_yaw = false);

// Hopenet's BIWI conversion (deep-head-pose code/datasets.py, class BIWI), applied to the 3x3
// rotation of a BIWI pose file as written (rows as in the file):
//   M = R^T; roll = -atan2(M10, M00); yaw = -atan2(-M20, hypot(M21, M22)); pitch = atan2(M21, M22)
// in degrees. Algebraically M = Rz(-roll) Ry(-yaw) Rx(pitch).
EulerAngles hopenet_biwi_euler(const Matrix3& biwi_rotation);

// Horizontal flip of an image: yaw and roll change sign.
inline EulerAngles flip_angles(const EulerAngles& a) { return {-a.yaw, a.pitch, -a.roll}; }

// Matrix helpers (small, exact enough for labels).
Matrix3 multiply(const Matrix3& a, const Matrix3& b);
Matrix3 transpose(const Matrix3& a);
// Angle of a^T b in degrees (geodesic distance between two rotations).
double geodesic_degrees(const Matrix3& a, const Matrix3& b);

}  // namespace pesuite::datasets
