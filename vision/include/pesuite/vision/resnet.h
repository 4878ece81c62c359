#pragma once
// ResNet-18 / 34 / 50 / 101 / 152 in LibTorch with torchvision's exact parameter and buffer names
// (conv1, bn1, layer1.0.conv1, layer1.0.bn1, layer2.0.downsample.0, layer2.0.downsample.1, ...,
// fc; BatchNorm running_mean / running_var / num_batches_tracked), so that a torchvision or Hopenet
// state dict converted with scripts/convert/torch_to_safetensors.py loads strictly with
// pesuite::core::load_module_state. Architecture as torchvision's (the bottleneck's stride on its
// 3x3 convolution, "ResNet v1.5"; BatchNorm eps 1e-5, momentum 0.1) with adaptive average pooling,
// so any input size of at least 32 x 32 works.
//
//   using namespace pesuite::vision;
//   ResNet net = create_resnet("resnet50", [](ResNetOptions& o) { o.num_classes(0); });  // no fc
//   pesuite::core::load_module(net_weights_path, *net);       // converted torchvision weights
//   net->eval();
//   torch::Tensor feats = net(images);                       // [B, 3, H, W] -> [B, 2048]
//   torch::Tensor map = net->forward_map(images);            // [B, 2048, H/32, W/32]
//
// A model with more heads on the same trunk (Hopenet: fc_yaw, fc_pitch, fc_roll at the top level)
// derives from ResNetImpl with num_classes(0) and registers its heads next to the trunk's modules,
// so its names stay those of the released checkpoint.
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pesuite::vision {

struct ResNetOptions {
  TORCH_ARG(std::int64_t, depth) = 50;          // 18, 34 (basic blocks), 50, 101, 152 (bottlenecks)
  TORCH_ARG(std::int64_t, num_classes) = 1000;  // 0 = no fc: forward returns the pooled features
  TORCH_ARG(std::int64_t, in_chans) = 3;
  TORCH_ARG(bool, zero_init_residual) = false;  // torchvision's option: last BN of each block starts at 0
};

// torchvision's BasicBlock (expansion 1): conv1 3x3 (stride), bn1, conv2 3x3, bn2, [downsample].
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(std::int64_t inplanes, std::int64_t planes, std::int64_t stride, bool downsample);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};  // 0: 1x1 conv (stride), 1: BatchNorm
};
TORCH_MODULE(BasicBlock);

// torchvision's Bottleneck (expansion 4): conv1 1x1, conv2 3x3 (stride), conv3 1x1, bn1..3, [downsample].
class BottleneckImpl : public torch::nn::Module {
 public:
  BottleneckImpl(std::int64_t inplanes, std::int64_t planes, std::int64_t stride, bool downsample);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  // Logits [B, num_classes], or the pooled features [B, feature_dim()] when num_classes is 0.
  torch::Tensor forward(const torch::Tensor& images);
  torch::Tensor forward_features(const torch::Tensor& images);  // pooled [B, feature_dim()]
  torch::Tensor forward_map(const torch::Tensor& images);       // layer4 output [B, feature_dim(), h, w]
  std::int64_t feature_dim() const { return feature_dim_; }     // 512 (18, 34) or 2048 (50+)
  const ResNetOptions& options() const { return options_; }

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};  // null when num_classes is 0

 private:
  ResNetOptions options_;
  std::int64_t feature_dim_ = 0;
};
TORCH_MODULE(ResNet);

// "resnet18", "resnet34", "resnet50", "resnet101", "resnet152" (torchvision's names); `configure`
// adjusts the options after the depth is set. InputError listing the names for any other.
ResNet create_resnet(const std::string& name, const std::function<void(ResNetOptions&)>& configure = {});
std::vector<std::string> list_resnets();

}  // namespace pesuite::vision
