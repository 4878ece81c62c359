// Table units: resume, shards, claims and assembly give the same table as one uninterrupted run.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/core/table_units.h"
#include "test_util.h"

using namespace pesuite;
namespace fs = std::filesystem;

namespace {

pesuite::core::TableOptions options_in(const std::string& dir) {
  pesuite::core::TableOptions o;
  o.out_dir = dir;
  return o;
}

// Runs units "u0".."u{n-1}" (config "cfg-i"), computing value 10 * i; returns the indices computed.
std::vector<int> run_units(pesuite::core::UnitRunner& runner, int n, std::vector<double>* got = nullptr, const std::string& config = "cfg-") {
  std::vector<int> computed;
  for (int i = 0; i < n; ++i) {
    auto v = runner.run("u" + std::to_string(i), config + std::to_string(i), [&] {
      computed.push_back(i);
      pesuite::core::UnitValues out;
      out.metrics["m"] = {10.0 * i, 0.1 + i};  // two folds; 0.1 + i checks exact round trips
      out.notes["n"] = "note " + std::to_string(i);
      return out;
    });
    if (got && v) {
      EXPECT_EQ(v->metrics.at("m").size(), 2u);
      EXPECT_EQ(v->notes.at("n"), "note " + std::to_string(i));
      got->push_back(v->metrics.at("m")[1]);
    }
  }
  return computed;
}

}  // namespace

