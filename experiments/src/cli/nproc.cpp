// `pesuite --nproc N <command ...>`: N ranks of this program on this machine, as torchrun would
// start them (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), then waits for them. Rank 0
// prints here; rank k > 0 writes to <logs>/rank<k>.log. When a rank fails, the others are given the
// collective timeout to fail on their own (a dead peer breaks their next collective at once), then
// stopped; the report names the rank, how it ended and its last line. Torch-free on purpose.
#include "nproc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "pesuite/core/launch.h"
#include "pesuite/core/parse.h"

namespace pesuite::cli {
namespace {

// A port the kernel has just handed out on loopback (free now; the rendezvous binds it right after).
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 29500;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 29500;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

struct Rank {
  pid_t pid = -1;
  int out = -1, err = -1;  // read ends of its stdout and stderr (one pipe for both on ranks > 0)
  std::ofstream log;      // ranks > 0
  std::string partial;    // text after its last line break
  std::string last_line;  // last non-empty line
  std::optional<int> status;
  bool stopped_here = false;  // this launcher sent it SIGTERM / SIGKILL (after another rank failed)
};

void take_output(Rank& r, int rank, int fd, const char* data, std::size_t n) {
  if (rank == 0) {  // rank 0's stdout and stderr are ours
    std::FILE* to = fd == r.err ? stderr : stdout;
    std::fwrite(data, 1, n, to);
    std::fflush(to);
  } else {
    r.log.write(data, static_cast<std::streamsize>(n));
    r.log.flush();
  }
  for (std::size_t i = 0; i < n; ++i) {
    const char c = data[i];
    if (c == '\n' || c == '\r') {
      if (!r.partial.empty()) r.last_line = r.partial;
      r.partial.clear();
    } else {
      r.partial += c;
    }
  }
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "ended (status " + std::to_string(status) + ")";
}

bool failed(int status) { return !(WIFEXITED(status) && WEXITSTATUS(status) == 0); }

// The global options before the command (--threads N, --nproc N / --nproc=N, other --flags):
// where the command starts, and where --nproc is (its value and how many words it takes).
struct GlobalOptions {
  std::size_t command = 0;  // args.size() when there is none
  std::size_t nproc_at = 0, nproc_words = 0;  // nproc_words 0: no --nproc
  std::string nproc_value;
};

GlobalOptions global_options(const std::vector<std::string>& args) {
  GlobalOptions g;
  std::size_t i = 1;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--nproc" || a.rfind("--nproc=", 0) == 0) {
      if (g.nproc_words > 0) {  // the first one counts; a second is left to the command line's parser
        if (a == "--nproc") ++i;
        continue;
      }
      g.nproc_at = i;
      if (a != "--nproc") {
        g.nproc_value = a.substr(8);
        g.nproc_words = 1;
      } else {
        if (i + 1 >= args.size()) throw NprocError("--nproc needs a number of processes");
        g.nproc_value = args[++i];
        g.nproc_words = 2;
      }
    } else if (a == "--threads") {
      ++i;
    } else if (a.rfind("-", 0) != 0) {
      break;  // the command: options after it are its own
    }
  }
  g.command = i;
  return g;
}

}  // namespace

std::optional<int> take_nproc_option(std::vector<std::string>& args) {
  const auto g = global_options(args);
  if (g.nproc_words == 0) return std::nullopt;
  const auto n = core::parse_int(g.nproc_value);
  if (!n || *n < 1 || *n > 1024) throw NprocError("--nproc " + g.nproc_value + ": must be a whole number of processes in [1, 1024]");
  const auto at = args.begin() + static_cast<std::ptrdiff_t>(g.nproc_at);
  args.erase(at, at + static_cast<std::ptrdiff_t>(g.nproc_words));
  return static_cast<int>(*n);
}

