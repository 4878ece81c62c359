// cpvt-fmnist: the same small ViT on Fashion-MNIST with each positional encoding, tested at the
// training size and, without fine-tuning, at 1.5x and 2x (CPVT's resolution generalisation).
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "pesuite/experiments/image_classification.h"
#include "pesuite/experiments/results_table.h"
#include "pesuite/experiments/table_units.h"
#include "pesuite/experiments/tables.h"
#include "pesuite/heads/atomic_file.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/experiments/plot.h"
#endif

namespace pesuite::experiments {
namespace {

// Quick mode: about 10 minutes on 2 cores for the six rows (this model trains ~250-380 images/s
// there). The default recipe (batch 128, warm-up 10%, label smoothing) needs more steps than a
// quick run has: smaller batches and a higher learning rate get it far past chance in ~300 steps.
// Measured (learned row, seed 0, 28 px): 10k images x 2 epochs at batch 64, lr 2e-3: 67.1 %; 12k
// x 2 at batch 48, lr 1.5e-3: 71.8 %; the old 6k x 1 at batch 128: 32-44 %.
const std::vector<std::string> kQuickSettings = {
    "data.train_limit=12000", "data.test_limit=2000",       "train.epochs=2",          "train.batch_size=48",
    "train.lr=1.5e-3",        "train.warmup_fraction=0.05", "train.label_smoothing=0", "train.min_lr_ratio=0.05"};
const std::vector<std::string> kFullSettings = {"train.epochs=10"};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

void run_cpvt_fmnist(const TableOptions& options) {
  const auto t_start = std::chrono::steady_clock::now();
  const std::vector<std::string> rows = {"none", "learned", "sincos2d", "rope2d", "peg", "peg-gap"};
  const int seeds = options.seeds > 0 ? options.seeds : (options.quick ? 1 : 3);
  const std::string dir = (options.config_dir.empty() ? default_config_dir() : options.config_dir) + "/vision";
  const std::vector<std::int64_t> sizes = {28, 44, 56};  // 44: the multiple of the patch size nearest 1.5x
  std::vector<std::string> metrics;
  for (auto s : sizes) metrics.push_back("acc@" + std::to_string(s));
  metrics.push_back("train_s");
  ResultsTable table({"pe"}, metrics, {"images/s"});
  const auto& settings = options.quick ? kQuickSettings : kFullSettings;

  // Check every row's config before training any.
  std::vector<Config> configs;
  for (const auto& pe : rows) {
    Config cfg = image_classification_defaults();
    cfg.merge_file(dir + "/fmnist-vit+" + pe + ".toml");
    for (const auto& s : settings) cfg.apply_set(s);
    cfg.apply_set("eval.sizes=[28, 44, 56]");
    cfg.apply_set("device=" + options.device);
    for (const auto& s : options.sets) cfg.apply_set(s);
    configs.push_back(cfg);
  }
  // Rewritten after every run: an interrupted table keeps the runs it finished (marked partial);
  // the runs are saved as units for --resume / --shard.
  UnitRunner units(options);
  const std::size_t total_units = rows.size() * static_cast<std::size_t>(seeds);
  auto write_results = [&]() {
    const std::string partial = units.partial_note(total_units);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    const std::string title = std::string("cpvt-fmnist") + (options.quick ? " (quick)" : "") +
                              ": test accuracy (%) at 28 px (training size) and, without fine-tuning, 44 and 56 px" + partial;
    std::ostringstream notes;
    notes << "\nModel: vit_tiny_patch4_28 (4 blocks, width 96, 3 heads, patch 4), AdamW + warm-up/cosine, Fashion-MNIST.\n"
          << "Settings over the configs' defaults: " << join(settings) << (options.sets.empty() ? "" : ", " + join(options.sets))
          << "; " << seeds << " seed(s). Larger test sizes upsample the 28 px images bilinearly (no fine-tuning).\n"
          << (partial.empty() ? "Wall time of the whole table: " : "Wall time so far: ") << static_cast<int>(wall) << " s in this process."
          << (units.provenance().empty() ? "" : " " + units.provenance()) << "\n"
          << "\nCPVT's claims to check: PEG matches a learned table at the training size, and loses least when the input grows"
          << " (peg-gap: no class token, global average pooling).\n";
    make_dirs(options.out_dir);
    write_file_atomic(options.out_dir + "/results.md", table.markdown(title, 4) + notes.str());
    write_file_atomic(options.out_dir + "/results.csv", table.csv());
#ifdef PESUITE_HAVE_OPENCV
    std::vector<plot::Series> series;
    for (const auto& pe : rows) {
      if (table.summary({{"pe", pe}}, "acc@28").n == 0) continue;  // not run yet
      plot::Series s{pe, {}, {}};
      for (auto sz : sizes) {
        s.x.push_back(static_cast<double>(sz));
        s.y.push_back(table.summary({{"pe", pe}}, "acc@" + std::to_string(sz)).mean);
      }
      series.push_back(s);
    }
    plot::line_plot(options.out_dir + "/accuracy_vs_size.png", series, {"cpvt-fmnist: accuracy vs test size", "test size (px)", "accuracy (%)"});
#endif
  };
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (int seed = 0; seed < seeds; ++seed) {
      Config cfg = configs[r];
      cfg.apply_set("seed=" + std::to_string(seed));
      const auto values = units.run("fmnist-vit+" + rows[r] + "-seed" + std::to_string(seed), unit_fingerprint(cfg), [&] {
        const auto result = run_image_classification(cfg, options.out_dir + "/runs");
        UnitValues v;
        std::ostringstream line;
        line << std::left << std::setw(10) << rows[r] << " seed " << seed;
        for (auto s : sizes) {
          v.metrics["acc@" + std::to_string(s)] = {100.0 * result.accuracy_at_size.at(s)};
          line << "  acc@" << s << " " << std::fixed << std::setprecision(2) << 100.0 * result.accuracy_at_size.at(s);
        }
        v.metrics["train_s"] = {result.train_seconds};
        v.notes["images/s"] = std::to_string(static_cast<int>(result.train_images_per_second));
        std::cout << line.str() << "  (" << static_cast<int>(result.train_seconds) << " s, " << result.run_path << ")" << std::endl;
        return v;
      });
      if (!values) continue;
      for (const auto& [m, xs] : values->metrics)
        for (double x : xs) table.add({{"pe", rows[r]}}, m, x);
      for (const auto& [n, text] : values->notes) table.set_note({{"pe", rows[r]}}, n, text);
      write_results();
    }
  }
  write_results();
  std::cout << read_file(options.out_dir + "/results.md");
}

}  // namespace pesuite::experiments
