// The scenes: generator on a synthetic object bank (scene_test_bank.h): determinism, boxes and
// masks, occlusion, the IoU limit, captions (counts, colours, positions), held-out classes, the
// train / test drawing split, resolution independence, the bank file, the clip-art listing and
// bad input. The real openclipart-png is exercised in test_scenes_imageio.cpp.
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "pesuite/datasets/area_resize.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/png.h"
#include "pesuite/datasets/scene_text.h"
#include "pesuite/datasets/scenes.h"
#include "pesuite/core/error.h"
#include "pesuite/core/safetensors.h"
#include "scene_test_bank.h"
#include "test_util.h"

using namespace pesuite;
using datasets::SceneGenerator;
using datasets::SceneOptions;
using pesuite::test::TempDir;
using pesuite::test::expect_input_error;
namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

SceneOptions options(const std::string& query) {
  return SceneOptions::from_spec(datasets::parse_spec("scenes:?" + query));
}

SceneGenerator generator(const std::string& query) {
  return SceneGenerator(test::synthetic_bank_ptr(), options(query), "scenes:?" + query);
}

datasets::ScenesDataset scenes(const std::string& query, int threads = 1) {
  return datasets::generate_scenes(generator(query), "scenes:?" + query, threads);
}

bool same_objects(const std::vector<datasets::SceneObject>& a, const std::vector<datasets::SceneObject>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const auto &x = a[k], &y = b[k];
    if (x.label != y.label || x.instance != y.instance || x.x != y.x || x.y != y.y || x.w != y.w || x.h != y.h ||
        x.flipped != y.flipped || x.colour != y.colour || x.position != y.position || x.box.x1 != y.box.x1 ||
        x.box.y1 != y.box.y1 || x.box.x2 != y.box.x2 || x.box.y2 != y.box.y2 || x.visible_pixels != y.visible_pixels)
      return false;
  }
  return true;
}

// Tight box [x1, y1, x2, y2) of a bool [H, W] mask.
std::array<std::int64_t, 4> tight_box(const torch::Tensor& m) {
  const auto cols = m.any(0).nonzero().view({-1}), rows = m.any(1).nonzero().view({-1});
  return {cols[0].item<std::int64_t>(), rows[0].item<std::int64_t>(), cols[-1].item<std::int64_t>() + 1,
          rows[-1].item<std::int64_t>() + 1};
}

// float [1, 3, H, W] in [0, 1] of a uint8 [H, W, 3] image.
torch::Tensor as_float(const torch::Tensor& hwc) { return hwc.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div(255.0); }

std::size_t count_of(const std::string& text, const std::string& piece) {
  std::size_t n = 0;
  for (auto at = text.find(piece); at != std::string::npos; at = text.find(piece, at + 1)) ++n;
  return n;
}

}  // namespace

// ---- words ---------------------------------------------------------------------------------

TEST(SceneText, ColourTermsOfPixels) {
  using datasets::colour_name;
  using datasets::colour_of_pixel;
  EXPECT_STREQ(colour_name(colour_of_pixel(220, 30, 30)), "red");
  EXPECT_STREQ(colour_name(colour_of_pixel(250, 140, 20)), "orange");
  EXPECT_STREQ(colour_name(colour_of_pixel(240, 220, 40)), "yellow");
  EXPECT_STREQ(colour_name(colour_of_pixel(30, 160, 40)), "green");
  EXPECT_STREQ(colour_name(colour_of_pixel(40, 60, 220)), "blue");
  EXPECT_STREQ(colour_name(colour_of_pixel(140, 40, 200)), "purple");
  EXPECT_STREQ(colour_name(colour_of_pixel(250, 150, 200)), "pink");
  EXPECT_STREQ(colour_name(colour_of_pixel(130, 80, 30)), "brown");
  EXPECT_STREQ(colour_name(colour_of_pixel(10, 10, 10)), "black");
  EXPECT_STREQ(colour_name(colour_of_pixel(245, 245, 245)), "white");
  EXPECT_STREQ(colour_name(colour_of_pixel(128, 128, 128)), "grey");
}

TEST(SceneText, DominantColourIsTheLargestShareNotTheMean) {
  // 60 % red, 40 % green pixels: the mean (132, 82, 18) would read brown; the dominant term is red.
  std::vector<std::uint8_t> px;
  for (int i = 0; i < 10; ++i) {
    const bool red = i < 6;
    px.insert(px.end(), {static_cast<std::uint8_t>(red ? 220 : 0), static_cast<std::uint8_t>(red ? 0 : 200), 30, 255});
  }
  px.insert(px.end(), {0, 0, 255, 100});  // a faint blue pixel (alpha < 128) does not count
  EXPECT_EQ(datasets::dominant_colour(px.data(), 11), datasets::Colour::Red);
}

TEST(SceneText, PositionWordsAndPhrases) {
  EXPECT_EQ(datasets::position_word(0.1, 0.1), "top left");
  EXPECT_EQ(datasets::position_word(0.5, 0.1), "top");
  EXPECT_EQ(datasets::position_word(0.9, 0.2), "top right");
  EXPECT_EQ(datasets::position_word(0.2, 0.5), "left");
  EXPECT_EQ(datasets::position_word(0.5, 0.5), "centre");
  EXPECT_EQ(datasets::position_word(0.8, 0.6), "right");
  EXPECT_EQ(datasets::position_word(0.1, 0.9), "bottom left");
  EXPECT_EQ(datasets::position_word(0.4, 0.9), "bottom");
  EXPECT_EQ(datasets::position_word(0.95, 0.95), "bottom right");
  EXPECT_EQ(datasets::position_phrase("top"), "at the top");
  EXPECT_EQ(datasets::position_phrase("left"), "on the left");
  EXPECT_EQ(datasets::position_phrase("bottom right"), "in the bottom right");
  EXPECT_EQ(datasets::position_phrase("centre"), "in the centre");
}

