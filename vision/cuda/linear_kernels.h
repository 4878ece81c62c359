#pragma once
// Launchers of the Linear backward's bias-gradient pass (linear.cu), raw pointers in. The autograd
// function around it is linear.cpp; users call FastOps::linear (fast_ops.h).
//
//   using namespace pesuite::vision::fused;
//   float* part = ...;  // [column_sums_chunks(rows), cols]
//   column_sums(Dtype::bf16, grad_out, part, rows, cols, stream);  // then part.sum(0)
#include <cstdint>

#include "dtype.h"

namespace pesuite::vision::fused {

// Partial column sums of x [rows, cols] (contiguous), float32 [column_sums_chunks(rows), cols]; the
// caller adds the chunks up. Returns false for a dtype it does not know.
std::int64_t column_sums_chunks(std::int64_t rows);
bool column_sums(Dtype type, const void* x, float* part, std::int64_t rows, std::int64_t cols, void* stream);

}  // namespace pesuite::vision::fused
