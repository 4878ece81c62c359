#pragma once
// Atomic file writes: write to a temporary beside the target, fsync, then rename over it, so that a
// reader never sees a half-written file and a failed write leaves the old file (or nothing) behind.
//
//   pesuite::core::write_file_atomic("results.csv", csv_text);
//   pesuite::core::AtomicFile f("big.bin");  f.write(buf, n);  f.commit();   // not committed -> removed
#include <cstddef>
#include <string>

namespace pesuite::core {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  void write(const std::string& text) { write(text.data(), text.size()); }
  void commit();  // flush, fsync and rename onto the target path
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, const std::string& contents);

// Whole file as bytes; InputError naming the path when it is missing, a directory or unreadable.
std::string read_file(const std::string& path);

// Creates the directory and its parents; InputError when a file is in the way.
void make_dirs(const std::string& path);

// rm -rf (no error when absent). Use this, not std::filesystem::remove_all: pip's LibTorch 2.x
// exports its own build of that symbol, which crashes programs linked against it.
void remove_tree(const std::string& path);

}  // namespace pesuite::core
