#pragma once
// pesuite's error types, shared by every library.
//
// InputError is a problem with what the user gave us (a file, a spec, a config value); its
// message names the file and the place in it. The CLI prints it as `error: <what>` and exits 2.
// Anything else that escapes is an internal failure (exit 1).
//
//   throw pesuite::core::InputError(pesuite::core::where(path, line) + ": expected 3 columns, got 2");
#include <cstdint>
#include <stdexcept>
#include <string>

namespace pesuite::core {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "file:line" (or just "file" when line is 0): the prefix every InputError message starts with.
inline std::string where(const std::string& file, std::int64_t line = 0) {
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

}  // namespace pesuite::core
