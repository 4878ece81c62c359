#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/heads/error.h"

namespace pesuite::datasets {

// The dispatch table of graph formats (kept next to spec.cpp's format rows).
GraphDataset load_graph_dataset(const DatasetSpec& spec) {
  GraphDataset ds;
  if (spec.format == "tu") ds = load_tu(spec);
  else if (spec.format == "ogb") ds = load_ogb(spec);
  else if (spec.format == "linqs") ds = load_linqs(spec);
  else if (spec.format == "edgelist") ds = load_edgelist(spec);
  else if (spec.format == "csl") ds = generate_csl(spec);
  else if (spec.format == "grid") ds = generate_grid(spec);
  else if (spec.format == "regular") ds = generate_regular(spec);
  else if (spec.format == "count") ds = generate_count(spec);
  else throw InputError("dataset spec '" + spec.text + "': format '" + spec.format + "' is not a graph format");
  ds.spec = spec.text;
  return ds;
}

}  // namespace pesuite::datasets
