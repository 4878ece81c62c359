// Number formatting shared by the experiments library's files (tables, pipelines).
//   fixed(3.14159, 2) == "3.14"
#pragma once

#include <iomanip>
#include <sstream>
#include <string>

namespace pesuite::experiments {

inline std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

}  // namespace pesuite::experiments
