// CLIP training on scenes, zero-shot evaluation, mean-ablation, TextSpan and zero-shot segmentation
// (vision/clip_training.h, vision/clip_analysis.h), and `pesuite clip ...` with its bad-input exits.
// Scenes come from the synthetic five-class bank of tests/datasets (no openclipart needed); the
// tokenizer needs CLIP's vocabulary from the sample data.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "datasets/scene_test_bank.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"
#include "pesuite/datasets/coco_mask.h"
#include "pesuite/datasets/image_record.h"
#include "pesuite/vision/clip_analysis.h"
#include "pesuite/vision/clip_training.h"
#include "pesuite/vision/decompose.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::vision;
using pesuite::test::run_cli;
using pesuite::test::TempDir;

namespace {

namespace fs = std::filesystem;

std::string bank_file() { return test::synthetic_bank_file(); }

std::string vocab_file() { return test::sample_data("clip/bpe_simple_vocab_16e6.txt.gz"); }

std::string scenes(const std::string& keys) { return "scenes:?" + keys + "&size=32&holdout=2&bank=" + bank_file(); }

// A CLIP small enough to train a few steps in a second: 32 px scenes, 2 x 64 image tower.
core::Config tiny_config() {
  core::Config cfg = clip_training_defaults();
  cfg.apply_set("device=\"cpu\"");
  cfg.apply_set("data.train=\"" + scenes("n=96&split=train&max_objects=2") + "\"");
  cfg.apply_set("data.test=\"" + scenes("n=40&split=test&max_objects=1&seed=1") + "\"");
  cfg.apply_set("data.heldout=\"" + scenes("n=30&split=heldout&max_objects=1&seed=2") + "\"");
  cfg.apply_set("data.seen=\"" + scenes("n=30&split=train&max_objects=1&seed=3") + "\"");
  cfg.apply_set("data.vocab=\"" + vocab_file() + "\"");
  for (const char* s : {"model.name=\"clip_micro_patch8_64\"", "model.image_size=32", "model.vision_width=64", "model.vision_layers=2",
                        "model.text_width=64", "model.text_layers=1", "model.embed_dim=32", "train.epochs=2", "train.batch_size=16",
                        "train.lr=2e-3", "train.log_every=1", "eval.batch_size=16", "analysis.late_layers=1", "analysis.textspan_layers=1"})
    cfg.apply_set(s);
  return cfg;
}

Clip random_model(std::uint64_t seed = 0) {
  torch::manual_seed(seed);
  Clip m = build_clip(tiny_config());
  m->eval();
  return m;
}

core::TensorMap model_tensors(const std::string& ckpt) {
  core::TensorMap out;
  for (auto& [name, t] : core::load_safetensors(ckpt).tensors)
    if (name.rfind("model.", 0) == 0) out[name] = t;
  return out;
}

}  // namespace

