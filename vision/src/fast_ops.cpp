// fast_ops (fast_ops.h): the table of fused CUDA kernels, filled by libpesuite_vision_cuda.so.
#include "pesuite/vision/fast_ops.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace pesuite::vision {
namespace {

struct FastOpsState {
  std::mutex mutex;
  bool tried = false, registered = false;
  FastOps ops;
  std::string status = "not loaded yet";
};

FastOpsState& fast_ops_state() {
  static FastOpsState s;
  return s;
}

// The folder of the object that holds this code (libpesuite_vision.so, or the executable when
// linked statically): the CUDA library is built and installed beside it.
std::string own_folder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&fast_ops_status), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string path = info.dli_fname;
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

void load_locked(FastOpsState& s) {
  s.tried = true;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("PESUITE_VISION_CUDA_LIB"); env != nullptr && *env != '\0') candidates.push_back(env);
  const auto here = own_folder();
  if (!here.empty()) {
    candidates.push_back(here + "/libpesuite_vision_cuda.so");
    candidates.push_back(here + "/../vision/libpesuite_vision_cuda.so");  // a static build's executable folder
  }
  candidates.push_back("libpesuite_vision_cuda.so");
  std::string errors;
  for (const auto& c : candidates) {
    // The library's static initialiser calls register_fast_ops (which takes no lock: see below).
    if (dlopen(c.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr && s.registered) {
      s.status = "loaded " + c;
      return;
    }
    const char* e = dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (e != nullptr ? e : c + ": loaded but registered no kernels");
  }
  s.status = "the fused CUDA kernels are not available (built only where CMake finds CUDA): " + errors;
}

}  // namespace

void register_fast_ops(const FastOps& ops) {
  // Runs inside dlopen, called from load_locked with the mutex held.
  auto& s = fast_ops_state();
  s.ops = ops;
  s.registered = ops.add_layer_norm != nullptr && ops.bias_gelu != nullptr;
}

const FastOps* fast_ops() {
  auto& s = fast_ops_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.tried) load_locked(s);
  return s.registered ? &s.ops : nullptr;
}

std::string fast_ops_status() {
  auto& s = fast_ops_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.tried) load_locked(s);
  return s.status;
}

}  // namespace pesuite::vision
