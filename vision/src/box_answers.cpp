// Boxes as text, IoU summaries and beam search (box_answers.h). Torch-free.
#include "pesuite/vision/box_answers.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "pesuite/core/error.h"

namespace pesuite::vision {

std::string pin_prompt(const std::string& object) { return "In the image is a " + object + " located at"; }

std::string box_answer(const GridBox& b) {
  return " [" + std::to_string(b.x1) + ", " + std::to_string(b.y1) + ", " + std::to_string(b.x2) + ", " + std::to_string(b.y2) + "].";
}

namespace {
std::int64_t clamp_cell(double v, std::int64_t bins) {
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(v), 0, bins - 1);
}
void check_grid(double width, double height, std::int64_t bins) {
  if (!(width > 0) || !(height > 0) || bins <= 0)
    throw core::InputError("box quantisation: image size and bins must be positive (" + std::to_string(width) + " x " +
                           std::to_string(height) + ", " + std::to_string(bins) + " bins)");
}
}  // namespace

GridBox quantise_box(const PixelBox& b, double width, double height, std::int64_t bins) {
  check_grid(width, height, bins);
  const double n = static_cast<double>(bins);
  GridBox q;
  q.x1 = clamp_cell(std::floor(b.x1 * n / width), bins);
  q.y1 = clamp_cell(std::floor(b.y1 * n / height), bins);
  q.x2 = std::max(q.x1, clamp_cell(std::ceil(b.x2 * n / width) - 1, bins));
  q.y2 = std::max(q.y1, clamp_cell(std::ceil(b.y2 * n / height) - 1, bins));
  return q;
}

PixelBox cells_to_box(const GridBox& q, double width, double height, std::int64_t bins) {
  check_grid(width, height, bins);
  const double sx = width / static_cast<double>(bins), sy = height / static_cast<double>(bins);
  return {static_cast<double>(q.x1) * sx, static_cast<double>(q.y1) * sy, static_cast<double>(q.x2 + 1) * sx,
          static_cast<double>(q.y2 + 1) * sy};
}

std::optional<GridBox> parse_box_answer(const std::string& text, std::int64_t bins) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s += c;
  std::size_t i = 0;
  if (i >= s.size() || s[i] != '[') return std::nullopt;
  ++i;
  std::int64_t v[4];
  for (int k = 0; k < 4; ++k) {
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    std::int64_t x = 0;
    int digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (++digits > 6) return std::nullopt;
      x = x * 10 + (s[i++] - '0');
    }
    v[k] = x;
    const char want = k < 3 ? ',' : ']';
    if (i >= s.size() || s[i] != want) return std::nullopt;
    ++i;
  }
  if (i < s.size() && s[i] == '.') ++i;
  if (i != s.size()) return std::nullopt;
  GridBox b{v[0], v[1], v[2], v[3]};
  for (auto c : v)
    if (c >= bins) return std::nullopt;
  if (b.x1 > b.x2 || b.y1 > b.y2) return std::nullopt;
  return b;
}

double box_iou(const PixelBox& a, const PixelBox& b) {
  const double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1), ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  const double inter = (iw > 0 && ih > 0) ? iw * ih : 0.0;
  const double uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.0;
}

IouSummary summarise_iou(const std::vector<double>& ious, const std::vector<double>& area, std::int64_t malformed, double medium_area,
                         double large_area) {
  if (ious.size() != area.size()) throw core::InputError("summarise_iou: one area per IoU is needed");
  IouSummary s;
  double all = 0, med = 0, large = 0;
  for (std::size_t i = 0; i < ious.size(); ++i) {
    all += ious[i];
    if (area[i] >= large_area) large += ious[i], ++s.n_large;
    else if (area[i] >= medium_area) med += ious[i], ++s.n_medium;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  s.n = static_cast<std::int64_t>(ious.size());
  s.miou = s.n ? all / static_cast<double>(s.n) : nan;
  s.miou_medium = s.n_medium ? med / static_cast<double>(s.n_medium) : nan;
  s.miou_large = s.n_large ? large / static_cast<double>(s.n_large) : nan;
  s.malformed = malformed;
  return s;
}

// ---- beam search ------------------------------------------------------------------------------------

BeamResult beam_search(const NextLogProbs& next, const BeamOptions& o) {
  if (o.beams_ < 1 || o.max_new_tokens_ < 1) throw core::InputError("beam search: beams and max_new_tokens must be positive");
  if (o.length_penalty_ < 0) throw core::InputError("beam search: length_penalty must be >= 0");
  struct Hyp {
    std::vector<std::int64_t> tokens;
    double log_prob;
  };
  const double lp = o.length_penalty_;
  auto score_of = [&](const Hyp& h) { return lp > 0 ? h.log_prob / std::pow(static_cast<double>(h.tokens.size()), lp) : h.log_prob; };
  auto is_stop = [&](std::int64_t t) { return std::find(o.stop_tokens_.begin(), o.stop_tokens_.end(), t) != o.stop_tokens_.end(); };
  std::vector<Hyp> live{{{}, 0.0}};
  std::optional<Hyp> best_finished;
  auto offer = [&](Hyp h) {
    if (!best_finished || score_of(h) > score_of(*best_finished)) best_finished = std::move(h);
  };
  for (std::int64_t step = 0; step < o.max_new_tokens_ && !live.empty(); ++step) {
    std::vector<std::vector<std::int64_t>> prefixes;
    for (const auto& h : live) prefixes.push_back(h.tokens);
    const auto lps = next(prefixes);
    if (lps.size() != live.size()) throw core::InputError("beam search: the model returned " + std::to_string(lps.size()) + " rows for " +
                                                          std::to_string(live.size()) + " prefixes");
    struct Cand {
      double log_prob;
      std::size_t beam;
      std::int64_t token;
    };
    std::vector<Cand> cands;
    for (std::size_t b = 0; b < live.size(); ++b)
      for (std::size_t v = 0; v < lps[b].size(); ++v) cands.push_back({live[b].log_prob + lps[b][v], b, static_cast<std::int64_t>(v)});
    std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) { return a.log_prob > b.log_prob; });
    std::vector<Hyp> kept;
    for (const auto& c : cands) {
      if (static_cast<std::int64_t>(kept.size()) == o.beams_) break;
      auto tokens = live[c.beam].tokens;
      tokens.push_back(c.token);
      if (is_stop(c.token)) offer(Hyp{std::move(tokens), c.log_prob});
      else kept.push_back({std::move(tokens), c.log_prob});
    }
    live = std::move(kept);
    // Without a length penalty log-probabilities only fall: no extension of a live hypothesis
    // scores above it, so the search can stop once the best finished one is ahead.
    if (lp == 0 && best_finished && (live.empty() || live.front().log_prob <= best_finished->log_prob)) break;
  }
  BeamResult r;
  std::optional<Hyp> best_live;
  for (const auto& h : live)
    if (!best_live || score_of(h) > score_of(*best_live)) best_live = h;
  if (best_finished && (!best_live || score_of(*best_finished) >= score_of(*best_live))) {
    r.tokens = best_finished->tokens, r.log_prob = best_finished->log_prob, r.finished = true;
  } else if (best_live) {
    r.tokens = best_live->tokens, r.log_prob = best_live->log_prob, r.finished = false;
  }
  if (!r.tokens.empty()) r.score = score_of(Hyp{r.tokens, r.log_prob});
  return r;
}

}  // namespace pesuite::vision
