#pragma once
// pesuite's own CPU loops over independent items (training views, decoded images) on the threads
// `pesuite --threads N` set (core::threads()), with TBB.
//
// Why not at::parallel_for: ATen's OpenMP loop is a header template that only runs in parallel
// where the including code is compiled with -fopenmp (`_OPENMP`); pesuite is not (and a second
// OpenMP runtime beside pip LibTorch's bundled one would not see torch::set_num_threads), so there
// at::parallel_for ran every item on the calling thread whatever --threads said.
//
//   core::parallel_for(0, batch, 1, [&](std::int64_t lo, std::int64_t hi) {
//     for (std::int64_t j = lo; j < hi; ++j) make_view(j);  // each item depends on j alone
//   });
//
// f gets disjoint [lo, hi) ranges that cover [begin, end), each of at least `grain` items where
// the range allows; an exception thrown by f reaches the caller (the first one, if several).
// Inline, on the calling thread, when one thread is set or the range is one grain.
#include <cstdint>
#include <functional>

namespace pesuite::core {

void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& f);

}  // namespace pesuite::core
