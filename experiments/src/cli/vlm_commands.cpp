// `pesuite vlm train|caption|pin` (the captioning VLM and localisation on it, vlm_training.h,
// pin_training.h) and `pesuite vision pin --ckpt localiser.safetensors --image x.jpg --object bear`
// (the box, and with OpenCV a PNG with it drawn).
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/runtime.h"
#include "pesuite/datasets/spec.h"
#include "pesuite/vision/pin_training.h"
#include "pesuite/vision/vlm_training.h"
#ifdef PESUITE_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace pesuite::cli {
namespace {

namespace fs = std::filesystem;

// CLIP's BPE merges: --vocab, else the default data.vocab under the data root.
vision::ClipTokenizer vlm_tokenizer(const std::string& vocab) {
  core::Config cfg = vision::vlm_training_defaults();
  if (!vocab.empty()) cfg.apply_set("data.vocab=" + nlohmann::json(vocab).dump());
  return vision::clip_tokenizer(cfg);
}

// An RGB image file at the model's side, normalised as the scenes ([3, S, S]); `original` keeps
// the decoded pixels (BGR) for drawing. InputError naming the file for anything but 3 channels.
struct ModelImage {
  torch::Tensor input;
  int width = 0, height = 0;
#ifdef PESUITE_HAVE_OPENCV
  cv::Mat bgr;
#endif
};

ModelImage read_model_image(const std::string& path, std::int64_t side) {
#ifdef PESUITE_HAVE_OPENCV
  if (!fs::is_regular_file(path)) throw core::InputError(path + ": no such image file");
  cv::Mat raw = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (raw.empty()) throw core::InputError(path + ": not an image OpenCV can decode");
  if (raw.channels() != 3)
    throw core::InputError(path + ": " + std::to_string(raw.channels()) + " channel(s); the VLM reads RGB images (3 channels)");
  if (raw.depth() != CV_8U) throw core::InputError(path + ": only 8-bit images are read");
  ModelImage m;
  m.bgr = raw;
  m.width = raw.cols, m.height = raw.rows;
  cv::Mat rgb, small;
  cv::cvtColor(raw, rgb, cv::COLOR_BGR2RGB);
  cv::resize(rgb, small, cv::Size(static_cast<int>(side), static_cast<int>(side)), 0, 0, cv::INTER_AREA);
  auto t = torch::from_blob(small.data, {side, side, 3}, torch::kUInt8).clone().permute({2, 0, 1}).to(torch::kFloat32).div(255.0);
  auto mean = torch::tensor(std::vector<float>(vision::kClipMean.begin(), vision::kClipMean.end())).view({3, 1, 1});
  auto stdev = torch::tensor(std::vector<float>(vision::kClipStd.begin(), vision::kClipStd.end())).view({3, 1, 1});
  m.input = (t - mean) / stdev;
  return m;
#else
  (void)side;
  throw core::InputError(path + ": reading images needs a build with OpenCV");
#endif
}

void print_or_json(bool json, const nlohmann::ordered_json& j, const std::string& text) {
  if (json) std::cout << j.dump(2) << "\n";
  else std::cout << text;
}

void add_vlm_train(CLI::App* vlm) {
  auto* cmd = vlm->add_subcommand("train", "Pretrain a captioning VLM on scene captions (experiments/configs/vision/vlm-*.toml)");
  static ConfigOptions config;
  static std::string runs = "runs", resume;
  static bool json = false;
  add_config_options(*cmd, config);
  cmd->add_option("--runs", runs, "Folder of run folders")->capture_default_str();
  cmd->add_option("--resume", resume, "Continue a run from its last checkpoint: a run folder or a checkpoint in one");
  cmd->add_flag("--json", json, "Print the result as JSON");
  cmd->callback([]() {
    core::Config cfg = resume.empty() ? vision::vlm_training_defaults() : vision::vlm_resume_config(resume);
    if (!config.config_file.empty()) cfg.merge_file(config.config_file);
    for (const auto& s : config.sets) cfg.apply_set(s);
    const auto r = vision::run_vlm_training(cfg, runs, resume);
    nlohmann::ordered_json out{{"run", r.run_path}, {"vlm", r.vlm_file}, {"finished", r.finished}, {"steps", r.steps},
                               {"total_steps", r.total_steps}, {"train_seconds", r.train_seconds}, {"final_loss", r.final_loss},
                               {"parameters", r.parameters}, {"token_accuracy", r.test.token_accuracy}, {"perplexity", r.test.perplexity},
                               {"shuffled_token_accuracy", r.test.shuffled_token_accuracy}, {"tokens", r.test.tokens}};
    std::ostringstream text;
    text << "run " << r.run_path << "\n";
    if (!r.finished) {
      text << "stopped at step " << r.steps << " of " << r.total_steps << "; continue with: pesuite vlm train --resume " << r.run_path << "\n";
    } else {
      text << std::fixed << std::setprecision(4) << "trained " << r.steps << " steps (" << r.parameters << " parameters) in " << r.train_seconds
           << " s, final loss " << r.final_loss << "\nheld-out scenes: token accuracy " << r.test.token_accuracy << " (another scene's image: "
           << r.test.shuffled_token_accuracy << "), perplexity " << r.test.perplexity << " over " << r.test.tokens << " tokens\nwrote "
           << r.vlm_file << "\n";
    }
    print_or_json(json, out, text.str());
  });
}

void add_vlm_caption(CLI::App* vlm) {
  auto* cmd = vlm->add_subcommand("caption", "Caption an image with a VLM file, or score its captions of a scenes spec");
  static std::string ckpt, image, data, vocab;
  static bool json = false;
  cmd->add_option("--ckpt", ckpt, "A VLM file (vlm train's <run>/vlm.safetensors)")->required();
  cmd->add_option("--image", image, "An RGB image (resized to the VLM's input side)");
  cmd->add_option("--data", data, "Scenes to score instead (scenes:?...): token accuracy and perplexity of their captions");
  cmd->add_option("--vocab", vocab, "CLIP's BPE merges file (default: ${data}/clip/bpe_simple_vocab_16e6.txt.gz)");
  cmd->add_flag("--json", json, "Print the result as JSON");
  cmd->callback([]() {
    if (image.empty() == data.empty()) throw core::InputError("give one of --image and --data");
    if (!fs::is_regular_file(ckpt)) throw core::InputError(ckpt + ": no such VLM file");
    vision::Vlm model = vision::load_vlm(ckpt);
    const auto tok = vlm_tokenizer(vocab);
    const torch::Device device = core::parse_device("auto");
    model->to(device);
    if (!data.empty()) {
      const auto scenes = vision::load_clip_scenes(data);
      const auto s = vision::caption_scores(model, tok, scenes, 100, device);
      std::ostringstream text;
      text << std::fixed << std::setprecision(4) << "token accuracy " << s.token_accuracy << " (another scene's image: " << s.shuffled_token_accuracy
           << "), perplexity " << s.perplexity << " over " << s.tokens << " tokens of " << s.scenes << " scenes\n";
      print_or_json(json, {{"data", data}, {"token_accuracy", s.token_accuracy}, {"perplexity", s.perplexity},
                           {"shuffled_token_accuracy", s.shuffled_token_accuracy}, {"tokens", s.tokens}},
                    text.str());
      return;
    }
    const auto img = read_model_image(image, model->options.image_size());
    const auto caption = vision::caption_images(model, tok, img.input.unsqueeze(0), model->options.context_length() - 1, device).at(0);
    print_or_json(json, {{"image", image}, {"caption", caption}}, caption + "\n");
  });
}

void add_vlm_pin(CLI::App* vlm) {
  auto* cmd = vlm->add_subcommand("pin", "Train and evaluate PIN or a baseline (method = pin | vpt | lora | raw | fewshot | random) on a frozen VLM");
  static ConfigOptions config;
  static std::string runs = "runs";
  static bool json = false;
  add_config_options(*cmd, config);
  cmd->add_option("--runs", runs, "Folder of run folders")->capture_default_str();
  cmd->add_flag("--json", json, "Print the result as JSON");
  cmd->callback([]() {
    core::Config cfg = vision::pin_defaults();
    if (!config.config_file.empty()) cfg.merge_file(config.config_file);
    for (const auto& s : config.sets) cfg.apply_set(s);
    const auto r = vision::run_pin(cfg, runs);
    nlohmann::ordered_json out{{"run", r.run_path}, {"method", r.method}, {"trained_parameters", r.trained_parameters}, {"steps", r.steps},
                               {"train_seconds", r.train_seconds}, {"localiser", r.localiser_file}};
    std::ostringstream text;
    text << "run " << r.run_path << "\n" << r.method << ": " << r.trained_parameters << " trained parameters, " << r.steps << " steps\n";
    for (const auto& [split, s] : r.sets) {
      out[split] = {{"miou", s.miou}, {"miou_medium", s.miou_medium}, {"miou_large", s.miou_large}, {"malformed", s.malformed}, {"queries", s.n},
                    {"medium", s.n_medium}, {"large", s.n_large}};
      text << std::fixed << std::setprecision(4) << split << (split == "heldout" ? " (held-out classes)" : " (training classes)") << ": mIoU "
           << s.miou << ", medium " << s.miou_medium << " (" << s.n_medium << "), large " << s.miou_large << " (" << s.n_large << "); "
           << s.malformed << " of " << s.n << " answers not a box\n";
    }
    if (!r.localiser_file.empty()) text << "wrote " << r.localiser_file << "\n";
    print_or_json(json, out, text.str());
  });
}

}  // namespace

