"""``eligo sim``: RTL beside golden from the command line."""

from eligo.cli import main


def test_sim_runs_clean_and_reports_cycles(capsys):
    assert main(["sim", "--simulator", "amaranth", "--steps", "12", "--set", "n_alif=2"]) == 0
    out = capsys.readouterr().out
    assert "12 steps, 0 mismatches" in out
    for phase in ("syn", "neuron", "sweep", "write", "total"):
        assert any(line.startswith(phase) for line in out.splitlines()), phase


def test_sim_reports_the_first_mismatch(capsys, monkeypatch):
    # A core built from a different kappa than the golden model's must be caught, with the
    # step, the variable and both values named.
    import eligo.tb.core_harness as harness
    original = harness.Core
    monkeypatch.setattr(harness, "Core",
                        lambda cfg, lanes=1: original(cfg.replace(kappa=cfg.kappa - 1), lanes))
    assert main(["sim", "--simulator", "amaranth", "--steps", "12"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH at step" in out and "core" in out and "golden" in out


def test_sim_refuses_bad_input(capsys):
    assert main(["sim", "--simulator", "amaranth", "--input-rate", "2"]) == 1
    assert "--input-rate must lie in [0, 1], not 2.0" in capsys.readouterr().err
    assert main(["sim", "--simulator", "amaranth", "--preset", "nope"]) == 1
    assert "nope" in capsys.readouterr().err


def test_sim_refuses_a_task_the_network_cannot_take(capsys):
    # checked before anything is built
    assert main(["sim", "--preset", "tiny", "--task", "cue"]) == 1
    assert "task 'cue' has n_in=40, n_out=2; the configuration has n_in=4" in \
        capsys.readouterr().err
    assert main(["sim", "--simulator", "amaranth", "--preset", "cue", "--task", "cue"]) == 1
    assert "--task needs --simulator verilator or icarus" in capsys.readouterr().err


def test_sim_bad_input_is_refused_for_every_simulator(capsys):
    # checked before anything is built, on the cocotb path too
    assert main(["sim", "--input-rate", "-0.5"]) == 1
    assert "--input-rate must lie in [0, 1], not -0.5" in capsys.readouterr().err
    assert main(["sim", "--target-every", "-1"]) == 1
    assert "--target-every must be 0 (no targets) or more, not -1" in capsys.readouterr().err


def test_cocotb_sim_takes_the_random_stimulus_options(capsys, monkeypatch):
    # eligo sim on Verilator/Icarus hands --input-rate and --target-every to the bench (they
    # were once dropped there, the bench drawing its own rates)
    import eligo.cosim as cosim
    seen = {}

    def fake_run_bench(cfg, test, params, **kwargs):
        seen.update(params)
        return True, {"steps": params["steps"], "mismatch": None}
    monkeypatch.setattr(cosim, "build", lambda *args, **kwargs: ("build", None))
    monkeypatch.setattr(cosim, "run_bench", fake_run_bench)
    assert main(["sim", "--steps", "7", "--input-rate", "0.05", "--target-every", "3"]) == 0
    assert seen["input_rate"] == 0.05 and seen["target_every"] == 3 and seen["steps"] == 7


def test_random_stimulus_follows_the_rate_and_target_period():
    import random

    import numpy as np

    from eligo.config import Config
    from eligo.sim import random_stimulus
    cfg = Config()
    plan = random_stimulus(cfg, 600, random.Random(1), input_rate=0.05, target_every=3)
    rate = np.mean([x for x, _, _, _ in plan])
    assert 0.03 < rate < 0.07, rate
    for t, (_, ystar, mask, learn) in enumerate(plan):
        assert list(mask) == [int(t % 3 == 2)] * cfg.n_out and learn == cfg.learn
        assert not np.any(ystar[mask == 0])
    assert not any(mask.any() for _, _, mask, _ in
                   random_stimulus(cfg, 50, random.Random(1), 1.0, target_every=0))
    assert all(x.all() for x, _, _, _ in random_stimulus(cfg, 5, random.Random(1), 1.0, 0))


def test_bench_sim_takes_configuration_changes(capsys, monkeypatch):
    # eligo bench sim --set builds and runs the changed configuration (e.g. factored traces,
    # ReckOn's kind of per-neuron learning state) and refuses a bad field before building
    import eligo.cosim as cosim
    built = []

    def fake_build(cfg, *args, **kwargs):
        built.append(cfg)
        return "build", None

    def fake_run_bench(cfg, test, params, **kwargs):
        return True, {"steps": params["steps"], "mismatch": None}
    monkeypatch.setattr(cosim, "build", fake_build)
    monkeypatch.setattr(cosim, "run_bench", fake_run_bench)
    assert main(["bench", "sim", "--set", "trace_mode=factored"]) == 0
    assert [cfg.trace_mode for cfg in built] == ["factored"]
    assert main(["bench", "sim", "--set", "trace_mode=per-neuron"]) == 1
    assert "trace_mode must be one of 'full', 'factored', not 'per-neuron'" in \
        capsys.readouterr().err
    assert len(built) == 1
