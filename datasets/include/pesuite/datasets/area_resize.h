#pragma once
// Shrinking interleaved images with the area (box) filter, bit for bit as OpenCV's
// cv::resize(..., INTER_AREA) computes it on x86-64 (so the scenes: object bank is the same file
// whether it was built with OpenCV or without): integer factors average whole blocks (OpenCV's
// "area fast" path), other factors weigh every source pixel by the share of it a destination
// pixel covers (its computeResizeAreaTab / ResizeArea_Invoker), summed in float. Only shrinking
// (dst <= src on both sides); an unchanged size is a copy.
//
//   std::vector<float> small = pesuite::datasets::area_resize(rgba.data(), 300, 200, 4, 96, 64);
//   std::vector<std::uint8_t> photo = pesuite::datasets::area_resize(rgb.data(), 512, 512, 3, 256, 256);
#include <cstdint>
#include <vector>

namespace pesuite::datasets {

// src: h x w x cn, row-major; returns dh x dw x cn. std::invalid_argument when dw > w, dh > h,
// a side is < 1, or cn is not 1..4.
std::vector<float> area_resize(const float* src, int w, int h, int cn, int dw, int dh);
// uint8: sums in float (int for integer factors), rounded to nearest (ties to even), saturated;
// 2 x 2 blocks round ties up, as OpenCV's SIMD path does.
std::vector<std::uint8_t> area_resize(const std::uint8_t* src, int w, int h, int cn, int dw, int dh);

}  // namespace pesuite::datasets
