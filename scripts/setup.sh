#!/usr/bin/env bash
# Installs what pesuite needs on Debian 12 (when missing), then configures and builds it (Release)
# in build/. Idempotent: a second run installs nothing and rebuilds only what changed.
#   usage: scripts/setup.sh [ninja targets...]        (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread
  libopencv-dev libboost-graph-dev libspectra-dev libeigen3-dev libtbb-dev
  libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libtomlplusplus-dev libpugixml-dev
  libmatio-dev libpng-dev zlib1g-dev libzip-dev libfmt-dev libgloo-dev
  python3 python3-numpy python3-scipy python3-torch
  dataset-fashion-mnist openclipart-png mypaint-data-extras
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's default BLAS is the unoptimised reference one; OpenBLAS (installed above) takes over
# through the alternatives system. Make sure it did.
if ! update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep -q "^Value: .*openblas"; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo update-alternatives --set libblas.so.3-x86_64-linux-gnu \
    /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 >/dev/null 2>&1 || true
fi

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --parallel "$jobs" ${1:+--target "$@"}
