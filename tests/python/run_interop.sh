#!/usr/bin/env bash
# pesuite writes -> numpy reads and checks; numpy writes -> pesuite reads and checks.
set -euo pipefail
interop=$1 python=$2 script=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$interop" write "$tmp/ours.safetensors"
"$python" "$script" check "$tmp/ours.safetensors"
"$python" "$script" write "$tmp/theirs.safetensors"
"$interop" check "$tmp/theirs.safetensors"
