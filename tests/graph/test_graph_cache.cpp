// The C++ API behind `pesuite graph pe`: encodings of a dataset through the on-disk cache, and in
// shards joined again.
#include <gtest/gtest.h>

#include "pesuite/datasets/formats.h"
#include <algorithm>
#include <filesystem>

#include "pesuite/core/safetensors.h"
#include "pesuite/graph/pe_cache.h"
#include "pesuite/graph/pe_dataset.h"
#include "pesuite/graph/pe_shards.h"
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

// `graph pe --shard i/n` then `--merge`: the joined file is byte for byte the single-process one,
// for an even split, an uneven one and more shards than graphs (empty shards); random features
// (seeded by the graph's dataset index) show that each graph keeps its index in its shard.
TEST(GraphPeShards, JoinedShardsAreTheWholeFileByteForByte) {
  pesuite::test::TempDir tmp;
  auto ds = load_graph_dataset(parse_spec("csl:?seed=0&per_class=1"));  // 10 graphs
  const std::vector<std::string> specs{"lap:k=4", "rwse:steps=3", "rfp:features=2,steps=2"};
  PeCacheOptions whole_options;
  whole_options.use_cache = false;
  const auto whole = graph_encodings(ds, specs, whole_options);
  const std::string expected = pesuite::core::serialize_safetensors(whole.file.tensors, whole.file.metadata);
  for (int n : {2, 3, 13}) {
    std::vector<std::string> files;
    for (int i = 0; i < n; ++i) {
      PeCacheOptions o = whole_options;
      o.use_cache = true;  // ignored for shards: no cache folder appears
      o.cache_dir = tmp / "cache";
      o.shard = i;
      o.shards = n;
      const auto part = graph_encodings(ds, specs, o);
      EXPECT_EQ(part.file.metadata.at("shard"), std::to_string(i) + "/" + std::to_string(n));
      files.push_back(tmp / ("n" + std::to_string(n) + "-" + std::to_string(i) + ".safetensors"));
      pesuite::core::save_safetensors(files.back(), part.file.tensors, part.file.metadata);
    }
    EXPECT_FALSE(std::filesystem::exists(tmp / "cache"));
    std::reverse(files.begin(), files.end());  // the order given does not matter
    const auto joined = merge_pe_shards(files);
    EXPECT_EQ(pesuite::core::serialize_safetensors(joined.tensors, joined.metadata), expected) << n << " shards";
  }
  // The shares: contiguous, sizes differ by at most one.
  EXPECT_EQ(pesuite::graph::pe::shard_range(10, 0, 3).end, 4u);
  EXPECT_EQ(pesuite::graph::pe::shard_range(10, 2, 3).begin, 7u);
  EXPECT_EQ(pesuite::graph::pe::shard_range(2, 5, 13).begin, 2u);
  EXPECT_EQ(pesuite::graph::pe::shard_range(2, 5, 13).end, 2u);
}

TEST(GraphPeShards, IncompleteOrMixedSetsAreInputErrors) {
  pesuite::test::TempDir tmp;
  auto write_shard = [&](const std::string& data, const std::string& spec, int i, int n) {
    PeCacheOptions o;
    o.shard = i;
    o.shards = n;
    const auto part = graph_encodings(load_graph_dataset(parse_spec(data)), {spec}, o);
    const std::string path = tmp / (std::to_string(i) + "of" + std::to_string(n) + "-" + std::to_string(std::hash<std::string>{}(data + spec)) + ".safetensors");
    pesuite::core::save_safetensors(path, part.file.tensors, part.file.metadata);
    return path;
  };
  auto error_of = [](const std::vector<std::string>& files) {
    try {
      merge_pe_shards(files);
    } catch (const pesuite::core::InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string csl = "csl:?seed=0&per_class=1";
  const auto a0 = write_shard(csl, "lap:k=4", 0, 3), a1 = write_shard(csl, "lap:k=4", 1, 3), a2 = write_shard(csl, "lap:k=4", 2, 3);
  EXPECT_NE(error_of({a0, a2}).find("shard 1/3 of"), std::string::npos) << error_of({a0, a2});
  EXPECT_NE(error_of({a0, a1, a1, a2}).find("is given twice"), std::string::npos);
  const auto other_spec = write_shard(csl, "lap:k=5", 1, 3);
  const std::string e = error_of({a0, other_spec, a2});
  EXPECT_NE(e.find(other_spec + ": metadata 'lap.spec'"), std::string::npos) << e;
  const auto other_n = write_shard(csl, "lap:k=4", 1, 2);
  EXPECT_NE(error_of({a0, other_n, a2}).find("shard 1/2, but"), std::string::npos) << error_of({a0, other_n, a2});
  PeCacheOptions whole;
  whole.use_cache = false;
  const auto w = graph_encodings(load_graph_dataset(parse_spec(csl)), {"lap:k=4"}, whole);
  pesuite::core::save_safetensors(tmp / "whole.safetensors", w.file.tensors, w.file.metadata);
  EXPECT_NE(error_of({tmp / "whole.safetensors"}).find("metadata key 'shard' is missing"), std::string::npos);
}
