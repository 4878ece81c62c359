#include "pesuite/experiments/build_info.h"

#include <torch/torch.h>
#include <torch/version.h>

namespace pesuite::experiments {

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
#ifdef PESUITE_HAVE_OPENCV
  j["opencv"] = true;
#else
  j["opencv"] = false;
#endif
  return j;
}

}  // namespace pesuite::experiments
