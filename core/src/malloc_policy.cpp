#include "pesuite/core/malloc_policy.h"

#include <malloc.h>

#include <cstdlib>

#include "pesuite/core/error.h"

namespace pesuite::core {

namespace {
std::string& policy() {
  static std::string in_force = "system";
  return in_force;
}
}  // namespace

std::string keep_freed_memory() {
  const char* env = std::getenv("PESUITE_MALLOC");
  const std::string wanted = env && *env ? env : "kept";
  if (wanted == "system") return policy() = "system";
  if (wanted != "kept") throw InputError("$PESUITE_MALLOC='" + wanted + "': expected kept (the default) or system");
  // 32 MiB is the largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2). Setting
  // either value also ends glibc's own threshold adjustment, hence both.
  const bool ok = ::mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && ::mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  return policy() = ok ? "kept" : "system";
}

std::string malloc_policy() { return policy(); }

}  // namespace pesuite::core
