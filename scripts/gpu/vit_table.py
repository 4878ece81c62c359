#!/usr/bin/env python3
"""The table of scripts/gpu/bench_vit.sh: reads OUT/throughput.jsonl and OUT/latency.jsonl (one JSON
line per run, with the side: fast | plain | eager | compiled) and writes OUT/results.md and
OUT/results.csv, printing the markdown. Ratios are against the compiled side (torch.compile):
img/s ours / compiled (>1: we are faster); latency compiled ms / ours ms (>1: we are faster).
A run that failed or was left out for the time budget shows as FAILED / skipped.

    python3 scripts/gpu/vit_table.py OUT
"""
import csv
import json
import os
import sys

SIDES = ["fast", "plain", "eager", "compiled"]


def load(path):
    rows = {}
    order = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                key = (r.get("model"), r.get("amp_tag", r.get("amp")), r.get("side"))
                if key[0] not in order:
                    order.append(key[0])
                rows[key] = r  # a later run of the same key wins
    except OSError:
        pass
    return rows, order


def cell(r, field, fmt):
    if r is None:
        return "-"
    if "skipped" in r:
        return "skipped"
    if "failed" in r:
        return "FAILED"
    v = r.get(field)
    return fmt(v) if isinstance(v, (int, float)) and v > 0 else "-"


def ratio(a, b, field, invert=False):
    try:
        x, y = a[field], b[field]
        if x > 0 and y > 0:
            return "%.2f" % ((y / x) if invert else (x / y))
    except (TypeError, KeyError):
        pass
    return "-"


def main():
    out = sys.argv[1]
    md = []
    thr, thr_models = load(os.path.join(out, "throughput.jsonl"))
    lat, lat_models = load(os.path.join(out, "latency.jsonl"))
    any_row = next(iter(list(thr.values()) + list(lat.values())), {})
    md.append("ViT speed: ours fast = `bench vit --fast-path --cuda-graphs`, ours plain = `bench vit`, eager = "
              "scripts/reference/bench_vit.py, compiled = the same with torch.compile (default mode; "
              "reduce-overhead for batch-1 latency). torch %s, device %s." % (any_row.get("torch", "?"), any_row.get("device", "?")))
    md.append("")
    if thr:
        batch = next((r.get("batch") for r in thr.values() if r.get("batch")), "?")
        md.append("Throughput, batch %s, amp %s (img/s; ratio = ours / compiled; peak = GPU memory allocated at the "
                  "peak of the phase, MiB)" % (batch, next((r.get("amp") for r in thr.values() if r.get("amp")), "?")))
        md.append("")
        md.append("| model | phase | ours fast | ours plain | eager | compiled | fast / compiled | plain / compiled | plain / eager | "
                  "peak MiB fast | plain | eager | compiled | fast side: kernels / graphs |")
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for m in thr_models:
            amp = next((k[1] for k in thr if k[0] == m), None)
            s = {side: thr.get((m, amp, side)) for side in SIDES}
            for phase in ("train", "infer"):
                f = phase + "_img_s"
                pk = phase + "_peak_mb"
                fr = s["fast"] or {}
                kern = ("%s / %s" % ("yes" if fr.get("fast_kernels") else "NO", "yes" if fr.get("cuda_graphs") else "NO")
                        if "fast_kernels" in fr else "-")
                md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    m, phase, *(cell(s[x], f, lambda v: "{:,.0f}".format(v)) for x in SIDES),
                    ratio(s["fast"] or {}, s["compiled"] or {}, f), ratio(s["plain"] or {}, s["compiled"] or {}, f),
                    ratio(s["plain"] or {}, s["eager"] or {}, f),
                    *(cell(s[x], pk, lambda v: "{:,.0f}".format(v)) for x in SIDES), kern))
        md.append("")
    if lat:
        md.append("Batch-1 latency (ms per call, median; ratio = compiled ms / ours ms, > 1: ours is faster)")
        md.append("")
        md.append("| model | amp | ours fast | ours plain | eager | compiled (reduce-overhead) | compiled / fast | compiled / plain |")
        md.append("|---|---|---:|---:|---:|---:|---:|---:|")
        keys = []
        for k in lat:
            if (k[0], k[1]) not in keys:
                keys.append((k[0], k[1]))
        for m, amp in sorted(keys, key=lambda k: (lat_models.index(k[0]), str(k[1]))):
            s = {side: lat.get((m, amp, side)) for side in SIDES}
            md.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                m, "fp32" if amp == "none" else amp, *(cell(s[x], "latency_ms", lambda v: "%.3f" % v) for x in SIDES),
                ratio(s["fast"] or {}, s["compiled"] or {}, "latency_ms", invert=True),
                ratio(s["plain"] or {}, s["compiled"] or {}, "latency_ms", invert=True)))
        md.append("")
    if not thr and not lat:
        md.append("(no runs recorded)")
    text = "\n".join(md) + "\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    fields = ["phase", "model", "amp", "side", "status", "train_img_s", "infer_img_s", "latency_ms", "train_peak_mb",
              "infer_peak_mb", "fast_kernels", "cuda_graphs", "compile_s", "wall_s", "torch", "device"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for table, phase in ((thr, "throughput"), (lat, "latency")):
            for (m, amp, side), r in table.items():
                st = "skipped" if "skipped" in r else ("failed" if "failed" in r else "ok")
                w.writerow([phase, m, amp, side, st] + [r.get(k, "") for k in fields[5:]])
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
