#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, builds tests/consumer against it, runs it.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$src" -B "$tmp/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix${CMAKE_PREFIX_PATH:+;$CMAKE_PREFIX_PATH}" >/dev/null
cmake --build "$tmp/build" >/dev/null
"$tmp/build/consumer"
