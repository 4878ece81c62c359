// Graph benchmark tables (graph_tables.h): one generic runner over rows of configs in
// experiments/configs/graph/, and one short function per table saying which rows, which metric,
// which published numbers, and what its quick version is.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "pesuite/datasets/spec.h"
#include "pesuite/experiments/graph_tables.h"
#include "pesuite/experiments/graph_training.h"
#include "pesuite/experiments/results_table.h"
#include "pesuite/experiments/table_units.h"
#include "pesuite/heads/atomic_file.h"
#include "pesuite/heads/error.h"

namespace pesuite::experiments {

namespace {

struct Row {
  ResultsTable::Key key;
  std::string config;             // file under configs/graph/
  std::vector<std::string> sets;  // row-specific overrides
  std::string reference;          // published number, as printed
};

struct GraphTable {
  std::string name, title;
  std::vector<std::string> key_columns;
  std::vector<Row> rows;
  std::string metric_label;            // column of the main metric
  double scale = 1;                    // 100 for accuracy in %
  std::vector<std::pair<std::string, std::string>> extra;  // (metric in the run, column label)
  std::vector<std::string> full_sets, quick_sets;
  int seeds = 1, quick_seeds = 1;
  std::string protocol;                // a paragraph under the table
  // Checks on the finished table (e.g. CSL: none <= 10 %, lap >= 90 %): lines for results.md.
  std::function<std::string(const ResultsTable&)> checks;
};

std::string fmt(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

// A row's dataset is missing when a spec it names points at a path that does not exist.
std::string missing_data(const Config& cfg) {
  std::string root = cfg.get_string("data.root");
  if (root.empty()) root = default_graph_data_root();
  for (const char* key : {"data.spec", "data.val_spec", "data.test_spec"}) {
    const std::string text = cfg.get_string(key);
    if (text.empty()) continue;
    const auto spec = datasets::parse_spec(resolve_data_spec(text, root));
    if (spec.info().needs_path && !std::filesystem::exists(spec.path)) return spec.path;
  }
  return "";
}

// A row's number of cross-validation folds (1 for a dataset's own split).
int fold_count(const Config& cfg) {
  const auto k = cfg.get_int("cv.folds");
  if (k < 2) return 1;
  const auto max_folds = cfg.get_int("cv.max_folds");
  return static_cast<int>(max_folds > 0 && max_folds < k ? max_folds : k);
}

// Accuracies are shown in % (the table's scale); other extra metrics as they are.
double extra_scale(const GraphTable& t, const std::string& metric) {
  return metric.find("accuracy") != std::string::npos ? t.scale : 1.0;
}

// A unit's test-metric curve (eval.track_test), kept for GIN's protocol across folds.
const char* const kCurve = "test_curve";

// Trains one unit (a row, a seed, and with cross-validation one fold) and returns its values in
// the table's columns: the main metric and the extras (scaled), wall_s, and the test curve.
UnitValues run_unit(const GraphTable& t, const Config& cfg, const TableOptions& options, const std::string& name) {
  const auto t0 = std::chrono::steady_clock::now();
  const GraphTrainResult res = run_graph_training(cfg, options.out_dir + "/runs");
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  UnitValues v;
  for (double x : res.values.at(res.metric)) v.metrics[t.metric_label].push_back(t.scale * x);
  for (const auto& [m, label] : t.extra) {
    auto it = res.values.find(m);
    if (m.rfind("gin_", 0) == 0 || it == res.values.end()) continue;  // GIN's protocol: from the curves, per table row
    for (double x : it->second) v.metrics[label].push_back(extra_scale(t, m) * x);
  }
  v.metrics["wall_s"] = {wall};
  if (res.folds.size() == 1 && !res.folds[0].test_curve.empty()) v.metrics[kCurve] = res.folds[0].test_curve;
  std::cout << std::left << std::setw(36) << name << "  " << t.metric_label << " " << fmt(t.scale * res.summary.at(res.metric).mean, 3)
            << (res.folds.size() > 1 ? " ± " + fmt(t.scale * res.summary.at(res.metric).std, 3) : std::string()) << "  ("
            << fmt(wall, 1) << " s, " << res.run_path << ")" << std::endl;
  return v;
}

}  // namespace

namespace {

void run_graph_table(const GraphTable& t, const TableOptions& options) {
  const auto t_start = std::chrono::steady_clock::now();
  const std::string dir = (options.config_dir.empty() ? default_config_dir() : options.config_dir) + "/graph";
  const int seeds = options.seeds > 0 ? options.seeds : (options.quick ? t.quick_seeds : t.seeds);
  std::vector<std::string> metrics = {t.metric_label};
  for (const auto& [m, label] : t.extra) metrics.push_back(label);
  metrics.push_back("wall_s");
  ResultsTable table(t.key_columns, metrics, {"reference", "status"});

  // Every row's config is read and checked (keys, types) before any training.
  std::vector<Config> configs;
  std::vector<std::string> missing;
  for (const auto& row : t.rows) {
    Config cfg = graph_training_defaults();
    cfg.merge_file(dir + "/" + row.config);
    for (const auto& s : options.quick ? t.quick_sets : t.full_sets) cfg.apply_set(s);
    for (const auto& s : row.sets) cfg.apply_set(s);
    cfg.apply_set("device=" + options.device);
    for (const auto& s : options.sets) cfg.apply_set(s);
    missing.push_back(missing_data(cfg));
    configs.push_back(cfg);
  }
  UnitRunner units(options);
  std::size_t total_units = 0;
  for (std::size_t r = 0; r < t.rows.size(); ++r)
    if (missing[r].empty()) total_units += static_cast<std::size_t>(seeds * fold_count(configs[r]));
  // results.md / results.csv are rewritten after every run, so an interrupted table keeps the runs
  // it finished (marked partial in the title); the runs themselves are saved as units for --resume.
  auto write_results = [&]() {
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    const std::string partial = units.partial_note(total_units);
    std::string quick_note;
    for (const auto& q : t.quick_sets) quick_note += (quick_note.empty() ? "" : ", ") + q;
    const std::string title = t.name + (options.quick ? " (quick: " + quick_note + ")" : "") + ": " + t.title + partial;
    table.write(options.out_dir, title, 4);
    std::ostringstream md;
    md << table.markdown(title, 4) << "\n" << t.protocol << "\n\n";
    md << "wall_s: wall time of one run (the sum over its folds, each run as its own unit with the encodings read from the cache; "
          "mean ± std over seeds when there are several). "
       << "Whole table" << (partial.empty() ? "" : " so far") << ": " << fmt(total, 1) << " s in this process.";
    if (const auto p = units.provenance(); !p.empty()) md << " " << p;
    md << "\n\n";
    std::string extra_args;
    for (const auto& s : options.sets) extra_args += " --set " + s;
    if (options.seeds > 0) extra_args += " --seeds " + std::to_string(options.seeds);
    if (options.quick)
      md << "Short version (what `pesuite reproduce quick` runs for the tables it includes): the full table's configs with "
         << quick_note << extra_args << ". Full version: `pesuite reproduce " << t.name << "`.";
    else
      md << "Command: `pesuite reproduce " << t.name << extra_args << "`.";
    md << " Seeds per row: " << seeds << "; run folders in " << options.out_dir << "/runs.\n";
    if (t.checks) md << "\n" << t.checks(table);
    write_file_atomic(options.out_dir + "/results.md", md.str());
  };
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    if (!row.reference.empty()) table.set_note(row.key, "reference", row.reference);
    if (!missing[r].empty()) {
      table.set_note(row.key, "status", "skipped: " + missing[r] + " not found");
      std::cout << "skip " << row.config << ": " << missing[r] << " not found" << std::endl;
      continue;
    }
    const std::string stem = std::filesystem::path(row.config).stem().string();
    const int folds = fold_count(configs[r]);
    for (int seed = 0; seed < seeds; ++seed) {
      Config cfg = configs[r];
      cfg.apply_set("seed=" + std::to_string(seed));
      // One unit per fold of a cross-validated row (folds are independent and seeded by index),
      // so a long row can be spread over processes and resumed fold by fold.
      std::vector<std::vector<double>> curves;
      double wall = 0;
      int have = 0;
      for (int f = 0; f < folds; ++f) {
        Config unit_cfg = cfg;
        std::string name = stem + "-seed" + std::to_string(seed);
        if (folds > 1) {
          unit_cfg.apply_set("cv.only_fold=" + std::to_string(f));
          name += "-fold" + std::to_string(f);
        }
        const auto values = units.run(name, unit_fingerprint(unit_cfg), [&] { return run_unit(t, unit_cfg, options, name); });
        if (!values) continue;
        ++have;
        for (const auto& [label, xs] : values->metrics) {
          if (label == "wall_s") wall += xs.at(0);
          else if (label == kCurve) curves.push_back(xs);
          else
            for (double x : xs) table.add(row.key, label, x);
        }
        table.set_note(row.key, "status", have == folds ? "ok" : std::to_string(have) + " of " + std::to_string(folds) + " folds");
        write_results();
      }
      if (have == 0) continue;
      table.add(row.key, "wall_s", wall);
      // GIN's protocol needs every fold's test curve.
      for (const auto& [m, label] : t.extra)
        if (m.rfind("gin_", 0) == 0 && have == folds && curves.size() == static_cast<std::size_t>(folds))
          for (double x : gin_protocol(curves, m.substr(4))) table.add(row.key, label, extra_scale(t, m) * x);
      write_results();
    }
  }
  write_results();
  std::cout << read_file(options.out_dir + "/results.md");
}

std::vector<Row> grid(const std::string& prefix, const std::vector<std::string>& models, const std::vector<std::string>& pes) {
  std::vector<Row> rows;
  for (const auto& m : models)
    for (const auto& p : pes) rows.push_back({{{"model", m}, {"pe", p}}, prefix + "-" + m + "+" + p + ".toml", {}, ""});
  return rows;
}

}  // namespace

void run_graph_table_csl(const TableOptions& options) {
  GraphTable t;
  t.name = "csl";
  t.title = "CSL (150 4-regular graphs, 10 classes), test accuracy (%), 5-fold stratified CV";
  t.key_columns = {"model", "pe"};
  t.rows = options.quick ? grid("csl", {"gine"}, {"none", "lap", "rwse"})
                         : grid("csl", {"gine", "gps"}, {"none", "lap", "rwse", "spe", "rfp"});
  t.metric_label = "test acc (%)";
  t.scale = 100;
  // Quick: 2 of the 5 folds (60 test graphs, 6 per class), 60 of the 100 epochs: about 2 minutes
  // on 2 idle cores, and the contrast (none at chance, lap and rwse near 100 %) already shows.
  t.quick_sets = {"cv.max_folds=2", "train.epochs=60"};
  t.protocol =
      "Protocol: 5 stratified folds (cv.seed 0); validation = 10 % of the training folds, stratified; the test fold is scored "
      "with the weights of the best validation epoch. CSL's graphs are all 4-regular and have no node features: without an "
      "encoding a message-passing GNN gives every graph the same output, so it cannot beat chance (10 %).";
  t.checks = [](const ResultsTable& table) {
    std::string out;
    for (const std::string model : {"gine", "gps"}) {
      const auto none = table.summary({{"model", model}, {"pe", "none"}}, "test acc (%)");
      const auto lap = table.summary({{"model", model}, {"pe", "lap"}}, "test acc (%)");
      if (none.n)
        out += std::string("- ") + (none.mean <= 10.0 + 1e-9 ? "PASS" : "FAIL") + ": " + model + " + none " + fmt(none.mean, 1) +
               " % <= 10 % (chance)\n";
      if (lap.n)
        out += std::string("- ") + (lap.mean >= 90.0 ? "PASS" : "FAIL") + ": " + model + " + lap " + fmt(lap.mean, 1) + " % >= 90 %\n";
    }
    return out.empty() ? out : "Expectations:\n" + out;
  };
  run_graph_table(t, options);
}

void run_graph_table_tu(const TableOptions& options) {
  GraphTable t;
  t.name = "tu";
  t.title = "TU graph classification with GINE, test accuracy (%), 10-fold stratified CV";
  t.key_columns = {"dataset", "model", "pe"};
  for (const std::string ds : {"MUTAG", "ENZYMES", "PROTEINS"})
    for (const std::string pe : {"none", "lap", "rwse"}) {
      std::string lower = ds;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      Row r{{{"dataset", ds}, {"model", "gine"}, {"pe", pe}}, lower + "-gine+" + pe + ".toml", {}, ""};
      if (pe == "none" && ds == "MUTAG") r.reference = "GIN-0: 89.4 ± 5.6";
      if (pe == "none" && ds == "PROTEINS") r.reference = "GIN-0: 76.2 ± 2.8";
      t.rows.push_back(r);
    }
  t.metric_label = "test acc (%)";
  t.scale = 100;
  t.extra = {{"gin_accuracy", "GIN protocol (%)"}};
  t.quick_sets = {"cv.max_folds=3", "train.epochs=30"};
  t.protocol =
      "Protocol: 10 stratified folds (cv.seed 0). 'test acc': validation carved from the training folds (10 %, stratified), "
      "the test fold scored with the best-validation weights. 'GIN protocol': Xu et al. (2019) report, with no validation "
      "set, the epoch whose test accuracy averaged over the 10 folds is best; we record the test curve of every fold and "
      "report that number too (optimistic by construction), which is what the reference column compares against. "
      "Datasets missing under ${data}/tu are listed as skipped.";
  run_graph_table(t, options);
}

void run_graph_table_counting(const TableOptions& options) {
  GraphTable t;
  t.name = "counting";
  t.title = "substructure counting (count: generator), test MAE of 3..6-cycle counts";
  t.key_columns = {"model", "pe"};
  t.rows = grid("count", {"gine"}, {"none", "lap", "signnet", "spe"});
  t.metric_label = "MAE (all)";
  t.extra = {{"mae.cycles3", "MAE 3-cycles"}, {"mae.cycles4", "MAE 4-cycles"}, {"mae.cycles5", "MAE 5-cycles"},
             {"mae.cycles6", "MAE 6-cycles"}};
  t.seeds = 3;
  t.quick_sets = {"data.spec=count:?graphs=300&nodes=10-20", "train.epochs=20"};
  t.protocol =
      "Protocol: random graphs (count:?graphs=2000&nodes=10-30&p=0.15), seeded 80/10/10 split, the four cycle counts regressed "
      "jointly (targets standardised on the training split, L1 loss), MAE in counts on the test split with the "
      "best-validation weights.";
  run_graph_table(t, options);
}

void run_graph_table_ogb_mol(const TableOptions& options) {
  GraphTable t;
  t.name = "ogb-mol";
  t.title = "ogbg-molesol, test RMSE (scaffold split)";
  t.key_columns = {"model", "pe"};
  t.rows = grid("molesol", {"gine", "gps"}, {"none", "lap", "rwse"});
  t.metric_label = "test RMSE";
  t.extra = {{"mae", "test MAE"}};
  t.seeds = 3;
  t.quick_sets = {"train.epochs=10"};
  t.protocol =
      "Protocol: the dataset's scaffold split (train / valid / test), atom and bond codes one-hot encoded, target "
      "standardised on train, MSE loss, the test split scored with the best-validation (RMSE) weights; mean ± std over seeds.";
  run_graph_table(t, options);
}

void run_graph_table_zinc(const TableOptions& options) {
  GraphTable t;
  t.name = "zinc";
  t.title = "ZINC (12k subset), test MAE";
  t.key_columns = {"model", "pe"};
  t.rows = {{{{"model", "gine"}, {"pe", "none"}}, "zinc-gine+none.toml", {}, "GINE (GraphGPS paper): 0.1772"},
            {{{"model", "gine"}, {"pe", "spe"}}, "zinc-gine+spe.toml", {}, "GINE + SPE (SPE paper): 0.0693"},
            {{{"model", "gps"}, {"pe", "rwse"}}, "zinc-gps+rwse.toml", {}, "GPS + RWSE (GraphGPS paper): 0.070"}};
  t.metric_label = "test MAE";
  t.seeds = 3;
  t.quick_sets = {"train.epochs=5"};
  t.protocol =
      "Protocol: ZINC's own train / val / test files (TU layout: ${data}/tu/ZINC_train, ZINC_val, ZINC_test; for the OGB "
      "layout set data.spec=ogb:<folder>, data.val_spec= and data.test_spec=). L1 loss, reduce-on-plateau, best-validation "
      "weights; rows are skipped when ZINC is absent.";
  run_graph_table(t, options);
}

}  // namespace pesuite::experiments
