#!/usr/bin/env bash
# One device-tool call that builds pesuite with CUDA (no tests: the build takes 60-80 s on the
# GPU machine's 16 cores, 5 s when the machine is still warm) and runs tables through
# scripts/gpu/tables.sh inside a wall budget, then packs everything into $OUT/run.tgz (the device
# tool brings back at most 8 files: the tarball holds the rest, units included).
#   usage (the device tool's command, carry [".device-sysroot", ".device-data"]):
#     BUDGET=570 TABLES="headpose-semi:4@4 clip-ablation:2" [UNITS_IN=.device-data/run/units-in] \
#       [DATA=.device-data/run] bash scripts/gpu/call.sh
#   TABLES  table:workers@threads ... (each table's workers run beside the other tables' at once)
#   BUDGET  seconds for the whole call, build included (the tables get what is left, less 25 s)
# Prepare here: scripts/device-sysroot.sh (-> .device-sysroot), the data folder DATA (see
# tables.sh: face-mesh/ and the PNG head-pose samples from scripts/gpu/headpose-samples.sh for
# headpose*, clip/ and scene-bank.safetensors for clip-* and pin), and UNITS_IN/<table>/*.json from
# an earlier call's run.tgz (w/tables/units) to continue a partial table.
set -u
t0=$(date +%s)
budget=${BUDGET:-520}
out=${OUT:?OUT: the device tool sets it}
source "$(dirname "$0")/env.sh"  # sysroot, LibTorch prefix, NCCL settings
[ -n "${UNITS_IN:-}" ] && export UNITS_IN=$(realpath "$UNITS_IN")
w=$out/w
mkdir -p "$w"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >"$w/gpu.txt" 2>&1
cmake -S . -B build-cuda "${cuda_configure[@]}" -DPESUITE_BUILD_TESTS=OFF >"$w/configure.log" 2>&1 ||
  { tail -30 "$w/configure.log"; tar czf "$out/run.tgz" -C "$out" w; exit 1; }
cmake --build build-cuda --parallel "$(nproc)" --target pesuite >"$w/build.log" 2>&1 ||
  { grep -E "error|FAILED" "$w/build.log" | head -30; tar czf "$out/run.tgz" -C "$out" w; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
left=$(( budget - ($(date +%s) - t0) - 25 ))
echo "tables limit: $left s"
for spec in ${TABLES:?TABLES: e.g. headpose-semi:4@4}; do
  table=${spec%%@*} threads=${spec#*@}
  [ "$threads" = "$spec" ] && threads=1
  THREADS=$threads bash scripts/gpu/tables.sh build-cuda "$w/tables" "$(realpath "${DATA:-.device-data/run}")" "$left" "$table" &
done
wait
echo "tables done after $(( $(date +%s) - t0 )) s"
for f in "$w"/tables/*-results.md; do [ -f "$f" ] && { echo "== $f"; head -25 "$f"; }; done
tar czf "$out/run.tgz" -C "$out" w
