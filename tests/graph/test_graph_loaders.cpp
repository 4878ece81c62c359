// Loaders: files in the real formats written by the test, malformed variants, the real samples.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pesuite/datasets/formats.h"
#include "pesuite/datasets/inspect.h"
#include "pesuite/core/error.h"
#include "format_writers.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::datasets;
using pesuite::test::TempDir;

namespace {
using test::tu_files;
using test::write_gz;
using test::write_zip;
void write(const std::string& path, const std::string& text) { test::write_text(path, text); }
void write_tu_folder(const std::string& dir, std::map<std::string, std::string> files) {
  for (const auto& [k, v] : files) write(dir + "/TOY_" + k + ".txt", v);
}
std::string error_of(const std::string& spec) {
  try {
    load_graph_dataset(parse_spec(spec));
  } catch (const pesuite::core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(GraphLoaders, TuFolderAndZip) {
  TempDir tmp;
  write_tu_folder(tmp / "TOY", tu_files());
  std::map<std::string, std::string> members;
  for (const auto& [k, v] : tu_files()) members["TOY//TOY_" + k + ".txt"] = v;  // the official naming
  write_zip(tmp / "TOY.zip", members);
  for (const std::string spec : {"tu:" + (tmp / "TOY"), "tu:" + (tmp / "TOY.zip")}) {
    auto ds = load_graph_dataset(parse_spec(spec));
    EXPECT_EQ(ds.name, "TOY");
    ASSERT_EQ(ds.graphs.size(), 2u);
    EXPECT_EQ(ds.task, "graph_classification");
    EXPECT_EQ(ds.num_classes, 2);
    EXPECT_EQ(ds.graphs[0].graph_label, 0);  // -1 -> class 0
    EXPECT_EQ(ds.graphs[1].graph_label, 1);
    EXPECT_EQ(ds.graphs[0].num_nodes, 3);
    EXPECT_EQ(ds.graphs[0].num_edges(), 3);
    EXPECT_EQ(ds.graphs[1].num_edges(), 1);
    EXPECT_EQ(ds.graphs[1].node_labels, (std::vector<std::int64_t>{2, 0}));
    EXPECT_EQ(ds.graphs[1].node_feature_dim, 2);
    EXPECT_FLOAT_EQ(ds.graphs[1].node_features[0], 2.0f);
    EXPECT_EQ(ds.graphs[0].edge_labels.size(), 6u);
  }
}

TEST(GraphLoaders, TuMalformed) {
  TempDir tmp;
  auto bad = [&](const std::string& key, const std::string& text) {
    auto f = tu_files();
    f[key] = text;
    const std::string dir = tmp / ("case_" + key + std::to_string(text.size()) + "/TOY");
    write_tu_folder(dir, f);
    return error_of("tu:" + dir);
  };
  EXPECT_NE(bad("A", "1, 2\n2, 9\n").find("TOY_A.txt:2: node id 9 out of range"), std::string::npos);
  EXPECT_NE(bad("A", "1, 2\n2, 1, 4\n").find("TOY_A.txt:2: expected 2 columns, got 3"), std::string::npos);
  EXPECT_NE(bad("A", "1, 2\nx, 1\n").find("TOY_A.txt:2: 'x' is not an integer"), std::string::npos);
  EXPECT_NE(bad("graph_labels", "1\n").find("TOY_graph_labels.txt:1: 1 graph label lines, expected 2"), std::string::npos);
  EXPECT_NE(bad("node_labels", "0\n1\n").find("TOY_node_labels.txt:2: 2 node label lines, expected 5"), std::string::npos);
  EXPECT_NE(bad("node_attributes", "1,2\n1,2\n1\n1,2\n1,2\n").find("TOY_node_attributes.txt:3: expected 2 columns"), std::string::npos);
  // Missing member in a zip.
  std::map<std::string, std::string> members;
  for (const auto& [k, v] : tu_files())
    if (k != "graph_indicator") members["TOY//TOY_" + k + ".txt"] = v;
  write_zip(tmp / "TOY.zip", members);
  const std::string e = error_of("tu:" + (tmp / "TOY.zip"));
  EXPECT_NE(e.find("TOY.zip"), std::string::npos) << e;
  EXPECT_NE(e.find("TOY_graph_indicator.txt' is missing"), std::string::npos) << e;

  // A zip whose directory claims 3.75 GB for every member: an error naming the member, not a
  // 3.75 GB allocation (the fuzzer's finding oom-df4978c6).
  write_zip(tmp / "HUGE.zip", [] {
    std::map<std::string, std::string> m;
    for (const auto& [k, v] : tu_files()) m["TOY//TOY_" + k + ".txt"] = v;
    return m;
  }());
  std::string bytes;
  {
    std::ifstream in(tmp / "HUGE.zip", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string central("PK\x01\x02", 4), local("PK\x03\x04", 4), huge("\x00\x00\x00\xf0", 4);
  for (auto at = bytes.find(central); at != std::string::npos; at = bytes.find(central, at + 4)) bytes.replace(at + 24, 4, huge);
  for (auto at = bytes.find(local); at != std::string::npos; at = bytes.find(local, at + 4)) bytes.replace(at + 22, 4, huge);
  std::ofstream(tmp / "HUGE.zip", std::ios::binary | std::ios::trunc) << bytes;
  const std::string h = error_of("tu:" + (tmp / "HUGE.zip"));
  EXPECT_NE(h.find("HUGE.zip: zip member 'TOY//TOY_"), std::string::npos) << h;
  EXPECT_NE(h.find("4026531840 bytes"), std::string::npos) << h;
}

using test::write_ogb;

TEST(GraphLoaders, OgbRawLayout) {
  TempDir tmp;
  write_ogb(tmp / "ogbg_toy");
  auto ds = load_graph_dataset(parse_spec("ogb:" + (tmp / "ogbg_toy")));
  ASSERT_EQ(ds.graphs.size(), 2u);
  EXPECT_EQ(ds.task, "graph_regression");
  EXPECT_EQ(ds.graphs[0].num_edges(), 2);
  EXPECT_EQ(ds.graphs[0].num_stored_edges(), 4);
  EXPECT_EQ(ds.graphs[1].node_feature_dim, 2);
  EXPECT_FLOAT_EQ(ds.graphs[1].node_features[0], 7.f);
  EXPECT_FLOAT_EQ(ds.graphs[1].edge_features[1], 1.f);
  EXPECT_DOUBLE_EQ(ds.graphs[0].graph_targets[0], -0.77);
  EXPECT_EQ(ds.splits["train"], (std::vector<std::int64_t>{1}));
  auto train = load_graph_dataset(parse_spec("ogb:" + (tmp / "ogbg_toy") + "?subset=train"));
  ASSERT_EQ(train.graphs.size(), 1u);
  EXPECT_EQ(train.graphs[0].num_nodes, 2);
  // Malformed: id out of range, truncated gzip.
  write_gz(tmp / "ogbg_toy/raw/edge.csv.gz", "0,1\n1,3\n0,1\n");
  EXPECT_NE(error_of("ogb:" + (tmp / "ogbg_toy")).find("edge.csv.gz:2: node id 3 out of range"), std::string::npos);
  write_ogb(tmp / "ogbg_toy");
  std::string bytes;
  {
    std::string text;
    for (int i = 0; i < 2000; ++i) text += std::to_string(i % 7) + ",1\n";
    write_gz(tmp / "big.gz", text);
    std::ifstream in(tmp / "big.gz", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(tmp / "ogbg_toy/raw/node-feat.csv.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const std::string e = error_of("ogb:" + (tmp / "ogbg_toy"));
  EXPECT_NE(e.find("node-feat.csv.gz:"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated gzip"), std::string::npos) << e;
}

TEST(GraphLoaders, LinqsAndEdgelist) {
  TempDir tmp;
  write(tmp / "toy/toy.content", "p1\t1\t0\t0\tA\np2\t0\t1\t0\tB\np3\t0\t0\t1\tA\n");
  write(tmp / "toy/toy.cites", "p1\tp2\np2\tp3\np9\tp1\n");
  auto ds = load_graph_dataset(parse_spec("linqs:" + (tmp / "toy")));
  ASSERT_EQ(ds.graphs.size(), 1u);
  EXPECT_EQ(ds.graphs[0].num_nodes, 3);
  EXPECT_EQ(ds.graphs[0].num_edges(), 2);
  EXPECT_EQ(ds.graphs[0].node_feature_dim, 3);
  EXPECT_EQ(ds.graphs[0].node_labels, (std::vector<std::int64_t>{0, 1, 0}));
  EXPECT_EQ(ds.notes["dangling_citations_skipped"], "1");
  write(tmp / "bad/bad.content", "p1\t1\t0\tA\np2\t0\tB\n");
  write(tmp / "bad/bad.cites", "");
  EXPECT_NE(error_of("linqs:" + (tmp / "bad")).find("bad.content:2: expected 4 columns, got 3"), std::string::npos);

  write(tmp / "e.txt", "# comment\n1 2\n2 3 \n\n3 1\n");
  auto el = load_graph_dataset(parse_spec("edgelist:" + (tmp / "e.txt")));
  EXPECT_EQ(el.graphs[0].num_nodes, 3);  // 1-based detected
  EXPECT_EQ(el.graphs[0].num_edges(), 3);
  write(tmp / "w.txt", "0 1 0.5\n1 2 2\n");
  auto w = load_graph_dataset(parse_spec("edgelist:" + (tmp / "w.txt") + "?directed=1"));
  EXPECT_TRUE(w.graphs[0].directed);
  EXPECT_DOUBLE_EQ(w.graphs[0].weighted_degree(0), 0.5);
  write(tmp / "bad.txt", "0 1\n1 2 3 4\n");
  EXPECT_NE(error_of("edgelist:" + (tmp / "bad.txt")).find("bad.txt:2: expected 2 columns, got 4"), std::string::npos);
  write(tmp / "bad2.txt", "0 1\n1 two\n");
  EXPECT_NE(error_of("edgelist:" + (tmp / "bad2.txt")).find("bad2.txt:2: 'two' is not an integer"), std::string::npos);
}

TEST(GraphLoaders, Generators) {
  auto csl = load_graph_dataset(parse_spec("csl:?seed=1"));
  ASSERT_EQ(csl.graphs.size(), 150u);
  for (const auto& g : csl.graphs) {
    EXPECT_EQ(g.num_nodes, 41);
    for (graph::Index u = 0; u < 41; ++u) ASSERT_EQ(g.degree(u), 4);
  }
  EXPECT_EQ(csl.graphs[149].graph_label, 9);
  auto csl2 = load_graph_dataset(parse_spec("csl:?seed=1"));
  EXPECT_EQ(csl.graphs[7].col, csl2.graphs[7].col);
  EXPECT_NE(csl.graphs[7].col, load_graph_dataset(parse_spec("csl:?seed=2")).graphs[7].col);
  auto grid = load_graph_dataset(parse_spec("grid:?rows=3&cols=4"));
  EXPECT_EQ(grid.graphs[0].num_edges(), 3 * 3 + 2 * 4);
  auto reg = load_graph_dataset(parse_spec("regular:?nodes=2000&degree=4&seed=3"));
  const auto& g = reg.graphs[0];
  for (graph::Index u = 0; u < g.num_nodes; ++u) {
    ASSERT_EQ(g.degree(u), 4);
    for (graph::Index e = g.row_begin(u); e < g.row_end(u); ++e) {
      ASSERT_NE(g.col[static_cast<std::size_t>(e)], u);
      if (e > g.row_begin(u)) ASSERT_NE(g.col[static_cast<std::size_t>(e)], g.col[static_cast<std::size_t>(e - 1)]);
    }
  }
}

TEST(GraphLoaders, CycleCountsMatchBruteForce) {
  auto ds = load_graph_dataset(parse_spec("count:?graphs=12&nodes=7-10&p=0.45&seed=5"));
  for (const auto& g : ds.graphs) {
    const auto brute = count_cycles_brute_force(g, 6);
    ASSERT_EQ(g.graph_targets.size(), 4u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(static_cast<std::int64_t>(g.graph_targets[static_cast<std::size_t>(i)]), brute[static_cast<std::size_t>(i)]);
  }
  // K5: C(5,3)=10 triangles, 15 4-cycles, 12 5-cycles.
  std::vector<std::pair<graph::Index, graph::Index>> e;
  for (graph::Index i = 0; i < 5; ++i)
    for (graph::Index j = i + 1; j < 5; ++j) e.push_back({i, j});
  EXPECT_EQ(count_cycles(graph::Graph::from_pairs(5, e), 6), (std::vector<std::int64_t>{10, 15, 12, 0}));
}

TEST(GraphLoaders, InspectSummary) {
  auto j = inspect(parse_spec("csl:?seed=0"), {});
  EXPECT_EQ(j["graphs"], 150);
  EXPECT_EQ(j["nodes"], 150 * 41);
  EXPECT_EQ(j["edges"], 150 * 82);
  EXPECT_EQ(j["components"], 150);
  EXPECT_EQ(j["isolated_nodes"], 0);
  EXPECT_EQ(j["label_distribution"]["R=2"], 15);
}

TEST(GraphLoaders, RealTuSamples) {
  const std::string tu = pesuite::test::sample_data("tu");
  PESUITE_SKIP_WITHOUT_SAMPLE(tu, "tu/ (MUTAG, ENZYMES, PROTEINS)");
  auto mutag = load_graph_dataset(parse_spec("tu:" + tu + "/MUTAG.zip"));
  EXPECT_EQ(mutag.graphs.size(), 188u);
  std::int64_t n = 0, m = 0, pos = 0;
  for (const auto& g : mutag.graphs) n += g.num_nodes, m += g.num_edges(), pos += g.graph_label == 1;
  EXPECT_EQ(n, 3371);
  EXPECT_EQ(m, 3721);
  EXPECT_EQ(pos, 125);
  EXPECT_EQ(mutag.graphs[0].edge_labels.size(), static_cast<std::size_t>(mutag.graphs[0].num_stored_edges()));
  auto enz = load_graph_dataset(parse_spec("tu:" + tu + "/ENZYMES.zip"));
  EXPECT_EQ(enz.graphs.size(), 600u);
  EXPECT_EQ(enz.num_classes, 6);
  EXPECT_EQ(enz.graphs[0].node_feature_dim, 18);
  // PROTEINS (TU Dortmund release): 1,113 graphs, 43,471 nodes, 2 classes.
  auto prot = load_graph_dataset(parse_spec("tu:" + tu + "/PROTEINS.zip"));
  EXPECT_EQ(prot.graphs.size(), 1113u);
  EXPECT_EQ(prot.num_classes, 2);
  std::int64_t nodes = 0;
  for (const auto& g : prot.graphs) nodes += g.num_nodes;
  EXPECT_EQ(nodes, 43471);
}

TEST(GraphLoaders, RealCoraSample) {
  const std::string cora = pesuite::test::sample_data("cora/cora.zip");
  PESUITE_SKIP_WITHOUT_SAMPLE(cora, "cora/cora.zip");
  auto c = load_graph_dataset(parse_spec("linqs:" + cora));
  EXPECT_EQ(c.graphs[0].num_nodes, 2708);
  EXPECT_EQ(c.graphs[0].num_edges(), 5278);
  EXPECT_EQ(c.graphs[0].node_feature_dim, 1433);
  EXPECT_EQ(c.num_classes, 7);
}

TEST(GraphLoaders, RealOgbSample) {
  const std::string ogb = pesuite::test::sample_data("ogb/ogbg_molesol");
  PESUITE_SKIP_WITHOUT_SAMPLE(ogb, "ogb/ogbg_molesol");
  auto o = load_graph_dataset(parse_spec("ogb:" + ogb));
  EXPECT_EQ(o.graphs.size(), 1128u);
  EXPECT_EQ(o.graphs[0].node_feature_dim, 9);
  EXPECT_EQ(o.graphs[0].edge_feature_dim, 3);
  EXPECT_EQ(o.splits["train"].size() + o.splits["valid"].size() + o.splits["test"].size(), 1128u);
}
