#pragma once
// Boxes as text for PIN (Dorkenwald et al. 2024) and its baselines: the prompt, the answer with
// coordinates quantised to a grid of cells, its parsing back, IoU / mIoU by object size, and the
// beam search that decodes an answer. Torch-free.
//
//   using namespace pesuite::vision;
//   std::string prompt = pin_prompt("bear");                      // "In the image is a bear located at"
//   GridBox q = quantise_box({8, 4, 40, 30}, 64, 64, 16);         // cells {2, 1, 9, 7}
//   std::string target = box_answer(q);                           // " [2, 1, 9, 7]."
//   std::optional<GridBox> back = parse_box_answer(" [2, 1, 9, 7].", 16);
//   double iou = box_iou(cells_to_box(*back, 64, 64, 16), {8, 4, 40, 30});
//   BeamResult best = beam_search(next_log_probs, BeamOptions().beams(3).max_new_tokens(16).stop_tokens({7}));
//
// Quantisation: cell k of n covers [k S / n, (k + 1) S / n) of a side of S pixels. A box (pixels,
// x2 / y2 exclusive) becomes the cells of its first and last pixel, x1 -> floor(x1 n / S) and
// x2 -> ceil(x2 n / S) - 1, clamped to [0, n); back to pixels the cells' union,
// [x1 S / n, (x2 + 1) S / n). So cells_to_box(quantise_box(b)) contains b, and
// quantise_box(cells_to_box(q)) == q.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pesuite::vision {

struct PixelBox {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // pixels, x2 / y2 exclusive
  double area() const { return (x2 > x1 && y2 > y1) ? (x2 - x1) * (y2 - y1) : 0.0; }
};
struct GridBox {
  std::int64_t x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // cells, inclusive
  bool operator==(const GridBox& o) const { return x1 == o.x1 && y1 == o.y1 && x2 == o.x2 && y2 == o.y2; }
};

// PIN's prompt and answer (the paper's code: "<image>In the image is a {object} located at" and
// " [x1, y1, x2, y2].").
std::string pin_prompt(const std::string& object);
std::string box_answer(const GridBox& box);
GridBox quantise_box(const PixelBox& box, double width, double height, std::int64_t bins);
PixelBox cells_to_box(const GridBox& box, double width, double height, std::int64_t bins);

// The box of a decoded answer: whitespace is ignored (CLIP's decoder puts a space after every
// word, so "1 2" is the number 12), then "[a,b,c,d]" with optional trailing "." and nothing else;
// a well-formed box has integers in [0, bins) with x1 <= x2 and y1 <= y2. Anything else: nullopt
// (scored as IoU 0 and counted as malformed).
std::optional<GridBox> parse_box_answer(const std::string& text, std::int64_t bins);

double box_iou(const PixelBox& a, const PixelBox& b);

// mIoU over all queries and over medium / large ground-truth boxes, by the box's share of the
// image area: medium in [medium_area, large_area), large >= large_area.
struct IouSummary {
  double miou = 0, miou_medium = 0, miou_large = 0;  // NaN when a group is empty
  std::int64_t n = 0, n_medium = 0, n_large = 0, malformed = 0;
};
// ious[i] and area_fractions[i] per query; malformed: how many answers did not parse.
IouSummary summarise_iou(const std::vector<double>& ious, const std::vector<double>& area_fractions, std::int64_t malformed,
                         double medium_area, double large_area);

// ---- beam search ------------------------------------------------------------------------------------
struct BeamOptions {
  std::int64_t beams_ = 3;
  std::int64_t max_new_tokens_ = 16;
  std::vector<std::int64_t> stop_tokens_;
  double length_penalty_ = 0.0;
  BeamOptions& length_penalty(double v) { length_penalty_ = v; return *this; }
  BeamOptions& beams(std::int64_t v) { beams_ = v; return *this; }
  BeamOptions& max_new_tokens(std::int64_t v) { max_new_tokens_ = v; return *this; }
  BeamOptions& stop_tokens(std::vector<std::int64_t> v) { stop_tokens_ = std::move(v); return *this; }
};
struct BeamResult {
  std::vector<std::int64_t> tokens;  // the new tokens, the stop token included when finished
  double log_prob = 0;               // their summed log-probability
  double score = 0;                  // what ranked it: log_prob / length^length_penalty
  bool finished = false;             // ended with a stop token (else it reached max_new_tokens)
};
// next(prefixes) -> one row of log-probabilities over the vocabulary per prefix (the new tokens so
// far; the caller holds the prompt). Each step extends every live hypothesis by every token, keeps
// the `beams` best candidates by summed log-probability that do not end in a stop token (those
// that do, ranked before the last kept one, are finished hypotheses), and stops when no live
// hypothesis can beat the best finished one (log-probabilities are <= 0) or after max_new_tokens
// (the live ones then count as unfinished hypotheses). Returns the best hypothesis; ties go to the
// earlier beam, then the smaller token id. With beams >= V^max_new_tokens this is the exact
// argmax over all sequences; with beams = 1 it is greedy decoding.
// length_penalty p > 0 ranks the hypotheses (finished, and the live ones at the end) by
// log_prob / length^p, as Hugging Face's generate does (its default p = 1, which PIN's evaluation
// uses: without it the end-of-chunk token alone outscores any 13-token box); candidates are still
// kept by their summed log-probability, and the search then runs to max_new_tokens (an average can
// still rise), so with beams >= V^max_new_tokens it is again the exact argmax.
using NextLogProbs = std::function<std::vector<std::vector<double>>(const std::vector<std::vector<std::int64_t>>& prefixes)>;
BeamResult beam_search(const NextLogProbs& next, const BeamOptions& options);

}  // namespace pesuite::vision
