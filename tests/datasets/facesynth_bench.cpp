// Rendered images per second of facesynth: at 64, 128 and 224 pixels, on 1 and 2 threads.
// Not a test (speed goals are benchmarks): `facesynth_bench [mesh-dir] [images]`.
#include <tbb/global_control.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "pesuite/datasets/facesynth.h"

int main(int argc, char** argv) {
  using namespace pesuite::datasets;
  const std::string dir = argc > 1 ? argv[1] : default_face_mesh_dir();
  const int n = argc > 2 ? std::atoi(argv[2]) : 64;
  const auto mesh = std::make_shared<const FaceMesh>(load_face_mesh(dir));
  std::printf("facesynth: %zu vertices, %zu triangles, supersample 2, %d images per figure\n", mesh->vertices.size(),
              mesh->triangles.size(), n);
  // CPU ms per image (all threads) beside the wall-clock rate: on a shared machine the second
  // thread may get no core of its own, which the rate shows and the CPU time does not.
  std::printf("%6s %8s %10s %14s %8s\n", "size", "threads", "img/s", "cpu ms/img", "cpu %");
  for (int size : {64, 128, 224})
    for (int threads : {1, 2}) {
      FaceSynthOptions o;
      o.n = n;
      o.width = o.height = size;
      const FaceSynth synth(o, mesh);
      synth.render_range(0, std::min(n, 4), threads);  // warm-up
      const auto t0 = std::chrono::steady_clock::now();
      const std::clock_t c0 = std::clock();
      const auto out = synth.render_range(0, n, threads);
      const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%6d %8d %10.1f %14.2f %8.0f\n", size, threads, n / s, 1000.0 * cpu / n, 100.0 * cpu / s);
    }
  return 0;
}
