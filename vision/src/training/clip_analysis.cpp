// Mean-ablation, TextSpan and zero-shot segmentation on a CLIP (clip_analysis.h).
#include "pesuite/vision/clip_analysis.h"

#include <algorithm>
#include <array>
#include <set>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <sstream>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/png.h"
#include "pesuite/datasets/scene_text.h"
#include "pesuite/vision/decompose.h"
#include "pesuite/vision/segmentation.h"

namespace pesuite::vision {

namespace fs = std::filesystem;

// ---- mean-ablation --------------------------------------------------------------------------------

std::vector<AblationRow> clip_ablation_specs(std::int64_t L, std::int64_t late) {
  if (late < 1 || late > L)
    throw core::InputError("mean-ablation: late layers " + std::to_string(late) + " must be in [1, " + std::to_string(L) + "] for a " +
                           std::to_string(L) + "-layer model");
  std::vector<AblationRow> rows;
  rows.push_back({"none", {}, 0});
  heads::AblationSpec mlps;
  mlps.parts = {"embedding", "mlp.*"};
  rows.push_back({"mlps", mlps, 0});
  heads::AblationSpec cls;
  cls.source_terms = true;
  rows.push_back({"cls_to_cls", cls, 0});
  for (std::int64_t l = 0; l < L; ++l) {
    heads::AblationSpec s;
    s.layers = heads::AblationSpec::layers_range(0, l);
    rows.push_back({"attn_0_to_" + std::to_string(l), s, 0});
  }
  heads::AblationSpec early, lat, all_but;
  if (L - late > 0) early.layers = heads::AblationSpec::layers_range(0, L - late - 1);
  lat.layers = heads::AblationSpec::layers_range(L - late, L - 1);
  all_but = early;
  all_but.parts = mlps.parts;
  rows.push_back({"early_attn", early, 0});
  rows.push_back({"late_attn", lat, 0});
  rows.push_back({"all_but_late", all_but, 0});
  return rows;
}

namespace {

heads::Decomposition decompose_batch(Clip& model, const torch::Tensor& x, bool spatial) {
  torch::NoGradGuard no_grad;
  return decompose_clip_image(model->visual, x, heads::DecomposeOptions().spatial(spatial).track_source(0));
}

double hit_rate(const torch::Tensor& hits) { return hits.numel() ? hits.to(torch::kFloat64).mean().item<double>() : 0.0; }

}  // namespace

ClipAblationReport clip_mean_ablation(Clip& model, const torch::Tensor& class_weights, const ClipScenes& data, std::int64_t late,
                                      std::int64_t batch, const torch::Device& device) {
  model->eval();
  const auto N = data.size();
  if (N == 0) throw core::InputError("mean-ablation: no images");
  ClipAblationReport report;
  report.rows = clip_ablation_specs(model->options.vision_layers(), late);
  const auto w = class_weights.to(torch::kCPU, torch::kFloat32);
  // The model's own accuracy, float32.
  {
    auto emb = encode_images(model, data.images, batch, device, /*bf16=*/false);
    report.baseline = hit_rate(zero_shot_hits(zero_shot_classify(emb, w), data.targets));
  }
  heads::TermMeans means;
  for (std::int64_t i = 0; i < N; i += batch) {
    auto d = decompose_batch(model, data.images.slice(0, i, std::min(i + batch, N)).to(device), false);
    means.add(d);
  }
  const auto mean = means.mean();
  std::vector<std::vector<torch::Tensor>> hits(report.rows.size());
  for (std::int64_t i = 0; i < N; i += batch) {
    const auto j = std::min(i + batch, N);
    auto d = decompose_batch(model, data.images.slice(0, i, j).to(device), false);
    for (std::size_t r = 0; r < report.rows.size(); ++r) {
      auto out = heads::mean_ablate(d, mean, report.rows[r].spec).to(torch::kCPU, torch::kFloat32);
      hits[r].push_back(zero_shot_hits(zero_shot_classify(out, w), data.targets.slice(0, i, j)));
    }
  }
  for (std::size_t r = 0; r < report.rows.size(); ++r) report.rows[r].accuracy = hit_rate(torch::cat(hits[r]));
  return report;
}

// ---- TextSpan -------------------------------------------------------------------------------------

std::vector<PoolText> scene_text_pool(const std::vector<std::string>& classes) {
  std::vector<PoolText> pool;
  for (const auto& c : classes) pool.push_back({"a photo of " + datasets::article(c) + " " + c + ".", "object"});
  for (int k = 0; k < datasets::kNumColours; ++k)
    pool.push_back({std::string("a photo of something ") + datasets::colour_name(static_cast<datasets::Colour>(k)) + ".", "colour"});
  for (const char* p : {"top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right"})
    pool.push_back({"a photo of an object " + datasets::position_phrase(p) + ".", "position"});
  pool.push_back({"a photo of one object.", "count"});
  for (int n = 2; n <= 4; ++n) pool.push_back({"a photo of " + datasets::count_word(n) + " objects.", "count"});
  return pool;
}

std::vector<PoolText> read_text_pool(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw core::InputError(path + ": cannot read the text pool (no such file?)");
  std::vector<PoolText> pool;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const auto tab = line.find('\t');
    if (tab == std::string::npos) pool.push_back({line, ""});
    else pool.push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  if (pool.empty()) throw core::InputError(path + ": the text pool is empty (one text per line expected)");
  return pool;
}

std::vector<std::int64_t> parse_layer_range(const std::string& text, std::int64_t L) {
  auto bad = [&](const std::string& why) {
    return core::InputError("--layers '" + text + "': " + why + " (e.g. -4: for the last four, 0:3, 2, 1,5; the model has " +
                            std::to_string(L) + " layers)");
  };
  auto parse_int = [&](const std::string& s, std::int64_t& v) {
    try {
      std::size_t used = 0;
      v = std::stoll(s, &used);
      return used == s.size();
    } catch (const std::exception&) {
      return false;
    }
  };
  std::vector<std::int64_t> out;
  const auto colon = text.find(':');
  if (colon != std::string::npos) {
    const auto a = text.substr(0, colon), b = text.substr(colon + 1);
    std::int64_t lo = 0, hi = L;
    if (!a.empty() && !parse_int(a, lo)) throw bad("'" + a + "' is not an integer");
    if (!b.empty() && !parse_int(b, hi)) throw bad("'" + b + "' is not an integer");
    if (lo < 0) lo += L;
    if (hi < 0) hi += L;
    lo = std::clamp<std::int64_t>(lo, 0, L);
    hi = std::clamp<std::int64_t>(hi, 0, L);
    for (auto l = lo; l < hi; ++l) out.push_back(l);
  } else {
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
      std::int64_t v = 0;
      if (!parse_int(item, v)) throw bad("'" + item + "' is not an integer");
      if (v < 0) v += L;
      if (v < 0 || v >= L) throw bad("layer " + item + " is out of range");
      out.push_back(v);
    }
  }
  if (out.empty()) throw bad("selects no layer");
  return out;
}

