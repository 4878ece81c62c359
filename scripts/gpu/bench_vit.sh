#!/usr/bin/env bash
# ViT training / inference speed, side by side in one call on the GPU machine:
#   ours fast   pesuite bench vit --fast-path --cuda-graphs (fused kernels, bf16 weight copies, graphs)
#   ours plain  pesuite bench vit (the unfused ops, eager steps)
#   eager       scripts/reference/bench_vit.py (the same model and optimiser in PyTorch eager)
#   compiled    scripts/reference/bench_vit.py --compile (torch.compile, default mode)
# then one table (scripts/gpu/vit_table.py: img/s, ratios vs compiled, peak GPU memory per step).
#   usage: bash scripts/gpu/bench_vit.sh BUILD_DIR OUT
#     BUILD_DIR  a pesuite build against the CUDA LibTorch (holds experiments/pesuite)
#     OUT        folder for the JSON lines, logs and the table (created; runs append to its .jsonl)
#   env: MODELS (default "deit_tiny_patch16 cpvt_tiny deit_small_patch16 cpvt_small"), BATCH (256),
#        AMP (bf16), STEPS (30), WARMUP (10), REPEATS (3), DEVICE (cuda),
#        SIDES (default "fast plain eager compiled"; each side's runs alternate per model),
#        PHASE (throughput | latency: batch 1, inference, AMP over LATENCY_AMPS="none bf16"; the
#        compiled side is then mode="reduce-overhead"),
#        DEADLINE (epoch seconds; a run that cannot finish before it is skipped and marked so),
#        RUN_TIMEOUT (seconds per run, default 240), PESUITE_ARGS (more arguments for our side)
# Exit status 1 if any run failed or was skipped (the table still prints).
set -u -o pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT" >&2
  exit 2
fi
build=$1
out=$2
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=$build/experiments/pesuite
ref=$here/scripts/reference/bench_vit.py
MODELS=${MODELS:-"deit_tiny_patch16 cpvt_tiny deit_small_patch16 cpvt_small"}
BATCH=${BATCH:-256}
AMP=${AMP:-bf16}
STEPS=${STEPS:-30}
WARMUP=${WARMUP:-10}
REPEATS=${REPEATS:-3}
DEVICE=${DEVICE:-cuda}
SIDES=${SIDES:-"fast plain eager compiled"}
PHASE=${PHASE:-throughput}
LATENCY_AMPS=${LATENCY_AMPS:-"none bf16"}
DEADLINE=${DEADLINE:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-240}
if [ ! -x "$bin" ]; then
  echo "warning: $bin not found or not executable: our sides are skipped" >&2
fi
mkdir -p "$out" || exit 2
status=0

# Seconds a run of this side may need (torch.compile compiles the model once per phase).
need_s() { if [ "$1" = compiled ]; then [ "$PHASE" = latency ] && echo 60 || echo 100; else echo 30; fi; }
left_s() { if [ "$DEADLINE" -gt 0 ]; then echo $((DEADLINE - $(date +%s))); else echo 999999; fi; }

# run SIDE MODEL AMPTAG ARGS...: one run, its JSON line appended to $out/$PHASE.jsonl with the side.
run() {
  local side=$1 model=$2 tag=$3
  shift 3
  local name="$PHASE-$side-$model-$tag" left limit
  left=$(left_s)
  if [ "$left" -lt "$(need_s "$side")" ]; then
    echo "   $name: skipped (${left} s left of the budget)" >&2
    echo "{\"side\": \"$side\", \"model\": \"$model\", \"phase\": \"$PHASE\", \"amp_tag\": \"$tag\", \"skipped\": \"budget\"}" >>"$out/$PHASE.jsonl"
    status=1
    return
  fi
  limit=$RUN_TIMEOUT
  [ "$left" -lt "$limit" ] && limit=$left
  local t0=$(date +%s)
  if timeout "$limit" "$@" >"$out/$name.json" 2>"$out/$name.log"; then
    tail -n 1 "$out/$name.json" | python3 -c "import json, sys; r = json.loads(sys.stdin.read()); r.update(side='$side', phase='$PHASE', amp_tag='$tag', wall_s=$(( $(date +%s) - t0 ))); print(json.dumps(r))" >>"$out/$PHASE.jsonl" \
      || { echo "   $name: no JSON line (see $out/$name.json)" >&2; status=1; }
    echo "   $name: $(( $(date +%s) - t0 )) s" >&2
  else
    local rc=$?
    echo "   $name: FAILED rc=$rc after $(( $(date +%s) - t0 )) s (see $out/$name.log):" >&2
    tail -n 5 "$out/$name.log" >&2
    echo "{\"side\": \"$side\", \"model\": \"$model\", \"phase\": \"$PHASE\", \"amp_tag\": \"$tag\", \"failed\": $rc}" >>"$out/$PHASE.jsonl"
    status=1
  fi
}

one_model() {
  local m=$1 amp=$2 extra=$3
  local common=(--batch "$BATCH" --amp "$amp" --device "$DEVICE" --steps "$STEPS" --warmup "$WARMUP" --repeats "$REPEATS")
  for side in $SIDES; do
    case $side in
      fast) [ -x "$bin" ] && run fast "$m" "$amp" "$bin" bench vit --model "$m" "${common[@]}" $extra --fast-path --cuda-graphs ${PESUITE_ARGS:-} --json ;;
      plain) [ -x "$bin" ] && run plain "$m" "$amp" "$bin" bench vit --model "$m" "${common[@]}" $extra ${PESUITE_ARGS:-} --json ;;
      eager) run eager "$m" "$amp" python3 "$ref" --model "$m" "${common[@]}" $extra ;;
      compiled) run compiled "$m" "$amp" python3 "$ref" --model "$m" "${common[@]}" $extra --compile ;;
      *) echo "unknown side '$side' (fast plain eager compiled)" >&2; status=2 ;;
    esac
  done
}

for m in $MODELS; do
  if [ "$PHASE" = latency ]; then
    for amp in $LATENCY_AMPS; do
      echo "== $m: batch-1 latency, amp $amp" >&2
      one_model "$m" "$amp" --latency
    done
  else
    echo "== $m: batch $BATCH, amp $AMP" >&2
    one_model "$m" "$AMP" ""
  fi
  python3 "$here/scripts/gpu/vit_table.py" "$out" >/dev/null 2>&1  # partial results stay readable
done
python3 "$here/scripts/gpu/vit_table.py" "$out"
exit $status
