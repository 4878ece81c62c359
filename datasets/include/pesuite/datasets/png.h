#pragma once
// PNG in and out through libpng, for the parts of pesuite::datasets that must run without OpenCV
// (the face renderer's texture, its backgrounds, the scenes: object bank, test fixtures). Errors
// are InputErrors naming the file.
//
//   pesuite::datasets::RgbImage tex = pesuite::datasets::read_png_rgb("face-mesh/uv_face.png");
//   pesuite::datasets::write_png_rgb("out.png", tex);   // atomic: temporary + rename
//
//   // 8-bit pixels as OpenCV's imdecode gives them (no gamma or colour-profile processing):
//   pesuite::datasets::PngPixels p = pesuite::datasets::decode_png(bytes, "a.png", /*keep_alpha=*/true);
//   p.channels;   // 4 when the PNG has alpha (an alpha channel, or tRNS on RGB / palette), else 3
#include <cstdint>
#include <string>
#include <vector>

#include "pesuite/datasets/rgb_image.h"

namespace pesuite::datasets {

// read_png_rgb: any bit depth / colour type as 8-bit RGB through libpng's simplified API (alpha
// dropped, grey expanded, 16-bit data taken as linear and converted to sRGB, as that API does).
RgbImage read_png_rgb(const std::string& path);
void write_png_rgb(const std::string& path, const RgbImage& image);
// RGBA, straight alpha: `rgba` holds width * height * 4 bytes.
void write_png_rgba(const std::string& path, int width, int height, const std::vector<std::uint8_t>& rgba);

// Interleaved 8-bit pixels, row-major, RGB or RGBA order.
struct PngPixels {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> data;
};

// Decodes PNG bytes with libpng's low-level API to what OpenCV's imdecode gives (channels in RGB
// order): palette and grey expanded to RGB, no gamma or ICC processing (iCCP chunks are ignored).
// keep_alpha = true is IMREAD_UNCHANGED: RGBA when the PNG has an alpha channel or a tRNS chunk
// on an RGB or palette image, RGB otherwise (grey + tRNS gives RGB, as OpenCV's one channel);
// 16-bit samples become round(v / 257). keep_alpha = false is IMREAD_COLOR: RGB, alpha dropped
// (not composited), 16-bit samples keep their high byte. InputError naming `name` when the bytes
// are not a PNG, are damaged, or the image has more than max_pixels pixels.
PngPixels decode_png(const std::string& bytes, const std::string& name, bool keep_alpha,
                     std::uint64_t max_pixels = 0 /* 0: no limit */);

}  // namespace pesuite::datasets
