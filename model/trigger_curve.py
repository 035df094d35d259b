"""Weight writes against accuracy as the error trigger's threshold varies (issue 3).

The golden tier learns online with its error trigger: a neuron's row is written only when its
accumulated learning signal reaches the threshold Theta (``trigger``), by ``q`` multiples of
Theta. Along the curve the recurrent threshold runs over powers of two and ``lr_shift`` moves
with it, so that the real learning rate per unit of accumulated error
(:func:`eligo.model.bridge.learning_rates`) stays the same: doubling Theta halves the number
of writes that a given error causes and doubles each write. The readout rows keep their
trigger and rate. A small Theta with an unclipped ``q`` (``q_max`` 7) is the same rule writing
nearly every row at every target step; the saving factor of every point is counted against
exactly that, as ``eligo train`` does (``writes_saved_factor``: the writes of every row at
every target step, recurrent and readout, divided by the writes made). With 8-bit weights that
golden baseline may not learn at all; ``--float-baseline`` adds the rule itself in float (the
reference tier with ``every_step``: no trigger, every row at every target step, same real
learning rates), the accuracy the trigger is measured against.

Each point is trained with several seeds (each seed draws its own task and initial weights);
the report gives the final test accuracy of each seed, its mean and spread, and the writes
per sample. ``python -m eligo.model.trigger_curve randman`` (or ``cue``) writes
``trigger_curve_<name>.json`` and ``.png`` to ``--out`` (default ``docs``).
"""

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .train import TrainSettings, train

__all__ = ["CURVES", "Point", "curve_points", "run_curve", "merge", "table", "plot_curve",
           "main"]

# name -> settings of the curve: TrainSettings fields, the recurrent (trigger, lr_shift) pair
# that fixes the real learning rate, and the default thresholds and seeds.
CURVES = {
    # 2-class random manifolds, the settings of the best golden row of docs/results.md
    # (trigger 8192 with lr_shift 9 is the real rate of lr_shift 11 at trigger 2048).
    "randman": dict(
        settings=dict(task="randman", task_params={"n_classes": 2}, epochs=2, n_train=200,
                      n_test=500, weight_scale=1.0,
                      config_changes={"n_in": 20, "trigger_out": 2048, "lr_out_shift": 11}),
        rate=(2048, 11), triggers=(256, 1024, 2048, 4096, 8192, 16384)),
    # Cue accumulation, easy variant (one cue, 50-step delay, 350 steps).
    "cue": dict(
        settings=dict(task="cue", task_params={"n_cues": 1, "delay_steps": 50}, epochs=3,
                      n_train=200, n_test=300, weight_scale=1.5,
                      config_changes={"trigger_out": 2048, "lr_out_shift": 13}),
        rate=(2048, 13), triggers=(256, 1024, 2048, 4096, 8192, 16384)),
}


@dataclasses.dataclass(frozen=True)
class Point:
    """One point of a curve: a recurrent threshold, its shift, ``q_max`` and a label; the
    golden tier, or the float reference learning at every step (``every_step``)."""
    trigger: int
    lr_shift: int
    q_max: int = 1
    label: str = ""
    every_step: bool = False

    def changes(self):
        return {"trigger": self.trigger, "lr_shift": self.lr_shift, "q_max": self.q_max}


def curve_points(name, triggers=None, q_max=1, baseline_q_max=7, rate_offset=0,
                 float_baseline=(), golden=True):
    """The points of curve ``name``: every threshold at the same real learning rate (each
    doubling of Theta takes one off ``lr_shift``), ``q_max`` as given; then the smallest
    threshold again with ``baseline_q_max`` (the every-row baseline: ``q`` is not clipped).
    ``rate_offset`` adds to every ``lr_shift`` (a lower real rate for every point).
    ``float_baseline``: ``lr_shift`` offsets (0: the same real rates) at which the float rule
    at every step comes first; ``golden=False`` leaves out the golden points."""
    spec = CURVES[name]
    base_trigger, base_shift = spec["rate"]
    triggers = sorted(spec["triggers"] if triggers is None else triggers)
    points = []
    for trigger in triggers:
        octaves = math.log2(trigger / base_trigger)
        if octaves != int(octaves):
            raise ValueError(f"trigger must be {base_trigger} times a power of two, "
                             f"not {trigger}")
        shift = base_shift - int(octaves) + rate_offset
        points.append(Point(trigger, shift, q_max, f"Theta={trigger / 4096:g}"))
    if baseline_q_max and baseline_q_max != q_max:
        first = points[0]
        points.insert(0, Point(first.trigger, first.lr_shift, baseline_q_max,
                               f"Theta={first.trigger / 4096:g}, q_max={baseline_q_max} "
                               f"(every-row baseline)"))
    if not golden:
        points = []
    for offset in sorted(float_baseline, reverse=True):
        points.insert(0, Point(base_trigger, base_shift + rate_offset + offset, q_max,
                               f"float e-prop, every row every step, lr/{2**offset}",
                               every_step=True))
    return points


