#pragma once
// Decoding image files with OpenCV (pesuite::imageio). Every failure is an InputError naming the
// file: missing, unreadable, not an image, or a JPEG cut short (libjpeg only warns about those and
// hands back a half-grey picture, so truncation is checked here before decoding).
//
//   cv::Mat rgb = pesuite::imageio::decode_image("/data/VOC2012/JPEGImages/2007_000027.jpg");  // CV_8UC3, RGB
//   cv::Mat px = pesuite::imageio::image_at(cifar_set, 7);  // one image of an in-memory set, no copy
#include <opencv2/core.hpp>

#include <string>

#include "pesuite/datasets/idx.h"

namespace pesuite::imageio {

// 3-channel RGB uint8 (grey and RGBA files are converted; 16-bit files scaled to 8 bits).
cv::Mat decode_image(const std::string& path);

// Same, from bytes already in memory; `name` is what errors call them.
cv::Mat decode_image_bytes(const std::string& bytes, const std::string& name);

// Image i of an IDX / CIFAR set ([N,H,W] grey or [N,H,W,C]) as a Mat viewing the tensor's memory.
cv::Mat image_at(const datasets::ImageClassificationSet& set, std::int64_t i);

}  // namespace pesuite::imageio
