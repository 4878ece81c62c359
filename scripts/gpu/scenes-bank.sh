#!/usr/bin/env bash
# The scenes: object bank for a machine without openclipart-png (the GPU machine): build it here,
# where Debian's openclipart-png (and mypaint-data-extras, for photo backgrounds) are installed,
# into DATA/pesuite-cache/scenes/, and carry DATA (.device-data, git-ignored) to the device. There
# the specs of the cpvt-scenes rows find it through PESUITE_CACHE (scripts/gpu/tables.sh sets it):
#   here:        bash scripts/gpu/scenes-bank.sh [BUILD_DIR] [DATA]     (defaults: build, .device-data)
#   GPU machine: bash scripts/gpu/tables.sh build-cuda OUT .device-data 540 cpvt-scenes:6
#           or:  PESUITE_CACHE=$PWD/.device-data/pesuite-cache build-cuda/experiments/pesuite reproduce cpvt-scenes --device cuda
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build} data=${2:-.device-data}
mkdir -p "$data/pesuite-cache"
# Any scenes: spec with the default bank keys builds the bank the cpvt-scenes rows use (once).
PESUITE_CACHE=$(realpath "$data/pesuite-cache") "$build/experiments/pesuite" data inspect 'scenes:?n=4' >/dev/null
ls -l "$data"/pesuite-cache/scenes/
