#include "cli.h"
#include "pesuite/heads/error.h"

namespace pesuite::cli {

void add_reproduce_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("reproduce", "Reproduce a published table (quick = the short versions of all)");
  static std::string table;
  cmd->add_option("table", table, "Table name")->required();
  cmd->callback([]() { throw InputError("reproduce: unknown table '" + table + "'"); });
}

}  // namespace pesuite::cli
