#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "pesuite/core/parallel.h"
#include "pesuite/core/runtime.h"

using namespace pesuite;

namespace {

// Restores the thread count a test changes.
struct ThreadsGuard {
  int before = core::threads();
  ~ThreadsGuard() { core::set_threads(before); }
};

}  // namespace

TEST(ParallelFor, CoversTheRangeOnceInDisjointChunksOfAtLeastTheGrain) {
  ThreadsGuard guard;
  for (int threads : {1, 2, 4}) {
    core::set_threads(threads);
    for (std::int64_t grain : {1, 3, 7, 100}) {
      std::vector<std::atomic<int>> hits(50);
      std::mutex m;
      std::vector<std::pair<std::int64_t, std::int64_t>> chunks;
      core::parallel_for(10, 60, grain, [&](std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i) ++hits[static_cast<std::size_t>(i - 10)];
        std::lock_guard<std::mutex> lock(m);
        chunks.emplace_back(lo, hi);
      });
      for (const auto& h : hits) ASSERT_EQ(h.load(), 1) << threads << " threads, grain " << grain;
      // TBB splits a range only while both halves keep at least the grain (or it is one chunk).
      for (const auto& [lo, hi] : chunks)
        if (chunks.size() > 1) EXPECT_GE(hi - lo, std::min<std::int64_t>(grain, 50) / 2) << lo << ".." << hi;
    }
  }
}

TEST(ParallelFor, RunsInlineForOneThreadOrAnEmptyRange) {
  ThreadsGuard guard;
  core::set_threads(1);
  const auto caller = std::this_thread::get_id();
  int calls = 0;
  core::parallel_for(0, 100, 1, [&](std::int64_t lo, std::int64_t hi) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(hi, 100);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  core::set_threads(2);
  core::parallel_for(5, 5, 1, [&](std::int64_t, std::int64_t) { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(ParallelFor, AnExceptionReachesTheCaller) {
  ThreadsGuard guard;
  core::set_threads(2);
  EXPECT_THROW(core::parallel_for(0, 64, 1,
                                  [](std::int64_t lo, std::int64_t hi) {
                                    for (std::int64_t i = lo; i < hi; ++i)
                                      if (i == 37) throw std::runtime_error("item 37");
                                  }),
               std::runtime_error);
}

TEST(ParallelFor, UsesSeveralThreadsWhenSet) {
  // The reason it exists: at::parallel_for ran on the caller alone in code built without -fopenmp.
  ThreadsGuard guard;
  core::set_threads(2);
  std::mutex m;
  std::set<std::thread::id> ids;
  std::atomic<int> waiting{0};
  core::parallel_for(0, 2, 1, [&](std::int64_t, std::int64_t) {
    {
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    }
    // Each chunk waits (bounded) for the other to start: with two workers both run at once.
    ++waiting;
    for (int spin = 0; spin < 2000 && waiting.load() < 2; ++spin) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  EXPECT_EQ(ids.size(), 2u) << "two chunks of a 2-thread parallel_for ran on one thread";
}
