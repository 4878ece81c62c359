#!/usr/bin/env python3
"""Issue 17's CPU goal, side by side in one run: training (and inference) images/s of the quick
cpvt-fmnist table's ViT (vit_tiny_patch4_28: 4 blocks, width 96, 3 heads, patch 4, grey 28 px,
10 classes, batch 32 as the quick table trains) in pesuite (`pesuite bench vit`) and in Debian's
PyTorch from Python (scripts/reference/bench_vit.py: the same model, AdamW, cross-entropy), on
the same CPU threads, fp32. The runs alternate (ours, PyTorch, ours, ...) for ROUNDS rounds per
positional encoding, so a busy machine slows both sides alike; the figure per side is the median
over the rounds. Writes OUT/runs.jsonl (every run's JSON line, with side and round), OUT/results.csv
and OUT/results.md, and prints the markdown.

    python3 scripts/reference/vit_cpu.py --pesuite build/experiments/pesuite --out results/vit-cpu
    (options: --python /usr/bin/python3 --threads 2 --rounds 3 --pe none learned peg --batch 32)
"""
import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError("no JSON line from: " + " ".join(cmd))
    return json.loads(lines[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pesuite", required=True, help="the pesuite binary")
    ap.add_argument("--python", default="/usr/bin/python3", help="the Python with the reference torch (Debian's python3-torch)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pe", nargs="+", default=["none", "learned", "peg"], help="the quick table's rows")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    common = ["--model", "vit_tiny_patch4_28", "--img", "28", "--classes", "10", "--batch", str(a.batch), "--device", "cpu",
              "--amp", "none", "--threads", str(a.threads), "--steps", str(a.steps), "--warmup", str(a.warmup),
              "--repeats", str(a.repeats)]
    # pesuite's launcher sets OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep instead of spinning) and
    # pesuite keeps freed memory in the heap (core/malloc_policy.h). PyTorch runs with the
    # environment as it is, with PASSIVE, and with PASSIVE plus the same malloc settings through
    # GLIBC_TUNABLES; its best figure is the reference. "pesuite-system" is pesuite with glibc's
    # default malloc (PESUITE_MALLOC=system), to show what the setting does.
    kept = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"
    ref = lambda pe: [a.python, os.path.join(HERE, "bench_vit.py"), "--pe", pe] + common
    ours = lambda pe: [a.pesuite, "bench", "vit", "--json", "--pe", pe] + common
    sides = {
        "pesuite": (ours, None),
        "pytorch": (ref, None),
        "pytorch-passive": (ref, dict(os.environ, OMP_WAIT_POLICY="PASSIVE")),
        "pytorch-passive-kept": (ref, dict(os.environ, OMP_WAIT_POLICY="PASSIVE", GLIBC_TUNABLES=kept)),
        "pesuite-system": (ours, dict(os.environ, PESUITE_MALLOC="system")),
    }
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    build = json.loads(subprocess.run([a.pesuite, "version", "--json"], check=True, capture_output=True, text=True).stdout)
    runs = []
    with open(os.path.join(a.out, "runs.jsonl"), "a") as log:
        for pe in a.pe:
            for r in range(a.rounds):
                for side, (cmd, env) in sides.items():
                    j = run_json(cmd(pe), env)
                    j.update({"side": side, "round": r, "pe": pe})
                    runs.append(j)
                    log.write(json.dumps(j) + "\n")
                    log.flush()
                    print(f"{pe} round {r} {side}: train {j['train_img_s']:.1f} img/s, infer {j['infer_img_s']:.1f} img/s",
                          file=sys.stderr)

    def median(pe, side, key):
        return statistics.median(j[key] for j in runs if j["pe"] == pe and j["side"] == side)

    torch_versions = {side: next(j["torch"] for j in runs if j["side"] == side) for side in sides}
    rows = []
    refs = ("pytorch", "pytorch-passive", "pytorch-passive-kept")
    for pe in a.pe:
        ours_t, ours_i = median(pe, "pesuite", "train_img_s"), median(pe, "pesuite", "infer_img_s")
        best_t = max(refs, key=lambda side: median(pe, side, "train_img_s"))
        best_i = max(refs, key=lambda side: median(pe, side, "infer_img_s"))
        ref_t, ref_i = median(pe, best_t, "train_img_s"), median(pe, best_i, "infer_img_s")
        rows.append({"pe": pe, "pesuite_train_img_s": round(ours_t, 1), "pytorch_train_img_s": round(ref_t, 1),
                     "pytorch_train_side": best_t, "train_ratio": round(ours_t / ref_t, 3),
                     "pesuite_infer_img_s": round(ours_i, 1), "pytorch_infer_img_s": round(ref_i, 1),
                     "pytorch_infer_side": best_i, "infer_ratio": round(ours_i / ref_i, 3),
                     "pesuite_system_malloc_train_img_s": round(median(pe, "pesuite-system", "train_img_s"), 1),
                     "pytorch_as_is_train_img_s": round(median(pe, "pytorch", "train_img_s"), 1)})
    with open(os.path.join(a.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    md = [f"# CPU: the quick cpvt-fmnist ViT, pesuite vs PyTorch from Python ({date})", "",
          f"vit_tiny_patch4_28 (4 blocks, width 96, 3 heads, patch 4, 28 px grey, 10 classes), batch {a.batch}, fp32, "
          f"AdamW, {a.threads} threads on both sides; machine: {platform.node()} ({os.cpu_count()} cores). "
          f"pesuite: LibTorch {torch_versions['pesuite']}; PyTorch {torch_versions['pytorch']} ({a.python}), run with the "
          f"environment as it is, with OMP_WAIT_POLICY=PASSIVE (as pesuite's launcher sets it), and with PASSIVE plus "
          f"GLIBC_TUNABLES={kept} (the malloc settings pesuite applies itself, core/malloc_policy.h): the best median of the "
          f"three is the PyTorch figure (its setting in results.csv). "
          f"Each figure: the median over {a.rounds} alternating rounds of `bench vit` / bench_vit.py, each the median of "
          f"{a.repeats} blocks of {a.steps} steps after {a.warmup} warm-up (runs.jsonl: every run).", "",
          "Command: `" + " ".join(["python3", "scripts/reference/vit_cpu.py"] + sys.argv[1:]) + "`", "",
          f"pesuite build: git {build.get('git_sha', '?')} (as configured), malloc policy {build.get('malloc', '?')}, "
          f"OMP_WAIT_POLICY {build.get('omp_wait_policy', '?')}; run {started} to "
          f"{datetime.datetime.now(datetime.timezone.utc).strftime('%H:%M')} UTC.", "",
          "| pe | pesuite train img/s | PyTorch train img/s (best setting) | ratio | pesuite infer img/s | PyTorch infer img/s (best) | ratio "
          "| pesuite train, glibc's default malloc | PyTorch train, environment as is |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['pe']} | {r['pesuite_train_img_s']:,.1f} | {r['pytorch_train_img_s']:,.1f} ({r['pytorch_train_side']}) | "
                  f"{r['train_ratio']:.2f} | {r['pesuite_infer_img_s']:,.1f} | {r['pytorch_infer_img_s']:,.1f} ({r['pytorch_infer_side']}) | "
                  f"{r['infer_ratio']:.2f} | {r['pesuite_system_malloc_train_img_s']:,.1f} | {r['pytorch_as_is_train_img_s']:,.1f} |")
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
