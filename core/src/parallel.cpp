// core::parallel_for on TBB (parallel.h).
#include "pesuite/core/parallel.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include "pesuite/core/runtime.h"

namespace pesuite::core {
namespace {

// One arena per thread count for the life of the process (a fresh arena per call makes its
// workers join late, which costs more than a small batch of work).
tbb::task_arena& arena_for(int threads) {
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<tbb::task_arena>> arenas;
  std::lock_guard<std::mutex> lock(mutex);
  auto& a = arenas[threads];
  if (!a) {
    a = std::make_unique<tbb::task_arena>(threads);
    a->initialize();
  }
  return *a;
}

}  // namespace

void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& f) {
  if (begin >= end) return;
  grain = std::max<std::int64_t>(1, grain);
  const int n = threads();
  if (n <= 1 || end - begin <= grain) {
    f(begin, end);
    return;
  }
  arena_for(n).execute([&] {
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(begin, end, static_cast<std::size_t>(grain)),
                      [&](const tbb::blocked_range<std::int64_t>& r) { f(r.begin(), r.end()); });
  });
}

}  // namespace pesuite::core
