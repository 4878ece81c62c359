// `pesuite vision train|eval|attention`.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/experiments/image_classification.h"
#include "pesuite/heads/atomic_file.h"
#include "pesuite/heads/error.h"
#include "pesuite/heads/head_analysis.h"
#include "pesuite/heads/runtime.h"
#include "pesuite/heads/safetensors.h"
#ifdef PESUITE_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace pesuite::cli {
namespace {

namespace fs = std::filesystem;
using experiments::Config;

std::vector<std::int64_t> parse_sizes(const std::string& text) {
  std::vector<std::int64_t> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto comma = text.find(',', pos);
    const auto item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    try {
      std::size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v <= 0) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw InputError("--sizes " + text + ": '" + item + "' is not a positive integer");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

nlohmann::ordered_json metrics_json(const std::map<std::int64_t, experiments::SizeMetrics>& m, const std::string& metric,
                                    const std::vector<std::string>& class_names = {}) {
  nlohmann::ordered_json out;
  for (const auto& [size, s] : m) {
    const auto k = std::to_string(size);
    if (metric == "mAP") {
      out["test_map@" + k] = s.map;
      nlohmann::ordered_json per_class;  // NaN (no positive in the test set) becomes null
      for (std::size_t c = 0; c < s.per_class_ap.size(); ++c)
        per_class[c < class_names.size() ? class_names[c] : std::to_string(c)] =
            std::isfinite(s.per_class_ap[c]) ? nlohmann::ordered_json(s.per_class_ap[c]) : nlohmann::ordered_json();
      if (!s.per_class_ap.empty()) out["test_ap@" + k] = per_class;
    } else {
      out["test_acc@" + k] = s.top1;
      out["test_top5@" + k] = s.top5;
    }
    out["test_loss@" + k] = s.loss;
  }
  return out;
}

void print_metrics(const std::map<std::int64_t, experiments::SizeMetrics>& m, const std::string& metric) {
  for (const auto& [size, s] : m) {
    if (metric == "mAP") std::cout << "test mAP at " << size << " px: " << 100 * s.map << " %\n";
    else std::cout << "test accuracy at " << size << " px: top-1 " << 100 * s.top1 << " %, top-5 " << 100 * s.top5 << " %\n";
  }
}

// Config for a checkpoint: what it was trained with, then --config, then --set.
Config config_for_checkpoint(const std::string& ckpt, const ConfigOptions& opts) {
  if (!fs::is_regular_file(ckpt)) throw InputError(ckpt + ": no such checkpoint file");
  Config cfg = experiments::checkpoint_config(ckpt);
  if (!opts.config_file.empty()) cfg.merge_file(opts.config_file);
  for (const auto& s : opts.sets) cfg.apply_set(s);
  return cfg;
}

#ifdef PESUITE_HAVE_OPENCV
// [h, w] float -> colour image of size x size (viridis), min-max scaled.
cv::Mat heat(const torch::Tensor& map, int size) {
  auto m = map.to(torch::kFloat32).contiguous().cpu();
  const float lo = m.min().item<float>(), hi = m.max().item<float>();
  m = (m - lo) / std::max(hi - lo, 1e-12f) * 255.0f;
  cv::Mat f(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_32F, m.data_ptr<float>());
  cv::Mat u8, big, colour;
  f.convertTo(u8, CV_8U);
  cv::resize(u8, big, cv::Size(size, size), 0, 0, cv::INTER_NEAREST);
  cv::applyColorMap(big, colour, cv::COLORMAP_VIRIDIS);
  return colour;
}

// The input image [C, H, W] (normalised) back to BGR 8-bit, size x size.
cv::Mat show_input(const torch::Tensor& img, int size) {
  auto x = img.to(torch::kFloat32).cpu();
  x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12) * 255.0;
  x = x.to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  cv::Mat m(static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), x.size(2) == 1 ? CV_8UC1 : CV_8UC3, x.data_ptr());
  cv::Mat bgr, big;
  if (x.size(2) == 1) cv::cvtColor(m, bgr, cv::COLOR_GRAY2BGR);
  else cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
  cv::resize(bgr, big, cv::Size(size, size), 0, 0, cv::INTER_NEAREST);
  return big;
}