TEST(SceneText, CaptionsCountAndName) {
  using datasets::CaptionObject;
  const std::vector<CaptionObject> objs = {{"bear", "bears", "brown", "left"},
                                           {"apple", "apples", "red", "top right"},
                                           {"bear", "bears", "brown", "bottom"}};
  EXPECT_EQ(datasets::counting_caption(objs, 0), "a photo of two brown bears and a red apple.");
  EXPECT_EQ(datasets::counting_caption(objs, 3), "two brown bears and a red apple.");
  auto mixed = objs;
  mixed[2].colour = "black";
  EXPECT_EQ(datasets::counting_caption(mixed, 1), "a picture of two bears and a red apple.");
  EXPECT_EQ(datasets::counting_caption({{"owl", "owls", "orange", "top"}}, 2), "an image of an orange owl.");
  // The names caption: the same grouping without colour words (the article follows the noun).
  EXPECT_EQ(datasets::names_caption(objs, 0), "a photo of two bears and an apple.");
  EXPECT_EQ(datasets::names_caption(mixed, 3), "two bears and an apple.");
  EXPECT_EQ(datasets::names_caption({{"owl", "owls", "orange", "top"}}, 2), "an image of an owl.");
  EXPECT_EQ(datasets::position_caption(objs),
            "a brown bear on the left, a red apple in the top right and a brown bear at the bottom.");
  EXPECT_EQ(datasets::count_word(3), "three");
  EXPECT_EQ(datasets::count_word(12), "12");
}

TEST(SceneText, ClassNounsOfFolders) {
  EXPECT_EQ(datasets::class_nouns("animals/mammals/bears"), std::make_pair(std::string("bear"), std::string("bears")));
  EXPECT_EQ(datasets::class_nouns("animals/mammals/big_cats"), std::make_pair(std::string("big cat"), std::string("big cats")));
  EXPECT_EQ(datasets::class_nouns("food/fruit").first, "fruit");
  EXPECT_EQ(datasets::class_nouns("x/strawberries"), std::make_pair(std::string("strawberry"), std::string("strawberries")));
  EXPECT_EQ(datasets::class_nouns("x/boxes").first, "box");
  EXPECT_EQ(datasets::class_nouns("x/glass").second, "glasss");  // the fallback is naive; the table covers the real folders
}

// ---- spec ----------------------------------------------------------------------------------

TEST(SceneSpec, DefaultsAndValidation) {
  const auto spec = datasets::parse_spec("scenes:?n=5&size=32");
  EXPECT_EQ(spec.get_int("n"), 5);
  EXPECT_EQ(spec.get("split"), "train");
  EXPECT_EQ(spec.get("max_iou"), "0.3");
  const auto o = SceneOptions::from_spec(spec);
  EXPECT_EQ(o.size, 32);
  EXPECT_EQ(o.backgrounds.size(), 5u);
  expect_input_error([] { datasets::parse_spec("scenes:?colour=1"); }, {"unknown key 'colour'", "valid:"});
  expect_input_error([] { datasets::parse_spec("scenes:/some/path"); }, {"takes no path"});
  expect_input_error([] { options("size=4"); }, {"'size'", "16..4096"});
  expect_input_error([] { options("split=val"); }, {"'split'"});
  expect_input_error([] { options("min_objects=3&max_objects=2"); }, {"'max_objects'"});
  expect_input_error([] { options("max_iou=1.5"); }, {"'max_iou'"});
  expect_input_error([] { options("backgrounds=plaid"); }, {"unknown kind 'plaid'"});
  expect_input_error([] { options("n=abc"); }, {"'n' must be an integer"});
  // Every key of the format row has help text.
  for (const auto& k : datasets::format("scenes").keys) EXPECT_FALSE(k.help.empty()) << k.key;
}

// ---- generation ----------------------------------------------------------------------------

TEST(Scenes, SameSeedSameBytesAnyThreadCount) {
  const auto a = scenes("n=24&size=48&seed=3", 1);
  const auto b = scenes("n=24&size=48&seed=3", 2);
  EXPECT_EQ(a.images.sizes(), (std::vector<std::int64_t>{24, 48, 48, 3}));
  EXPECT_TRUE(torch::equal(a.images, b.images));
  EXPECT_TRUE(torch::equal(a.instances, b.instances));
  EXPECT_TRUE(torch::equal(a.targets, b.targets));
  EXPECT_EQ(a.captions, b.captions);
  for (std::size_t i = 0; i < a.objects.size(); ++i) EXPECT_TRUE(same_objects(a.objects[i], b.objects[i])) << i;
  // The streaming API gives the same scene as the whole set.
  const auto s = generator("n=24&size=48&seed=3").render_scene(7);
  EXPECT_TRUE(torch::equal(s.image, a.images[7]));
  EXPECT_TRUE(same_objects(s.objects, a.objects[7]));
  // Another seed, or the test split, gives other scenes.
  const auto c = scenes("n=24&size=48&seed=4");
  EXPECT_FALSE(torch::equal(a.images, c.images));
  EXPECT_NE(a.captions, c.captions);
  const auto t = scenes("n=24&size=48&seed=3&split=test");
  EXPECT_FALSE(torch::equal(a.images, t.images));
}