TEST(TableUnits, ResumeReusesSavedUnitsExactly) {
  test::TempDir dir;
  {
    pesuite::core::UnitRunner first(options_in(dir.str()));
    EXPECT_EQ(run_units(first, 3), (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(first.partial_note(3), "");
  }
  auto o = options_in(dir.str());
  o.resume = true;
  pesuite::core::UnitRunner again(o);
  std::vector<double> got;
  EXPECT_EQ(run_units(again, 4, &got), (std::vector<int>{3}));  // only u3 is new
  EXPECT_EQ(got, (std::vector<double>{0.1, 1.1, 2.1, 3.1}));  // bit-exact through the JSON
  EXPECT_EQ(again.units_reused(), 3u);
  EXPECT_EQ(again.provenance(), "3 of the 4 runs were read from " + dir.str() +
                                    "/units (run earlier, by --resume, --shard or --claim); their wall times are their own.");

  // Without --resume everything runs again; with it, a changed config reruns that unit only.
  pesuite::core::UnitRunner fresh(options_in(dir.str()));
  EXPECT_EQ(run_units(fresh, 2).size(), 2u);
  pesuite::core::UnitRunner changed(o);
  EXPECT_EQ(run_units(changed, 3, nullptr, "other-").size(), 3u);
}

TEST(TableUnits, ShardsSplitTheWorkAndAssemblyCompletesTheTable) {
  test::TempDir dir;
  auto o = options_in(dir.str());
  o.shard_count = 3;
  std::vector<int> all;
  for (int i = 0; i < 3; ++i) {
    o.shard_index = i;
    pesuite::core::UnitRunner shard(o);
    const auto mine = run_units(shard, 7);
    for (int u : mine) EXPECT_EQ(u % 3, i);
    all.insert(all.end(), mine.begin(), mine.end());
    // The first shard sees only its own units; later ones also read the earlier shards'.
    if (i == 0)
      EXPECT_EQ(shard.partial_note(7), " [partial: 3 of 7 runs; the others are other processes', then assemble with --assemble]");
  }
  EXPECT_EQ(all.size(), 7u);
  auto a = options_in(dir.str());
  a.assemble = true;
  pesuite::core::UnitRunner assemble(a);
  EXPECT_TRUE(run_units(assemble, 7).empty());
  EXPECT_EQ(assemble.units_in_table(), 7u);
  EXPECT_EQ(assemble.partial_note(7), "");
  // Assembling with a unit missing runs nothing and says the table is partial.
  fs::remove(dir / "units/u4.json");
  pesuite::core::UnitRunner partial(a);
  EXPECT_TRUE(run_units(partial, 7).empty());
  EXPECT_EQ(partial.partial_note(7),
            " [partial: 6 of 7 runs saved so far; the others have not run (run the table with --resume or --claim)]");
}

TEST(TableUnits, ClaimsGiveEachUnitToOneProcess) {
  test::TempDir dir;
  auto o = options_in(dir.str());
  o.claim = true;
  pesuite::core::UnitRunner runner(o);
  pesuite::core::make_dirs(dir / "units");
  pesuite::core::write_file_atomic(dir / "units/u1.claim", std::to_string(::getpid()) + "\n");  // alive: someone else's
  pesuite::core::write_file_atomic(dir / "units/u2.claim", "99999999\n");                      // no such process: stale
  EXPECT_EQ(run_units(runner, 3), (std::vector<int>{0, 2}));
  EXPECT_FALSE(fs::exists(dir / "units/u2.claim"));  // released after saving
  EXPECT_TRUE(fs::exists(dir / "units/u1.claim"));
}

TEST(TableUnits, BadInputNamesTheFileOrOption) {
  test::TempDir dir;
  pesuite::core::make_dirs(dir / "units");
  pesuite::core::write_file_atomic(dir / "units/u0.json", "{not json");
  auto o = options_in(dir.str());
  o.resume = true;
  pesuite::core::UnitRunner runner(o);
  try {
    run_units(runner, 1);
    FAIL() << "no error";
  } catch (const pesuite::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("u0.json"), std::string::npos) << e.what();
  }
  for (const char* bad : {"", "1", "2/2", "-1/2", "a/b", "1/0", "0/2x"}) EXPECT_THROW(pesuite::core::parse_shard(bad), pesuite::core::InputError) << bad;
  EXPECT_EQ(pesuite::core::parse_shard("1/4"), std::make_pair(1, 4));
}

// A unit saved by an older config writer (strings as 'x' literals, not "x") holds the same config
// in other text: --resume reuses it rather than running it again; a really different config reruns.
TEST(TableUnits, ResumeReadsUnitsOfTheOlderQuotingStyle) {
  test::TempDir dir;
  const auto cfg = pesuite::core::Config::from_toml_string("[model]\npe = \"peg\"\n", "t.toml");
  const std::string now = pesuite::core::unit_fingerprint(cfg);
  ASSERT_NE(now.find("pe = \"peg\""), std::string::npos) << now;
  std::string old = now;
  old.replace(old.find("\"peg\""), 5, "'peg'");
  auto o = options_in(dir.str());
  int computed = 0;
  auto unit = [&](const std::string& text) {
    pesuite::core::UnitRunner runner(o);
    return runner.run("u0", text, [&] {
      ++computed;
      pesuite::core::UnitValues v;
      v.metrics["m"] = {1.5};
      return v;
    });
  };
  unit(old);  // saved with the old text
  o.resume = true;
  const auto v = unit(now);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->metrics.at("m"), std::vector<double>{1.5});
  EXPECT_EQ(computed, 1);  // reused, not run again
  unit(pesuite::core::unit_fingerprint(pesuite::core::Config::from_toml_string("[model]\npe = \"none\"\n", "u.toml")));
  EXPECT_EQ(computed, 2);
}

// A metric can be undefined (NaN: a diverged loss, top-5 of multi-label data). JSON has no NaN, the
// unit file holds null, and a resumed table reads it back as NaN instead of refusing the file.
TEST(TableUnits, UndefinedMetricsRoundTripAsNaN) {
  test::TempDir dir;
  auto compute = [] {
    pesuite::core::UnitValues out;
    out.metrics["m"] = {std::numeric_limits<double>::quiet_NaN(), 2.5};
    return out;
  };
  {
    pesuite::core::UnitRunner first(options_in(dir.str()));
    first.run("u0", "cfg", compute);
  }
  EXPECT_NE(pesuite::core::read_file(dir.str() + "/units/u0.json").find("null"), std::string::npos);
  auto o = options_in(dir.str());
  o.resume = true;
  pesuite::core::UnitRunner again(o);
  const auto v = again.run("u0", "cfg", [] { ADD_FAILURE() << "the saved unit must be reused"; return pesuite::core::UnitValues{}; });
  ASSERT_TRUE(v);
  ASSERT_EQ(v->metrics.at("m").size(), 2u);
  EXPECT_TRUE(std::isnan(v->metrics.at("m")[0]));
  EXPECT_EQ(v->metrics.at("m")[1], 2.5);
}
