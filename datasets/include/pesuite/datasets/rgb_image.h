#pragma once
// An 8-bit RGB image in plain memory (row-major, 3 bytes per pixel, no padding): what the face
// renderer produces and pesuite/datasets/png.h reads and writes, with no OpenCV needed. (With
// OpenCV: cv::Mat(h, w, CV_8UC3, img.pixels.data()) views it, channels in RGB order.)
//
//   pesuite::datasets::RgbImage img(64, 48);
//   img.at(10, 20)[0] = 255;   // row 10, column 20, red
#include <cstdint>
#include <vector>

namespace pesuite::datasets {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<std::uint8_t> pixels;  // height * width * 3

  RgbImage() = default;
  RgbImage(int w, int h, std::uint8_t value = 0) : width(w), height(h), pixels(static_cast<std::size_t>(w) * h * 3, value) {}
  std::uint8_t* at(int row, int col) { return pixels.data() + (static_cast<std::size_t>(row) * width + col) * 3; }
  const std::uint8_t* at(int row, int col) const { return pixels.data() + (static_cast<std::size_t>(row) * width + col) * 3; }
  bool operator==(const RgbImage& o) const { return width == o.width && height == o.height && pixels == o.pixels; }
  bool operator!=(const RgbImage& o) const { return !(*this == o); }
};

}  // namespace pesuite::datasets
