// `pesuite bench loader`: images per second of the image pipeline, JPEG decode alone and decode +
// train-time augmentation (random-resized-crop, flip, colour jitter) + normalise through the
// prefetching Loader, with 1 thread and with N (default: every core), in total and per core. By
// default on JPEGs it writes itself (256 of 500x375, VOC's typical size) into a temporary folder;
// --data on any image dataset spec.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli.h"
#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

#ifdef PESUITE_HAVE_OPENCV
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pesuite/imageio/loader.h"
#endif

namespace pesuite::cli {

#ifdef PESUITE_HAVE_OPENCV
namespace {

struct LoaderBenchArgs {
  std::string data;
  int images = 256, width = 500, height = 375, size = 224, threads = 0, batch = 32, epochs = 2;
};

// Photo-like content (smooth gradients, shapes, mild noise): pure noise would compress and decode
// far slower than real photographs and misstate the rate.
datasets::ImageDataset write_jpegs(const std::string& dir, const LoaderBenchArgs& a) {
  datasets::ImageDataset set;
  set.classes = {"synthetic"};
  set.source = dir;
  cv::RNG rng(12345);
  for (int i = 0; i < a.images; ++i) {
    cv::Mat img(a.height, a.width, CV_8UC3);
    for (int y = 0; y < a.height; ++y)
      for (int x = 0; x < a.width; ++x)
        img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>((x * 255) / a.width), static_cast<uchar>((y * 255) / a.height),
                                            static_cast<uchar>((i * 37 + x + y) % 256));
    for (int k = 0; k < 12; ++k)
      cv::circle(img, {rng.uniform(0, a.width), rng.uniform(0, a.height)}, rng.uniform(10, 80),
                 cv::Scalar(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)), cv::FILLED);
    cv::Mat noise(img.size(), CV_16SC3);
    rng.fill(noise, cv::RNG::NORMAL, 0, 6);
    cv::add(img, noise, img, cv::noArray(), CV_8U);
    char name[32];
    std::snprintf(name, sizeof name, "%05d.jpg", i);
    const std::string path = dir + "/" + name;
    if (!cv::imwrite(path, img, {cv::IMWRITE_JPEG_QUALITY, 90})) throw core::InputError(path + ": cannot write");
    datasets::ImageRecord r;
    r.file = path;
    r.label = 0;
    set.records.push_back(r);
  }
  return set;
}

// Plain threads pulling indices from a counter: decoding alone, no batching or augmentation.
double decode_rate(const imageio::ImageSource& source, int threads, int epochs) {
  const auto n = source.size();
  const auto t0 = std::chrono::steady_clock::now();
  for (int e = 0; e < epochs; ++e) {
    std::atomic<std::int64_t> next{0};
    std::vector<std::exception_ptr> errors(threads);  // a bad file must reach the CLI, not std::terminate
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        try {
          for (std::int64_t i; (i = next++) < n;) (void)source.image(i);
        } catch (...) {
          errors[t] = std::current_exception();
          next = n;
        }
      });
    for (auto& th : pool) th.join();
    for (auto& err : errors)
      if (err) std::rethrow_exception(err);
  }
  return static_cast<double>(n) * epochs / seconds_since(t0);
}

double loader_rate(std::shared_ptr<const imageio::ImageSource> source, const LoaderBenchArgs& a, int threads) {
  imageio::LoaderOptions lo;
  lo.batch_size = a.batch;
  lo.workers = threads;
  imageio::Loader loader(std::move(source), imageio::TransformOptions::train(a.size), lo);
  std::int64_t count = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int e = 0; e < a.epochs; ++e) {
    loader.start_epoch(e);
    while (auto b = loader.next()) count += b->images.size(0);
  }
  return static_cast<double>(count) / seconds_since(t0);
}

void run(const LoaderBenchArgs& a) {
  // OpenCV's own thread pool off: the thread counts below are then the only parallelism measured.
  cv::setNumThreads(0);
  const int n = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::shared_ptr<const imageio::ImageSource> source;
  std::string tmp, what;
  if (a.data.empty()) {
    tmp = (std::filesystem::temp_directory_path() / ("pesuite-bench-loader-" + std::to_string(::getpid()))).string();
    core::remove_tree(tmp);
    core::make_dirs(tmp);
    source = std::make_shared<imageio::RecordSource>(write_jpegs(tmp, a));
    what = std::to_string(a.images) + " generated JPEGs " + std::to_string(a.width) + "x" + std::to_string(a.height) +
           " (quality 90)";
  } else {
    source = imageio::make_source(datasets::parse_spec(a.data));
    what = std::to_string(source->size()) + " images of " + a.data;
  }
  try {
    std::cout << "loader benchmark: " << what << "; output " << a.size << "x" << a.size << ", batch " << a.batch
              << ", " << a.epochs << " epoch(s) per figure, " << std::thread::hardware_concurrency() << " cores\n";
    std::printf("%-34s %7s %10s %12s\n", "stage", "threads", "images/s", "per core");
    std::vector<int> counts{1};
    if (n > 1) counts.push_back(n);
    (void)decode_rate(*source, n, 1);  // warm the page cache so both thread counts read from memory
    for (int t : counts) {
      const double r = decode_rate(*source, t, a.epochs);
      std::printf("%-34s %7d %10.1f %12.1f\n", "decode", t, r, r / t);
    }
    for (int t : counts) {
      const double r = loader_rate(source, a, t);
      std::printf("%-34s %7d %10.1f %12.1f\n", "decode+crop+flip+jitter+normalise", t, r, r / t);
    }
  } catch (...) {
    if (!tmp.empty()) core::remove_tree(tmp);
    throw;
  }
  if (!tmp.empty()) core::remove_tree(tmp);
}

}  // namespace
#endif

void add_bench_loader(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("loader", "Images per second of JPEG decode + augment, 1 and N threads");
#ifdef PESUITE_HAVE_OPENCV
  static LoaderBenchArgs a;
  cmd->add_option("--data", a.data, "Image dataset spec (default: JPEGs generated in a temporary folder)");
  cmd->add_option("--images", a.images, "Generated images")->check(CLI::PositiveNumber);
  cmd->add_option("--width", a.width, "Generated image width")->check(CLI::PositiveNumber);
  cmd->add_option("--height", a.height, "Generated image height")->check(CLI::PositiveNumber);
  cmd->add_option("--size", a.size, "Output size of the crop")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a.threads, "N for the multi-thread figures (default: all cores)");
  cmd->add_option("--batch", a.batch, "Loader batch size")->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", a.epochs, "Passes over the data per figure")->check(CLI::PositiveNumber);
  cmd->callback([]() { run(a); });
#else
  cmd->callback([]() { throw core::InputError("bench loader: this pesuite was built without OpenCV"); });
#endif
}

}  // namespace pesuite::cli
