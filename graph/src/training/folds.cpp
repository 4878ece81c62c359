// Splits for graph training: stratified k-fold (TU, CSL), seeded random holdout (generators) and
// Planetoid-style per-class node masks (Cora). Torch-free; every shuffle is a seeded mt19937_64.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <map>
#include <random>

#include "pesuite/graph/training.h"
#include "pesuite/core/error.h"

namespace pesuite::graph {

namespace {
// Fisher-Yates with our own draws: std::shuffle's use of the engine is implementation-defined,
// and splits must be the same with every standard library.
void shuffle(std::vector<std::int64_t>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(v[i - 1], v[j]);
  }
}

std::map<std::int64_t, std::vector<std::int64_t>> by_class(const std::vector<std::int64_t>& labels) {
  std::map<std::int64_t, std::vector<std::int64_t>> out;
  for (std::size_t i = 0; i < labels.size(); ++i) out[labels[i]].push_back(static_cast<std::int64_t>(i));
  return out;
}
}  // namespace

std::vector<Fold> stratified_kfold(const std::vector<std::int64_t>& labels, int k, std::uint64_t seed, double val_fraction) {
  if (k < 2) throw core::InputError("cv.folds: need at least 2 folds for cross-validation (got " + std::to_string(k) + ")");
  if (static_cast<std::size_t>(k) > labels.size())
    throw core::InputError("cv.folds: " + std::to_string(k) + " folds for " + std::to_string(labels.size()) + " items");
  if (val_fraction < 0 || val_fraction >= 1) throw core::InputError("cv.val_fraction must be in [0, 1)");
  std::mt19937_64 rng(seed);
  std::vector<int> fold_of(labels.size(), 0);
  // Deal each class round-robin, the rotation carrying on across classes so that fold sizes
  // differ by at most one.
  int next = 0;
  for (auto& [cls, items] : by_class(labels)) {
    shuffle(items, rng);
    for (auto i : items) {
      fold_of[static_cast<std::size_t>(i)] = next;
      next = (next + 1) % k;
    }
  }
  std::vector<Fold> folds(static_cast<std::size_t>(k));
  for (int f = 0; f < k; ++f) {
    Fold& fold = folds[static_cast<std::size_t>(f)];
    std::vector<std::int64_t> rest_labels, rest;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (fold_of[i] == f) fold.test.push_back(static_cast<std::int64_t>(i));
      else rest.push_back(static_cast<std::int64_t>(i));
    }
    std::mt19937_64 vrng(seed * 6364136223846793005ull + 1442695040888963407ull + static_cast<std::uint64_t>(f));
    std::map<std::int64_t, std::vector<std::int64_t>> cls;
    for (auto i : rest) cls[labels[static_cast<std::size_t>(i)]].push_back(i);
    for (auto& [c, items] : cls) {
      shuffle(items, vrng);
      std::size_t nv = static_cast<std::size_t>(val_fraction * static_cast<double>(items.size()) + 0.5);
      if (val_fraction > 0 && nv == 0 && items.size() >= 2) nv = 1;
      for (std::size_t j = 0; j < items.size(); ++j) (j < nv ? fold.val : fold.train).push_back(items[j]);
    }
    std::sort(fold.train.begin(), fold.train.end());
    std::sort(fold.val.begin(), fold.val.end());
  }
  return folds;
}

Fold random_split(std::int64_t n, double val_fraction, double test_fraction, std::uint64_t seed) {
  if (val_fraction < 0 || test_fraction < 0 || val_fraction + test_fraction >= 1)
    throw core::InputError("split.val_fraction + split.test_fraction must be below 1");
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = i;
  std::mt19937_64 rng(seed);
  shuffle(idx, rng);
  const auto nt = static_cast<std::size_t>(test_fraction * static_cast<double>(n) + 0.5);
  const auto nv = static_cast<std::size_t>(val_fraction * static_cast<double>(n) + 0.5);
  Fold f;
  for (std::size_t i = 0; i < idx.size(); ++i) (i < nt ? f.test : i < nt + nv ? f.val : f.train).push_back(idx[i]);
  for (auto* v : {&f.train, &f.val, &f.test}) std::sort(v->begin(), v->end());
  return f;
}

Fold per_class_split(const std::vector<std::int64_t>& labels, std::int64_t per_class, std::int64_t val, std::int64_t test,
                     std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Fold f;
  std::vector<std::int64_t> rest;
  for (auto& [cls, items] : by_class(labels)) {
    shuffle(items, rng);
    for (std::size_t j = 0; j < items.size(); ++j)
      (static_cast<std::int64_t>(j) < per_class ? f.train : rest).push_back(items[j]);
  }
  shuffle(rest, rng);
  if (static_cast<std::int64_t>(rest.size()) < val + test)
    throw core::InputError("split: " + std::to_string(val) + " validation + " + std::to_string(test) + " test nodes asked, only " +
                     std::to_string(rest.size()) + " left after the training nodes");
  for (std::size_t j = 0; j < static_cast<std::size_t>(val + test); ++j)
    (static_cast<std::int64_t>(j) < val ? f.val : f.test).push_back(rest[j]);
  for (auto* v : {&f.train, &f.val, &f.test}) std::sort(v->begin(), v->end());
  return f;
}

}  // namespace pesuite::graph
