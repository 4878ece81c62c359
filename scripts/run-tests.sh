#!/usr/bin/env bash
# Set up, build everything, run the whole test suite (unit, CLI integration, Python interop,
# downstream package).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd build
ctest --output-on-failure --parallel "$(nproc)" "$@"