TEST(ClipTraining, TrainsResumesBitwiseAndEvaluatesZeroShot) {
  PESUITE_SKIP_WITHOUT_SAMPLE(vocab_file(), "clip/bpe_simple_vocab_16e6.txt.gz");
  TempDir dir;
  const auto cfg = tiny_config();
  const auto full = run_clip_training(cfg, dir / "runs");
  ASSERT_TRUE(full.finished);
  EXPECT_EQ(full.steps, 12);  // 96 scenes / 16 per batch x 2 epochs
  ASSERT_TRUE(full.zero_shot.count("test") && full.zero_shot.count("heldout") && full.zero_shot.count("seen"));
  const auto& zt = full.zero_shot.at("test");
  EXPECT_EQ(zt.images, 40);
  EXPECT_EQ(zt.classes, 3);
  EXPECT_NEAR(zt.chance, 1.0 / 3.0, 1e-12);  // one object per scene, 3 training classes
  EXPECT_NEAR(full.zero_shot.at("heldout").chance, 0.5, 1e-12);
  const auto& zs = full.zero_shot.at("seen");  // the training drawings in new scenes: the training classes
  EXPECT_EQ(zs.images, 30);
  EXPECT_EQ(zs.classes, 3);
  EXPECT_NEAR(zs.chance, 1.0 / 3.0, 1e-12);
  EXPECT_GE(zt.accuracy, 0.0);
  EXPECT_LE(zt.accuracy, 1.0);
  EXPECT_LE(full.logit_scale, std::log(100.0) + 1e-12);
  EXPECT_TRUE(std::isfinite(full.final_loss));

  // Stopped after 5 steps and resumed: the same weights, bit for bit.
  core::Config part_cfg = cfg;
  part_cfg.apply_set("train.stop_after_steps=5");
  const auto part = run_clip_training(part_cfg, dir / "runs-part");
  EXPECT_FALSE(part.finished);
  EXPECT_EQ(part.steps, 5);
  core::Config rest_cfg = clip_resume_config(part.run_path);
  rest_cfg.apply_set("train.stop_after_steps=0");
  const auto rest = run_clip_training(rest_cfg, dir / "runs-part", part.run_path);
  ASSERT_TRUE(rest.finished);
  const auto a = model_tensors(full.checkpoint), b = model_tensors(rest.checkpoint);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  EXPECT_EQ(rest.zero_shot.at("test").accuracy, zt.accuracy);

  // The checkpoint loads with its config and gives the same accuracy.
  auto loaded = load_clip_checkpoint(full.checkpoint, torch::kCPU);
  const auto test = load_clip_scenes(clip_dataset_specs(loaded.config)[1]);
  const auto again = zero_shot_eval(loaded.model, clip_tokenizer(loaded.config), test, loaded.config.get_strings("eval.templates"), 16,
                                    torch::kCPU, false);
  EXPECT_EQ(again.accuracy, zt.accuracy);
  EXPECT_TRUE(torch::equal(again.predictions, zt.predictions));

  // train.cuda_graphs' staged steps (the batch copied into static tensors, then the loss read from
  // them), run eagerly on the CPU: the same weights as the plain steps, bit for bit.
  core::Config staged_cfg = cfg;
  staged_cfg.apply_set("train.cuda_graphs=true");
  staged_cfg.apply_set("train.stage_on_cpu=true");
  const auto staged = run_clip_training(staged_cfg, dir / "runs-staged");
  ASSERT_TRUE(staged.finished);
  const auto c = model_tensors(staged.checkpoint);
  ASSERT_EQ(a.size(), c.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, c.at(name))) << name;
}

TEST(ClipTraining, BadConfigsAreInputErrors) {
  PESUITE_SKIP_WITHOUT_SAMPLE(vocab_file(), "clip/bpe_simple_vocab_16e6.txt.gz");
  TempDir dir;
  auto error_of = [&](const std::string& set) {
    core::Config cfg = tiny_config();
    cfg.apply_set(set);
    try {
      run_clip_training(cfg, dir / "runs");
    } catch (const core::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("data.test=\"idx:/nowhere\"").find("captioned scenes"), std::string::npos);
  EXPECT_NE(error_of("train.batch_size=1").find("at least 2"), std::string::npos);
  EXPECT_NE(error_of("train.captions=\"all\"").find("among counting, position, names"), std::string::npos);
  EXPECT_NE(error_of("train.captions=\"names+names\"").find("distinct kinds"), std::string::npos);
  EXPECT_NE(error_of("train.captions=\"counting+\"").find("among counting, position, names"), std::string::npos);
  EXPECT_NE(error_of("model.patch_size=5").find("patch"), std::string::npos);
  EXPECT_NE(error_of("model.name=\"ViT-X\"").find("unknown"), std::string::npos);
}

TEST(ClipAblation, NothingAblatedIsTheModelItselfAndSelfMeansAreTheIdentity) {
  PESUITE_SKIP_WITHOUT_SAMPLE(vocab_file(), "clip/bpe_simple_vocab_16e6.txt.gz");
  Clip model = random_model();
  const auto cfg = tiny_config();
  const auto data = load_clip_scenes(clip_dataset_specs(cfg)[1]);
  const auto tok = clip_tokenizer(cfg);
  const auto weights = zero_shot_weights(model, tok, data.classes, cfg.get_strings("eval.templates"));
  const auto report = clip_mean_ablation(model, weights, data, /*late=*/1, 16, torch::kCPU);
  std::vector<std::string> names;
  for (const auto& r : report.rows) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"none", "mlps", "cls_to_cls", "attn_0_to_0", "attn_0_to_1", "early_attn", "late_attn",
                                              "all_but_late"}));
  EXPECT_EQ(report.rows[0].accuracy, report.baseline);  // exactly: the same predictions
  EXPECT_EQ(report.baseline, zero_shot_eval(model, tok, data, cfg.get_strings("eval.templates"), 16, torch::kCPU, false, weights).accuracy);
  for (const auto& r : report.rows) {
    EXPECT_GE(r.accuracy, 0.0);
    EXPECT_LE(r.accuracy, 1.0);
  }

  // Each term replaced by its own per-image value: the output itself; by the batch mean: a hand sum.
  const auto images = data.images.slice(0, 0, 12);
  const auto d = decompose_clip_image(model->visual, images, heads::DecomposeOptions().spatial(false).track_source(0));
  const auto mean = heads::mean_terms(d);
  for (const auto& r : report.rows) {
    EXPECT_TRUE(torch::allclose(heads::mean_ablate(d, d, r.spec), d.total(), 1e-5, 1e-6)) << r.name;
    EXPECT_TRUE(torch::equal(heads::mean_ablate(d, d, r.spec).argmax(1), d.total().argmax(1))) << r.name;
  }
  // mlps: ln_pre's term and both MLPs replaced by their means.
  auto expected = d.total().clone();
  for (std::int64_t p = 0; p < d.parts.size(1); ++p) expected += mean.parts.select(1, p) - d.parts.select(1, p);  // embedding, mlp.0, mlp.1
  EXPECT_TRUE(torch::allclose(heads::mean_ablate(d, mean, report.rows[1].spec), expected, 1e-5, 1e-6));
  // attention layer 0: every head of it.
  expected = d.total() + (mean.heads.select(1, 0) - d.heads.select(1, 0)).sum(1);
  EXPECT_TRUE(torch::allclose(heads::mean_ablate(d, mean, report.rows[3].spec), expected, 1e-5, 1e-6));
  EXPECT_THROW(clip_ablation_specs(2, 3), core::InputError);
  EXPECT_THROW(clip_ablation_specs(2, 0), core::InputError);
}

