// The one table runner (tables.h): rows x seeds x folds as units of work through core::UnitRunner,
// each trained by the table's pipeline, the table rewritten after every unit.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/formats.h"
#include "pesuite/experiments/pipelines.h"
#include "pesuite/experiments/tables.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/core/plot.h"
#include "text_format.h"
#endif

namespace pesuite::experiments {
namespace {

namespace fs = std::filesystem;

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The first dataset a config names that is not on disk ("" when all are there).
std::string missing_data(const Pipeline& p, const core::Config& cfg) {
  for (const auto& text : p.dataset_specs(cfg)) {
    const auto spec = datasets::parse_spec(text);
    if (spec.info().needs_path && !fs::exists(spec.path)) return spec.path;
    if (spec.info().missing)
      if (auto m = spec.info().missing(spec); !m.empty()) return m;
  }
  return "";
}

core::UnitValues to_values(const UnitResult& u) { return {u.metrics, u.notes}; }
UnitResult from_values(const core::UnitValues& v) { return {v.metrics, v.notes}; }

// What one finished unit printed: its columns' values and where its run folder is.
void print_unit(const TableSpec& t, const std::string& name, const UnitResult& u) {
  std::ostringstream line;
  line << std::left << std::setw(36) << name;
  for (const auto& c : t.columns)
    if (auto it = u.metrics.find(c.metric); it != u.metrics.end() && !it->second.empty())
      line << "  " << c.label << " " << fixed(c.scale * it->second.front(), 3);
  if (auto it = u.notes.find("run"); it != u.notes.end()) line << "  (" << it->second << ")";
  std::cout << line.str() << std::endl;
}

void plot_table(const TableSpec& t, const std::vector<TableRow>& rows, const core::ResultsTable& table, const std::string& out_dir) {
#ifdef PESUITE_HAVE_OPENCV
  if (!t.plot) return;
  std::vector<core::PlotSeries> series;
  for (const auto& row : rows) {
    if (table.summary(row.key, t.plot->columns.front()).n == 0) continue;  // not run yet
    core::PlotSeries s{row.key.at(t.plot->series), {}, {}};
    for (std::size_t i = 0; i < t.plot->columns.size(); ++i) {
      s.x.push_back(t.plot->x[i]);
      s.y.push_back(table.summary(row.key, t.plot->columns[i]).mean);
    }
    series.push_back(s);
  }
  core::line_plot(out_dir + "/" + t.plot->file, series, {t.plot->title, t.plot->x_label, t.plot->y_label});
#else
  (void)t, (void)rows, (void)table, (void)out_dir;
#endif
}

}  // namespace

core::Config row_config(const TableSpec& t, const TableRow& row, const core::TableOptions& options) {
  const Pipeline& p = pipeline(t.pipeline);
  const std::string config_dir = options.config_dir.empty() ? default_config_dir() : options.config_dir;
  const TableVersion& version = options.quick ? t.quick : t.full;
  core::Config cfg = p.defaults();
  cfg.merge_file(config_dir + "/" + row.config);
  for (const auto& s : version.sets) cfg.apply_set(s);
  for (const auto& s : t.sets) cfg.apply_set(s);
  for (const auto& s : row.sets) cfg.apply_set(s);
  cfg.apply_set("device=" + options.device);
  for (const auto& s : options.sets) cfg.apply_set(s);
  return cfg;
}

std::string row_missing_data(const TableSpec& t, const core::Config& cfg) { return missing_data(pipeline(t.pipeline), cfg); }

void run_table(const TableSpec& t, const core::TableOptions& options) {
  const auto t_start = std::chrono::steady_clock::now();
  const Pipeline& p = pipeline(t.pipeline);
  const std::string config_dir = options.config_dir.empty() ? default_config_dir() : options.config_dir;
  const TableVersion& version = options.quick ? t.quick : t.full;
  const int seeds = options.seeds > 0 ? options.seeds : version.seeds;
  const auto rows = t.rows_for(options.quick);
  std::vector<std::string> labels;
  for (const auto& c : t.columns) labels.push_back(c.label);
  core::ResultsTable table(t.keys, labels, t.notes);
  auto has_note = [&](const std::string& n) { return std::find(t.notes.begin(), t.notes.end(), n) != t.notes.end(); };

  // Every row's config is read and checked (keys, types) before any training.
  std::vector<core::Config> configs;
  std::vector<std::string> missing;
  std::vector<int> folds;
  for (const auto& row : rows) {
    const core::Config cfg = row_config(t, row, options);
    missing.push_back(missing_data(p, cfg));
    folds.push_back(p.folds(cfg));
    configs.push_back(cfg);
  }
  core::UnitRunner units(options);
  std::size_t total_units = 0;
  for (std::size_t r = 0; r < rows.size(); ++r)
    if (missing[r].empty()) total_units += static_cast<std::size_t>(seeds * folds[r]);

  std::vector<std::string> settings = version.sets;
  settings.insert(settings.end(), t.sets.begin(), t.sets.end());
  settings.insert(settings.end(), options.sets.begin(), options.sets.end());
  // results.md / results.csv are rewritten after every unit, so an interrupted table keeps what it
  // finished (marked partial in the title); the units themselves are saved for --resume.
  auto write_results = [&]() {
    const double wall = seconds_since(t_start);
    const std::string partial = units.partial_note(total_units);
    const std::string title = t.name + (options.quick ? " (quick)" : "") + ": " + t.title + partial;
    table.write(options.out_dir, title, t.digits);
    std::ostringstream md;
    md << table.markdown(title, t.digits) << "\n";
    if (!t.protocol.empty()) md << t.protocol << "\n\n";
    md << "Settings over the row configs (" << config_dir << "): " << (settings.empty() ? "none" : join(settings)) << "; seeds per row: "
       << seeds << "; run folders in " << options.out_dir << "/runs. Wall time of the whole table" << (partial.empty() ? "" : " so far")
       << ": " << fixed(wall, 1) << " s in this process.";
    if (const auto prov = units.provenance(); !prov.empty()) md << " " << prov;
    md << "\n\n";
    std::string args;
    for (const auto& s : options.sets) args += " --set " + s;
    if (options.seeds > 0) args += " --seeds " + std::to_string(options.seeds);
    if (options.quick)
      md << "Short version (what `pesuite reproduce quick` runs). Full version: `pesuite reproduce " << t.name << args << "`.\n";
    else
      md << "Command: `pesuite reproduce " << t.name << args << "`.\n";
    if (const auto checks = checks_text(t, table); !checks.empty()) md << "\n" << checks;
    core::write_file_atomic(options.out_dir + "/results.md", md.str());
    plot_table(t, rows, table, options.out_dir);
  };

  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (has_note("reference") && !row.reference.empty()) table.set_note(row.key, "reference", row.reference);
    if (!missing[r].empty()) {
      if (has_note("status")) table.set_note(row.key, "status", "skipped: " + missing[r] + " not found");
      std::cout << "skip " << row.config << ": " << missing[r] << " not found" << std::endl;
      continue;
    }
    table.add_row(row.key);
    const std::string stem = t.unit_stem(row);
    for (int seed = 0; seed < seeds; ++seed) {
      core::Config cfg = configs[r];
      cfg.apply_set("seed=" + std::to_string(seed));
      // One unit per fold of a cross-validated row (folds are independent and seeded by index),
      // so a long row can be spread over processes and resumed fold by fold.
      std::vector<UnitResult> done;
      for (int f = 0; f < folds[r]; ++f) {
        core::Config unit_cfg = cfg;
        p.select_fold(unit_cfg, f);
        const std::string name = stem + "-seed" + std::to_string(seed) + (folds[r] > 1 ? "-fold" + std::to_string(f) : "");
        const auto values = units.run(name, core::unit_fingerprint(unit_cfg), [&] {
          const UnitResult u = p.run(unit_cfg, options.out_dir + "/runs");
          print_unit(t, name, u);
          return to_values(u);
        });
        if (!values) continue;
        done.push_back(from_values(*values));
        for (const auto& c : t.columns)
          if (auto it = done.back().metrics.find(c.metric); it != done.back().metrics.end())
            for (double x : it->second) table.add(row.key, c.label, c.scale * x);
        for (const auto& n : t.notes)
          if (auto it = done.back().notes.find(n); it != done.back().notes.end()) table.set_note(row.key, n, it->second);
        if (has_note("status"))
          table.set_note(row.key, "status", static_cast<int>(done.size()) == folds[r] ? "ok"
                                                : std::to_string(done.size()) + " of " + std::to_string(folds[r]) + " folds");
        write_results();
      }
      if (done.empty() || !p.across_folds) continue;
      const auto across = p.across_folds(done, folds[r]);
      for (const auto& c : t.columns)
        if (auto it = across.find(c.metric); it != across.end())
          for (double x : it->second) table.add(row.key, c.label, c.scale * x);
      write_results();
    }
  }
  write_results();
  std::cout << core::read_file(options.out_dir + "/results.md");
}

