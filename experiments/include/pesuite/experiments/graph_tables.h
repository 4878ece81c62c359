#pragma once
// The graph benchmark tables of `pesuite reproduce` (table_graph.cpp), each a folder of configs
// under experiments/configs/graph/ run through graph_training.h:
//   csl       GINE / GPS x none, lap, rwse, spe, rfp on CSL, 5-fold CV (quick: GINE none/lap/rwse)
//   tu        GINE x none, lap, rwse on MUTAG, ENZYMES, PROTEINS, 10-fold CV, GIN's numbers beside
//   counting  GINE x none, lap, signnet, spe on 3..6-cycle counting, MAE per cycle length
//   ogb-mol   GINE / GPS x none, lap, rwse on ogbg-molesol, RMSE on the scaffold split
//   zinc      GINE, GINE + SPE, GPS + RWSE on ZINC (12k subset) when it is present, published numbers beside
// Datasets read from ${data} (--set data.root=..., $PESUITE_DATA, ../shared/data); a dataset
// that is missing there becomes a "skipped" row, not an error.
//
//   TableOptions o;  o.out_dir = "runs/csl";  o.quick = true;
//   run_graph_table_csl(o);   // runs/csl/results.md, results.csv, runs/
#include "pesuite/experiments/tables.h"

namespace pesuite::experiments {

void run_graph_table_csl(const TableOptions& options);
void run_graph_table_tu(const TableOptions& options);
void run_graph_table_counting(const TableOptions& options);
void run_graph_table_ogb_mol(const TableOptions& options);
void run_graph_table_zinc(const TableOptions& options);

}  // namespace pesuite::experiments
