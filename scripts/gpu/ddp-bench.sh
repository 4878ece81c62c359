#!/usr/bin/env bash
# The data-parallel training step on the GPU machine (issue 19, results/ddp-overhead), side by side
# in one call: `pesuite bench vit` in one process and as `--nproc N` ranks (core::dist::GradientSync
# over NCCL), PyTorch eager alone and as DDP under torchrun (scripts/reference/bench_vit.py --ddp).
# Synthetic images on the device, no data pipeline and no per-step host read: the figures measure
# the step and its gradient all-reduce, nothing else. Sides alternate, ROUNDS times; then one
# Kineto trace per pesuite side and kernel tables (scripts/gpu/kernel_table.py) of what the
# `--nproc 1` step adds. With 2 or more GPUs also world size 2 on both sides (the scaling).
#   usage: bash scripts/gpu/ddp-bench.sh OUT      carry: .device-sysroot
#   env:   BUDGET (seconds for the whole call, default 400), MODEL (deit_small_patch16), BATCH (256,
#          per rank), ROUNDS (3), STEPS (20), WARMUP (5), REPEATS (3), FAST ("" or 1: --fast-path on
#          the pesuite sides), NO_GRAPHS (1: leave out the --cuda-graphs sides), IMG (224), SKIP_BUILD (1: use build-cuda as it is; to try the script
#          out on a CPU machine: a link build-cuda -> build, MODEL=vit_tiny_patch4_28 IMG=28)
# OUT gets runs.jsonl (one JSON line per run, its side in "side"), results.md (medians and ratios),
# traces/ and kernels-*.txt, steps.log.
set -u -o pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: $0 OUT}
mkdir -p "$out/traces"
out=$(cd "$out" && pwd)
t_start=$(date +%s)
BUDGET=${BUDGET:-400}
deadline=$((t_start + BUDGET - 10))
left() { echo $((deadline - $(date +%s))); }
log() { echo "[$(( $(date +%s) - t_start )) s] $*" | tee -a "$out/steps.log"; }
source scripts/gpu/env.sh
b=$PWD/build-cuda
p=$b/experiments/pesuite
if [ "${SKIP_BUILD:-}" != 1 ]; then
  log "configure + build pesuite (CUDA)"
  cmake -S . -B "$b" "${cuda_configure[@]}" >"$out/configure.log" 2>&1 || { log "configure failed"; tail -20 "$out/configure.log"; exit 1; }
  cmake --build "$b" --parallel "$(nproc)" --target pesuite >"$out/build.log" 2>&1 || { log "build failed"; grep -E "error|FAILED" "$out/build.log" | head -20; exit 1; }
