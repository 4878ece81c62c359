// Boxes as text (box_answers.h): quantisation round trips, parsing (malformed answers are
// nullopt), IoU closed forms, mIoU by size, and beam search against brute-force enumeration.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "pesuite/vision/box_answers.h"

namespace {

using namespace pesuite::vision;

TEST(BoxAnswers, PromptAndAnswerText) {
  EXPECT_EQ(pin_prompt("bear"), "In the image is a bear located at");
  EXPECT_EQ(box_answer({2, 1, 9, 15}), " [2, 1, 9, 15].");
}

TEST(BoxAnswers, QuantisationRoundTrips) {
  // Every cell box comes back as itself; every pixel box is contained in its cells.
  for (std::int64_t x1 = 0; x1 < 16; ++x1)
    for (std::int64_t x2 = x1; x2 < 16; x2 += 3) {
      GridBox q{x1, 15 - x2, x2, 15 - x1 >= 15 - x2 ? 15 - x1 : 15 - x2};
      if (q.y1 > q.y2) std::swap(q.y1, q.y2);
      EXPECT_EQ(quantise_box(cells_to_box(q, 64, 48, 16), 64, 48, 16), q);
    }
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 64);
  for (int i = 0; i < 500; ++i) {
    double a = u(rng), b = u(rng), c = u(rng), d = u(rng);
    PixelBox box{std::min(a, b), std::min(c, d), std::max(a, b) + 0.5, std::max(c, d) + 0.5};
    box.x2 = std::min(box.x2, 64.0), box.y2 = std::min(box.y2, 64.0);
    auto back = cells_to_box(quantise_box(box, 64, 64, 16), 64, 64, 16);
    EXPECT_LE(back.x1, box.x1);
    EXPECT_LE(back.y1, box.y1);
    EXPECT_GE(back.x2, box.x2);
    EXPECT_GE(back.y2, box.y2);
    EXPECT_LT(box.x1 - back.x1, 4.0);  // within one 4 px cell
    EXPECT_LT(back.x2 - box.x2, 4.0);
  }
  // Exact cell edges: pixels [8, 40) are cells 2..9 of 4 px.
  EXPECT_EQ(quantise_box({8, 4, 40, 30}, 64, 64, 16), (GridBox{2, 1, 9, 7}));
}

TEST(BoxAnswers, ParsingAcceptsBoxesOnlyAndSpacesDoNotMatter) {
  auto b = parse_box_answer(" [2, 1, 9, 7].", 16);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, (GridBox{2, 1, 9, 7}));
  // CLIP's decoder: a space after every word, digits one word each.
  b = parse_box_answer("[ 1 2 , 3 , 1 5 , 4 ] . ", 16);
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, (GridBox{12, 3, 15, 4}));
  EXPECT_TRUE(parse_box_answer("[0,0,0,0]", 16));
  for (const char* bad : {"", "[1, 2, 3]", "[1, 2, 3, 4, 5]", "[16, 0, 0, 0]", "[5, 0, 3, 0]", "[0, 5, 3, 4]", "foo", "[1,2,3,4]x",
                          "1, 2, 3, 4", "[a, 2, 3, 4]", "[1, 2, 3, 4].."})
    EXPECT_FALSE(parse_box_answer(bad, 16)) << bad;
}

TEST(BoxAnswers, IouClosedForms) {
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 4, 4}, {0, 0, 4, 4}), 1.0);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 2, 2}, {2, 0, 4, 2}), 0.0);       // touching edges
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 2, 2}, {1, 0, 3, 2}), 2.0 / 6.0);  // half shifted
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 4, 4}, {1, 1, 3, 3}), 4.0 / 16.0); // contained
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 3, 1}, {1, -1, 2, 3}), 1.0 / 6.0); // a cross: 1 / (3 + 4 - 1)
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.0);        // empty boxes
  const double a = 0.3, b = 0.7;  // shifted by a fraction s of a unit square: (1 - s) / (1 + s)
  EXPECT_NEAR(box_iou({0, 0, 1, 1}, {a, 0, 1 + a, 1}), (1 - a) / (1 + a), 1e-12);
  EXPECT_NEAR(box_iou({0, 0, 1, 1}, {b, 0, 1 + b, 1}), (1 - b) / (1 + b), 1e-12);
}

TEST(BoxAnswers, MeanIouBySize) {
  auto s = summarise_iou({1.0, 0.5, 0.0, 0.25}, {0.01, 0.05, 0.2, 0.3}, 1, 0.04, 0.12);
  EXPECT_EQ(s.n, 4);
  EXPECT_DOUBLE_EQ(s.miou, 1.75 / 4);
  EXPECT_EQ(s.n_medium, 1);
  EXPECT_DOUBLE_EQ(s.miou_medium, 0.5);
  EXPECT_EQ(s.n_large, 2);
  EXPECT_DOUBLE_EQ(s.miou_large, 0.125);
  EXPECT_EQ(s.malformed, 1);
  EXPECT_TRUE(std::isnan(summarise_iou({}, {}, 0, 0.04, 0.12).miou));
}

// ---- beam search ------------------------------------------------------------------------------------

