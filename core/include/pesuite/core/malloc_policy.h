#pragma once
// How glibc's malloc treats freed memory in a pesuite process (no torch header: the test main and
// the CLI include it).
//
//   int main() {
//     pesuite::core::keep_freed_memory();   // once, first thing (the CLI and the tests do)
//     ...
//   }
//
// Why: LibTorch's CPU allocator is plain malloc, and a training step frees and re-allocates the
// same activation and gradient buffers every step. With glibc's defaults, a loop whose heap top is
// free at the end of a step (bench vit's, PyTorch's own benchmark script) has those pages handed
// back to the kernel and faulted in again, zero-filled, in the next step: more than half of a small
// ViT's training step on 2 cores (results/vit-cpu: 2.1-2.3x the img/s once memory is kept).
// pesuite's trainer happened not to trip it; a user's loop may.
// keep_freed_memory() serves blocks up to 32 MiB from the heap instead of a fresh mmap each time
// and keeps up to 1 GiB of free heap top. The cost: the process keeps its peak heap, as a caching
// allocator would. $PESUITE_MALLOC=system leaves glibc's defaults (for comparisons).
#include <string>

namespace pesuite::core {

// Applies the policy $PESUITE_MALLOC names: "kept" (the default) or "system"; InputError for any
// other value. Meant to run once, first thing: "system" changes nothing, so only then does it mean
// glibc's defaults (after an earlier "kept" the settings stay and "system" is only recorded).
// Returns the policy it recorded.
std::string keep_freed_memory();

// What the last keep_freed_memory() recorded: "kept" or "system" ("system" before it ran).
// build_info() reports it as "malloc".
std::string malloc_policy();

}  // namespace pesuite::core