fi
model=${MODEL:-deit_small_patch16}
once=(--model "$model" --batch "${BATCH:-256}" --img "${IMG:-224}" --amp bf16 --skip-infer --steps "${STEPS:-20}" --warmup "${WARMUP:-5}")
common=("${once[@]}" --repeats "${REPEATS:-3}")
once+=(--repeats 1)  # the traced runs: their figures are not used
fast=()
[ -n "${FAST:-}" ] && fast=(--fast-path)
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
log "$gpus GPU(s); model $model; rounds ${ROUNDS:-3}"
# side NAME CMD...: one run, its JSON line tagged with the side, appended to runs.jsonl
side() {
  local name=$1; shift
  [ "$(left)" -lt 30 ] && { log "skip $name: budget"; return; }
  local line
  line=$(timeout "$(left)" "$@" 2>>"$out/stderr.log" | tail -n 1)
  if [[ $line == \{* ]]; then
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["side"]=sys.argv[2]; print(json.dumps(d))' "$line" "$name" >>"$out/runs.jsonl"
    log "$name: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(d["train_img_s_all_ranks"]), "img/s", d.get("graph_error", ""))' "$line")"
  else
    log "$name: no JSON (stderr.log)"
  fi
}
ref=scripts/reference/bench_vit.py
torchrun=(python3 -m torch.distributed.run --standalone)
for r in $(seq "${ROUNDS:-3}"); do
  side pesuite "$p" bench vit --json "${common[@]}" "${fast[@]}"
  side pesuite-nproc1 "$p" --nproc 1 bench vit --json "${common[@]}" "${fast[@]}"
  side pytorch python3 "$ref" "${common[@]}"
  side pytorch-ddp1 "${torchrun[@]}" --nproc_per_node 1 "$ref" "${common[@]}" --ddp
  if [ -z "${NO_GRAPHS:-}" ]; then  # whole-step CUDA graphs, the all-reduces captured with the step
    side pesuite-graphs "$p" bench vit --json "${common[@]}" "${fast[@]}" --cuda-graphs
    side pesuite-nproc1-graphs "$p" --nproc 1 bench vit --json "${common[@]}" "${fast[@]}" --cuda-graphs
  fi
  if [ "$gpus" -ge 2 ]; then
    side pesuite-nproc2 "$p" --nproc 2 bench vit --json "${common[@]}" "${fast[@]}"
    side pytorch-ddp2 "${torchrun[@]}" --nproc_per_node 2 "$ref" "${common[@]}" --ddp
  fi
done
# Where the --nproc 1 step's time goes: one trace per side, and the kernel table of the two.
if [ "$(left)" -gt 40 ]; then
  side pesuite-profile "$p" bench vit --json "${once[@]}" "${fast[@]}" --profile "$out/traces/plain"
  side pesuite-nproc1-profile "$p" --nproc 1 bench vit --json "${once[@]}" "${fast[@]}" --profile "$out/traces/nproc1"
  [ -f "$out/traces/nproc1-train.json" ] && [ -f "$out/traces/plain-train.json" ] &&
    python3 scripts/gpu/kernel_table.py "$out/traces/nproc1-train.json" "$out/traces/plain-train.json" --steps 5 --top 40 >"$out/kernels-nproc1-vs-plain.txt" 2>&1
fi
python3 - "$out" <<'EOF' >"$out/results.md"
import collections, json, statistics, sys
out = sys.argv[1]
runs = [json.loads(l) for l in open(f"{out}/runs.jsonl")] if __import__("os").path.exists(f"{out}/runs.jsonl") else []
by = collections.defaultdict(list)
for r in runs:
    if not r["side"].endswith("-profile"):
        by[r["side"]].append(r["train_img_s_all_ranks"])
print("| side | runs | img/s (all ranks), each | median |")
print("|---|---|---|---|")
for s, v in by.items():
    print(f"| {s} | {len(v)} | {', '.join(f'{x:,.0f}' for x in v)} | {statistics.median(v):,.0f} |")
print()
def ratio(a, b, what):
    if by.get(a) and by.get(b):
        pairs = [x / y for x, y in zip(by[a], by[b])]
        print(f"- {what}: {a} / {b} = {statistics.median(by[a]) / statistics.median(by[b]):.3f} (medians); "
              f"paired by round: {', '.join(f'{x:.3f}' for x in pairs)}")
ratio("pesuite-nproc1", "pesuite", "pesuite's world-size-1 cost")
ratio("pytorch-ddp1", "pytorch", "PyTorch DDP's world-size-1 cost")
ratio("pesuite-nproc1", "pytorch-ddp1", "world size 1, pesuite against PyTorch DDP")
ratio("pesuite-nproc1-graphs", "pesuite-graphs", "pesuite's world-size-1 cost with CUDA graphs")
ratio("pesuite-nproc1-graphs", "pytorch-ddp1", "world size 1 with CUDA graphs, pesuite against PyTorch DDP")
ratio("pesuite-nproc2", "pesuite", "pesuite from 1 to 2 GPUs")
ratio("pytorch-ddp2", "pytorch", "PyTorch DDP from 1 to 2 GPUs")
ratio("pesuite-nproc2", "pytorch-ddp2", "world size 2, pesuite against PyTorch DDP")
EOF
log "done"
cat "$out/results.md"
