#pragma once
// The element types the fused kernels take (float32, bfloat16, float16), named without CUDA or
// LibTorch headers so that both sides of the launch (the .cu files, the autograd glue) share them.
//
//   pesuite::vision::fused::Dtype d = pesuite::vision::fused::Dtype::bf16;
namespace pesuite::vision::fused {

enum class Dtype : int { f32 = 0, bf16 = 1, f16 = 2 };

}  // namespace pesuite::vision::fused
