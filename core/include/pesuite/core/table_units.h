#pragma once
// A table's work split into units (one row x one seed). Every finished unit is saved as
// <out>/units/<name>.json together with the resolved config it ran, which is what makes a table
//   resumable   (--resume: saved units whose config is unchanged are reused, the rest run),
//   shardable   (--shard i/n: this process runs units i, i+n, i+2n, ...; machines need not share
//                a folder, copy the units/ folders together afterwards),
//   shareable   (--claim: several processes on one folder each take the next unit nobody has
//                claimed, through <name>.claim files created exclusively), and
//   assemblable (--assemble: run nothing, write the table from the saved units).
// The tables call run() once per unit in a fixed order; its index is the call count.
//
//   UnitRunner units(options);
//   for (each row) for (each seed) {
//     auto v = units.run(row_name + "-seed" + std::to_string(seed), unit_fingerprint(cfg), [&] {
//       UnitValues out;  out.metrics["acc"] = {train_and_test(cfg)};  return out; });
//     if (v) add_to_table(*v);          // nullopt: another shard's unit, not run here
//   }
//   title += units.partial_note();     // "" when every unit is in the table
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pesuite/core/config.h"

namespace pesuite::core {

// How a table runs (pesuite reproduce): where, which device, which units (resume / claim / shard).
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


struct UnitValues {
  std::map<std::string, std::vector<double>> metrics;  // metric -> one value per fold (or one)
  std::map<std::string, std::string> notes;
};

class UnitRunner {
 public:
  // Checks the shard / claim options (InputError when inconsistent).
  explicit UnitRunner(const TableOptions& options);

  // The unit's values: saved ones (when reusing and the config text matches), else computed now
  // and saved, else nullopt (another shard's or another process's unit, or --assemble).
  std::optional<UnitValues> run(const std::string& name, const std::string& config_text,
                                const std::function<UnitValues()>& compute);

  std::size_t units_in_table() const { return computed_ + reused_; }
  std::size_t units_reused() const { return reused_; }
  // " [partial: k of n runs ...]" while units are missing, "" otherwise; `total` = units the table has.
  std::string partial_note(std::size_t total) const;
  // One line for results.md on where the units came from (empty when all ran in this process).
  std::string provenance() const;

 private:
  std::string dir_;
  bool reuse_, claim_, assemble_;
  int shard_index_, shard_count_;
  std::size_t seen_ = 0, computed_ = 0, reused_ = 0;
};

// What identifies a unit's experiment: the resolved config without its device key, so that runs
// made on a GPU machine and on a CPU machine can be assembled into one table (each row's numbers
// are still those of the device it ran on).
std::string unit_fingerprint(const Config& config);

// "i/n" -> (i, n) with 0 <= i < n; InputError naming the option otherwise.
std::pair<int, int> parse_shard(const std::string& text);

}  // namespace pesuite::core
