// PIN and the baselines' adapters (pin.h).
#include "pesuite/vision/pin.h"

#include <cmath>
#include <vector>

#include "pesuite/core/error.h"
#include "pesuite/heads/absolute_pe.h"

namespace pesuite::vision {

PinImpl::PinImpl(std::int64_t gh, std::int64_t gw, std::int64_t width, std::int64_t channels, std::int64_t hidden1, std::int64_t hidden2) {
  if (gh <= 0 || gw <= 0 || width <= 0 || channels <= 0 || channels % 4 || hidden1 <= 0 || hidden2 <= 0)
    throw core::InputError("pin: grid, width and hidden sizes must be positive and the channels a multiple of 4");
  heads::SinCosPE sincos(heads::SinCosPEOptions(channels).two_d(true));
  table = register_buffer("table", sincos->embedding(gh * gw, heads::TokenLayout::grid(gh, gw), torch::TensorOptions().dtype(torch::kFloat32)));
  fc1 = register_module("fc1", torch::nn::Linear(channels, hidden1));
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden1})));
  fc2 = register_module("fc2", torch::nn::Linear(hidden1, hidden2));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden2})));
  fc3 = register_module("fc3", torch::nn::Linear(hidden2, width));
}

torch::Tensor PinImpl::forward() {
  auto h = ln1(torch::silu(fc1(table)));
  h = ln2(torch::silu(fc2(h)));
  return fc3(h);
}

namespace {

class RawAdapter : public LocalisationAdapter {
 public:
  torch::Tensor media(Vlm& vlm, const torch::Tensor& images) override { return vlm->resample(vlm->vision_tokens(images)); }
  std::string name() const override { return "raw"; }
};

class PinAdapter : public LocalisationAdapter {
 public:
  PinAdapter(const Vlm& vlm, const AdapterOptions& o) {
    const auto g = vlm->options.grid();
    pin = register_module("pin", Pin(g, g, vlm->options.vision_width(), o.pin_channels, o.pin_hidden1, o.pin_hidden2));
  }
  torch::Tensor media(Vlm& vlm, const torch::Tensor& images) override {
    return vlm->resample(vlm->vision_tokens(images) + pin->forward().unsqueeze(0));
  }
  std::string name() const override { return "pin"; }
  Pin pin{nullptr};
};

class VptAdapter : public LocalisationAdapter {
 public:
  VptAdapter(const Vlm& vlm, const AdapterOptions& o) {
    if (o.prompts <= 0) throw core::InputError("vpt: prompts must be positive");
    const auto D = vlm->options.vision_width(), p = vlm->options.patch_size();
    const double bound = std::sqrt(6.0 / static_cast<double>(3 * p * p + D));
    prompts = register_parameter("prompts", torch::empty({o.prompts, D}).uniform_(-bound, bound));
  }
  torch::Tensor media(Vlm& vlm, const torch::Tensor& images) override { return vlm->resample(vlm->vision_tokens(images, prompts)); }
  std::string name() const override { return "vpt"; }
  torch::Tensor prompts;
};

// Not a method of the paper: the whole VLM trained on the answers (vision tower, resampler, LM),
// the ceiling of what these data and this decoding allow; `full` in `vlm pin`'s method key.
class FullAdapter : public LocalisationAdapter {
 public:
  explicit FullAdapter(const Vlm& vlm) { register_module("vlm", vlm.ptr()); }
  torch::Tensor media(Vlm& vlm, const torch::Tensor& images) override { return vlm->resample(vlm->vision_tokens(images)); }
  std::string name() const override { return "full"; }
};

// The deltas are added to the attention layers' in_proj_weight for the duration of one forward
// (the frozen weights come back afterwards, also when it throws), so ClipAttention stays as it is.
class LoraAdapter : public LocalisationAdapter {
 public:
  LoraAdapter(const Vlm& vlm, const AdapterOptions& o) : scale_(o.alpha / static_cast<double>(o.rank)) {
    if (o.rank <= 0) throw core::InputError("lora: rank must be positive");
    const auto D = vlm->options.vision_width();
    for (std::int64_t i = 0; i < vlm->options.vision_layers(); ++i)
      for (const char* which : {"q", "v"}) {
        const auto key = std::to_string(i) + "_" + which;
        auto a = torch::empty({o.rank, D});
        torch::nn::init::kaiming_uniform_(a, std::sqrt(5.0));  // as loralib / PEFT
        a_.push_back(register_parameter("A_" + key, a));
        b_.push_back(register_parameter("B_" + key, torch::zeros({D, o.rank})));
      }
  }
  torch::Tensor media(Vlm& vlm, const torch::Tensor& images) override {
    auto layers = vlm->visual->attention_layers();
    std::vector<torch::Tensor> saved;
    for (auto& l : layers) saved.push_back(l->in_proj_weight);
    struct Restore {
      std::vector<ClipAttention>& layers;
      std::vector<torch::Tensor>& saved;
      ~Restore() {
        for (std::size_t i = 0; i < layers.size(); ++i) layers[i]->in_proj_weight = saved[i];
      }
    } restore{layers, saved};
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const auto D = saved[i].size(1);
      auto dq = torch::matmul(b_[2 * i], a_[2 * i]) * scale_, dv = torch::matmul(b_[2 * i + 1], a_[2 * i + 1]) * scale_;
      layers[i]->in_proj_weight = saved[i] + torch::cat({dq, torch::zeros({D, D}, dq.options()), dv}, 0);
    }
    return vlm->resample(vlm->vision_tokens(images));
  }
  std::string name() const override { return "lora"; }

 private:
  double scale_;
  std::vector<torch::Tensor> a_, b_;
};

}  // namespace

std::shared_ptr<LocalisationAdapter> make_adapter(const std::string& method, const Vlm& vlm, const AdapterOptions& o) {
  if (method == "raw") return std::make_shared<RawAdapter>();
  if (method == "pin") return std::make_shared<PinAdapter>(vlm, o);
  if (method == "vpt") return std::make_shared<VptAdapter>(vlm, o);
  if (method == "lora") return std::make_shared<LoraAdapter>(vlm, o);
  if (method == "full") return std::make_shared<FullAdapter>(vlm);
  throw core::InputError("localisation adapter '" + method + "' is unknown (valid: raw, pin, vpt, lora, full)");
}

std::int64_t trained_parameters(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace pesuite::vision
