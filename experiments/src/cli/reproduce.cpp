#include <iostream>
#include <tuple>

#include "cli.h"
#include "pesuite/experiments/tables.h"

namespace pesuite::cli {

void add_reproduce_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("reproduce", "Reproduce a published table (quick = the short version of each)");
  static std::string table;
  static core::TableOptions options;
  static bool list = false;
  static std::string shard;
  cmd->add_option("table", table, "quick, or a table name (--list)");
  cmd->add_flag("--list", list, "List the tables");
  cmd->add_option("--out", options.out_dir, "Output folder (results.md, results.csv, plots, runs/)")->capture_default_str();
  cmd->add_option("--configs", options.config_dir, "Config folder (default: experiments/configs of the source tree, or $PESUITE_CONFIGS)");
  cmd->add_option("--seeds", options.seeds, "Seeds per row (default: the table's)")->check(CLI::PositiveNumber);
  cmd->add_option("--set", options.sets, "Override a config key in every row: --set train.epochs=3 (repeatable)");
  cmd->add_option("--device", options.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  cmd->add_flag("--resume", options.resume,
                "Reuse the runs saved under <out>/units whose config is unchanged; run the rest");
  cmd->add_option("--shard", shard,
                  "i/n: run only runs i, i+n, i+2n, ... of the table (several processes or machines; then --assemble)");
  cmd->add_flag("--claim", options.claim,
                "Share <out> with other processes: each run goes to the first process that claims it");
  cmd->add_flag("--assemble", options.assemble, "Run nothing: write the table from the runs saved under <out>/units");
  cmd->add_flag("--quick", options.quick, "The named table's short version (its [quick] section), whether or not `quick` runs it");
  cmd->callback([]() {
    if (list || table.empty()) {
      std::cout << "quick          the short version of every table marked *\n";
      const auto dir = options.config_dir.empty() ? experiments::default_config_dir() : options.config_dir;
      for (const auto& t : experiments::list_tables(dir))
        std::cout << (t.in_quick ? "* " : "  ") << t.name << std::string(t.name.size() < 13 ? 13 - t.name.size() : 1, ' ')
                  << t.help << "\n";
      return;
    }
    if (!shard.empty()) std::tie(options.shard_index, options.shard_count) = core::parse_shard(shard);
    if (options.out_dir == "runs") options.out_dir = "runs/" + table;
    experiments::run_named_table(table, options);
  });
}

}  // namespace pesuite::cli
