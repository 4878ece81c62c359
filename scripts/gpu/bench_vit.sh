#!/usr/bin/env bash
# ViT training / inference speed, pesuite (C++) next to PyTorch eager (scripts/reference/bench_vit.py),
# same models, batch, AdamW, autocast and timing, in one call on the GPU machine.
#   usage: bash scripts/gpu/bench_vit.sh BUILD_DIR OUT
#     BUILD_DIR  a pesuite build against the CUDA LibTorch (holds experiments/pesuite)
#     OUT        folder for the JSON lines and logs (created)
#   env: MODELS (default "deit_tiny_patch16 deit_small_patch16 cpvt_tiny cpvt_small"), BATCH (256),
#        AMP (bf16), STEPS (30), WARMUP (10), REPEATS (3), DEVICE (cuda),
#        PESUITE_ARGS (more arguments for the pesuite side, e.g. --native-layer-norm)
# Runs the two sides alternately per model (a machine's drift hits both), then prints a table with
# img/s and the ratio pesuite / PyTorch. Exit status 1 if any run failed (the table still prints).
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
MODELS=${MODELS:-"deit_tiny_patch16 deit_small_patch16 cpvt_tiny cpvt_small"}
BATCH=${BATCH:-256}
AMP=${AMP:-bf16}
STEPS=${STEPS:-30}
WARMUP=${WARMUP:-10}
REPEATS=${REPEATS:-3}
DEVICE=${DEVICE:-cuda}
if [ ! -x "$bin" ]; then
  echo "error: $bin not found or not executable (build the pesuite target in BUILD_DIR)" >&2
  exit 2
fi
mkdir -p "$out" || exit 2
: >"$out/pesuite.jsonl"
: >"$out/pytorch.jsonl"
common=(--batch "$BATCH" --amp "$AMP" --device "$DEVICE" --steps "$STEPS" --warmup "$WARMUP" --repeats "$REPEATS")
status=0
for m in $MODELS; do
  echo "== $m: pesuite" >&2
  if "$bin" bench vit --model "$m" "${common[@]}" ${PESUITE_ARGS:-} --json >"$out/pesuite-$m.json" 2>"$out/pesuite-$m.log"; then
    tail -n 1 "$out/pesuite-$m.json" >>"$out/pesuite.jsonl"
  else
    echo "   FAILED (see $out/pesuite-$m.log):" >&2
    tail -n 5 "$out/pesuite-$m.log" >&2
    status=1
  fi
  echo "== $m: pytorch" >&2
  if python3 "$ref" --model "$m" "${common[@]}" >"$out/pytorch-$m.json" 2>"$out/pytorch-$m.log"; then
    tail -n 1 "$out/pytorch-$m.json" >>"$out/pytorch.jsonl"
  else
    echo "   FAILED (see $out/pytorch-$m.log):" >&2
    tail -n 5 "$out/pytorch-$m.log" >&2
    status=1
  fi
done

python3 - "$out" $MODELS <<'EOF' | tee "$out/table.md"
import json, sys
out, models = sys.argv[1], sys.argv[2:]
def load(path):
    rows = {}
    try:
        for line in open(path):
            line = line.strip()
            if line:
                r = json.loads(line)
                rows[r["model"]] = r
    except OSError:
        pass
    return rows
c, p = load(out + "/pesuite.jsonl"), load(out + "/pytorch.jsonl")
any_row = next(iter(list(c.values()) + list(p.values())), {})
print(f"batch {any_row.get('batch', '?')}, amp {any_row.get('amp', '?')}, device {any_row.get('device', '?')}; "
      f"pesuite torch {next(iter(c.values()), {}).get('torch', '-')}, pytorch {next(iter(p.values()), {}).get('torch', '-')}")
print()
print("| model | params pesuite | params pytorch | train img/s pesuite | train img/s pytorch | train ratio | infer img/s pesuite | infer img/s pytorch | infer ratio | fused AdamW (c++/py) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
f = lambda v: f"{v:,.0f}" if isinstance(v, (int, float)) else "-"
ratio = lambda a, b: f"{a / b:.3f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0 else "-"
for m in models:
    a, b = c.get(m, {}), p.get(m, {})
    print(f"| {m} | {f(a.get('params'))} | {f(b.get('params'))} | {f(a.get('train_img_s'))} | {f(b.get('train_img_s'))} | "
          f"{ratio(a.get('train_img_s'), b.get('train_img_s'))} | {f(a.get('infer_img_s'))} | {f(b.get('infer_img_s'))} | "
          f"{ratio(a.get('infer_img_s'), b.get('infer_img_s'))} | {a.get('fused_adamw', '-')}/{b.get('fused_adamw', '-')} |")
    if a.get("params") is not None and b.get("params") is not None and a["params"] != b["params"]:
        print(f"<!-- WARNING: {m}: parameter counts differ ({a['params']} vs {b['params']}) -->")
EOF
exit $status
