#pragma once
// Drawing head poses with OpenCV (pesuite::imageio): the pose axes as Hopenet draws them, the
// landmarks and the box, and the contact sheet of `pesuite data inspect facesynth:?... --sheet`.
// Also facesynth: with JPEG background photos (the datasets-only make_facesynth reads PNG ones).
//
//   auto synth = pesuite::imageio::make_facesynth(pesuite::datasets::parse_spec("facesynth:?n=64&seed=0"));
//   pesuite::imageio::write_facesynth_sheet(synth, 64, "sheet.png");        // 8 x 8 tiles, axes drawn
//   cv::Mat img = ...;   // BGR, as cv::imread gives it
//   pesuite::imageio::draw_pose_axes(img, {30, -10, 5}, cx, cy, 60);        // red x, green y (down), blue z
#include <opencv2/core.hpp>

#include <string>

#include "pesuite/datasets/facesynth.h"

namespace pesuite::imageio {

// Hopenet's utils.draw_axis in pesuite's convention (euler.h): from (cx, cy) (1-based pixels, as
// the labels), the projections of the head's x axis (red), -y axis (green, pointing down the face)
// and z axis (blue, out of the face), `size` pixels long. BGR or RGB image, 3 channels: `rgb`
// says which, so red stays red.
void draw_pose_axes(cv::Mat& image, const datasets::EulerAngles& pose, double cx, double cy, double size, bool rgb = false);

// A rendered sample as BGR with its axes (at the landmarks' centroid), landmarks and box drawn.
cv::Mat annotated_sample(const datasets::FaceSample& sample);

// The first `count` samples (rendered in parallel) tiled `columns` per row (0: a square-ish grid),
// each with its axes, landmarks, box and "yaw pitch roll" text; written as PNG through a temporary
// and a rename. InputError when the file cannot be written.
void write_facesynth_sheet(const datasets::FaceSynth& synth, std::int64_t count, const std::string& path, int columns = 0);

// Every .png / .jpg / .jpeg under a folder (sorted, recursive; at most max_images), decoded to RGB.
std::vector<datasets::RgbImage> load_background_photos(const std::string& dir, std::size_t max_images = 256);
// datasets::make_facesynth, with backgrounds= read by load_background_photos (JPEG included).
datasets::FaceSynth make_facesynth(const datasets::DatasetSpec& spec);

}  // namespace pesuite::imageio
