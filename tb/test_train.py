"""Short training runs per tier: each must beat chance by a clear margin (the full runs are
commands: see docs/results.md). Same seed, same result."""

import io
import json
import re

import pytest

from eligo.cli import main
from eligo.model.train import TrainSettings, train

QUIET = dict(out=lambda *a: None)

# Two-class random manifolds, 20 inputs, the cue network (100 neurons, 50 ALIF).
RANDMAN2 = dict(task="randman", preset="cue", n_train=200, n_test=100, seed=1,
                task_params={"n_classes": 2},
                config_changes={"n_in": 20, "lr_shift": 11, "lr_out_shift": 11})

# The float tiers take about 1 ms per step at batch 1: the same task with 50-step samples.
# Reference: online e-prop with the trigger at 2x the default threshold (1.0) and the same
# real learning rate per unit of error as lr_shift=11 at 0.5 (seeds 1-5: 1.00, 1.00, 0.99,
# 0.97, 0.97 after one epoch, about 7 s each). BPTT: Adam at 1e-2, batches of 16, two
# epochs (seeds 1-4: 1.00, 0.99, 0.99, 0.97, about 3.5 s each).
RANDMAN2_SHORT = dict(RANDMAN2, task_params={"n_classes": 2, "n_steps": 50})
FLOAT_TIERS = {
    "reference": dict(RANDMAN2_SHORT, epochs=1, config_changes={
        "n_in": 20, "trigger": 4096, "lr_shift": 10, "lr_out_shift": 11}),
    "bptt": dict(RANDMAN2_SHORT, epochs=2, bptt_lr=1e-2, config_changes={"n_in": 20}),
}
# Reference with per-sample e-prop over mini-batches of 16, Adam 1e-2, two epochs (26 Adam
# steps; seeds 1-4: test 0.99 each, 0.88, 0.79, 0.98, 0.93 after one epoch; about 3 s).
BATCHED = dict(RANDMAN2_SHORT, tier="reference", epochs=2, batch=16, eprop_lr=1e-2,
               config_changes={"n_in": 20})


def test_golden_tier_learns_randman_online_with_the_trigger(tmp_path):
    with open(tmp_path / "progress.txt", "w") as progress:
        report = train(TrainSettings(tier="golden", epochs=1, **RANDMAN2), out_dir=tmp_path,
                       progress_stream=progress, **QUIET)
    final = report["final"]
    assert report["chance"] == 0.5
    assert final["test_accuracy"] >= 0.8
    assert final["writes_saved_factor"] > 2  # the trigger skipped most row writes
    saved = json.loads((tmp_path / "randman_golden_seed1.json").read_text())
    assert saved["final"] == final
    assert (tmp_path / "randman_golden_seed1.png").stat().st_size > 1000
    assert "epoch 1/1" in (tmp_path / "progress.txt").read_text()


@pytest.mark.parametrize("tier", ["reference", "bptt"])
def test_float_tier_learns_randman(tier):
    report = train(TrainSettings(tier=tier, **FLOAT_TIERS[tier]),
                   progress_stream=io.StringIO(), **QUIET)
    final = report["final"]
    assert report["chance"] == 0.5
    assert final["test_accuracy"] >= 0.9
    assert final["train_accuracy"] >= 0.9
    if tier == "reference":
        assert final["writes_saved_factor"] > 10  # the trigger skipped most row writes
    else:
        assert final["weight_writes_per_sample"] is None  # BPTT has no on-chip writes
    assert final["spikes_per_step"] > 0


def test_golden_runtime_parameters_written_between_epochs():
    # eta = eta_out = 0 from epoch 2 on: the rows still trigger, but no weight moves, so
    # epoch 2 scores exactly as epoch 1; without the write, epoch 2 learns on
    small = dict(RANDMAN2, n_train=40, n_test=20, epochs=2)
    lines = []
    frozen = train(TrainSettings(tier="golden", epoch_params={2: {"eta": 0, "eta_out": 0}},
                                 **small), progress_stream=io.StringIO(), out=lines.append)
    learning = train(TrainSettings(tier="golden", **small), progress_stream=io.StringIO(),
                     **QUIET)
    score = lambda r: (r["train_accuracy"], r["test_accuracy"])
    first, second = frozen["history"]
    assert first == dict(learning["history"][0], epoch_seconds=first["epoch_seconds"])
    assert score(second) == score(first) and second["weight_writes_per_sample"] > 0
    assert [score(r) for r in learning["history"]] != [score(first)] * 2
    assert "epoch 2: the host writes eta=0, eta_out=0" in lines


