"""The quantization explorer: sweeps of configurations, trained point by point, kept for good.

A *sweep file* (TOML) names a base preset, the task(s), fixed configuration changes, training
settings, seeds and *axes*; the sweep is every combination of the axes' values for every task
and seed (a *point*), each trained with one tier (``golden`` by default), plus a *baseline* point
per task and seed with the float ``reference`` tier on the base configuration (the axes'
configuration values left out).

Sweep file::

    name = "cue-easy"          # label of the sweep (default: the file's stem)
    preset = "cue"             # base preset (default: cue)
    tier = "golden"            # tier of the points (default: golden)
    baseline = "reference"     # tier of the baseline points, or "none" (default: reference)
    seeds = [1, 2]             # each sets the task, the initial weights and Config.seed
    hold_lr = true             # keep the real learning rates when fraction bits change

    [train]                    # training settings (TRAIN_FIELDS), of every point
    n_train = 200
    weight_scale = 1.5
    epoch_params = { 2 = { eta = 2 } }   # golden: registers the host writes before epoch 2

    [baseline_train]           # changes to [train] for the baseline points only
    batch = 32                 # e.g. float e-prop over mini-batches with Adam
    epoch_params = {}

    [config]                   # fixed changes to the preset (any Config field)
    trigger = 8192

    [baseline_config]          # changes for the baseline points only (after a task's own)
    homeo_gain = 0

    [[task]]                   # one or more; [task] for a single one
    name = "cue"
    params = { n_cues = 1, delay_steps = 50 }
    config = {}                # changes for this task only (e.g. n_in = 20 for randman)

    [axes]
    trace_mode = ["full", "factored"]     # an axis over one field
    [axes.weights]                        # a linked axis: value i sets every field's i-th value
    w_bits = [4, 5, 6, 8]
    w_frac = [2, 3, 4, 6]

An axis field is a configuration field, ``task.NAME`` (a task parameter) or ``train.NAME``
(a training setting; it sets the baseline points' value too). ``hold_lr`` sets ``lr_shift``
and ``lr_out_shift`` of each point so that the real learning rates
(:func:`eligo.model.bridge.learning_rates`) equal the base configuration's when ``w_frac``,
``e_frac`` or ``trace_frac`` change, and likewise ``homeo_gain`` and ``homeo_target``, the
homeostatic term's real gain and target (unless an axis sets the field itself). Every point's
Config is built, and every task generated once, before anything runs: a bad file is refused
with one message naming the file, the place and the value.

Results store: one JSON file per point, ``<store>/<hash>.json``, where ``hash`` is the SHA-256
of the canonical JSON of the point's *key*: the full resolved configuration
(``Config.to_dict()``, less a field added since points were first stored while it holds the
value every earlier point had), the task and its resolved parameters, the training settings,
the seed, the tier and the golden model's ``MODEL_VERSION``. The key is stored inside the file and
compared when read, so a collision or an entry written under another key is detected. Files
are written to a temporary name in the same folder and renamed into place (``os.replace``):
a finished point is either there whole or not at all. A rerun skips every stored point; an
interrupted run loses only the points that were in flight.

Memory bits per synapse (:func:`memory_bits`): the bits each synapse keeps between steps:
``w_bits`` for the weight, plus with full traces ``e_bits`` for ``ebar`` and, on ALIF rows,
``eps_bits`` for ``eps_a``, averaged over the neurons: ``w_bits + e_bits + n_alif / n_rec *
eps_bits``. Factored traces keep no per-synapse state but the weight: ``w_bits``.
"""

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import os
import sys
import time
import tomllib
import traceback
from pathlib import Path

from eligo.config import FIELD_GROUPS, Config, PRESETS
from eligo.config import preset as get_preset

__all__ = ["SweepError", "Sweep", "Point", "load_sweep", "parse_sweep", "memory_bits",
           "Store", "run_sweep", "run_point", "report", "BACKENDS",
           "loopback_ray_cluster"]

BACKENDS = ("local", "ray")
# The TrainSettings fields a sweep may set; a point's key holds every one of them.
TRAIN_FIELDS = ("epochs", "n_train", "n_test", "weight_scale", "bptt_lr", "bptt_lr_decay",
                "batch", "eprop_lr", "eprop_lr_decay", "loss", "rate_reg", "rate_target",
                "epoch_params")
_TOP_KEYS = ("name", "preset", "tier", "baseline", "seeds", "hold_lr", "train",
             "baseline_train", "config", "baseline_config", "task", "axes")
_TASK_KEYS = ("name", "params", "config")


class SweepError(ValueError):
    """A bad sweep file, or a store entry that does not belong to its key."""


def memory_bits(cfg):
    """Bits kept per synapse between steps (weight and eligibility memories), averaged over
    the synapses of all neurons: ``w_bits + e_bits + n_alif / n_rec * eps_bits`` with full
    traces, ``w_bits`` with factored ones."""
    if cfg.trace_mode == "factored":
        return float(cfg.w_bits)
    return cfg.w_bits + cfg.e_bits + cfg.n_alif / cfg.n_rec * cfg.eps_bits


# Configuration fields added after points were first stored, left out of a point's key while
# they hold the value that every earlier point had, so that stored points keep their keys.
_KEY_LATER_FIELDS = {"counter_bits": 32}


