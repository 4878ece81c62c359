// facesynth: sampling a scene per index, rendering it, the spec keys and the inspect summary.
#include "pesuite/datasets/facesynth.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "facesynth_internal.h"
#include "pesuite/datasets/png.h"
#include "pesuite/core/error.h"
#include "pesuite/core/parse.h"
#include "pesuite/core/tbb_arena.h"

namespace pesuite::datasets {
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Streams of a sample's Rng: parameters first, pixel noise apart (its draw count depends on the
// resolution, the parameters' must not).
constexpr std::uint64_t kParamStream = 0, kNoiseStream = 1;

}  // namespace

FaceMesh with_head(const FaceMesh& face) {
  // An ellipsoid fitted to the mask: as wide as 0.9 of the mask, centred at eye height, reaching
  // from the jaw to above the forehead, its front just behind the eyes so the face stays in front.
  double max_x = 0, eye_y = 0, eye_z = 0;
  for (const auto& v : face.vertices) max_x = std::max(max_x, std::abs(static_cast<double>(v[0])));
  for (int k = 36; k < 48; ++k) eye_y += face.vertices[face.landmarks[k]][1] / 12.0, eye_z += face.vertices[face.landmarks[k]][2] / 12.0;
  const double a = 0.9 * max_x, b = 0.95 * (eye_y - face.vertices[face.landmarks[8]][1]), c = 1.2 * a;
  const double yc = eye_y, zc = eye_z - 0.05 * a - c;
  FaceMesh m = face;
  const int rings = 48, segments = 96;
  const auto base = static_cast<std::int32_t>(m.vertices.size());
  for (int i = 0; i <= rings; ++i)
    for (int j = 0; j < segments; ++j) {
      const double th = kPi * i / rings, ph = 2 * kPi * j / segments;
      const double ux = std::sin(th) * std::cos(ph), uy = std::cos(th), uz = std::sin(th) * std::sin(ph);
      m.vertices.push_back({static_cast<float>(a * ux), static_cast<float>(yc + b * uy), static_cast<float>(zc + c * uz)});
      double n[3] = {ux / a, uy / b, uz / c};
      const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
      m.normals.push_back({static_cast<float>(n[0] / len), static_cast<float>(n[1] / len), static_cast<float>(n[2] / len)});
      m.colors.push_back({58, 44, 34});  // dark brown hair
      m.uv_cell.push_back(-1);
    }
  auto id = [&](int i, int j) { return base + i * segments + (j % segments); };
  for (int i = 0; i < rings; ++i)
    for (int j = 0; j < segments; ++j) {
      for (std::array<std::int32_t, 3> t : {std::array<std::int32_t, 3>{id(i, j), id(i + 1, j), id(i, j + 1)},
                                            std::array<std::int32_t, 3>{id(i, j + 1), id(i + 1, j), id(i + 1, j + 1)}}) {
        // Counter-clockwise seen from outside: the face normal agrees with the outward normal.
        const auto &p0 = m.vertices[t[0]], &p1 = m.vertices[t[1]], &p2 = m.vertices[t[2]];
        const double ux = p1[0] - p0[0], uy = p1[1] - p0[1], uz = p1[2] - p0[2];
        const double wx = p2[0] - p0[0], wy = p2[1] - p0[1], wz = p2[2] - p0[2];
        const double nx = uy * wz - uz * wy, ny = uz * wx - ux * wz, nz = ux * wy - uy * wx;
        const auto& on = m.normals[t[0]];
        if (nx * nx + ny * ny + nz * nz == 0) continue;  // the poles' degenerate triangles
        if (nx * on[0] + ny * on[1] + nz * on[2] < 0) std::swap(t[1], t[2]);
        m.triangles.push_back(t);
      }
    }
  return m;
}

FaceSynth::FaceSynth(FaceSynthOptions options, std::shared_ptr<const FaceMesh> mesh)
    : options_(std::move(options)), mesh_(std::move(mesh)) {
  if (!mesh_) throw core::InputError("facesynth: no face mesh");
  if (options_.width <= 0 || options_.height <= 0) throw core::InputError("facesynth: image size must be positive");
  render_mesh_ = options_.head ? std::make_shared<const FaceMesh>(with_head(*mesh_)) : mesh_;
}

