#!/usr/bin/env bash
# The ViT fast path (issue 17, docs/gpu-fast-path.md) on the GPU machine in one call: build with
# CUDA, the kernel tests and the 200-step training check, then the speed table (ours fast / ours
# plain / PyTorch eager / torch.compile) and batch-1 latency. Everything lands in OUT as it
# finishes: build and test logs, bench/ (one JSON line per run), results.md and results.csv.
#   usage: bash scripts/gpu/vit-fast-check.sh OUT
#   carry: .device-sysroot (scripts/device-sysroot.sh; the build stage of scripts/gpu-check.sh)
#   env:   BUDGET (seconds for the whole call, default 510: what cannot finish in it is skipped and
#          marked, never cut mid-table), NVCC (default /usr/local/cuda/bin/nvcc), STEPS (20),
#          WARMUP (5), REPEATS (3), FIRST_MODELS ("deit_tiny_patch16 cpvt_tiny"), MORE_MODELS
#          ("deit_small_patch16 cpvt_small"), LATENCY_MODELS ("deit_tiny_patch16 cpvt_tiny"),
#          FMNIST (Fashion-MNIST's folder for the train stage; default .device-data/fashion-mnist,
#          then /usr/share/datasets/fashion-mnist: carry .device-data/fashion-mnist, a copy of Debian's),
#          TRAIN_EPOCHS (1), TRAIN_DEVICE (cuda; cpu only to try the stage out), TRAIN_MODES ("plain
#          fast graphs fast+graphs": train.fast_path and train.cuda_graphs off / on),
#          PROFILE_MODEL (deit_tiny_patch16), LATENCY_PROFILE ("deit_tiny_patch16 none": the model and
#          amp of the batch-1 profile), SKIP ("" or any of: build tests train first more latency
#          profile profile-latency memory), MEMORY_MODELS ("cpvt_small deit_tiny_patch16"),
#          MEMORY_PHASES ("train infer": which memory runs), MEMORY_RUNS ("fast-graphs fast recompute
#          compiled eager": which training runs of the memory stage)
# Order (most important first): build, tests, `vision train` with the fast path off / on (the
# cpvt-fmnist table's model: issue 17 asks that the tables get faster), tiny models, small models,
# latency. A build whose
# CUDA kernels fail still gives the plain / eager / compiled columns (the kernels are a library of
# their own; the fast side then runs unfused and says so: "fast kernels" False in the table).
set -u -o pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: $0 OUT}
mkdir -p "$out/bench"
out=$(cd "$out" && pwd)
t_start=$(date +%s)
BUDGET=${BUDGET:-510}
deadline=$((t_start + BUDGET - 8))  # a few seconds for the last table
left() { echo $((deadline - $(date +%s))); }
cap() { local l; l=$(left); [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; }  # min(left, $1)
SKIP=${SKIP:-}
skip() { [[ " $SKIP " == *" $1 "* ]]; }
log() { echo "[$(( $(date +%s) - t_start )) s] $*" | tee -a "$out/steps.log"; }

source scripts/gpu/env.sh  # sysroot, LibTorch prefix, NCCL settings
[ -d "$sys" ] || log "warning: no .device-sysroot here (carry it): the configure step will likely fail"
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
[ -x "$NVCC" ] && export CUDACXX=$NVCC  # what check_language(CUDA) finds
# A host g++ newer than this nvcc lists would fail check_language: accept it (errors, if any, stay
# in the kernels' own target).
export NVCC_APPEND_FLAGS="${NVCC_APPEND_FLAGS:+$NVCC_APPEND_FLAGS }-allow-unsupported-compiler"
b=$PWD/build-cuda
p=$b/experiments/pesuite
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' >"$out/env.txt" 2>&1
"$NVCC" --version >>"$out/env.txt" 2>&1
(c++ --version | head -1) >>"$out/env.txt" 2>&1
kernels="not built"
tests_summary="not run"
train_check="not run"
train_stage="not run"

write_results() {
  python3 scripts/gpu/vit_table.py "$out/bench" >/dev/null 2>&1
  {
    echo "# ViT fast path check ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(( $(date +%s) - t_start )) s of BUDGET $BUDGET)"
    echo
    echo "- git: $(git rev-parse --short=12 HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | grep -q . && echo '(with local changes)')"
    echo "- $(grep -m1 '^torch' "$out/env.txt" || echo 'torch: not importable (env.txt)'); nvcc: $(grep -m1 -o 'release [0-9.]*' "$out/env.txt" || echo '-'); $(grep -m1 -iE '^(c\+\+|g\+\+)' "$out/env.txt")"
    echo "- fused kernels library: $kernels"
    echo "- kernel tests (test_fast_path): $tests_summary"
    echo "- 200-step training check: $train_check"
    echo "- vision train, fast path off / on: $train_stage"
    echo
    [ -f "$out/train/results.md" ] && { cat "$out/train/results.md"; echo; }
    cat "$out/bench/results.md" 2>/dev/null
  } >"$out/results.md"
  cp "$out/bench/results.csv" "$out/results.csv" 2>/dev/null
}
trap write_results EXIT

if ! skip build; then
  log "configure (CUDA kernels on)"
  # Tests on explicitly: scripts/gpu/call.sh configures the same build folder without them, and a
  # warm machine keeps that cache (2026-12-07: "unknown target 'test_fast_path'").
  cfg=(-S . -B "$b" "${cuda_configure[@]}" -DPESUITE_BUILD_TESTS=ON)
  if ! timeout "$(cap 120)" cmake "${cfg[@]}" -DPESUITE_WITH_CUDA_KERNELS=ON >"$out/configure.log" 2>&1; then
    log "configure with the CUDA kernels failed (tail of configure.log below); again without them"
    tail -20 "$out/configure.log" | tee -a "$out/steps.log"
    kernels="configure failed (configure.log)"
    rm -f "$b/CMakeCache.txt"
    timeout "$(cap 120)" cmake "${cfg[@]}" -DPESUITE_WITH_CUDA_KERNELS=OFF >"$out/configure-nokernels.log" 2>&1 \
      || { log "configure failed: see configure-nokernels.log"; tail -30 "$out/configure-nokernels.log"; exit 1; }
  fi
  grep -E "pesuite: (ViT fast path|no CUDA compiler|LibTorch is a CPU)" "$out/configure.log" | tee -a "$out/steps.log"
  # The CUDA kernels first and apart: their errors are their own log, and never block the rest.
  if [ "$kernels" = "not built" ] && grep -q "ViT fast path CUDA kernels with" "$out/configure.log" 2>/dev/null; then
    log "build the fused kernels (libpesuite_vision_cuda.so)"
    if timeout "$(cap 200)" cmake --build "$b" --target pesuite_vision_cuda --parallel "$(nproc)" >"$out/build-kernels.log" 2>&1; then
      kernels="built"
    else
      kernels="FAILED to compile (build-kernels.log)"
      grep -E "error|FAILED" "$out/build-kernels.log" | head -30 | tee -a "$out/steps.log"
    fi
  fi
  log "build pesuite and test_fast_path ($kernels)"
  timeout "$(cap 300)" cmake --build "$b" --target pesuite test_fast_path --parallel "$(nproc)" -- -k 0 >"$out/build.log" 2>&1 \
    || { log "build failed:"; grep -E "error|FAILED" "$out/build.log" | head -30 | tee -a "$out/steps.log"; }
  log "build done"
fi
[ -x "$p" ] || log "no $p: our columns will be missing"
if [ "$kernels" = "not built" ] && [ -f "$b/vision/libpesuite_vision_cuda.so" ]; then
  kernels="present (an earlier build in $b)"
fi

if ! skip tests && [ -x "$b/tests/vision/test_fast_path" ]; then
  log "kernel tests"
  PESUITE_REQUIRE_FAST_OPS=1 timeout "$(cap 150)" "$b/tests/vision/test_fast_path" --gtest_filter='-*200Steps*' >"$out/test-kernels.log" 2>&1
  rc=$?
  tests_summary="rc=$rc; $(grep -E '^\[  (PASSED|FAILED)  \]|^\[ SKIPPED  \]' "$out/test-kernels.log" | tr '\n' ' ')"
  grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|Failure|error' "$out/test-kernels.log" | head -40 | tee -a "$out/steps.log"
  write_results
  log "200-step training check (fast path vs unfused)"
  PESUITE_REQUIRE_FAST_OPS=1 timeout "$(cap 150)" "$b/tests/vision/test_fast_path" --gtest_filter='*200Steps*' >"$out/test-200steps.log" 2>&1
  rc=$?
  train_check="rc=$rc; $(grep -E '200 steps:|^\[  (PASSED|FAILED)  \]|SKIPPED' "$out/test-200steps.log" | tr '\n' ' ')"
  tail -8 "$out/test-200steps.log" | tee -a "$out/steps.log"
  write_results
fi

# `vision train` on the cpvt-fmnist table's model (vit_tiny_patch4_28 with PEG, the table's config)
# with train.fast_path and train.cuda_graphs off and on, alternating, two rounds: the figure is the run's
# train_images_per_second (training steps only) and its test accuracy.
if ! skip train; then
  fm=""
  for c in "${FMNIST:-}" .device-data/fashion-mnist /usr/share/datasets/fashion-mnist; do
    [ -n "$c" ] && [ -f "$c/train-images-idx3-ubyte.gz" ] && { fm=$(cd "$c" && pwd); break; }
  done
  if [ -z "$fm" ]; then
    train_stage="skipped: no Fashion-MNIST here (FMNIST, or carry .device-data/fashion-mnist)"
  else
    log "vision train, fast path off / on ($(left) s left)"
    mkdir -p "$out/train"
    for round in 1 2; do
      for mode in ${TRAIN_MODES:-plain fast graphs fast+graphs}; do  # train.fast_path / train.cuda_graphs
        [ "$(left)" -lt 60 ] && { train_stage="stopped by the budget"; break 2; }
        fp=false cg=false
        [[ $mode == *fast* ]] && fp=true
        [[ $mode == *graphs* ]] && cg=true
        timeout "$(cap 150)" "$p" vision train --json --config experiments/configs/vision/fmnist-vit+peg.toml \
          --set "data.train=idx:$fm?split=train" --set "data.test=idx:$fm?split=test" \
          --set "train.epochs=${TRAIN_EPOCHS:-1}" --set "device=${TRAIN_DEVICE:-cuda}" --set "train.fast_path=$fp" \
          --set "train.cuda_graphs=$cg" ${TRAIN_SETS:-} --runs "$out/train/runs" >"$out/train/mode-$mode-$round.json" 2>"$out/train/mode-$mode-$round.log"
        echo "   $mode (fast_path=$fp cuda_graphs=$cg) round $round: rc=$?" | tee -a "$out/steps.log"
      done
    done
    python3 - "$out/train" <<'PY'
import glob, json, os, statistics, sys
d = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(d, "mode-*.json"))):
    mode = os.path.basename(f)[len("mode-"):].rsplit("-", 1)[0]
    try:
        j = json.load(open(f))
    except ValueError:
        continue
    rows.setdefault(mode, []).append((j["train_images_per_second"], j.get("test_acc@28", float("nan"))))