def _key_config(cfg):
    config = cfg.to_dict()
    for name, old_value in _KEY_LATER_FIELDS.items():
        group = FIELD_GROUPS[name]
        if config[group][name] == old_value:
            del config[group][name]
    return config


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclasses.dataclass(frozen=True)
class Point:
    """One training run: its key (what identifies the result) and its labels (axis values)."""

    key: dict
    labels: dict            # axis field -> value (empty for a baseline point)
    baseline: bool = False

    @property
    def hash(self):
        return hashlib.sha256(_canonical(self.key).encode()).hexdigest()

    @property
    def config(self):
        return Config.from_dict(self.key["config"])

    @property
    def task(self):
        return self.key["task"]

    @property
    def seed(self):
        return self.key["seed"]

    @property
    def tier(self):
        return self.key["tier"]

    def describe(self):
        items = [self.task, self.tier, f"seed {self.seed}"]
        items += [f"{k}={v}" for k, v in self.labels.items()]
        return ", ".join(items)


@dataclasses.dataclass
class Sweep:
    """A parsed, validated sweep: its axes, its points and its baseline points."""

    name: str
    source: str
    preset: str
    tier: str
    baseline: str
    seeds: list
    axes: dict               # axis name -> list of {field: value}
    tasks: list              # names, in file order
    points: list             # Points of `tier`, in order (task, axes..., seed)
    baselines: list          # Points of `baseline`, one per task, non-config axes and seed

    @property
    def axis_fields(self):
        """Every field an axis sets, in file order."""
        return [f for values in self.axes.values() for f in values[0]]

    def all_points(self):
        return self.baselines + self.points


# -- parsing and validation -----------------------------------------------------------------

def _kind(field):
    """'config', 'task' or 'train' for an axis field, or None when unknown."""
    if field.startswith("task."):
        return "task"
    if field.startswith("train."):
        return "train" if field[6:] in TRAIN_FIELDS else None
    return "config" if field in FIELD_GROUPS else None


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _scaled(field, value, shift):
    """``value * 2**shift`` for hold_lr, refused where it is not an integer."""
    if shift >= 0:
        return value << shift
    if value % (1 << -shift):
        raise ValueError(f"hold_lr: {field} {value} would be {value} / 2**{-shift} at these "
                         f"fraction bits, not an integer; set {field} on this axis")
    return value >> -shift


def _config_table(data, name, fail):
    """The configuration changes of the ``[name]`` table (``config`` or ``baseline_config``)."""
    table = data.get(name, {})
    if not isinstance(table, dict):
        fail(f"[{name}] must be a table, not {table!r}")
    for key in table:
        if key not in FIELD_GROUPS:
            fail(f"unknown configuration field {key!r} in [{name}]")
        if key == "seed":
            fail(f"[{name}] cannot set seed: the sweep's seeds set it")
    return table


def _train_table(data, name, fail):
    """The settings of the ``[name]`` table (``train`` or ``baseline_train``), its keys
    checked against TRAIN_FIELDS and ``epoch_params`` read as ``{epoch: {register: value}}``
    (TOML keys are strings); the values are checked by TrainSettings with each point."""
    table = data.get(name, {})
    if not isinstance(table, dict):
        fail(f"[{name}] must be a table, not {table!r}")
    for key in table:
        if key not in TRAIN_FIELDS:
            fail(f"unknown key {key!r} in [{name}]; known keys: {', '.join(TRAIN_FIELDS)}")
    table = dict(table)
    if "epoch_params" in table:
        epochs = table["epoch_params"]
        if not isinstance(epochs, dict) or not all(
                isinstance(e, str) and e.isdigit() and isinstance(v, dict)
                for e, v in epochs.items()):
            fail(f"[{name}] epoch_params must be a table of epoch = {{ register = value }} "
                 f"(e.g. {{ 2 = {{ eta = 2 }} }}), not {epochs!r}")
        table["epoch_params"] = {int(e): dict(v) for e, v in epochs.items()}
    return table


def _key_train(settings):
    """A point key's training settings: every TRAIN_FIELDS value of ``settings``, with the
    ``epoch_params`` epochs as strings (what a JSON round trip makes of them)."""
    train = {f: getattr(settings, f) for f in TRAIN_FIELDS}
    train["epoch_params"] = {str(e): v for e, v in sorted(train["epoch_params"].items())}
    return train


def _settings_train(train):
    """The TrainSettings keywords of a key's training settings (:func:`_key_train`)."""
    return dict(train, epoch_params={int(e): v for e, v in train["epoch_params"].items()})


def load_sweep(path):
    """Read and validate a sweep file (see the module docstring)."""
    path = Path(path)
    if path.suffix != ".toml":
        raise SweepError(f"sweep file must end in .toml, not {str(path)!r}")
    return parse_sweep(path.read_text(), source=str(path), default_name=path.stem)


