#pragma once
// Head-pose estimation models: a backbone (ResNet-18/34/50/... of resnet.h, or any ViT / DeiT /
// CPVT preset of vit.h with any positional encoding) as a feature extractor, and one of three heads:
//
//   hopenet    Ruiz et al. 2018: three 66-bin classifiers (fc_yaw, fc_pitch, fc_roll; bins of 3
//              degrees over [-99, 99)); loss per angle = CE(bins) + alpha * MSE(expectation, angle)
//              with expectation = sum(softmax * idx) * 3 - 99 (as released: a one-hot at bin i
//              decodes to -99 + 3 i, the bin's lower edge; bin i holds [-99 + 3 i, -96 + 3 i)).
//   6d         6DRepNet (Hempel et al. 2022): linear_reg -> 6 numbers -> Gram-Schmidt rotation
//              matrix (columns x, y, z), geodesic loss acos((tr(R_pred R_gt^T) - 1) / 2).
//   fullrange  DirectMHP-style full range: yaw over [-180, 180) as (sin, cos) -> atan2, pitch and
//              roll as 90 * output; loss = chordal yaw distance 2 - 2 cos(dyaw) (wrap-free, equal to
//              dyaw^2 for small errors) + dpitch^2 + droll^2 (radians); metric: wrapped errors.
//
// Angles are [B, 3] tensors (yaw, pitch, roll) in degrees, in the convention of
// pesuite/datasets/euler.h: R = Rx(-pitch) Ry(-yaw) Rz(-roll); a horizontal flip negates yaw and
// roll (R -> F R F, F = diag(-1, 1, 1)).
//
// With a ResNet backbone the trunk's modules sit at the top level (conv1, bn1, layer1..4) next to
// the head's (fc_yaw / fc_pitch / fc_roll; linear_reg; fc_pose), so a converted Hopenet or
// torchvision state dict loads by name; a ViT backbone is the submodule "backbone" (its classifier
// head removed).
//
//   using namespace pesuite::vision;
//   HeadPoseNet net(HeadPoseOptions().backbone("resnet50").head("hopenet").alpha(2));
//   torch::Tensor raw = net(images);                  // [B, 3, 224, 224] -> [B, 3, 66] logits
//   torch::Tensor deg = net->angles(raw);             // [B, 3] yaw, pitch, roll
//   HeadPoseLoss l = net->loss(raw, target_degrees);  // l.total.backward()
//   HeadPoseNet vit(HeadPoseOptions().backbone("cpvt_tiny").pe("peg").head("6d").img_size(112));
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pesuite/vision/resnet.h"
#include "pesuite/vision/vit.h"

