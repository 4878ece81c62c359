#!/usr/bin/env bash
# LapPE (k=8) / RWSE (T=20) speed on TU datasets, pesuite next to PyG's own transforms
# (AddLaplacianEigenvectorPE(k, attr_name=None, is_undirected=True), AddRandomWalkPE(walk_length=20))
# through scripts/reference/graph_pe_reference.py --impl pyg, same graphs, same call, values checked.
# CPU work: the GPU machine is used for its Python with torch_geometric (and its cores).
#   usage: bash scripts/gpu/bench_graph_pe.sh BUILD_DIR OUT [DATA_DIR]
#     BUILD_DIR  a pesuite build (holds experiments/pesuite)
#     OUT        folder for the logs (created)
#     DATA_DIR   folder holding tu/MUTAG.zip and tu/ENZYMES.zip (default .device-data)
#   env: PYTHON (python3: must import torch_geometric for the pyg runs), THREADS ("1 0": 0 = all
#        cores), REPEAT (3, best of, both sides), NUMPY (1: also run the numpy/scipy reference)
# Prints each run's lines; exit status 1 if any run failed or reported MISMATCH.
set -u -o pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 BUILD_DIR OUT [DATA_DIR]" >&2
  exit 2
fi
build=$1
out=$2
data=${3:-.device-data}
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=$build/experiments/pesuite
script=$here/scripts/reference/graph_pe_reference.py
PYTHON=${PYTHON:-python3}
THREADS=${THREADS:-"1 0"}
REPEAT=${REPEAT:-3}
NUMPY=${NUMPY:-1}
if [ ! -x "$bin" ]; then
  echo "error: $bin not found or not executable (build the pesuite target in BUILD_DIR)" >&2
  exit 2
fi
for f in MUTAG ENZYMES; do
  if [ ! -f "$data/tu/$f.zip" ]; then
    echo "error: $data/tu/$f.zip is missing (DATA_DIR must hold tu/MUTAG.zip and tu/ENZYMES.zip)" >&2
    exit 2
  fi
done
mkdir -p "$out" || exit 2
if ! "$PYTHON" -c 'import torch_geometric, scipy; print("torch_geometric", torch_geometric.__version__)' >"$out/pyg-version.txt" 2>&1; then
  echo "error: $PYTHON cannot import torch_geometric and scipy:" >&2
  cat "$out/pyg-version.txt" >&2
  exit 2
fi
cat "$out/pyg-version.txt"
impls="pyg"
[ "$NUMPY" = 1 ] && impls="pyg numpy"
status=0
for impl in $impls; do
  for t in $THREADS; do
    log=$out/graph-pe-$impl-t$t.txt
    echo "== reference $impl, pesuite threads $t" >&2
    if "$bin" bench graph-pe --data-dir "$data" --case mutag --case enzymes --threads "$t" --repeat "$REPEAT" \
        --reference --reference-impl "$impl" --python "$PYTHON" --script "$script" >"$log" 2>&1; then
      cat "$log"
      if grep -q MISMATCH "$log"; then status=1; fi
    else
      echo "FAILED (log: $log)" >&2
      cat "$log" >&2
      status=1
    fi
  done
done
exit $status
