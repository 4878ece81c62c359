#pragma once
// IDX files (MNIST, Fashion-MNIST; gzipped or not): big-endian magic 0x0000 08 <ndim> (08 = u8),
// then ndim big-endian u32 sizes, then the data.
//
//   auto set = pesuite::datasets::load_idx_dataset(
//       pesuite::datasets::parse_spec("idx:/usr/share/datasets/fashion-mnist?split=train&limit=6000"));
//   set.images;   // uint8 [N, 28, 28]
//   set.labels;   // int64 [N]
#include <torch/torch.h>

#include <string>
#include <vector>

#include "pesuite/datasets/spec.h"

namespace pesuite::datasets {

struct ImageClassificationSet {
  torch::Tensor images;  // uint8 [N, H, W] (grey) or [N, H, W, C]
  torch::Tensor labels;  // int64 [N], or float [N, K] multi-hot for multi-label sets (scenes:)
  std::vector<std::string> classes;
  std::string source;
};

// One IDX file as a uint8 tensor of its dimensions. InputError naming the file for a wrong magic,
// an unsupported element type or a size that does not match the data.
torch::Tensor read_idx(const std::string& path);

// The `idx:` format: <folder>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
ImageClassificationSet load_idx_dataset(const DatasetSpec& spec);

}  // namespace pesuite::datasets
