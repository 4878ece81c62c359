#pragma once
// Process-wide runtime settings: device choice, thread counts, seeding.
//
//   torch::Device dev = pesuite::runtime::parse_device("auto");   // cuda when available, else cpu
//   pesuite::runtime::set_threads(0);                              // 0 = all cores, BLAS kept at 1
//   pesuite::runtime::seed_all(42);
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace pesuite::runtime {

// "auto" | "cpu" | "cuda" | "cuda:N"; InputError for anything else or for CUDA when absent.
torch::Device parse_device(const std::string& name);

// Intra-op threads for torch; the BLAS library's own pool is pinned to 1 thread so that the two
// never oversubscribe the cores (torch parallelises around BLAS calls itself). 0 = all cores.
void set_threads(int threads);
int threads();

// Seeds torch's CPU (and CUDA) generators.
void seed_all(std::uint64_t seed);

}  // namespace pesuite::runtime