TEST(ClipTextSpan, LayerRangesPoolsAndFiles) {
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(parse_layer_range("-4:", 6), (V{2, 3, 4, 5}));
  EXPECT_EQ(parse_layer_range("0:3", 6), (V{0, 1, 2}));
  EXPECT_EQ(parse_layer_range(":", 3), (V{0, 1, 2}));
  EXPECT_EQ(parse_layer_range("2", 6), (V{2}));
  EXPECT_EQ(parse_layer_range("-1", 4), (V{3}));
  EXPECT_EQ(parse_layer_range("1,5", 6), (V{1, 5}));
  for (const char* bad : {"x", "7", "3:1", "1:y", ""}) EXPECT_THROW(parse_layer_range(bad, 4), core::InputError) << bad;

  const auto pool = scene_text_pool({"apple", "bear"});
  EXPECT_EQ(pool.size(), 2u + 11u + 9u + 4u);
  EXPECT_EQ(pool[0].text, "a photo of an apple.");
  EXPECT_EQ(pool[0].category, "object");
  EXPECT_EQ(pool[2].text, "a photo of something black.");
  EXPECT_EQ(pool[2].category, "colour");

  TempDir dir;
  core::write_file_atomic(dir / "empty.txt", "\n  \n");
  EXPECT_THROW(read_text_pool(dir / "empty.txt"), core::InputError);
  EXPECT_THROW(read_text_pool(dir / "missing.txt"), core::InputError);
  core::write_file_atomic(dir / "pool.txt", "a red thing\tcolour\r\n\na dog\n");
  const auto p = read_text_pool(dir / "pool.txt");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].text, "a red thing");
  EXPECT_EQ(p[0].category, "colour");
  EXPECT_EQ(p[1].category, "");

  PESUITE_SKIP_WITHOUT_SAMPLE(vocab_file(), "clip/bpe_simple_vocab_16e6.txt.gz");
  Clip model = random_model();
  const auto cfg = tiny_config();
  const auto data = load_clip_scenes(clip_dataset_specs(cfg)[1]);
  const auto spans = clip_text_span(model, clip_tokenizer(cfg), scene_text_pool(data.classes), data.images, {1},
                                    heads::TextSpanOptions().iterations(5), 16, torch::kCPU);
  ASSERT_EQ(spans.size(), 1u);  // 64 / 64 = 1 head
  EXPECT_EQ(spans[0].layer, 1);
  EXPECT_LE(spans[0].texts.size(), 5u);
  EXPECT_GE(spans[0].texts.size(), 1u);
  EXPECT_LE(spans[0].total_explained, 1.0 + 1e-9);
  EXPECT_THROW(clip_text_span(model, clip_tokenizer(cfg), {}, data.images, {1}, {}, 16, torch::kCPU), core::InputError);
  EXPECT_THROW(clip_text_span(model, clip_tokenizer(cfg), p, data.images, {2}, {}, 16, torch::kCPU), core::InputError);
  const auto files = write_text_span(spans, dir / "ts");
  ASSERT_EQ(files.size(), 2u);
  const auto tsv = core::read_file(dir / "ts/layer1_head0.tsv");
  EXPECT_EQ(tsv.rfind("rank\ttext\tvariance_explained\tcategory\n1\t", 0), 0u);
}

