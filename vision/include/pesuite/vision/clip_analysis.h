#pragma once
// The analyses of Gandelsman, Efros and Steinhardt (ICLR 2024) on a CLIP and captioned scenes,
// built on the exact decomposition of the image embedding (vision/decompose.h, heads/decomposition.h):
// mean-ablation with zero-shot accuracy after each (section 3), TextSpan per head (section 4) and
// zero-shot segmentation against the scenes' masks with two baselines (section 5).
//
//   using namespace pesuite::vision;
//   auto weights = zero_shot_weights(model, tokenizer, test.classes, templates);      // clip.h
//   ClipAblationReport a = clip_mean_ablation(model, weights, test, /*late=*/4, 64, torch::kCPU);
//   a.baseline;  a.rows[1].name == "mlps";  a.rows[1].accuracy;
//   auto pool = scene_text_pool(test.classes);                                         // or read_text_pool(file)
//   auto spans = clip_text_span(model, tokenizer, pool, test.images, parse_layer_range("-4:", L), {}, 64, torch::kCPU);
//   write_text_span(spans, "out/textspan");
//   ClipSegmentationReport s = clip_segmentation(model, weights, test, {}, 32, torch::kCPU, "out/heatmaps", 8);
//   s.decomposition.pixel_accuracy;  s.rollout.mean_iou;  s.uniform.mean_ap;
//   auto coco = load_coco_segmentation("coco:instances_val2017.json", 224);             // COCO's masks
//   auto one = load_coco_segmentation("coco:...", 224, CocoSamples::predicted_class);  // one per image
//   auto cw = zero_shot_weights(model, tokenizer, coco.classes, templates);
//   clip_segmentation(model, cw, coco, {}, 32, torch::kCPU);
//
// Mean-ablation: the means are taken over the evaluated images themselves, as the paper does on
// ImageNet's validation set. Every ablation is computed from the float32 decomposition, so
// "none" reproduces the model's own zero-shot accuracy (from encode_image) exactly.
// Rows (`clip_ablation_specs`): none; mlps (ln_pre's term and every MLP, the paper's "MLPs"
// row); cls_to_cls (every head's term from the class token to itself); attn_0_to_<l> (attention
// layers 0..l, cumulative, l = 0 .. L-1); early_attn (layers 0 .. L-late-1); late_attn (the last
// `late` layers); all_but_late (MLPs, ln_pre and the early layers: only the last `late`
// attention layers keep their direct effect).
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/heads/decomposition.h"
#include "pesuite/heads/text_span.h"
#include "pesuite/vision/clip.h"
#include "pesuite/vision/clip_training.h"

