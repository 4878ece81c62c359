// Loads a converted CLIP checkpoint strictly (vision/clip.h load_clip) and compares its image and
// text embeddings with a reference file written by tests/python/clip_convert_test.py.
//   clip_convert_check CONVERTED.safetensors REFERENCE.safetensors PRESET|-
// With a preset name, the architecture read from the file must also be that preset's.
// Exit 0 when every embedding is within 1e-4 (relative to the largest reference value), 1 if not,
// 2 on an input error.
#include <cstdio>
#include <iostream>

#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/vision/clip.h"

using namespace pesuite;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: clip_convert_check CONVERTED REFERENCE PRESET|-\n";
    return 2;
  }
  try {
    vision::Clip model = vision::load_clip(argv[1]);
    model->eval();
    torch::NoGradGuard no_grad;
    if (std::string(argv[3]) != "-" &&
        vision::clip_metadata(model->options) != vision::clip_metadata(vision::clip_preset(argv[3]))) {
      std::cerr << argv[1] << ": the architecture read from the file is not " << argv[3] << "'s\n";
      return 1;
    }
    auto ref = core::load_safetensors(argv[2]).tensors;
    auto image = model->encode_image(ref.at("images"));
    auto text = model->encode_text(ref.at("tokens"));
    bool ok = true;
    for (const auto& [name, got] : {std::pair<std::string, torch::Tensor>{"image_embeds", image}, {"text_embeds", text}}) {
      const auto& want = ref.at(name);
      const double scale = std::max(1.0, want.abs().max().item<double>());
      const double err = (got.to(torch::kFloat64) - want.to(torch::kFloat64)).abs().max().item<double>() / scale;
      std::printf("%s: %s max relative difference %.3g over %s\n", argv[1], name.c_str(), err, c10::str(want.sizes()).c_str());
      ok = ok && got.sizes() == want.sizes() && err <= 1e-4;
    }
    return ok ? 0 : 1;
  } catch (const pesuite::core::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
