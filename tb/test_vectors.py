"""Golden vector files (eligo.golden.vectors) and the `eligo` command line (eligo.cli)."""

import importlib
import shutil
import sys
import tomllib
import types

import numpy as np
import pytest

from eligo.cli import main
from eligo.config import Config, preset
from eligo.golden import vectors as V
from eligo.model.golden import SAT_NAMES, GoldenModel

SMALL = "saturate_factored"     # the smallest file: the malformed-file cases start from it


@pytest.fixture(scope="module")
def parsed():
    return {name: V.parse(V.VECTOR_DIR / f"{name}.txt") for name in V.SCENARIOS}


@pytest.fixture
def vec_copy(tmp_path):
    """A copy of the committed vector folder."""
    dst = tmp_path / "vectors"
    shutil.copytree(V.VECTOR_DIR, dst)
    return dst


# -- the committed files ---------------------------------------------------------------------------

def test_committed_files_match_the_model():
    assert V.check() == []


def test_committed_files_small():
    files = sorted(V.VECTOR_DIR.glob("*.txt"))
    assert sorted(p.stem for p in files) == sorted(V.SCENARIOS)
    assert sum(p.stat().st_size for p in files) < 500_000


@pytest.mark.parametrize("name", sorted(V.SCENARIOS))
def test_replay_committed(name):
    assert V.replay(V.VECTOR_DIR / f"{name}.txt") is None


def test_parse_contents(parsed):
    vf = parsed["defaults"]
    sc = V.SCENARIOS["defaults"]
    cfg = sc.config()
    assert (vf.scenario, vf.seed, vf.steps, vf.batch) == ("defaults", sc.seed, sc.steps, 1)
    assert vf.model_version == V.MODEL_VERSION
    assert vf.config == cfg
    assert vf.weights["w_in"].shape == (cfg.n_rec, cfg.n_in)
    assert vf.inputs["x"].shape == (sc.steps, cfg.n_in)
    assert vf.states["ebar"].shape == (sc.steps, cfg.n_rec, cfg.n_pre)
    assert vf.states["t"].tolist() == list(range(1, sc.steps + 1))
    # the stored state is the golden model's, step by step
    model = GoldenModel(cfg, 1)
    model.load_weights(*(vf.weights[n] for n in ("w_in", "w_rec", "w_out", "b")))
    for s in range(5):
        model.step(vf.inputs["x"][s], vf.inputs["ystar"][s], vf.inputs["mask"][s],
                   learn=bool(vf.inputs["learn"][s]))
        for name, value in model.snapshot().items():
            assert np.array_equal(np.asarray(value).reshape(vf.states[name][s].shape),
                                  vf.states[name][s]), (s, name)


def test_replay_reports_mismatch(tmp_path):
    src = V.VECTOR_DIR / "defaults.txt"
    lines = src.read_text().split("\n")
    i = next(i for i, line in enumerate(lines) if line.startswith("v 10 "))
    tokens = lines[i].split(" ")
    tokens[4] = str(int(tokens[4]) + 1)
    lines[i] = " ".join(tokens)
    dst = tmp_path / "defaults.txt"
    dst.write_text("\n".join(lines))
    m = V.replay(dst)
    assert (m.step, m.name, m.index) == (10, "v", (2,))
    assert m.found == m.expected - 1
    assert str(dst) in str(m) and "step 10" in str(m)


# -- coverage of the options -----------------------------------------------------------------------

def test_scenarios_cover_every_option(parsed):
    cfgs = {name: sc.config() for name, sc in V.SCENARIOS.items()}
    assert 6 <= len(cfgs) <= 10

    def values(field):
        return {getattr(c, field) for c in cfgs.values()}

    assert values("reset") == {"subtract", "zero"}
    assert values("rounding") == {"zero", "floor", "stochastic"}
    assert values("update_rounding") == {"zero", "floor", "stochastic"}
    assert values("trace_mode") == {"full", "factored"}
    assert values("feedback") == {"symmetric", "random"}
    assert values("accumulate_error") == {True, False}
    assert 0 in values("refractory") and max(values("refractory")) > 0
    assert 1 in values("q_max") and max(values("q_max")) > 1
    assert any(c.n_alif == 0 for c in cfgs.values())
    assert any(0 < c.n_alif < c.n_rec for c in cfgs.values())
    for name, c in cfgs.items():
        assert c.replace() == c and c.n_in <= 16 and c.n_rec <= 32   # ice40-sized at most
        assert parsed[name].config == c
    learn = {name: set(vf.inputs["learn"].tolist()) for name, vf in parsed.items()}
    assert any(v == {0, 1} for v in learn.values()), "no scenario turns learning off"
    assert all(1 in v for v in learn.values())


