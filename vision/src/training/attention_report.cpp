// vision/attention_report.h: the attention report of one image, and reading that image.
#include "pesuite/vision/attention_report.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/heads/head_analysis.h"
#include "pesuite/vision/image_data.h"
#ifdef PESUITE_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace pesuite::vision {
namespace {

namespace fs = std::filesystem;

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
  if (!cv::imencode(".png", img, bytes)) throw core::InputError(path + ": could not encode PNG");
  core::write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
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

std::vector<double> to_vector(const torch::Tensor& t) {
  auto d = t.to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

}  // namespace

// The image to look at: a PNG/JPEG file, or item `index` of a dataset spec.
torch::Tensor load_input_image(const std::string& image, std::int64_t index, const core::Config& cfg, std::int64_t channels,
                               std::string& label) {
  const auto mean = cfg.get_doubles("data.mean"), stdv = cfg.get_doubles("data.std");
  const auto ext = fs::path(image).extension().string();
  std::string lower = ext;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (lower == ".png" || lower == ".jpg" || lower == ".jpeg" || lower == ".bmp") {
#ifdef PESUITE_HAVE_OPENCV
    cv::Mat m = cv::imread(image, (channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR) | cv::IMREAD_IGNORE_ORIENTATION);  // as decode_image
    if (m.empty()) throw core::InputError(image + ": cannot read the image");
    if (channels == 3) cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
    auto t = torch::from_blob(m.data, {m.rows, m.cols, m.channels()}, torch::kUInt8).clone().permute({2, 0, 1}).to(torch::kFloat32) / 255.0;
    const auto mu = resolve_norm(mean, channels, true, image), sd = resolve_norm(stdv, channels, false, image);
    for (std::int64_t c = 0; c < channels; ++c) t[c] = (t[c] - mu[static_cast<std::size_t>(c)]) / sd[static_cast<std::size_t>(c)];
    label = fs::path(image).filename().string();
    return t.unsqueeze(0);
#else
    throw core::InputError(image + ": reading PNG/JPEG needs OpenCV, which this build lacks; name a dataset item instead (--image <spec> --index N)");
#endif
  }
  auto set = load_image_set(image, index + 1, mean, stdv);
  if (index < 0 || index >= set.images.size(0))
    throw core::InputError("--index " + std::to_string(index) + ": " + image + " has " + std::to_string(set.images.size(0)) + " images");
  if (!set.multi_label) {
    const auto y = set.targets[index].item<std::int64_t>();
    label = y < static_cast<std::int64_t>(set.class_names.size()) ? set.class_names[static_cast<std::size_t>(y)] : std::to_string(y);
  }
  return set.images.slice(0, index, index + 1);
}

std::vector<std::string> write_attention_report(ViT& model, const torch::Tensor& x, const std::string& out_dir,
                                                const AttentionReportInfo& info) {
  const auto device = model->parameters().front().device();
  const std::int64_t size = x.size(3);
    const auto cap = capture_attention(model, x.to(device));
    const auto& layout = cap.layout;
    core::make_dirs(out_dir);

    core::TensorMap tensors{{"input", x.cpu()}, {"logits", cap.logits.cpu()}};
    nlohmann::ordered_json summary{{"checkpoint", info.checkpoint}, {"image", info.image}, {"label", info.label}, {"size", size},
                                   {"grid", {layout.height, layout.width}}, {"class_token", layout.prefix > 0},
                                   {"prediction", cap.logits.argmax(1).item<std::int64_t>()}, {"layers", nlohmann::json::array()}};
    std::vector<std::string> written;
    const int tile = static_cast<int>(std::max<std::int64_t>(96, std::min<std::int64_t>(224, size * 4)));
    for (std::size_t l = 0; l < cap.probs.size(); ++l) {
      const auto& p = cap.probs[l].cpu();
      auto maps = attention_grid_maps(p, layout)[0];  // [H, h, w]
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
      const std::string png = out_dir + "/attention_layer" + std::to_string(l) + ".png";
      write_png(png, tile_row(tiles, captions, tile));
      written.push_back(png);
#endif
    }
    auto sim = pe_similarity_maps(model, layout.height, layout.width);
    if (sim.defined()) {
      tensors["pe_similarity"] = sim;
#ifdef PESUITE_HAVE_OPENCV
      const std::string png = out_dir + "/pe_similarity.png";
      write_png(png, similarity_grid(sim, layout.height, layout.width, std::max(24, static_cast<int>(168 / layout.width))));
      written.push_back(png);
#endif
    } else {
      summary["pe_similarity"] = "skipped: pe '" + info.pe + "' adds no embedding to the tokens";
    }
#ifndef PESUITE_HAVE_OPENCV
    summary["png"] = "skipped: this build has no OpenCV";
#endif
    core::save_safetensors(out_dir + "/attention.safetensors", tensors);
    summary["files"] = written;
    core::write_file_atomic(out_dir + "/summary.json", summary.dump(2) + "\n");
  return written;
}

}  // namespace pesuite::vision
