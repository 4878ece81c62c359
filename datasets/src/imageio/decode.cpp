#include "pesuite/imageio/decode.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::imageio {

namespace {

// A JPEG ends with the EOI marker FF D9. Writers may pad a few bytes after it, so it is looked for
// in the last 4 KiB only: an EXIF thumbnail's own EOI sits near the start of a large file and must
// not make a truncated file look complete.
bool jpeg_complete(const std::string& b) {
  const std::size_t from = b.size() > 4096 ? b.size() - 4096 : 2;
  for (std::size_t i = b.size(); i-- > from;)
    if (static_cast<unsigned char>(b[i - 1]) == 0xFF && static_cast<unsigned char>(b[i]) == 0xD9) return true;
  return false;
}

}  // namespace

cv::Mat decode_image_bytes(const std::string& bytes, const std::string& name) {
  if (bytes.empty()) throw core::InputError(name + ": empty file, not an image");
  const bool jpeg = bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
                    static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF;
  if (jpeg && !jpeg_complete(bytes)) throw core::InputError(name + ": truncated JPEG (no end-of-image marker)");
  cv::Mat img;
  try {
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
    // Stored orientation, as PIL's Image.open reads it and as annotations (boxes, masks,
    // landmarks) are given: an EXIF orientation tag is not applied.
    img = cv::imdecode(buf, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    throw core::InputError(name + ": cannot decode image: " + e.what());
  }
  if (img.empty()) throw core::InputError(name + ": cannot decode image (corrupt, or not a format OpenCV reads)");
  cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
  return img;
}

cv::Mat decode_image(const std::string& path) { return decode_image_bytes(core::read_file(path), path); }

cv::Mat image_at(const datasets::ImageClassificationSet& set, std::int64_t i) {
  const auto& t = set.images;
  if (i < 0 || i >= t.size(0)) throw core::InputError(set.source + ": image index " + std::to_string(i) + " out of range");
  const int h = static_cast<int>(t.size(1)), w = static_cast<int>(t.size(2));
  const int c = t.dim() == 4 ? static_cast<int>(t.size(3)) : 1;
  auto* p = t.data_ptr<std::uint8_t>() + i * static_cast<std::int64_t>(h) * w * c;
  return cv::Mat(h, w, CV_8UC(c), p);
}

}  // namespace pesuite::imageio
