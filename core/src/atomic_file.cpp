#include "pesuite/core/atomic_file.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "pesuite/core/error.h"

namespace pesuite::core {
namespace fs = std::filesystem;

static std::string errno_text() { return std::strerror(errno); }

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  fs::path target(path_);
  fs::path dir = target.parent_path();
  if (!dir.empty()) make_dirs(dir.string());
  if (fs::is_directory(target)) throw InputError(path_ + ": is a directory, expected a file path");
  std::random_device rd;
  tmp_path_ = path_ + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError(path_ + ": cannot create file: " + errno_text());
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void AtomicFile::write(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(path_ + ": write failed: " + errno_text());
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) throw InputError(path_ + ": fsync failed: " + errno_text());
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw InputError(path_ + ": close failed: " + errno_text());
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw InputError(path_ + ": rename failed: " + errno_text());
  committed_ = true;
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  AtomicFile f(path);
  f.write(contents);
  f.commit();
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path + ": no such file");
  if (fs::is_directory(path, ec)) throw InputError(path + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open: " + errno_text());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(path + ": read failed");
  return ss.str();
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_directory(path, ec))
    throw InputError(path + ": exists and is not a directory");
  fs::create_directories(path, ec);
  if (ec) throw InputError(path + ": cannot create directory: " + ec.message());
}

void remove_tree(const std::string& path) {
  auto remove_entry = [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); };
  ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace pesuite::core
