#pragma once
// Whole-string parsing of the values in specs and parameters ("8", "1e-3", "true"): nullopt when
// the text is not entirely a value of that type, so each caller can say where it came from.
//
//   if (auto k = pesuite::core::parse_int(text)) use(*k); else throw InputError(place + ": not an integer");
#include <cstdint>
#include <optional>
#include <string>

namespace pesuite::core {

inline std::optional<std::int64_t> parse_int(const std::string& s) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

inline std::optional<double> parse_double(const std::string& s) {
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// Whether s ends with suffix (std::string::ends_with is C++20; the project builds as C++17).
inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// 1/true/yes and 0/false/no.
inline std::optional<bool> parse_bool(const std::string& s) {
  if (s == "1" || s == "true" || s == "yes") return true;
  if (s == "0" || s == "false" || s == "no") return false;
  return std::nullopt;
}

}  // namespace pesuite::core
