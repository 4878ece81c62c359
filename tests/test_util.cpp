#include "test_util.h"

#include <fstream>
#include <sstream>

namespace pesuite::test {

static std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CliResult run_cli(const std::string& args) {
  const char* cli = std::getenv("PESUITE_CLI");
  if (!cli) throw std::runtime_error("PESUITE_CLI is not set (run the tests through ctest)");
  TempDir tmp;
  const std::string out = tmp / "out", err = tmp / "err";
  const std::string cmd = std::string(cli) + " " + args + " >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace pesuite::test