def parse_sweep(text, source="sweep", default_name="sweep"):
    """Validate the TOML text of a sweep and build every point (see the module docstring)."""
    from eligo.golden.vectors import MODEL_VERSION
    from .tasks import make_task
    from .train import TIERS

    def fail(msg):
        raise SweepError(f"{source}: {msg}")

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        fail(f"not valid TOML: {exc}")
    for key in data:
        if key not in _TOP_KEYS:
            fail(f"unknown key {key!r}; known keys: {', '.join(_TOP_KEYS)}")

    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        fail(f"name must be a non-empty string, not {name!r}")
    preset_name = data.get("preset", "cue")
    if preset_name not in PRESETS:
        fail(f"preset must be one of {', '.join(map(repr, PRESETS))}, not {preset_name!r}")
    tier = data.get("tier", "golden")
    if tier not in TIERS:
        fail(f"tier must be one of {', '.join(map(repr, TIERS))}, not {tier!r}")
    baseline = data.get("baseline", "reference")
    if baseline != "none" and baseline not in TIERS:
        fail(f"baseline must be 'none' or one of {', '.join(map(repr, TIERS))}, "
             f"not {baseline!r}")
    seeds = data.get("seeds", [1])
    if (not isinstance(seeds, list) or not seeds
            or not all(_is_int(s) and 0 <= s < 2**32 for s in seeds)
            or len(set(seeds)) != len(seeds)):
        fail(f"seeds must be a non-empty list of distinct integers in [0, 2**32 - 1], "
             f"not {seeds!r}")
    hold_lr = data.get("hold_lr", False)
    if not isinstance(hold_lr, bool):
        fail(f"hold_lr must be true or false, not {hold_lr!r}")

    # training settings: [train] for every point, [baseline_train] on top for the baselines
    from .train import TrainSettings
    defaults = TrainSettings()
    train_base = {f: getattr(defaults, f) for f in TRAIN_FIELDS}
    train_base.update(_train_table(data, "train", fail))
    baseline_train_base = dict(train_base, **_train_table(data, "baseline_train", fail))

    # fixed configuration changes
    fixed = _config_table(data, "config", fail)
    baseline_fixed = _config_table(data, "baseline_config", fail)

    # tasks
    tasks = data.get("task")
    if tasks is None:
        fail("no [[task]] given")
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, dict) for t in tasks):
        fail(f"task must be a table or an array of tables, not {tasks!r}")
    task_specs = []
    for i, t in enumerate(tasks):
        where = f"task {i + 1}"
        for key in t:
            if key not in _TASK_KEYS:
                fail(f"{where}: unknown key {key!r}; known keys: {', '.join(_TASK_KEYS)}")
        if "name" not in t:
            fail(f"{where}: no name")
        params = t.get("params", {})
        tconfig = t.get("config", {})
        for what, value in (("params", params), ("config", tconfig)):
            if not isinstance(value, dict):
                fail(f"{where}: {what} must be a table, not {value!r}")
        for key in tconfig:
            if key not in FIELD_GROUPS or key == "seed":
                fail(f"{where}: unknown configuration field {key!r} in config")
        task_specs.append((t["name"], params, tconfig))
    if len({t[0] for t in task_specs}) != len(task_specs):
        fail("each task may be given only once")

    # axes
    raw_axes = data.get("axes", {})
    if not isinstance(raw_axes, dict):
        fail(f"[axes] must be a table, not {raw_axes!r}")
    axes = {}
    seen_fields = {}
    for axis, spec in raw_axes.items():
        if isinstance(spec, list):
            spec = {axis: spec}
        elif not isinstance(spec, dict):
            fail(f"axis {axis!r} must be a list of values or a table of lists, not {spec!r}")
        if not spec:
            fail(f"axis {axis!r} has no fields")
        lengths = {}
        for field, values in spec.items():
            if _kind(field) is None:
                fail(f"axis {axis!r}: unknown field {field!r} (a configuration field, "
                     f"task.NAME or train.NAME with NAME one of {', '.join(TRAIN_FIELDS)})")
            if field == "seed":
                fail(f"axis {axis!r}: seed cannot be an axis: use seeds")
            if field in seen_fields:
                fail(f"axis {axis!r}: field {field!r} is already set by axis "
                     f"{seen_fields[field]!r}")
            seen_fields[field] = axis
            if not isinstance(values, list):
                fail(f"axis {axis!r}: {field} must be a list of values, not {values!r}")
            if not values:
                fail(f"axis {axis!r} has no values")
            if any(isinstance(v, (dict, list)) for v in values):
                fail(f"axis {axis!r}: {field} values must be numbers, strings or booleans, "
                     f"not {values!r}")
            lengths[field] = len(values)
        if len(set(lengths.values())) != 1:
            fail(f"axis {axis!r}: its fields have different numbers of values "
                 f"({', '.join(f'{f}: {n}' for f, n in lengths.items())})")
        n = next(iter(lengths.values()))
        axes[axis] = [{f: spec[f][i] for f in spec} for i in range(n)]
        # a linked axis may repeat a field's value (w_bits 8 with w_frac 6 and 7), not a
        # whole combination
        if len(set(map(_canonical, axes[axis]))) != n:
            if len(spec) == 1:
                (field, values), = spec.items()
                fail(f"axis {axis!r}: {field} has repeated values {values!r}")
            fail(f"axis {axis!r} repeats a combination of values: "
                 f"{', '.join(f'{f} = {v!r}' for f, v in spec.items())}")

    # build every point (and every task once), refusing the first bad one
    base_cfg = get_preset(preset_name)
    try:
        base_cfg = base_cfg.replace(**fixed) if fixed else base_cfg
    except (TypeError, ValueError) as exc:
        fail(f"[config]: {exc}")
    points, baselines, baseline_hashes = [], [], set()
    task_cache = {}

    def resolve(task_name, task_params, tconfig, assignment, seed, point_tier, where,
                train_settings, extra_config=None):
        config_changes = dict(tconfig, **(extra_config or {}))
        params = dict(task_params)
        settings = dict(train_settings)
        for field, value in assignment.items():
            kind = _kind(field)
            if kind == "config":
                config_changes[field] = value
            elif kind == "task":
                params[field[5:]] = value
            else:
                settings[field[6:]] = value
        try:
            task_base = base_cfg.replace(**tconfig) if tconfig else base_cfg
            cfg = base_cfg.replace(**config_changes, seed=seed)
            if hold_lr:
                shifts = {}
                if "lr_shift" not in config_changes:
                    shifts["lr_shift"] = (task_base.lr_shift + cfg.e_frac - task_base.e_frac
                                          - cfg.w_frac + task_base.w_frac)
                if "lr_out_shift" not in config_changes:
                    shifts["lr_out_shift"] = (task_base.lr_out_shift + cfg.trace_frac
                                              - task_base.trace_frac - cfg.w_frac
                                              + task_base.w_frac)
                # the homeostatic term: its gain counts in w_frac + y_frac fraction bits per
                # zout integer (trace_frac), its target in zout integers
                for field, bits in (("homeo_gain",
                                     lambda c: c.w_frac + c.y_frac - c.trace_frac),
                                    ("homeo_target", lambda c: c.trace_frac)):
                    if field not in config_changes:
                        shifts[field] = _scaled(field, getattr(task_base, field),
                                                bits(cfg) - bits(task_base))
                cfg = cfg.replace(**shifts)
            settings_obj = TrainSettings(task=task_name, tier=point_tier, preset=preset_name,
                                         seed=seed, task_params=params, **settings)
            settings_obj.check_epoch_values(cfg)
        except (TypeError, ValueError) as exc:
            fail(f"{where}: {exc}")
        for field in ("weight_scale", "bptt_lr"):
            if isinstance(settings[field], bool) or not isinstance(settings[field],
                                                                   (int, float)):
                fail(f"{where}: {field} must be a number, not {settings[field]!r}")
        cache_key = (task_name, _canonical(params))
        if cache_key not in task_cache:
            try:
                task_cache[cache_key] = make_task(task_name, 0, 0, 0, **params)
            except (TypeError, ValueError) as exc:
                fail(f"{where}: {exc}")
        data_ = task_cache[cache_key]
        if data_.n_in != cfg.n_in or (data_.kind == "regression" and data_.n_out != cfg.n_out):
            fail(f"{where}: task {task_name!r} has n_in={data_.n_in}, n_out={data_.n_out}; "
                 f"the configuration has n_in={cfg.n_in}, n_out={cfg.n_out}")
        if data_.kind == "classification" and cfg.n_out < data_.n_classes:
            fail(f"{where}: task {task_name!r} has {data_.n_classes} classes but the "
                 f"configuration only n_out={cfg.n_out} readouts")
        key = {
            "model_version": MODEL_VERSION,
            "tier": point_tier,
            "task": task_name,
            "task_params": data_.params,
            "seed": seed,
            "train": _key_train(settings_obj),
            "preset": preset_name,
            "config": _key_config(cfg),
        }
        # JSON round trip: the key as it will be read back from a file (tuples -> lists)
        return json.loads(_canonical(key))

    axis_names = list(axes)
    combos = list(itertools.product(*(range(len(axes[a])) for a in axis_names)))
    for task_name, task_params, tconfig in task_specs:
        for combo in combos:
            assignment = {}
            for a, i in zip(axis_names, combo):
                assignment.update(axes[a][i])
            labels = dict(assignment)
            for seed in seeds:
                n = len(points) + 1
                desc = ", ".join(f"{k}={v!r}" for k, v in labels.items())
                where = f"point {n} ({task_name}, seed {seed}{', ' if desc else ''}{desc})"
                key = resolve(task_name, task_params, tconfig, assignment, seed, tier, where,
                              train_base)
                points.append(Point(key, labels))
                if baseline != "none":
                    rest = {f: v for f, v in assignment.items() if _kind(f) != "config"}
                    bkey = resolve(task_name, task_params, tconfig, rest, seed, baseline,
                                   f"baseline of {where}", baseline_train_base,
                                   baseline_fixed)
                    bpoint = Point(bkey, rest, baseline=True)
                    if bpoint.hash not in baseline_hashes:
                        baseline_hashes.add(bpoint.hash)
                        baselines.append(bpoint)
    return Sweep(name=name, source=source, preset=preset_name, tier=tier, baseline=baseline,
                 seeds=list(seeds), axes=axes, tasks=[t[0] for t in task_specs],
                 points=points, baselines=baselines)


