// core::parallel_for on TBB (parallel.h) and the arenas it runs in (tbb_arena.h).
#include "pesuite/core/parallel.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include "pesuite/core/runtime.h"
#include "pesuite/core/tbb_arena.h"

namespace pesuite::core {

tbb::task_arena& tbb_arena(int threads) {
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<tbb::task_arena>> arenas;
  const int key = threads > 0 && threads < tbb::this_task_arena::max_concurrency() ? threads : 0;
  std::lock_guard<std::mutex> lock(mutex);
  auto& a = arenas[key];
  if (!a) {
    a = key > 0 ? std::make_unique<tbb::task_arena>(key) : std::make_unique<tbb::task_arena>();
    a->initialize();
  }
  return *a;
}

void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, const std::function<void(std::int64_t, std::int64_t)>& f) {
  if (begin >= end) return;
  grain = std::max<std::int64_t>(1, grain);
  const int n = threads();
  if (n <= 1 || end - begin <= grain) {
    f(begin, end);
    return;
  }
  tbb_arena(n).execute([&] {
    tbb::parallel_for(tbb::blocked_range<std::int64_t>(begin, end, static_cast<std::size_t>(grain)),
                      [&](const tbb::blocked_range<std::int64_t>& r) { f(r.begin(), r.end()); });
  });
}

}  // namespace pesuite::core