TEST(Scenes, EveryBackgroundKindRenders) {
  for (const std::string kind : {"solid", "gradient", "noise", "stripes", "checker", "photo"}) {
    const auto set = scenes("n=4&size=32&min_objects=1&max_objects=1&backgrounds=" + kind);
    for (const auto& b : set.backgrounds) EXPECT_EQ(b, kind);
    EXPECT_GT(set.images.to(torch::kFloat32).std().item<double>(), 1.0) << kind;
  }
  // photo is skipped when the bank has none; asking for photos only is then an error.
  SceneGenerator g(test::synthetic_bank_ptr(false), options("n=4"), "test");
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_NE(g.layout(i).background.kind, "photo");
  expect_input_error([] { SceneGenerator(test::synthetic_bank_ptr(false), options("backgrounds=photo"), "test"); },
                     {"backgrounds=photo", "no photos"});
}

TEST(Scenes, BoxesAreTheMasksTightBoxesInsideTheImage) {
  const std::int64_t S = 64;
  const auto set = scenes("n=40&size=64&max_objects=5");
  std::int64_t checked = 0;
  for (std::int64_t i = 0; i < 40; ++i) {
    const auto& objs = set.objects[static_cast<std::size_t>(i)];
    ASSERT_GE(objs.size() + static_cast<std::size_t>(set.dropped[static_cast<std::size_t>(i)]), 1u);
    for (std::size_t k = 0; k < objs.size(); ++k) {
      const auto& o = objs[k];
      const torch::Tensor m = set.instances[i].eq(static_cast<std::int64_t>(k + 1));
      EXPECT_EQ(m.sum().item<std::int64_t>(), o.visible_pixels);
      if (o.visible_pixels == 0) continue;
      const auto tb = tight_box(m);
      EXPECT_NEAR(o.box.x1, tb[0], 1.0);
      EXPECT_NEAR(o.box.y1, tb[1], 1.0);
      EXPECT_NEAR(o.box.x2, tb[2], 1.0);
      EXPECT_NEAR(o.box.y2, tb[3], 1.0);
      EXPECT_GE(o.box.x1, 0);
      EXPECT_GE(o.box.y1, 0);
      EXPECT_LE(o.box.x2, S);
      EXPECT_LE(o.box.y2, S);
      EXPECT_LT(o.box.x1, o.box.x2);
      // The visible box lies inside the full cut-out (rounded to whole pixels).
      EXPECT_GE(o.box.x1, std::floor(o.full_box.x1) - 1);
      EXPECT_LE(o.box.x2, std::ceil(o.full_box.x2) + 1);
      EXPECT_GE(o.full_box.x1, 0);
      EXPECT_LE(o.full_box.x2, S + 1e-9);
      EXPECT_LE(o.full_box.y2, S + 1e-9);
      ++checked;
    }
  }
  EXPECT_GT(checked, 60);
  // Targets are the multi-hot of the placed objects' classes.
  for (std::int64_t i = 0; i < 40; ++i) {
    std::set<std::int64_t> present;
    for (const auto& o : set.objects[static_cast<std::size_t>(i)]) present.insert(o.label);
    for (std::int64_t c = 0; c < static_cast<std::int64_t>(set.classes.size()); ++c)
      EXPECT_EQ(set.targets[i][c].item<float>(), present.count(c) ? 1.0f : 0.0f);
  }
}

TEST(Scenes, IouAndCoverLimitsHold) {
  for (const std::string q : {"n=60&max_objects=6&max_iou=0.1&max_cover=0.3", "n=60&max_objects=6&max_iou=0&seed=1"}) {
    const auto g = generator(q);
    std::int64_t pairs = 0;
    for (std::int64_t i = 0; i < 60; ++i) {
      const auto L = g.layout(i);
      for (std::size_t a = 0; a < L.objects.size(); ++a) {
        double covered = 0;
        const auto& p = L.objects[a];
        EXPECT_GE(p.x, 0);
        EXPECT_LE(p.x + p.w, 1 + 1e-12);
        EXPECT_LE(p.y + p.h, 1 + 1e-12);
        for (std::size_t b = 0; b < L.objects.size(); ++b) {
          if (a == b) continue;
          const auto& q2 = L.objects[b];
          const double ix = std::max(0.0, std::min(p.x + p.w, q2.x + q2.w) - std::max(p.x, q2.x));
          const double iy = std::max(0.0, std::min(p.y + p.h, q2.y + q2.h) - std::max(p.y, q2.y));
          const double inter = ix * iy, iou = inter / (p.w * p.h + q2.w * q2.h - inter);
          EXPECT_LE(iou, g.options().max_iou + 1e-12);
          if (b > a) covered += inter;
          ++pairs;
        }
        EXPECT_LE(covered, g.options().max_cover * p.w * p.h + 1e-12);
      }
    }
    EXPECT_GT(pairs, 50) << q;
  }
}

TEST(Scenes, ImpossiblePlacementDropsAndCounts) {
  // Objects of 90 % of the image side cannot share it without overlap: one is placed, the rest dropped.
  const auto g = generator("n=10&min_objects=3&max_objects=3&min_scale=0.9&max_scale=0.9&max_iou=0&tries=5");
  for (std::int64_t i = 0; i < 10; ++i) {
    const auto L = g.layout(i);
    EXPECT_EQ(L.objects.size(), 1u);
    EXPECT_EQ(L.dropped, 2);
  }
}

