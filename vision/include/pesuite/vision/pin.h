#pragma once
// PIN, the positional insert (Dorkenwald et al., CVPR 2024), and the adapters of its baselines:
// what a frozen VLM (vlm.h) sees of an image when it is asked where an object is.
//
//   using namespace pesuite::vision;
//   Vlm vlm = load_vlm("vlm.safetensors");                           // frozen
//   auto pin = make_adapter("pin", vlm);                            // or raw | vpt | lora
//   auto media = pin->media(vlm, images);                           // [B, latents, Dv]
//   auto logits = vlm->lm_logits(ids, media.unsqueeze(1));
//   trained_parameters(*pin);                                       // what training touches
//
// PIN as the paper's code builds it: a fixed 2D sinusoidal table over the vision-token grid (64
// channels: 32 for the row, 32 for the column, heads::SinCosPE's MAE layout), an MLP
// 64 -> 512 -> 768 -> d_vision with SiLU then LayerNorm after each hidden layer, its output added
// to every output token of the vision encoder before the resampler. Input-independent: one
// [h*w, d_vision] tensor for every image.
// VPT (Jia et al. 2022, shallow): `prompts` learnable tokens inserted after the class token at the
// vision transformer's input (uniform init in +-sqrt(6 / (3 patch^2 + d)), as VPT's code).
// LoRA (Hu et al. 2022) on the vision encoder's attention: W_q += (alpha / r) B_q A_q and the
// same for W_v in every layer, A ~ N(0, 1 / r)-scaled Kaiming, B = 0 (so training starts from the
// frozen model exactly).
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "pesuite/vision/vlm.h"

namespace pesuite::vision {

class PinImpl : public torch::nn::Module {
 public:
  PinImpl(std::int64_t grid_h, std::int64_t grid_w, std::int64_t vision_width, std::int64_t channels = 64, std::int64_t hidden1 = 512,
          std::int64_t hidden2 = 768);
  torch::Tensor forward();  // [grid_h * grid_w, vision_width]
  torch::Tensor table;      // buffer [h*w, channels], the sinusoidal input
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
};
TORCH_MODULE(Pin);

class LocalisationAdapter : public torch::nn::Module {
 public:
  // [B, latents, Dv]: the resampler's output the LM reads for these images.
  virtual torch::Tensor media(Vlm& vlm, const torch::Tensor& images) = 0;
  virtual std::string name() const = 0;
};

// raw (nothing added), pin, vpt (prompts = VPT tokens), lora (rank, alpha), full (not the paper's:
// the VLM itself as the adapter, every weight trained; a ceiling). InputError naming the method
// otherwise.
struct AdapterOptions {
  std::int64_t prompts = 8;        // vpt
  std::int64_t rank = 4;           // lora
  double alpha = 8.0;              // lora
  std::int64_t pin_channels = 64;  // pin: the sinusoidal table's width and the MLP's hidden widths
  std::int64_t pin_hidden1 = 512, pin_hidden2 = 768;
};
std::shared_ptr<LocalisationAdapter> make_adapter(const std::string& method, const Vlm& vlm, const AdapterOptions& options = {});

// Trainable parameters (requires_grad) of a module, in scalars.
std::int64_t trained_parameters(const torch::nn::Module& module);

}  // namespace pesuite::vision
