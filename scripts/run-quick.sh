#!/usr/bin/env bash
# The main job: set up, build, and run `pesuite reproduce quick`: the short version of every table
# that needs no download (tables with in_quick = true in experiments/configs/tables/*.toml; their
# data is generated or comes from Debian packages). Results land in runs/quick/<table>/. Ends with
# the time of each part. Budget: 15 minutes on a fresh Debian 12 machine with 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
log=$(mktemp /tmp/pesuite-quick.XXXXXX); trap 'rm -f "$log"' EXIT
# Set-up (packages) and build are timed apart: setup.sh prints when it installs.
bash scripts/setup.sh pesuite 2>&1 | tee "$log"
t_build=$((SECONDS - t0))
t1=$SECONDS
./build/experiments/pesuite reproduce quick --out runs/quick "$@" 2>&1 | tee -a "$log"
t_tables=$((SECONDS - t1))
echo
echo "== main job: times"
printf '  %-28s %5d s\n' "set-up + build" "$t_build"
grep -E '^== .* done in [0-9.]+ s$' "$log" | sed -E 's/^== (.*) done in ([0-9.]+) s$/\1 \2/' |
  while read -r name secs; do printf '  %-28s %5.0f s\n' "table $name" "$secs"; done
printf '  %-28s %5d s\n' "tables (reproduce quick)" "$t_tables"
printf '  %-28s %5d s  (%d m %02d s; budget 15 m)\n' "total" "$((SECONDS - t0))" "$(((SECONDS - t0) / 60))" "$(((SECONDS - t0) % 60))"
