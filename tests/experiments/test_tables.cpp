// The table runner (experiments/tables.h): every table description loads, every table row runs its
// smallest unit, and a table split into shards and assembled equals the table run whole.
#include <gtest/gtest.h>

#include <zip.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/png.h"
#include "pesuite/datasets/rgb_image.h"
#include "pesuite/experiments/pipelines.h"
#include "pesuite/experiments/tables.h"
#include "datasets/scene_test_bank.h"
#include "test_util.h"

using namespace pesuite;
using namespace pesuite::experiments;
namespace fs = std::filesystem;

namespace {

// results.csv without the wall-time columns (which differ from run to run).
std::string csv_without_wall_times(const std::string& path) {
  std::istringstream in(pesuite::core::read_file(path));
  std::string line, out;
  std::vector<bool> keep;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::string f;
    std::istringstream ls(line);
    while (std::getline(ls, f, ',')) fields.push_back(f);
    if (keep.empty())
      for (const auto& h : fields) keep.push_back(h.rfind("wall_s", 0) != 0 && h.rfind("train_s", 0) != 0);
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (i >= keep.size() || keep[i]) out += fields[i] + ",";
    out += "\n";
  }
  return out;
}

}  // namespace

// The real thing: CSL's quick table (3 rows x 2 folds, 10 epochs) run whole, and run as two shards
// (one fold of each row each) plus an assembly, give the same results.csv apart from wall times (CPU runs are deterministic).
TEST(TableUnits, ShardedCslTableEqualsTheWholeRun) {
  test::TempDir dir;
  pesuite::core::TableOptions o;
  o.quick = true;
  o.device = "cpu";
  o.sets = {"train.epochs=10", "data.pe_cache_dir=" + (dir / "cache")};
  o.out_dir = dir / "whole";
  run_named_table("csl", o);
  EXPECT_EQ(pesuite::core::read_file(dir / "whole/results.md").find("| gine | lap | 10 ± 0"), std::string::npos) << "lap learnt nothing";
  o.out_dir = dir / "sharded";
  o.shard_count = 2;
  o.shard_index = 1;
  run_named_table("csl", o);  // units 1, 3, 5: fold 1 of each row (2 folds per row)
  EXPECT_NE(pesuite::core::read_file(dir / "sharded/results.md").find("[partial: 3 of 6 runs"), std::string::npos);
  o.shard_index = 0;
  run_named_table("csl", o);  // fold 0 of each row, reading fold 1 from the other shard
  o.shard_count = 1;
  o.shard_index = 0;
  o.assemble = true;
  run_named_table("csl", o);
  const std::string md = pesuite::core::read_file(dir / "sharded/results.md");
  EXPECT_EQ(md.find("[partial"), std::string::npos) << md;
  EXPECT_NE(md.find("6 of the 6 runs were read from"), std::string::npos) << md;
  EXPECT_EQ(pesuite::core::read_file(dir / "sharded/results.md").find("| gine | lap | 10 ± 0"), std::string::npos);
  EXPECT_EQ(csv_without_wall_times(dir / "sharded/results.csv"), csv_without_wall_times(dir / "whole/results.csv"));
}

// A table with runs still to come lists every row it will have, each cell "-" until its runs are
// saved: before, rows without a value or a reference were left out, so a partial table did not
// show what was missing.
TEST(TableUnits, APartialTableListsEveryRow) {
  test::TempDir dir;
  pesuite::core::TableOptions o;
  o.quick = true;
  o.device = "cpu";
  o.out_dir = dir / "none-yet";
  o.assemble = true;  // reads saved units only: there are none
  run_named_table("csl", o);
  const std::string md = pesuite::core::read_file(dir / "none-yet/results.md");
  EXPECT_NE(md.find("[partial: 0 of 6 runs"), std::string::npos) << md;
  EXPECT_NE(md.find("No values yet"), std::string::npos) << md;
  EXPECT_EQ(md.find("over 0 seeds"), std::string::npos) << md;
  for (const std::string pe : {"none", "lap", "rwse"}) EXPECT_NE(md.find("| gine | " + pe + " | - | - |"), std::string::npos) << pe << "\n" << md;
}

