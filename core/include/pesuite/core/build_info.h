#pragma once
// What this build is: pesuite version, git sha, torch version, CUDA. Printed by `pesuite version`
// and saved in every run folder's env.json.
//
//   std::cout << pesuite::core::build_info().dump(2);
#include <nlohmann/json.hpp>

#include <string>

namespace pesuite::core {

std::string pesuite_version();
std::string git_sha();
// {"pesuite", "git_sha", "torch", "cuda_available", "cuda_devices", "threads", "omp_wait_policy", "opencv"}
nlohmann::json build_info();

}  // namespace pesuite::core