TEST(Scenes, LaterObjectsOccludeEarlierOnes) {
  // Two opaque squares by hand: the second covers the first's lower right part.
  auto bank = test::synthetic_bank(false);
  const std::int64_t square = 6;  // class 1 (squares), drawing 0: 48 x 96
  ASSERT_EQ(bank.object_class[square], 1);
  bank.objects[square] = torch::full({50, 50, 4}, 255, torch::kUInt8);
  bank.objects[square].narrow(2, 0, 3).fill_(200);
  const auto bank_ptr = std::make_shared<const datasets::SceneBank>(bank);
  SceneGenerator g(bank_ptr, options("n=1&backgrounds=solid"), "test");
  datasets::SceneLayout L = g.layout(0);
  L.objects.clear();
  datasets::SceneObject a;
  a.label = g.classes() == std::vector<std::string>{"disc", "square", "triangle", "ring", "cross"} ? 1 : -1;
  ASSERT_EQ(a.label, 1);
  a.bank_class = 1;
  a.instance = square;
  a.x = 0.125, a.y = 0.125, a.w = 0.5, a.h = 0.5;
  datasets::SceneObject b = a;
  b.x = 0.375, b.y = 0.375, b.w = 0.375, b.h = 0.375;
  L.objects = {a, b};
  const auto s = g.render(L, 64);
  // a: pixels [8, 40) x [8, 40); b: [24, 48) x [24, 48); overlap [24, 40)^2 belongs to b.
  EXPECT_EQ(s.objects[0].visible_pixels, 32 * 32 - 16 * 16);
  EXPECT_EQ(s.objects[1].visible_pixels, 24 * 24);
  EXPECT_EQ(s.instances[30][30].item<int>(), 2);
  EXPECT_EQ(s.instances[10][10].item<int>(), 1);
  EXPECT_EQ(s.instances[45][45].item<int>(), 2);
  EXPECT_EQ(s.instances[45][10].item<int>(), 0);
  // Masks are disjoint and the boxes are of the visible parts.
  EXPECT_FALSE((s.mask(0) & s.mask(1)).any().item<bool>());
  EXPECT_EQ(s.objects[0].box.x1, 8);
  EXPECT_EQ(s.objects[0].box.x2, 40);
  EXPECT_EQ(s.objects[1].box.x1, 24);
  EXPECT_EQ(s.objects[1].box.x2, 48);
  EXPECT_DOUBLE_EQ(s.objects[0].full_box.x2, 40.0);
  // Opaque pixels show the object's colour; the hidden part of a shows b's (the same here: 200).
  EXPECT_EQ(s.image[30][30][0].item<int>(), 200);
  // An L-shaped visible part still has the full extent as its box.
  b.x = 0.375, b.y = 0.375, b.w = 0.25, b.h = 0.25;  // [24, 40)^2: a's lower right quarter
  L.objects = {a, b};
  const auto s2 = g.render(L, 64);
  EXPECT_EQ(s2.objects[0].visible_pixels, 32 * 32 - 16 * 16);
  EXPECT_EQ(s2.objects[0].box.x2, 40);
  EXPECT_EQ(s2.objects[0].box.y2, 40);
}

TEST(Scenes, CaptionsNameExactlyThePlacedObjects) {
  const auto g = generator("n=80&max_objects=5");
  const auto& classes = test::synthetic_classes();
  std::int64_t multi = 0;
  for (std::int64_t i = 0; i < 80; ++i) {
    const auto L = g.layout(i);
    ASSERT_EQ(L.captions.size(), 3u);
    const std::string& counting = L.captions[0];
    const std::string& positions = L.captions[1];
    const std::string& names = L.captions[2];
    for (const auto& o : L.objects)  // the names caption says no colour
      EXPECT_EQ(names.find(" " + o.colour + " "), std::string::npos) << names;
    std::map<std::int64_t, std::int64_t> count;
    for (const auto& o : L.objects) ++count[o.bank_class];
    for (std::size_t c = 0; c < classes.size(); ++c) {
      const auto n = count.count(static_cast<std::int64_t>(c)) ? count[static_cast<std::int64_t>(c)] : 0;
      if (n == 0) {
        EXPECT_EQ(counting.find(classes[c].singular), std::string::npos) << counting;
        EXPECT_EQ(names.find(classes[c].singular), std::string::npos) << names;
      } else if (n == 1) {
        EXPECT_NE(counting.find(std::string(classes[c].colour) + " " + classes[c].singular), std::string::npos) << counting;
        EXPECT_NE(names.find(" " + std::string(classes[c].singular)), std::string::npos) << names;
        EXPECT_EQ(counting.find(classes[c].plural), std::string::npos) << counting;
      } else {
        ++multi;
        EXPECT_NE(counting.find(datasets::count_word(n) + " " + classes[c].colour + " " + classes[c].plural), std::string::npos)
            << counting;
      }
      // The position caption names each object once.
      EXPECT_EQ(static_cast<std::int64_t>(count_of(positions, std::string(classes[c].colour) + " " + classes[c].singular + " ")), n)
          << positions;
    }
    for (const auto& o : L.objects) {
      // Colour: the class's known colour. Position: the full box centre's cell of thirds.
      EXPECT_EQ(o.colour, classes[static_cast<std::size_t>(o.bank_class)].colour);
      const double cx = o.x + o.w / 2, cy = o.y + o.h / 2;
      const std::string col = cx < 1.0 / 3 ? "left" : cx > 2.0 / 3 ? "right" : "";
      const std::string row = cy < 1.0 / 3 ? "top" : cy > 2.0 / 3 ? "bottom" : "";
      const std::string want = row.empty() && col.empty() ? "centre" : row.empty() ? col : col.empty() ? row : row + " " + col;
      EXPECT_EQ(o.position, want);
      EXPECT_NE(positions.find(std::string(o.colour) + " " + classes[static_cast<std::size_t>(o.bank_class)].singular + " " +
                               datasets::position_phrase(want)),
                std::string::npos)
          << positions;
    }
  }
  EXPECT_GT(multi, 5);  // counts above one were exercised
}

