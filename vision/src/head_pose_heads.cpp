// Head-pose heads and their geometry (head_pose_heads.h).
#include "pesuite/vision/head_pose_heads.h"

#include <algorithm>
#include <cmath>

#include "pesuite/core/error.h"
#include "pesuite/core/torch_compat.h"

namespace pesuite::vision {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = 180.0 / kPi;

// [B] angles (radians) -> [B, 3, 3] elementary rotations.
torch::Tensor rot_x(const torch::Tensor& a) {
  auto c = torch::cos(a), s = torch::sin(a), o = torch::ones_like(a), z = torch::zeros_like(a);
  return torch::stack({o, z, z, z, c, -s, z, s, c}, 1).view({-1, 3, 3});
}
torch::Tensor rot_y(const torch::Tensor& a) {
  auto c = torch::cos(a), s = torch::sin(a), o = torch::ones_like(a), z = torch::zeros_like(a);
  return torch::stack({c, z, s, z, o, z, -s, z, c}, 1).view({-1, 3, 3});
}
torch::Tensor rot_z(const torch::Tensor& a) {
  auto c = torch::cos(a), s = torch::sin(a), o = torch::ones_like(a), z = torch::zeros_like(a);
  return torch::stack({c, -s, z, s, c, z, z, z, o}, 1).view({-1, 3, 3});
}

// Into (-180, 180] (datasets/euler.cpp's wrap, for the Euler branch switch).
torch::Tensor wrap_half_open_above(const torch::Tensor& d) { return -wrap_degrees(-d); }

void check_angles(const torch::Tensor& t, const char* what) {
  if (t.dim() != 2 || t.size(1) != 3)
    throw core::InputError(std::string(what) + ": expected [B, 3] (yaw, pitch, roll) degrees, got " + std::to_string(t.dim()) + "-d");
}

}  // namespace

// ---- Hopenet ----------------------------------------------------------------------------------

torch::Tensor hopenet_bins(const torch::Tensor& degrees) {
  return torch::floor((degrees - kHopenetLow) / kHopenetBinWidth).clamp(0, kHopenetBins - 1).to(torch::kInt64);
}

torch::Tensor hopenet_expectation(const torch::Tensor& logits) {
  auto idx = torch::arange(kHopenetBins, logits.options().dtype(torch::kFloat32));
  return (torch::softmax(logits.to(torch::kFloat32), -1) * idx).sum(-1) * kHopenetBinWidth + kHopenetLow;
}

namespace {

// The batch mean of per-face (or per face and angle) losses [B] or [B, 3], summed over the angles;
// with face_weights [B]: sum_i w_i * loss_i / B instead (the weights need not sum to B).
torch::Tensor face_mean(const torch::Tensor& per_face, const torch::Tensor& face_weights) {
  if (!face_weights.defined()) return per_face.dim() == 2 ? per_face.mean(0).sum() : per_face.mean();
  const auto b = static_cast<double>(per_face.size(0));
  auto w = face_weights.to(per_face.device(), torch::kFloat32);
  auto summed = per_face.dim() == 2 ? per_face.sum(1) : per_face;
  return (summed * w).sum() / b;
}

void check_face_weights(const torch::Tensor& w, std::int64_t b) {
  if (w.defined() && (w.dim() != 1 || w.size(0) != b))
    throw core::InputError("head-pose loss face_weights: expected [" + std::to_string(b) + "], got " + c10::str(w.sizes()));
}

}  // namespace

