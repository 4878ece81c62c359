#pragma once
// Where this process stands in a data-parallel run, from the environment (torch-free, so the
// `--nproc` launcher reads the same variables and defaults as the ranks it starts):
//
//   RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT   (torchrun, or set by hand)
//   SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID                  (srun; MASTER_ADDR/PORT as above,
//                                                                 127.0.0.1:29500 by default)
//   PESUITE_DIST_TIMEOUT_S                                        (collective and rendezvous timeout)
//
//   auto l = pesuite::core::dist::launch_from_environment();   // l.world_size, l.rank, l.timeout
//   auto t = pesuite::core::dist::timeout_from_environment();  // the timeout alone
#include <chrono>
#include <string>

namespace pesuite::core::dist {

// The collective and rendezvous timeout without PESUITE_DIST_TIMEOUT_S.
constexpr int kDefaultTimeoutSeconds = 300;

// Where this process stands, from the environment. InputError (naming the variable) when a value
// is malformed or inconsistent (rank outside the world, a port out of range).
struct Launch {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::seconds timeout{kDefaultTimeoutSeconds};
  std::string source = "single process";  // "torchrun-style variables" | "Slurm" | "single process"
  bool launched = false;  // the variables are set: a process group even at world size 1 (as torch's DDP)
};
Launch launch_from_environment();

// PESUITE_DIST_TIMEOUT_S (1 s to a week), kDefaultTimeoutSeconds when unset; InputError when malformed.
std::chrono::seconds timeout_from_environment();

}  // namespace pesuite::core::dist
