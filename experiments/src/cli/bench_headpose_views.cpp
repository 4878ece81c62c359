// `pesuite bench headpose-views`: milliseconds per batch of the head-pose training views
// (head_pose_data.h) on faces rendered once before the clock starts: train_batch (loose crop,
// resize, random square, flip, normalise) and weak_strong_batch with ViewAugment::strong() (the
// semi-supervised trainer's pair of views of each crop). views/s counts the images made: one per
// face for train_batch, two (weak and strong) for weak_strong_batch. Each timed batch draws its own
// stream, as training steps do; the median of --repeats batches is reported.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_timing.h"
#include "cli.h"
#include "pesuite/core/error.h"
#include "pesuite/core/runtime.h"
#include "pesuite/vision/head_pose_data.h"

namespace pesuite::cli {
namespace {

struct ViewBenchArgs {
  std::int64_t faces = 256, render_size = 160, batch = 128, img_size = 128;
  int threads = 0, repeats = 5;
  bool json = false;
};

// Median seconds of `repeats` calls of make(stream), one stream per call, after one untimed call.
template <typename Make>
double median_batch_seconds(int repeats, Make&& make) {
  std::uint64_t stream = 0;
  make(stream++);
  const torch::Device cpu(torch::kCPU);
  return median(time_blocks(cpu, repeats, 1, [&] { make(stream++); }));
}

void run_view_bench(const ViewBenchArgs& a) {
  if (a.faces < 1 || a.batch < 1 || a.repeats < 1 || a.render_size < 16)
    throw core::InputError("bench headpose-views: --faces, --batch and --repeats must be >= 1, --render-size >= 16");
  if (a.threads > 0) core::set_threads(a.threads);
  vision::HeadPoseDataOptions o;
  o.img_size = a.img_size;
  const auto data = vision::HeadPoseData::open(
      "facesynth:?n=" + std::to_string(a.faces) + "&seed=0&size=" + std::to_string(a.render_size), o, /*train=*/true);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(a.batch));
  for (std::int64_t j = 0; j < a.batch; ++j) idx[static_cast<std::size_t>(j)] = j % data->size();
  const auto strong = vision::ViewAugment::strong();
  const double train_s = median_batch_seconds(a.repeats, [&](std::uint64_t s) { (void)data->train_batch(idx, s); });
  const double pair_s = median_batch_seconds(a.repeats, [&](std::uint64_t s) { (void)data->weak_strong_batch(idx, s, strong); });
  const int threads = core::threads();
  const double batch = static_cast<double>(a.batch);
  if (a.json) {
    nlohmann::ordered_json out{{"bench", "headpose-views"},   {"threads", threads},
                               {"batch", a.batch},            {"img_size", a.img_size},
                               {"render_size", a.render_size}, {"faces", a.faces},
                               {"train_ms", 1000 * train_s},  {"train_views_per_s", batch / train_s},
                               {"weak_strong_ms", 1000 * pair_s}, {"weak_strong_views_per_s", 2 * batch / pair_s}};
    std::cout << out.dump() << "\n";
    return;
  }
  std::printf("%lld views of %lld px from %lld px renders, %d thread(s), median of %d batches\n", static_cast<long long>(a.batch),
              static_cast<long long>(a.img_size), static_cast<long long>(a.render_size), threads, a.repeats);
  std::printf("%-22s %10s %10s\n", "", "ms/batch", "views/s");
  std::printf("%-22s %10.1f %10.0f\n", "train_batch", 1000 * train_s, batch / train_s);
  std::printf("%-22s %10.1f %10.0f\n", "weak_strong_batch", 1000 * pair_s, 2 * batch / pair_s);
}

}  // namespace

void add_bench_headpose_views(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("headpose-views", "Head-pose training views per second: train_batch and weak_strong_batch (strong)");
  static ViewBenchArgs a;
  cmd->add_option("--faces", a.faces, "Faces rendered once (facesynth:)")->capture_default_str();
  cmd->add_option("--render-size", a.render_size, "Side of the rendered faces")->capture_default_str();
  cmd->add_option("--batch", a.batch, "Views per batch")->capture_default_str();
  cmd->add_option("--img-size", a.img_size, "Side of the views")->capture_default_str();
  cmd->add_option("--threads", a.threads, "Intra-op threads (0 = torch's default)")->capture_default_str();
  cmd->add_option("--repeats", a.repeats, "Timed batches of each kind (the median is reported)")->capture_default_str();
  cmd->add_flag("--json", a.json, "One JSON line");
  cmd->callback([]() { run_view_bench(a); });
}

}  // namespace pesuite::cli
