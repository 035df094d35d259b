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
