// Fills pesuite::vision::fast_ops() (fast_ops.h) when libpesuite_vision_cuda.so is loaded.
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <utility>

#include "pesuite/vision/fast_ops.h"

namespace pesuite::vision::fused {

std::pair<at::Tensor, at::Tensor> add_layer_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& weight,
                                                 const at::Tensor& bias, double eps, at::ScalarType out_dtype);
at::Tensor bias_gelu(const at::Tensor& h, const at::Tensor& bias);
at::Tensor& bias_gelu_(at::Tensor& h, const at::Tensor& bias);
at::Tensor gelu_linear(const at::Tensor& h, const at::Tensor& b1, const at::Tensor& w2, const at::Tensor& b2);
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);
std::array<at::Tensor, 3> split_qkv(const at::Tensor& qkv, std::int64_t heads);
at::Tensor add_peg(const at::Tensor& x, const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias,
                   std::int64_t prefix, std::int64_t height, std::int64_t width);

namespace {
[[maybe_unused]] const bool registered = [] {
  FastOps ops;
  ops.add_layer_norm = &add_layer_norm;
  ops.bias_gelu = &bias_gelu;
  ops.bias_gelu_ = &bias_gelu_;
  ops.gelu_linear = &gelu_linear;
  ops.linear = &linear;
  ops.split_qkv = &split_qkv;
  ops.add_peg = &add_peg;
  register_fast_ops(ops);
  return true;
}();
}  // namespace

}  // namespace pesuite::vision::fused
