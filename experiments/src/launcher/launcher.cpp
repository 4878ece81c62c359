// The `pesuite` command: a launcher that sets OMP_WAIT_POLICY=PASSIVE (unless the user set it) and
// runs the real program, pesuite-engine, from the same folder, with the same arguments.
//
// Why a launcher: OpenMP threads that busy-wait between torch's parallel regions steal the cores
// OpenBLAS needs (measured on 2 cores: a small ViT trains 5x slower). libgomp reads
// OMP_WAIT_POLICY once, in its constructor, when LibTorch loads it, so the variable must be in the
// environment when that process starts. The engine cannot set it for itself: an entry in its
// .preinit_array runs before libc has set up `environ`, which libc then resets, and re-executing
// the engine cost a second LibTorch load (0.3 s of every command). This program links nothing but
// libc: the extra exec costs about a millisecond.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  (void)argc;
  const char* given = std::getenv("OMP_WAIT_POLICY");
  if (!given || !*given) ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    std::fprintf(stderr, "error: internal failure: cannot find the pesuite executable (/proc/self/exe: %s)\n", std::strerror(errno));
    return 1;
  }
  self[n] = '\0';
  std::string dir(self);
  dir = dir.substr(0, dir.rfind('/'));
  const std::string engine = dir + "/pesuite-engine";
  argv[0] = const_cast<char*>(engine.c_str());
  ::execv(engine.c_str(), argv);
  std::fprintf(stderr, "error: internal failure: cannot run %s: %s\n", engine.c_str(), std::strerror(errno));
  return 1;
}