TEST(Scenes, HeldOutClassesStayOnTheirSide) {
  auto train = generator("n=60&holdout=2&max_objects=4");
  auto test = generator("n=60&holdout=2&max_objects=4&split=test");
  auto held = generator("n=60&holdout=2&max_objects=4&split=heldout");
  ASSERT_EQ(train.heldout_classes().size(), 2u);
  EXPECT_EQ(train.heldout_classes(), held.class_ids());
  EXPECT_EQ(train.class_ids(), test.class_ids());  // train and test share one label list
  EXPECT_EQ(train.classes().size(), 3u);
  const std::set<std::int64_t> out(train.heldout_classes().begin(), train.heldout_classes().end());
  std::set<std::int64_t> seen_train, seen_held;
  for (std::int64_t i = 0; i < 60; ++i) {
    for (const auto& o : train.layout(i).objects) seen_train.insert(o.bank_class);
    for (const auto& o : test.layout(i).objects) seen_train.insert(o.bank_class);
    for (const auto& o : held.layout(i).objects) seen_held.insert(o.bank_class);
  }
  for (auto c : seen_train) EXPECT_EQ(out.count(c), 0u) << c;
  for (auto c : seen_held) EXPECT_EQ(out.count(c), 1u) << c;
  EXPECT_EQ(seen_train.size(), 3u);
  EXPECT_EQ(seen_held.size(), 2u);
  // The held-out choice depends on holdout_seed only, not on the scene seed or split.
  EXPECT_EQ(generator("holdout=2&seed=9").heldout_classes(), train.heldout_classes());
  // By name: singular, plural or folder.
  auto named = generator("holdout=disc,rings,shapes/crosses");
  EXPECT_EQ(named.heldout_classes(), (std::vector<std::int64_t>{0, 3, 4}));
  EXPECT_EQ(named.classes(), (std::vector<std::string>{"square", "triangle"}));
  // Too few classes, unknown names, heldout without held-out classes.
  expect_input_error([] { generator("holdout=5"); }, {"holdout=5", "leaves no class", "5 usable classes"});
  expect_input_error([] { generator("holdout=disc,square,triangle,ring,cross"); }, {"every class"});
  expect_input_error([] { generator("holdout=unicorn"); }, {"'unicorn'", "disc"});
  expect_input_error([] { generator("split=heldout"); }, {"split=heldout", "holdout"});
  // Classes whose folders hold fewer PNGs than min_per_class are not used.
  expect_input_error([] { generator("min_per_class=11"); }, {"min_per_class=11"});
}

TEST(Scenes, TrainAndTestShowDisjointDrawings) {
  const auto bank = test::synthetic_bank();
  auto train = generator("n=100&max_objects=4");
  auto test = generator("n=100&max_objects=4&split=test");
  std::set<std::int64_t> a, b;
  for (std::int64_t i = 0; i < 100; ++i) {
    for (const auto& o : train.layout(i).objects) a.insert(o.instance);
    for (const auto& o : test.layout(i).objects) b.insert(o.instance);
  }
  for (auto m : a) EXPECT_EQ(bank.object_test[static_cast<std::size_t>(m)], 0) << m;
  for (auto m : b) EXPECT_EQ(bank.object_test[static_cast<std::size_t>(m)], 1) << m;
  EXPECT_EQ(a.size(), 20u);  // every training drawing was used
  EXPECT_EQ(b.size(), 10u);
}

TEST(Scenes, LayoutsDoNotDependOnSize) {
  auto small = generator("n=10&size=32"), big = generator("n=10&size=160");
  for (std::int64_t i = 0; i < 10; ++i) {
    const auto a = small.layout(i), b = big.layout(i);
    EXPECT_EQ(a.captions, b.captions);
    ASSERT_EQ(a.objects.size(), b.objects.size());
    for (std::size_t k = 0; k < a.objects.size(); ++k) {
      EXPECT_EQ(a.objects[k].x, b.objects[k].x);
      EXPECT_EQ(a.objects[k].instance, b.objects[k].instance);
    }
  }
}

TEST(Scenes, LargerRendersShowMoreDetailNotUpsampledPixels) {
  // Smooth backgrounds, so that the fine detail measured is the cut-outs' (2 px stripes in the bank).
  auto g = generator("n=12&max_objects=3&min_scale=0.5&max_scale=0.7&backgrounds=gradient,noise");
  double down_err = 0, up_err = 0, hf128 = 0, hf_up = 0;
  for (std::int64_t i = 0; i < 12; ++i) {
    const auto L = g.layout(i);
    const auto r64 = as_float(g.render(L, 64).image), r128 = as_float(g.render(L, 128).image);
    // 128 px area-downsampled to 64 is close to the 64 px render ...
    const auto down = F::avg_pool2d(r128, F::AvgPool2dFuncOptions(2));
    down_err += (down - r64).abs().mean().item<double>();
    // ... while the 64 px render upsampled to 128 lacks the 128 px render's fine detail.
    const auto up = F::interpolate(r64, F::InterpolateFuncOptions().size(std::vector<std::int64_t>{128, 128}).mode(torch::kBilinear).align_corners(false));
    up_err += (up - r128).abs().mean().item<double>();
    // High-frequency content: what a 2 x 2 blur removes.
    auto hf = [](const torch::Tensor& x) {
      const auto blur = F::interpolate(F::avg_pool2d(x, F::AvgPool2dFuncOptions(2)),
                                       F::InterpolateFuncOptions().size(std::vector<std::int64_t>{128, 128}).mode(torch::kNearest));
      return (x - blur).abs().mean().item<double>();
    };
    hf128 += hf(r128);
    hf_up += hf(up);
  }
  down_err /= 12, up_err /= 12, hf128 /= 12, hf_up /= 12;
  std::printf("    64 vs 128 px: |down(128) - 64| = %.4f, |up(64) - 128| = %.4f, HF(128) = %.4f, HF(up(64)) = %.4f\n", down_err,
              up_err, hf128, hf_up);
  EXPECT_LT(down_err, 0.005);         // about one grey level
  EXPECT_GT(up_err, 5.0 * down_err);  // upsampling does not recover the detail
  EXPECT_GT(hf128, 2.0 * hf_up);
}

