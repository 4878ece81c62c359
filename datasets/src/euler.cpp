// Euler angles <-> rotation matrices in 300W-LP's convention (see euler.h for the statement).
#include "pesuite/datasets/euler.h"

#include <algorithm>
#include <cmath>

namespace pesuite::datasets {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = 180.0 / kPi;

Matrix3 rot_x(double a) {
  const double c = std::cos(a), s = std::sin(a);
  return {{{1, 0, 0}, {0, c, -s}, {0, s, c}}};
}
Matrix3 rot_y(double a) {
  const double c = std::cos(a), s = std::sin(a);
  return {{{c, 0, s}, {0, 1, 0}, {-s, 0, c}}};
}
Matrix3 rot_z(double a) {
  const double c = std::cos(a), s = std::sin(a);
  return {{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}};
}

// Into (-180, 180].
double wrap_degrees(double d) {
  d = std::fmod(d, 360.0);
  if (d <= -180) d += 360;
  if (d > 180) d -= 360;
  return d;
}

}  // namespace

Matrix3 multiply(const Matrix3& a, const Matrix3& b) {
  Matrix3 m{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) m[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
  return m;
}

Matrix3 transpose(const Matrix3& a) {
  Matrix3 t{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) t[i][j] = a[j][i];
  return t;
}

Matrix3 rotation_from_euler(const EulerAngles& e) {
  return multiply(multiply(rot_x(-e.pitch / kDeg), rot_y(-e.yaw / kDeg)), rot_z(-e.roll / kDeg));
}

EulerAngles euler_from_rotation(const Matrix3& r, bool full_range_yaw) {
  // R = Rx(a) Ry(b) Rz(c) with a = -pitch, b = -yaw, c = -roll:
  //   R02 = sin b, R12 = -sin a cos b, R22 = cos a cos b, R01 = -cos b sin c, R00 = cos b cos c.
  const double cb = std::hypot(r[1][2], r[2][2]);
  double a, b = std::atan2(r[0][2], cb), c;
  if (cb > 1e-12) {
    a = std::atan2(-r[1][2], r[2][2]);
    c = std::atan2(-r[0][1], r[0][0]);
  } else {  // gimbal lock: only a + c (or a - c) is defined; put it all in a
    c = 0;
    a = std::atan2(r[2][1], r[1][1]);
  }
  double pitch = -a * kDeg, yaw = -b * kDeg, roll = -c * kDeg;
  if (full_range_yaw && std::abs(pitch) > 90) {
    // The other branch: (a + 180, 180 - b, c + 180) gives the same matrix (Rx(pi) Ry(pi - b) Rz(pi) = Ry(b)).
    pitch = wrap_degrees(pitch + 180);
    yaw = wrap_degrees(-180 - yaw);
    roll = wrap_degrees(roll + 180);
  }
  return {yaw, pitch, roll};
}

EulerAngles hopenet_biwi_euler(const Matrix3& biwi_rotation) {
  const Matrix3 m = transpose(biwi_rotation);
  // The same operations as numpy in deep-head-pose (sqrt of the sum of squares, not hypot).
  EulerAngles e;
  e.roll = -std::atan2(m[1][0], m[0][0]) * 180 / kPi;
  e.yaw = -std::atan2(-m[2][0], std::sqrt(m[2][1] * m[2][1] + m[2][2] * m[2][2])) * 180 / kPi;
  e.pitch = std::atan2(m[2][1], m[2][2]) * 180 / kPi;
  return e;
}

double geodesic_degrees(const Matrix3& a, const Matrix3& b) {
  // ||A - B||_F = 2 sqrt(2) sin(theta / 2): exact near 0, where acos((trace - 1) / 2) loses half
  // the digits (1e-6 degrees for equal matrices).
  double f = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) f += (a[i][j] - b[i][j]) * (a[i][j] - b[i][j]);
  return 2 * std::asin(std::min(1.0, std::sqrt(f) / (2 * std::sqrt(2.0)))) * kDeg;
}

}  // namespace pesuite::datasets