# -- the results store ------------------------------------------------------------------------

class Store:
    """One JSON file per finished point, named by the hash of its key, written atomically."""

    def __init__(self, directory):
        self.dir = Path(directory)

    def path(self, point):
        return self.dir / f"{point.hash}.json"

    def get(self, point):
        """The stored entry of ``point`` (a dict with key and result), or None."""
        path = self.path(point)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            entry = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SweepError(f"{path}: not valid JSON ({exc}); delete it to recompute the "
                             f"point") from None
        if entry.get("key") != point.key:
            raise SweepError(f"{path}: the stored key is not this point's (a hash collision "
                             f"or a stale entry); delete it to recompute the point")
        return entry

    def put(self, point, result, seconds, worker=""):
        """Write a point's result atomically (temporary file in the same folder, then
        ``os.replace``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        entry = {"hash": point.hash, "key": point.key, "result": result,
                 "seconds": seconds, "worker": worker,
                 "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        path = self.path(point)
        tmp = self.dir / f".{point.hash}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(entry, indent=1) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    def clean_temporaries(self):
        """Remove temporary files left by a killed run; returns how many."""
        if not self.dir.is_dir():
            return 0
        n = 0
        for tmp in self.dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            n += 1
        return n


# -- running points ---------------------------------------------------------------------------

def _quiet_worker():
    """One thread per worker, and OpenMP threads that sleep when idle (a shared machine)."""
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")


def run_point(key):
    """Train one point (its key as built by :func:`parse_sweep`); returns
    ``(result, seconds, worker)`` where result is the training report without its settings
    and configuration (they are the key), or ``{"error": traceback}``."""
    _quiet_worker()
    from .train import TrainSettings, train
    start = time.perf_counter()
    worker = f"{os.uname().nodename}:{os.getpid()}"
    try:
        if key["tier"] != "golden":
            import torch
            torch.set_num_threads(1)
        cfg = Config.from_dict(key["config"])
        base = get_preset(key["preset"])
        changes = {f: getattr(cfg, f) for f in FIELD_GROUPS if getattr(cfg, f) !=
                   getattr(base, f)}
        settings = TrainSettings(task=key["task"], tier=key["tier"], preset=key["preset"],
                                 seed=key["seed"], task_params=key["task_params"],
                                 config_changes=changes, **_settings_train(key["train"]))
        with open(os.devnull, "w") as devnull:
            rep = train(settings, out=lambda *a: None, progress_stream=devnull)
        if _key_config(Config.from_dict(rep["config"])) != key["config"]:
            raise RuntimeError("the trained configuration is not the point's")
        result = {k: rep[k] for k in ("metric", "chance", "history", "final")}
    except Exception:  # noqa: BLE001 - a failed point is stored with its traceback
        result = {"error": traceback.format_exc()}
    return result, time.perf_counter() - start, worker


def _run_local(todo, workers):
    """Yield (point, (result, seconds, worker)) as points finish, in a local process pool."""
    import concurrent.futures as cf
    import multiprocessing
    if workers == 1:
        for point in todo:
            yield point, run_point(point.key)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                initializer=_quiet_worker) as pool:
        futures = {pool.submit(run_point, p.key): p for p in todo}
        try:
            for future in cf.as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()


def _run_ray(todo, address):
    """Yield (point, (result, seconds, worker)) as points finish, on a Ray cluster."""
    try:
        import ray
    except ImportError:
        raise SweepError("the ray backend needs the ray package (pip install ray)") from None
    ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    pending = []
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_point)
        refs = {remote.remote(p.key): p for p in todo}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield refs[done[0]], ray.get(done[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        ray.shutdown()


def _free_ports(n):
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _end_group(proc, term_grace=3.0, kill_grace=5.0):
    """End the process group that ``proc`` leads (SIGTERM, then SIGKILL) and reap it."""
    import signal
    for sig, grace in ((signal.SIGTERM, term_grace), (signal.SIGKILL, kill_grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            continue
        break
    proc.wait()


@contextlib.contextmanager
def loopback_ray_cluster(nodes=2, cpus_per_node=1, log=None, timeout=60.0):
    """A Ray head and ``nodes - 1`` worker nodes on 127.0.0.1, each with ``cpus_per_node``
    CPUs; yields the head's address. Every port is a free one, the session folder a fresh
    one under /tmp. Each node is ``ray start --block`` in its own process group, which the
    exit ends (only these processes: ``ray stop`` would stop every Ray node of the machine).
    For tests and measurements; ``ray`` is the one beside this Python."""
    import shutil
    import subprocess
    import tempfile
    ray = str(Path(sys.executable).parent / "ray")
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "RAY_USAGE_STATS_ENABLED": "0"}
    ports = _free_ports(2 + 6 * nodes)
    address = f"127.0.0.1:{ports[0]}"
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: unix socket paths
    log = log if log is not None else subprocess.DEVNULL
    procs = []

    def node_args(q):
        return ["--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus_per_node}",
                "--disable-usage-stats", "--object-store-memory=100000000",
                f"--node-manager-port={q[0]}", f"--object-manager-port={q[1]}",
                f"--metrics-export-port={q[2]}", f"--dashboard-agent-listen-port={q[3]}",
                f"--dashboard-agent-grpc-port={q[4]}", f"--runtime-env-agent-port={q[5]}"]

    def wait_for(cpus):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a Ray node exited while starting")
            status = subprocess.run([ray, "status", f"--address={address}"], env=env,
                                    capture_output=True, text=True, timeout=30)
            if f"/{float(cpus)} CPU" in status.stdout:
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Ray cluster at {address} did not reach {cpus} CPUs in "
                           f"{timeout} s")

    try:
        procs.append(subprocess.Popen(
            [ray, "start", "--head", f"--port={ports[0]}", "--include-dashboard=false",
             f"--dashboard-port={ports[1]}", f"--temp-dir={temp_dir}",
             *node_args(ports[2:8])],
            env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT))
        wait_for(cpus_per_node)
        for i in range(1, nodes):
            procs.append(subprocess.Popen(
                [ray, "start", f"--address={address}", *node_args(ports[2 + 6 * i:8 + 6 * i])],
                env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT))
        wait_for(cpus_per_node * nodes)
        yield address
    finally:
        for proc in reversed(procs):
            _end_group(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)


def run_sweep(sweep, store_dir, *, backend="local", workers=None, address=None,
              retry_failed=False, out=print, progress_stream=None, limit=None):
    """Run every point of ``sweep`` not yet in the store; returns a summary dict
    (``total``, ``skipped``, ``ran``, ``failed``, ``seconds``)."""
    from .train import Progress
    if backend not in BACKENDS:
        raise SweepError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, "
                         f"not {backend!r}")
    if backend == "ray" and not address:
        raise SweepError("the ray backend needs --address (host:port of the Ray head)")
    if workers is None:
        workers = os.cpu_count() or 1
    if not _is_int(workers) or workers < 1:
        raise SweepError(f"workers must be a positive integer, not {workers!r}")
    store = Store(store_dir)
    removed = store.clean_temporaries()
    if removed:
        out(f"removed {removed} unfinished temporary file(s) from {store.dir}")
    todo, skipped, unique = [], 0, {}
    for point in sweep.all_points():
        unique.setdefault(point.hash, point)
    for point in unique.values():
        entry = store.get(point)
        if entry is not None and not ("error" in entry["result"] and retry_failed):
            skipped += 1
        else:
            todo.append(point)
    if limit is not None:
        todo = todo[:limit]
    where = (f"{workers} local worker process(es)" if backend == "local"
             else f"the Ray cluster at {address}")
    out(f"sweep {sweep.name}: {len(unique)} points ({len(sweep.points)} {sweep.tier}, "
        f"{len(sweep.baselines)} {sweep.baseline} baseline), {skipped} already in "
        f"{store.dir} (skipped), {len(todo)} to run on {where}")
    start = time.perf_counter()
    failed = 0
    if todo:
        bar = Progress(len(todo), "sweep", progress_stream)
        runner = (_run_local(todo, min(workers, len(todo))) if backend == "local"
                  else _run_ray(todo, address))
        for point, (result, seconds, worker) in runner:
            store.put(point, result, seconds, worker)
            if "error" in result:
                failed += 1
                out(f"point failed ({point.describe()}): "
                    f"{result['error'].strip().splitlines()[-1]}")
                note = "failed"
            else:
                metric = result["metric"]
                note = f"{metric} {result['final'][f'test_{metric}']:.3f}"
            bar.update(note=f"[{point.describe()}: {note}]")
    elapsed = time.perf_counter() - start
    rate = len(todo) / elapsed * 3600 if todo and elapsed > 0 else None
    out(f"done: {len(todo)} ran ({failed} failed), {skipped} skipped, {elapsed:.1f} s"
        + (f", {rate:.0f} points/hour" if rate else ""))
    return {"total": len(unique), "skipped": skipped, "ran": len(todo), "failed": failed,
            "seconds": elapsed, "points_per_hour": rate}


# -- the report -------------------------------------------------------------------------------

def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _mean(values):
    return sum(values) / len(values) if values else float("nan")


def collect(sweep, store_dir):
    """Rows of the report: one per point group (the same task, tier and axis values; the
    seeds pooled), and the per-point records. Missing and failed points are counted."""
    store = Store(store_dir)
    records, missing, failed = [], [], []
    unique = {}
    for point in sweep.all_points():
        unique.setdefault(point.hash, point)
    for point in unique.values():
        entry = store.get(point)
        if entry is None:
            missing.append(point)
            continue
        result = entry["result"]
        if "error" in result:
            failed.append(point)
            continue
        metric = result["metric"]
        cfg = point.config
        final = result["final"]
        records.append({
            "task": point.task, "tier": point.tier, "baseline": point.baseline,
            "labels": point.labels, "seed": point.seed, "metric": metric,
            "score": final[f"test_{metric}"], "chance": result["chance"],
            "memory_bits": memory_bits(cfg), "trace_mode": cfg.trace_mode,
            "writes": final.get("weight_writes_per_sample"),
            "seconds": entry["seconds"], "hash": point.hash})
    groups = {}
    for r in records:
        gkey = (r["task"], r["tier"], r["baseline"], _canonical(r["labels"]))
        groups.setdefault(gkey, []).append(r)
    rows = []
    for (task, tier, is_base, _), rs in groups.items():
        scores = [r["score"] for r in rs]
        writes = [r["writes"] for r in rs if r["writes"] is not None]
        mean = _mean(scores)
        rows.append({
            "task": task, "tier": tier, "baseline": is_base, "labels": rs[0]["labels"],
            "metric": rs[0]["metric"], "chance": rs[0]["chance"],
            "memory_bits": rs[0]["memory_bits"], "trace_mode": rs[0]["trace_mode"],
            "mean": mean, "min": min(scores), "max": max(scores),
            "std": math.sqrt(_mean([(s - mean) ** 2 for s in scores])),
            "seeds": len(rs), "writes": _mean(writes) if writes else None,
            "seconds": _mean([r["seconds"] for r in rs])})
    return rows, records, missing, failed


def _within(row, base, tolerance):
    if row["metric"] == "accuracy":
        return row["mean"] >= base["mean"] - tolerance
    return row["mean"] <= base["mean"] + tolerance


def _baseline_of(row, bases):
    """The baseline row of a row: the one with its task and training axis values."""
    rest = {f: v for f, v in row["labels"].items() if _kind(f) != "config"}
    for b in bases:
        if b["task"] == row["task"] and b["labels"] == rest:
            return b
    return None


def cheapest(rows, tolerance=0.01):
    """Per task and trace mode (and over both), the point group with the fewest memory bits
    per synapse whose mean score is within ``tolerance`` of its baseline's (the baseline with
    the same task and training axis values; ties: fewer weight writes, then the better
    score). Returns a list of dicts (``row`` None when none is)."""
    answers = []
    bases = [r for r in rows if r["baseline"]]
    for task in dict.fromkeys(r["task"] for r in rows):
        tbases = [b for b in bases if b["task"] == task]
        if not tbases:
            continue
        cands = [r for r in rows if r["task"] == task and not r["baseline"]]
        modes = sorted({r["trace_mode"] for r in cands})
        for mode in (modes + ["any"] if len(modes) > 1 else modes):
            pool = [r for r in cands if mode == "any" or r["trace_mode"] == mode]
            ok = [r for r in pool if _baseline_of(r, tbases) is not None
                  and _within(r, _baseline_of(r, tbases), tolerance)]
            sign = -1 if (pool and pool[0]["metric"] == "accuracy") else 1
            ok.sort(key=lambda r: (r["memory_bits"], r["writes"] or 0, sign * r["mean"]))
            best = sorted(pool, key=lambda r: (sign * r["mean"], r["memory_bits"]))
            answers.append({"task": task, "trace_mode": mode,
                            "baseline": _mean([b["mean"] for b in tbases]),
                            "row": ok[0] if ok else None, "tolerance": tolerance,
                            "best": best[0] if best else None})
    return answers


def _label_text(labels):
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "(base)"


def report(sweep, store_dir, out_dir, *, tolerance=0.01, out=print):
    """Write ``summary.csv``, ``points.csv``, ``summary.md`` and the plots to ``out_dir``;
    returns the cheapest answers (see :func:`cheapest`)."""
    import csv
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, records, missing, failed = collect(sweep, store_dir)
    if not rows:
        raise SweepError(f"no finished points of sweep {sweep.name!r} in {store_dir}: run "
                         f"`eligo sweep run {sweep.source}` first")
    fields = sweep.axis_fields
    # CSV: per group and per point
    with open(out_dir / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "tier", *fields, "memory_bits", "metric", "mean", "std", "min",
                    "max", "seeds", "weight_writes_per_sample", "seconds_per_point"])
        for r in rows:
            w.writerow([r["task"], r["tier"], *[r["labels"].get(k, "") for k in fields],
                        r["memory_bits"], r["metric"], r["mean"], r["std"], r["min"],
                        r["max"], r["seeds"], "" if r["writes"] is None else r["writes"],
                        r["seconds"]])
    with open(out_dir / "points.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "tier", *fields, "seed", "memory_bits", "metric", "score",
                    "weight_writes_per_sample", "seconds", "hash"])
        for r in records:
            w.writerow([r["task"], r["tier"], *[r["labels"].get(k, "") for k in fields],
                        r["seed"], r["memory_bits"], r["metric"], r["score"],
                        "" if r["writes"] is None else r["writes"], r["seconds"], r["hash"]])
    answers = cheapest(rows, tolerance)
    # Markdown
    lines = [f"# Sweep {sweep.name}", "",
             f"{len(records)} of {len({p.hash for p in sweep.all_points()})} points finished"
             + (f", {len(failed)} failed" if failed else "")
             + (f", {len(missing)} missing" if missing else "")
             + f"; seeds {', '.join(map(str, sweep.seeds))}; memory bits per synapse = "
               "w_bits + e_bits + n_alif/n_rec * eps_bits (full traces), w_bits (factored).",
             ""]
    for task in sweep.tasks:
        trows = [r for r in rows if r["task"] == task]
        if not trows:
            continue
        metric = trows[0]["metric"]
        lines += [f"## {task}", "",
                  f"| tier | {' | '.join(fields)} | memory bits/synapse | {metric} mean "
                  f"| seed spread (min-max) | weight writes/sample |",
                  "|" + " --- |" * (len(fields) + 5)]
        order = sorted(trows, key=lambda r: (not r["baseline"], r["memory_bits"],
                                             _canonical(r["labels"])))
        for r in order:
            cells = [r["labels"].get(k, "-") for k in fields]
            spread = f"{r['min']:.3f}-{r['max']:.3f}" if r["seeds"] > 1 else "-"
            writes = "-" if r["writes"] is None else f"{r['writes']:.0f}"
            tier = f"**{r['tier']}** (baseline)" if r["baseline"] else r["tier"]
            bits = "(float)" if r["baseline"] else _fmt(r["memory_bits"])
            lines.append(f"| {tier} | {' | '.join(map(_fmt, cells))} | "
                         f"{bits} | {r['mean']:.3f} | {spread} | {writes} |")
        lines.append("")
        for a in answers:
            if a["task"] != task:
                continue
            what = "any trace mode" if a["trace_mode"] == "any" else \
                f"{a['trace_mode']} traces"
            if a["row"] is None:
                b = a["best"]
                lines.append(f"- Cheapest within {a['tolerance']:g} of the baseline "
                             f"({a['baseline']:.3f}), {what}: none"
                             + (f" (best: {_label_text(b['labels'])}: "
                                f"{_fmt(b['memory_bits'])} bits/synapse, {metric} "
                                f"{b['mean']:.3f})." if b else "."))
            else:
                r = a["row"]
                lines.append(f"- Cheapest within {a['tolerance']:g} of the baseline "
                             f"({a['baseline']:.3f}), {what}: {_label_text(r['labels'])}: "
                             f"{_fmt(r['memory_bits'])} bits/synapse, {metric} "
                             f"{r['mean']:.3f}.")
        lines.append("")
    (out_dir / "summary.md").write_text("\n".join(lines))
    plots = _plots(sweep, rows, out_dir, tolerance)
    for line in lines[2:3]:
        out(line)
    for a in answers:
        what = "any" if a["trace_mode"] == "any" else a["trace_mode"]
        r = a["row"]
        out(f"{a['task']}, {what}: cheapest within {a['tolerance']:g} of the baseline "
            f"{a['baseline']:.3f}: " + (f"none (best: {_label_text(a['best']['labels'])}, "
                                        f"{_fmt(a['best']['memory_bits'])} bits/synapse, "
                                        f"{a['best']['mean']:.3f})" if r is None else
                                        f"{_label_text(r['labels'])}, "
                                        f"{_fmt(r['memory_bits'])} bits/synapse, "
                                        f"{r['mean']:.3f}"))
    out(f"wrote {out_dir / 'summary.md'}, summary.csv, points.csv and {len(plots)} plots")
    return answers


def _plots(sweep, rows, out_dir, tolerance):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []
    multi = len(sweep.tasks) > 1
    for task in sweep.tasks:
        trows = [r for r in rows if r["task"] == task and not r["baseline"]]
        bases = [r for r in rows if r["task"] == task and r["baseline"]]
        if not trows:
            continue
        metric = trows[0]["metric"]
        suffix = f"_{task}" if multi else ""
        base = _mean([b["mean"] for b in bases]) if bases else None

        def mark_baseline(ax):
            if base is None:
                return
            ax.axhline(base, color="k", lw=1, label=f"{sweep.baseline} (float) {base:.3f}")
            lo = min(b["min"] for b in bases)
            hi = max(b["max"] for b in bases)
            ax.axhspan(lo, hi, color="k", alpha=0.08)
            sign = -1 if metric == "accuracy" else 1
            ax.axhline(base + sign * tolerance, color="k", lw=1, ls="--",
                       label=f"baseline {'-' if sign < 0 else '+'} {tolerance:g}")
            ax.axhline(trows[0]["chance"], color="grey", lw=1, ls=":", label="chance")

        # 1. score against each axis, one line per combination of the other axes
        axis_names = list(sweep.axes)
        if axis_names:
            fig, axs = plt.subplots(1, len(axis_names), figsize=(4.6 * len(axis_names), 3.6),
                                    squeeze=False)
            for ax, axis in zip(axs[0], axis_names):
                values = sweep.axes[axis]
                xs = list(range(len(values)))
                xlabels = ["/".join(map(str, v.values())) for v in values]
                others = {}
                for r in trows:
                    own = {f: r["labels"][f] for f in values[0]}
                    rest = {f: v for f, v in r["labels"].items() if f not in own}
                    others.setdefault(_canonical(rest), {})[_canonical(own)] = r
                for i, (rest, by) in enumerate(sorted(others.items())):
                    pts = [(x, by[_canonical(v)]) for x, v in zip(xs, values)
                           if _canonical(v) in by]
                    x = [p[0] + (i - len(others) / 2) * 0.02 for p in pts]
                    y = [p[1]["mean"] for p in pts]
                    err = [[p[1]["mean"] - p[1]["min"] for p in pts],
                           [p[1]["max"] - p[1]["mean"] for p in pts]]
                    label = _label_text(json.loads(rest)) if len(others) <= 8 else None
                    ax.errorbar(x, y, yerr=err, marker="o", ms=3, lw=1, capsize=2,
                                label=label, alpha=0.85 if len(others) <= 8 else 0.35)
                if len(others) > 8:  # too many to label: the envelope, in bold
                    best = []
                    for x, v in zip(xs, values):
                        at = [by[_canonical(v)] for by in others.values()
                              if _canonical(v) in by]
                        if at:
                            pick = max if metric == "accuracy" else min
                            best.append((x, pick(at, key=lambda r: r["mean"])))
                    ax.errorbar([b[0] for b in best], [b[1]["mean"] for b in best],
                                yerr=[[b[1]["mean"] - b[1]["min"] for b in best],
                                      [b[1]["max"] - b[1]["mean"] for b in best]],
                                color="C3", marker="o", lw=2, capsize=3,
                                label="best of the other axes' values")
                mark_baseline(ax)
                ax.set_xticks(xs, xlabels)
                ax.set_xlabel(" / ".join(values[0]) if axis not in values[0] or
                              len(values[0]) > 1 else axis)
                ax.set_ylabel(f"test {metric}")
            handles, labels = axs[0][-1].get_legend_handles_labels()
            fig.legend(handles, labels, fontsize=6, loc="lower center",
                       ncol=min(4, len(labels)) or 1, bbox_to_anchor=(0.5, 0.0))
            fig.suptitle(f"{sweep.name}: {task}, test {metric} by axis "
                         f"(bars: seed min-max)", fontsize=9)
            fig.tight_layout(rect=(0, 0.06 + 0.025 * math.ceil(len(labels) / 4), 1, 1))
            path = out_dir / f"by_axis{suffix}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)

        # 2. score against memory bits per synapse, Pareto front; 3. against weight writes
        for name, xkey, xlabel in (
                ("pareto", "memory_bits", "memory bits per synapse"),
                ("writes", "writes", "weight writes per sample")):
            pts = [r for r in trows if r[xkey] is not None]
            if not pts:
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            modes = sorted({r["trace_mode"] for r in pts})
            for mode, marker in zip(modes, "os^v"):
                sel = [r for r in pts if r["trace_mode"] == mode]
                ax.errorbar([r[xkey] for r in sel], [r["mean"] for r in sel],
                            yerr=[[r["mean"] - r["min"] for r in sel],
                                  [r["max"] - r["mean"] for r in sel]],
                            fmt=marker, ms=4, capsize=2, alpha=0.7, label=f"{mode} traces")
            if name == "pareto":
                better = (lambda a, b: a > b) if metric == "accuracy" else (lambda a, b: a < b)
                front, best = [], None
                for r in sorted(pts, key=lambda r: (r["memory_bits"],
                                                    -r["mean"] if metric == "accuracy"
                                                    else r["mean"])):
                    if best is None or better(r["mean"], best):
                        front.append(r)
                        best = r["mean"]
                ax.step([r["memory_bits"] for r in front], [r["mean"] for r in front],
                        where="post", color="C3", lw=1.5, label="Pareto front")
            else:
                ax.set_xscale("log")
                for b in bases:
                    if b["writes"]:
                        ax.plot([b["writes"]], [b["mean"]], "k*", ms=10,
                                label=f"{sweep.baseline} (float), mean over seeds")
            mark_baseline(ax)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"test {metric} (mean over seeds)")
            ax.set_title(f"{sweep.name}: {task}", fontsize=9)
            ax.legend(fontsize=7)
            fig.tight_layout()
            path = out_dir / f"{name}{suffix}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    return written


def main_run(path, store=None, **kwargs):
    """Load, validate and run a sweep file (helper for the CLI)."""
    sweep = load_sweep(path)
    return run_sweep(sweep, store or default_store(path), **kwargs)


def default_store(path):
    """``results/sweep/<file stem>``: where a sweep file's results go unless told."""
    return Path("results") / "sweep" / Path(path).stem


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `eligo sweep`")
