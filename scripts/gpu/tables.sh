#!/usr/bin/env bash
# The full tables on the GPU machine (device tool). Each table's runs (one per row, seed and, for
# cross-validated rows, fold) are shared by several worker processes through `--claim`, on the GPU
# and, optionally, on CPU cores beside it; the table is then assembled from the saved runs
# (`--assemble`). Small GNNs are bound by kernel launches on one CPU core each, so many workers
# share the one GPU well.
#   usage: bash scripts/gpu/tables.sh BUILD_DIR OUT DATA [LIMIT_S [TABLE[:GPU[+CPU]]...]]
#     DATA     folder with fashion-mnist/, tu/, ogb/ (as .device-data, see gpu-check.sh); for
#              cpvt-scenes also pesuite-cache/scenes/ (the scenes: object bank, made where
#              openclipart-png is by scripts/gpu/scenes-bank.sh); for clip-*:
#              clip/bpe_simple_vocab_16e6.txt.gz and scene-bank.safetensors (a copy of the scenes'
#              object bank from ~/.cache/pesuite/scenes/, built by any scenes: run where OpenCV is);
#              for pin the same two, and coco-tiny/ for its domain-shift column (skipped without it);
#              pin runs in one process (pin:1+0): its rows share one cached VLM pretraining
#     LIMIT_S  wall limit for the workers (default 540); runs they finished are kept, the table says
#              "partial", and a later call with UNITS_IN continues it
#     TABLE    e.g. tu:6+4 = 6 CUDA workers and 4 CPU workers (default 1+0);
#              default tables: cpvt-fmnist cpvt-ablation csl tu counting ogb-mol
#   env: SEEDS (seeds per row; default the table's), UNITS_IN (an earlier call's OUT/units: its
#        saved runs are reused), THREADS (CPU threads per worker, default 1: tables whose data
#        pipeline is CPU work, e.g. headpose's renders and crops, want several)
# OUT gets <table>.log, <table>-results.md / -results.csv (plus plots), <table>-progress.txt (each
# run's last training row: how far a run the limit stopped got) and units/<table>/*.json
# (the saved runs, to carry into the next call), <table>-runs.tgz (the run folders' small files:
# answers, TextSpan texts, logs, a few heatmaps); the rest of the run folders stays in /tmp.
set -u
if [ $# -lt 3 ]; then
  echo "usage: $0 BUILD_DIR OUT DATA [LIMIT_S [TABLE[:GPU[+CPU]]...]]" >&2
  exit 2
fi
build=$1 out=$2 data=$3 limit=${4:-540}
shift $(( $# < 4 ? $# : 4 ))
tables=${*:-"cpvt-fmnist cpvt-ablation csl tu counting ogb-mol"}
bin=$build/experiments/pesuite
work=/tmp/pesuite-tables
mkdir -p "$work" "$out/units"
export PESUITE_DATA=$data
start=$(date +%s)
for spec in $tables; do
  t=${spec%%:*}
  workers=${spec#"$t"}; workers=${workers#:}; workers=${workers:-1}
  gpu=${workers%%+*} cpu=0
  [[ $workers == *+* ]] && cpu=${workers#*+}
  args=(reproduce "$t" --out "$work/$t" ${SEEDS:+--seeds "$SEEDS"})
  envs=(PESUITE_DATA=$data)
  case $t in
    cpvt-scenes) envs+=(PESUITE_CACHE=$data/pesuite-cache) ;;  # the carried bank (no openclipart there)
    cpvt-*) args+=(--set "data.train=idx:$data/fashion-mnist?split=train" --set "data.test=idx:$data/fashion-mnist?split=test") ;;
    clip-*|pin) args+=(--set "data.bank=$data/scene-bank.safetensors") ;;  # no OpenCV / openclipart there: the bank built here
  esac
  mkdir -p "$work/$t/units"
  if [ -n "${UNITS_IN:-}" ] && [ -d "$UNITS_IN/$t" ]; then cp "$UNITS_IN/$t"/*.json "$work/$t/units/" 2>/dev/null; fi
  echo "${args[*]}" >"$work/$t.args"
  echo "${envs[*]}" >"$work/$t.envs"  # the assembly below runs with the workers' environment
  for i in $(seq "$gpu"); do
    env "${envs[@]}" timeout "$limit" "$bin" --threads "${THREADS:-1}" "${args[@]}" --device cuda --claim >"$out/$t.gpu$i.log" 2>&1 &
  done
  for i in $(seq "$cpu"); do
    env "${envs[@]}" timeout "$limit" "$bin" --threads "${THREADS:-1}" "${args[@]}" --device cpu --claim >"$out/$t.cpu$i.log" 2>&1 &
  done
done
wait
echo "workers done after $(( $(date +%s) - start )) s"
# How far each run got (the workers' logs stay empty until a run ends): the last training row of
# every run folder, so that a run the limit stopped shows its step.
for spec in $tables; do
  t=${spec%%:*}
  for m in "$work/$t"/runs/*/*/metrics.jsonl; do
    [ -f "$m" ] && echo "${m#"$work/"}: $(grep '"epoch"' "$m" | tail -n 1)"
  done >"$out/$t-progress.txt"
  echo "== $t: runs' last rows"; cat "$out/$t-progress.txt"
done
for spec in $tables; do
  t=${spec%%:*}
  read -r -a args <"$work/$t.args"
  read -r -a envs <"$work/$t.envs"  # e.g. cpvt-scenes' bank: without it its rows are skipped
  env "${envs[@]}" "$bin" "${args[@]}" --assemble >"$out/$t.log" 2>&1
  mkdir -p "$out/units/$t"
  cp "$work/$t"/units/*.json "$out/units/$t/" 2>/dev/null
  for f in "$work/$t"/results.md "$work/$t"/results.csv "$work/$t"/*.png; do
    [ -f "$f" ] && cp "$f" "$out/$t-$(basename "$f")"
  done
  # The runs' own small files, what results.md summarises: per-query answers (pin), per-head texts
  # (TextSpan), logs, configs, and the first 8 heatmaps of each run; no weights, no checkpoints.
  if [ -d "$work/$t/runs" ]; then
    (cd "$work/$t" && {
      find runs -type f \( -name '*.tsv' -o -name '*.md' -o -name 'log.txt' -o -name 'metrics.jsonl' -o -name 'config.toml' \) -size -4M
      find runs -type f -path '*/heatmaps/*.png' | sort | awk '{ d = $0; sub(/\/[^\/]*$/, "", d); if (++n[d] <= 8) print }'
    } | tar czf "$out/$t-runs.tgz" -T -)
  fi
  echo "== $t: $(ls "$work/$t"/units/*.json 2>/dev/null | wc -l) runs saved"
  grep -h -E "error|Error" "$out/$t".*.log 2>/dev/null | head -5
  [ -f "$out/$t-results.md" ] && cat "$out/$t-results.md"
done