def test_triggers_fire_and_weights_change(parsed):
    for name, vf in parsed.items():
        last = {n: v[-1] for n, v in vf.states.items()}
        assert last["row_updates"] > 0, name
        assert last["spikes"] > 0, name
        assert not np.array_equal(last["w_out"], vf.weights["w_out"]), name
        w = np.concatenate([last["w_in"], last["w_rec"]], axis=1)
        w0 = np.concatenate([vf.weights["w_in"], vf.weights["w_rec"]], axis=1)
        assert not np.array_equal(w, w0), name
        # weights only move on steps that learn and carry a target
        moved = np.any(np.diff(vf.states["w_out"], axis=0) != 0, axis=(1, 2))
        allowed = (vf.inputs["learn"] == 1) & (vf.inputs["mask"].any(axis=1))
        assert not np.any(moved & ~allowed[1:]), name


def test_refractory_and_learn_off_take_effect(parsed):
    for name, vf in parsed.items():
        cfg = vf.config
        if cfg.refractory:
            assert vf.states["ref"].max() == cfg.refractory, name
        off = vf.inputs["learn"] == 0
        if off.any():      # traces frozen while learning is off
            xbar = vf.states["xbar"]
            idx = np.nonzero(off)[0]
            idx = idx[idx > 0]
            assert np.array_equal(xbar[idx], xbar[idx - 1]), name


def test_saturation_occurs(parsed):
    totals = {n: 0 for n in SAT_NAMES}
    for vf in parsed.values():
        for n in SAT_NAMES:
            totals[n] += int(vf.states[f"sat_{n}"][-1])
    assert all(totals[n] > 0 for n in SAT_NAMES), totals
    sat_full = {n: int(parsed["saturate_full"].states[f"sat_{n}"][-1]) for n in SAT_NAMES}
    assert all(v > 0 for v in sat_full.values()), sat_full


# -- check() finds changes -------------------------------------------------------------------------

def test_check_reports_flipped_bit(vec_copy):
    path = vec_copy / "lif_full_random.txt"
    lines = path.read_text().split("\n")
    lineno = next(i + 1 for i, line in enumerate(lines) if line.startswith("ebar 20 "))
    tokens = lines[lineno - 1].split(" ")
    old = tokens[2 + 5]
    tokens[2 + 5] = str(int(old) ^ 1)
    lines[lineno - 1] = " ".join(tokens)
    path.write_text("\n".join(lines))
    problems = V.check(vec_copy)
    assert problems == [f"{path}:{lineno}: 'ebar 20' value 5: expected {old}, "
                        f"found {tokens[7]}"]


def test_check_reports_missing_extra_and_truncated(vec_copy):
    (vec_copy / "defaults.txt").unlink()
    (vec_copy / "stray.txt").write_text("# format: eligo-golden-vectors 1\n")
    small = vec_copy / f"{SMALL}.txt"
    text = small.read_text()
    small.write_text(text[:text.index("\nv 3 ")] + "\n")
    problems = V.check(vec_copy)
    assert len(problems) == 3, problems
    assert any(p.startswith(f"{vec_copy / 'defaults.txt'}: missing") for p in problems)
    assert any(p.startswith(f"{vec_copy / 'stray.txt'}: extra file") for p in problems)
    lineno = text[:text.index("\nv 3 ")].count("\n") + 2
    assert f"{small}:{lineno}: file ends after line {lineno - 1} (truncated?)" in \
        "\n".join(problems)


def test_regen_writes_identical_files(tmp_path):
    (tmp_path / "old_scenario.txt").write_text("# format: eligo-golden-vectors 1\n")
    (tmp_path / "notes.txt").write_text("not a vector file\n")
    done = dict(V.regen(tmp_path))
    assert done[tmp_path / "old_scenario.txt"] == "removed"
    assert (tmp_path / "notes.txt").exists()
    for name in V.SCENARIOS:
        assert (tmp_path / f"{name}.txt").read_bytes() == \
            (V.VECTOR_DIR / f"{name}.txt").read_bytes()
    assert set(dict(V.regen(tmp_path)).values()) == {"unchanged"}


def _break_zero_rounding(monkeypatch):
    """Make the golden model round "zero" mode like "floor"."""
    try:
        kernels = importlib.import_module("eligo.model.kernels")
    except ImportError:
        kernels = None
    if kernels is not None and hasattr(kernels, "ROUND_MODES"):
        monkeypatch.setitem(kernels.ROUND_MODES, "zero", kernels.ROUND_MODES["floor"])
    elif hasattr(GoldenModel, "_round"):
        original = GoldenModel._round

        def floor_round(self, x, s, mode, *args, **kwargs):
            return original(self, x, s, "floor" if mode == "zero" else mode, *args, **kwargs)
        monkeypatch.setattr(GoldenModel, "_round", floor_round)
    else:
        pytest.fail("no rounding hook in the golden model to break")