std::vector<HeadSpan> clip_text_span(Clip& model, const ClipTokenizer& tokenizer, const std::vector<PoolText>& pool,
                                     const torch::Tensor& images, const std::vector<std::int64_t>& layers,
                                     const heads::TextSpanOptions& options, std::int64_t batch, const torch::Device& device,
                                     std::int64_t top) {
  if (pool.empty()) throw core::InputError("textspan: the text pool is empty");
  model->eval();
  const auto L = model->options.vision_layers();
  for (auto l : layers)
    if (l < 0 || l >= L) throw core::InputError("textspan: layer " + std::to_string(l) + " is out of range (0.." + std::to_string(L - 1) + ")");
  // Text embeddings, normalised.
  torch::Tensor texts;
  {
    torch::NoGradGuard no_grad;
    std::vector<std::string> t;
    for (const auto& p : pool) t.push_back(p.text);
    auto tok = tokenizer.tokenize(t, model->options.context_length());
    for (std::size_t i = 0; i < tok.truncated.size(); ++i)
      if (tok.truncated[i])
        std::cerr << "warning: text '" << t[i] << "' is longer than the context (" << model->options.context_length()
                  << " tokens) and was truncated, as CLIP does\n";
    std::vector<torch::Tensor> parts;
    for (std::int64_t i = 0; i < tok.tokens.size(0); i += 256)
      parts.push_back(model->encode_text(tok.tokens.slice(0, i, std::min(i + 256, tok.tokens.size(0))).to(device)).to(torch::kCPU));
    texts = torch::cat(parts);
    texts = texts / texts.norm(2, 1, true);
  }
  // Head outputs [N, L, H, E], normalised by the embedding's norm.
  std::vector<torch::Tensor> heads_out;
  for (std::int64_t i = 0; i < images.size(0); i += batch) {
    torch::NoGradGuard no_grad;
    auto d = decompose_clip_image(model->visual, images.slice(0, i, std::min(i + batch, images.size(0))).to(device),
                                  heads::DecomposeOptions().spatial(false).normalize(true));
    heads_out.push_back(d.heads.to(torch::kCPU));
  }
  auto all = torch::cat(heads_out);
  std::vector<HeadSpan> out;
  for (auto l : layers)
    for (std::int64_t h = 0; h < all.size(2); ++h) {
      auto r = heads::text_span(all.select(1, l).select(1, h), texts, options);
      HeadSpan s;
      s.layer = l;
      s.head = h;
      std::map<std::string, std::int64_t> counts;
      for (std::size_t k = 0; k < r.texts.size(); ++k) {
        const auto& p = pool[static_cast<std::size_t>(r.texts[k])];
        s.texts.push_back(p.text);
        s.categories.push_back(p.category);
        s.explained.push_back(r.explained[k]);
        s.total_explained += r.explained[k];
        if (static_cast<std::int64_t>(k) < top && !p.category.empty()) ++counts[p.category];
      }
      for (const auto& [c, n] : counts)
        if (static_cast<double>(n) / static_cast<double>(top) > s.category_share) s.category = c, s.category_share = static_cast<double>(n) / top;
      out.push_back(s);
    }
  return out;
}