bool runs_distributed(const std::vector<std::string>& args) {
  const auto g = global_options(args);
  std::size_t sub = g.command + 1;  // the subcommand: the next word after the command
  while (sub < args.size() && args[sub].rfind("-", 0) == 0) ++sub;
  if (sub >= args.size()) return false;
  const auto& c = args[g.command];
  return ((c == "vision" || c == "graph" || c == "clip" || c == "vlm") && args[sub] == "train") || (c == "vlm" && args[sub] == "pin") ||
         (c == "bench" && args[sub] == "vit");  // the data-parallel step's speed
}

int run_nproc(int nproc, const std::vector<std::string>& args) {
  const auto timeout_s = core::dist::timeout_from_environment().count();  // the ranks' own (InputError when malformed)
  const char* addr_env = std::getenv("MASTER_ADDR");
  const std::string addr = addr_env != nullptr && *addr_env != '\0' ? addr_env : "127.0.0.1";
  const char* port_env = std::getenv("MASTER_PORT");
  const std::string port = port_env != nullptr && *port_env != '\0' ? port_env : std::to_string(free_loopback_port());
  const char* logs_env = std::getenv("PESUITE_NPROC_LOGS");
  const std::string logs = logs_env != nullptr && *logs_env != '\0'
                               ? logs_env
                               : (std::filesystem::temp_directory_path() / ("pesuite-nproc-" + std::to_string(::getpid()))).string();
  std::error_code ec;
  std::filesystem::create_directories(logs, ec);
  if (ec) {
    std::cerr << "error: --nproc: cannot create the log folder " << logs << " (" << ec.message() << ")\n";
    return 2;
  }
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  std::vector<Rank> ranks(static_cast<std::size_t>(nproc));
  std::cerr << "pesuite --nproc " << nproc << ": ranks 0-" << nproc - 1 << ", rendezvous " << addr << ":" << port
            << "; rank 0 prints here, rank k logs to " << logs << "/rank<k>.log\n";
  for (int r = 0; r < nproc; ++r) {
    int out[2], err[2] = {-1, -1};
    if (::pipe(out) != 0 || (r == 0 && ::pipe(err) != 0)) {
      std::cerr << "error: --nproc: pipe: " << std::strerror(errno) << "\n";
      return 1;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::cerr << "error: --nproc: fork: " << std::strerror(errno) << "\n";
      return 1;
    }
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::dup2(r == 0 ? err[1] : out[1], 2);
      for (int fd : {out[0], out[1], err[0], err[1]})
        if (fd >= 0) ::close(fd);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", addr.c_str(), 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "error: --nproc: cannot start %s: %s\n", args[0].c_str(), std::strerror(errno));
      ::_exit(127);
    }
    ::close(out[1]);
    if (err[1] >= 0) ::close(err[1]);
    auto& rk = ranks[static_cast<std::size_t>(r)];
    rk.pid = pid;
    rk.out = out[0];
    rk.err = err[0];
    if (r > 0) rk.log.open(logs + "/rank" + std::to_string(r) + ".log", std::ios::trunc);
    std::cerr << "rank " << r << ": pid " << pid << "\n";
  }

  using clock = std::chrono::steady_clock;
  std::optional<int> first_failure;
  std::optional<clock::time_point> stop_by;
  bool terminated = false, killed = false;
  int running = nproc;
  char buf[65536];
  auto open_pipes = [&] {
    return std::any_of(ranks.begin(), ranks.end(), [](const Rank& r) { return r.out >= 0 || r.err >= 0; });
  };
  while (running > 0 || open_pipes()) {
    std::vector<pollfd> pfds;
    std::vector<int> who;
    for (int r = 0; r < nproc; ++r)
      for (int fd : {ranks[static_cast<std::size_t>(r)].out, ranks[static_cast<std::size_t>(r)].err})
        if (fd >= 0) {
          pfds.push_back({fd, POLLIN, 0});
          who.push_back(r);
        }
    if (!pfds.empty()) ::poll(pfds.data(), pfds.size(), 200);
    else ::usleep(200 * 1000);
    for (std::size_t i = 0; i < pfds.size(); ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& rk = ranks[static_cast<std::size_t>(who[i])];
      const ssize_t n = ::read(pfds[i].fd, buf, sizeof buf);
      if (n > 0) {
        take_output(rk, who[i], pfds[i].fd, buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(pfds[i].fd);
        (pfds[i].fd == rk.out ? rk.out : rk.err) = -1;
        if (!rk.partial.empty()) rk.last_line = rk.partial;
      }
    }
    int status = 0;
    pid_t done;
    while ((done = ::waitpid(-1, &status, WNOHANG)) > 0) {
      for (int r = 0; r < nproc; ++r) {
        auto& rk = ranks[static_cast<std::size_t>(r)];
        if (rk.pid != done) continue;
        rk.status = status;
        --running;
        if (failed(status) && !first_failure) {
          first_failure = r;
          // The others: a dead peer breaks their next collective, a hung one is noticed within the timeout.
          stop_by = clock::now() + std::chrono::seconds(timeout_s + 15);
        }
      }
    }
    if (stop_by && running > 0) {
      const auto now = clock::now();
      if (!terminated && now >= *stop_by) {
        for (auto& rk : ranks)
          if (!rk.status) ::kill(rk.pid, SIGTERM), rk.stopped_here = true;
        terminated = true;
        stop_by = now + std::chrono::seconds(5);
      } else if (terminated && !killed && now >= *stop_by) {
        for (auto& rk : ranks)
          if (!rk.status) ::kill(rk.pid, SIGKILL), rk.stopped_here = true;
        killed = true;
      }
    }
  }
  if (!first_failure) return 0;
  // The rank to name: the cause, not the first one reaped (waitpid returns zombies oldest child
  // first, so rank 0 whose collective broke can come before rank 1 that was killed). A rank killed
  // by a signal this launcher did not send is the cause; else one that ended on its own with an
  // error of its own rather than a broken collective (World::fail's wording); else the first
  // reaped (a hung rank: its peer's timeout is the report, the hung one was stopped here).
  // Looked at in this order: the first reaped, then by rank; only failed ranks this launcher did
  // not stop qualify.
  std::vector<int> candidates{*first_failure};
  for (int r = 0; r < nproc; ++r) candidates.push_back(r);
  auto pick = [&](const std::function<bool(const Rank&)>& is_cause) -> std::optional<int> {
    for (int r : candidates) {
      const auto& rk = ranks[static_cast<std::size_t>(r)];
      if (rk.status && failed(*rk.status) && !rk.stopped_here && is_cause(rk)) return r;
    }
    return std::nullopt;
  };
  auto cause = pick([](const Rank& rk) { return WIFSIGNALED(*rk.status); });
  if (!cause) cause = pick([](const Rank& rk) { return rk.last_line.find("another rank may have died") == std::string::npos; });
  const int f = cause.value_or(*first_failure);
  const auto& fr = ranks[static_cast<std::size_t>(f)];
  std::cerr << "error: --nproc " << nproc << ": rank " << f << " (pid " << fr.pid << ") " << describe(*fr.status);
  std::cerr << "; its last line: " << (fr.last_line.empty() ? "(none)" : "'" + fr.last_line + "'");
  if (f > 0) std::cerr << " (" << logs << "/rank" << f << ".log)";
  std::cerr << "\n";
  for (int r = 0; r < nproc; ++r) {
    const auto& rk = ranks[static_cast<std::size_t>(r)];
    if (r == f || !rk.status || !failed(*rk.status)) continue;
    std::cerr << "  rank " << r << " " << describe(*rk.status) << (rk.last_line.empty() ? "" : ": " + rk.last_line) << "\n";
  }
  const int st = *fr.status;
  return WIFEXITED(st) && WEXITSTATUS(st) > 0 && WEXITSTATUS(st) < 126 ? WEXITSTATUS(st) : 1;
}

}  // namespace pesuite::cli
