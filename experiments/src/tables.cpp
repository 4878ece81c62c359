#include "pesuite/experiments/tables.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "pesuite/experiments/graph_tables.h"
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
      {"cpvt-ablation", "8-block Fashion-MNIST ViT: PEG before/after block 0/3/6, kernel 1/3/5, with and without zero padding",
       false, run_cpvt_ablation},
      {"csl", "CSL: GINE / GPS with none/lap/rwse/spe/rfp, 5-fold CV (quick: GINE none/lap/rwse)", true, run_graph_table_csl},
      {"tu", "MUTAG / ENZYMES / PROTEINS: GINE with none/lap/rwse, 10-fold CV, GIN's numbers beside", false, run_graph_table_tu},
      {"counting", "3..6-cycle counting: GINE with none/lap/signnet/spe, MAE per cycle length", false, run_graph_table_counting},
      {"ogb-mol", "ogbg-molesol: GINE / GPS with none/lap/rwse, RMSE on the scaffold split", false, run_graph_table_ogb_mol},
      {"zinc", "ZINC 12k (when present): GINE, GINE + SPE, GPS + RWSE, MAE, published numbers beside", false, run_graph_table_zinc},
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
