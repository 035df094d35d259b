"""Throughput of the sweep backends, side by side: the same small cue sweep on a local pool of
1 and 2 worker processes and on a loopback Ray cluster of 1 and 2 one-CPU nodes, each into a
fresh store, in the order 1, 2, 2, 1 (so that a drift of the machine's load hits both).
Checks that every run's results are the same. Prints a Markdown table.

    .venv/bin/python -P sweeps/bench_backends.py [--seeds N] [--n-train N]
"""

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from eligo.model import sweep as sw  # noqa: E402

SWEEP = """
name = "bench"
preset = "cue"
baseline = "none"
seeds = {seeds}
hold_lr = true
[train]
n_train = {n_train}
n_test = 100
weight_scale = 1.5
[config]
trigger = 8192
lr_shift = 11
lr_out_shift = 13
[task]
name = "cue"
params = {{ n_cues = 1, delay_steps = 50 }}
[axes]
trace_mode = ["full", "factored"]
[axes.weights]
w_bits = [6, 8]
w_frac = [4, 6]
"""


def results(store):
    out = {}
    for path in sorted(Path(store).glob("*.json")):
        result = json.loads(path.read_text())["result"]
        for record in result["history"] + [result["final"]]:
            record.pop("epoch_seconds", None)
        out[path.name] = result
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds (4 points each)")
    parser.add_argument("--n-train", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    path = root / "bench.toml"
    path.write_text(SWEEP.format(seeds=list(range(1, args.seeds + 1)), n_train=args.n_train))
    sweep = sw.load_sweep(path)
    n = len(sweep.all_points())
    quiet = dict(out=lambda *a: None, progress_stream=io.StringIO())
    runs = []

    def timed(label, **kw):
        store = root / f"{label.replace(' ', '_')}_{len(runs)}"
        start = time.perf_counter()
        summary = sw.run_sweep(sweep, store, **kw, **quiet)
        seconds = time.perf_counter() - start
        assert summary["ran"] == n and summary["failed"] == 0, summary
        runs.append((label, seconds, results(store)))
        print(f"{label}: {n} points in {seconds:.1f} s ({n / seconds * 3600:.0f} points/hour)",
              flush=True)

    for workers in (1, 2, 2, 1):
        timed(f"local {workers}", workers=workers)
    for nodes in (1, 2, 2, 1):
        with sw.loopback_ray_cluster(nodes=nodes, cpus_per_node=1) as address:
            timed(f"ray {nodes}", backend="ray", address=address)
    first = runs[0][2]
    assert all(r[2] == first for r in runs), "the backends disagree"
    print(f"\nall {len(runs)} runs gave the same results for the {n} points\n")
    print("| backend | workers | seconds (each run) | points/hour (mean) | speed-up 2 vs 1 |")
    print("| --- | --- | --- | --- | --- |")
    for backend in ("local", "ray"):
        mean = {}
        for w in (1, 2):
            secs = [s for label, s, _ in runs if label == f"{backend} {w}"]
            mean[w] = sum(secs) / len(secs)
            speed = f"{mean[1] / mean[2]:.2f}x" if w == 2 else ""
            print(f"| {backend} | {w} | {', '.join(f'{s:.1f}' for s in secs)} | "
                  f"{n / mean[w] * 3600:.0f} | {speed} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