TEST(Scenes, ObjectPixelsCarryTheirColour) {
  // Where a single object is opaque its pixels are its class colour (or the stripes' shade of it).
  const auto set = scenes("n=20&size=96&max_objects=2&backgrounds=solid");
  std::int64_t checked = 0;
  for (std::int64_t i = 0; i < 20; ++i)
    for (std::size_t k = 0; k < set.objects[static_cast<std::size_t>(i)].size(); ++k) {
      const auto& o = set.objects[static_cast<std::size_t>(i)][k];
      if (o.visible_pixels < 30) continue;
      const auto m = set.instances[i].eq(static_cast<std::int64_t>(k + 1));
      const auto px = set.images[i].index({m});  // [P, 3]
      std::int64_t agree = 0;
      auto a = px.accessor<std::uint8_t, 2>();
      for (std::int64_t p = 0; p < px.size(0); ++p)
        agree += datasets::colour_name(datasets::colour_of_pixel(a[p][0], a[p][1], a[p][2])) == o.colour;
      EXPECT_GT(static_cast<double>(agree) / static_cast<double>(px.size(0)), 0.8) << o.colour;
      ++checked;
    }
  EXPECT_GT(checked, 15);
}

TEST(Scenes, InspectSummary) {
  const auto set = scenes("n=8&size=32&holdout=1");
  const auto j = datasets::inspect_scenes(set, true);
  EXPECT_EQ(j["scenes"], 8);
  EXPECT_EQ(j["num_classes"], 4);
  EXPECT_EQ(j["heldout_classes"].size(), 1u);
  EXPECT_EQ(j["items"].size(), 8u);
  EXPECT_EQ(j["items"][0]["captions"].size(), 3u);
  // Per class: objects and scenes showing it, counted here from the labels.
  ASSERT_EQ(j["classes"].size(), 4u);
  for (std::size_t c = 0; c < 4; ++c) {
    std::int64_t objects = 0;
    for (const auto& objs : set.objects)
      for (const auto& o : objs) objects += o.label == static_cast<std::int64_t>(c);
    EXPECT_EQ(j["classes"][c]["name"], set.classes[c]);
    EXPECT_EQ(j["classes"][c]["objects"], objects);
    EXPECT_EQ(j["classes"][c]["scenes"], set.targets.select(1, static_cast<std::int64_t>(c)).sum().item<double>());
  }
}

// ---- the bank file -------------------------------------------------------------------------

TEST(SceneBank, RoundTrip) {
  TempDir dir;
  const auto bank = test::synthetic_bank();
  datasets::save_scene_bank(dir / "bank.safetensors", bank);
  const auto back = datasets::load_scene_bank(dir / "bank.safetensors");
  EXPECT_EQ(back.classes, bank.classes);
  EXPECT_EQ(back.singular, bank.singular);
  EXPECT_EQ(back.plural, bank.plural);
  EXPECT_EQ(back.class_images, bank.class_images);
  EXPECT_EQ(back.object_class, bank.object_class);
  EXPECT_EQ(back.object_test, bank.object_test);
  EXPECT_EQ(back.object_files, bank.object_files);
  EXPECT_EQ(back.photo_files, bank.photo_files);
  ASSERT_EQ(back.objects.size(), bank.objects.size());
  for (std::size_t i = 0; i < bank.objects.size(); ++i) EXPECT_TRUE(torch::equal(back.objects[i], bank.objects[i])) << i;
  EXPECT_TRUE(torch::equal(back.photos[0], bank.photos[0]));
  EXPECT_EQ(back.info.at("source"), "synthetic");
  // Scenes from the loaded file equal scenes from memory; the spec's bank= finds it.
  const auto spec = datasets::parse_spec("scenes:?n=6&size=40&bank=" + (dir / "bank.safetensors"));
  const auto from_file = datasets::generate_scenes(spec, 1);
  const auto from_memory = scenes("n=6&size=40");
  EXPECT_TRUE(torch::equal(from_file.images, from_memory.images));
  EXPECT_EQ(from_file.source, spec.text);
}

TEST(SceneBank, BadFilesAreNamed) {
  TempDir dir;
  // A safetensors file that is not a bank: the missing tensor is named.
  core::save_safetensors(dir / "weights.safetensors", {{"w", torch::ones({2})}});
  expect_input_error([&] { datasets::load_scene_bank(dir / "weights.safetensors"); },
                     {dir / "weights.safetensors", "not a scene bank", "missing tensor 'object_pixels'"});
  // Not a safetensors file at all.
  std::ofstream(dir / "junk.safetensors") << "hello";
  expect_input_error([&] { datasets::load_scene_bank(dir / "junk.safetensors"); }, {dir / "junk.safetensors"});
  // A bank whose offsets point outside its pixels.
  datasets::save_scene_bank(dir / "bank.safetensors", test::synthetic_bank(false));
  auto f = core::load_safetensors(dir / "bank.safetensors");
  f.tensors["object_offset"][3] = 1000000000;
  core::save_safetensors(dir / "broken.safetensors", f.tensors, f.metadata);
  expect_input_error([&] { datasets::load_scene_bank(dir / "broken.safetensors"); }, {"broken.safetensors", "object 3", "outside"});
  // Wrong metadata format.
  auto g = core::load_safetensors(dir / "bank.safetensors");
  g.metadata["format"] = "other";
  core::save_safetensors(dir / "other.safetensors", g.tensors, g.metadata);
  expect_input_error([&] { datasets::load_scene_bank(dir / "other.safetensors"); }, {"other.safetensors", "'format'"});
  // A missing bank file, by bank= key.
  // A bank= that is not there is built there, from the clip-art: none here, so the package is named.
  expect_input_error([&] {
    datasets::generate_scenes(datasets::parse_spec("scenes:?bank=" + (dir / "none.safetensors") + "&clipart=" + (dir / "nothing")));
  }, {dir / "none.safetensors", "no such scene bank", "openclipart-png"});
  // No bank= and no openclipart (and no cached bank to fall back on): names the Debian package.
  test::ScopedEnv empty_cache("PESUITE_CACHE", dir / "empty-cache");
  expect_input_error([&] { datasets::generate_scenes(datasets::parse_spec("scenes:?clipart=" + (dir / "nothing"))); },
                     {"openclipart-png", "apt-get install"});
  // An inconsistent bank is refused before writing.
  auto b = test::synthetic_bank(false);
  b.object_class[2] = 17;
  expect_input_error([&] { datasets::save_scene_bank(dir / "x.safetensors", b); }, {"object 2", "class 17"});
  EXPECT_FALSE(fs::exists(dir / "x.safetensors"));
}

