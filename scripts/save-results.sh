#!/usr/bin/env bash
# Copies a finished table's files from a `pesuite reproduce` output folder into results/<table>/, so
# that every number in results/<table>.md traces to a committed file: results.md, results.csv (every
# value of every seed / fold), units/*.json (each run's metrics and the resolved config it ran) and
# the plot, plus PROVENANCE.txt with the command, machine and date given here.
#   usage: scripts/save-results.sh OUT TABLE "COMMAND THAT PRODUCED IT"
#   e.g.   scripts/save-results.sh runs/quick csl "bash scripts/run-quick.sh"
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1 table=$2 command=${3:?give the command that produced OUT}
src=$out/$table
[ -f "$src/results.md" ] && [ -f "$src/results.csv" ] || { echo "save-results: $src has no results.md + results.csv" >&2; exit 2; }
dest=results/$table
rm -rf "$dest"
mkdir -p "$dest/units"
cp "$src/results.md" "$src/results.csv" "$dest/"
cp "$src"/units/*.json "$dest/units/" 2>/dev/null || true
cp "$src"/*.png "$dest/" 2>/dev/null || true
{
  echo "command: $command"
  echo "copied: $(date -u +%Y-%m-%dT%H:%M:%SZ) from $src"
  echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "git: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
} > "$dest/PROVENANCE.txt"
echo "saved $(ls "$dest/units" | wc -l) unit file(s) and the table to $dest/"
