#include "pesuite/core/publish_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "pesuite/core/error.h"

namespace pesuite::core {

std::string temporary_path_for(const std::string& path) {
  std::random_device rd;
  return path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
}

void publish_file(const std::string& tmp_path, const std::string& path) {
  const int fd = ::open(tmp_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(tmp_path + ": was not written (" + std::strerror(errno) + "), so " + path + " is not either");
  const bool synced = ::fsync(fd) == 0;
  const std::string why = synced ? "" : std::strerror(errno);
  ::close(fd);
  if (!synced || ::rename(tmp_path.c_str(), path.c_str()) != 0) {
    const std::string err = synced ? std::string(std::strerror(errno)) : why;
    ::unlink(tmp_path.c_str());
    throw InputError(path + ": cannot publish " + tmp_path + ": " + err);
  }
}

}  // namespace pesuite::core