// ---- listing openclipart (no decoding) -----------------------------------------------------

TEST(SceneBank, ClipartListingChoosesClassesAndSplitsByDrawing) {
  TempDir root;
  auto touch = [&](const std::string& rel, int bytes = 10) {
    fs::create_directories(fs::path(root / rel).parent_path());
    std::ofstream(root / rel) << std::string(static_cast<std::size_t>(bytes), 'x');
  };
  // animals/bears: 12 files of 6 drawings (each as _01 and _bw); animals/owls: 3 files (too few);
  // food/fruit: 10 drawings; food/fruit/berries: 9 drawings (a class of its own); misc: excluded.
  for (int d = 0; d < 6; ++d) {
    touch("animals/bears/bear" + std::string(1, static_cast<char>('a' + d)) + "_01.png");
    touch("animals/bears/bear" + std::string(1, static_cast<char>('a' + d)) + "_bw.png");
  }
  for (int d = 0; d < 3; ++d) touch("animals/owls/owl" + std::to_string(d) + "x.png");
  for (int d = 0; d < 10; ++d) touch("food/fruit/fruit_" + std::string(1, static_cast<char>('a' + d)) + ".png");
  for (int d = 0; d < 9; ++d) touch("food/fruit/berries/berry_" + std::string(1, static_cast<char>('a' + d)) + ".png");
  for (int d = 0; d < 20; ++d) touch("misc/thing" + std::string(1, static_cast<char>('a' + d)) + ".png");
  touch("food/fruit/readme.txt");
  datasets::SceneBankOptions o;
  o.clipart = root.str();
  o.categories = {"animals/*", "food/*"};
  o.min_per_class = 8;
  o.per_class = 8;
  o.test_fraction = 0.25;
  o.photos = "none";
  const auto L = datasets::list_clipart(o);
  std::vector<std::string> ids;
  for (const auto& c : L.classes) ids.push_back(c.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"animals/bears", "food/fruit", "food/fruit/berries"}));
  for (const auto& c : L.classes) {
    EXPECT_EQ(c.files.size(), 8u) << c.id;  // capped
    std::int64_t tests = 0;
    for (auto t : c.test) tests += t;
    EXPECT_GE(tests, 2) << c.id;  // round(0.25 * 8), whole drawings
    EXPECT_LE(tests, 3) << c.id;
    for (const auto& f : c.files) EXPECT_EQ(f.rfind(c.id + "/", 0), 0u) << f;
  }
  // Variants of one bear drawing stay on one side of the split.
  const auto& bears = L.classes[0];
  EXPECT_EQ(bears.images, 12);
  std::map<std::string, std::set<int>> side;
  for (std::size_t k = 0; k < bears.files.size(); ++k) side[bears.files[k].substr(0, bears.files[k].find('_'))].insert(bears.test[k]);
  for (const auto& [drawing, sides] : side) EXPECT_EQ(sides.size(), 1u) << drawing;
  // Seeded: the same listing twice; another bank seed picks others; the key follows file sizes.
  EXPECT_EQ(datasets::list_clipart(o).classes[1].files, L.classes[1].files);
  auto o2 = o;
  o2.split_seed = 5;
  EXPECT_NE(datasets::list_clipart(o2).classes[1].files, L.classes[1].files);
  EXPECT_NE(datasets::list_clipart(o2).key, L.key);
  // A tiny cap still gives one training and one test drawing.
  auto o3 = o;
  o3.per_class = 2;
  const auto tiny = datasets::list_clipart(o3);
  ASSERT_EQ(tiny.classes.size(), 3u);
  EXPECT_EQ(tiny.classes[0].files.size(), 2u);
  EXPECT_EQ(tiny.classes[0].test, (std::vector<std::uint8_t>{1, 0}));
  touch("misc/thinga.png", 11);
  EXPECT_NE(datasets::list_clipart(o).key, L.key);
  // Nothing qualifies / no such folder.
  o.min_per_class = 50;
  expect_input_error([&] { datasets::list_clipart(o); }, {"no folder matching"});
  o.clipart = root / "absent";
  expect_input_error([&] { datasets::list_clipart(o); }, {"absent", "openclipart-png"});
}

// ---- building the bank without OpenCV (libpng + area_resize) -------------------------------

namespace {
// A w x h RGBA PNG: an opaque ellipse of `rgb` inside a transparent margin of 3 pixels.
void write_cut_out(const std::string& path, int w, int h, std::array<std::uint8_t, 3> rgb) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(w) * h * 4, 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double u = (x + 0.5 - w / 2.0) / (w / 2.0 - 3), v = (y + 0.5 - h / 2.0) / (h / 2.0 - 3);
      if (u * u + v * v > 1) continue;
      auto* p = px.data() + (static_cast<std::size_t>(y) * w + x) * 4;
      p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2], p[3] = 255;
    }
  fs::create_directories(fs::path(path).parent_path());
  datasets::write_png_rgba(path, w, h, px);
}
}  // namespace

