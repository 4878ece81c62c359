#!/usr/bin/env bash
# Builds the CPU suite with AddressSanitizer + UndefinedBehaviorSanitizer (-DPESUITE_SANITIZE=ON, in
# build-asan/) and runs its tests: any memory error, leak-free use-after-free, overflow or undefined
# behaviour in pesuite's code fails the test that hit it (halt_on_error).
#   usage: scripts/sanitize.sh [ctest -R regex]       e.g. scripts/sanitize.sh 'test_core|test_datasets'
# Slow: everything is compiled again (about 3x a Release build) and runs 2-5x slower. Leak checking
# is off (LibTorch's and OpenMP's one-time allocations at exit are reported as leaks).
set -euo pipefail
cd "$(dirname "$0")/.."
regex=${1:-.}
nice_level=${PESUITE_NICE:-15}
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPESUITE_SANITIZE=ON >/dev/null
# Build only the test executables the regex selects (and what they need).
# (The target list is read once: `ninja -t targets | grep -q` under pipefail failed on grep's early exit.)
known=$(ninja -C build-asan -t targets all | cut -d: -f1)
targets=$(cd build-asan && ctest -N -R "$regex" | sed -nE 's/^ *Test +#[0-9]+: ([A-Za-z0-9_]+)$/\1/p' |
  while read -r t; do if grep -qx "$t" <<<"$known"; then echo "$t"; fi; done | tr '\n' ' ')
# ctest entries whose executable has another name: python_safetensors_interop runs safetensors_interop.
if grep -qx safetensors_interop <<<"$known" && [ -n "$(cd build-asan && ctest -N -R "$regex" | grep python_safetensors_interop)" ]; then
  targets="$targets safetensors_interop"
fi
[ -n "${targets// /}" ] || targets=all
nice -n "$nice_level" ninja -C build-asan -j "$(nproc)" $targets pesuite
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:detect_odr_violation=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd build-asan
nice -n "$nice_level" ctest --output-on-failure -R "$regex" -E 'consumer_package|python_clip_convert'
