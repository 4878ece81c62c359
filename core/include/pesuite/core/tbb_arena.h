#pragma once
// The TBB arena of a thread count, one per count for the life of the process: a fresh arena per
// call makes its workers join late, which costs more than the work on small inputs (graph PEs of
// MUTAG, 188 graphs, ran no faster on 2 threads than on 1 that way). core::parallel_for and the
// graph PE dataset loop share it.
//
//   core::tbb_arena(threads).execute([&] { tbb::parallel_for(0, n, [&](int i) { work(i); }); });
#include <tbb/task_arena.h>

namespace pesuite::core {

// threads <= 0, or at least the machine's concurrency: TBB's default arena (every core).
tbb::task_arena& tbb_arena(int threads);

}  // namespace pesuite::core
