#include "pesuite/experiments/tables.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "pesuite/heads/error.h"

namespace pesuite::experiments {

std::string default_config_dir() {
  if (const char* env = std::getenv("PESUITE_CONFIGS")) return env;
  return PESUITE_CONFIG_DIR;  // the source tree's experiments/configs
}

const std::vector<TableInfo>& list_tables() {
  static const std::vector<TableInfo> tables = {
      {"cpvt-fmnist", "Fashion-MNIST ViT with none/learned/sincos2d/rope2d/peg/peg-gap, accuracy at 1x, 1.5x, 2x size",
       true, run_cpvt_fmnist},
  };
  return tables;
}

void run_table(const std::string& name, const TableOptions& options) {
  if (name == "quick") {
    TableOptions q = options;
    q.quick = true;
    for (const auto& t : list_tables())
      if (t.in_quick) {
        const auto t0 = std::chrono::steady_clock::now();
        std::cout << "== " << t.name << " (quick)" << std::endl;
        TableOptions sub = q;
        sub.out_dir = q.out_dir + "/" + t.name;
        t.run(sub);
        std::cout << "== " << t.name << " done in "
                  << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s" << std::endl;
      }
    return;
  }
  for (const auto& t : list_tables())
    if (t.name == name) return t.run(options);
  std::string valid = "quick";
  for (const auto& t : list_tables()) valid += ", " + t.name;
  throw InputError("reproduce: unknown table '" + name + "' (valid: " + valid + ")");
}

}  // namespace pesuite::experiments
