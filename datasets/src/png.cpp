// PNG through libpng's simplified API (png_image, libpng >= 1.6).
#include "pesuite/datasets/png.h"

#include <png.h>

#include <cstring>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

RgbImage read_png_rgb(const std::string& path) {
  const std::string bytes = core::read_file(path);  // core::InputError when missing
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    throw core::InputError(path + ": not a readable PNG (" + image.message + ")");
  image.format = PNG_FORMAT_RGB;
  RgbImage out(static_cast<int>(image.width), static_cast<int>(image.height));
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) {
    const std::string why = image.message;
    png_image_free(&image);
    throw core::InputError(path + ": PNG data cannot be decoded (" + why + ")");
  }
  return out;
}

void write_png_rgb(const std::string& path, const RgbImage& img) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(img.width);
  image.height = static_cast<png_uint_32>(img.height);
  image.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, img.pixels.data(), 0, nullptr))
    throw core::InputError(path + ": cannot encode PNG (" + std::string(image.message) + ")");
  std::string buf(size, '\0');
  if (!png_image_write_to_memory(&image, buf.data(), &size, 0, img.pixels.data(), 0, nullptr))
    throw core::InputError(path + ": cannot encode PNG (" + std::string(image.message) + ")");
  buf.resize(size);
  core::write_file_atomic(path, buf);
}

}  // namespace pesuite::datasets
