#pragma once
// What the autograd glue of the fused kernels shares (C++ side only): a tensor's kernel Dtype, the
// current CUDA stream, the input checks, whether a backward may write over its incoming gradient.
//
//   check_cuda(x, "add_layer_norm: x");
//   add_layer_norm_forward(kernel_dtype(x), ..., current_stream(x));
//   auto grad_h = sole_handle(grads[0]) ? grads[0] : at::empty_like(h);
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

// True when `t` is the only handle on its memory: no other tensor, view or autograd buffer shares
// its storage, so a backward that was handed it may write its own result there (the test PyTorch's
// AccumulateGrad makes before it steals a gradient). A backward sees use_count 1 only when it takes
// its gradient list by reference: LibTorch's CppNode moves the engine's buffer into that list.
inline bool sole_handle(const at::Tensor& t) {
  return t.defined() && t.use_count() == 1 && t.storage().use_count() == 1 && !t.is_view() && t.is_contiguous();
}

}  // namespace pesuite::vision::fused
