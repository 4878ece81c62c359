// cpvt-fmnist: the same small ViT on Fashion-MNIST with each positional encoding, tested at the
// training size and, without fine-tuning, at 1.5x and 2x (CPVT's resolution generalisation).
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "pesuite/experiments/image_classification.h"
#include "pesuite/experiments/results_table.h"
#include "pesuite/experiments/tables.h"
#include "pesuite/heads/atomic_file.h"
#ifdef PESUITE_HAVE_OPENCV
#include "pesuite/experiments/plot.h"
#endif

namespace pesuite::experiments {

void run_cpvt_fmnist(const TableOptions& options) {
  const std::vector<std::string> rows = {"none", "learned", "sincos2d", "rope2d", "peg", "peg-gap"};
  const int seeds = options.seeds > 0 ? options.seeds : (options.quick ? 1 : 3);
  const std::string dir = (options.config_dir.empty() ? default_config_dir() : options.config_dir) + "/vision";
  const std::vector<std::int64_t> sizes = {28, 44, 56};  // 44: the multiple of the patch size nearest 1.5x
  std::vector<std::string> metrics;
  for (auto s : sizes) metrics.push_back("acc@" + std::to_string(s));
  metrics.push_back("train_s");
  ResultsTable table({"pe"}, metrics, {"images/s"});

  // Check every row's config before training any.
  std::vector<Config> configs;
  for (const auto& pe : rows) {
    Config cfg = image_classification_defaults();
    cfg.merge_file(dir + "/fmnist-vit+" + pe + ".toml");
    if (options.quick) {
      // 2 cores: about 200 images/s, so the quick table sees a 10% subsample for one epoch.
      cfg.apply_set("data.train_limit=6000");
      cfg.apply_set("data.test_limit=2000");
      cfg.apply_set("train.epochs=1");
    } else {
      cfg.apply_set("train.epochs=10");
    }
    cfg.apply_set("device=" + options.device);
    for (const auto& s : options.sets) cfg.apply_set(s);
    configs.push_back(cfg);
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (int seed = 0; seed < seeds; ++seed) {
      Config cfg = configs[r];
      cfg.apply_set("seed=" + std::to_string(seed));
      const auto result = run_image_classification(cfg, options.out_dir + "/runs");
      std::ostringstream line;
      line << std::left << std::setw(10) << rows[r] << " seed " << seed;
      for (auto s : sizes) {
        table.add({{"pe", rows[r]}}, "acc@" + std::to_string(s), 100.0 * result.accuracy_at_size.at(s));
        line << "  acc@" << s << " " << std::fixed << std::setprecision(2) << 100.0 * result.accuracy_at_size.at(s);
      }
      table.add({{"pe", rows[r]}}, "train_s", result.train_seconds);
      table.set_note({{"pe", rows[r]}}, "images/s", std::to_string(static_cast<int>(result.train_images_per_second)));
      std::cout << line.str() << "  (" << static_cast<int>(result.train_seconds) << " s, " << result.run_path << ")" << std::endl;
    }
  }
  const std::string title = std::string("cpvt-fmnist") + (options.quick ? " (quick: 6000 training images, 1 epoch, 2000 test images)" : "") +
                            ": test accuracy (%) at 28 px (training size) and, without fine-tuning, 44 and 56 px";
  table.write(options.out_dir, title, 4);
#ifdef PESUITE_HAVE_OPENCV
  std::vector<plot::Series> series;
  for (const auto& pe : rows) {
    plot::Series s{pe, {}, {}};
    for (auto sz : sizes) {
      s.x.push_back(static_cast<double>(sz));
      s.y.push_back(table.summary({{"pe", pe}}, "acc@" + std::to_string(sz)).mean);
    }
    series.push_back(s);
  }
  plot::line_plot(options.out_dir + "/accuracy_vs_size.png", series, {"cpvt-fmnist: accuracy vs test size", "test size (px)", "accuracy (%)"});
#endif
  std::cout << read_file(options.out_dir + "/results.md");
}

}  // namespace pesuite::experiments