FaceSynthParams FaceSynth::params(std::int64_t index) const {
  const auto& o = options_;
  synth::Rng rng(o.seed, static_cast<std::uint64_t>(index), kParamStream);
  FaceSynthParams p;
  // A fixed order of draws: adding a draw at the end never changes the earlier ones.
  p.pose.yaw = o.full_range ? rng.uniform(-180, 180) : rng.uniform(o.yaw[0], o.yaw[1]);
  p.pose.pitch = rng.uniform(o.pitch[0], o.pitch[1]);
  p.pose.roll = rng.uniform(o.roll[0], o.roll[1]);
  p.scale = rng.uniform(o.scale[0], o.scale[1]);
  p.shift_x = rng.uniform(-o.shift, o.shift);
  p.shift_y = rng.uniform(-o.shift, o.shift);
  // Light: uniform azimuth, polar angle up to light_angle from the view axis (z towards the viewer).
  const double azimuth = rng.uniform(0, 2 * kPi);
  const double polar = rng.uniform(0, o.light_angle) * kPi / 180;
  p.light.direction = {std::sin(polar) * std::cos(azimuth), std::sin(polar) * std::sin(azimuth), std::cos(polar)};
  p.light.ambient = rng.uniform(o.ambient[0], o.ambient[1]);
  p.light.diffuse = 1 - p.light.ambient;
  const double gain = rng.uniform(0.75, 1.2);
  for (auto& c : p.light.color) c = gain * rng.uniform(0.9, 1.1);
  // Both draws always happen, so giving photos changes which background a sample gets, nothing else.
  const bool photo = rng.uniform() < o.photo_probability && o.photos && !o.photos->empty();
  const int procedural = static_cast<int>(rng.integer(0, 3));
  p.background = photo ? 4 : procedural;
  p.background_seed = rng.next();
  p.blur = rng.uniform(0, o.blur);
  p.noise = rng.uniform(0, o.noise);
  return p;
}

FaceView FaceSynth::view(const FaceSynthParams& p) const {
  const auto& o = options_;
  FaceView v;
  v.rotation = rotation_from_euler(p.pose);
  v.scale = p.scale * std::min(o.width, o.height) / mesh_->landmark_size;
  // 1-based pixel coordinates: the image centre is ((W + 1) / 2, (H + 1) / 2).
  v.cx = (o.width + 1) / 2.0 + p.shift_x * o.width;
  v.cy = (o.height + 1) / 2.0 + p.shift_y * o.height;
  return v;
}

FaceSample FaceSynth::label(std::int64_t index) const {
  if (index < 0 || index >= options_.n)
    throw core::InputError("facesynth: sample " + std::to_string(index) + " is outside 0.." + std::to_string(options_.n - 1));
  FaceSample s;
  s.index = index;
  s.params = params(index);
  s.pose = s.params.pose;
  s.view = view(s.params);
  s.rotation = s.view.rotation;
  s.landmarks = project_landmarks(*mesh_, s.view);
  s.landmark_box = landmark_box(s.landmarks, /*keep_missing=*/true);
  s.box = loose_box(s.landmark_box, LooseCrop::hopenet_test());
  return s;
}

FaceSample FaceSynth::sample(std::int64_t index) const {
  FaceSample s = label(index);
  const int W = options_.width, H = options_.height;
  std::vector<float> bg;
  if (s.params.background == 4) {
    synth::Rng pick(s.params.background_seed, 0, 9);
    const auto& photos = *options_.photos;
    synth::photo_background(photos[pick.integer(0, static_cast<std::int64_t>(photos.size()) - 1)], s.params.background_seed, W, H, bg);
  } else {
    synth::procedural_background(s.params.background, s.params.background_seed, W, H, bg);
  }
  RenderOptions ro;
  ro.supersample = options_.supersample;
  const FaceLayer face = render_face(*render_mesh_, s.view, s.params.light, W, H, ro);
  std::vector<float> img = composite(face, bg);
  synth::gaussian_blur(img, W, H, s.params.blur * std::min(W, H));
  synth::Rng noise(options_.seed, static_cast<std::uint64_t>(index), kNoiseStream);
  synth::add_noise(img, s.params.noise, noise);
  s.image = synth::quantize(img, W, H);
  return s;
}

std::vector<FaceSample> FaceSynth::render_range(std::int64_t begin, std::int64_t end, int threads) const {
  std::vector<FaceSample> out(static_cast<std::size_t>(std::max<std::int64_t>(0, end - begin)));
  auto work = [&] {
    tbb::parallel_for(begin, end, [&](std::int64_t i) { out[i - begin] = sample(i); });
  };
  // The process's arena of that size (a fresh one per call makes its workers join late).
  if (threads > 0) core::tbb_arena(threads).execute(work);
  else work();
  return out;
}

namespace {

std::string key_error(const DatasetSpec& spec, const std::string& key, const std::string& what) {
  return "dataset spec '" + spec.text + "': key '" + key + "' " + what + ", got '" + spec.get(key) + "'";
}

// "lo,hi" or one value (a fixed angle); lo <= hi.
std::array<double, 2> range_key(const DatasetSpec& spec, const std::string& key) {
  const std::string v = spec.get(key);
  const auto comma = v.find(',');
  const auto lo = core::parse_double(v.substr(0, comma));
  const auto hi = comma == std::string::npos ? lo : core::parse_double(v.substr(comma + 1));
  if (!lo || !hi || *hi < *lo) throw core::InputError(key_error(spec, key, "must be a range lo,hi (lo <= hi) or one number"));
  return {*lo, *hi};
}

}  // namespace