def test_check_fails_when_the_model_rounding_changes(monkeypatch):
    _break_zero_rounding(monkeypatch)
    problems = V.check()
    zero = {n for n, sc in V.SCENARIOS.items() if "zero" in (sc.config().rounding,
                                                              sc.config().update_rounding)}
    failing = {p.split(".txt:")[0].rsplit("/", 1)[-1] for p in problems}
    assert failing and failing <= zero, problems
    assert "defaults" in failing


def test_check_fails_on_another_model_version(monkeypatch):
    monkeypatch.setattr(V, "MODEL_VERSION", V.MODEL_VERSION + 1)
    problems = V.check()
    assert len(problems) == len(V.SCENARIOS)
    assert all(":4: expected '# model_version: " in p for p in problems)


# -- malformed files -------------------------------------------------------------------------------

def _set(lineno, text):
    def edit(lines):
        lines[lineno - 1] = text
    return edit


def _sub(lineno, old, new):
    def edit(lines):
        assert old in lines[lineno - 1]
        lines[lineno - 1] = lines[lineno - 1].replace(old, new, 1)
    return edit


def _body_line(prefix, change):
    def edit(lines):
        i = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        lines[i] = change(lines[i])
    return edit


MALFORMED = {
    "bad format": (_sub(1, "vectors 1", "vectors 2"), 1, "format must be"),
    "not a header line": (_set(2, "scenario: x"), 2, "bad header line"),
    "unknown key": (_sub(5, "# seed:", "# sead:"), 5, "unknown header key 'sead'"),
    "key out of order": (_sub(5, "# seed:", "# steps:"), 5, "out of place"),
    "old model version": (_sub(4, f": {V.MODEL_VERSION}", ": 0"), 4, "model_version 0"),
    "wrong scenario": (_sub(2, SMALL, "defaults"), 2, "does not match the file name"),
    "non-integer steps": (_sub(6, ": 60", ": 6x"), 6, "steps must be an integer"),
    "batch 2": (_sub(7, ": 1", ": 2"), 7, "batch must be 1"),
    "config not json": (_sub(8, "{", "[", ), 8, "config is not valid JSON"),
    "config field": (_sub(8, '"q_max": 2', '"q_max": 9'), 8, "bad config: q_max"),
    "config unknown": (_sub(8, '"q_max": 2', '"q_maxx": 2'), 8, "unknown field 'q_maxx'"),
    "non-integer value": (_body_line("v 3 ", lambda s: s.rsplit(" ", 1)[0] + " 1.5"), None,
                          "non-integer value '1.5' in 'v 3'"),
    "too few values": (_body_line("w_rec 7 ", lambda s: s.rsplit(" ", 1)[0]), None,
                       "'w_rec 7' has"),
    "too many values": (_body_line("w_in -1 ", lambda s: s + " 0"), None, "'w_in -1' has"),
    "wrong name": (_body_line("zout 5 ", lambda s: "zbar" + s[4:]), None,
                   "expected 'zout 5 ...'"),
    "wrong step": (_body_line("psi 9 ", lambda s: "psi 8" + s[5:]), None,
                   "expected 'psi 9 ...'"),
    "double space": (_body_line("y 2 ", lambda s: s.replace(" ", "  ", 1)), None,
                     "expected 'y 2 ...'"),
    "trailing space": (_body_line("y 2 ", lambda s: s + " "), None,
                       "stray whitespace in 'y 2'"),
    "event not 0/1": (_body_line("x 4 ", lambda s: s[:-1] + "2"), None,
                      "'x 4' values must be 0 or 1"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file(tmp_path, case):
    edit, lineno, message = MALFORMED[case]
    lines = (V.VECTOR_DIR / f"{SMALL}.txt").read_text().split("\n")
    before = list(lines)
    edit(lines)
    if lineno is None:
        lineno = next(i + 1 for i, (a, b) in enumerate(zip(before, lines)) if a != b)
    path = tmp_path / f"{SMALL}.txt"
    path.write_text("\n".join(lines))
    with pytest.raises(V.VectorFileError) as info:
        V.parse(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{lineno}: "), msg
    assert message in msg, msg


@pytest.mark.parametrize("cut", ["at a line end", "mid line", "inside the header",
                                 "extra line"])
def test_truncated_or_extended_file(tmp_path, cut):
    text = (V.VECTOR_DIR / f"{SMALL}.txt").read_text()
    n_lines = text.count("\n")
    if cut == "at a line end":
        text = text[:text.index("\nspikes 20 ") + 1]
        lineno, message = text.count("\n") + 1, "file ends early"
    elif cut == "mid line":
        text = text[:text.index("\nspikes 20 ") + 5]
        lineno, message = text.count("\n") + 1, "no newline at the end"
    elif cut == "inside the header":
        text = "\n".join(text.split("\n")[:3]) + "\n"
        lineno, message = 4, "file ends inside the header"
    else:
        text += "t 60 61\n"
        lineno, message = n_lines + 1, "unexpected extra line"
    path = tmp_path / f"{SMALL}.txt"
    path.write_text(text)
    with pytest.raises(V.VectorFileError, match=message) as info:
        V.parse(path)
    assert str(info.value).startswith(f"{path}:{lineno}: ")


def test_vector_file_error_is_value_error(tmp_path):
    assert issubclass(V.VectorFileError, ValueError)
    with pytest.raises(V.VectorFileError, match="cannot read"):
        V.parse(tmp_path / "absent.txt")
    bad = tmp_path / "bin.txt"
    bad.write_bytes(b"# format: \xff\n")
    with pytest.raises(V.VectorFileError, match=r"bin\.txt:1: non-ASCII"):
        V.parse(bad)


# -- command line ----------------------------------------------------------------------------------

def test_cli_golden_check_ok(capsys):
    assert main(["golden", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: ") and out.count("\n") == 1


def test_cli_golden_check_fails(capsys, vec_copy):
    path = vec_copy / "defaults.txt"
    path.write_text(path.read_text().replace("\nt 3 4\n", "\nt 3 5\n"))
    assert main(["golden", "check", "--dir", str(vec_copy)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:" in err and "'t 3' value 0: expected 4, found 5" in err


def test_cli_golden_regen(capsys, tmp_path):
    assert main(["golden", "regen", "--dir", str(tmp_path / "v")]) == 0
    out = capsys.readouterr().out
    assert out.count("created") == len(V.SCENARIOS)
    assert main(["golden", "check", "--dir", str(tmp_path / "v")]) == 0


def test_cli_golden_replay_bad_file(capsys, tmp_path):
    bad = tmp_path / "x.txt"
    bad.write_text("# format: nonsense\n")
    assert main(["golden", "replay", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("eligo: error: ") and str(bad) in err and err.count("\n") == 1


def test_cli_config_show(capsys):
    assert main(["config", "show", "tiny"]) == 0
    out = capsys.readouterr().out
    assert Config.from_dict(tomllib.loads(out)) == preset("tiny")


def test_cli_config_show_file_and_unknown(capsys, tmp_path):
    path = tmp_path / "c.json"
    preset("ice40").save(path)
    assert main(["config", "show", str(path)]) == 0
    assert Config.from_dict(tomllib.loads(capsys.readouterr().out)) == preset("ice40")
    assert main(["config", "show", "nope"]) == 1
    err = capsys.readouterr().err
    assert "neither a preset" in err and err.count("\n") == 1


def test_cli_config_check(capsys, tmp_path):
    good = tmp_path / "good.toml"
    preset("tiny").save(good)
    assert main(["config", "check", str(good)]) == 0
    assert capsys.readouterr().out.startswith("OK")
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("q_max = 1", "q_max = 9"))
    assert main(["config", "check", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "q_max must be" in captured.err
    assert "Traceback" not in captured.err
    assert main(["config", "check", str(tmp_path / "absent.toml")]) == 1
    assert "absent.toml" in capsys.readouterr().err


def test_cli_bench_dispatch(monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("eligo.model.bench")
    fake.run_golden_bench = lambda *args: calls.append(args)
    monkeypatch.setitem(sys.modules, "eligo.model.bench", fake)
    assert main(["bench", "golden"]) == 0
    assert main(["bench", "golden", "--preset", "tiny", "--steps", "7", "--batches", "2,3",
                 "--no-torch", "--no-snntorch"]) == 0
    assert calls == [("cue", 2250, [1, 64], True, True), ("tiny", 7, [2, 3], False, False)]
    with pytest.raises(SystemExit) as info:
        main(["bench", "golden", "--batches", "1,x"])
    assert info.value.code == 2
    assert "batches must be" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["golden"], ["golden", "check"], ["golden", "regen"],
                                  ["bench", "golden"], ["demo"], ["config", "show"],
                                  ["config", "check"]])
def test_cli_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv + ["-h"])
    assert info.value.code == 0
    assert "usage: eligo" in capsys.readouterr().out


def test_cli_demo(capsys):
    assert main(["demo", "--no-fpga"]) == 0  # the FPGA build: tb/test_synth.py
    out = capsys.readouterr().out
    assert "-> test accuracy" in out and "fewer than updating every row" in out
    assert "-> 20 steps compared, 0 mismatches" in out
    assert "cycles per step" in out
