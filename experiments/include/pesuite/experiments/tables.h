#pragma once
// The tables behind `pesuite reproduce`: each is one declarative TOML file in
// experiments/configs/tables/<name>.toml (rows of configs, columns of metrics, the quick version,
// the checks of the paper's claims, a plot), run by one runner for graph and vision tables alike:
// every row x seed (x fold, for cross-validated rows) is a unit of work (core/table_units.h:
// --resume, --claim, --shard, --assemble), trained by the row's pipeline (pipelines.h), and the
// table is written as results.md + results.csv after every unit.
//
//   core::TableOptions o;  o.out_dir = "runs/csl";  o.quick = true;
//   for (const auto& t : list_tables(default_config_dir())) std::cout << t.name << "\n";
//   run_table(load_table(default_config_dir() + "/tables/csl.toml"), o);
//   run_named_table("quick", o);          // the short version of every table marked quick
//
// The description file (every key is checked; errors name the file and the key):
//   title = "..."      help = "..."     pipeline = "graph"   in_quick = true   digits = 4   order = 10
//   keys = ["model", "pe"]              notes = ["reference", "status"]
//   protocol = """a paragraph under the table"""
//   sets = [...]                        # --set overrides of every row, both versions
//   [full]  seeds = 1  sets = [...]     [quick]  seeds = 1  sets = [...]  only = { pe = ["none", "lap"] }
//   [rows]  config = "graph/csl-{model}+{pe}.toml"  grid = { model = ["gine", "gps"], pe = [...] }
//   [[row]] key = { model = "gine", pe = "none" }  config = "graph/x.toml"  sets = []  reference = "..."
//   [[column]] label = "test acc (%)"  metric = "accuracy"  scale = 100
//   [[check]] row = { model = "gine", pe = "none" }  column = "test acc (%)"  max = 10  claim = "... (chance)"
//   [[check]] row = { model = "gps", pe = "lap" }  than = { model = "gine", pe = "lap" }  column = "..."  min = 0  claim = "..."
//   [plot] file = "accuracy_vs_size.png"  series = "pe"  x = [28, 44, 56]  columns = [...]  title = ...
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pesuite/core/config.h"
#include "pesuite/core/results_table.h"
#include "pesuite/core/table_units.h"

namespace pesuite::experiments {

struct TableRow {
  core::ResultsTable::Key key;
  std::string config;             // file under the config folder
  std::vector<std::string> sets;  // row-specific overrides
  std::string reference;          // a published number, as printed ("reference" note column)
};

struct TableColumn {
  std::string label;   // as printed
  std::string metric;  // the name the pipeline gives it (pipelines.h)
  double scale = 1;    // 100 for a fraction shown in %
};

// A claim of the paper to check on the finished table: the mean of `column` in `row` within
// [min, max]; with `than` (another row), the difference mean(row) - mean(than) within [min, max]
// ("PIN >= VPT": than = VPT's row, min = 0; "fewer parameters": max = -1).
struct TableCheck {
  core::ResultsTable::Key row;
  std::optional<core::ResultsTable::Key> than;
  std::string column;
  std::optional<double> min, max;
  std::string claim;  // what it checks, in words
};

struct TablePlot {
  std::string file, title, x_label, y_label;
  std::string series;                // the key column whose values are the lines
  std::vector<double> x;             // one x per column
  std::vector<std::string> columns;  // column labels giving y
};

struct TableVersion {
  int seeds = 1;
  std::vector<std::string> sets;
  std::map<std::string, std::vector<std::string>> only;  // quick: rows whose key values are listed
};

struct TableSpec {
  std::string name, title, help, pipeline, protocol, source;
  bool in_quick = false;
  int digits = 4;
  double order = 100;  // listing order (then by name)
  std::vector<std::string> keys, notes;
  std::vector<std::string> sets;
  TableVersion full, quick;
  std::vector<TableRow> rows;
  std::vector<TableColumn> columns;
  std::vector<TableCheck> checks;
  std::optional<TablePlot> plot;

  // The rows a run covers: all of them, or the quick version's `only` subset.
  std::vector<TableRow> rows_for(bool quick) const;
  // The name a row's saved runs go under (units/<stem>-seedS[-foldF].json): its config's file stem,
  // plus its key values where other rows train the same config file with other --set overrides
  // (headpose-semi: "headpose-semi-2pct-semi"). load_table refuses a table where two rows share one.
  std::string unit_stem(const TableRow& row) const;
};

// Reads and checks a description (InputError naming the file and the key).
TableSpec load_table(const std::string& path);
// Every <config_dir>/tables/*.toml, sorted by `order`, then by name.
std::vector<TableSpec> list_tables(const std::string& config_dir);
std::string default_config_dir();  // $PESUITE_CONFIGS, else the source tree's experiments/configs

void run_table(const TableSpec& table, const core::TableOptions& options);

// The checks as reported under the table (results.md), one line each, PASS or FAIL, never an
// error: "- PASS: claim (model gine, pe none: test acc (%) 9.5, expected <= 10)"; a relative one
// shows both means and their difference. Checks whose rows have no value yet are left out; ""
// when none is left.
//   checks_text(spec, results)  // "Claims checked on this table:\n- PASS: ...\n"
std::string checks_text(const TableSpec& table, const core::ResultsTable& results);

// A row's resolved config: its pipeline's defaults, the row's config file, the version's, table's
// and row's --set overrides, the device, then options.sets (what each of its units trains).
core::Config row_config(const TableSpec& table, const TableRow& row, const core::TableOptions& options);
// The first dataset path the config names that does not exist ("" when all do).
std::string row_missing_data(const TableSpec& table, const core::Config& config);
// A table by name, or "quick": the short version of every table marked quick, each into
// <out>/<name>, with the time of each part printed at its end.
void run_named_table(const std::string& name, const core::TableOptions& options);

}  // namespace pesuite::experiments
