"""The quantization explorer (`eligo sweep`): sweep files refused before anything runs, one
result file per point that survives a killed run, the report, and the Ray backend on loopback
giving the local backend's results."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eligo.cli import main
from eligo.config import preset
from eligo.model import sweep as sw

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "RAY_USAGE_STATS_ENABLED": "0",
       "PYTHONSAFEPATH": "1"}

# 14 points of a few tenths of a second each (2 float baselines of a few seconds): the tiny
# preset on 2-class random manifolds with 4 channels.
TINY = """
name = "tiny"
preset = "tiny"
seeds = [1, 2]
hold_lr = true

[train]
n_train = 30
n_test = 20

[config]
lr_shift = 9
lr_out_shift = 9

[task]
name = "randman"
params = { n_classes = 2, n_in = 4, n_steps = 40 }

[axes]
trace_mode = ["full", "factored"]

[axes.weights]
w_bits = [4, 6, 8]
w_frac = [2, 4, 6]
"""
N_POINTS = 14


def _results(store):
    """{file name: result} of a store, without wall times."""
    out = {}
    for path in sorted(Path(store).glob("*.json")):
        result = json.loads(path.read_text())["result"]
        for record in result["history"] + [result["final"]]:
            record.pop("epoch_seconds", None)
        out[path.name] = result
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny sweep file and a store holding its uninterrupted local run."""
    root = tmp_path_factory.mktemp("sweep")
    path = root / "tiny.toml"
    path.write_text(TINY)
    store = root / "local"
    summary = sw.run_sweep(sw.load_sweep(path), store, workers=2, out=lambda *a: None,
                           progress_stream=io.StringIO())
    assert summary == {**summary, "total": N_POINTS, "ran": N_POINTS, "skipped": 0,
                       "failed": 0}
    return path, store


# -- validation ----------------------------------------------------------------------------------

GOOD = """
[train]
n_train = 2
[task]
name = "cue"
[axes]
w_bits = [6, 8]
"""


@pytest.mark.parametrize("change,message", [
    ('bogus = 1', r"unknown key 'bogus'; known keys: name, preset, tier, baseline, seeds, "
                  r"hold_lr, train, baseline_train, config, baseline_config, task, axes"),
    ('preset = "big"', r"preset must be one of 'tiny', 'cue', 'ice40', 'reckon', not 'big'"),
    ('tier = "rtl"', r"tier must be one of 'golden', 'reference', 'bptt', not 'rtl'"),
    ('baseline = "float"', r"baseline must be 'none' or one of 'golden', 'reference', 'bptt', "
                           r"not 'float'"),
    ('seeds = []', r"seeds must be a non-empty list of distinct integers in \[0, 2\*\*32 - 1\], "
                   r"not \[\]"),
    ('seeds = [1, 1]', r"seeds must be .*, not \[1, 1\]"),
    ('seeds = [-1]', r"seeds must be .*, not \[-1\]"),
    ('seeds = "1"', r"seeds must be .*, not '1'"),
    ('hold_lr = 1', r"hold_lr must be true or false, not 1"),
    ('name = ""', r"name must be a non-empty string, not ''"),
])
def test_sweep_file_errors_top_level(change, message):
    with pytest.raises(sw.SweepError, match=r"^s\.toml: " + message + "$"):
        sw.parse_sweep(change + "\n" + GOOD, source="s.toml")


def test_sweep_file_not_toml():
    with pytest.raises(sw.SweepError, match=r"^s\.toml: not valid TOML: "):
        sw.parse_sweep(GOOD + "\n[task]\nname = 'cue'\n", source="s.toml")


def _with(axes="w_bits = [6, 8]", task='name = "cue"', train="n_train = 2", config=""):
    return (f"seeds = [1]\n[train]\n{train}\n[config]\n{config}\n[task]\n{task}\n"
            f"[axes]\n{axes}\n")


