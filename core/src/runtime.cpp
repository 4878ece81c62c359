#include "pesuite/core/runtime.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "pesuite/core/error.h"

namespace pesuite::core {

torch::Device parse_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw InputError("device '" + name + "': CUDA is not available in this build or on this machine");
    try {
      return torch::Device(name);
    } catch (const std::exception&) {
    }
  }
  throw InputError("device '" + name + "': expected auto, cpu, cuda or cuda:N");
}

namespace {
// OpenBLAS (and its BLIS-style cousins) expose their pool size through these C symbols; we look
// them up at run time so that any BLAS Debian's alternatives pick works.
void set_blas_threads(int n) {
  using SetFn = void (*)(int);
  for (const char* sym : {"openblas_set_num_threads", "goto_set_num_threads", "bli_thread_set_num_threads"}) {
    if (auto fn = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, sym))) {
      fn(n);
      return;
    }
  }
}
}  // namespace

void set_threads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  set_blas_threads(threads);
}

int threads() { return torch::get_num_threads(); }

std::string cache_dir() {
  if (const char* c = std::getenv("PESUITE_CACHE"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/pesuite";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/pesuite";
  return (std::filesystem::temp_directory_path() / "pesuite-cache").string();
}

void seed_all(std::uint64_t seed) {
  torch::manual_seed(seed);
  if (torch::cuda::is_available()) torch::cuda::manual_seed_all(seed);
}

}  // namespace pesuite::core
