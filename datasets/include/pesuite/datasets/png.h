#pragma once
// PNG in and out through libpng, for the parts of pesuite::datasets that must run without OpenCV
// (the face renderer's texture, its backgrounds, test fixtures). Any bit depth / colour type is
// read as 8-bit RGB (alpha dropped, grey expanded). Errors are InputErrors naming the file.
//
//   pesuite::datasets::RgbImage tex = pesuite::datasets::read_png_rgb("face-mesh/uv_face.png");
//   pesuite::datasets::write_png_rgb("out.png", tex);   // atomic: temporary + rename
#include <string>

#include "pesuite/datasets/rgb_image.h"

namespace pesuite::datasets {

RgbImage read_png_rgb(const std::string& path);
void write_png_rgb(const std::string& path, const RgbImage& image);

}  // namespace pesuite::datasets
