// Rows of `pesuite list pes` and `pesuite list models`. Each frontend contributes its registry here.
#include "cli.h"

namespace pesuite::cli {

std::vector<CatalogueEntry> pe_catalogue() {
  std::vector<CatalogueEntry> rows;
  return rows;
}

std::vector<CatalogueEntry> model_catalogue() {
  std::vector<CatalogueEntry> rows;
  return rows;
}

}  // namespace pesuite::cli
