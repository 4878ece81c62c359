#pragma once
// Published tables that `pesuite reproduce <table>` rebuilds: each reads its config folder, runs
// every row (seeds / folds), and writes results.md + results.csv (+ plots) into its output folder.
// `quick` runs the short version of each table that has one, within minutes on 2 cores.
//
//   TableOptions o;  o.out_dir = "runs/quick";  o.quick = true;
//   for (const auto& t : list_tables()) std::cout << t.name << "\n";
//   run_table("cpvt-fmnist", o);
#include <functional>
#include <string>
#include <vector>

namespace pesuite::experiments {

struct TableOptions {
  std::string out_dir = "runs";
  std::string config_dir;        // experiments/configs (default: the source tree's, or $PESUITE_CONFIGS)
  bool quick = false;            // the short version (subsampled data, one seed)
  int seeds = 0;                 // 0 = the table's default
  std::vector<std::string> sets; // --set overrides applied to every row's config
  std::string device = "auto";
  // Units (row x seed) saved under <out_dir>/units; see table_units.h.
  bool resume = false;           // reuse saved units whose config is unchanged
  bool claim = false;            // run only units no other process has claimed (implies resume)
  bool assemble = false;         // run nothing; the table from the saved units (implies resume)
  int shard_index = 0, shard_count = 1;  // run units i, i+n, ... (implies resume)
};

struct TableInfo {
  std::string name;
  std::string help;
  bool in_quick;  // part of `reproduce quick`
  std::function<void(const TableOptions&)> run;
};

const std::vector<TableInfo>& list_tables();
void run_table(const std::string& name, const TableOptions& options);
std::string default_config_dir();

// ---- the tables (one file each) ---------------------------------------------------------------
void run_cpvt_fmnist(const TableOptions& options);  // table_cpvt_fmnist.cpp
void run_cpvt_ablation(const TableOptions& options);  // table_cpvt_ablation.cpp

}  // namespace pesuite::experiments