void add_vlm_commands(CLI::App& app) {
  auto* vlm = app.add_subcommand("vlm", "A captioning VLM on scenes (OpenFlamingo's design) and object localisation on it (PIN and baselines)");
  vlm->require_subcommand(1);
  add_vlm_train(vlm);
  add_vlm_caption(vlm);
  add_vlm_pin(vlm);
}

void add_vision_pin_command(CLI::App& vision) {
  auto* cmd = vision.add_subcommand("pin", "Where is the object? The box a localiser (vlm pin's localiser.safetensors) answers, drawn on the image");
  static std::string ckpt, image, object, out, vocab;
  static bool json = false;
  cmd->add_option("--ckpt", ckpt, "A localiser file (vlm pin's <run>/localiser.safetensors: the frozen VLM and its PIN)")->required();
  cmd->add_option("--image", image, "An RGB image (resized to the VLM's input side; the box is scaled back)")->required();
  cmd->add_option("--object", object, "The object to find, as the prompt names it (e.g. bear)")->required();
  cmd->add_option("--out", out, "PNG with the box drawn (default: <image stem>-pin.png beside --image)");
  cmd->add_option("--vocab", vocab, "CLIP's BPE merges file (default: ${data}/clip/bpe_simple_vocab_16e6.txt.gz)");
  cmd->add_flag("--json", json, "Print the result as JSON");
  cmd->callback([]() {
    auto loc = vision::load_localiser(ckpt);
    const auto tok = vlm_tokenizer(vocab);
    const torch::Device device = core::parse_device("auto");
    const auto S = loc.vlm->options.image_size();
    const auto img = read_model_image(image, S);
    const auto a = vision::locate(loc, tok, img.input, object, device);
    nlohmann::ordered_json j{{"image", image}, {"object", object}, {"answer", a.text}, {"well_formed", a.box.has_value()}};
    std::ostringstream text;
    if (!a.box) {
      text << "the answer '" << a.text << "' is not a box\n";
      print_or_json(json, j, text.str());
      return;
    }
    const double sx = static_cast<double>(img.width) / static_cast<double>(S), sy = static_cast<double>(img.height) / static_cast<double>(S);
    const double x1 = a.pixels.x1 * sx, y1 = a.pixels.y1 * sy, x2 = a.pixels.x2 * sx, y2 = a.pixels.y2 * sy;
    j["cells"] = {a.box->x1, a.box->y1, a.box->x2, a.box->y2};
    j["box"] = {x1, y1, x2, y2};
    text << std::fixed << std::setprecision(1) << object << ": [" << x1 << ", " << y1 << ", " << x2 << ", " << y2 << "] px (answer '" << a.text << "')\n";
#ifdef PESUITE_HAVE_OPENCV
    const std::string path = out.empty() ? (fs::path(image).parent_path() / (fs::path(image).stem().string() + "-pin.png")).string() : out;
    cv::Mat draw = img.bgr.clone();
    const int thick = std::max(1, std::min(img.width, img.height) / 150);
    cv::rectangle(draw, cv::Point(static_cast<int>(x1), static_cast<int>(y1)), cv::Point(static_cast<int>(x2) - 1, static_cast<int>(y2) - 1),
                  cv::Scalar(0, 255, 0), thick);
    cv::putText(draw, object, cv::Point(static_cast<int>(x1) + 2, std::max(12, static_cast<int>(y1) - 3)), cv::FONT_HERSHEY_SIMPLEX,
                0.4 * thick, cv::Scalar(0, 255, 0), thick);
    std::vector<unsigned char> png;
    if (!cv::imencode(".png", draw, png)) throw core::InputError(path + ": cannot encode the PNG");
    core::write_file_atomic(path, std::string(png.begin(), png.end()));
    j["out"] = path;
    text << "wrote " << path << "\n";
#else
    if (!out.empty()) throw core::InputError("--out: this build has no OpenCV to draw the box");
#endif
    print_or_json(json, j, text.str());
  });
}

}  // namespace pesuite::cli