HeadPoseLoss hopenet_loss(const torch::Tensor& logits, const torch::Tensor& targets, double alpha, const torch::Tensor& face_weights) {
  check_angles(targets, "hopenet_loss targets");
  const auto b = logits.size(0);
  check_face_weights(face_weights, b);
  auto flat = logits.to(torch::kFloat32).reshape({b * 3, kHopenetBins});
  auto t = targets.to(torch::kFloat32).reshape({b * 3});
  // Per angle (yaw, pitch, roll): CE over its bins + alpha * MSE of its expectation; summed over the angles.
  auto ce = face_mean(torch::nn::functional::cross_entropy(flat, hopenet_bins(t), torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                          .view({b, 3}),
                      face_weights);
  auto mse = face_mean((hopenet_expectation(flat) - t).pow(2).view({b, 3}), face_weights);
  HeadPoseLoss out;
  out.total = ce + alpha * mse;
  out.parts["ce"] = ce.detach();
  out.parts["mse"] = mse.detach();
  return out;
}

// ---- rotations ----------------------------------------------------------------------------------

torch::Tensor rotation_from_6d(const torch::Tensor& v) {
  if (v.dim() != 2 || v.size(1) != 6) throw core::InputError("rotation_from_6d: expected [B, 6]");
  namespace F = torch::nn::functional;
  auto x = F::normalize(v.slice(1, 0, 3), F::NormalizeFuncOptions().dim(1).eps(1e-8));
  auto y_raw = v.slice(1, 3, 6);
  auto z = F::normalize(torch::cross(x, y_raw, 1), F::NormalizeFuncOptions().dim(1).eps(1e-8));
  auto y = torch::cross(z, x, 1);
  return torch::stack({x, y, z}, 2);  // columns
}

torch::Tensor rotation_from_euler(const torch::Tensor& degrees) {
  check_angles(degrees, "rotation_from_euler");
  auto r = degrees.to(torch::kFloat64).div(kDeg);
  auto out = torch::matmul(torch::matmul(rot_x(-r.select(1, 1)), rot_y(-r.select(1, 0))), rot_z(-r.select(1, 2)));
  return out.to(degrees.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32);
}

torch::Tensor euler_from_rotation(const torch::Tensor& r_in, bool full_range_yaw) {
  if (r_in.dim() != 3 || r_in.size(1) != 3 || r_in.size(2) != 3) throw core::InputError("euler_from_rotation: expected [B, 3, 3]");
  auto r = r_in.to(torch::kFloat64);
  auto at = [&](int i, int j) { return r.select(1, i).select(1, j); };
  // R = Rx(a) Ry(b) Rz(c) with a = -pitch, b = -yaw, c = -roll (datasets/euler.cpp).
  auto cb = torch::hypot(at(1, 2), at(2, 2));
  auto b = torch::atan2(at(0, 2), cb);
  auto locked = cb <= 1e-12;
  auto a = torch::where(locked, torch::atan2(at(2, 1), at(1, 1)), torch::atan2(-at(1, 2), at(2, 2)));
  auto c = torch::where(locked, torch::zeros_like(cb), torch::atan2(-at(0, 1), at(0, 0)));
  auto pitch = -a * kDeg, yaw = -b * kDeg, roll = -c * kDeg;
  if (full_range_yaw) {
    auto other = pitch.abs() > 90;
    pitch = torch::where(other, wrap_half_open_above(pitch + 180), pitch);
    yaw = torch::where(other, wrap_half_open_above(-180 - yaw), yaw);
    roll = torch::where(other, wrap_half_open_above(roll + 180), roll);
  }
  auto out = torch::stack({yaw, pitch, roll}, 1);
  return out.to(r_in.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32);
}

torch::Tensor geodesic_angle(const torch::Tensor& a, const torch::Tensor& b, double eps) {
  auto m = torch::matmul(a, b.transpose(1, 2));
  auto cos = (m.diagonal(0, 1, 2).sum(-1) - 1) / 2;
  return torch::acos(torch::clamp(cos, -1 + eps, 1 - eps));
}

torch::Tensor geodesic_loss(const torch::Tensor& a, const torch::Tensor& b) { return geodesic_angle(a, b).mean(); }

torch::Tensor geodesic_degrees(const torch::Tensor& a, const torch::Tensor& b) {
  auto f = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).pow(2).sum({1, 2}).sqrt();
  return (2 * torch::asin(torch::clamp(f / (2 * std::sqrt(2.0)), 0, 1)) * kDeg).to(torch::kFloat32);
}

// ---- angles -------------------------------------------------------------------------------------

torch::Tensor wrap_degrees(const torch::Tensor& d) { return torch::remainder(d + 180, 360) - 180; }

torch::Tensor wrapped_abs_error(const torch::Tensor& a, const torch::Tensor& b) { return wrap_degrees(a - b).abs(); }

torch::Tensor flip_pose(const torch::Tensor& d) {
  check_angles(d, "flip_pose");
  auto sign = torch::tensor({-1.0, 1.0, -1.0}, d.options());
  return d * sign;
}

torch::Tensor flip_rotation(const torch::Tensor& r) {
  auto f = torch::tensor({-1.0, 1.0, 1.0}, r.options());
  return r * f.view({1, 3, 1}) * f.view({1, 1, 3});
}

// ---- the model ----------------------------------------------------------------------------------

const std::vector<std::string>& head_pose_head_names() {
  static const std::vector<std::string> names{"hopenet", "6d", "fullrange"};
  return names;
}

bool is_resnet_backbone(const std::string& name) {
  for (const auto& n : list_resnets())
    if (n == name) return true;
  return false;
}

