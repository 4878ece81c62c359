#!/usr/bin/env python3
"""Side-by-side GPU kernel table of two Chrome traces (pesuite's `--profile` and the Python
reference's `--profile`, both Kineto): per kernel name, launches and total GPU time per step, plus
the GPU-busy time and the wall span per step. Shows where one side spends more than the other.

    python3 scripts/gpu/kernel_table.py ours.json ref.json --steps 5 [--top 30]
"""
import argparse
import collections
import json


def load(path):
    events = json.load(open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    kernels = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    by_name = collections.defaultdict(lambda: [0, 0.0])
    for e in kernels:
        r = by_name[e["name"][:90]]
        r[0] += 1
        r[1] += float(e.get("dur", 0))
    span = (max(e["ts"] + e.get("dur", 0) for e in kernels) - min(e["ts"] for e in kernels)) if kernels else 0.0
    return by_name, sum(r[1] for r in by_name.values()), span, len(kernels)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ours")
    ap.add_argument("ref")
    ap.add_argument("--steps", type=int, default=5, help="steps in each trace (figures are per step)")
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    o, r = load(a.ours), load(a.ref)
    s = a.steps
    print(f"per step: GPU busy ours {o[1] / s / 1e3:.3f} ms / ref {r[1] / s / 1e3:.3f} ms; "
          f"first-to-last kernel span ours {o[2] / s / 1e3:.3f} ms / ref {r[2] / s / 1e3:.3f} ms; "
          f"kernels ours {o[3] / s:.0f} / ref {r[3] / s:.0f}")
    names = set(o[0]) | set(r[0])
    rows = sorted(names, key=lambda n: -max(o[0].get(n, [0, 0])[1], r[0].get(n, [0, 0])[1]))
    print(f"{'kernel':90s} {'n ours':>7s} {'us ours':>9s} {'n ref':>7s} {'us ref':>9s}")
    for n in rows[:a.top]:
        oc, ot = o[0].get(n, [0, 0.0])
        rc, rt = r[0].get(n, [0, 0.0])
        print(f"{n:90s} {oc / s:7.1f} {ot / s:9.1f} {rc / s:7.1f} {rt / s:9.1f}")


if __name__ == "__main__":
    main()
