#!/usr/bin/env bash
# On the GPU machine (device tool): build pesuite against the CUDA LibTorch that python3 ships and
# run the GPU checks and side-by-side benchmarks. Needs the sysroot from scripts/device-sysroot.sh
# (carried as .device-sysroot) and data copied into .device-data (fashion-mnist/, tu/, ogb/, and
# shared/: the samples of ../shared/data that the tests read).
#   usage: bash scripts/gpu-check.sh OUT [stage...]
#   stages: build tests attention gnn graph-train graph-train-graphs vision-train vit graph-pe profile
#   (default: all but profile, which traces ViT and GNN steps on both sides: kernel tables in OUT/profile)
# The build folder is build-cuda/ in the checkout (git-ignored), so later calls on a warm machine
# reuse it.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-check}; shift || true
mkdir -p "$out"
stages=${*:-"build tests attention gnn graph-train vision-train vit graph-pe"}
has() { [[ " $stages " == *" $1 "* ]]; }
source scripts/gpu/env.sh  # sysroot, LibTorch prefix, NCCL settings
b=$PWD/build-cuda
p=$b/experiments/pesuite
data=$PWD/.device-data
tests_data=$([ -d "$data/shared" ] && echo "$data/shared")  # a copy of ../shared/data's small samples
if has build; then
  t0=$(date +%s)
  cmake -S . -B $b "${cuda_configure[@]}" ${tests_data:+-DPESUITE_TEST_DATA=$tests_data} >"$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
  cmake --build $b --parallel "$(nproc)" -- -k 0 >"$out/build.log" 2>&1 || { grep -E "error|FAILED" "$out/build.log" | head -40; exit 1; }
  echo "build: $(( $(date +%s) - t0 )) s"
  python3 -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  python3 -c 'import torch_geometric as g; print("torch_geometric", g.__version__)' 2>&1 | tail -1
fi
if has tests; then
  (cd $b && ctest --parallel 8 --output-on-failure >"$out/ctest.log" 2>&1); tail -15 "$out/ctest.log"
  echo "== heads tests on CUDA"
  PESUITE_TEST_DEVICE=cuda $b/tests/heads/test_heads --gtest_brief=1 2>&1 | tail -5
fi
if has attention; then
  echo "== bench attention (cuda, fp32 then bf16)"
  $p bench attention --device cuda 2>&1 | tail -20
  $p bench attention --device cuda --amp bf16 2>&1 | tail -20
fi
if has gnn; then
  echo "== bench gnn: pesuite (eager, then --cuda-graphs) vs PyG (training graphs/s; sides alternate, GNN_ROUNDS rounds, median of 3 blocks each)"
  for round in $(seq ${GNN_ROUNDS:-1}); do
    for m in "gps lap lap:k=8" "gine rwse rwse:steps=20"; do
      set -- $m
      ours=$(timeout 150 $p bench gnn --model $1 --pe $3 --device cuda --batch 128 --json 2>&1 | tail -1)
      ref=$(timeout 150 python3 scripts/reference/bench_gnn_pyg.py --model $1 --encoder $2 --device cuda --batch 128 2>&1 | tail -1)
      graphed=$(timeout 150 $p bench gnn --model $1 --pe $3 --device cuda --batch 128 --cuda-graphs --json 2>&1 | tail -1)
      echo "$ours"; echo "$ref"; echo "$graphed"
      python3 - "$ours" "$ref" "$graphed" "$round" <<'EOF' 2>&1 | tail -2
import json, sys
a, b, c = (json.loads(x) for x in sys.argv[1:4])
for side, name in ((a, "eager"), (c, "cuda graphs")):
    r = side["graphs_per_s"] / b["graphs_per_s"]
    print("round %s: %s+%s: pesuite %s %.0f / PyG %.0f graphs/s = %.2fx" % (sys.argv[4], a["model"], a["encoder"], name, side["graphs_per_s"], b["graphs_per_s"], r))
EOF
    done
  done
fi
if has graph-train; then
  echo "== graph train on CUDA: csl quick config"
  cfg=$(ls experiments/configs/graph/csl-gine+lap.toml 2>/dev/null | head -1)
  [ -n "$cfg" ] && timeout 200 $p graph train --config "$cfg" --device cuda --runs /tmp/gruns --json 2>&1 | tail -8
fi
if has graph-train-graphs && [ -d "$data/ogb" ]; then
  echo "== graph train on CUDA, ESOL GINE + RWSE (batch 32, 4 layers): eager vs train.cuda_graphs (wall s, test RMSE)"
  for g in false true; do
    timeout 250 $p graph train --config experiments/configs/graph/molesol-gine+rwse.toml --device cuda \
      --set data.root=$data --set train.epochs=${GRAPH_EPOCHS:-40} --set train.cuda_graphs=$g --runs /tmp/gruns-$g \
      --json 2>/dev/null | python3 -c "import json, sys; d = json.load(sys.stdin); print('cuda_graphs=$g: %.1f s, test RMSE %.4f' % (d['seconds'], d['test_rmse']['mean']))"
  done
fi
if has vision-train && [ -d "$data/fashion-mnist" ]; then
  echo "== vision train on CUDA (--device auto)"
  timeout 200 $p vision train --config experiments/configs/vision/fmnist-vit+peg.toml \
    --set "data.train=idx:$data/fashion-mnist?split=train" \
    --set "data.test=idx:$data/fashion-mnist?split=test" --set train.epochs=2 \
    --set train.batch_size=256 --runs /tmp/runs --json 2>&1 | tail -6
fi
if has vit; then
  echo "== bench vit: pesuite vs PyTorch eager (VIT_SIDES=\"fast plain eager compiled\" for the fast path and torch.compile too)"
  SIDES=${VIT_SIDES:-"plain eager"} STEPS=${STEPS:-30} bash scripts/gpu/bench_vit.sh $b "$out/vit" 2>&1 | tail -25
fi
if has profile; then
  echo "== kernel tables: pesuite vs the PyTorch / PyG reference"
  pr=$out/profile; mkdir -p $pr
  for m in ${PROFILE_VITS:-deit_tiny_patch16}; do
    $p bench vit --model $m --batch 256 --amp bf16 --device cuda --steps 10 --repeats 2 --json --profile $pr/ours-$m >/dev/null 2>$pr/ours-$m.log
    python3 scripts/reference/bench_vit.py --model $m --batch 256 --amp bf16 --device cuda --steps 10 --repeats 2 --profile $pr/ref-$m >/dev/null 2>$pr/ref-$m.log
    for ph in train infer; do
      echo "-- $m $ph"; python3 scripts/gpu/kernel_table.py $pr/ours-$m-$ph.json $pr/ref-$m-$ph.json --steps 5 --top ${TOP:-25}
    done
  done
  for m in "gine rwse rwse:steps=20" "gps lap lap:k=8"; do
    set -- $m
    $p bench gnn --model $1 --pe $3 --device cuda --batch 128 --steps 50 --json --profile $pr/ours-$1.json 2>&1 | tail -1
    python3 scripts/reference/bench_gnn_pyg.py --model $1 --encoder $2 --device cuda --batch 128 --steps 50 --profile $pr/ref-$1.json 2>&1 | tail -1
    echo "-- gnn $1 + $2"; python3 scripts/gpu/kernel_table.py $pr/ours-$1.json $pr/ref-$1.json --steps 10 --top ${TOP:-25}
  done
fi
if has graph-pe; then
  echo "== bench graph-pe vs PyG transforms"
  REPEAT=2 bash scripts/gpu/bench_graph_pe.sh $b "$out/graph-pe" "$data" 2>&1 | tail -40
fi