namespace {

// A ZINC-shaped regression set in the TU layout (ZINC_<part>.zip, members ZINC_<part>//...): rings
// and chains with atom and bond types, a real-valued target per graph. Stands in for ZINC, which
// is not in the shared samples, so that the zinc rows run too.
void write_tiny_zinc(const std::string& dir, const std::string& part, int graphs, int seed) {
  std::mt19937 rng(seed);
  std::string a, indicator, node_labels, edge_labels, attributes;
  int node = 0;
  for (int g = 1; g <= graphs; ++g) {
    const int n = 5 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      indicator += std::to_string(g) + "\n";
      node_labels += std::to_string(rng() % 4) + "\n";
    }
    for (int i = 0; i < n; ++i) {
      const int j = (i + 1) % n;  // a ring
      const auto bond = std::to_string(1 + rng() % 3) + "\n";
      a += std::to_string(node + i + 1) + ", " + std::to_string(node + j + 1) + "\n" + std::to_string(node + j + 1) + ", " +
           std::to_string(node + i + 1) + "\n";
      edge_labels += bond + bond;
    }
    attributes += std::to_string(static_cast<double>(n) / 3.0 - 1.5 + 0.1 * static_cast<double>(rng() % 10)) + "\n";
    node += n;
  }
  const std::string name = "ZINC_" + part;
  std::map<std::string, std::string> members = {{name + "//" + name + "_A.txt", a},
                                                {name + "//" + name + "_graph_indicator.txt", indicator},
                                                {name + "//" + name + "_node_labels.txt", node_labels},
                                                {name + "//" + name + "_edge_labels.txt", edge_labels},
                                                {name + "//" + name + "_graph_attributes.txt", attributes}};
  fs::create_directories(dir);
  int err = 0;
  zip_t* z = zip_open((dir + "/" + name + ".zip").c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  for (const auto& [member, text] : members) {
    zip_source_t* s = zip_source_buffer(z, text.data(), text.size(), 0);
    zip_file_add(z, member.c_str(), s, ZIP_FL_OVERWRITE);
  }
  ASSERT_EQ(zip_close(z), 0);
}

// The smallest unit a table row has: its quick config, one fold, one epoch, a few hundred items.
std::vector<std::string> smallest_unit_sets(const std::string& pipeline) {
  if (pipeline == "graph") return {"train.epochs=1", "train.checkpoint_every=1"};
  return {"data.train_limit=192", "data.test_limit=64", "train.epochs=1", "train.batch_size=32"};
}

// A one-image COCO set whose categories the pin rows' tiny VLM can name ("disc", a class of the
// synthetic bank) or not ("zebra"): the domain-shift column of every pin row. Returns its spec.
std::string tiny_coco(const std::string& dir) {
  std::filesystem::create_directories(dir + "/images");
  datasets::RgbImage img(40, 30, 90);
  for (int y = 5; y < 15; ++y)
    for (int x = 4; x < 24; ++x) img.at(y, x)[0] = 220, img.at(y, x)[1] = 30, img.at(y, x)[2] = 30;
  datasets::write_png_rgb(dir + "/images/1.png", img);
  const nlohmann::json j = {
      {"images", {{{"id", 1}, {"file_name", "1.png"}, {"width", 40}, {"height", 30}}}},
      {"annotations",
       {{{"id", 1}, {"image_id", 1}, {"category_id", 1}, {"bbox", {4, 5, 20, 10}}, {"iscrowd", 0}},
        {{"id", 2}, {"image_id", 1}, {"category_id", 2}, {"bbox", {25, 2, 10, 20}}, {"iscrowd", 0}}}},
      {"categories", {{{"id", 1}, {"name", "disc"}}, {{"id", 2}, {"name", "zebra"}}}}};
  core::write_file_atomic(dir + "/instances.json", j.dump());
  return "coco:" + dir + "/instances.json?images=" + dir + "/images";
}

}  // namespace

