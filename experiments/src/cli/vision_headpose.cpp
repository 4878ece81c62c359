// `pesuite vision headpose --ckpt ... --image face.jpg [--box x1,y1,x2,y2] [--out pose.png]`: the
// yaw / pitch / roll of a face with a model trained by `vision train` (task = "headpose"), and
// (with OpenCV) a PNG of the image with the pose axes drawn at the face.
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/core/error.h"
#include "pesuite/core/runtime.h"
#include "pesuite/vision/head_pose_training.h"
#ifdef PESUITE_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pesuite/imageio/head_pose_draw.h"
#endif

namespace pesuite::cli {
namespace {

namespace fs = std::filesystem;

datasets::FaceBox parse_box(const std::string& text, int width, int height) {
  std::vector<double> v;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const double x = std::stod(item, &used);
      if (used != item.size() || !std::isfinite(x)) throw std::invalid_argument(item);
      v.push_back(x);
    } catch (const std::exception&) {
      throw core::InputError("--box " + text + ": '" + item + "' is not a number");
    }
  }
  if (v.size() != 4) throw core::InputError("--box " + text + ": expected x1,y1,x2,y2 (4 numbers)");
  if (!(v[2] > v[0] && v[3] > v[1])) throw core::InputError("--box " + text + ": needs x2 > x1 and y2 > y1");
  if (v[2] <= 0 || v[3] <= 0 || v[0] >= width || v[1] >= height)
    throw core::InputError("--box " + text + ": lies outside the " + std::to_string(width) + "x" + std::to_string(height) + " image");
  return {v[0], v[1], v[2], v[3]};
}

}  // namespace

void add_vision_headpose_command(CLI::App& vision) {
  auto* cmd = vision.add_subcommand("headpose", "Yaw / pitch / roll of a face with a head-pose checkpoint; writes the image with the pose axes");
  static std::string ckpt, image, box_text, out;
  static std::vector<std::string> evals;
  static bool json = false;
  cmd->add_option("--ckpt", ckpt, "Checkpoint (.safetensors) written by vision train with task = \"headpose\"")->required();
  cmd->add_option("--image", image, "Face image (PNG; JPEG with OpenCV)");
  cmd->add_option("--eval", evals,
                  "Evaluate on a head-pose set instead, name=spec (repeatable; ${data} = the data root), e.g. "
                  "aflw2000=aflw2000:${data}/aflw2000-sample: MAE of yaw / pitch / roll, geodesic error");
  cmd->add_option("--box", box_text,
                  "Face box x1,y1,x2,y2 in pixels (the tight box, as 300W-LP's landmarks give it; Hopenet's test crop grows it). "
                  "Default: the whole image as the loose crop");
  cmd->add_option("--out", out, "PNG with the pose axes drawn (default: <image stem>-pose.png beside --image)");
  cmd->add_flag("--json", json, "Print the result as JSON");
  cmd->callback([]() {
    core::Config cfg;
    const torch::Device device = core::parse_device("auto");
    vision::HeadPoseNet model = vision::load_head_pose_model(ckpt, device, &cfg);
    if (!evals.empty()) {
      if (!image.empty()) throw core::InputError("--eval and --image: give one of them");
      std::string sets = "[";
      for (std::size_t i = 0; i < evals.size(); ++i) sets += (i ? ", " : "") + nlohmann::json(evals[i]).dump();
      cfg.apply_set("data.test=" + sets + "]");
      nlohmann::ordered_json result{{"checkpoint", ckpt}};
      for (const auto& [name, spec] : vision::head_pose_test_sets(cfg)) {
        const auto data = vision::HeadPoseData::open(spec, vision::head_pose_data_options(cfg, false), false);
        const auto m = vision::evaluate_head_pose(model, *data, cfg.get_int("eval.batch_size"), device, false, {0, 0, 0},
                                                  cfg.get_string("model.head") == "fullrange");
        result[name] = {{"spec", spec}, {"n", m.n}, {"dropped", m.dropped}, {"mae", m.mae}, {"yaw", m.yaw}, {"pitch", m.pitch},
                        {"roll", m.roll}, {"geodesic", m.geodesic}};
        if (!json)
          std::cout << name << " (" << m.n << " faces): MAE " << m.mae << " (yaw " << m.yaw << ", pitch " << m.pitch << ", roll " << m.roll
                    << "), geodesic " << m.geodesic << " degrees\n";
      }
      if (json) std::cout << result.dump(2) << "\n";
      return;
    }
    if (image.empty()) throw core::InputError("--image (or --eval) is required");
    const datasets::RgbImage img = vision::read_face_image(image);
    if (img.width < 2 || img.height < 2) throw core::InputError(image + ": image too small");
    datasets::FaceBox crop{0, 0, static_cast<double>(img.width), static_cast<double>(img.height)};
    datasets::FaceBox tight = crop;
    if (!box_text.empty()) {
      tight = parse_box(box_text, img.width, img.height);
      crop = datasets::loose_box(tight, datasets::LooseCrop::hopenet_test());
    }
    vision::HeadPoseDataOptions o = vision::head_pose_data_options(cfg, false);
    torch::Tensor input = vision::head_pose_test_view(img, crop, o).unsqueeze(0).to(device);
    torch::NoGradGuard no_grad;
    const auto angles = model->angles(model(input).to(torch::kCPU, torch::kFloat32))[0];
    const datasets::EulerAngles pose{angles[0].item<double>(), angles[1].item<double>(), angles[2].item<double>()};
    std::string written;
#ifdef PESUITE_HAVE_OPENCV
    const std::string path = out.empty() ? (fs::path(image).parent_path() / (fs::path(image).stem().string() + "-pose.png")).string() : out;
    cv::Mat rgb(img.height, img.width, CV_8UC3, const_cast<std::uint8_t*>(img.pixels.data()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    const double cx = (tight.x1 + tight.x2) / 2, cy = (tight.y1 + tight.y2) / 2;
    const double size = std::max(16.0, 0.5 * std::min(tight.width(), tight.height()));
    imageio::draw_pose_axes(bgr, pose, cx, cy, size);
    if (!box_text.empty())
      cv::rectangle(bgr, cv::Point(static_cast<int>(tight.x1), static_cast<int>(tight.y1)),
                    cv::Point(static_cast<int>(tight.x2), static_cast<int>(tight.y2)), cv::Scalar(255, 255, 255), 1);
    if (!cv::imwrite(path, bgr)) throw core::InputError(path + ": cannot write the PNG");
    written = path;
#else
    if (!out.empty()) throw core::InputError("--out: this build has no OpenCV to draw the axes");
#endif
    if (json) {
      nlohmann::ordered_json j{{"image", image}, {"yaw", pose.yaw}, {"pitch", pose.pitch}, {"roll", pose.roll},
                               {"crop", {crop.x1, crop.y1, crop.x2, crop.y2}}};
      if (!written.empty()) j["out"] = written;
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << std::fixed << std::setprecision(2) << "yaw " << pose.yaw << "  pitch " << pose.pitch << "  roll " << pose.roll
                << "  (degrees)\n";
      if (!written.empty()) std::cout << "wrote " << written << "\n";
    }
  });
}

}  // namespace pesuite::cli
