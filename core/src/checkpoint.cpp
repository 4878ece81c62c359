#include "pesuite/core/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <sstream>

#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/core/torch_compat.h"

// What repeats where (docs/reproducibility.md): the checkpoint holds torch's CPU generator and the
// generator of every CUDA device ("rng.cuda.<i>"), so that a resumed run starts from the same state
// on any device; on CPU it then continues bit for bit. On CUDA kernels that add with atomics
// (index_add_ / scatter in the GNN aggregations, some cuDNN / cuBLAS paths) sum in a varying order,
// so a CUDA run, resumed or not, repeats only up to float rounding.
namespace pesuite::core {
namespace {

using torch::optim::AdamWOptions;
using torch::optim::AdamWParamState;

torch::Tensor cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cpu_rng_state(const torch::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

}  // namespace

void save_checkpoint(const std::string& path, const torch::nn::Module& model, torch::optim::AdamW& optimizer,
                     const LrSchedule& schedule, const TrainState& state, const std::mt19937_64& data_rng) {
  core::TensorMap tensors;
  for (const auto& [name, t] : core::module_state(model)) tensors["model." + name] = t;
  auto& opt_state = optimizer.state();
  for (const auto& p : model.named_parameters(true)) {
    auto it = opt_state.find(core::optimizer_state_key(p.value()));
    if (it == opt_state.end()) continue;  // not stepped yet
    const auto& s = static_cast<const AdamWParamState&>(*it->second);
    const std::string prefix = "optim." + p.key() + ".";
    tensors[prefix + "exp_avg"] = s.exp_avg();
    tensors[prefix + "exp_avg_sq"] = s.exp_avg_sq();
    if (s.max_exp_avg_sq().defined()) tensors[prefix + "max_exp_avg_sq"] = s.max_exp_avg_sq();
    tensors[prefix + "step"] = torch::tensor(s.step(), torch::kInt64);
  }
  tensors["rng.cpu"] = cpu_rng_state();
  // Every CUDA device's generator ("rng.cuda.<i>"), so that dropout resumes on whichever device(s)
  // the run used, not only cuda:0.
  if (torch::cuda::is_available())
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(torch::cuda::device_count()); ++i) {
      auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)));
      std::lock_guard<std::mutex> lock(gen.mutex());
      tensors["rng.cuda." + std::to_string(i)] = gen.get_state();
    }
  std::ostringstream rng;
  rng << data_rng;
  core::Metadata meta;
  meta["format"] = "pesuite-checkpoint-1";
  meta["step"] = std::to_string(state.step);
  meta["epoch"] = std::to_string(state.epoch);
  meta["best"] = nlohmann::json(state.best).dump();
  meta["best_step"] = std::to_string(state.best_step);
  meta["extra"] = state.extra.dump();
  meta["schedule"] = schedule.state().dump();
  meta["data_rng"] = rng.str();
  meta["lr"] = nlohmann::json(static_cast<AdamWOptions&>(optimizer.param_groups()[0].options()).lr()).dump();
  core::save_safetensors(path, tensors, meta);
}

TrainState load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::AdamW& optimizer,
                           LrSchedule& schedule, std::mt19937_64& data_rng) {
  const auto file = core::load_safetensors(path);
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    if (it == file.metadata.end()) throw InputError(path + ": not a pesuite checkpoint (no '" + key + "' in metadata)");
    return it->second;
  };
  if (meta("format") != "pesuite-checkpoint-1") throw InputError(path + ": unknown checkpoint format '" + meta("format") + "'");

  core::TensorMap model_state;
  for (const auto& [name, t] : file.tensors)
    if (name.rfind("model.", 0) == 0) model_state[name.substr(6)] = t;
  core::load_module_state(model, model_state, path);

  auto& opt_state = optimizer.state();
  opt_state.clear();
  torch::NoGradGuard no_grad;
  for (const auto& p : model.named_parameters(true)) {
    const std::string prefix = "optim." + p.key() + ".";
    auto avg = file.tensors.find(prefix + "exp_avg");
    if (avg == file.tensors.end()) continue;
    auto sq = file.tensors.find(prefix + "exp_avg_sq");
    auto step = file.tensors.find(prefix + "step");
    if (sq == file.tensors.end() || step == file.tensors.end())
      throw InputError(path + ": optimiser state of '" + p.key() + "' is incomplete");
    auto s = std::make_unique<AdamWParamState>();
    const auto dev = p.value().device();
    s->exp_avg(avg->second.to(dev).clone());
    s->exp_avg_sq(sq->second.to(dev).clone());
    if (auto mx = file.tensors.find(prefix + "max_exp_avg_sq"); mx != file.tensors.end())
      s->max_exp_avg_sq(mx->second.to(dev).clone());
    s->step(step->second.item<std::int64_t>());
    opt_state[core::optimizer_state_key(p.value())] = std::move(s);
  }
  try {
    schedule.load_state(nlohmann::json::parse(meta("schedule")), path);
    const double lr = nlohmann::json::parse(meta("lr")).get<double>();
    for (auto& g : optimizer.param_groups()) static_cast<AdamWOptions&>(g.options()).lr(lr);
    TrainState st;
    st.step = std::stoll(meta("step"));
    st.epoch = std::stoll(meta("epoch"));
    const auto best = nlohmann::json::parse(meta("best"));
    st.best = best.is_null() ? std::numeric_limits<double>::quiet_NaN() : best.get<double>();
    st.best_step = std::stoll(meta("best_step"));
    st.extra = nlohmann::json::parse(meta("extra"));
    std::istringstream rng(meta("data_rng"));
    rng >> data_rng;
    if (rng.fail()) throw InputError(path + ": bad data_rng state");
    if (auto it = file.tensors.find("rng.cpu"); it != file.tensors.end()) set_cpu_rng_state(it->second);
    if (torch::cuda::is_available())
      for (std::int64_t i = 0; i < static_cast<std::int64_t>(torch::cuda::device_count()); ++i) {
        auto it = file.tensors.find("rng.cuda." + std::to_string(i));
        if (it == file.tensors.end() && i == 0) it = file.tensors.find("rng.cuda");  // checkpoints before every device's
        if (it == file.tensors.end()) continue;  // saved on a machine with fewer devices
        auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)));
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(it->second);
      }
    return st;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": bad checkpoint metadata: " + e.what());
  } catch (const std::invalid_argument&) {
    throw InputError(path + ": bad checkpoint metadata (step/epoch)");
  }
}

}  // namespace pesuite::core