void run_named_table(const std::string& name, const core::TableOptions& options) {
  const std::string config_dir = options.config_dir.empty() ? default_config_dir() : options.config_dir;
  const auto tables = list_tables(config_dir);
  if (name == "quick") {
    core::TableOptions q = options;
    q.quick = true;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, double>> times;
    for (const auto& t : tables) {
      if (!t.in_quick) continue;
      const auto t1 = std::chrono::steady_clock::now();
      std::cout << "== " << t.name << " (quick)" << std::endl;
      core::TableOptions sub = q;
      sub.out_dir = q.out_dir + "/" + t.name;
      run_table(t, sub);
      times.push_back({t.name, seconds_since(t1)});
      std::cout << "== " << t.name << " done in " << fixed(times.back().second, 1) << " s" << std::endl;
    }
    std::cout << "== quick: every table in " << fixed(seconds_since(t0), 1) << " s (";
    for (std::size_t i = 0; i < times.size(); ++i) std::cout << (i ? ", " : "") << times[i].first << " " << fixed(times[i].second, 1) << " s";
    std::cout << ")" << std::endl;
    return;
  }
  for (const auto& t : tables)
    if (t.name == name) return run_table(t, options);
  std::vector<std::string> names = {"quick"};
  for (const auto& t : tables) names.push_back(t.name);
  throw core::InputError("reproduce: unknown table '" + name + "' (valid: " + join(names) + ")");
}

}  // namespace pesuite::experiments