def _run_one(args):
    name, point, seed, rate_offset = args
    import torch
    torch.set_num_threads(1)
    spec = CURVES[name]["settings"]
    settings = TrainSettings(tier="reference" if point.every_step else "golden", seed=seed,
                             every_step=point.every_step, **{
        **spec, "config_changes": {**spec["config_changes"], **point.changes()}})
    start = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        report = train(settings, out=lambda *a: None, progress_stream=quiet)
    return {"seed": seed, "seconds": time.perf_counter() - start,
            "history": [{k: r[k] for k in ("test_accuracy", "train_accuracy",
                                           "weight_writes_per_sample", "writes_saved_factor",
                                           "spikes_per_step")} for r in report["history"]]}


def run_curve(name, seeds=(1, 2, 3), points=None, jobs=1, out=print):
    """Train every point of curve ``name`` with every seed; returns the report dict."""
    points = curve_points(name) if points is None else points
    work = [(name, p, s, 0) for p in points for s in seeds]
    start = time.perf_counter()
    if jobs > 1:
        import multiprocessing
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            results = pool.map(_run_one, work)
    else:
        results = []
        for item in work:
            results.append(_run_one(item))
            r = results[-1]
            out(f"{item[1].label} (lr_shift {item[1].lr_shift}), seed {item[2]}: test accuracy "
                f"{r['history'][-1]['test_accuracy']:.3f}, "
                f"{r['history'][-1]['writes_saved_factor']:.1f}x, {r['seconds']:.0f} s")
    rows = [_row(dataclasses.asdict(point), results[i * len(seeds):(i + 1) * len(seeds)])
            for i, point in enumerate(points)]
    spec = CURVES[name]
    return {"curve": name, "settings": spec["settings"], "rate": spec["rate"],
            "seeds": list(seeds), "rows": rows, "seconds": time.perf_counter() - start,
            "note": "accuracy and writes of the last epoch; saved_factor counts against "
                    "every row (recurrent and readout) at every target step"}


def _row(point, runs):
    """A row of the report: the point (a dict of :class:`Point`'s fields), its runs (sorted
    by seed) and their last-epoch statistics."""
    runs = sorted(runs, key=lambda r: r["seed"])
    acc = np.array([r["history"][-1]["test_accuracy"] for r in runs])
    writes = np.array([r["history"][-1]["weight_writes_per_sample"] for r in runs])
    saved = np.array([r["history"][-1]["writes_saved_factor"] for r in runs])
    return {**point, "trigger_real": point["trigger"] / 4096,
            "accuracy_mean": float(acc.mean()), "accuracy_min": float(acc.min()),
            "accuracy_max": float(acc.max()), "accuracy": acc.tolist(),
            "seeds": [r["seed"] for r in runs], "writes_per_sample": float(writes.mean()),
            "saved_factor": float(saved.mean()), "runs": runs}


def merge(reports):
    """One report from several of the same curve: the runs of equal points are joined (a run
    is a pure function of its point and seed; a seed run twice must agree)."""
    fields = [f.name for f in dataclasses.fields(Point)]
    points, runs = {}, {}
    for rep in reports:
        for row in rep["rows"]:
            point = {f: row.get(f, Point.__dataclass_fields__[f].default) for f in fields}
            key = tuple(point[f] for f in fields if f != "label")
            points.setdefault(key, point)
            for run in row["runs"]:
                old = runs.setdefault(key, {}).setdefault(run["seed"], run)
                if old["history"] != run["history"]:
                    raise ValueError(f"point {point['label']}, seed {run['seed']}: two reports "
                                     f"disagree")
    rows = [_row(points[k], list(runs[k].values())) for k in points]
    rows.sort(key=lambda r: (not r["every_step"], r["trigger"], -r["q_max"], r["lr_shift"]))
    return dict(reports[0], rows=rows, seconds=sum(rep["seconds"] for rep in reports),
                seeds=sorted({s for r in rows for s in r["seeds"]}))