namespace pesuite::vision {

// ---- Hopenet's bins --------------------------------------------------------------------------
inline constexpr std::int64_t kHopenetBins = 66;
inline constexpr double kHopenetBinWidth = 3.0, kHopenetLow = -99.0;
// numpy.digitize(angle, range(-99, 102, 3)) - 1, clamped to [0, 65]: int64, same shape.
torch::Tensor hopenet_bins(const torch::Tensor& degrees);
// sum(softmax(logits) * idx) * 3 - 99 over the last dimension (66): degrees.
torch::Tensor hopenet_expectation(const torch::Tensor& logits);
// logits [B, 3, 66], targets [B, 3] degrees: per angle CE + alpha * MSE, summed over the angles
// (as train_hopenet.py sums loss_yaw, loss_pitch, loss_roll), batch means. parts: ce, mse.
// face_weights [B] (optional; every loss of this header takes them): sum_i w_i * loss_i / B instead
// of the mean, e.g. a 0/1 mask of the pseudo-labels kept, with the batch's shape unchanged.
struct HeadPoseLoss {
  torch::Tensor total;
  std::map<std::string, torch::Tensor> parts;  // detached, for logging
};
HeadPoseLoss hopenet_loss(const torch::Tensor& logits, const torch::Tensor& targets, double alpha, const torch::Tensor& face_weights = {});

// ---- rotations -------------------------------------------------------------------------------
// 6DRepNet's compute_rotation_matrix_from_ortho6d: x = normalize(v[:, 0:3]), z = normalize(x cross
// v[:, 3:6]), y = z cross x; R = [x y z] (columns). [B, 6] -> [B, 3, 3].
torch::Tensor rotation_from_6d(const torch::Tensor& v);
// R = Rx(-pitch) Ry(-yaw) Rz(-roll) from [B, 3] (yaw, pitch, roll) degrees -> [B, 3, 3].
torch::Tensor rotation_from_euler(const torch::Tensor& degrees);
// The inverse, as datasets::euler_from_rotation: |yaw| <= 90 by default; full_range_yaw: |pitch|
// <= 90 and yaw in (-180, 180]. [B, 3, 3] -> [B, 3] degrees.
torch::Tensor euler_from_rotation(const torch::Tensor& r, bool full_range_yaw = false);
// Geodesic angle between rotations (radians, [B]): acos(clamp((tr(A B^T) - 1) / 2, -1 + eps, 1 - eps))
// (6DRepNet's GeodesicLoss, eps = 1e-7; its mean is the loss).
torch::Tensor geodesic_angle(const torch::Tensor& a, const torch::Tensor& b, double eps = 1e-7);
torch::Tensor geodesic_loss(const torch::Tensor& a, const torch::Tensor& b);
// The exact angle in degrees for evaluation (2 asin(|A - B|_F / 2 sqrt 2), accurate near 0).
torch::Tensor geodesic_degrees(const torch::Tensor& a, const torch::Tensor& b);

// ---- angles ----------------------------------------------------------------------------------
// Into [-180, 180).
torch::Tensor wrap_degrees(const torch::Tensor& degrees);
// |wrap(a - b)|: 179 vs -179 is 2.
torch::Tensor wrapped_abs_error(const torch::Tensor& a, const torch::Tensor& b);
// A horizontal flip: (yaw, pitch, roll) -> (-yaw, pitch, -roll) on [B, 3].
torch::Tensor flip_pose(const torch::Tensor& degrees);
// R -> F R F with F = diag(-1, 1, 1), on [B, 3, 3].
torch::Tensor flip_rotation(const torch::Tensor& r);

// ---- the model -------------------------------------------------------------------------------
struct HeadPoseOptions {
  // resnet18 | resnet34 | resnet50 | resnet101 | resnet152, or any ViT preset (`pesuite list models`).
  TORCH_ARG(std::string, backbone) = "resnet50";
  TORCH_ARG(std::string, head) = "hopenet";  // hopenet | 6d | fullrange
  TORCH_ARG(double, alpha) = 1.0;            // hopenet: weight of the expectation's MSE
  TORCH_ARG(std::int64_t, img_size) = 224;   // ViT: the learned table's grid; ResNet: any size works
  // ViT backbones only (0 / "" = the preset's):
  TORCH_ARG(std::string, pe) = "";
  TORCH_ARG(std::vector<std::int64_t>, pe_after_blocks) = std::vector<std::int64_t>{};
  TORCH_ARG(std::int64_t, patch_size) = 0;
  TORCH_ARG(std::int64_t, dim) = 0;
  TORCH_ARG(std::int64_t, depth) = 0;
  TORCH_ARG(std::int64_t, heads) = 0;
  TORCH_ARG(double, drop_path) = 0.0;
};

class HeadPoseNetImpl : public torch::nn::Module {
 public:
  explicit HeadPoseNetImpl(const HeadPoseOptions& options);
  // The head's raw output: hopenet [B, 3, 66] logits (yaw, pitch, roll); 6d [B, 6]; fullrange [B, 4].
  torch::Tensor forward(const torch::Tensor& images);
  torch::Tensor features(const torch::Tensor& images);  // pooled backbone features [B, feature_dim()]
  torch::Tensor head_forward(const torch::Tensor& features);
  // Decoded angles [B, 3] degrees (yaw, pitch, roll); 6d: euler_from_rotation (|yaw| <= 90);
  // fullrange: yaw in [-180, 180).
  torch::Tensor angles(const torch::Tensor& raw) const;
  torch::Tensor rotation(const torch::Tensor& raw) const;  // [B, 3, 3]
  HeadPoseLoss loss(const torch::Tensor& raw, const torch::Tensor& targets, const torch::Tensor& face_weights = {}) const;
  std::int64_t feature_dim() const { return feature_dim_; }
  bool is_vit() const { return !vit_.is_empty(); }
  const HeadPoseOptions& options() const { return options_; }
  // The ViT backbone (null for ResNet) and the ResNet trunk (null for ViT).
  ViT vit() const { return vit_; }
  ResNet resnet() const { return resnet_; }

  torch::nn::Linear fc_yaw{nullptr}, fc_pitch{nullptr}, fc_roll{nullptr};  // hopenet
  torch::nn::Linear linear_reg{nullptr};                                   // 6d
  torch::nn::Linear fc_pose{nullptr};                                      // fullrange

 private:
  HeadPoseOptions options_;
  ResNet resnet_{nullptr};  // its children are registered at this level (torchvision / Hopenet names)
  ViT vit_{nullptr};
  std::int64_t feature_dim_ = 0;
};
TORCH_MODULE(HeadPoseNet);

// hopenet | 6d | fullrange.
const std::vector<std::string>& head_pose_head_names();
// Whether a backbone name is a ResNet of resnet.h (else it must be a ViT preset).
bool is_resnet_backbone(const std::string& name);

}  // namespace pesuite::vision