std::vector<std::string> write_text_span(const std::vector<HeadSpan>& spans, const std::string& dir) {
  fs::create_directories(dir);
  std::vector<std::string> files;
  std::ostringstream md;
  md << "# TextSpan: the texts that span each head's direct contribution\n\n"
     << "| layer | head | category (share of top picks) | variance explained by all picks | texts (variance explained) |\n|---|---|---|---|---|\n";
  for (const auto& s : spans) {
    std::ostringstream tsv;
    tsv << "rank\ttext\tvariance_explained\tcategory\n";
    md << "| " << s.layer << " | " << s.head << " | " << (s.category.empty() ? "-" : s.category) << " (" << std::fixed << std::setprecision(2)
       << s.category_share << ") | " << std::setprecision(3) << s.total_explained << " | ";
    for (std::size_t k = 0; k < s.texts.size(); ++k) {
      tsv << k + 1 << "\t" << s.texts[k] << "\t" << std::setprecision(6) << s.explained[k] << "\t" << s.categories[k] << "\n";
      if (k < 5) md << (k ? "; " : "") << s.texts[k] << " (" << std::setprecision(3) << s.explained[k] << ")";
    }
    md << " |\n";
    const auto f = dir + "/layer" + std::to_string(s.layer) + "_head" + std::to_string(s.head) + ".tsv";
    core::write_file_atomic(f, tsv.str());
    files.push_back(f);
  }
  core::write_file_atomic(dir + "/textspan.md", md.str());
  files.push_back(dir + "/textspan.md");
  return files;
}

