#pragma once
// Which rank this process is, for code that must write once per run (run folders, metrics, results
// files): torch-free, so such code need not include LibTorch. distributed.h has the process group.
//
//   if (pesuite::core::dist::is_writer()) write_file_atomic(run.file("results.json"), text);
//   path = pesuite::core::dist::share_from_rank0("run_dir", path);   // rank 0's path on every rank
#include <string>

namespace pesuite::core::dist {

bool is_distributed();  // a process group exists (the first call sets the world up: distributed.h)
bool is_writer();       // rank 0, or a single process
// Rank 0's `value` on every rank (every rank calls it, in the same order); `value` without a world.
std::string share_from_rank0(const std::string& key, const std::string& value);

}  // namespace pesuite::core::dist
