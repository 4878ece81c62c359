#pragma once
// What the autograd glue of the fused kernels shares (C++ side only): a tensor's kernel Dtype, the
// current CUDA stream, the input checks.
//
//   check_cuda(x, "add_layer_norm: x");
//   add_layer_norm_forward(kernel_dtype(x), ..., current_stream(x));
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>

#include "dtype.h"

namespace pesuite::vision::fused {

inline Dtype kernel_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return Dtype::f32;
    case at::kBFloat16: return Dtype::bf16;
    case at::kHalf: return Dtype::f16;
    default: TORCH_CHECK(false, "pesuite fused kernels: dtype ", t, " is not float32, bfloat16 or float16");
  }
  return Dtype::f32;
}

inline void* current_stream(const at::Tensor& t) {
  return static_cast<void*>(c10::cuda::getCurrentCUDAStream(t.device().index()).stream());
}

inline void check_cuda(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.defined(), what, " is undefined");
  TORCH_CHECK(t.is_cuda(), what, " must be a CUDA tensor, got ", t.device());
}

}  // namespace pesuite::vision::fused
