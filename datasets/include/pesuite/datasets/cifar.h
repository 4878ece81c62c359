#pragma once
// CIFAR-10 / CIFAR-100 "binary version" batches, read as the authors wrote them:
//   cifar-10:  data_batch_1..5.bin (train), test_batch.bin; each record = 1 label byte + 3072 pixel bytes
//   cifar-100: train.bin, test.bin; each record = 1 coarse byte + 1 fine byte + 3072 pixel bytes
// Pixels are 1024 R, then 1024 G, then 1024 B, each plane row-major 32x32. Class names come from
// batches.meta.txt (10) or {fine,coarse}_label_names.txt (100) when present, else "0", "1", ...
// The path may be the batch folder or the folder holding cifar-10-batches-bin / cifar-100-binary.
//
//   auto set = pesuite::datasets::load_cifar_dataset(
//       pesuite::datasets::parse_spec("cifar100:/data/cifar-100-binary?split=test&labels=coarse"));
//   set.images;   // uint8 [N, 32, 32, 3] (HWC, RGB)
//   set.labels;   // int64 [N]
#include "pesuite/datasets/idx.h"

namespace pesuite::datasets {

// Formats cifar10: and cifar100:. A file whose size is not a whole number of records, or a label
// byte out of range, is an InputError naming the file and the record.
ImageClassificationSet load_cifar_dataset(const DatasetSpec& spec);

}  // namespace pesuite::datasets
