#pragma once
// Shared by the heads tests: the device they run on and a finite-difference gradient check.
//
//   auto dev = pesuite::test::device();   // PESUITE_TEST_DEVICE=cuda runs the same tests on the GPU
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>

namespace pesuite::test {

// cpu unless PESUITE_TEST_DEVICE says cuda; asking for cuda where there is none is a failure, not
// a silent fallback, so a GPU run can never pass on the CPU by mistake.
inline torch::Device device() {
  const char* e = std::getenv("PESUITE_TEST_DEVICE");
  const std::string name = e ? e : "cpu";
  if (name == "cpu" || name.empty()) return torch::kCPU;
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) throw std::runtime_error("PESUITE_TEST_DEVICE=" + name + " but CUDA is not available");
    return torch::Device(name);
  }
  throw std::runtime_error("PESUITE_TEST_DEVICE must be cpu or cuda[:N], got " + name);
}

inline torch::TensorOptions f32() { return torch::TensorOptions().dtype(torch::kFloat32).device(device()); }
inline torch::TensorOptions f64() { return torch::TensorOptions().dtype(torch::kFloat64).device(device()); }

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kCPU, torch::kFloat64) - b.to(torch::kCPU, torch::kFloat64)).abs().max().item<double>();
}

// Central differences (double precision) against autograd for every element of every parameter of
// `module`, with loss = f() a scalar. Returns the largest relative error.
inline double gradcheck_params(torch::nn::Module& module, const std::function<torch::Tensor()>& f, double eps = 1e-6) {
  auto params = module.parameters();
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  f().backward();
  double worst = 0;
  for (auto& p : params) {
    auto analytic = p.grad().defined() ? p.grad().detach().to(torch::kCPU).clone() : torch::zeros_like(p).to(torch::kCPU);
    auto flat = p.data().view(-1);
    auto aflat = analytic.view(-1);
    for (std::int64_t i = 0; i < flat.numel(); ++i) {
      torch::NoGradGuard ng;
      const double orig = flat[i].item<double>();
      flat[i] = orig + eps;
      const double up = f().item<double>();
      flat[i] = orig - eps;
      const double down = f().item<double>();
      flat[i] = orig;
      const double numeric = (up - down) / (2 * eps);
      const double a = aflat[i].item<double>();
      worst = std::max(worst, std::abs(a - numeric) / std::max(1.0, std::abs(numeric)));
    }
  }
  return worst;
}

}  // namespace pesuite::test
