// Metrics of graph training: accuracy, exact ROC-AUC (ranks, ties averaged), MAE and RMSE over
// finite targets. Torch-free, so tests check them against hand-computed values.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "pesuite/graph/training.h"

namespace pesuite::graph {

// ---- metrics ------------------------------------------------------------------------------------

double accuracy(const std::vector<std::int64_t>& predicted, const std::vector<std::int64_t>& labels) {
  if (predicted.size() != labels.size()) throw std::invalid_argument("accuracy: size mismatch");
  if (labels.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::size_t ok = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) ok += predicted[i] == labels[i];
  return static_cast<double>(ok) / static_cast<double>(labels.size());
}

double roc_auc(const std::vector<double>& scores, const std::vector<std::int64_t>& labels) {
  if (scores.size() != labels.size()) throw std::invalid_argument("roc_auc: size mismatch");
  std::vector<std::size_t> order(scores.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  // Ranks 1..n, tied scores get the mean of their ranks.
  double pos_rank_sum = 0, npos = 0, nneg = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of i+1 .. j
    for (std::size_t t = i; t < j; ++t) {
      if (labels[order[t]] == 1) {
        pos_rank_sum += rank;
        ++npos;
      } else {
        ++nneg;
      }
    }
    i = j;
  }
  if (npos == 0 || nneg == 0) return std::numeric_limits<double>::quiet_NaN();
  return (pos_rank_sum - npos * (npos + 1) / 2) / (npos * nneg);
}

namespace {
template <class F>
double mean_over_finite(const std::vector<double>& p, const std::vector<double>& t, F f) {
  if (p.size() != t.size()) throw std::invalid_argument("metric: size mismatch");
  double s = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (std::isfinite(t[i])) {
      s += f(p[i] - t[i]);
      ++n;
    }
  return n ? s / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}
}  // namespace

double mean_absolute_error(const std::vector<double>& p, const std::vector<double>& t) {
  return mean_over_finite(p, t, [](double d) { return std::abs(d); });
}

double root_mean_squared_error(const std::vector<double>& p, const std::vector<double>& t) {
  return std::sqrt(mean_over_finite(p, t, [](double d) { return d * d; }));
}

bool higher_is_better(const std::string& metric) {
  const std::string base = metric.substr(0, metric.find('.'));
  return base == "accuracy" || base == "rocauc";
}

}  // namespace pesuite::graph
