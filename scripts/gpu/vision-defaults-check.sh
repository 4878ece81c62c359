#!/usr/bin/env bash
# `vision train` on CUDA with its defaults (train.fast_path and train.cuda_graphs on since
# 2026-12-07) against the same run with both off, over the config families the GPU tables use:
# every Fashion-MNIST PE variant, a deep PEG variant, mixup + cutmix, and multi-label scenes.
# Per config: exit codes and test metric of both modes, and the images/s ratio. A capture that
# fails says so in OUT/<case>-defaults.log and the run goes on with eager steps.
#   usage: bash scripts/gpu/vision-defaults-check.sh OUT        (the device tool's call)
#   carry: .device-sysroot, DATA (default .device-data/smoke: fashion-mnist/t10k-* and
#          scene-bank.safetensors; build it with `bash scripts/gpu/vision-defaults-check.sh --data`)
#   env:   BUDGET (seconds, default 420), SKIP_BUILD (1: build-cuda as it is), ONLY (names of the
#          cases to run, in that order; default all)
set -u -o pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = --data ]; then  # on this machine: the small data folder to carry
  d=${DATA:-.device-data/smoke}
  mkdir -p "$d/fashion-mnist"
  cp /usr/share/datasets/fashion-mnist/t10k-* "$d/fashion-mnist/"
  cp "$(ls .device-data/run/scene-bank.safetensors 2>/dev/null || ls "${PESUITE_CACHE:-$HOME/.cache/pesuite}"/scenes/bank-*.safetensors | head -1)" "$d/scene-bank.safetensors"
  du -sh "$d"
  exit 0
fi
out=${1:?usage: $0 OUT | --data}
mkdir -p "$out/runs"
out=$(cd "$out" && pwd)
t0=$(date +%s)
BUDGET=${BUDGET:-420}
left() { echo $((t0 + BUDGET - 10 - $(date +%s))); }
source scripts/gpu/env.sh
data=$(realpath "${DATA:-.device-data/smoke}")
b=$PWD/build-cuda
p=$b/experiments/pesuite
if [ "${SKIP_BUILD:-}" != 1 ]; then
  cmake -S . -B "$b" "${cuda_configure[@]}" -DPESUITE_BUILD_TESTS=OFF >"$out/configure.log" 2>&1 || { tail -20 "$out/configure.log"; exit 1; }
  cmake --build "$b" --parallel "$(nproc)" --target pesuite >"$out/build.log" 2>&1 || { grep -E "error|FAILED" "$out/build.log" | head -20; exit 1; }
  echo "build: $(( $(date +%s) - t0 )) s"
fi
fm="idx:$data/fashion-mnist?split=test"  # 10,000 images: one epoch is 78 steps of 128
bank="bank=$data/scene-bank.safetensors"  # a scenes: spec parameter (vision train has no data.bank key)
# name | config | extra --set arguments
cases=(
  "fmnist-peg|fmnist-vit+peg|"
  "fmnist-none|fmnist-vit+none|"
  "fmnist-learned|fmnist-vit+learned|"
  "fmnist-sincos2d|fmnist-vit+sincos2d|"
  "fmnist-rope2d|fmnist-vit+rope2d|"
  "fmnist-fourier|fmnist-vit+fourier|"
  "fmnist-peg-gap|fmnist-vit+peg-gap|"
  "fmnist-deep-peg-pos3|fmnist-vitdeep+peg-pos3|"
  "fmnist-peg-mixup|fmnist-vit+peg|train.mixup=0.8 train.cutmix=1.0"
  "scenes-peg|scenes-vit+peg|data.train=scenes:?n=2000&size=64&split=train&seed=0&$bank data.test=scenes:?n=500&size=64&split=test&seed=1&$bank eval.sizes=[64]"
  "scenes-rope2d|scenes-vit+rope2d|data.train=scenes:?n=2000&size=64&split=train&seed=0&$bank data.test=scenes:?n=500&size=64&split=test&seed=1&$bank eval.sizes=[64]"
)
if [ -n "${ONLY:-}" ]; then
  picked=()
  for want in $ONLY; do
    for c in "${cases[@]}"; do [ "${c%%|*}" = "$want" ] && picked+=("$c"); done
  done
  cases=("${picked[@]}")
fi
for c in "${cases[@]}"; do
  IFS='|' read -r name config extra <<<"$c"
  for mode in off defaults; do
    [ "$(left)" -lt 30 ] && { echo "$name $mode: not run (budget)"; continue; }
    sets=(--set device=cuda --set train.epochs=1)
    [[ $config == fmnist* ]] && sets+=(--set "data.train=$fm" --set "data.test=$fm")
    [ "$mode" = off ] && sets+=(--set train.fast_path=false --set train.cuda_graphs=false)
    for s in $extra; do sets+=(--set "$s"); done
    PESUITE_DATA=$data timeout "$(left)" "$p" --threads 16 vision train --json --config "experiments/configs/vision/$config.toml" "${sets[@]}" \
      --runs "$out/runs" >"$out/$name-$mode.json" 2>"$out/$name-$mode.log"
    echo "$name $mode: rc=$?" | tee -a "$out/rc.txt"
  done
done
python3 - "$out" <<'PY' | tee "$out/results.md"
import json, os, sys
d = sys.argv[1]
def load(f):
    try:
        t = open(f).read(); return json.loads(t[t.index("{"):])
    except Exception:
        return None
print("| config | rc off / defaults | test metric off | defaults | train img/s off | defaults | ratio |")
print("|---|---|---|---|---|---|---|")
rc = dict(l.rsplit(": rc=", 1) for l in open(os.path.join(d, "rc.txt")).read().split("\n") if ": rc=" in l)
names = sorted({f.rsplit("-", 1)[0] for f in os.listdir(d) if f.endswith(".json")})
for n in names:
    a, b = load(f"{d}/{n}-off.json"), load(f"{d}/{n}-defaults.json")
    def metric(r):  # the first test size's accuracy or mAP
        if not r: return "-"
        keys = [k for k in r if k.startswith("test_acc@") or k.startswith("test_map@")]
        return f"{r[keys[0]]:.4f} ({keys[0]})" if keys else "?"
    ips = lambda r: r.get("train_images_per_second") if r else None
    ra = f"{ips(b) / ips(a):.2f}" if ips(a) and ips(b) else "-"
    print(f"| {n} | {rc.get(n + ' off', '-')} / {rc.get(n + ' defaults', '-')} | {metric(a)} | {metric(b)} | {ips(a) or 0:,.0f} | {ips(b) or 0:,.0f} | {ra} |")
PY
