#!/usr/bin/env python3
"""Compares two `pesuite reproduce TABLE --out DIR` folders value by value: results.csv without its
wall-clock columns (wall_s*, train_s*, images/s), rows matched by their key columns, and every
run's metrics.csv (per-epoch rows and the run's summary) without wall-clock fields ("seconds",
"*_s"). Runs are matched by experiment and fold, not by time stamp. A side may be several folders
(a table run in parts, joined by commas). Exit 0 when everything is identical, 1 otherwise (each
difference printed).
  usage: scripts/compare-runs.py OLD_OUT[,OLD_OUT2...] NEW_OUT[,NEW_OUT2...]"""
import csv, glob, os, sys


def clock(key):
    return "second" in key or key.endswith("_s") or "_s_" in key or key.endswith("/s")


def table(roots):
    """Rows of results.csv by key (the columns before the first *_mean), or None when one is missing."""
    out = {}
    for root in roots.split(","):
        path = os.path.join(root, "results.csv")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            reader = csv.DictReader(f)
            cols = reader.fieldnames
            first = next((i for i, c in enumerate(cols) if c.endswith("_mean")), 1)
            for r in reader:
                if r.get("status", "ok") != "ok" and not any(r[c] for c in cols if c.endswith("_values")):
                    continue  # a row this part did not run
                out[tuple(r[c] for c in cols[:first])] = {k: v for k, v in r.items() if not clock(k)}
    return out


def runs(roots):
    out = {}
    for root in roots.split(","):
        out.update(runs_in(root))
    return out


def runs_in(root):
    out = {}
    for f in glob.glob(os.path.join(root, "runs", "*", "*", "**", "metrics.csv"), recursive=True):
        parts = os.path.relpath(f, os.path.join(root, "runs")).split(os.sep)  # experiment, stamp, [fold], metrics.csv
        with open(f) as fh:
            rows = [{k: v for k, v in r.items() if not clock(k)} for r in csv.DictReader(fh)]
        where = parts[2] if len(parts) > 3 else "summary:" + (rows[0].get("fold", "") if rows else "")
        out[(parts[0], where)] = rows
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    old, new = sys.argv[1:3]
    status = 0
    a, b = table(old), table(new)
    if a is None or b is None:
        print("results.csv missing in", old if a is None else new)
        status = 1
    elif a != b:
        status = 1
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                print("results.csv DIFFERENT", k, "\n  old", a.get(k), "\n  new", b.get(k))
    else:
        print(f"results.csv: {len(a)} rows identical (wall-clock columns left out)")
    ra, rb = runs(old), runs(new)
    common = sorted(set(ra) & set(rb))
    for k in sorted(set(ra) ^ set(rb)):
        print("only in", "old" if k in ra else "new", k)
        status = 1
    values = sum(1 for k in common for r in ra[k] for v in r.values() if v)
    diff = [k for k in common if ra[k] != rb[k]]
    for k in diff:
        print("metrics.csv DIFFERENT", k)
    print(f"metrics.csv: {len(common)} files in both, {len(common) - len(diff)} identical, {values} non-empty values compared")
    sys.exit(1 if diff else status)


main()