@pytest.mark.parametrize("kw,message", [
    (dict(axes="w_bitz = [6, 8]"),
     r"axis 'w_bitz': unknown field 'w_bitz' \(a configuration field, task\.NAME or "
     r"train\.NAME with NAME one of epochs, n_train, n_test, weight_scale, bptt_lr, "
     r"bptt_lr_decay, batch, eprop_lr, eprop_lr_decay, loss, rate_reg, rate_target, "
     r"epoch_params\)"),
    (dict(axes="'train.lr' = [1, 2]"), r"axis 'train\.lr': unknown field 'train\.lr'"),
    (dict(axes="w_bits = []"), r"axis 'w_bits' has no values$"),
    (dict(axes="w_bits = 8"), r"axis 'w_bits' must be a list of values or a table of lists, "
                              r"not 8$"),
    (dict(axes="w_bits = [8, 8]"), r"axis 'w_bits': w_bits has repeated values \[8, 8\]$"),
    (dict(axes="[axes.w]\nw_bits = [8, 8]"), r"axis 'w': w_bits has repeated values \[8, 8\]$"),
    (dict(axes="[axes.w]\nw_bits = [8, 8]\nw_frac = [6, 6]"),
     r"axis 'w' repeats a combination of values: w_bits = \[8, 8\], w_frac = \[6, 6\]$"),
    (dict(axes="seed = [1, 2]"), r"axis 'seed': seed cannot be an axis: use seeds$"),
    (dict(axes="[axes.w]\nw_bits = [4, 8]\nw_frac = [2]"),
     r"axis 'w': its fields have different numbers of values \(w_bits: 2, w_frac: 1\)$"),
    (dict(axes="w_bits = [6]\n[axes.w]\nw_bits = [4]"),
     r"axis 'w': field 'w_bits' is already set by axis 'w_bits'$"),
    # values that make an invalid Config: the first bad point, with Config's own message
    (dict(axes="w_bits = [6, 1]"),
     r"point 2 \(cue, seed 1, w_bits=1\): w_bits must be an integer in \[2, 16\], not 1$"),
    (dict(axes="trace_mode = ['full', 'half']"),
     r"point 2 \(cue, seed 1, trace_mode='half'\): trace_mode must be one of 'full', "
     r"'factored', not 'half'$"),
    (dict(axes="w_frac = [6, 13]"),
     r"point 2 \(cue, seed 1, w_frac=13\): w_frac must be at most v_frac \(12\) so that "
     r"inputs scale up exactly, not 13$"),
    (dict(config="lr_shift = 99"), r"\[config\]: lr_shift must be an integer in \[0, 48\], "
                                   r"not 99$"),
    (dict(config="colour = 1"), r"unknown configuration field 'colour' in \[config\]$"),
    (dict(config="seed = 3"), r"\[config\] cannot set seed: the sweep's seeds set it$"),
    (dict(task='name = "mnist"'),
     r"point 1 \(mnist, seed 1, w_bits=6\): unknown task 'mnist'; allowed: cue, randman, "
     r"pattern$"),
    (dict(task='name = "cue"\nparams = { n_cue = 3 }'), r"point 1 .*'n_cue'"),
    (dict(task='name = "cue"\nsize = 3'),
     r"task 1: unknown key 'size'; known keys: name, params, config$"),
    (dict(task='name = "randman"'),
     r"point 1 \(randman, seed 1, w_bits=6\): task 'randman' has n_in=20, n_out=10; the "
     r"configuration has n_in=40, n_out=2$"),
    (dict(task='params = {}'), r"task 1: no name$"),
    (dict(train="batchsize = 3"), r"unknown key 'batchsize' in \[train\]; known keys: "
                                  r"epochs, n_train, n_test, weight_scale, bptt_lr, .*, "
                                  r"epoch_params$"),
    # settings TrainSettings refuses for the points' tier, or for the baselines' (which take
    # [train] too, under [baseline_train])
    (dict(train="batch = 3"), r"point 1 \(cue, seed 1, w_bits=6\): batch is a setting of the "
                              r"float tiers \(reference, bptt\), not of 'golden'"),
    (dict(train="epochs = 2\nepoch_params = { 2 = { eta = 2 } }"),
     r"baseline of point 1 \(cue, seed 1, w_bits=6\): epoch_params is a setting of the "
     r"golden tier, not of 'reference'$"),
    (dict(train="epochs = 2\nepoch_params = { 2 = { lr_shift = 3 } }"),
     r"point 1 .*: epoch_params: 'lr_shift' is not a runtime register of the core"),
    (dict(train="epochs = 2\nepoch_params = { 2 = { eta = -1 } }"),
     r"point 1 .*: epoch_params at epoch 2: eta must be an integer in \[0, 65535\], not -1$"),
    (dict(train="epoch_params = { two = { eta = 2 } }"),
     r"\[train\] epoch_params must be a table of epoch = \{ register = value \} "),
    (dict(train="epoch_params = { 2 = 3 }"), r"\[train\] epoch_params must be a table"),
    (dict(train="n_train = 0"), r"point 1 .*: n_train must be a positive integer, not 0$"),
])
def test_sweep_file_errors_name_the_place(kw, message):
    with pytest.raises(sw.SweepError, match=r"^s\.toml: " + message):
        sw.parse_sweep(_with(**kw), source="s.toml")


