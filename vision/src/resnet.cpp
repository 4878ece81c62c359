// ResNet with torchvision's module tree (see resnet.h). Names come from register_module calls in
// the same order torchvision's __init__ assigns attributes, and Sequential children are "0", "1", ...
#include "pesuite/vision/resnet.h"

#include <cmath>

#include "pesuite/core/error.h"

namespace pesuite::vision {
namespace nn = torch::nn;

namespace {

nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

nn::Sequential downsample_branch(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return nn::Sequential(conv(in, out, 1, stride, 0), nn::BatchNorm2d(out));
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(std::int64_t inplanes, std::int64_t planes, std::int64_t stride, bool down) {
  conv1 = register_module("conv1", conv(inplanes, planes, 3, stride, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  if (down) downsample = register_module("downsample", downsample_branch(inplanes, planes, stride));
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  return torch::relu(out + (downsample ? downsample->forward(x) : x));
}

BottleneckImpl::BottleneckImpl(std::int64_t inplanes, std::int64_t planes, std::int64_t stride, bool down) {
  conv1 = register_module("conv1", conv(inplanes, planes, 1, 1, 0));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * 4, 1, 1, 0));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes * 4));
  if (down) downsample = register_module("downsample", downsample_branch(inplanes, planes * 4, stride));
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = torch::relu(bn1(conv1(x)));
  out = torch::relu(bn2(conv2(out)));
  out = bn3(conv3(out));
  return torch::relu(out + (downsample ? downsample->forward(x) : x));
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) {
  std::vector<std::int64_t> blocks;
  bool bottleneck = false;
  switch (options.depth()) {
    case 18: blocks = {2, 2, 2, 2}; break;
    case 34: blocks = {3, 4, 6, 3}; break;
    case 50: blocks = {3, 4, 6, 3}, bottleneck = true; break;
    case 101: blocks = {3, 4, 23, 3}, bottleneck = true; break;
    case 152: blocks = {3, 8, 36, 3}, bottleneck = true; break;
    default: throw core::InputError("resnet: depth " + std::to_string(options.depth()) + " (valid: 18, 34, 50, 101, 152)");
  }
  if (options.num_classes() < 0 || options.in_chans() <= 0) throw core::InputError("resnet: num_classes must be >= 0 and in_chans > 0");
  const std::int64_t expansion = bottleneck ? 4 : 1;
  conv1 = register_module("conv1", conv(options.in_chans(), 64, 7, 2, 3));
  bn1 = register_module("bn1", nn::BatchNorm2d(64));
  std::int64_t inplanes = 64;
  auto make_layer = [&](std::int64_t planes, std::int64_t count, std::int64_t stride) {
    nn::Sequential layer;
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t s = i == 0 ? stride : 1;
      const bool down = i == 0 && (stride != 1 || inplanes != planes * expansion);
      if (bottleneck) layer->push_back(Bottleneck(inplanes, planes, s, down));
      else layer->push_back(BasicBlock(inplanes, planes, s, down));
      inplanes = planes * expansion;
    }
    return layer;
  };
  layer1 = register_module("layer1", make_layer(64, blocks[0], 1));
  layer2 = register_module("layer2", make_layer(128, blocks[1], 2));
  layer3 = register_module("layer3", make_layer(256, blocks[2], 2));
  layer4 = register_module("layer4", make_layer(512, blocks[3], 2));
  feature_dim_ = 512 * expansion;
  if (options.num_classes() > 0) fc = register_module("fc", nn::Linear(feature_dim_, options.num_classes()));

  // torchvision's initialisation: Kaiming normal (fan_out, relu) convolutions, BatchNorm 1 / 0;
  // the Linear keeps LibTorch's default (as torchvision keeps PyTorch's).
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0, torch::kFanOut, torch::kReLU);
    } else if (auto* b = m->as<nn::BatchNorm2d>()) {
      nn::init::ones_(b->weight);
      nn::init::zeros_(b->bias);
    }
  }
  if (options.zero_init_residual())
    for (auto& m : modules(false)) {
      if (auto* b = m->as<BottleneckImpl>()) nn::init::zeros_(b->bn3->weight);
      if (auto* b = m->as<BasicBlockImpl>()) nn::init::zeros_(b->bn2->weight);
    }
}

torch::Tensor ResNetImpl::forward_map(const torch::Tensor& images) {
  if (images.dim() != 4 || images.size(1) != options_.in_chans())
    throw core::InputError("resnet: input " + c10::str(images.sizes()) + ", expected [B, " + std::to_string(options_.in_chans()) + ", H, W]");
  torch::Tensor x = torch::relu(bn1(conv1(images)));
  x = torch::max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
  x = layer1->forward(x);
  x = layer2->forward(x);
  x = layer3->forward(x);
  return layer4->forward(x);
}

torch::Tensor ResNetImpl::forward_features(const torch::Tensor& images) {
  return torch::adaptive_avg_pool2d(forward_map(images), {1, 1}).flatten(1);
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& images) {
  torch::Tensor f = forward_features(images);
  return fc ? fc(f) : f;
}

std::vector<std::string> list_resnets() { return {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}; }

ResNet create_resnet(const std::string& name, const std::function<void(ResNetOptions&)>& configure) {
  ResNetOptions o;
  if (name == "resnet18") o.depth(18);
  else if (name == "resnet34") o.depth(34);
  else if (name == "resnet50") o.depth(50);
  else if (name == "resnet101") o.depth(101);
  else if (name == "resnet152") o.depth(152);
  else {
    std::string valid;
    for (const auto& n : list_resnets()) valid += (valid.empty() ? "" : ", ") + n;
    throw core::InputError("model '" + name + "' is not a ResNet (valid: " + valid + ")");
  }
  if (configure) configure(o);
  return ResNet(o);
}

}  // namespace pesuite::vision
