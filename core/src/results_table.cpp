#include "pesuite/core/results_table.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::core {

Summary summarize(const std::vector<double>& v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= v.size();
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / (v.size() - 1));
  }
  return s;
}

ResultsTable::ResultsTable(std::vector<std::string> key_columns, std::vector<std::string> metric_columns,
                           std::vector<std::string> note_columns)
    : keys_(std::move(key_columns)), metrics_(std::move(metric_columns)), notes_(std::move(note_columns)) {}

ResultsTable::Row& ResultsTable::row(const Key& key) {
  for (const auto& k : keys_)
    if (!key.count(k)) throw std::invalid_argument("results table: row key lacks column '" + k + "'");
  for (auto& r : rows_)
    if (r.key == key) return r;
  rows_.push_back(Row{key, {}, {}});
  return rows_.back();
}

const ResultsTable::Row* ResultsTable::find(const Key& key) const {
  for (const auto& r : rows_)
    if (r.key == key) return &r;
  return nullptr;
}

void ResultsTable::add(const Key& key, const std::string& metric, double value) {
  if (std::find(metrics_.begin(), metrics_.end(), metric) == metrics_.end())
    throw std::invalid_argument("results table: unknown metric '" + metric + "'");
  row(key).values[metric].push_back(value);
}

void ResultsTable::set_note(const Key& key, const std::string& column, const std::string& text) {
  if (std::find(notes_.begin(), notes_.end(), column) == notes_.end())
    throw std::invalid_argument("results table: unknown note column '" + column + "'");
  row(key).notes[column] = text;
}

Summary ResultsTable::summary(const Key& key, const std::string& metric) const {
  const Row* r = find(key);
  if (!r || !r->values.count(metric)) return {};
  return summarize(r->values.at(metric));
}

static std::string fmt(double x, int digits) {
  std::ostringstream s;
  s << std::setprecision(digits) << x;
  return s.str();
}

std::string ResultsTable::markdown(const std::string& title, int digits) const {
  std::ostringstream md;
  md << "# " << title << "\n\n|";
  for (const auto& k : keys_) md << " " << k << " |";
  for (const auto& m : metrics_) md << " " << m << " |";
  for (const auto& n : notes_) md << " " << n << " |";
  md << "\n|";
  for (std::size_t i = 0; i < keys_.size() + metrics_.size() + notes_.size(); ++i) md << "---|";
  md << "\n";
  for (const auto& r : rows_) {
    md << "|";
    for (const auto& k : keys_) md << " " << r.key.at(k) << " |";
    for (const auto& m : metrics_) {
      auto it = r.values.find(m);
      if (it == r.values.end()) {
        md << " - |";
        continue;
      }
      const Summary s = summarize(it->second);
      md << " " << fmt(s.mean, digits);
      if (s.n > 1) md << " ± " << fmt(s.std, digits);
      md << " |";
    }
    for (const auto& n : notes_) md << " " << (r.notes.count(n) ? r.notes.at(n) : "") << " |";
    md << "\n";
  }
  std::size_t max_n = 0;
  for (const auto& r : rows_)
    for (const auto& [m, v] : r.values) max_n = std::max(max_n, v.size());
  if (max_n == 0)
    md << "\nNo values yet: every cell is '-' until its runs are saved.\n";
  else
    md << "\nmean ± sample std over " << max_n << " seeds/folds per cell (results.csv has every value).\n";
  return md.str();
}

static std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string ResultsTable::csv() const {
  std::ostringstream out;
  bool first = true;
  auto col = [&](const std::string& s) {
    out << (first ? "" : ",") << csv_field(s);
    first = false;
  };
  for (const auto& k : keys_) col(k);
  for (const auto& m : metrics_) {
    col(m + "_mean");
    col(m + "_std");
    col(m + "_n");
    col(m + "_values");
  }
  for (const auto& n : notes_) col(n);
  out << "\n";
  for (const auto& r : rows_) {
    first = true;
    for (const auto& k : keys_) col(r.key.at(k));
    for (const auto& m : metrics_) {
      auto it = r.values.find(m);
      const std::vector<double> v = it == r.values.end() ? std::vector<double>{} : it->second;
      const Summary s = summarize(v);
      col(v.empty() ? "" : fmt(s.mean, 10));
      col(v.empty() ? "" : fmt(s.std, 10));
      col(std::to_string(s.n));
      std::string vals;
      for (double x : v) vals += (vals.empty() ? "" : ";") + fmt(x, 10);
      col(vals);
    }
    for (const auto& n : notes_) col(r.notes.count(n) ? r.notes.at(n) : "");
    out << "\n";
  }
  return out.str();
}

void ResultsTable::write(const std::string& dir, const std::string& title, int digits) const {
  make_dirs(dir);
  write_file_atomic(dir + "/results.md", markdown(title, digits));
  write_file_atomic(dir + "/results.csv", csv());
}

}  // namespace pesuite::core