TEST(SceneBank, BuildsFromPngsWithoutOpenCV) {
  TempDir dir;
  const std::string root = dir / "clipart";
  for (int k = 0; k < 9; ++k) write_cut_out(root + "/things/apples/apple" + std::string(1, static_cast<char>('a' + k)) + ".png", 40 + 30 * k, 50, {200, 20, 20});
  for (int k = 0; k < 8; ++k) write_cut_out(root + "/things/pears/pear" + std::string(1, static_cast<char>('a' + k)) + ".png", 30, 20 + 9 * k, {30, 170, 30});
  datasets::write_png_rgb(root + "/things/pears/opaque.png", datasets::RgbImage(20, 20, 90));  // no alpha: skipped
  test::ScopedEnv cache("PESUITE_CACHE", dir / "cache");
  const std::string q = "scenes:?n=6&size=32&clipart=" + root + "&categories=things/*&per_class=20&object_px=64&photos=none";
  // The first use builds the bank into the cache; the second reads it.
  const auto set = datasets::generate_scenes(datasets::parse_spec(q), 1);
  const std::string path = datasets::scene_bank_path(datasets::parse_spec(q));
  EXPECT_EQ(path.rfind(dir / "cache/scenes/bank-", 0), 0u) << path;
  ASSERT_TRUE(fs::exists(path));
  const auto built = fs::last_write_time(path);
  EXPECT_EQ(datasets::ensure_scene_bank(datasets::parse_spec(q)), path);
  EXPECT_EQ(fs::last_write_time(path), built);
  EXPECT_EQ(set.classes, (std::vector<std::string>{"apple", "pear"}));
  const auto bank = datasets::load_scene_bank(path);
  EXPECT_EQ(bank.num_objects(), 17);
  EXPECT_NE(bank.info.at("skipped").find("opaque.png"), std::string::npos);
  for (std::size_t m = 0; m < bank.objects.size(); ++m) {
    const auto& t = bank.objects[m];
    // Cropped to the ellipse (the 3-pixel margin gone), shrunk to 64 px at most, aspect kept.
    const std::string f = bank.object_files[m];
    const int k = f.back() == 'g' ? f[f.size() - 5] - 'a' : 0;
    const bool apple = bank.object_class[m] == 0;
    const double w = apple ? 40 + 30 * k - 6 : 24, h = apple ? 44 : 20 + 9 * k - 6;
    const double s = std::min(1.0, 64.0 / std::max(w, h));
    EXPECT_NEAR(t.size(1), w * s, 1.0) << f;
    EXPECT_NEAR(t.size(0), h * s, 1.0) << f;
    // The colour survives the premultiplied shrink on every visible pixel, faint ones included.
    const auto visible = t.select(2, 3).gt(8);
    const auto red = t.select(2, 0).index({visible}).to(torch::kInt32);
    if (apple) EXPECT_GE(red.min().item<int>(), 195) << f;
    else EXPECT_LE(red.max().item<int>(), 35) << f;
  }
}

// The area resize against a naive reference: exact box integration in double, on shrink factors
// that take the integer-block and the general paths.
TEST(SceneBank, AreaResizeIsBoxIntegration) {
  torch::manual_seed(0);
  for (auto [w, h, dw, dh] : std::vector<std::array<int, 4>>{{12, 9, 4, 3}, {10, 10, 5, 5}, {17, 11, 5, 4}, {9, 7, 9, 3}}) {
    const torch::Tensor src = torch::rand({h, w, 2});
    const auto out = datasets::area_resize(src.data_ptr<float>(), w, h, 2, dw, dh);
    const double sx = static_cast<double>(w) / dw, sy = static_cast<double>(h) / dh;
    auto a = src.accessor<float, 3>();
    for (int y = 0; y < dh; ++y)
      for (int x = 0; x < dw; ++x)
        for (int c = 0; c < 2; ++c) {
          double sum = 0;
          for (int j = 0; j < h; ++j)
            for (int i = 0; i < w; ++i) {
              const double ox = std::max(0.0, std::min(i + 1.0, (x + 1) * sx) - std::max<double>(i, x * sx));
              const double oy = std::max(0.0, std::min(j + 1.0, (y + 1) * sy) - std::max<double>(j, y * sy));
              sum += ox * oy * a[j][i][c];
            }
          EXPECT_NEAR(out[(static_cast<std::size_t>(y) * dw + x) * 2 + c], sum / (sx * sy), 1e-5) << w << "x" << h << " -> " << dw << "x" << dh;
        }
  }
  // Bytes: 2 x 2 blocks round halves up (OpenCV's SIMD path), other blocks to nearest even.
  const std::vector<std::uint8_t> px = {1, 2, 3, 4, 7, 8, 10, 12};  // 4 x 2, one channel
  EXPECT_EQ(datasets::area_resize(px.data(), 4, 2, 1, 2, 1), (std::vector<std::uint8_t>{5, 7}));  // 18 / 4, 29 / 4
  EXPECT_EQ(datasets::area_resize(px.data() + 4, 4, 1, 1, 1, 1), (std::vector<std::uint8_t>{9}));  // 37 / 4 = 9.25
  const std::vector<std::uint8_t> tie = {1, 2, 7, 8};
  EXPECT_EQ(datasets::area_resize(tie.data(), 4, 1, 1, 1, 1), (std::vector<std::uint8_t>{4}));  // 4.5, to even
  EXPECT_THROW(datasets::area_resize(tie.data(), 4, 1, 1, 5, 1), std::invalid_argument);  // no enlarging
}