def table(report):
    """The curve as a Markdown table."""
    lines = ["| tier | Theta (trigger) | q_max | lr_shift | writes/sample | saving | accuracy "
             "mean (min-max) | per seed |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["rows"]:
        if r.get("every_step", False):
            lines.append(f"| float, every row every step | - | - | {r['lr_shift']} | "
                         f"{r['writes_per_sample'] / 1000:.0f}k | {r['saved_factor']:.1f}x | "
                         f"{r['accuracy_mean']:.3f} ({r['accuracy_min']:.3f}-"
                         f"{r['accuracy_max']:.3f}) | "
                         f"{', '.join(f'{a:.3f}' for a in r['accuracy'])} |")
            continue
        lines.append(f"| golden | {r['trigger_real']:g} ({r['trigger']}) | {r['q_max']} | "
                     f"{r['lr_shift']} | {r['writes_per_sample'] / 1000:.0f}k | "
                     f"{r['saved_factor']:.1f}x | {r['accuracy_mean']:.3f} "
                     f"({r['accuracy_min']:.3f}-{r['accuracy_max']:.3f}) | "
                     f"{', '.join(f'{a:.3f}' for a in r['accuracy'])} |")
    return "\n".join(lines)


def plot_curve(report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    for q_max, marker in ((1, "o-"), (7, "s")):
        rows = [r for r in report["rows"]
                if r["q_max"] == q_max and not r.get("every_step", False)]
        if not rows:
            continue
        x = [r["saved_factor"] for r in rows]
        y = [r["accuracy_mean"] for r in rows]
        err = [[r["accuracy_mean"] - r["accuracy_min"] for r in rows],
               [r["accuracy_max"] - r["accuracy_mean"] for r in rows]]
        ax.errorbar(x, y, yerr=err, fmt=marker, capsize=3,
                    label="q_max=1 (ternary)" if q_max == 1 else f"q_max={q_max} (every-row "
                                                                 f"baseline)")
        for r in rows:
            ax.annotate(f"{r['trigger_real']:g}", (r["saved_factor"], r["accuracy_mean"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    floats = [r for r in report["rows"] if r.get("every_step", False)]
    for i, r in enumerate(floats):
        color = f"C{2 + i}"
        ax.axhspan(r["accuracy_min"], r["accuracy_max"], color=color, alpha=0.12)
        ax.axhline(r["accuracy_mean"], color=color, lw=1, label=f"{r['label']} (1x)")
    ax.axvline(20, color="grey", ls="--", lw=0.8, label="20x")
    ax.axhline(0.5, color="grey", ls=":", lw=0.8, label="chance")
    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100)
             if min(r["saved_factor"] for r in report["rows"]) / 1.5 <= t
             <= 1.5 * max(r["saved_factor"] for r in report["rows"])]
    ax.set_xticks(ticks, [f"{t}x" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("weight writes saved vs every row every target step (x)")
    ax.set_ylabel("test accuracy (last epoch)")
    s = report["settings"]
    ax.set_title(f"{s['task']} {s['task_params']}: golden tier, seeds "
                 f"{','.join(map(str, report['seeds']))}\n(labels: recurrent Theta; "
                 f"bars: min-max over seeds)", fontsize=9)
    ax.set_ylim(0.4, 1.02)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m eligo.model.trigger_curve",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("curve", choices=sorted(CURVES))
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--triggers", type=int, nargs="+", default=None,
                   help="recurrent thresholds (integers, 4096 = 1.0)")
    p.add_argument("--rate-offset", type=int, default=0,
                   help="added to every lr_shift (a lower real learning rate)")
    p.add_argument("--baseline-q-max", type=int, default=7)
    p.add_argument("--float-baseline", type=int, nargs="*", default=None, metavar="OFFSET",
                   help="add the float rule without the trigger (reference tier), at the "
                        "same real learning rate or at lr_shift + each OFFSET given")
    p.add_argument("--no-golden", action="store_true", help="only the float baseline")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="docs")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="compute nothing: join the rows of these reports of the same curve "
                        "(each run is a pure function of its point and seed) and write the "
                        "table, JSON and plot")
    args = p.parse_args(argv)
    if args.merge:
        report = merge([json.loads(Path(path).read_text()) for path in args.merge])
        return _write(report, Path(args.out), args.curve)
    points = curve_points(args.curve, args.triggers, baseline_q_max=args.baseline_q_max,
                          rate_offset=args.rate_offset,
                          float_baseline=() if args.float_baseline is None else
                          args.float_baseline or [0], golden=not args.no_golden)
    report = run_curve(args.curve, args.seeds, points, jobs=args.jobs,
                       out=lambda s: print(s, flush=True))
    return _write(report, Path(args.out), args.curve)


def _write(report, out_dir, name):
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"trigger_curve_{name}"
    Path(f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_curve(report, f"{stem}.png")
    print(table(report))
    print(f"wrote {stem}.json, {stem}.png ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