HeadPoseNetImpl::HeadPoseNetImpl(const HeadPoseOptions& o) : options_(o) {
  const auto& heads = head_pose_head_names();
  if (std::find(heads.begin(), heads.end(), o.head()) == heads.end())
    throw core::InputError("head-pose head '" + o.head() + "' is unknown (valid: hopenet, 6d, fullrange)");
  if (!(o.alpha() >= 0)) throw core::InputError("head-pose alpha: must be >= 0");
  if (is_resnet_backbone(o.backbone())) {
    resnet_ = create_resnet(o.backbone(), [](ResNetOptions& r) { r.num_classes(0); });
    // The trunk's modules at this level, under torchvision's names (Hopenet's checkpoints).
    for (const auto& child : resnet_->named_children()) register_module(child.key(), child.value());
    feature_dim_ = resnet_->feature_dim();
  } else {
    vit_ = create_vit(o.backbone(), [&](ViTOptions& v) {
      v.num_classes(1).img_size(o.img_size()).drop_path(o.drop_path());
      if (!o.pe().empty()) v.pe(o.pe());
      if (!o.pe_after_blocks().empty()) v.pe_after_blocks(o.pe_after_blocks());
      if (o.patch_size() > 0) v.patch_size(o.patch_size());
      if (o.dim() > 0) v.dim(o.dim());
      if (o.depth() > 0) v.depth(o.depth());
      if (o.heads() > 0) v.heads(o.heads());
    });
    if (vit_->options.in_chans() != 3)
      throw core::InputError("head-pose backbone '" + o.backbone() + "' takes " + std::to_string(vit_->options.in_chans()) +
                             "-channel images; faces are RGB (pick a 3-channel preset)");
    vit_->unregister_module("head");  // features only; the pose head replaces the classifier
    vit_->head = torch::nn::Linear(nullptr);
    register_module("backbone", vit_);
    feature_dim_ = vit_->options.dim();
  }
  if (o.head() == "hopenet") {
    fc_yaw = register_module("fc_yaw", torch::nn::Linear(feature_dim_, kHopenetBins));
    fc_pitch = register_module("fc_pitch", torch::nn::Linear(feature_dim_, kHopenetBins));
    fc_roll = register_module("fc_roll", torch::nn::Linear(feature_dim_, kHopenetBins));
  } else if (o.head() == "6d") {
    linear_reg = register_module("linear_reg", torch::nn::Linear(feature_dim_, 6));
  } else {
    fc_pose = register_module("fc_pose", torch::nn::Linear(feature_dim_, 4));
  }
}

torch::Tensor HeadPoseNetImpl::features(const torch::Tensor& images) {
  return vit_ ? vit_->forward_features(images) : resnet_->forward_features(images);
}

torch::Tensor HeadPoseNetImpl::head_forward(const torch::Tensor& f) {
  if (fc_yaw) return torch::stack({core::linear(fc_yaw, f), core::linear(fc_pitch, f), core::linear(fc_roll, f)}, 1);
  if (linear_reg) return core::linear(linear_reg, f);
  return core::linear(fc_pose, f);
}

torch::Tensor HeadPoseNetImpl::forward(const torch::Tensor& images) { return head_forward(features(images)); }

torch::Tensor HeadPoseNetImpl::angles(const torch::Tensor& raw_in) const {
  auto raw = raw_in.to(torch::kFloat32);
  if (options_.head() == "hopenet") return hopenet_expectation(raw);
  if (options_.head() == "6d") return euler_from_rotation(rotation_from_6d(raw));
  auto yaw = wrap_degrees(torch::atan2(raw.select(1, 0), raw.select(1, 1)) * kDeg);
  return torch::stack({yaw, raw.select(1, 2) * 90, raw.select(1, 3) * 90}, 1);
}

torch::Tensor HeadPoseNetImpl::rotation(const torch::Tensor& raw) const {
  if (options_.head() == "6d") return rotation_from_6d(raw.to(torch::kFloat32));
  return rotation_from_euler(angles(raw));
}

HeadPoseLoss HeadPoseNetImpl::loss(const torch::Tensor& raw_in, const torch::Tensor& targets_in, const torch::Tensor& face_weights) const {
  check_angles(targets_in, "head-pose loss targets");
  auto raw = raw_in.to(torch::kFloat32);
  auto targets = targets_in.to(raw.device(), torch::kFloat32);
  if (options_.head() == "hopenet") return hopenet_loss(raw, targets, options_.alpha(), face_weights);  // checks the weights
  check_face_weights(face_weights, raw.size(0));
  HeadPoseLoss out;
  if (options_.head() == "6d") {
    out.total = face_mean(geodesic_angle(rotation_from_6d(raw), rotation_from_euler(targets)), face_weights);
    out.parts["geodesic"] = out.total.detach();
    return out;
  }
  namespace F = torch::nn::functional;
  auto u = F::normalize(raw.slice(1, 0, 2), F::NormalizeFuncOptions().dim(1).eps(1e-8));
  auto t = targets / kDeg;
  auto yaw_t = torch::stack({torch::sin(t.select(1, 0)), torch::cos(t.select(1, 0))}, 1);
  auto chord = face_mean((u - yaw_t).pow(2).sum(1), face_weights);  // 2 - 2 cos(dyaw)
  auto rest = face_mean((raw.slice(1, 2, 4) * (90 / kDeg) - t.slice(1, 1, 3)).pow(2).sum(1), face_weights);
  out.total = chord + rest;
  out.parts["yaw_chord"] = chord.detach();
  out.parts["pitch_roll_mse"] = rest.detach();
  return out;
}

}  // namespace pesuite::vision
