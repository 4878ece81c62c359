// MatFile in a build without libmatio: every .mat is an InputError that says what is missing, so
// the rest of pesuite::datasets (and facesynth:) still builds and runs.
#include "pesuite/datasets/mat_file.h"

#include "pesuite/core/error.h"

namespace pesuite::datasets {

bool mat_support_built() { return false; }

MatFile::MatFile(const std::string& path) : path_(path) {
  throw core::InputError(path + ": this pesuite was built without libmatio, so it cannot read .mat files "
                          "(Debian: apt-get install libmatio-dev, then rebuild)");
}
MatFile::~MatFile() = default;
bool MatFile::has(const std::string&) { return false; }
MatMatrix MatFile::matrix(const std::string& name) { throw core::InputError(path_ + ": cannot read '" + name + "' without libmatio"); }

void MatMatrix::require_shape(std::size_t r, std::size_t c) const {
  if (rows != r || cols != c) throw core::InputError(file + ": '" + name + "' has the wrong shape");
}
void MatMatrix::require_finite() const {}

}  // namespace pesuite::datasets
