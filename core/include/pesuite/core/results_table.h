#pragma once
// A results table: rows identified by key columns (dataset, model, pe, ...), each metric measured
// once per seed or fold; written as results.md (mean ± std) and results.csv (mean, std, n, and the
// raw values) from the same rows, atomically.
//
//   ResultsTable t({"model", "pe"}, {"test_acc", "wall_s"});
//   t.add({{"model", "gine"}, {"pe", "lap"}}, "test_acc", 0.93);   // once per seed
//   t.set_note({{"model", "gine"}, {"pe", "lap"}}, "reference", "99.0");
//   t.write("runs/csl", "CSL, 5-fold CV");
#include <map>
#include <string>
#include <vector>

namespace pesuite::core {

struct Summary {
  double mean = 0, std = 0;  // std: sample standard deviation (n - 1), 0 for one value
  std::size_t n = 0;
};
Summary summarize(const std::vector<double>& values);

class ResultsTable {
 public:
  using Key = std::map<std::string, std::string>;
  ResultsTable(std::vector<std::string> key_columns, std::vector<std::string> metric_columns,
               std::vector<std::string> note_columns = {});

  void add(const Key& key, const std::string& metric, double value);
  // A row with no values yet, in its place: a partial table lists every row it will have ("-").
  void add_row(const Key& key) { row(key); }
  void set_note(const Key& key, const std::string& column, const std::string& text);
  Summary summary(const Key& key, const std::string& metric) const;

  std::string markdown(const std::string& title, int digits = 4) const;
  std::string csv() const;
  // <dir>/results.md and <dir>/results.csv.
  void write(const std::string& dir, const std::string& title, int digits = 4) const;

 private:
  struct Row {
    Key key;
    std::map<std::string, std::vector<double>> values;
    std::map<std::string, std::string> notes;
  };
  Row& row(const Key& key);
  const Row* find(const Key& key) const;
  std::vector<std::string> keys_, metrics_, notes_;
  std::vector<Row> rows_;  // in insertion order
};

}  // namespace pesuite::core