// ---- segmentation ---------------------------------------------------------------------------------
namespace {

// Blue (0) -> cyan -> yellow -> red (1); NaN black.
std::array<std::uint8_t, 3> colour_map(float v) {
  if (!std::isfinite(v)) return {0, 0, 0};
  v = std::clamp(v, 0.f, 1.f);
  const float r = std::clamp(1.5f - std::abs(4 * v - 3), 0.f, 1.f), g = std::clamp(1.5f - std::abs(4 * v - 2), 0.f, 1.f),
              b = std::clamp(1.5f - std::abs(4 * v - 1), 0.f, 1.f);
  return {static_cast<std::uint8_t>(255 * r), static_cast<std::uint8_t>(255 * g), static_cast<std::uint8_t>(255 * b)};
}

void write_panels(const std::string& path, const torch::Tensor& image, const torch::Tensor& mask, const std::vector<torch::Tensor>& maps) {
  const int S = static_cast<int>(image.size(1));
  const int panels = 2 + static_cast<int>(maps.size());
  datasets::RgbImage out(S * panels + 2 * (panels - 1), S, 255);
  auto mean = torch::tensor(std::vector<float>(kClipMean.begin(), kClipMean.end())).view({3, 1, 1});
  auto stdev = torch::tensor(std::vector<float>(kClipStd.begin(), kClipStd.end())).view({3, 1, 1});
  auto rgb = (image * stdev + mean).clamp(0, 1).mul(255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  auto px = rgb.accessor<std::uint8_t, 3>();
  auto m = mask.accessor<std::uint8_t, 2>();
  std::vector<torch::TensorAccessor<float, 2>> a;
  for (const auto& t : maps) a.push_back(t.accessor<float, 2>());
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      for (int c = 0; c < 3; ++c) out.at(y, x)[c] = px[y][x][c];
      const std::uint8_t g = m[y][x] == 1 ? 255 : m[y][x] == 2 ? 128 : 0;  // foreground white, not scored grey
      for (int c = 0; c < 3; ++c) out.at(y, S + 2 + x)[c] = g;
      for (std::size_t k = 0; k < a.size(); ++k) {
        const auto col = colour_map(a[k][y][x]);
        for (int c = 0; c < 3; ++c) out.at(y, static_cast<int>((2 + k) * (S + 2)) + x)[c] = col[static_cast<std::size_t>(c)];
      }
    }
  datasets::write_png_rgb(path, out);
}

SegmentationScores scores(const SegmentationMeter& m) { return {m.pixel_accuracy(), m.mean_iou(), m.mean_ap()}; }

}  // namespace

SegmentationSamples scene_segmentation_samples(const ClipScenes& data) {
  SegmentationSamples out;
  out.spec = data.spec;
  out.images = data.images;
  out.masks = data.instances.gt(0).to(torch::kUInt8);
  out.image_of.resize(static_cast<std::size_t>(data.size()));
  std::iota(out.image_of.begin(), out.image_of.end(), 0);
  out.class_of.assign(out.image_of.size(), -1);
  out.classes = data.classes;
  return out;
}

ClipSegmentationReport clip_segmentation(Clip& model, const torch::Tensor& class_weights, const ClipScenes& data,
                                         const std::vector<std::int64_t>& layers, std::int64_t batch, const torch::Device& device,
                                         const std::string& png_dir, std::int64_t pngs) {
  return clip_segmentation(model, class_weights, scene_segmentation_samples(data), layers, batch, device, png_dir, pngs);
}

