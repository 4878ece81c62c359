#pragma once
// Shared by the libFuzzer targets (fuzz/*.cpp). A target hands the fuzzer's bytes to one parser,
// through a file when the parser reads files; the parser must either succeed or throw
// core::InputError. Anything else (another exception, a crash, a sanitizer report, a huge
// allocation) is a finding: libFuzzer saves the input and stops.
//
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* d, size_t n) {
//     const auto path = pesuite::fuzz::write_file("x.bin", d, n);
//     pesuite::fuzz::expect_input_errors([&] { parse(path); });
//     return 0;
//   }
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::fuzz {

// This process's scratch folder (under /dev/shm when there is one: no disk writes per input).
inline const std::string& scratch() {
  static const std::string dir = [] {
    const std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
    const std::string d = base + "/pesuite-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    std::atexit([] { pesuite::core::remove_tree(scratch()); });
    return d;
  }();
  return dir;
}

// Writes bytes to scratch()/name (folders made as needed); returns the path.
inline std::string write_file(const std::string& name, const void* data, std::size_t size) {
  const std::string path = scratch() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}
inline std::string write_file(const std::string& name, const std::string& bytes) { return write_file(name, bytes.data(), bytes.size()); }

// Splits the input at every "\n--8<--\n" into up to `max_parts` files' contents (the last part keeps
// the rest); missing parts are absent (nullopt-like: `present` false).
struct Part {
  bool present = false;
  std::string bytes;
};
inline std::vector<Part> split_parts(const std::uint8_t* d, std::size_t n, std::size_t max_parts) {
  static const std::string sep = "\n--8<--\n";
  const std::string all(reinterpret_cast<const char*>(d), n);
  std::vector<Part> parts(max_parts);
  std::size_t start = 0;
  for (std::size_t i = 0; i < max_parts; ++i) {
    const std::size_t at = i + 1 < max_parts ? all.find(sep, start) : std::string::npos;
    parts[i].present = true;
    parts[i].bytes = all.substr(start, at == std::string::npos ? std::string::npos : at - start);
    if (at == std::string::npos) break;
    start = at + sep.size();
  }
  return parts;
}

// Runs f; core::InputError (the parser's way of saying "bad input") is fine, anything else escapes.
template <class F>
void expect_input_errors(F&& f) {
  try {
    f();
  } catch (const pesuite::core::InputError& e) {
    if (std::getenv("PESUITE_FUZZ_VERBOSE")) std::fprintf(stderr, "InputError: %s\n", e.what());
  }
}

// Starts each input from an empty scratch folder (files of the previous input gone).
inline void clear_scratch() {
  for (const auto& e : std::filesystem::directory_iterator(scratch())) pesuite::core::remove_tree(e.path().string());
}

}  // namespace pesuite::fuzz
