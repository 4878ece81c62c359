// `pesuite bench facesynth`: rendered faces per second of the facesynth: renderer at 64, 128 and
// 224 pixels (or --sizes), with 1 thread and with N (--threads, default every core), wall-clock rate
// beside CPU milliseconds per image (on a shared machine the second thread may get no core of its
// own: the rate shows it, the CPU time does not).
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "pesuite/core/error.h"
#include "pesuite/datasets/facesynth.h"
#include "pesuite/datasets/spec.h"

namespace pesuite::cli {

void add_bench_facesynth(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("facesynth", "Rendered faces per second of facesynth: at several sizes, 1 and N threads");
  static int images = 64, threads = 0;
  static std::string sizes_text = "64,128,224", spec_keys;
  static bool json = false;
  cmd->add_option("--images", images, "Images per figure")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--threads", threads, "Threads of the parallel figure (0 = every core)")->capture_default_str();
  cmd->add_option("--sizes", sizes_text, "Image sides, comma-separated")->capture_default_str();
  cmd->add_option("--keys", spec_keys, "More facesynth: keys, e.g. full_range=1&supersample=1");
  cmd->add_flag("--json", json, "Print the figures as JSON");
  cmd->callback([]() {
    std::vector<int> sizes;
    std::stringstream in(sizes_text);
    std::string item;
    while (std::getline(in, item, ',')) {
      try {
        std::size_t used = 0;
        const int s = std::stoi(item, &used);
        if (used != item.size() || s < 16 || s > 4096) throw std::invalid_argument(item);
        sizes.push_back(s);
      } catch (const std::exception&) {
        throw core::InputError("--sizes " + sizes_text + ": '" + item + "' is not a side in [16, 4096]");
      }
    }
    const int n_threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::vector<int> thread_counts{1};
    if (n_threads > 1) thread_counts.push_back(n_threads);
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    if (!json) std::printf("%6s %8s %10s %14s %8s\n", "size", "threads", "img/s", "cpu ms/img", "cpu %");
    for (int size : sizes) {
      const auto synth = datasets::make_facesynth(datasets::parse_spec("facesynth:?n=" + std::to_string(images) + "&seed=0&size=" +
                                                                       std::to_string(size) + (spec_keys.empty() ? "" : "&" + spec_keys)));
      for (int t : thread_counts) {
        tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(t));
        synth.render_range(0, std::min(images, 4), t);  // warm-up
        const auto t0 = std::chrono::steady_clock::now();
        const std::clock_t c0 = std::clock();
        const auto rendered = synth.render_range(0, images, t);
        const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double rate = images / s, ms = 1000.0 * cpu / images, share = 100.0 * cpu / s;
        if (json) out.push_back({{"size", size}, {"threads", t}, {"images_per_s", rate}, {"cpu_ms_per_image", ms}, {"cpu_percent", share}});
        else std::printf("%6d %8d %10.1f %14.2f %8.0f\n", size, t, rate, ms, share);
      }
    }
    if (json) std::cout << out.dump(2) << "\n";
  });
}

}  // namespace pesuite::cli
