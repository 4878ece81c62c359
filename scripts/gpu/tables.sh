#!/usr/bin/env bash
# The full tables on the GPU machine (device tool), run side by side: each training process is
# bound by kernel launches on its own CPU core, so several share the one GPU well.
#   usage: bash scripts/gpu/tables.sh BUILD_DIR OUT DATA [LIMIT_S [TABLE...]]
#     DATA     folder with fashion-mnist/, tu/, ogb/ (as .device-data, see gpu-check.sh)
#     LIMIT_S  wall limit per table (default 540); a table stopped there keeps the rows it finished
#              (results.md says "partial")
#     TABLE    default: cpvt-fmnist cpvt-ablation csl tu counting ogb-mol
#   env: SEEDS (seeds per row; default the table's)
# OUT gets <table>.log and <table>-results.md / -results.csv (plus plots); run folders stay in /tmp.
set -u
if [ $# -lt 3 ]; then
  echo "usage: $0 BUILD_DIR OUT DATA [LIMIT_S [TABLE...]]" >&2
  exit 2
fi
build=$1 out=$2 data=$3 limit=${4:-540}
shift $(( $# < 4 ? $# : 4 ))
tables=${*:-"cpvt-fmnist cpvt-ablation csl tu counting ogb-mol"}
bin=$build/experiments/pesuite
work=/tmp/pesuite-tables
mkdir -p "$work" "$out"
export PESUITE_DATA=$data
for t in $tables; do
  extra=()
  case $t in
    cpvt-*) extra=(--set "data.train=idx:$data/fashion-mnist?split=train" --set "data.test=idx:$data/fashion-mnist?split=test") ;;
  esac
  (
    start=$(date +%s)
    timeout "$limit" "$bin" --threads 2 reproduce "$t" --device cuda --out "$work/$t" ${SEEDS:+--seeds "$SEEDS"} "${extra[@]}" >"$out/$t.log" 2>&1
    echo "exit $? after $(( $(date +%s) - start )) s" >>"$out/$t.log"
    for f in "$work/$t"/results.md "$work/$t"/results.csv "$work/$t"/*.png; do
      [ -f "$f" ] && cp "$f" "$out/$t-$(basename "$f")"
    done
  ) &
done
wait
for t in $tables; do
  echo "== $t: $(tail -n 1 "$out/$t.log")"
  [ -f "$out/$t-results.md" ] && cat "$out/$t-results.md"
done