FaceSynthOptions facesynth_options(const DatasetSpec& spec) {
  FaceSynthOptions o;
  o.n = spec.get_int("n");
  if (o.n <= 0) throw core::InputError(key_error(spec, "n", "must be positive"));
  o.seed = static_cast<std::uint64_t>(spec.get_int("seed"));
  {
    const std::string s = spec.get("size");
    const auto x = s.find('x');
    const auto w = core::parse_int(s.substr(0, x));
    const auto h = x == std::string::npos ? w : core::parse_int(s.substr(x + 1));
    if (!w || !h || *w <= 0 || *h <= 0 || *w > 8192 || *h > 8192) throw core::InputError(key_error(spec, "size", "must be N or WxH (1..8192)"));
    o.width = static_cast<int>(*w), o.height = static_cast<int>(*h);
  }
  o.yaw = range_key(spec, "yaw");
  o.pitch = range_key(spec, "pitch");
  o.roll = range_key(spec, "roll");
  o.full_range = spec.get_bool("full_range");
  o.scale = range_key(spec, "scale");
  if (o.scale[0] <= 0) throw core::InputError(key_error(spec, "scale", "must be positive"));
  o.shift = spec.get_double("shift");
  o.light_angle = spec.get_double("light");
  if (o.light_angle < 0 || o.light_angle > 90) throw core::InputError(key_error(spec, "light", "must be within 0..90 degrees"));
  o.ambient = range_key(spec, "ambient");
  if (o.ambient[0] < 0 || o.ambient[1] > 1) throw core::InputError(key_error(spec, "ambient", "must be within 0..1"));
  o.blur = spec.get_double("blur");
  o.noise = spec.get_double("noise");
  if (o.blur < 0 || o.noise < 0 || o.shift < 0) throw core::InputError("dataset spec '" + spec.text + "': blur, noise and shift must be >= 0");
  o.supersample = static_cast<int>(spec.get_int("supersample"));
  if (o.supersample < 1 || o.supersample > 8) throw core::InputError(key_error(spec, "supersample", "must be within 1..8"));
  o.photo_probability = spec.get_double("photo_p");
  const std::string head = spec.get("head");
  if (head == "auto") o.head = o.full_range;
  else if (auto h = core::parse_bool(head)) o.head = *h;
  else throw core::InputError(key_error(spec, "head", "must be auto, 0 or 1"));
  return o;
}

std::vector<RgbImage> load_png_backgrounds(const std::string& dir, std::size_t max_images) {
  if (!fs::is_directory(dir)) throw core::InputError(dir + ": not a directory (backgrounds= takes a folder of photos)");
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".png") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.size() > max_images) files.resize(max_images);
  std::vector<RgbImage> out;
  for (const auto& f : files) out.push_back(read_png_rgb(f));
  return out;
}

FaceSynth make_facesynth(const DatasetSpec& spec) {
  FaceSynthOptions o = facesynth_options(spec);
  if (spec.has("backgrounds")) {
    auto photos = load_png_backgrounds(spec.get("backgrounds"));
    if (photos.empty())
      throw core::InputError(spec.get("backgrounds") + ": no .png photos (JPEG backgrounds are read by pesuite::imageio::make_facesynth)");
    o.photos = std::make_shared<const std::vector<RgbImage>>(std::move(photos));
  }
  const std::string dir = spec.has("mesh") ? spec.get("mesh") : default_face_mesh_dir();
  return FaceSynth(o, std::make_shared<const FaceMesh>(load_face_mesh(dir)));
}

nlohmann::json inspect_facesynth(const DatasetSpec& spec, const InspectOptions& options) {
  const FaceSynth synth = make_facesynth(spec);
  const auto& o = synth.options();
  nlohmann::json j;
  j["images"] = o.n;
  j["image_size"] = {o.width, o.height};
  j["euler"] = "degrees; R = Rx(-pitch) Ry(-yaw) Rz(-roll), y-up face, image y down (300W-LP Pose_Para)";
  j["seed"] = o.seed;
  j["yaw_range"] = o.full_range ? std::vector<double>{-180, 180} : std::vector<double>{o.yaw[0], o.yaw[1]};
  j["pitch_range"] = {o.pitch[0], o.pitch[1]};
  j["roll_range"] = {o.roll[0], o.roll[1]};
  j["mesh_vertices"] = synth.mesh().vertices.size();
  j["mesh_triangles"] = synth.mesh().triangles.size();
  j["background_photos"] = o.photos ? o.photos->size() : 0;
  if (options.items) {
    nlohmann::json items = nlohmann::json::array();
    for (std::int64_t i = 0; i < o.n; ++i) {
      const FaceSample s = synth.label(i);
      items.push_back({{"index", i}, {"yaw", s.pose.yaw}, {"pitch", s.pose.pitch}, {"roll", s.pose.roll},
                       {"box", {s.box.x1, s.box.y1, s.box.x2, s.box.y2}}});
    }
    j["items"] = items;
  }
  return j;
}

}  // namespace pesuite::datasets
