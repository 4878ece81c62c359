#pragma once
// What `pesuite vision attention` writes for one image: the class-token attention of every head in
// every layer (maps over the patch grid, entropy, mean attention distance) and the positional
// encoding's cosine-similarity maps, as attention.safetensors + summary.json, and as PNG figures
// when the build has OpenCV (render.h). Also the image input side: a PNG / JPEG file or an item of a
// dataset spec, normalised as the model was trained.
//
//   vision::ViT model = vision::load_classifier(cfg, "run/ckpt/last.safetensors", device);
//   std::string label;
//   torch::Tensor x = vision::load_input_image("cat.png", 0, cfg, model->options.in_chans(), label);
//   auto files = vision::write_attention_report(model, x, "out/", {"run/ckpt/last.safetensors", "cat.png", label});
#include <torch/torch.h>

#include <string>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/vision/vit.h"

namespace pesuite::vision {

// [1, C, H, W] normalised with the config's data.mean / data.std: a PNG / JPEG / BMP file (needs
// OpenCV), or item `index` of a dataset spec held in memory (idx:, cifar10:, ...). `label` is set
// to the file name or the item's class name.
torch::Tensor load_input_image(const std::string& image, std::int64_t index, const core::Config& cfg, std::int64_t channels,
                               std::string& label);

struct AttentionReportInfo {
  std::string checkpoint, image, label;
  std::string pe;  // the model's pe spec, for the summary
};

// One forward pass of `model` on `x` ([1, C, S, S]) with attention captured; writes the files into
// `out_dir` and returns their paths (PNG figures only with OpenCV; summary.json says when skipped).
std::vector<std::string> write_attention_report(ViT& model, const torch::Tensor& x, const std::string& out_dir,
                                                const AttentionReportInfo& info);

}  // namespace pesuite::vision