TEST(ClipSegmentation, BaselinesHaveTheirClosedFormsAndPngsAreWritten) {
  PESUITE_SKIP_WITHOUT_SAMPLE(vocab_file(), "clip/bpe_simple_vocab_16e6.txt.gz");
  Clip model = random_model();
  const auto cfg = tiny_config();
  const auto data = load_clip_scenes(clip_dataset_specs(cfg)[1]);
  const auto weights = zero_shot_weights(model, clip_tokenizer(cfg), data.classes, cfg.get_strings("eval.templates"));
  TempDir dir;
  const auto r = clip_segmentation(model, weights, data, {}, 16, torch::kCPU, dir / "png", 3);
  EXPECT_EQ(r.images, 40);
  ASSERT_EQ(r.pngs.size(), 3u);
  for (const auto& f : r.pngs) EXPECT_TRUE(fs::exists(f)) << f;
  // A uniform map predicts background everywhere: accuracy = background share, IoU_fg = 0; its
  // scores all tie (0 in both channels), so AP is the positive share over the two channels: 1/2.
  const double bg = data.instances.eq(0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(r.uniform.pixel_accuracy, bg, 1e-12);
  EXPECT_NEAR(r.uniform.mean_iou, bg / 2, 1e-12);
  EXPECT_NEAR(r.uniform.mean_ap, 0.5, 1e-12);
  for (const auto& s : {r.decomposition, r.rollout}) {
    EXPECT_GT(s.pixel_accuracy, 0.0);
    EXPECT_LE(s.pixel_accuracy, 1.0);
    EXPECT_GT(s.mean_ap, 0.0);
    EXPECT_LE(s.mean_ap, 1.0);
  }
  // Layers beyond the model are an error.
  EXPECT_THROW(clip_segmentation(model, weights, data, {5}, 16, torch::kCPU), core::InputError);
}

// COCO masks (coco-tiny: a real sample of 16 images, 196 polygon objects and one crowd region of
// persons in image 184613, which also has 13 persons of its own): one sample per (image, category
// present), 88 of them; masks follow the images' resize; the uniform map's scores are the closed
// forms of the masks; crowd=0 turns the ignored crowd pixels into background, pixel for pixel.
TEST(ClipSegmentation, CocoMasksAlignAndBaselinesHaveTheirClosedForms) {
  PESUITE_SKIP_WITHOUT_SAMPLE(vocab_file(), "clip/bpe_simple_vocab_16e6.txt.gz");
  const std::string root = test::sample_data("coco-tiny");
  PESUITE_SKIP_WITHOUT_SAMPLE(root, "coco-tiny/");
  const std::string spec = "coco:" + root + "/instances_train2017_small.json?images=" + root + "/train_2017_small";
  const auto data = load_coco_segmentation(spec, 32);
  ASSERT_EQ(data.size(), 88);
  EXPECT_EQ(data.images.size(0), 16);
  EXPECT_EQ(data.masks.sizes().vec(), (std::vector<std::int64_t>{88, 32, 32}));
  ASSERT_EQ(data.classes.size(), 80u);
  EXPECT_EQ(data.classes[0], "person");

  // Alignment at 224 px: every sample's mask is the union of its category's instances, resized: its
  // pixels lie in the union's box (scaled, one pixel of margin), and its pixel count, scaled back,
  // is the union's area to within the resampling of its boundary (measured: 1.6 %, checked below 3 %, for unions of
  // at least 2000 pixels).
  datasets::ImageDataset set;
  const auto rles = datasets::load_coco_masks(datasets::parse_spec(spec), &set);
  const auto big = load_coco_segmentation(spec, 224);
  ASSERT_EQ(big.size(), 88);
  std::int64_t k = 0, image = -1, record = -1, crowd_samples = 0;
  double worst = 0;
  for (std::size_t r = 0; r < set.records.size(); ++r) {
    const auto& rec = set.records[r];
    std::map<std::int64_t, std::vector<datasets::Rle>> of_class;
    for (std::size_t b = 0; b < rec.boxes.size(); ++b)
      if (!rec.boxes[b].crowd) of_class[rec.boxes[b].label].push_back(rles[r][b]);
    for (const auto& [c, parts] : of_class) {
      if (static_cast<std::int64_t>(r) != record) record = static_cast<std::int64_t>(r), ++image;
      ASSERT_LT(k, big.size());
      EXPECT_EQ(big.image_of[static_cast<std::size_t>(k)], image);
      EXPECT_EQ(big.class_of[static_cast<std::size_t>(k)], c);
      const auto u = datasets::rle_union(parts);
      const auto m = datasets::rle_decode(u);
      std::int64_t x0 = rec.width, y0 = rec.height, x1 = -1, y1 = -1;
      for (std::int64_t y = 0; y < rec.height; ++y)
        for (std::int64_t x = 0; x < rec.width; ++x)
          if (m[static_cast<std::size_t>(y * rec.width + x)]) x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
      const auto mask = big.masks[k];
      const auto fg = mask.eq(1);
      crowd_samples += mask.eq(2).any().item<bool>();
      const auto idx = fg.nonzero();
      if (idx.size(0) > 0) {
        const double sy = 224.0 / static_cast<double>(rec.height), sx = 224.0 / static_cast<double>(rec.width);
        EXPECT_GE(idx.select(1, 0).min().item<std::int64_t>(), std::floor(y0 * sy) - 1) << rec.id << " class " << c;
        EXPECT_LE(idx.select(1, 0).max().item<std::int64_t>(), std::ceil((y1 + 1) * sy) + 1) << rec.id << " class " << c;
        EXPECT_GE(idx.select(1, 1).min().item<std::int64_t>(), std::floor(x0 * sx) - 1) << rec.id << " class " << c;
        EXPECT_LE(idx.select(1, 1).max().item<std::int64_t>(), std::ceil((x1 + 1) * sx) + 1) << rec.id << " class " << c;
      }
      const double area = static_cast<double>(datasets::rle_area(u));
      const double scaled = fg.sum().item<double>() * static_cast<double>(rec.height * rec.width) / (224.0 * 224.0);
      if (area >= 2000) worst = std::max(worst, std::abs(scaled - area) / area);
      ++k;
    }
  }
  EXPECT_EQ(k, 88);
  EXPECT_EQ(crowd_samples, 1);  // the persons of 184613: their crowd region is not scored
  EXPECT_LT(worst, 0.03);
  std::cout << "[ masks ] largest relative area difference at 224 px (unions >= 2000 px): " << worst << "\n";

  // The uniform map predicts background everywhere: accuracy and IoU_bg are the background share of
  // the scored pixels, IoU_fg 0, AP 1/2 (all scores tie). Two runs agree exactly.
  Clip model = random_model();
  const auto cfg = tiny_config();
  const auto weights = zero_shot_weights(model, clip_tokenizer(cfg), data.classes, cfg.get_strings("eval.templates"));
  TempDir dir;
  const auto r = clip_segmentation(model, weights, data, {}, 8, torch::kCPU, dir / "png", 2);
  EXPECT_EQ(r.images, 16);
  EXPECT_EQ(r.samples, 88);
  ASSERT_EQ(r.pngs.size(), 2u);
  EXPECT_TRUE(fs::exists(dir / "png/coco0001.png"));
  const double bg = data.masks.eq(0).sum().item<double>(), scored = data.masks.ne(2).sum().item<double>();
  EXPECT_NEAR(r.uniform.pixel_accuracy, bg / scored, 1e-12);
  EXPECT_NEAR(r.uniform.mean_iou, bg / scored / 2, 1e-12);
  EXPECT_NEAR(r.uniform.mean_ap, 0.5, 1e-12);
  const auto again = clip_segmentation(model, weights, data, {}, 8, torch::kCPU);
  for (const auto& [a, b] : {std::pair{r.decomposition, again.decomposition}, {r.rollout, again.rollout}}) {
    EXPECT_EQ(a.pixel_accuracy, b.pixel_accuracy);
    EXPECT_EQ(a.mean_iou, b.mean_iou);
    EXPECT_EQ(a.mean_ap, b.mean_ap);
  }

  // crowd=0: the crowd region is dropped; its ignored pixels become background, nothing else changes.
  const auto no_crowd = load_coco_segmentation(spec + "&crowd=0", 32);
  ASSERT_EQ(no_crowd.size(), 88);
  EXPECT_EQ(no_crowd.masks.eq(2).sum().item<std::int64_t>(), 0);
  EXPECT_GT(data.masks.eq(2).sum().item<std::int64_t>(), 0);
  EXPECT_TRUE(torch::equal(no_crowd.masks.eq(1), data.masks.eq(1)));
  EXPECT_TRUE(torch::equal(no_crowd.masks.eq(0), data.masks.ne(1)));

  // One sample per image (the zero-shot class's map): its foreground is exactly the union of the
  // image's per-category foregrounds (nearest-neighbour resizing commutes with the union), its
  // ignored pixels lie outside it, and its class is the image's prediction (-1).
  const auto one = load_coco_segmentation(spec, 32, CocoSamples::predicted_class);
  ASSERT_EQ(one.size(), 16);
  EXPECT_TRUE(torch::equal(one.images, data.images));
  for (std::int64_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one.image_of[static_cast<std::size_t>(i)], i);
    EXPECT_EQ(one.class_of[static_cast<std::size_t>(i)], -1);
    auto fg = torch::zeros({32, 32}, torch::kBool);
    for (std::int64_t q = 0; q < data.size(); ++q)
      if (data.image_of[static_cast<std::size_t>(q)] == i) fg |= data.masks[q].eq(1);
    EXPECT_TRUE(torch::equal(one.masks[i].eq(1), fg)) << "image " << i;
  }
  EXPECT_GT(one.masks.eq(2).sum().item<std::int64_t>(), 0);
  EXPECT_EQ(load_coco_segmentation(spec + "&crowd=0", 32, CocoSamples::predicted_class).masks.eq(2).sum().item<std::int64_t>(), 0);

  // The command: the same numbers from a CLIP file (save_clip) and COCO's spec.
  save_clip(dir / "clip.safetensors", model);
  const auto cli = run_cli("clip segment --json --device cpu --vocab " + vocab_file() + " --ckpt " + dir / "clip.safetensors" + " --data '" +
                           spec + "' --batch 8 --pngs 0 --out " + dir / "cli");
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const auto j = nlohmann::json::parse(cli.out);
  EXPECT_EQ(j["samples"], 88);
  EXPECT_EQ(j["images"], 16);
  EXPECT_DOUBLE_EQ(j["uniform"]["pixel_accuracy"].get<double>(), r.uniform.pixel_accuracy);
  // The maps to float rounding: another BLAS thread count in the command changes their last bits
  // (measured: 3e-7 in the rollout's mAP); 1e-4 is a few pixels of the 90,112 at the threshold.
  for (const char* name : {"decomposition", "rollout"}) {
    const auto& lib = std::string(name) == "rollout" ? r.rollout : r.decomposition;
    EXPECT_NEAR(j[name]["pixel_accuracy"].get<double>(), lib.pixel_accuracy, 1e-4) << name;
    EXPECT_NEAR(j[name]["mean_iou"].get<double>(), lib.mean_iou, 1e-4) << name;
    EXPECT_NEAR(j[name]["mean_ap"].get<double>(), lib.mean_ap, 1e-4) << name;
  }
  // --coco-samples predicted: the library's scores of the one-per-image samples.
  const auto r_one = clip_segmentation(model, weights, one, {}, 8, torch::kCPU);
  EXPECT_NEAR(r_one.uniform.pixel_accuracy, one.masks.eq(0).sum().item<double>() / one.masks.ne(2).sum().item<double>(), 1e-12);
  const auto cli_one = run_cli("clip segment --json --device cpu --vocab " + vocab_file() + " --ckpt " + dir / "clip.safetensors" + " --data '" +
                               spec + "' --batch 8 --pngs 0 --coco-samples predicted --out " + dir / "cli-one");
  ASSERT_EQ(cli_one.exit_code, 0) << cli_one.err;
  const auto j1 = nlohmann::json::parse(cli_one.out);
  EXPECT_EQ(j1["samples"], 16);
  EXPECT_DOUBLE_EQ(j1["uniform"]["pixel_accuracy"].get<double>(), r_one.uniform.pixel_accuracy);
  EXPECT_NEAR(j1["decomposition"]["mean_iou"].get<double>(), r_one.decomposition.mean_iou, 1e-4);
  EXPECT_EQ(run_cli("clip segment --device cpu --vocab " + vocab_file() + " --ckpt " + dir / "clip.safetensors" + " --data '" + spec +
                    "' --coco-samples each --out " + dir / "cli-bad")
                .exit_code,
            2);
  const auto bad = run_cli("clip segment --device cpu --vocab " + vocab_file() + " --ckpt " + dir / "clip.safetensors" + " --data 'coco:" +
                           dir / "missing.json" + "' --out " + dir / "bad");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST(ClipCli, CommandsAndBadInputExits) {
  PESUITE_SKIP_WITHOUT_SAMPLE(vocab_file(), "clip/bpe_simple_vocab_16e6.txt.gz");
  TempDir dir;
  core::write_file_atomic(dir / "clip.toml", tiny_config().to_toml());
  auto r = run_cli("clip train --json --config " + dir / "clip.toml" + " --runs " + dir / "runs");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::string ckpt = j["checkpoint"].get<std::string>();
  ASSERT_TRUE(fs::exists(ckpt));
  EXPECT_TRUE(j["zero_shot_test"]["accuracy"].is_number());

  r = run_cli("clip eval --json --ckpt " + ckpt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(r.out)["test"]["accuracy"].get<double>(), j["zero_shot_test"]["accuracy"].get<double>());

  r = run_cli("clip zeroshot --ckpt " + ckpt + " --data '" + scenes("n=20&split=test&max_objects=1&seed=5") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("zero-shot accuracy"), std::string::npos);

  r = run_cli("clip segment --ckpt " + ckpt + " --pngs 2 --out " + dir / "seg");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mIoU"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "seg/scene0001.png"));

  // A text longer than the context: truncated with a warning, as CLIP does.
  std::string long_text = "a photo of";
  for (int i = 0; i < 40; ++i) long_text += " a very red apple";
  core::write_file_atomic(dir / "texts.txt", "a red thing\n" + long_text + "\n");
  r = run_cli("clip textspan --ckpt " + ckpt + " --texts " + dir / "texts.txt" + " --layers=-1: --out " + dir / "ts");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(dir / "ts/textspan.md"));

  // Bad input: exit 2 with the reason.
  auto expect_exit2 = [&](const std::string& args, const std::vector<std::string>& pieces) {
    const auto b = run_cli(args);
    EXPECT_EQ(b.exit_code, 2) << args << "\n" << b.err;
    for (const auto& p : pieces) EXPECT_NE(b.err.find(p), std::string::npos) << args << "\n" << b.err;
  };
  core::write_file_atomic(dir / "empty.txt", "\n");
  expect_exit2("clip textspan --ckpt " + ckpt + " --texts " + dir / "empty.txt" + " --out " + dir / "ts2", {"empty"});
  expect_exit2("clip zeroshot --ckpt " + ckpt + " --data idx:/nowhere", {"scenes"});
  expect_exit2("clip textspan --ckpt " + ckpt + " --layers 9 --out " + dir / "ts3", {"--layers '9'"});
  core::write_file_atomic(dir / "vocab.txt", "not a merges file\n");
  expect_exit2("clip eval --ckpt " + ckpt + " --vocab " + dir / "vocab.txt", {dir / "vocab.txt"});
  expect_exit2("clip eval --ckpt " + dir / "missing.safetensors", {"no such checkpoint"});
  // A mis-shaped tensor: named, with both shapes.
  auto file = core::load_safetensors(ckpt);
  file.tensors["model.visual.proj"] = torch::zeros({3, 5});
  core::save_safetensors(dir / "bad.safetensors", file.tensors, file.metadata);
  expect_exit2("clip eval --ckpt " + dir / "bad.safetensors", {"visual.proj", "[3, 5]", "[64, 32]"});
  file.tensors.erase("model.visual.proj");
  core::save_safetensors(dir / "missing-tensor.safetensors", file.tensors, file.metadata);
  expect_exit2("clip eval --ckpt " + dir / "missing-tensor.safetensors", {"visual.proj", "missing"});
}