// Every row of every table runs its smallest unit through its table's pipeline and yields every
// column the table prints. The real samples (../shared/data: MUTAG, ENZYMES, PROTEINS, ESOL) are
// used where a row names them; ZINC, which is not among them, is stood in for by a tiny set in its
// layout. Rows whose data is missing fail under CI (the samples must be there) and skip elsewhere.
TEST(Tables, EveryRowRunsItsSmallestUnit) {
  test::TempDir dir;
  test::ScopedEnv cache("PESUITE_CACHE", dir / "cache");  // the pin rows' pretrained VLM
  const auto zinc_root = dir / "zinc-data";
  write_tiny_zinc(zinc_root + "/tu", "train", 24, 1);
  write_tiny_zinc(zinc_root + "/tu", "val", 8, 2);
  write_tiny_zinc(zinc_root + "/tu", "test", 8, 3);
  const auto tables = list_tables(default_config_dir());
  ASSERT_GE(tables.size(), 7u);
  std::vector<std::string> missing;
  std::size_t units = 0, rows = 0;
  for (const auto& t : tables) {
    rows += t.rows.size();
    const Pipeline& p = pipeline(t.pipeline);
    core::TableOptions o;
    o.quick = true;
    o.device = "cpu";
    o.sets = smallest_unit_sets(t.pipeline);
    o.sets.push_back("data.pe_cache_dir=" + (dir / "cache"));
    if (t.name == "zinc") o.sets.push_back("data.root=" + zinc_root);
    if (t.pipeline != "graph") o.sets.pop_back();  // image configs have no encoding cache
    if (t.pipeline == "clip") {  // scenes of the synthetic five-class bank (no openclipart needed), a few of them
      const auto bank = dir / "scene-bank.safetensors";
      if (!std::filesystem::exists(bank)) datasets::save_scene_bank(bank, test::synthetic_bank());
      o.sets = {"data.train=\"scenes:?n=64&size=64&split=train&holdout=2\"",
                "data.test=\"scenes:?n=24&size=64&split=test&holdout=2&max_objects=1&seed=1\"",
                "data.heldout=\"scenes:?n=16&size=64&split=heldout&holdout=2&max_objects=1&seed=2\"",
                "data.seen=\"scenes:?n=16&size=64&split=train&holdout=2&max_objects=1&seed=3\"",
                "data.bank=\"" + bank + "\"", "train.epochs=1", "train.batch_size=32", "eval.batch_size=32"};
    }
    if (t.pipeline == "pin") {  // one tiny VLM (pretrained once, cached in the temporary folder) under every row
      const auto bank = dir / "scene-bank.safetensors";
      if (!std::filesystem::exists(bank)) datasets::save_scene_bank(bank, test::synthetic_bank());
      const std::string pretrain =
          "[data]\ntrain = \"scenes:?n=48&size=32&split=train&max_objects=3\"\ntest = \"scenes:?n=12&size=32&split=test&max_objects=3&seed=1\"\n"
          "[model]\nname = \"vlm_micro_32\"\nlatents = 8\n[train]\nepochs = 1\nbatch_size = 16\n";
      o.sets = {"data.train=\"scenes:?n=32&size=32&split=train&holdout=2&max_objects=3\"",
                "data.test=\"scenes:?n=16&size=32&split=test&holdout=2&max_objects=3&seed=1\"",
                "data.heldout=\"scenes:?n=16&size=32&split=heldout&holdout=2&max_objects=3&seed=2\"",
                "data.bank=\"" + bank + "\"", "vlm.pretrain=" + nlohmann::json(pretrain).dump(), "train.epochs=1", "train.batch_size=16",
                "adapter.pin_hidden1=32", "adapter.pin_hidden2=48", "eval.shots=2", "data.coco=\"" + tiny_coco(dir / "coco") + "\""};
    }
    for (const auto& row : t.rows) {  // every row, not only the quick version's
      const core::Config cfg = row_config(t, row, o);
      const std::string what = t.name + " " + row.config;
      if (const auto m = row_missing_data(t, cfg); !m.empty()) {
        missing.push_back(what + ": " + m);
        continue;
      }
      core::Config unit = cfg;
      p.select_fold(unit, 0);
      const UnitResult u = p.run(unit, dir / "runs");
      const auto across = p.across_folds ? p.across_folds({u}, 1) : std::map<std::string, std::vector<double>>{};
      for (const auto& c : t.columns) {
        if (c.metric.rfind("gin_", 0) == 0 && p.folds(cfg) > 1) continue;  // GIN's protocol needs every fold
        const auto it = u.metrics.count(c.metric) ? u.metrics.find(c.metric) : across.find(c.metric);
        ASSERT_TRUE(it != u.metrics.end() && it != across.end()) << what << ": no metric '" << c.metric << "' for column " << c.label;
        ASSERT_FALSE(it->second.empty()) << what << " " << c.metric;
        for (double v : it->second) EXPECT_TRUE(std::isfinite(v)) << what << " " << c.metric << " = " << v;
      }
      ++units;
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n  " + m;
    if (test::ci_requires_samples()) FAIL() << "rows whose data is missing although CI needs the samples:" << list;
    std::cout << "[  NOTE    ] " << missing.size() << " rows not run, data missing:" << list << "\n";
  }
  // Every row ran, or is listed above for its missing data (a machine without OpenCV or the
  // Fashion-MNIST package, e.g. the GPU one); under CI with the samples, none may be missing (above).
  EXPECT_EQ(units + missing.size(), rows);
  EXPECT_GT(units, 0u);
  std::cout << "[  NOTE    ] " << units << " of " << rows << " rows ran their smallest unit\n";
}

// Every table description names existing configs, and each of its rows' configs resolves.
TEST(Tables, EveryDescriptionAndRowConfigLoads) {
  for (const auto& t : list_tables(default_config_dir())) {
    core::TableOptions o;
    for (const bool quick : {false, true}) {
      o.quick = quick;
      for (const auto& row : t.rows_for(quick)) EXPECT_NO_THROW(row_config(t, row, o)) << t.name << " " << row.config;
    }
    EXPECT_FALSE(t.rows_for(true).empty()) << t.name;
  }
}

// Rows that train one config file with different --set overrides (headpose-semi's nine, pin's six
// per VLM) must still save their runs under distinct names: one shared name made --claim workers skip
// each other's rows and --resume read one row's result for all (found on the GPU machine).
TEST(Tables, EveryRowSavesItsRunsUnderItsOwnName) {
  for (const auto& t : list_tables(default_config_dir())) {
    std::set<std::string> stems;
    for (const auto& row : t.rows) EXPECT_TRUE(stems.insert(t.unit_stem(row)).second) << t.name << ": " << t.unit_stem(row);
  }
  const auto semi = load_table(default_config_dir() + "/tables/headpose-semi.toml");
  ASSERT_EQ(semi.rows.size(), 9u);
  EXPECT_EQ(semi.unit_stem(semi.rows[0]), "headpose-semi-2pct-supervised");
  EXPECT_EQ(semi.unit_stem(semi.rows[8]), "headpose-semi-100pct-supervised");
  const auto hp = load_table(default_config_dir() + "/tables/headpose.toml");  // one config per row: the stem alone
  EXPECT_EQ(hp.unit_stem(hp.rows[0]), "headpose-hopenet-r50-a1");
}

// Absolute and relative checks, each line's verdict and numbers exactly; a check whose rows have
// no value yet is left out, and checks never throw (they are reported, not enforced).
TEST(Tables, ChecksReportAbsoluteAndRelativeClaims) {
  TableSpec t;
  t.columns = {{"miou", "m", 1}, {"params", "p", 1}};
  const core::ResultsTable::Key pin{{"method", "pin"}}, vpt{{"method", "vpt"}}, rnd{{"method", "random"}}, none{{"method", "lora"}};
  t.checks = {{pin, std::nullopt, "miou", 0.3, std::nullopt, "pin is good"},
              {pin, vpt, "miou", 0.0, std::nullopt, "pin >= vpt"},
              {pin, vpt, "params", std::nullopt, -1.0, "pin has fewer"},
              {pin, rnd, "miou", 0.1, std::nullopt, "pin > random by 0.1"},
              {pin, none, "miou", 0.0, std::nullopt, "no lora row yet"},
              {none, std::nullopt, "miou", std::nullopt, 1.0, "not run"}};
  core::ResultsTable r({"method"}, {"miou", "params"});
  r.add(pin, "miou", 0.25), r.add(pin, "miou", 0.35);  // mean 0.3
  r.add(pin, "params", 1000);
  r.add(vpt, "miou", 0.5), r.add(vpt, "params", 512);
  r.add(rnd, "miou", 0.1);
  EXPECT_EQ(checks_text(t, r),
            "Claims checked on this table:\n"
            "- PASS: pin is good (method pin: miou 0.3, expected >= 0.3)\n"
            "- FAIL: pin >= vpt (method pin: miou 0.3 - 0.5 (method vpt) = -0.2, expected a difference >= 0)\n"
            "- FAIL: pin has fewer (method pin: params 1000 - 512 (method vpt) = 488, expected a difference <= -1)\n"
            "- PASS: pin > random by 0.1 (method pin: miou 0.3 - 0.1 (method random) = 0.2, expected a difference >= 0.1)\n");
  EXPECT_EQ(checks_text(t, core::ResultsTable({"method"}, {"miou", "params"})), "");
}

TEST(Tables, BadDescriptionsNameTheFileAndKey) {
  test::TempDir dir;
  auto error_of = [&](const std::string& text) {
    core::write_file_atomic(dir / "t.toml", text);
    try {
      load_table(dir / "t.toml");
    } catch (const core::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string ok = "title = 't'\nhelp = 'h'\npipeline = 'graph'\nkeys = ['pe']\n[rows]\nconfig = 'graph/csl-gine+{pe}.toml'\n"
                         "grid = { pe = ['none'] }\n[[column]]\nlabel = 'acc'\nmetric = 'accuracy'\n";
  EXPECT_EQ(error_of(ok), "no error");
  EXPECT_NE(error_of("colour = 'red'\n" + ok).find("t.toml: colour is not a table-description key"), std::string::npos);
  EXPECT_NE(error_of(ok + "colour = 'red'\n").find("t.toml: column[0].colour is not a table-description key"), std::string::npos);
  EXPECT_NE(error_of("help = 'h'\n").find("title is required"), std::string::npos);
  std::string bad_pipeline = ok;
  bad_pipeline.replace(bad_pipeline.find("'graph'"), 7, "'graf'");
  EXPECT_NE(error_of(bad_pipeline).find("pipeline is not valid"), std::string::npos);
  EXPECT_NE(error_of(ok + "[[check]]\nrow = { pe = 'none' }\ncolumn = 'nope'\nmax = 1\nclaim = 'x'\n").find("'nope' is not a column label"),
            std::string::npos);
  EXPECT_NE(error_of(ok + "[[check]]\nrow = { pe = 'none' }\nthan = { pe = 'lap' }\ncolumn = 'acc'\nmin = 0\nclaim = 'x'\n")
                .find("check[0].than is not the key of a row of the table"),
            std::string::npos);
  EXPECT_NE(error_of(ok + "[[check]]\nrow = { pe = 'lap' }\ncolumn = 'acc'\nmin = 0\nclaim = 'x'\n").find("check[0].row is not the key of a row"),
            std::string::npos);
  EXPECT_EQ(error_of(ok + "[[check]]\nrow = { pe = 'none' }\nthan = { pe = 'none' }\ncolumn = 'acc'\nmin = 0\nclaim = 'x'\n"), "no error");
  EXPECT_NE(error_of(ok + "[quick]\nonly = { model = ['gine'] }\n").find("quick.only names 'model'"), std::string::npos);
  EXPECT_NE(error_of("title = \n").find("t.toml:1"), std::string::npos);
  // Two rows on one config whose key values differ only in what a file name cannot hold.
  const std::string two_rows = "title = 't'\nhelp = 'h'\npipeline = 'graph'\nkeys = ['pe']\n"
                               "[[row]]\nkey = { pe = 'a b' }\nconfig = 'graph/csl-gine+none.toml'\n"
                               "[[row]]\nkey = { pe = 'a/b' }\nconfig = 'graph/csl-gine+none.toml'\n"
                               "[[column]]\nlabel = 'acc'\nmetric = 'accuracy'\n";
  EXPECT_NE(error_of(two_rows).find("t.toml: row entries 0 and 1 would save their runs under one name 'csl-gine+none-a-b'"),
            std::string::npos)
      << error_of(two_rows);
}
