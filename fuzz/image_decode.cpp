// Image decoding through OpenCV with our truncation checks (datasets/src/imageio/decode.cpp).
#include "fuzz_util.h"
#include "pesuite/imageio/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const std::string bytes(reinterpret_cast<const char*>(d), n);
  pesuite::fuzz::expect_input_errors([&] {
    const cv::Mat m = pesuite::imageio::decode_image_bytes(bytes, "fuzz.img");
    if (m.type() != CV_8UC3) __builtin_trap();
  });
  return 0;
}
