#include "pesuite/core/append_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pesuite/core/atomic_file.h"
#include "pesuite/core/error.h"

namespace pesuite::core {
namespace {

std::string errno_text() { return std::strerror(errno); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

}  // namespace

std::string describe_torn_line(const std::string& path, const std::string& tail) {
  std::string shown = tail.substr(0, 60);
  for (auto& c : shown)
    if (static_cast<unsigned char>(c) < 32) c = ' ';
  return path + ": dropped a torn last line (" + std::to_string(tail.size()) + " bytes, '" + shown +
         (tail.size() > 60 ? "...'" : "'") + ") left by an interrupted write";
}

std::string LogLines::describe_torn_tail(const std::string& path) const {
  return describe_torn_line(path, torn_tail) + "; " + std::to_string(lines.size()) + " complete line(s) kept";
}

LogLines read_lines(const std::string& path) {
  LogLines out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return out;
  const std::string text = read_file(path);
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.lines.push_back(text.substr(start, nl - start));
  out.torn_tail = text.substr(start);
  return out;
}

std::string append_line(const std::string& path, const std::string& line, bool sync) {
  Fd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw InputError(path + ": cannot open for appending: " + errno_text());
  // A torn tail (the file does not end in '\n'): cut it back to the last complete line.
  std::string dropped;
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size < 0) throw InputError(path + ": cannot seek: " + errno_text());
  if (size > 0) {
    char last = 0;
    if (::pread(fd.get(), &last, 1, size - 1) != 1) throw InputError(path + ": read failed: " + errno_text());
    if (last != '\n') {
      off_t keep = size;
      std::string tail;
      char buf[4096];
      while (keep > 0) {  // scan backwards for the last '\n'
        const off_t from = keep > static_cast<off_t>(sizeof buf) ? keep - static_cast<off_t>(sizeof buf) : 0;
        const auto n = ::pread(fd.get(), buf, static_cast<std::size_t>(keep - from), from);
        if (n != keep - from) throw InputError(path + ": read failed: " + errno_text());
        std::size_t i = static_cast<std::size_t>(n);
        while (i > 0 && buf[i - 1] != '\n') --i;
        tail.insert(0, buf + i, static_cast<std::size_t>(n) - i);
        if (i > 0) {
          keep = from + static_cast<off_t>(i);
          break;
        }
        keep = from;
      }
      if (::ftruncate(fd.get(), keep) != 0) throw InputError(path + ": cannot cut a torn last line: " + errno_text());
      dropped = tail;
    }
  }
  const std::string whole = line + "\n";
  const char* p = whole.data();
  std::size_t left = whole.size();
  while (left > 0) {
    const ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(path + ": write failed: " + errno_text());
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (sync && ::fdatasync(fd.get()) != 0) throw InputError(path + ": fsync failed: " + errno_text());
  if (::close(fd.release()) != 0) throw InputError(path + ": close failed: " + errno_text());
  return dropped;
}

}  // namespace pesuite::core