ClipSegmentationReport clip_segmentation(Clip& model, const torch::Tensor& class_weights, const SegmentationSamples& data,
                                         const std::vector<std::int64_t>& layers, std::int64_t batch, const torch::Device& device,
                                         const std::string& png_dir, std::int64_t pngs) {
  model->eval();
  const auto N = data.images.defined() ? data.images.size(0) : 0, M = data.size();
  if (N == 0 || M == 0) throw core::InputError("segmentation: no images");
  if (static_cast<std::int64_t>(data.class_of.size()) != M || !data.masks.defined() || data.masks.size(0) != M ||
      !std::is_sorted(data.image_of.begin(), data.image_of.end()) || data.image_of.front() < 0 || data.image_of.back() >= N)
    throw std::logic_error("clip_segmentation: samples must be ordered by image, one class and mask each");
  const auto S = data.images.size(2);
  if (!png_dir.empty() && pngs > 0) fs::create_directories(png_dir);
  const auto layout = model->visual->layout_for(data.images.size(2), data.images.size(3));
  const auto w = class_weights.to(torch::kCPU, torch::kFloat32);
  SegmentationMeter dec, roll, uni;
  ClipSegmentationReport report;
  std::int64_t k = 0;  // the next sample (samples are ordered by image)
  for (std::int64_t i = 0; i < N; i += batch) {
    torch::NoGradGuard no_grad;
    const auto j = std::min(i + batch, N);
    const auto k0 = k;
    while (k < M && data.image_of[static_cast<std::size_t>(k)] < j) ++k;
    if (k == k0) continue;  // no sample on these images
    auto x = data.images.slice(0, i, j).to(device);
    auto s = clip_residual_stream(model->visual, x);
    auto d = heads::decompose(s, clip_readout(model->visual, s.residual.size(1)), heads::DecomposeOptions().spatial(true));
    auto predicted = zero_shot_classify(d.output.to(torch::kCPU, torch::kFloat32), w);
    std::vector<std::int64_t> img, cls;
    for (auto q = k0; q < k; ++q) {
      const auto b = data.image_of[static_cast<std::size_t>(q)] - i, c = data.class_of[static_cast<std::size_t>(q)];
      img.push_back(b);
      cls.push_back(c >= 0 ? c : predicted[b].item<std::int64_t>());
    }
    const auto img_t = torch::tensor(img, torch::kInt64);
    std::vector<torch::Tensor> probs;
    for (const auto& a : s.attention) probs.push_back(a.probs);
    const auto td = d.tokens.device();
    auto dmap = normalize_heatmap(upsample_heatmap(decomposition_heatmaps(d, w.to(td), img_t.to(td), torch::tensor(cls, torch::kInt64).to(td), layout, layers), S, S))
                    .to(torch::kCPU, torch::kFloat32);
    auto rmap = normalize_heatmap(upsample_heatmap(attention_rollout(probs, layout), S, S)).to(torch::kCPU, torch::kFloat32).index_select(0, img_t);
    auto umap = normalize_heatmap(torch::ones({k - k0, S, S}));
    auto masks = data.masks.slice(0, k0, k);
    for (std::int64_t q = 0; q < k - k0; ++q) {
      const auto fg = masks[q].eq(1), ignore = masks[q].eq(2);
      dec.add(dmap[q], fg, -1.0, ignore);
      roll.add(rmap[q], fg, -1.0, ignore);
      uni.add(umap[q], fg, -1.0, ignore);
      if (!png_dir.empty() && k0 + q < pngs) {
        std::ostringstream name;
        name << png_dir << "/" << data.png_name << std::setw(4) << std::setfill('0') << k0 + q << ".png";
        write_panels(name.str(), data.images[img[static_cast<std::size_t>(q)] + i], masks[q], {dmap[q], rmap[q]});
        report.pngs.push_back(name.str());
      }
    }
  }
  report.images = N;
  report.samples = M;
  report.decomposition = scores(dec);
  report.rollout = scores(roll);
  report.uniform = scores(uni);
  return report;
}

#ifndef PESUITE_HAVE_OPENCV
SegmentationSamples load_coco_segmentation(const std::string& spec, std::int64_t, CocoSamples) {
  throw core::InputError("dataset spec '" + spec + "': segmenting COCO images needs OpenCV (pesuite::imageio), which this build lacks");
}
#endif

// ---- the analyses of a training run ---------------------------------------------------------------

