#pragma once
// Lookup in the suite's registry tables (formats, encodings, models, pipelines, ...): each is an
// explicit std::vector of rows with a `name`, and every lookup by name goes through here, so an
// unknown name is always the same InputError listing the valid ones.
//
//   const Format& f = core::find_row(formats(), "voc", "dataset format");
//   // InputError: dataset format 'vok' is unknown (valid: tu, ogb, ..., voc, coco)
#include <string>
#include <vector>

#include "pesuite/core/error.h"
#include "pesuite/core/params.h"

namespace pesuite::core {

template <class Row>
std::vector<std::string> row_names(const std::vector<Row>& rows) {
  std::vector<std::string> names;
  for (const auto& r : rows) names.push_back(r.name);
  return names;
}

template <class Row>
const Row& find_row(const std::vector<Row>& rows, const std::string& name, const std::string& what) {
  for (const auto& r : rows)
    if (r.name == name) return r;
  throw InputError(what + " '" + name + "' is unknown (valid: " + join_names(row_names(rows)) + ")");
}

}  // namespace pesuite::core