md = ["| mode (train.fast_path / train.cuda_graphs) | runs | train img/s (each) | median | test acc@28 |", "|---|---|---|---|---|"]
for mode in ("plain", "fast", "graphs", "fast+graphs"):
    r = rows.get(mode, [])
    if r:
        md.append(f"| {mode} | {len(r)} | {' / '.join(f'{x:,.0f}' for x, _ in r)} | {statistics.median(x for x, _ in r):,.0f} | "
                  f"{' / '.join(f'{a:.4f}' for _, a in r)} |")
if rows.get("plain"):
    md.append("")
    base = statistics.median(x for x, _ in rows["plain"])
    for mode in ("fast", "graphs", "fast+graphs"):
        if rows.get(mode):
            md.append(f"- {mode} / plain (medians): {statistics.median(x for x, _ in rows[mode]) / base:.2f}")
open(os.path.join(d, "results.md"), "w").write("\n".join(md) + "\n")
PY
    [ "$train_stage" = "not run" ] && train_stage="ran (table below; run logs in train/)"
  fi
  write_results
fi

bench() {  # bench PHASE MODELS
  log "bench $1: $2 ($(left) s left)"
  PHASE=$1 MODELS=$2 DEADLINE=$deadline STEPS=${STEPS:-20} WARMUP=${WARMUP:-5} REPEATS=${REPEATS:-3} \
    bash scripts/gpu/bench_vit.sh "$b" "$out/bench" >"$out/bench-$1-$(echo "$2" | tr ' ' '_').log" 2>&1
  write_results
}
skip first || bench throughput "${FIRST_MODELS:-deit_tiny_patch16 cpvt_tiny}"
skip more || bench throughput "${MORE_MODELS:-deit_small_patch16 cpvt_small}"
skip latency || bench latency "${LATENCY_MODELS:-deit_tiny_patch16 cpvt_tiny}"
# Where compile still wins: 5 traced training steps of PROFILE_MODEL on each side (ours: the fast
# path with and without CUDA graphs; PyTorch: compiled and eager) and 5 inference steps (ours with
# graphs, compiled), then the kernel tables of ours against compiled (scripts/gpu/kernel_table.py;
# per step, longest first) into profile/.
if ! skip profile && [ "$(left)" -gt 90 ]; then
  pm=${PROFILE_MODEL:-deit_tiny_patch16}
  log "profile $pm ($(left) s left)"
  mkdir -p "$out/profile"
  pargs=(--model "$pm" --batch 256 --amp bf16 --steps 10 --warmup 5 --repeats 1)
  # Both phases for ours with graphs and for compiled (the inference table too); training only for the rest.
  timeout "$(cap 80)" "$p" bench vit --json "${pargs[@]}" --fast-path --cuda-graphs --profile "$out/profile/fast-graphs" >"$out/profile/fast-graphs.json" 2>"$out/profile/fast-graphs.log"
  timeout "$(cap 60)" "$p" bench vit --json "${pargs[@]}" --skip-infer --fast-path --profile "$out/profile/fast" >"$out/profile/fast.json" 2>"$out/profile/fast.log"
  timeout "$(cap 150)" python3 scripts/reference/bench_vit.py "${pargs[@]}" --compile --profile "$out/profile/compiled" >"$out/profile/compiled.json" 2>"$out/profile/compiled.log"
  timeout "$(cap 60)" python3 scripts/reference/bench_vit.py "${pargs[@]}" --skip-infer --profile "$out/profile/eager" >"$out/profile/eager.json" 2>"$out/profile/eager.log"
  for side in fast-graphs fast; do
    [ -f "$out/profile/$side-train.json" ] && [ -f "$out/profile/compiled-train.json" ] &&
      python3 scripts/gpu/kernel_table.py "$out/profile/$side-train.json" "$out/profile/compiled-train.json" --steps 5 --top 45 \
        >"$out/profile/kernels-$side-vs-compiled.txt" 2>&1
  done
  [ -f "$out/profile/fast-graphs-infer.json" ] && [ -f "$out/profile/compiled-infer.json" ] &&
    python3 scripts/gpu/kernel_table.py "$out/profile/fast-graphs-infer.json" "$out/profile/compiled-infer.json" --steps 5 --top 30 \
      >"$out/profile/kernels-infer-fast-graphs-vs-compiled.txt" 2>&1
  [ -f "$out/profile/eager-train.json" ] && [ -f "$out/profile/compiled-train.json" ] &&
    python3 scripts/gpu/kernel_table.py "$out/profile/eager-train.json" "$out/profile/compiled-train.json" --steps 5 --top 45 \
      >"$out/profile/kernels-eager-vs-compiled.txt" 2>&1
  head -3 "$out"/profile/kernels-*.txt 2>/dev/null | tee -a "$out/steps.log"
  # The traces themselves are large: compressed, so that the call's files come back.
  gzip -f "$out"/profile/*-train.json "$out"/profile/*-infer.json 2>/dev/null
fi
# Batch-1 latency where compile's reduce-overhead mode still wins (deit_tiny in fp32, 2026-12-07:
# 1.037 against 0.965 ms): 5 traced calls on each side, ours (fast path + graphs) against compiled,
# and their kernel table into profile-latency/.
if ! skip profile-latency && [ "$(left)" -gt 60 ]; then
  read -r lm lamp <<<"${LATENCY_PROFILE:-deit_tiny_patch16 none}"
  log "profile batch-1 latency: $lm, amp $lamp ($(left) s left)"
  mkdir -p "$out/profile-latency"
  largs=(--model "$lm" --latency --amp "$lamp" --batch 1 --steps 20 --warmup 5 --repeats 1)
  timeout "$(cap 60)" "$p" bench vit --json "${largs[@]}" --fast-path --cuda-graphs --profile "$out/profile-latency/fast-graphs" \
    >"$out/profile-latency/fast-graphs.json" 2>"$out/profile-latency/fast-graphs.log"
  timeout "$(cap 120)" python3 scripts/reference/bench_vit.py "${largs[@]}" --compile --profile "$out/profile-latency/compiled" \
    >"$out/profile-latency/compiled.json" 2>"$out/profile-latency/compiled.log"
  [ -f "$out/profile-latency/fast-graphs-infer.json" ] && [ -f "$out/profile-latency/compiled-infer.json" ] &&
    python3 scripts/gpu/kernel_table.py "$out/profile-latency/fast-graphs-infer.json" "$out/profile-latency/compiled-infer.json" \
      --steps 5 --top 40 >"$out/profile-latency/kernels-fast-graphs-vs-compiled.txt" 2>&1
  head -3 "$out"/profile-latency/kernels-*.txt 2>/dev/null | tee -a "$out/steps.log"
  gzip -f "$out"/profile-latency/*-infer.json 2>/dev/null
fi
# Where the memory goes (the peak goal): per model, ours with and without CUDA graphs (and with
# --recompute-gelu) and compiled /
# eager PyTorch, each with train_forward_mb (what one training forward leaves for its backward);
# PyTorch's saved tensors listed by shape and dtype (--saved-tensors) into memory/.
if ! skip memory && [ "$(left)" -gt 60 ]; then
  mkdir -p "$out/memory"
  run_is() { [[ " ${MEMORY_RUNS:-fast-graphs fast recompute compiled eager} " == *" $1 "* ]]; }
  for mm in ${MEMORY_MODELS:-cpvt_small deit_tiny_patch16}; do
    log "memory $mm ($(left) s left)"
    margs=(--model "$mm" --batch 256 --amp bf16 --steps 5 --warmup 3 --repeats 1)
    if [[ " ${MEMORY_PHASES:-train infer} " == *" train "* ]]; then
      run_is fast-graphs && timeout "$(cap 60)" "$p" bench vit --json "${margs[@]}" --fast-path --cuda-graphs \
        >"$out/memory/$mm-fast-graphs.json" 2>"$out/memory/$mm-fast-graphs.log"
      # --memory-trace: one more eager step, the backward's nodes by their peak (JSON memory_trace).
      run_is fast && timeout "$(cap 60)" "$p" bench vit --json "${margs[@]}" --fast-path --memory-trace \
        >"$out/memory/$mm-fast.json" 2>"$out/memory/$mm-fast.log"
      run_is recompute && timeout "$(cap 60)" "$p" bench vit --json "${margs[@]}" --fast-path --cuda-graphs --recompute-gelu \
        >"$out/memory/$mm-fast-graphs-recompute.json" 2>"$out/memory/$mm-fast-graphs-recompute.log"
      run_is compiled && timeout "$(cap 150)" python3 scripts/reference/bench_vit.py "${margs[@]}" --compile --saved-tensors \
        >"$out/memory/$mm-compiled.json" 2>"$out/memory/$mm-compiled.log"
      run_is eager && timeout "$(cap 60)" python3 scripts/reference/bench_vit.py "${margs[@]}" --saved-tensors \
        >"$out/memory/$mm-eager.json" 2>"$out/memory/$mm-eager.log"
    fi
    # Inference alone in a fresh process on each side (what `vision eval` does): nothing of a
    # training phase (its CUDA graph's side stream and cuBLAS workspace, our bf16 weight copies) is
    # held. The speed table's steps, so that its img/s are the eval-only process's speed.
    if [[ " ${MEMORY_PHASES:-train infer} " == *" infer "* ]]; then
      iargs=(--model "$mm" --batch 256 --amp bf16 --steps "${STEPS:-20}" --warmup "${WARMUP:-5}" --repeats "${REPEATS:-3}")
      timeout "$(cap 60)" "$p" bench vit --json "${iargs[@]}" --skip-train --fast-path --cuda-graphs \
        >"$out/memory/$mm-infer-fast-graphs.json" 2>"$out/memory/$mm-infer-fast-graphs.log"
      timeout "$(cap 100)" python3 scripts/reference/bench_vit.py "${iargs[@]}" --skip-train --compile \
        >"$out/memory/$mm-infer-compiled.json" 2>"$out/memory/$mm-infer-compiled.log"
    fi
  done
  python3 - "$out/memory" <<'PY' | tee "$out/memory/summary.md" | tee -a "$out/steps.log"
import glob, json, os, sys
print("| run | train img/s | train peak MiB | train_forward_mb | infer img/s | infer peak MiB |\n|---|---:|---:|---:|---:|---:|")
traces = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    try:
        j = json.loads(open(f).read().strip().splitlines()[-1])
    except (ValueError, IndexError):
        continue
    print(f"| {os.path.basename(f)[:-5]} | {j.get('train_img_s', 0):,.0f} | {j.get('train_peak_mb', 0):,.0f} | {j.get('train_forward_mb', 0):,.0f} | {j.get('infer_img_s', 0):,.0f} | {j.get('infer_peak_mb', 0):,.0f} |")
    t = j.get("memory_trace")
    if t:
        traces.append((os.path.basename(f)[:-5], t))
for name, t in traces:  # --memory-trace: where the eager step's backward peaks
    print(f"\n{name}: before forward {t['before_forward_mb']:,.0f} MiB, forward peak {t['forward_peak_mb']:,.0f}, "
          f"before backward {t['before_backward_mb']:,.0f}, backward peak {t['backward_peak_mb']:,.0f} ({t['backward_nodes']} nodes); top nodes:")
    for r in t["top_nodes"][:8]:
        print(f"  - {r['node']}: entry {r['entry_mb']:,.0f}, peak {r['peak_mb']:,.0f} (+{r['peak_mb'] - r['entry_mb']:,.0f})")
PY
fi
write_results
trap - EXIT
log "done"
cat "$out/results.md"
