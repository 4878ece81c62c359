// The C++ API behind `pesuite graph pe`: encodings of a dataset through the on-disk cache.
#include <gtest/gtest.h>

#include "pesuite/datasets/formats.h"
#include "pesuite/graph/pe_cache.h"
#include "pesuite/core/error.h"
#include "test_util.h"

using namespace pesuite::datasets;
using namespace pesuite::graph;

TEST(GraphPeCache, SecondCallReadsTheCache) {
  pesuite::test::TempDir tmp;
  auto ds = load_graph_dataset(parse_spec("csl:?seed=0&per_class=1"));
  PeCacheOptions o;
  o.cache_dir = tmp.str();
  auto a = graph_encodings(ds, {"lap:k=4", "rwse:steps=3"}, o);
  EXPECT_FALSE(a.from_cache);
  auto b = graph_encodings(ds, {"lap:k=4", "rwse:steps=3"}, o);
  EXPECT_TRUE(b.from_cache);
  EXPECT_EQ(a.cache_path, b.cache_path);
  for (const char* name : {"node_ptr", "lap", "lap.eigval", "lap.mask", "rwse"}) EXPECT_TRUE(torch::equal(a.file.tensors.at(name), b.file.tensors.at(name))) << name;
  // A different spec, or different graphs, is a different key.
  EXPECT_NE(graph_encodings(ds, {"lap:k=5"}, o).cache_path, a.cache_path);
  auto other = load_graph_dataset(parse_spec("csl:?seed=1&per_class=1"));
  EXPECT_NE(pe_cache_key(other, {"lap:k=4"}), pe_cache_key(ds, {"lap:k=4"}));
  EXPECT_THROW(graph_encodings(ds, {"nope"}, o), pesuite::core::InputError);
}
