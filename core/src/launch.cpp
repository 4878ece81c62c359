// Launch variables (launch.h): torch-free, shared by the ranks (distributed.cpp) and the launcher.
#include "pesuite/core/launch.h"

#include <cstdint>
#include <cstdlib>

#include "pesuite/core/error.h"
#include "pesuite/core/parse.h"

namespace pesuite::core::dist {
namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = env(name);
  if (v == nullptr) return fallback;
  const auto parsed = parse_int(v);
  if (!parsed) throw InputError(std::string("environment variable ") + name + "='" + v + "': not an integer");
  const std::int64_t x = *parsed;
  if (x < lo || x > hi)
    throw InputError(std::string("environment variable ") + name + "=" + v + ": must be in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  return static_cast<int>(x);
}

}  // namespace

std::chrono::seconds timeout_from_environment() {
  return std::chrono::seconds(env_int("PESUITE_DIST_TIMEOUT_S", kDefaultTimeoutSeconds, 1, 7 * 24 * 3600));
}

Launch launch_from_environment() {
  Launch l;
  const int max_ranks = 1 << 20;
  if (env("WORLD_SIZE") != nullptr || env("RANK") != nullptr) {
    l.launched = true;
    l.source = "torchrun-style variables";
    l.world_size = env_int("WORLD_SIZE", 1, 1, max_ranks);
    l.rank = env_int("RANK", 0, 0, max_ranks);
    l.local_rank = env_int("LOCAL_RANK", l.rank, 0, max_ranks);
  } else if (env("SLURM_NTASKS") != nullptr && env("SLURM_PROCID") != nullptr) {
    l.launched = true;
    l.source = "Slurm";
    l.world_size = env_int("SLURM_NTASKS", 1, 1, max_ranks);
    l.rank = env_int("SLURM_PROCID", 0, 0, max_ranks);
    l.local_rank = env_int("SLURM_LOCALID", 0, 0, max_ranks);
  }
  if (l.rank >= l.world_size)
    throw InputError("rank " + std::to_string(l.rank) + " is outside a world of " + std::to_string(l.world_size) + " (" + l.source + ")");
  if (const char* a = env("MASTER_ADDR")) l.master_addr = a;
  l.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  l.timeout = timeout_from_environment();
  return l;
}

}  // namespace pesuite::core::dist
