#!/usr/bin/env bash
# Fuzzes every parser with libFuzzer (fuzz/*.cpp; clang, ASan + UBSan), each target for SECONDS over
# its corpus: seeds cut from ../shared/data and written by fuzz/make_seeds.py, plus whatever
# earlier runs added (build-fuzz/corpus/, kept between runs) and the regression inputs under
# tests/fuzz/<target>/ (every crash found so far; each must now parse or fail with an InputError).
# A finding is saved to build-fuzz/findings/<target>/ and makes the script exit 1.
#   usage: scripts/fuzz.sh [SECONDS] [TARGET...]    (default 60 s per target, all targets)
#          scripts/fuzz.sh --ci                     (CI: 4000 inputs per target from a fixed seed, then every
#                                                    regression input; about 2 minutes)
# Needs the main build (build/, scripts/setup.sh; or PESUITE_FUZZ_MAIN_BUILD=<another build tree of
# the same sources>) and clang with libFuzzer (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=60 ci=0
if [ "${1:-}" = "--ci" ]; then ci=1 secs=6; shift; fi
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then secs=$1; shift; fi
want=("$@")

if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: installing clang and libFuzzer"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang libclang-rt-dev >/dev/null 2>&1 ||
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
fi

t0=$SECONDS
# The fuzz project links the main build's libraries (fuzz/CMakeLists.txt says why).
main_build=${PESUITE_FUZZ_MAIN_BUILD:-$PWD/build}
if [ -z "${PESUITE_FUZZ_MAIN_BUILD:-}" ]; then
  [ -f build/build.ninja ] || bash scripts/setup.sh
  cmake --build build --parallel "$(nproc)" --target pesuite_datasets pesuite_imageio >/dev/null
fi
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
CXX=clang++ cmake -S fuzz -B build-fuzz "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPESUITE_BUILD_DIR="$main_build" >/dev/null
nice -n "${PESUITE_NICE:-10}" cmake --build build-fuzz --parallel "$(nproc)" >/dev/null
echo "fuzz: built in $((SECONDS - t0)) s"

read -r -a targets < <(tr ";" " " < build-fuzz/targets.txt; echo) # the file has no final newline: without echo, read fails at EOF
[ ${#want[@]} -gt 0 ] && targets=("${want[@]}")
seeds=build-fuzz/seeds
rm -rf "$seeds"
/usr/bin/python3 fuzz/make_seeds.py "$seeds" "${PESUITE_TEST_DATA:-$PWD/../shared/data}" >/dev/null
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
printf '%-14s %10s %8s %6s %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t findings=build-fuzz/findings/$t
  mkdir -p "$corpus" "$findings"
  dirs=("$corpus")
  [ -d "$seeds/$t" ] && dirs+=("$seeds/$t")
  [ -d "tests/fuzz/$t" ] && dirs+=("tests/fuzz/$t")
  log=build-fuzz/$t.log
  rc=0
  # -rss_limit_mb / -malloc_limit_mb: a parser that believes a header and allocates gigabytes is a finding.
  # CI: a fixed number of inputs from a fixed seed (the same run every time, bounded by `timeout`);
  # otherwise SECONDS of fuzzing.
  if [ "$ci" = 1 ]; then budget=(-runs="${PESUITE_FUZZ_RUNS:-4000}" -seed=18); else budget=(-max_total_time="$secs"); fi
  timeout $((secs * 10 + 60)) "build-fuzz/fuzz_$t" "${dirs[@]}" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -max_len=65536 -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  rate=$(grep -m1 '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
  size=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then result=clean; else result="FINDING: $(ls -t "$findings" | head -1) (see $log)"; status=1; fi
  printf '%-14s %10s %8s %6s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$size" "$result"
done
if [ "$ci" = 1 ] && [ -d tests/fuzz ]; then
  # Every saved regression input once more, alone (a crash found earlier must stay fixed).
  for d in tests/fuzz/*/; do
    t=$(basename "$d")
    [ -x "build-fuzz/fuzz_$t" ] || continue
    "build-fuzz/fuzz_$t" "$d"* >/dev/null 2>&1 || { echo "regression input of $t fails again: $d"; status=1; }
  done
fi
echo "fuzz: $((SECONDS - t0)) s in all"
exit $status
