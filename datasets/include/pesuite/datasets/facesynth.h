#pragma once
// facesynth: exactly-labelled head-pose images rendered from PRNet's textured mean face
// (face_mesh.h, face_render.h): sampled yaw / pitch / roll, a random Lambert + ambient light,
// random scale / shift, Gaussian blur and pixel noise, over procedural backgrounds (gradients,
// fractal noise, shapes, stripes) or, when given, background photos. The labels are the angles the
// image was rendered with (euler.h's convention, the one 300W-LP's labels use, so that a label
// means the same rotation in rendered and real data), the rotation matrix, the 68 projected
// landmarks and the face box (1-based pixel coordinates like 300W-LP's pt2d).
//
// Deterministic: sample i depends only on (seed, i); its scene (angles, light, background, blur)
// does not depend on the resolution either, so `size=64` and `size=224` show the same scene.
// The same build gives the same bytes on every run and with any number of threads.
//
//   using namespace pesuite::datasets;
//   FaceSynth synth = make_facesynth(parse_spec("facesynth:?n=1000&seed=0&size=128&full_range=1"));
//   FaceSample s = synth.sample(7);         // s.image (RgbImage), s.pose.yaw, s.rotation, s.landmarks
//   auto batch = synth.render_range(0, 64); // in parallel (TBB)
//   FaceSample label_only = synth.label(7); // everything but the pixels, no rendering
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pesuite/datasets/face_mesh.h"
#include "pesuite/datasets/face_render.h"
#include "pesuite/datasets/head_pose.h"
#include "pesuite/datasets/inspect.h"
#include "pesuite/datasets/rgb_image.h"
#include "pesuite/datasets/spec.h"

namespace pesuite::datasets {

struct FaceSynthOptions {
  std::int64_t n = 10000;  // samples
  std::uint64_t seed = 0;
  int width = 224, height = 224;
  std::array<double, 2> yaw{-90, 90}, pitch{-45, 45}, roll{-45, 45};  // uniform ranges, degrees
  bool full_range = false;               // yaw uniform over [-180, 180) instead of `yaw`
  std::array<double, 2> scale{0.45, 0.7};  // 68-landmark box (largest side, frontal) / min(width, height)
  double shift = 0.06;                   // face centre offset, up to this fraction of the size, each axis
  double light_angle = 75;               // light direction within this many degrees of the view axis
  std::array<double, 2> ambient{0.25, 0.6};  // ambient share; diffuse = 1 - ambient
  double blur = 0.006;                   // Gaussian blur sigma up to this fraction of min(width, height)
  double noise = 6;                      // pixel noise standard deviation up to this (0..255 scale)
  int supersample = 2;                   // anti-aliasing samples per pixel side
  // A head behind the face mask (an ellipsoid with hair colour, fitted to the mesh), so that views
  // from behind (|yaw| > 90) show a head rather than the background; on by default with full_range.
  bool head = false;
  std::shared_ptr<const std::vector<RgbImage>> photos;  // background photos (none: procedural only)
  double photo_probability = 0.5;        // share of photo backgrounds when photos are given
};

// Everything random about one sample, drawn from (seed, index) before any pixel.
struct FaceSynthParams {
  EulerAngles pose;
  double scale = 0.5;                 // as FaceSynthOptions::scale
  double shift_x = 0, shift_y = 0;    // fractions of width / height
  Lighting light;
  int background = 0;                 // 0 gradient, 1 fractal noise, 2 shapes, 3 stripes, 4 photo
  std::uint64_t background_seed = 0;  // the background's own random stream
  double blur = 0;                    // sigma, fraction of min(width, height)
  double noise = 0;                   // standard deviation, 0..255 scale
};

struct FaceSample {
  std::int64_t index = 0;
  RgbImage image;                  // width x height RGB (empty from label())
  EulerAngles pose;                // degrees: the label
  Matrix3 rotation{};              // rotation_from_euler(pose)
  std::vector<Point2> landmarks;   // the 68 projected points (occluded ones too), 1-based pixels
  FaceBox landmark_box;            // tight box of the 68 points
  FaceBox box;                     // loose_box(landmark_box, LooseCrop::hopenet_test()), as AFLW2000's
  FaceView view;                   // the projection used
  FaceSynthParams params;
};

class FaceSynth {
 public:
  FaceSynth(FaceSynthOptions options, std::shared_ptr<const FaceMesh> mesh);

  std::int64_t size() const { return options_.n; }
  FaceSynthParams params(std::int64_t index) const;
  FaceView view(const FaceSynthParams& params) const;
  FaceSample label(std::int64_t index) const;   // no pixels
  FaceSample sample(std::int64_t index) const;  // rendered (one thread)
  // Samples [begin, end) rendered in parallel with TBB (threads 0 = all of the current arena).
  std::vector<FaceSample> render_range(std::int64_t begin, std::int64_t end, int threads = 0) const;

  const FaceSynthOptions& options() const { return options_; }
  const FaceMesh& mesh() const { return *mesh_; }
  const FaceMesh& render_mesh() const { return *render_mesh_; }  // mesh() plus the head, if any

 private:
  FaceSynthOptions options_;
  std::shared_ptr<const FaceMesh> mesh_, render_mesh_;
};

// The mesh with an ellipsoidal head appended behind the mask (same landmarks; hair-coloured).
FaceMesh with_head(const FaceMesh& face);

// The spec's keys as options (ranges "lo,hi" or one value; size "224" or "WxH"); InputError naming
// the key for a bad value. Photos are not loaded here (see make_facesynth).
FaceSynthOptions facesynth_options(const DatasetSpec& spec);
// Options from the spec, the mesh from mesh= (default: default_face_mesh_dir()), and the PNG photos
// of backgrounds= (JPEG photos need OpenCV: pesuite::imageio::make_facesynth reads both).
FaceSynth make_facesynth(const DatasetSpec& spec);
// Every .png under a folder (sorted, recursive), read as RGB; at most `max_images`.
std::vector<RgbImage> load_png_backgrounds(const std::string& dir, std::size_t max_images = 256);

// `pesuite data inspect facesynth:?...`: options, angle ranges, and with items the label of every
// sample (index, yaw, pitch, roll, box) computed without rendering.
nlohmann::json inspect_facesynth(const DatasetSpec& spec, const InspectOptions& options);

}  // namespace pesuite::datasets