namespace pesuite::vision {

// ---- mean-ablation --------------------------------------------------------------------------------
struct AblationRow {
  std::string name;
  heads::AblationSpec spec;
  double accuracy = 0;
};
struct ClipAblationReport {
  double baseline = 0;  // the model's own zero-shot accuracy (encode_image, float32)
  std::vector<AblationRow> rows;
};
// The rows listed above for a model of `layers` attention layers. InputError when late is not in [1, layers].
std::vector<AblationRow> clip_ablation_specs(std::int64_t layers, std::int64_t late);
// Two passes over data.images: the terms' means, then every row's ablated embeddings' zero-shot
// accuracy against class_weights [K, E] (a hit: the predicted class is present, clip_training.h).
ClipAblationReport clip_mean_ablation(Clip& model, const torch::Tensor& class_weights, const ClipScenes& data, std::int64_t late,
                                      std::int64_t batch, const torch::Device& device);

// ---- TextSpan -------------------------------------------------------------------------------------
struct PoolText {
  std::string text;
  std::string category;  // object | colour | position | count (scene pool); "" for a file's texts
};
// The scenes' caption vocabulary as descriptions of one property each: "a photo of a {class}."
// per class, "a photo of something {colour}." per colour term, "a photo of an object {position
// phrase}." per position word, "a photo of {n} objects." for n = 1..4.
std::vector<PoolText> scene_text_pool(const std::vector<std::string>& classes);
// One text per line (blank lines skipped; a line "text<TAB>category" sets its category).
// InputError naming the file when it is missing or holds no text.
std::vector<PoolText> read_text_pool(const std::string& path);

// "-4:" (the last four), "0:3", "2", "1,5", ":" (all) over `layers` layers, Python slice
// semantics for a:b (b exclusive, negatives from the end). InputError for anything else or an
// empty selection.
std::vector<std::int64_t> parse_layer_range(const std::string& text, std::int64_t layers);

struct HeadSpan {
  std::int64_t layer = 0, head = 0;
  std::vector<std::string> texts, categories;
  std::vector<double> explained;  // each pick's share of the head's output variance
  std::string category;           // the most frequent category of the first `top` picks ("" if none)
  double category_share = 0;      // its count / top
  double total_explained = 0;
};
// The head outputs (direct terms, normalised by the embedding's norm as the paper's finalize)
// over all images; texts encoded by the text tower (normalised; a text longer than the context is
// truncated with a warning on stderr, as CLIP does). InputError for an empty pool.
std::vector<HeadSpan> clip_text_span(Clip& model, const ClipTokenizer& tokenizer, const std::vector<PoolText>& pool,
                                     const torch::Tensor& images, const std::vector<std::int64_t>& layers,
                                     const heads::TextSpanOptions& options, std::int64_t batch, const torch::Device& device,
                                     std::int64_t top = 5);
// <dir>/layer<l>_head<h>.tsv (rank, text, variance explained, category) per head, and
// <dir>/textspan.md (every head's texts in one table). Returns the files written.
std::vector<std::string> write_text_span(const std::vector<HeadSpan>& spans, const std::string& dir);

// ---- zero-shot segmentation ----------------------------------------------------------------------
struct SegmentationScores {
  double pixel_accuracy = 0, mean_iou = 0, mean_ap = 0;
};
struct ClipSegmentationReport {
  SegmentationScores decomposition, rollout, uniform;
  std::int64_t images = 0;
  std::int64_t samples = 0;  // (image, mask) pairs scored: one per scene; one per (image, class present) on COCO
  std::vector<std::string> pngs;
};
// Images and the masks to score their maps against: sample k is image image_of[k] with the map of
// class class_of[k] (-1: the image's zero-shot class, the argmax of the class weights) against
// masks[k]: uint8 [S, S], 0 background, 1 foreground, 2 scored as neither (a COCO crowd region).
// Samples are ordered by image.
struct SegmentationSamples {
  std::string spec, png_name = "scene";  // PNG files: <png_name><sample>.png
  torch::Tensor images;                   // float [N, 3, S, S], normalised (kClipMean / kClipStd)
  torch::Tensor masks;                    // uint8 [M, S, S]
  std::vector<std::int64_t> image_of, class_of;
  std::vector<std::string> classes;       // the class prompts' names
  std::int64_t size() const { return static_cast<std::int64_t>(image_of.size()); }
};
// One sample per scene: its zero-shot class against the union of the scene's object masks.
SegmentationSamples scene_segmentation_samples(const ClipScenes& data);
// How COCO's many-object images become samples. per_category: one per (image, category with a
// non-crowd instance in it), the map of that category against the union of its instances (the
// category's localisation, whatever the image's zero-shot class). predicted_class: one per image, the
// map of the image's zero-shot class against the union of all its instances (the paper's protocol on
// ImageNet-segmentation, one foreground mask and the predicted class; on COCO a map of one category
// is scored against the objects of all).
enum class CocoSamples { per_category, predicted_class };
// A coco: spec for a model of `size` px images: COCO's category names as the classes; samples as
// `samples` says. Images resized to size x size (area averaging when shrinking, as the streamed
// test data), masks with them by nearest neighbour (datasets::resize_mask_nearest). Crowd regions
// (kept by the spec's crowd=1, its default) of the category are scored as neither, as pycocotools
// ignores them; with crowd=0 they are dropped and count as background. Instances without a
// segmentation are left out. Needs OpenCV; InputError for a spec that is not coco:, a decoded image
// whose size differs from the JSON's, or no image with an object.
SegmentationSamples load_coco_segmentation(const std::string& spec, std::int64_t size,
                                           CocoSamples samples = CocoSamples::per_category);

// Per image: the zero-shot class (argmax of class_weights); per sample, the decomposition heatmap
// of `layers` (empty = all) for its class, attention rollout and a uniform (constant) map, each
// upsampled to the image and normalised, scored against the sample's mask. PNGs (when png_dir is
// not empty) of the first `pngs` samples: image | mask (grey: not scored) | decomposition | rollout,
// heatmaps in a blue-to-red colour map.
ClipSegmentationReport clip_segmentation(Clip& model, const torch::Tensor& class_weights, const SegmentationSamples& data,
                                         const std::vector<std::int64_t>& layers, std::int64_t batch, const torch::Device& device,
                                         const std::string& png_dir = "", std::int64_t pngs = 0);
// The scenes' samples (scene_segmentation_samples).
ClipSegmentationReport clip_segmentation(Clip& model, const torch::Tensor& class_weights, const ClipScenes& data,
                                         const std::vector<std::int64_t>& layers, std::int64_t batch, const torch::Device& device,
                                         const std::string& png_dir = "", std::int64_t pngs = 0);

// The analyses a training config switches on (analysis.ablation / textspan / segmentation), on
// `data`, with their outputs under run_path; named metrics (empty when none is on):
//   ablation:     zs_acc_f32, abl.<row>, drop.<row> (= zs_acc_f32 - abl.<row>)
//   textspan:     ts.specialised (share of heads whose top picks share one category),
//                 ts.categories (distinct categories among those heads), ts.explained (mean over heads)
//   segmentation: seg.{pixel_acc, miou, map}, rollout.{...}, uniform.{...}, seg.miou_minus_rollout,
//                 seg.miou_minus_uniform
std::map<std::string, double> run_clip_analyses(Clip& model, const ClipTokenizer& tokenizer, const ClipScenes& data,
                                                const core::Config& cfg, const std::string& run_path, const torch::Device& device,
                                                bool bf16);

}  // namespace pesuite::vision
