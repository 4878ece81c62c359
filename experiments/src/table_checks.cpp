// The checks of a table's claims as reported under it (tables.h: checks_text).
#include <cstdio>
#include <string>

#include "pesuite/experiments/tables.h"

namespace pesuite::experiments {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string row_text(const core::ResultsTable::Key& key) {
  std::string out;
  for (const auto& [k, v] : key) out += (out.empty() ? "" : ", ") + k + " " + v;
  return out;
}

}  // namespace

std::string checks_text(const TableSpec& t, const core::ResultsTable& table) {
  std::string out;
  for (const auto& c : t.checks) {
    const auto s = table.summary(c.row, c.column);
    if (s.n == 0) continue;
    double value = s.mean;
    std::string shown = row_text(c.row) + ": " + c.column + " " + number(s.mean);
    if (c.than) {
      const auto o = table.summary(*c.than, c.column);
      if (o.n == 0) continue;
      value = s.mean - o.mean;
      shown += " - " + number(o.mean) + " (" + row_text(*c.than) + ") = " + number(value);
    }
    const bool ok = (!c.min || value >= *c.min - 1e-9) && (!c.max || value <= *c.max + 1e-9);
    std::string bound;
    if (c.min) bound += ">= " + number(*c.min);
    if (c.max) bound += std::string(bound.empty() ? "" : " and ") + "<= " + number(*c.max);
    out += std::string("- ") + (ok ? "PASS" : "FAIL") + ": " + c.claim + " (" + shown + ", expected " + (c.than ? "a difference " : "") +
           bound + ")\n";
  }
  return out.empty() ? out : "Claims checked on this table:\n" + out;
}

}  // namespace pesuite::experiments