std::map<std::string, double> run_clip_analyses(Clip& model, const ClipTokenizer& tokenizer, const ClipScenes& data,
                                                const core::Config& cfg, const std::string& run_path, const torch::Device& device,
                                                bool bf16) {
  (void)bf16;  // the decomposition runs in float32
  std::map<std::string, double> m;
  const bool ablation = cfg.get_bool("analysis.ablation"), textspan = cfg.get_bool("analysis.textspan"),
             segmentation = cfg.get_bool("analysis.segmentation");
  if (!ablation && !textspan && !segmentation) return m;
  const auto batch = std::max<std::int64_t>(1, cfg.get_int("eval.batch_size"));
  model->eval();
  const auto weights = zero_shot_weights(model, tokenizer, data.classes, cfg.get_strings("eval.templates"));
  const auto L = model->options.vision_layers();
  if (ablation) {
    const auto late = std::min<std::int64_t>(cfg.get_int("analysis.late_layers"), L);
    const auto r = clip_mean_ablation(model, weights, data, late, batch, device);
    m["zs_acc_f32"] = r.baseline;
    std::ostringstream md;
    md << "| ablation (terms replaced by their mean) | zero-shot accuracy | drop |\n|---|---|---|\n";
    for (const auto& row : r.rows) {
      m["abl." + row.name] = row.accuracy;
      m["drop." + row.name] = r.baseline - row.accuracy;
      md << "| " << row.name << " | " << std::fixed << std::setprecision(4) << row.accuracy << " | " << r.baseline - row.accuracy << " |\n";
    }
    core::write_file_atomic(run_path + "/ablation.md", md.str());
  }
  if (textspan) {
    const auto pool_file = cfg.get_string("analysis.textspan_texts");
    std::vector<PoolText> pool;
    if (pool_file.empty()) {
      auto names = data.classes;
      names.insert(names.end(), data.heldout.begin(), data.heldout.end());
      pool = scene_text_pool(names);
    } else {
      pool = read_text_pool(pool_file);
    }
    const auto n_layers = std::clamp<std::int64_t>(cfg.get_int("analysis.textspan_layers"), 1, L);
    const auto top = std::max<std::int64_t>(1, cfg.get_int("analysis.textspan_top"));
    const auto spans = clip_text_span(model, tokenizer, pool, data.images, parse_layer_range(std::to_string(-n_layers) + ":", L),
                                      heads::TextSpanOptions().rank(cfg.get_int("analysis.textspan_rank")).iterations(cfg.get_int("analysis.textspan_iterations")),
                                      batch, device, top);
    write_text_span(spans, run_path + "/textspan");
    double specialised = 0, explained = 0;
    std::set<std::string> cats;
    for (const auto& s : spans) {
      explained += s.total_explained;
      if (s.category_share >= 0.6) {
        specialised += 1;
        cats.insert(s.category);
      }
    }
    m["ts.specialised"] = specialised / static_cast<double>(spans.size());
    m["ts.categories"] = static_cast<double>(cats.size());
    m["ts.explained"] = explained / static_cast<double>(spans.size());
  }
  if (segmentation) {
    const auto layers = cfg.get_ints("analysis.segmentation_layers");
    for (auto l : layers)
      if (l < 0 || l >= L)
        throw core::InputError("config analysis.segmentation_layers: layer " + std::to_string(l) + " is out of range (0.." + std::to_string(L - 1) + ")");
    const auto r = clip_segmentation(model, weights, data, layers, std::min<std::int64_t>(batch, 64), device, run_path + "/heatmaps",
                                     cfg.get_int("analysis.segmentation_pngs"));
    for (const auto& [name, s] : {std::pair<const char*, SegmentationScores>{"seg", r.decomposition}, {"rollout", r.rollout}, {"uniform", r.uniform}}) {
      m[std::string(name) + ".pixel_acc"] = s.pixel_accuracy;
      m[std::string(name) + ".miou"] = s.mean_iou;
      m[std::string(name) + ".map"] = s.mean_ap;
    }
    m["seg.miou_minus_rollout"] = r.decomposition.mean_iou - r.rollout.mean_iou;
    m["seg.miou_minus_uniform"] = r.decomposition.mean_iou - r.uniform.mean_iou;
  }
  return m;
}

}  // namespace pesuite::vision