def test_no_task_refused():
    with pytest.raises(sw.SweepError, match=r"^s\.toml: no \[\[task\]\] given$"):
        sw.parse_sweep("seeds = [1]", source="s.toml")


def test_bad_backend_and_workers_refused(tmp_path):
    sweep = sw.parse_sweep(GOOD)
    with pytest.raises(sw.SweepError, match=r"^backend must be one of 'local', 'ray', "
                                            r"not 'spark'$"):
        sw.run_sweep(sweep, tmp_path, backend="spark")
    with pytest.raises(sw.SweepError, match=r"^the ray backend needs --address"):
        sw.run_sweep(sweep, tmp_path, backend="ray")
    with pytest.raises(sw.SweepError, match=r"^workers must be a positive integer, not 0$"):
        sw.run_sweep(sweep, tmp_path, workers=0)
    assert not any(tmp_path.iterdir())


def test_cli_refuses_a_bad_file_before_anything_runs(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(_with(axes="w_bits = [8, 6, 5, 1]"))
    store = tmp_path / "store"
    assert main(["sweep", "run", str(bad), "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(r"eligo: error: \S+bad\.toml: point 4 \(cue, seed 1, w_bits=1\): "
                        r"w_bits must be an integer in \[2, 16\], not 1\n", err)
    assert not store.exists()
    assert main(["sweep", "run", str(tmp_path / "bad.txt")]) == 1
    assert "sweep file must end in .toml" in capsys.readouterr().err


def test_check_counts_points(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text("seeds = [1, 2]\n" + GOOD)
    assert main(["sweep", "run", str(path), "--check"]) == 0
    assert "4 golden points and 2 reference baseline points" in capsys.readouterr().out


# -- points, keys and the store ------------------------------------------------------------------

def test_points_keys_and_hold_lr():
    sweep = sw.parse_sweep(TINY)
    assert len(sweep.points) == 12 and len(sweep.baselines) == 2
    point = sweep.points[0]
    assert point.labels == {"trace_mode": "full", "w_bits": 4, "w_frac": 2}
    assert set(point.key) == {"model_version", "tier", "task", "task_params", "seed", "train",
                              "preset", "config"}
    cfg = point.config
    base = preset("tiny", lr_shift=9, lr_out_shift=9)
    assert (cfg.w_bits, cfg.w_frac, cfg.seed) == (4, 2, 1)
    # hold_lr: a weight integer is worth 2**4 times more with 4 fewer fraction bits, so the
    # updates shift 4 bits further right: the same real rates
    assert (cfg.lr_shift, cfg.lr_out_shift) == (base.lr_shift + 4, base.lr_out_shift + 4)
    from eligo.model.bridge import learning_rates
    assert learning_rates(cfg) == learning_rates(base.replace(seed=1))
    # the baseline is the base configuration with the float tier
    b = sweep.baselines[0]
    assert b.key["tier"] == "reference" and b.labels == {}
    assert b.config == base.replace(seed=1)
    # one hash per distinct key, stable
    assert len({p.hash for p in sweep.all_points()}) == N_POINTS
    assert sw.parse_sweep(TINY).points[5].hash == sweep.points[5].hash


def test_a_point_is_its_configuration_not_its_labels():
    # w_frac = 6 is the preset's value: the same point as a sweep without that axis, so a
    # store shared by both sweeps runs it once
    a = sw.parse_sweep(_with(axes="w_frac = [6]\n[axes.b]\nw_bits = [8]"))
    b = sw.parse_sweep(_with(axes="w_bits = [8]"))
    assert a.points[0].labels != b.points[0].labels
    assert a.points[0].key == b.points[0].key and a.points[0].hash == b.points[0].hash
    # any change of the configuration, the task, the training or the tier is another point
    c = sw.parse_sweep(_with(axes="w_bits = [8]", train="n_train = 3"))
    d = sw.parse_sweep(_with(axes="w_bits = [8]", task='name = "cue"\nparams = {n_cues = 3}'))
    hashes = {p.hash for s in (b, c, d) for p in s.all_points()}
    assert len(hashes) == 6


def test_a_field_added_later_keeps_stored_points_keys():
    # counter_bits came after the full cue sweep was stored: at its old value (32) it stays
    # out of a point's key, so the hashes in that sweep's report are still the points' keys;
    # another value enters the key.
    import csv
    repo = Path(__file__).resolve().parents[1]
    with (repo / "docs" / "sweep_full" / "points.csv").open() as f:
        stored = [row["hash"] for row in csv.DictReader(f)]
    keys = {point.hash for point in sw.load_sweep(repo / "sweeps" / "cue_full.toml")
            .all_points()}
    assert stored and set(stored) <= keys
    point = sw.load_sweep(repo / "sweeps" / "cue_full.toml").all_points()[0]
    assert "counter_bits" not in point.key["config"]["formats"]
    narrow = sw._key_config(point.config.replace(counter_bits=16))
    assert narrow["formats"]["counter_bits"] == 16


def test_memory_bits_per_synapse():
    cue = preset("cue")   # 100 neurons, 50 ALIF, eps_bits 16
    assert sw.memory_bits(cue) == 8 + 12 + 0.5 * 16
    assert sw.memory_bits(cue.replace(w_bits=4, e_bits=6, n_alif=0)) == 10
    assert sw.memory_bits(cue.replace(trace_mode="factored", w_bits=5)) == 5


def test_store_refuses_an_entry_of_another_key(tmp_path):
    sweep = sw.parse_sweep(TINY)
    a, b = sweep.points[:2]
    store = sw.Store(tmp_path)
    store.put(a, {"x": 1}, 0.1)
    assert store.get(a)["result"] == {"x": 1} and store.get(b) is None
    os.replace(store.path(a), store.path(b))   # b's file now holds a's key
    with pytest.raises(sw.SweepError, match=r"the stored key is not this point's"):
        store.get(b)
    assert [p.name for p in tmp_path.iterdir()] == [f"{b.hash}.json"]  # no temporaries


# -- resume after a kill -------------------------------------------------------------------------

def test_killed_sweep_resumes_without_recomputing(tiny, tmp_path):
    path, local = tiny
    store = tmp_path / "store"
    cmd = [str(BIN / "eligo"), "sweep", "run", str(path), "--store", str(store),
           "--workers", "2"]
    proc = subprocess.Popen(cmd, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(list(store.glob("*.json"))) < 4:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-sweep
        proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in store.glob("*.json")}
    assert 4 <= len(before) < N_POINTS
    run = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (f"{len(before)} already in {store} (skipped), {N_POINTS - len(before)} to run"
            in run.stdout)
    # nothing finished was recomputed, nothing was lost, no temporary file is left
    assert {p: store.joinpath(p).stat().st_mtime_ns for p in before} == before
    assert sorted(p.name for p in store.iterdir()) == sorted(p.name for p in local.iterdir()
                                                             if p.suffix == ".json")
    assert _results(store) == _results(local)
    # a third run finds everything
    again = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=60)
    assert f"{N_POINTS} already in {store} (skipped), 0 to run" in again.stdout


# -- the report ----------------------------------------------------------------------------------

def test_report_on_a_tiny_sweep(tiny, tmp_path, capsys):
    path, store = tiny
    out = tmp_path / "report"
    assert main(["sweep", "report", str(path), "--store", str(store), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{N_POINTS} of {N_POINTS} points finished" in printed
    for mode in ("full", "factored", "any"):
        assert re.search(rf"randman, {mode}: cheapest within 0\.01 of the baseline ", printed)
    md = (out / "summary.md").read_text()
    assert "| tier | trace_mode | w_bits | w_frac | memory bits/synapse | accuracy mean " \
           "| seed spread (min-max) | weight writes/sample |" in md
    assert md.count("\n| golden |") == 6 and md.count("(baseline)") == 1
    summary = (out / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 7 and summary[0].startswith("task,tier,trace_mode,w_bits")
    assert len((out / "points.csv").read_text().splitlines()) == 1 + N_POINTS
    for png in ("by_axis.png", "pareto.png", "writes.png"):
        assert (out / png).stat().st_size > 5000
    # the cheapest answer agrees with the table
    rows, *_ = sw.collect(sw.load_sweep(path), store)
    for answer in sw.cheapest(rows):
        if answer["row"] is not None:
            assert answer["row"]["mean"] >= answer["baseline"] - 0.01 or \
                answer["trace_mode"] != "any"


def test_report_of_an_empty_store(tiny, tmp_path, capsys):
    path, _ = tiny
    assert main(["sweep", "report", str(path), "--store", str(tmp_path / "none")]) == 1
    assert "no finished points of sweep 'tiny'" in capsys.readouterr().err


# -- Ray on loopback -----------------------------------------------------------------------------

@pytest.fixture
def ray_cluster(tmp_path):
    """A Ray head and one worker node, 1 CPU each, on 127.0.0.1, ended after the test."""
    with open(tmp_path / "ray.log", "w") as log:
        with sw.loopback_ray_cluster(nodes=2, cpus_per_node=1, log=log) as address:
            yield address


def test_ray_backend_on_loopback_equals_local(tiny, ray_cluster, tmp_path):
    path, local = tiny
    store = tmp_path / "ray"
    run = subprocess.run([str(BIN / "eligo"), "sweep", "run", str(path), "--store", str(store),
                          "--backend", "ray", "--address", ray_cluster],
                         env=ENV, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{N_POINTS} to run on the Ray cluster at {ray_cluster}" in run.stdout
    assert _results(store) == _results(local)


def test_failed_points_are_kept_and_retried_on_request(tmp_path, monkeypatch):
    sweep = sw.parse_sweep(_with(axes="w_bits = [6, 8]", train="n_train = 1\nn_test = 1"))
    sweep.baselines.clear()
    calls = []

    def broken(key):
        calls.append(key["config"]["formats"]["w_bits"])
        return {"error": "Traceback ...\nRuntimeError: boom\n"}, 0.0, "here"

    monkeypatch.setattr(sw, "run_point", broken)
    lines = []
    quiet = dict(workers=1, out=lines.append, progress_stream=io.StringIO())
    assert sw.run_sweep(sweep, tmp_path, **quiet)["failed"] == 2
    assert "point failed (cue, golden, seed 1, w_bits=6): RuntimeError: boom" in lines
    assert sw.run_sweep(sweep, tmp_path, **quiet)["skipped"] == 2 and calls == [6, 8]
    assert sw.run_sweep(sweep, tmp_path, retry_failed=True, **quiet)["ran"] == 2
    assert calls == [6, 8, 6, 8]


SCHEDULED = """
seeds = [1]
[train]
epochs = 2
n_train = 2
epoch_params = { 2 = { eta = 2, eta_out = 3 } }
[baseline_train]
batch = 2
eprop_lr = 5e-3
loss = "ce"
epoch_params = {}
[config]
homeo_gain = 16
homeo_target = 40
[baseline_config]
homeo_gain = 0
[task]
name = "cue"
[axes]
w_bits = [6, 8]
"""


def test_training_schedules_and_baseline_settings_reach_the_keys():
    # the full cue task needs a register schedule on the golden core (--at-epoch) and float
    # e-prop over mini-batches for its baseline: [train] and [baseline_train] carry them
    sweep = sw.parse_sweep(SCHEDULED)
    for point in sweep.points:
        assert point.key["train"]["epoch_params"] == {"2": {"eta": 2, "eta_out": 3}}
        assert point.key["train"]["batch"] is None and point.key["train"]["loss"] == "mse"
    (base,) = sweep.baselines
    assert base.key["train"]["epoch_params"] == {}
    assert (base.key["train"]["batch"], base.key["train"]["eprop_lr"],
            base.key["train"]["loss"]) == (2, 5e-3, "ce")
    assert base.key["train"]["epochs"] == 2 and base.key["train"]["n_train"] == 2
    # [baseline_config] changes the baselines' configuration only
    assert [p.config.homeo_gain for p in sweep.points] == [16, 16]
    assert base.config.homeo_gain == 0 and base.config.homeo_target == 40
    # the key is what the store keeps (JSON); run_point turns it back into the settings
    key = json.loads(json.dumps(sweep.points[0].key))
    from eligo.model.train import TrainSettings
    settings = TrainSettings(**sw._settings_train(key["train"]))
    assert settings.epoch_params == {2: {"eta": 2, "eta_out": 3}}
    # a different schedule is a different point
    other = sw.parse_sweep(SCHEDULED.replace("eta_out = 3", "eta_out = 2"))
    assert other.points[0].hash != sweep.points[0].hash
    assert other.baselines[0].hash == sweep.baselines[0].hash


def test_a_scheduled_point_trains_with_its_schedule(monkeypatch):
    # run_point hands the schedule to train() as integers (a JSON key has string epochs)
    import eligo.model.train as train_module
    seen = {}

    def fake_train(settings, **kwargs):
        seen["settings"] = settings
        raise RuntimeError("stop here")
    monkeypatch.setattr(train_module, "train", fake_train)
    key = json.loads(json.dumps(sw.parse_sweep(SCHEDULED).points[0].key))
    result, _, _ = sw.run_point(key)
    assert "stop here" in result["error"]
    assert seen["settings"].epoch_params == {2: {"eta": 2, "eta_out": 3}}
    assert seen["settings"].config_changes["w_bits"] == 6


def test_a_linked_axis_may_repeat_one_fields_value():
    # 8-bit weights at two ranges beside 10-bit ones: w_bits repeats, the pairs do not
    sweep = sw.parse_sweep(_with(axes="[axes.w]\nw_bits = [8, 8, 10]\nw_frac = [6, 7, 8]"))
    assert [(p.config.w_bits, p.config.w_frac) for p in sweep.points] == [(8, 6), (8, 7),
                                                                          (10, 8)]


def test_hold_lr_holds_the_homeostatic_gain_and_target():
    # H = homeo_gain (zout - homeo_target) counts in w_frac + y_frac fraction bits per zout
    # integer (trace_frac fraction bits): two more weight fraction bits need 4x the gain;
    # two more trace fraction bits 4x the target and 1/4 the gain
    text = _with(axes="[axes.w]\nw_frac = [6, 8]\nw_bits = [8, 10]\n"
                      "[axes.t]\ntrace_frac = [7, 9]\ntrace_bits = [12, 14]",
                 config="homeo_gain = 16\nhomeo_target = 100")
    text = text.replace("seeds = [1]", "seeds = [1]\nhold_lr = true")
    cfgs = [p.config for p in sw.parse_sweep(text).points]
    assert [(c.homeo_gain, c.homeo_target) for c in cfgs] == [(16, 100), (4, 400), (64, 100),
                                                             (16, 400)]
    from eligo.model.bridge import real_params
    reals = [real_params(c) for c in cfgs]
    assert {(r.homeo_gain, r.homeo_target) for r in reals} == \
        {(reals[0].homeo_gain, reals[0].homeo_target)}
    # a gain that cannot be held exactly is refused, naming the point
    with pytest.raises(sw.SweepError, match=r"point 2 .*: hold_lr: homeo_gain 6 would be 6 / "
                                            r"2\*\*2 at these fraction bits, not an integer"):
        sw.parse_sweep(text.replace("homeo_gain = 16", "homeo_gain = 6"))


@pytest.mark.parametrize("name", ["cue_quant", "cue_rounding", "cue_full"])
def test_checked_in_sweep_files_are_valid(name):
    root = Path(__file__).resolve().parent.parent / "sweeps"
    sweep = sw.load_sweep(root / f"{name}.toml")
    assert sweep.name == name and sweep.points
