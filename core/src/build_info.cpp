#include "pesuite/core/build_info.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>

#include "pesuite/core/malloc_policy.h"

namespace pesuite::core {

std::string pesuite_version() { return PESUITE_VERSION; }
std::string git_sha() { return PESUITE_GIT_SHA; }

nlohmann::json build_info() {
  nlohmann::json j;
  j["pesuite"] = pesuite_version();
  j["git_sha"] = git_sha();
  j["torch"] = TORCH_VERSION;
  j["cuda_available"] = torch::cuda::is_available();
  j["cuda_devices"] = torch::cuda::is_available() ? torch::cuda::device_count() : 0;
  j["threads"] = torch::get_num_threads();
  // How OpenMP threads wait between parallel regions: the CLI sets PASSIVE (experiments/src/cli/main.cpp).
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  j["omp_wait_policy"] = wait ? wait : "";
  j["malloc"] = malloc_policy();  // whether freed memory stays in the heap (malloc_policy.h)
#ifdef PESUITE_HAVE_OPENCV
  j["opencv"] = true;
#else
  j["opencv"] = false;
#endif
  return j;
}

}  // namespace pesuite::core