def test_golden_counts_survive_counter_saturation():
    # The core's counters saturate (at 2**counter_bits - 1; at 32 bits a long run passes
    # 2**32 writes). With counter_bits set so that the bound lies below an epoch's total
    # but above any one sample's, the per-epoch figures must stay those of 32-bit counters.
    small = dict(RANDMAN2, n_train=30, n_test=10, epochs=2)
    truth = train(TrainSettings(tier="golden", **small), progress_stream=io.StringIO(),
                  **QUIET)["history"]
    per_sample_max = 2**20 - 1  # above one sample's writes here (about 165k)
    assert truth[0]["weight_writes_per_sample"] * 30 > 2 * per_sample_max
    narrow = dict(small, config_changes=dict(small["config_changes"], counter_bits=20))
    bounded = train(TrainSettings(tier="golden", **narrow), progress_stream=io.StringIO(),
                    **QUIET)["history"]
    strip = lambda h: [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in h]
    assert strip(bounded) == strip(truth)


def test_golden_training_refuses_a_counter_saturated_within_a_sample():
    # 8-bit counters saturate within one sample (about 165k writes): the totals would be
    # wrong, so training stops with an error naming the counter.
    narrow = dict(RANDMAN2, n_train=2, n_test=2,
                  config_changes=dict(RANDMAN2["config_changes"], counter_bits=8))
    with pytest.raises(ValueError, match=r"^counter \w+ saturated at 255 \(2\*\*counter_bits "
                                         r"- 1, counter_bits = 8\) within one training sample"):
        train(TrainSettings(tier="golden", **narrow), progress_stream=io.StringIO(), **QUIET)


@pytest.mark.parametrize("tier", ["golden", "reference", "bptt"])
def test_same_seed_same_result(tier):
    settings = RANDMAN2 if tier == "golden" else FLOAT_TIERS[tier]
    small = dict(settings, n_train=20, n_test=10)
    a = train(TrainSettings(tier=tier, **small), progress_stream=io.StringIO(), **QUIET)
    b = train(TrainSettings(tier=tier, **small), progress_stream=io.StringIO(), **QUIET)
    strip = lambda h: [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in h]
    assert strip(a["history"]) == strip(b["history"])
    if tier != "bptt":
        assert a["final"]["weight_writes_per_sample"] > 0  # it did learn something


def test_reference_learns_randman_with_minibatch_eprop():
    report = train(TrainSettings(**BATCHED), progress_stream=io.StringIO(), **QUIET)
    final = report["final"]
    assert final["test_accuracy"] >= 0.9
    assert final["train_accuracy"] >= 0.9
    assert final["weight_writes_per_sample"] is None  # one Adam step per batch: not on chip
    assert final["spikes_per_step"] > 0
    small = dict(BATCHED, n_train=40, n_test=10, epochs=1)
    runs = [train(TrainSettings(**small), progress_stream=io.StringIO(), **QUIET)
            for _ in range(2)]
    strip = lambda h: [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in h]
    assert strip(runs[0]["history"]) == strip(runs[1]["history"])
    # the rate decay starts after the first epoch
    two = [train(TrainSettings(**dict(small, epochs=2, eprop_lr_decay=decay)),
                 progress_stream=io.StringIO(), **QUIET)["history"] for decay in (1.0, 0.1)]
    assert strip(two[0])[0] == strip(two[1])[0] and strip(two[0])[1] != strip(two[1])[1]
    # online mode (the default) is another rule: another result from the same seed
    online = train(TrainSettings(**dict(small, batch=None)), progress_stream=io.StringIO(),
                   **QUIET)
    assert online["final"]["weight_writes_per_sample"] > 0


def test_rate_regularizer_reaches_both_float_tiers(monkeypatch):
    # reference with batch: a strong pull towards silence lowers the activity
    small = dict(BATCHED, n_train=32, n_test=4, epochs=2)
    spikes = [train(TrainSettings(**small, rate_reg=c, rate_target=0.0),
                    progress_stream=io.StringIO(), **QUIET)["final"]["spikes_per_step"]
              for c in (0.0, 1e4)]
    assert spikes[1] < 0.6 * spikes[0]
    # bptt: the settings reach its loss
    from eligo.model import reference
    seen = []
    real = reference.train_bptt
    monkeypatch.setattr(reference, "train_bptt",
                        lambda *a, **kw: seen.append(kw) or real(*a, **kw))
    train(TrainSettings(**dict(FLOAT_TIERS["bptt"], n_train=4, n_test=2, epochs=1),
                        tier="bptt", rate_reg=3.0, rate_target=0.02),
          progress_stream=io.StringIO(), **QUIET)
    assert seen and seen[0]["rate_reg"] == 3.0 and seen[0]["rate_target"] == 0.02


