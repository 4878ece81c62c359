#pragma once
// Process-wide runtime settings: device choice, thread counts, seeding.
//
//   torch::Device dev = pesuite::core::parse_device("auto");   // cuda when available, else cpu
//   pesuite::core::set_threads(0);                              // 0 = all cores
//   pesuite::core::seed_all(42);
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace pesuite::core {

// "auto" | "cpu" | "cuda" | "cuda:N"; InputError for anything else or for CUDA when absent.
torch::Device parse_device(const std::string& name);

// Intra-op threads for torch and the BLAS library's own pool (OpenBLAS), the same count: torch
// calls BLAS outside its OpenMP regions, so the two pools take turns. What makes them fight is
// OpenMP's busy-waiting, hence OMP_WAIT_POLICY=PASSIVE (the CLI sets it; see main.cpp). 0 = all cores.
void set_threads(int threads);
int threads();

// Seeds torch's CPU (and CUDA) generators.
void seed_all(std::uint64_t seed);

// The folder of pesuite's caches (graph encodings, scene banks): $PESUITE_CACHE, else
// $XDG_CACHE_HOME/pesuite, else ~/.cache/pesuite.
std::string cache_dir();

}  // namespace pesuite::core