// A fixed language model over V tokens: the next token's log-probabilities are a function of the
// whole prefix (a random table per prefix, drawn once and kept).
struct TableModel {
  std::int64_t V;
  std::uint32_t seed;
  std::map<std::vector<std::int64_t>, std::vector<double>> table;
  const std::vector<double>& at(const std::vector<std::int64_t>& prefix) {
    auto it = table.find(prefix);
    if (it != table.end()) return it->second;
    std::vector<std::uint32_t> key{seed, static_cast<std::uint32_t>(prefix.size())};
    for (auto t : prefix) key.push_back(static_cast<std::uint32_t>(t));
    std::seed_seq ss(key.begin(), key.end());
    std::mt19937 r2(ss);
    std::normal_distribution<double> n(0, 2.0);
    std::vector<double> logits(static_cast<std::size_t>(V));
    double mx = -1e300;
    for (auto& l : logits) mx = std::max(mx, l = n(r2));
    double z = 0;
    for (auto l : logits) z += std::exp(l - mx);
    for (auto& l : logits) l = l - mx - std::log(z);
    return table.emplace(prefix, logits).first->second;
  }
  NextLogProbs fn() {
    return [this](const std::vector<std::vector<std::int64_t>>& ps) {
      std::vector<std::vector<double>> out;
      for (const auto& p : ps) out.push_back(at(p));
      return out;
    };
  }
};

// Every sequence that ends at its first stop token (length <= L) or has length L without one.
void enumerate(TableModel& m, std::int64_t L, const std::vector<std::int64_t>& stop, std::vector<std::int64_t>& prefix, double score,
               BeamResult& best, double length_penalty = 0) {
  const auto& lp = m.at(prefix);
  for (std::int64_t v = 0; v < m.V; ++v) {
    prefix.push_back(v);
    const double s = score + lp[static_cast<std::size_t>(v)];
    const bool stops = std::find(stop.begin(), stop.end(), v) != stop.end();
    if (stops || static_cast<std::int64_t>(prefix.size()) == L) {
      const double sc = s / std::pow(static_cast<double>(prefix.size()), length_penalty);
      if (best.tokens.empty() || sc > best.score) best = BeamResult{prefix, s, sc, stops};
    } else {
      enumerate(m, L, stop, prefix, s, best, length_penalty);
    }
    prefix.pop_back();
  }
}

TEST(BeamSearch, WideEnoughBeamsFindTheBruteForceArgmax) {
  for (std::uint32_t seed = 0; seed < 20; ++seed) {
    TableModel m{3, seed, {}};
    const std::int64_t L = 5;
    const std::vector<std::int64_t> stop{2};
    BeamResult brute;
    std::vector<std::int64_t> prefix;
    enumerate(m, L, stop, prefix, 0.0, brute);
    auto r = beam_search(m.fn(), BeamOptions().beams(243).max_new_tokens(L).stop_tokens(stop));
    EXPECT_EQ(r.tokens, brute.tokens) << "seed " << seed;
    EXPECT_NEAR(r.log_prob, brute.log_prob, 1e-12);
    EXPECT_EQ(r.finished, brute.finished);
  }
}

TEST(BeamSearch, WithALengthPenaltyWideBeamsFindTheNormalisedArgmax) {
  int longer = 0;
  for (std::uint32_t seed = 0; seed < 20; ++seed) {
    TableModel m{3, 50 + seed, {}};
    const std::int64_t L = 5;
    const std::vector<std::int64_t> stop{2};
    BeamResult brute, plain;
    std::vector<std::int64_t> prefix;
    enumerate(m, L, stop, prefix, 0.0, brute, 1.0);
    enumerate(m, L, stop, prefix, 0.0, plain, 0.0);
    auto r = beam_search(m.fn(), BeamOptions().beams(243).max_new_tokens(L).stop_tokens(stop).length_penalty(1.0));
    EXPECT_EQ(r.tokens, brute.tokens) << "seed " << seed;
    EXPECT_NEAR(r.score, brute.log_prob / static_cast<double>(brute.tokens.size()), 1e-12);
    longer += brute.tokens.size() > plain.tokens.size();
  }
  EXPECT_GT(longer, 0);  // the penalty changes the answer towards longer sequences somewhere
}

TEST(BeamSearch, OneBeamIsGreedyAndThreeBeamsCanBeatIt) {
  int better = 0;
  for (std::uint32_t seed = 0; seed < 40; ++seed) {
    TableModel m{4, 100 + seed, {}};
    const std::vector<std::int64_t> stop{3};
    // greedy by hand
    std::vector<std::int64_t> g;
    double gs = 0;
    bool gfin = false;
    while (static_cast<std::int64_t>(g.size()) < 6) {
      const auto& lp = m.at(g);
      const auto v = std::max_element(lp.begin(), lp.end()) - lp.begin();
      gs += lp[static_cast<std::size_t>(v)];
      g.push_back(v);
      if (v == 3) {
        gfin = true;
        break;
      }
    }
    auto one = beam_search(m.fn(), BeamOptions().beams(1).max_new_tokens(6).stop_tokens(stop));
    EXPECT_EQ(one.tokens, g);
    EXPECT_NEAR(one.log_prob, gs, 1e-12);
    EXPECT_EQ(one.finished, gfin);
    auto three = beam_search(m.fn(), BeamOptions().beams(3).max_new_tokens(6).stop_tokens(stop));
    BeamResult brute;
    std::vector<std::int64_t> prefix;
    enumerate(m, 6, stop, prefix, 0.0, brute);
    EXPECT_LE(three.log_prob, brute.log_prob + 1e-12);  // never above the optimum
    better += three.log_prob > one.log_prob + 1e-9;
  }
  EXPECT_GT(better, 0);  // the random tables have cases where a wider beam finds a better answer
}

}  // namespace