void write_png(const std::string& path, const cv::Mat& img) {
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", img, bytes)) throw InputError(path + ": could not encode PNG");
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

// A row of tiles with captions above them.
cv::Mat tile_row(const std::vector<cv::Mat>& tiles, const std::vector<std::string>& captions, int size) {
  const int pad = 4, caption = 18;
  cv::Mat out(size + caption + 2 * pad, static_cast<int>(tiles.size()) * (size + pad) + pad, CV_8UC3, cv::Scalar(255, 255, 255));
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const int x = pad + static_cast<int>(i) * (size + pad);
    tiles[i].copyTo(out(cv::Rect(x, caption + pad, size, size)));
    cv::putText(out, captions[i], cv::Point(x, caption), cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  return out;
}

// Grid of h x w small maps (map i at row i / w, column i % w), as the ViT paper's figure 7.
cv::Mat similarity_grid(const torch::Tensor& maps, std::int64_t h, std::int64_t w, int cell) {
  const int pad = 2;
  cv::Mat out(static_cast<int>(h) * (cell + pad) + pad, static_cast<int>(w) * (cell + pad) + pad, CV_8UC3, cv::Scalar(255, 255, 255));
  for (std::int64_t i = 0; i < h * w; ++i) {
    const int r = static_cast<int>(i / w), c = static_cast<int>(i % w);
    heat(maps[i], cell).copyTo(out(cv::Rect(pad + c * (cell + pad), pad + r * (cell + pad), cell, cell)));
  }
  return out;
}
#endif

// The image to look at: a PNG/JPEG file, or item `index` of a dataset spec.
torch::Tensor load_attention_input(const std::string& image, std::int64_t index, const Config& cfg, std::int64_t channels,
                                   std::string& label) {
  const auto mean = cfg.get_doubles("data.mean"), stdv = cfg.get_doubles("data.std");
  const auto ext = fs::path(image).extension().string();
  std::string lower = ext;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (lower == ".png" || lower == ".jpg" || lower == ".jpeg" || lower == ".bmp") {
#ifdef PESUITE_HAVE_OPENCV
    cv::Mat m = cv::imread(image, channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    if (m.empty()) throw InputError(image + ": cannot read the image");
    if (channels == 3) cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
    auto t = torch::from_blob(m.data, {m.rows, m.cols, m.channels()}, torch::kUInt8).clone().permute({2, 0, 1}).to(torch::kFloat32) / 255.0;
    const auto mu = experiments::resolve_norm(mean, channels, true, image), sd = experiments::resolve_norm(stdv, channels, false, image);
    for (std::int64_t c = 0; c < channels; ++c) t[c] = (t[c] - mu[static_cast<std::size_t>(c)]) / sd[static_cast<std::size_t>(c)];
    label = fs::path(image).filename().string();
    return t.unsqueeze(0);
#else
    throw InputError(image + ": reading PNG/JPEG needs OpenCV, which this build lacks; name a dataset item instead (--image <spec> --index N)");
#endif
  }
  auto set = experiments::load_image_set(image, index + 1, mean, stdv);
  if (index < 0 || index >= set.images.size(0))
    throw InputError("--index " + std::to_string(index) + ": " + image + " has " + std::to_string(set.images.size(0)) + " images");
  if (!set.multi_label) {
    const auto y = set.targets[index].item<std::int64_t>();
    label = y < static_cast<std::int64_t>(set.class_names.size()) ? set.class_names[static_cast<std::size_t>(y)] : std::to_string(y);
  }
  return set.images.slice(0, index, index + 1);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto d = t.to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

}  // namespace

void add_vision_commands(CLI::App& app) {
  auto* vision = app.add_subcommand("vision", "Image frontend: train and evaluate ViT / CPVT with any positional encoding");
  vision->require_subcommand(1);

  // ---- train ----
  auto* train = vision->add_subcommand("train", "Train an image classifier from a config (experiments/configs/vision/*.toml)");
  static ConfigOptions config;
  static std::string runs = "runs", resume;
  static bool json = false;
  add_config_options(*train, config);
  train->add_option("--runs", runs, "Folder of run folders")->capture_default_str();
  train->add_option("--resume", resume,
                    "Continue a run from its last checkpoint: a run folder or a checkpoint in one (its config.toml is used; --set still applies)");
  train->add_flag("--json", json, "Print the result as JSON");
  train->callback([]() {
    Config cfg = experiments::image_classification_defaults();
    if (!resume.empty()) cfg = experiments::resume_config(resume);
    if (!config.config_file.empty()) cfg.merge_file(config.config_file);
    for (const auto& s : config.sets) cfg.apply_set(s);
    const auto r = experiments::run_image_classification(cfg, runs, resume);
    nlohmann::ordered_json out{{"run", r.run_path}, {"checkpoint", r.checkpoint}, {"finished", r.finished},
                               {"steps", r.steps}, {"total_steps", r.total_steps}, {"train_seconds", r.train_seconds},
                               {"train_images_per_second", r.train_images_per_second}};
    if (r.skipped_images) out["skipped_images"] = r.skipped_images;
    if (r.finished) out.update(metrics_json(r.metrics_at_size, r.metric, r.class_names));
    if (json) {
      std::cout << out.dump(2) << "\n";
    } else {
      std::cout << "run " << r.run_path << "\n";
      if (r.skipped_images) std::cout << "left out " << r.skipped_images << " bad image(s) (data.skip_bad; see log.txt)\n";
      if (!r.finished)
        std::cout << "stopped at step " << r.steps << " of " << r.total_steps << "; continue with: pesuite vision train --resume "
                  << r.run_path << "\n";
      print_metrics(r.metrics_at_size, r.metric);
    }
  });

  // ---- eval ----
  auto* eval = vision->add_subcommand("eval", "Evaluate a checkpoint at several input sizes (no fine-tuning)");
  static ConfigOptions eval_config;
  static std::string eval_ckpt, eval_sizes;
  static bool eval_json = false;
  eval->add_option("--ckpt", eval_ckpt, "Checkpoint (.safetensors) written by vision train")->required();
  add_config_options(*eval, eval_config);
  eval->add_option("--sizes", eval_sizes, "Input sizes, e.g. 28,44,56 (default: the config's eval.sizes)");
  eval->add_flag("--json", eval_json, "Print the result as JSON");
  eval->callback([]() {
    Config cfg = config_for_checkpoint(eval_ckpt, eval_config);
    const auto sizes = eval_sizes.empty() ? cfg.get_ints("eval.sizes") : parse_sizes(eval_sizes);
    const auto r = experiments::evaluate_checkpoint(cfg, eval_ckpt, sizes);
    nlohmann::ordered_json out{{"checkpoint", r.checkpoint}, {"data", cfg.get_string("data.test")}, {"metric", r.metric}};
    out.update(metrics_json(r.metrics_at_size, r.metric, r.class_names));
    if (eval_json) std::cout << out.dump(2) << "\n";
    else print_metrics(r.metrics_at_size, r.metric);
  });

  // ---- attention ----
  auto* attention = vision->add_subcommand(
      "attention", "Class-token attention per head for every layer, and the PE's similarity map, as PNG + safetensors");
  static ConfigOptions att_config;
  static std::string att_ckpt, att_image, att_out;
  static std::int64_t att_index = 0, att_size = 0;
  attention->add_option("--ckpt", att_ckpt, "Checkpoint (.safetensors) written by vision train")->required();
  attention->add_option("--image", att_image, "A PNG/JPEG file, or a dataset spec (with --index)")->required();
  attention->add_option("--index", att_index, "Item of the dataset spec")->capture_default_str();
  attention->add_option("--size", att_size, "Input size (default: the training size)");
  attention->add_option("--out", att_out, "Output folder")->required();
  add_config_options(*attention, att_config);
  attention->callback([]() {
    Config cfg = config_for_checkpoint(att_ckpt, att_config);
    const torch::Device device = runtime::parse_device(cfg.get_string("device"));
    vision::ViT model = experiments::load_classifier(cfg, att_ckpt, device);
    std::string label;
    auto x = load_attention_input(att_image, att_index, cfg, model->options.in_chans(), label);
    if (x.size(1) != model->options.in_chans())
      throw InputError(att_image + ": " + std::to_string(x.size(1)) + "-channel image for a " +
                       std::to_string(model->options.in_chans()) + "-channel model");
    const std::int64_t size = att_size > 0 ? att_size : model->options.img_size();
    if (size % model->options.patch_size() != 0)
      throw InputError("--size " + std::to_string(size) + ": not a multiple of the patch size " + std::to_string(model->options.patch_size()));
    namespace F = torch::nn::functional;
    if (x.size(2) != size || x.size(3) != size)
      x = F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kBilinear).align_corners(false));
    const auto cap = vision::capture_attention(model, x.to(device));
    const auto& layout = cap.layout;
    make_dirs(att_out);

    io::TensorMap tensors{{"input", x.cpu()}, {"logits", cap.logits.cpu()}};
    nlohmann::ordered_json summary{{"checkpoint", att_ckpt}, {"image", att_image}, {"label", label}, {"size", size},
                                   {"grid", {layout.height, layout.width}}, {"class_token", layout.prefix > 0},
                                   {"prediction", cap.logits.argmax(1).item<std::int64_t>()}, {"layers", nlohmann::json::array()}};
    std::vector<std::string> written;
    const int tile = static_cast<int>(std::max<std::int64_t>(96, std::min<std::int64_t>(224, size * 4)));
    for (std::size_t l = 0; l < cap.probs.size(); ++l) {
      const auto& p = cap.probs[l].cpu();
      auto maps = vision::attention_grid_maps(p, layout)[0];  // [H, h, w]
      tensors["layer" + std::to_string(l) + ".maps"] = maps;
      summary["layers"].push_back({{"layer", l},
                                   {"entropy", to_vector(heads::attention_entropy(p))},
                                   {"mean_distance", to_vector(heads::mean_attention_distance(p, layout))}});
#ifdef PESUITE_HAVE_OPENCV
      std::vector<cv::Mat> tiles{show_input(x[0], tile)};
      std::vector<std::string> captions{"input"};
      for (std::int64_t h = 0; h < maps.size(0); ++h) {
        cv::Mat blended;
        cv::addWeighted(show_input(x[0], tile), 0.35, heat(maps[h], tile), 0.65, 0.0, blended);
        tiles.push_back(blended);
        captions.push_back("layer " + std::to_string(l) + " head " + std::to_string(h));
      }
      const std::string png = att_out + "/attention_layer" + std::to_string(l) + ".png";
      write_png(png, tile_row(tiles, captions, tile));
      written.push_back(png);
#endif
    }
    auto sim = vision::pe_similarity_maps(model, layout.height, layout.width);
    if (sim.defined()) {
      tensors["pe_similarity"] = sim;
#ifdef PESUITE_HAVE_OPENCV
      const std::string png = att_out + "/pe_similarity.png";
      write_png(png, similarity_grid(sim, layout.height, layout.width, std::max(24, static_cast<int>(168 / layout.width))));
      written.push_back(png);
#endif
    } else {
      summary["pe_similarity"] = "skipped: pe '" + cfg.get_string("model.pe") + "' adds no embedding to the tokens";
    }
#ifndef PESUITE_HAVE_OPENCV
    summary["png"] = "skipped: this build has no OpenCV";
#endif
    io::save_safetensors(att_out + "/attention.safetensors", tensors);
    summary["files"] = written;
    write_file_atomic(att_out + "/summary.json", summary.dump(2) + "\n");
    std::cout << "wrote " << att_out << "/attention.safetensors, summary.json";
    for (const auto& f : written) std::cout << ", " << fs::path(f).filename().string();
    std::cout << "\n";
  });
}

}  // namespace pesuite::cli
