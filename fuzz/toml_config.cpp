// TOML configs (core/src/config.cpp, toml++): parse, and what parsed writes back and re-parses equal.
#include "fuzz_util.h"
#include "pesuite/core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* d, std::size_t n) {
  const std::string text(reinterpret_cast<const char*>(d), n);
  pesuite::fuzz::expect_input_errors([&] {
    const auto cfg = pesuite::core::Config::from_toml_string(text, "fuzz.toml");
    const std::string out = cfg.to_toml();
    const auto again = pesuite::core::Config::from_toml_string(out, "round-trip");
    if (again.to_toml() != out) __builtin_trap();
  });
  return 0;
}
