#!/usr/bin/env bash
# The main job: set up, build, and run `pesuite reproduce quick` (the short version of every table)
# on data that is there by default (generated graphs, Fashion-MNIST from Debian). Results land in
# runs/quick/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh pesuite
./build/experiments/pesuite reproduce quick --out runs/quick "$@"
