// cpvt-ablation: where the PEG goes and what it is made of, on an 8-block ViT on Fashion-MNIST
// (CPVT's ablations: position -1 / 0 / 3 / 6, kernel 1 / 3 / 5, with and without zero padding).
// The paper's finding to check: a 3x3 PEG with zero padding early (after block 0) matters; a 1x1
// kernel or no padding gives the tokens no absolute position and loses accuracy.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "pesuite/experiments/image_classification.h"
#include "pesuite/experiments/results_table.h"
#include "pesuite/experiments/table_units.h"
#include "pesuite/experiments/tables.h"
#include "pesuite/heads/atomic_file.h"
#include "pesuite/heads/pe_registry.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/experiments/plot.h"
#endif

namespace pesuite::experiments {
namespace {

// Quick: a few minutes on 2 cores for the eight rows; enough to run everything end to end, too
// short to separate the rows reliably. The full table is for patient users or a GPU.
const std::vector<std::string> kAblationQuick = {"data.train_limit=3000", "data.test_limit=1000", "train.epochs=1",
                                                 "train.batch_size=64",   "train.lr=2e-3",        "train.warmup_fraction=0.05",
                                                 "train.label_smoothing=0"};
const std::vector<std::string> kAblationFull = {"train.epochs=10"};

std::string join_settings(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

void run_cpvt_ablation(const TableOptions& options) {
  const auto t_start = std::chrono::steady_clock::now();
  const std::vector<std::string> rows = {"none", "peg-pos-1", "peg-pos0", "peg-pos3", "peg-pos6", "peg-k1", "peg-k5", "peg-nopad"};
  const int seeds = options.seeds > 0 ? options.seeds : (options.quick ? 1 : 3);
  const std::string dir = (options.config_dir.empty() ? default_config_dir() : options.config_dir) + "/vision";
  const std::vector<std::int64_t> sizes = {28, 56};
  ResultsTable table({"variant", "position", "kernel", "padding"}, {"acc@28", "acc@56", "train_s"});
  const auto& settings = options.quick ? kAblationQuick : kAblationFull;

  std::vector<Config> configs;
  std::vector<ResultsTable::Key> keys;
  for (const auto& row : rows) {
    Config cfg = image_classification_defaults();
    cfg.merge_file(dir + "/fmnist-vitdeep+" + row + ".toml");
    for (const auto& s : settings) cfg.apply_set(s);
    cfg.apply_set("eval.sizes=[28, 56]");
    cfg.apply_set("device=" + options.device);
    for (const auto& s : options.sets) cfg.apply_set(s);
    // The key columns come from the config itself, so a row says what it ran.
    const auto [name, params] = heads::parse_pe_spec(cfg.get_string("model.pe"));
    ResultsTable::Key key{{"variant", row}, {"position", "-"}, {"kernel", "-"}, {"padding", "-"}};
    if (name == "peg") {
      std::string pos;
      for (auto b : cfg.get_ints("model.pe_after_blocks")) pos += (pos.empty() ? "" : ",") + std::to_string(b);
      key["position"] = pos.empty() ? "0" : pos;
      key["kernel"] = params.count("kernel") ? params.at("kernel") : "3";
      key["padding"] = params.count("padding") ? params.at("padding") : "true";
    }
    configs.push_back(cfg);
    keys.push_back(key);
  }
  // Rewritten after every run: an interrupted table keeps the runs it finished (marked partial);
  // the runs are saved as units for --resume / --shard.
  UnitRunner units(options);
  const std::size_t total_units = rows.size() * static_cast<std::size_t>(seeds);
  auto write_results = [&]() {
    const std::string partial = units.partial_note(total_units);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::ostringstream notes;
    notes << "\nModel: vit_deep_patch4_28 (8 blocks, width 64, 2 heads, patch 4) on Fashion-MNIST; position = the block a PEG"
          << " follows (-1: before block 0, on the patch embeddings).\n"
          << "Settings over the configs' defaults: " << join_settings(settings)
          << (options.sets.empty() ? "" : ", " + join_settings(options.sets)) << "; " << seeds << " seed(s). Wall time" << (partial.empty() ? ": " : " so far: ") << static_cast<int>(wall)
          << " s in this process." << (units.provenance().empty() ? "" : " " + units.provenance()) << "\n\nCPVT's finding to check (its ImageNet ablations): a 3x3 PEG with zero padding after block 0 is best;"
          << " later positions, a 1x1 kernel (no neighbourhood) or no zero padding (no absolute position) lose accuracy.\n";
    const std::string title = std::string("cpvt-ablation") + (options.quick ? " (quick)" : "") +
                              ": PEG position, kernel size and zero padding; test accuracy (%) at 28 px and, without fine-tuning, 56 px" + partial;
    make_dirs(options.out_dir);
    write_file_atomic(options.out_dir + "/results.md", table.markdown(title, 4) + notes.str());
    write_file_atomic(options.out_dir + "/results.csv", table.csv());
  };
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (int seed = 0; seed < seeds; ++seed) {
      Config cfg = configs[r];
      cfg.apply_set("seed=" + std::to_string(seed));
      const auto values = units.run("fmnist-vitdeep+" + rows[r] + "-seed" + std::to_string(seed), unit_fingerprint(cfg), [&] {
        const auto result = run_image_classification(cfg, options.out_dir + "/runs");
        UnitValues v;
        v.metrics["acc@28"] = {100.0 * result.accuracy_at_size.at(28)};
        v.metrics["acc@56"] = {100.0 * result.accuracy_at_size.at(56)};
        v.metrics["train_s"] = {result.train_seconds};
        std::cout << std::left << std::setw(10) << rows[r] << " seed " << seed << std::fixed << std::setprecision(2) << "  acc@28 "
                  << 100.0 * result.accuracy_at_size.at(28) << "  acc@56 " << 100.0 * result.accuracy_at_size.at(56) << "  ("
                  << static_cast<int>(result.train_seconds) << " s, " << result.run_path << ")" << std::endl;
        return v;
      });
      if (!values) continue;
      for (const auto& [m, xs] : values->metrics)
        for (double x : xs) table.add(keys[r], m, x);
      write_results();
    }
  }
  write_results();
  std::cout << read_file(options.out_dir + "/results.md");
}

}  // namespace pesuite::experiments
