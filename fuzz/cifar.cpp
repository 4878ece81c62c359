// CIFAR-10 binary batches (datasets/src/cifar.cpp): the input is test_batch.bin.
#include "fuzz_util.h"
#include "pesuite/datasets/cifar.h"
#include "pesuite/datasets/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  pesuite::fuzz::write_file("cifar/test_batch.bin", d, n);
  pesuite::fuzz::expect_input_errors([&] {
    pesuite::datasets::load_cifar_dataset(pesuite::datasets::parse_spec("cifar10:" + pesuite::fuzz::scratch() + "/cifar?split=test"));
  });
  return 0;
}
