// core::keep_freed_memory(): a freed large block stays in the heap (no mmap of its own, no trim),
// and $PESUITE_MALLOC picks the policy or is refused by name.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "pesuite/core/error.h"
#include "pesuite/core/malloc_policy.h"

namespace {

using pesuite::core::keep_freed_memory;
using pesuite::core::malloc_policy;

TEST(MallocPolicy, FreedBlocksStayInTheHeap) {
  ::unsetenv("PESUITE_MALLOC");
  ASSERT_EQ(keep_freed_memory(), "kept");
  EXPECT_EQ(malloc_policy(), "kept");
  constexpr std::size_t kBytes = 16 << 20;  // far above glibc's default mmap threshold (128 KiB)
  const auto before = ::mallinfo2();
  void* block = std::malloc(kBytes);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBytes);
  asm volatile("" : : "g"(block) : "memory");  // the compiler may not drop the allocation
  EXPECT_EQ(::mallinfo2().hblkhd, before.hblkhd) << "the block was mapped on its own, not taken from the heap";
  std::free(block);
  EXPECT_GE(::mallinfo2().fordblks, kBytes) << "the freed block went back to the kernel";
}

TEST(MallocPolicy, EnvironmentPicksThePolicyOrIsRefused) {
  ::setenv("PESUITE_MALLOC", "system", 1);
  EXPECT_EQ(keep_freed_memory(), "system");
  EXPECT_EQ(malloc_policy(), "system");
  ::setenv("PESUITE_MALLOC", "jemalloc", 1);
  try {
    keep_freed_memory();
    ADD_FAILURE() << "expected an InputError";
  } catch (const pesuite::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("$PESUITE_MALLOC='jemalloc'"), std::string::npos) << e.what();
  }
  ::unsetenv("PESUITE_MALLOC");
  EXPECT_EQ(keep_freed_memory(), "kept");
}

}  // namespace
