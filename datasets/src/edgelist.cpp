// Plain edge lists: "u v [w]" per line (blanks, tabs or commas), '#' and '%' comments (SNAP, KONECT).
#include <algorithm>

#include "pesuite/datasets/graph_dataset.h"
#include "pesuite/datasets/text_source.h"
#include "pesuite/core/error.h"

namespace pesuite::datasets {

GraphDataset load_edgelist(const DatasetSpec& spec) {
  const TextFile f = read_text_file(spec.path);
  const std::string weighted = spec.get("weighted"), base_key = spec.get("base");
  if (weighted != "auto" && weighted != "0" && weighted != "1")
    throw core::InputError("dataset spec '" + spec.text + "': weighted must be auto, 0 or 1");
  if (base_key != "auto" && base_key != "0" && base_key != "1")
    throw core::InputError("dataset spec '" + spec.text + "': base must be auto, 0 or 1");
  const char sep = f.data.find(',') != std::string::npos ? ',' : ' ';
  std::vector<graph::EdgeInput> edges;
  std::int64_t lo = INT64_MAX, hi = -1;
  std::size_t width = 0;
  LineCursor c(f.name, f.data, "#%");
  while (c.next()) {
    const auto fields = c.fields(sep);
    if (width == 0) width = fields.size();
    if (fields.size() < 2 || fields.size() > 3 || fields.size() != width)
      c.fail("expected " + (width >= 2 && width <= 3 ? std::to_string(width) : std::string("2 or 3")) + " columns, got " +
             std::to_string(fields.size()));
    graph::EdgeInput e{c.to_int(fields[0]), c.to_int(fields[1]), 1.0};
    if (e.src < 0 || e.dst < 0) c.fail("negative node id");
    if (fields.size() == 3 && weighted != "0") e.weight = c.to_double(fields[2]);
    if (weighted == "1" && fields.size() != 3) c.fail("weighted=1 but the line has no weight column");
    lo = std::min({lo, e.src, e.dst});
    hi = std::max({hi, e.src, e.dst});
    edges.push_back(e);
  }
  // auto: 0-based when some id is 0, else 1-based (the two conventions in the wild).
  const std::int64_t base = base_key == "auto" ? (lo == 0 || edges.empty() ? 0 : 1) : std::stoll(base_key);
  if (base == 1 && lo == 0) throw core::InputError(core::where(f.name) + ": node id 0 with base=1");
  for (auto& e : edges) e.src -= base, e.dst -= base;
  // Node ids must number the nodes (0..n-1 or 1..n): ids far beyond what the edges can touch are
  // not an edge list of this kind, and would have us allocate a graph of that many nodes.
  const auto nodes = std::max<std::int64_t>(0, hi + 1 - base);
  if (nodes > 2 * static_cast<std::int64_t>(edges.size()) + (std::int64_t{1} << 20))
    throw core::InputError(core::where(f.name) + ": node id " + std::to_string(hi) + " with only " + std::to_string(edges.size()) +
                           " edges: the ids must number the nodes 0..n-1 or 1..n (renumber them)");
  GraphDataset ds;
  ds.name = spec.path.substr(spec.path.find_last_of('/') + 1);
  ds.graphs.push_back(graph::Graph::from_edges(nodes, edges, spec.get_bool("directed"), true));
  return ds;
}

}  // namespace pesuite::datasets
