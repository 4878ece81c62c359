#!/usr/bin/env bash
# On the GPU machine (device tool): build pesuite against the CUDA LibTorch that python3 ships,
# run the whole test suite, the heads/ tests on CUDA, the attention benchmark and a CUDA training
# smoke run. Needs the sysroot from scripts/device-sysroot.sh (carried as .device-sysroot) and,
# for the training run, Fashion-MNIST copied to .device-data/fashion-mnist.
#   usage: bash scripts/gpu-check.sh [OUT]       (OUT: folder for logs, default /tmp/gpu-check)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-check}; mkdir -p "$out"
sys=$PWD/.device-sysroot
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export PKG_CONFIG_PATH=$sys/usr/lib/x86_64-linux-gnu/pkgconfig
export LD_LIBRARY_PATH=$sys/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export CMAKE_PREFIX_PATH="$torch_prefix;$sys/usr"  # for the consumer-package test
b=/tmp/pesuite-cuda
t0=$(date +%s)
cmake -S . -B $b -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix;$sys/usr" \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0 >"$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
cmake --build $b --parallel "$(nproc)" -- -k 0 >"$out/build.log" 2>&1 || { grep -E "error|FAILED" "$out/build.log" | head -40; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
(cd $b && ctest --parallel 8 --output-on-failure >"$out/ctest.log" 2>&1); tail -15 "$out/ctest.log"
echo "== heads tests on CUDA"
PESUITE_TEST_DEVICE=cuda $b/tests/heads/test_heads --gtest_brief=1 2>&1 | tail -5
$b/experiments/pesuite version
echo "== bench attention (cuda)"
$b/experiments/pesuite bench attention --device cuda 2>&1 | tail -30
if [ -d .device-data/fashion-mnist ]; then
  echo "== vision train on CUDA (--device auto)"
  $b/experiments/pesuite vision train --config experiments/configs/vision/fmnist-vit+peg.toml \
    --set "data.train=idx:$PWD/.device-data/fashion-mnist?split=train" \
    --set "data.test=idx:$PWD/.device-data/fashion-mnist?split=test" --set train.epochs=2 \
    --set train.batch_size=256 --runs /tmp/runs --json 2>&1 | tail -12
  cat /tmp/runs/*/*/env.json | grep -E '"device"|cuda'
fi
