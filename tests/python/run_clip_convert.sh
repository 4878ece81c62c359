#!/usr/bin/env bash
# CLIP converter round trip (tests/python/clip_convert_test.py); skipped (77) without python3-torch.
set -euo pipefail
check=$1 python=$2 root=$3
if ! "$python" -c "import torch" 2>/dev/null; then
  echo "no torch for $python (Debian: apt-get install python3-torch)"
  [ "${CI:-}" = "true" ] && exit 1  # CI installs it (scripts/setup.sh): a skip there would hide a broken setup
  echo "skipped"
  exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$python" "$root/tests/python/clip_convert_test.py" --work "$tmp" \
  --converter "$root/scripts/convert/clip_to_safetensors.py" --check "$check"
