// PNG through libpng: the simplified API (png_image, libpng >= 1.6) for plain RGB in and out, the
// low-level one for decode_png (OpenCV's transforms, no colour processing).
#include "pesuite/datasets/png.h"

#include <png.h>

#include <csetjmp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <algorithm>

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

void write_png_rgba(const std::string& path, int width, int height, const std::vector<std::uint8_t>& rgba) {
  if (width < 1 || height < 1 || rgba.size() != static_cast<std::size_t>(width) * height * 4)
    throw core::InputError(path + ": RGBA pixels must be width x height x 4 bytes");
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, rgba.data(), 0, nullptr))
    throw core::InputError(path + ": cannot encode PNG (" + std::string(image.message) + ")");
  std::string buf(size, '\0');
  if (!png_image_write_to_memory(&image, buf.data(), &size, 0, rgba.data(), 0, nullptr))
    throw core::InputError(path + ": cannot encode PNG (" + std::string(image.message) + ")");
  buf.resize(size);
  core::write_file_atomic(path, buf);
}

namespace {

struct Reader {
  const std::string* bytes = nullptr;
  std::size_t at = 0;
  char message[256] = {0};
};

void read_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<Reader*>(png_get_io_ptr(png));
  if (r->at + n > r->bytes->size()) png_error(png, "file ends inside the image data");
  std::memcpy(out, r->bytes->data() + r->at, n);
  r->at += n;
}

void on_error(png_structp png, png_const_charp msg) {
  auto* r = static_cast<Reader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof r->message, "%s", msg);
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}  // e.g. openclipart's broken sRGB profiles

// Reads the rows (after the transforms set by `setup`) into `rows_out`; returns false with
// reader.message set on a libpng error. No C++ object with a destructor is created between
// setjmp and a possible longjmp.
bool read_rows(png_structp png, png_infop info, std::vector<std::uint8_t>& out, std::vector<png_bytep>& rows, std::size_t row_bytes,
               png_uint_32 height) {
  if (setjmp(png_jmpbuf(png))) return false;
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = out.data() + y * row_bytes;
  png_read_image(png, rows.data());
  return true;
}

}  // namespace

PngPixels decode_png(const std::string& bytes, const std::string& name, bool keep_alpha, std::uint64_t max_pixels) {
  if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) != 0)
    throw core::InputError(name + ": not a PNG file");
  Reader reader;
  reader.bytes = &bytes;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, on_error, on_warning);
  if (!png) throw core::InputError(name + ": libpng cannot start");
  png_infop info = png_create_info_struct(png);
  png_set_read_fn(png, &reader, read_bytes);
  png_set_benign_errors(png, 1);
  // Colour profiles are not used: skip iCCP, so that a broken one does not stop the decoding.
  static const png_byte iccp[] = {'i', 'C', 'C', 'P', '\0'};
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, iccp, 1);
  PngPixels out;
  std::vector<std::uint8_t> raw;
  std::vector<png_bytep> rows;
  // Set between setjmp and a possible longjmp: volatile, so their values survive it.
  volatile bool ok = false, too_big = false, sixteen = false;
  volatile std::size_t row_bytes = 0;
  volatile png_uint_32 width = 0, height = 0;
  volatile int channels = 0;
  if (!setjmp(png_jmpbuf(png))) {
    png_read_info(png, info);
    width = png_get_image_width(png, info);
    height = png_get_image_height(png, info);
    const int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    too_big = max_pixels > 0 && static_cast<std::uint64_t>(width) * height > max_pixels;
    if (!too_big) {
      const bool trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
      const bool alpha = keep_alpha && ((type & PNG_COLOR_MASK_ALPHA) ||
                                        (trns && (type == PNG_COLOR_TYPE_RGB || type == PNG_COLOR_TYPE_PALETTE)));
      sixteen = depth == 16 && keep_alpha;  // IMREAD_UNCHANGED keeps 16 bits (scaled below); IMREAD_COLOR strips
      if (depth == 16 && !keep_alpha) png_set_strip_16(png);
      if (!alpha) png_set_strip_alpha(png);
      else png_set_tRNS_to_alpha(png);
      if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
      if ((type & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
      if ((type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
      png_set_interlace_handling(png);
      png_read_update_info(png, info);
      channels = png_get_channels(png, info);
      row_bytes = png_get_rowbytes(png, info);
      ok = true;
    }
  }
  if (ok && !too_big) {
    if (channels != (keep_alpha && channels == 4 ? 4 : 3) || row_bytes != static_cast<std::size_t>(width) * channels * (sixteen ? 2 : 1)) {
      png_destroy_read_struct(&png, &info, nullptr);
      throw core::InputError(name + ": PNG layout libpng gives is not 8/16-bit RGB(A)");
    }
    raw.resize(row_bytes * height);
    rows.resize(height);
    ok = read_rows(png, info, raw, rows, row_bytes, height);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (too_big)
    throw core::InputError(name + ": " + std::to_string(static_cast<std::uint64_t>(width) * height / 1000000) +
                           " megapixels, over the limit of " + std::to_string(max_pixels / 1000000));
  if (!ok) throw core::InputError(name + ": PNG data cannot be decoded (" + reader.message + ")");
  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  out.channels = channels;
  if (!sixteen) {
    out.data = std::move(raw);
  } else {
    // As OpenCV's convertTo(CV_8U, 1 / 257.0): the sample times 1/257 in float, rounded.
    out.data.resize(raw.size() / 2);
    const float scale = static_cast<float>(1.0 / 257.0);
    for (std::size_t i = 0; i < out.data.size(); ++i) {
      const int v = (raw[2 * i] << 8) | raw[2 * i + 1];  // PNG samples are big-endian
      out.data[i] = static_cast<std::uint8_t>(std::min(255L, std::lrint(static_cast<float>(v) * scale)));
    }
  }
  return out;
}

}  // namespace pesuite::datasets