def test_bptt_rate_decays_after_every_epoch(monkeypatch):
    from eligo.model import reference
    rates = []
    real = reference.train_bptt
    monkeypatch.setattr(reference, "train_bptt",
                        lambda *a, **kw: rates.append(kw["adam"].lr) or real(*a, **kw))
    small = dict(FLOAT_TIERS["bptt"], n_train=4, n_test=2, epochs=3, bptt_lr=8e-3)
    train(TrainSettings(tier="bptt", bptt_lr_decay=0.5, **small),
          progress_stream=io.StringIO(), **QUIET)
    assert rates == [8e-3, 4e-3, 2e-3]


@pytest.mark.parametrize("changes,message", [
    ({"batch": 0}, "batch must be a positive integer, not 0"),
    ({"batch": 2.5}, "batch must be a positive integer, not 2.5"),
    ({"batch": 4, "tier": "golden"}, "batch is a setting of the float tiers (reference, bptt), "
                                     "not of 'golden': the golden core learns online"),
    ({"batch": 4, "every_step": True}, "every_step is a mode of online training; it cannot be "
                                       "combined with batch"),
    ({"eprop_lr": 0.0}, "eprop_lr must be a positive number, not 0.0"),
    ({"eprop_lr": float("nan")}, "eprop_lr must be a positive number, not nan"),
    ({"bptt_lr": -1e-3}, "bptt_lr must be a positive number, not -0.001"),
    ({"batch": 4, "eprop_lr_decay": 0}, "eprop_lr_decay must be in (0, 1], not 0"),
    ({"batch": 4, "eprop_lr_decay": 1.5}, "eprop_lr_decay must be in (0, 1], not 1.5"),
    ({"eprop_lr_decay": 0.5}, "eprop_lr_decay is a setting of the reference tier with batch"),
    ({"tier": "bptt", "bptt_lr_decay": 0.0}, "bptt_lr_decay must be in (0, 1], not 0.0"),
    ({"bptt_lr_decay": 0.9}, "bptt_lr_decay is a setting of the bptt tier, not of 'reference'"),
    ({"batch": 4, "rate_reg": -1.0}, "rate_reg must be a non-negative finite number, not -1.0"),
    ({"batch": 4, "rate_reg": float("inf")},
     "rate_reg must be a non-negative finite number, not inf"),
    ({"batch": 4, "rate_reg": 1.0, "rate_target": 2.0},
     "rate_target must be in [0, 1] (spikes per step), not 2.0"),
    ({"rate_reg": 1.0}, "rate_reg is a setting of the bptt tier and of the reference tier "
                        "with batch"),
    ({"tier": "golden", "rate_reg": 1.0}, "rate_reg is a setting of the bptt tier and of the "
                                          "reference tier with batch"),
    ({"epoch_params": {2: {"eta": 2}}, "epochs": 2},
     "epoch_params is a setting of the golden tier, not of 'reference'"),
    ({"tier": "golden", "epoch_params": {1: {"eta": 2}}, "epochs": 2},
     "epoch_params: epoch must be an integer from 2 to epochs (2), not 1"),
    ({"tier": "golden", "epoch_params": {3: {"eta": 2}}, "epochs": 2},
     "epoch_params: epoch must be an integer from 2 to epochs (2), not 3"),
    ({"tier": "golden", "epoch_params": {2: {"lr_shift": 2}}, "epochs": 2},
     "epoch_params: 'lr_shift' is not a runtime register of the core; one of alpha, rho, "
     "kappa, theta, beta, gamma, eta, eta_out, trigger, trigger_out, homeo_gain, "
     "homeo_target, seed"),
    ({"loss": "l1"}, "loss must be one of 'mse', 'ce', not 'l1'"),
    ({"loss": "ce", "tier": "golden"}, "loss 'ce' is a setting of the float tiers, not of "
                                       "'golden' (the core's error is y - y*)"),
])
def test_bad_float_settings_refused(changes, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        TrainSettings(**{"tier": "reference", **changes})


@pytest.mark.parametrize("args,message", [
    (["--tier", "nope"], "tier must be one of 'golden', 'reference', 'bptt', not 'nope'"),
    (["--set", "n_rec"], "--set must look like NAME=VALUE, not 'n_rec'"),
    (["--set", "bogus=1"], "unknown configuration field 'bogus'"),
    (["--task", "mnist"], "mnist"),
    (["--tier", "reference", "--batch", "0"], "batch must be a positive integer, not 0"),
    (["--batch", "8"], "batch is a setting of the float tiers (reference, bptt), not of "
                       "'golden'"),
    (["--tier", "reference", "--batch", "8", "--eprop-lr", "-1"],
     "eprop_lr must be a positive number, not -1.0"),
    (["--tier", "bptt", "--loss", "hinge"], "loss must be one of 'mse', 'ce', not 'hinge'"),
    (["--tier", "bptt", "--bptt-lr-decay", "2"], "bptt_lr_decay must be in (0, 1], not 2.0"),
    (["--at-epoch", "eta=2"], "--at-epoch must look like EPOCH:NAME=VALUE, not 'eta=2'"),
    (["--at-epoch", "2:eta"], "--at-epoch must look like NAME=VALUE, not 'eta'"),
    (["--epochs", "2", "--at-epoch", "2:eta=-1"], "epoch_params at epoch 2: eta must be"),
    (["--tier", "bptt", "--rate-reg", "-2"],
     "rate_reg must be a non-negative finite number, not -2.0"),
    (["--tier", "bptt", "--rate-reg", "1", "--rate-target", "-0.1"],
     "rate_target must be in [0, 1] (spikes per step), not -0.1"),
])
def test_train_cli_refuses_bad_input(capsys, tmp_path, args, message):
    assert main(["train", "--out", str(tmp_path), *args]) == 1
    assert message in capsys.readouterr().err


def test_task_and_preset_mismatch_refused():
    with pytest.raises(ValueError, match=r"^task 'randman' has n_in=20.*preset 'cue' has n_in=40"):
        train(TrainSettings(task="randman", preset="cue", n_train=2, n_test=2), **QUIET)


def test_trigger_curve_keeps_the_real_learning_rate():
    from eligo.config import preset
    from eligo.model.bridge import learning_rates
    from eligo.model.trigger_curve import CURVES, curve_points
    for name, spec in CURVES.items():
        points = curve_points(name)
        assert points[0].q_max == 7 and all(p.q_max == 1 for p in points[1:])
        rates = {learning_rates(preset("cue", **{**spec["settings"]["config_changes"],
                                                 **p.changes()})) for p in points}
        assert len(rates) == 1, name
        first = curve_points(name, float_baseline=[0])[0]
        assert first.every_step and learning_rates(preset(
            "cue", **{**spec["settings"]["config_changes"], **first.changes()})) in rates
    with pytest.raises(ValueError, match="trigger must be 2048 times a power of two, not 3000"):
        curve_points("randman", [3000])


def test_trigger_curve_writes_table_json_and_plot(tmp_path, monkeypatch, capsys):
    from eligo.model import trigger_curve
    small = dict(trigger_curve.CURVES["randman"],
                 settings=dict(trigger_curve.CURVES["randman"]["settings"], n_train=4,
                               n_test=2, epochs=1))
    monkeypatch.setitem(trigger_curve.CURVES, "randman", small)
    assert trigger_curve.main(["randman", "--seeds", "1", "2", "--triggers", "2048", "8192",
                               "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "trigger_curve_randman.json").read_text())
    assert [(r["trigger"], r["q_max"], r["lr_shift"]) for r in report["rows"]] == \
        [(2048, 7, 11), (2048, 1, 11), (8192, 1, 9)]
    assert all(len(r["accuracy"]) == 2 and r["saved_factor"] > 1 for r in report["rows"])
    assert (tmp_path / "trigger_curve_randman.png").stat().st_size > 1000
    assert "| golden | 2 (8192) | 1 | 9 |" in capsys.readouterr().out
    assert trigger_curve.main(["randman", "--merge", str(tmp_path / "trigger_curve_randman.json"),
                               "--out", str(tmp_path / "merged")]) == 0
    merged = json.loads((tmp_path / "merged" / "trigger_curve_randman.json").read_text())
    assert merged["rows"] == report["rows"]


def test_every_step_is_the_reference_rule_without_the_trigger():
    small = dict(FLOAT_TIERS["reference"], n_train=4, n_test=2)
    report = train(TrainSettings(tier="reference", every_step=True, **small),
                   progress_stream=io.StringIO(), **QUIET)
    assert report["final"]["writes_saved_factor"] == 1.0  # every row at every target step
    with pytest.raises(ValueError, match="every_step is a mode of the reference tier, not of "
                                         "'golden'"):
        TrainSettings(tier="golden", every_step=True)
