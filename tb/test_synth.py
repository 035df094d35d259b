# amaranth: UnusedElaboratable=no
"""The FPGA flow (synth/): PLL settings, the yosys scripts, the budget check, and two real
bitstreams checked against synth/budgets.json, in the default run: ``tiny`` on the ULX3S's
ECP5-85F and ``ice40`` on the iCEBreaker's UP5K (docs/board_icebreaker.md)."""

import pytest

from eligo.config import preset
from eligo.synth.boards import BoardTop, ecp5_pll_params, ice40_pll_params
from eligo.synth.flow import ROUTERS, SynthError, check_budget, default_router, load_budgets, \
    report_markdown, synthesize


def test_pll_settings_reach_the_default_clocks():
    assert ice40_pll_params(12e6, 30e6) == (0, 79, 5, 1, 30e6)
    clki, fb, op, f = ecp5_pll_params(25e6, 75e6)
    assert f == 75e6 and 400e6 <= f * op <= 800e6 and 25e6 / clki * fb == f


def test_board_top_refuses_unknown_board():
    with pytest.raises(ValueError, match=r"^board must be one of 'icebreaker', 'ulx3s', "
                                         r"not 'de0'$"):
        BoardTop(preset("tiny"), "de0")


def test_ice40_builds_map_multipliers_to_dsp_blocks(tmp_path):
    # Amaranth's synth_ice40 script leaves -dsp out, and every product then becomes a LUT
    # multiplier: the iCE40 plan asks for SB_MAC16 blocks, the ECP5 one needs no option.
    from eligo.synth.boards import BOARDS
    from eligo.synth.flow import write_plan
    for board, line in (("icebreaker", "synth_ice40 -dsp -top eligo"),
                        ("ulx3s", "synth_ecp5  -top eligo")):
        b = BOARDS[board]
        write_plan(BoardTop(preset("tiny"), board), b.make_platform(), b.family,
                   tmp_path / board, "eligo")
        script = (tmp_path / board / "eligo.ys").read_text()
        assert line in script, script


def test_collision_free_memories_are_marked_in_the_design(tmp_path):
    # The plan's design marks every read port of the core's COLLISION_FREE memories (and
    # only those: the synaptic input memory is transparent, the link's FIFO unmarked) as
    # returning anything on a read/write collision; the simulations check the core never
    # relies on one (tb/core_harness.collision_monitor).
    import re
    from eligo.synth.boards import BOARDS
    from eligo.synth.flow import write_plan
    b = BOARDS["icebreaker"]
    top = BoardTop(preset("tiny"), "icebreaker")
    marked = write_plan(top, b.make_platform(), b.family, tmp_path, "eligo")
    text = (tmp_path / "eligo.il").read_text()
    ports = {}
    for cell in re.findall(r"cell \$memrd_v2 .*?\n +end", text, re.S):
        memid = re.search(r'MEMID "\\\\(\S+)"', cell).group(1)
        mask = re.search(r"COLLISION_X_MASK (\S+)", cell).group(1)
        ports.setdefault(memid, set()).add(mask)
    expected = {"w_mem", "w_out_mem", "b_mem", "ebar_mem", "eps_mem", "neuron_mem",
                "psi_mem", "pre_mem", "zout_mem", "acc_mem", "signal_mem", "q_mem",
                "cycles_mem"}
    assert {name for name, masks in ports.items() if masks == {"1'1"}} == expected
    assert ports["input_mem"] == {"1'0"} and "storage" in ports
    assert all(masks == {"1'0"} for name, masks in ports.items() if name not in expected)
    assert marked == 15  # psi and pre have two read ports each


def _report(**changes):
    report = {"preset": "tiny", "board": "ulx3s", "fits": True, "fmax_sync_mhz": 80.0,
              "clock_mhz": 75.0, "resources": {"lut": {"used": 1000, "available": 83640}},
              "times_s": {"yosys": 1, "nextpnr": 2, "total": 3}}
    report.update(changes)
    return report


def test_budget_check_flags_each_regression():
    budgets = {"tolerance": 0.05, "budgets": {"tiny/ulx3s": {
        "fits": True, "max": {"lut": 1000}, "min_fmax_mhz": 70}}}
    assert check_budget(_report(), budgets) == []
    assert check_budget(_report(resources={"lut": {"used": 1050, "available": 1}}),
                        budgets) == []  # within the tolerance
    assert check_budget(_report(resources={"lut": {"used": 1051, "available": 1}}),
                        budgets) == ["tiny/ulx3s: LUT 1051 exceeds the budget 1000 (+5%)"]
    assert check_budget(_report(fmax_sync_mhz=69.9), budgets) == [
        "tiny/ulx3s: Fmax 69.9 MHz below the budget 70 MHz"]
    assert check_budget(_report(fits=False), budgets) == [
        "tiny/ulx3s: the design no longer fits the device"]
    assert check_budget(_report(board="icebreaker"), budgets) == []  # no budget: no check
    assert "| tiny | ulx3s | 1 | yes | 1000/83640 |" in report_markdown([_report()])
    # another lane count has its own budget entry (none here: not checked)
    assert check_budget(_report(lanes=4, fits=False), budgets) == []


def test_a_stopped_place_and_route_is_an_error_not_a_misfit(tmp_path):
    # nextpnr killed from outside (a signal) once read as "the design does not fit"
    import sys

    from eligo.synth.flow import _check_stopped, _run
    suicide = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    rc, _ = _run([sys.executable, "-c", suicide], tmp_path, "tool.log", lambda line: None)
    assert rc == -15
    with pytest.raises(SynthError, match="nextpnr was stopped by signal 15 before it finished"):
        _check_stopped("nextpnr", rc, tmp_path / "tool.log")
    _check_stopped("nextpnr", 1, tmp_path / "tool.log")  # a real failure is read from its log
    _check_stopped("nextpnr", 0, tmp_path / "tool.log")


# Stand-ins for the tools (the flow takes a tool's path from YOSYS, NEXTPNR_ICE40, ...):
# nextpnr's Fmax and fit come from the seed, so that the choice among seeds is checked
# without minutes of real place and route.
_FAKE_YOSYS = """
from pathlib import Path
Path("eligo.rpt").write_text("Printing statistics\\n   100 SB_LUT4\\n   50 SB_DFF\\n")
"""
_FAKE_NEXTPNR = """
import json, sys
from pathlib import Path
a = sys.argv
arg = lambda flag: a[a.index(flag) + 1]
seed = int(arg("--seed"))
fmax = {1: 29.5, 2: 31.25, 3: 28.0, 4: None}[seed]
Path(arg("--log")).write_text(f"seed {seed}\\nInfo:      ICESTORM_LC:  5400/ 5280   102%\\n")
if fmax is None:  # this seed does not place: nextpnr's exit status 1
    sys.exit(1)
Path(arg("--asc")).write_text(f"asc of seed {seed}")
util = {"ICESTORM_LC": {"used": 5000 + seed, "available": 5280}}
Path(arg("--report")).write_text(json.dumps({"utilization": util,
                                             "fmax": {"clk": {"achieved": fmax}}}))
"""
_FAKE_ICEPACK = """
import sys
from pathlib import Path
Path(sys.argv[2]).write_text(Path(sys.argv[1]).read_text())
"""


def _fake_tools(tmp_path, monkeypatch):
    import sys
    for tool, body in (("YOSYS", _FAKE_YOSYS), ("NEXTPNR_ICE40", _FAKE_NEXTPNR),
                       ("ICEPACK", _FAKE_ICEPACK)):
        script = tmp_path / f"fake_{tool.lower()}"
        script.write_text(f"#!{sys.executable}\n{body}")
        script.chmod(0o755)
        monkeypatch.setenv(tool, str(script))


def test_several_seeds_keep_the_fastest_placement(tmp_path, monkeypatch):
    _fake_tools(tmp_path, monkeypatch)
    build, lines = tmp_path / "build", []
    report = synthesize(preset("tiny"), "tiny", "icebreaker", build, seed=[1, 4, 2, 3],
                        out=lines.append)
    assert report["seed"] == 2 and report["fits"]
    assert report["fmax_sync_mhz"] == 31.25
    assert report["seeds_fmax_mhz"] == {"1": 29.5, "4": None, "2": 31.25, "3": 28.0}
    assert report["resources"]["lut"]["used"] == 5002  # the kept seed's utilisation
    # the kept seed's files under the usual names, every seed's beside them
    assert (build / "eligo.bin").read_text() == "asc of seed 2"
    assert (build / "nextpnr.log").read_text().startswith("seed 2")
    for seed in (1, 2, 3, 4):
        assert (build / f"nextpnr.seed{seed}.log").read_text().startswith(f"seed {seed}")
    assert any("seeds: 1: 29.50 MHz, 4: does not fit, 2: 31.25 MHz, 3: 28.00 MHz; kept 2"
               in line for line in lines), lines
    assert "| 2 (best of 4) | 30 |" in (build / "report.md").read_text()
    assert [line.count("--seed") for line in lines if "fake_nextpnr" in line] == [1] * 4
    # one seed: the usual names only, as before
    report = synthesize(preset("tiny"), "tiny", "icebreaker", tmp_path / "one", seed=3,
                        out=lambda line: None)
    assert report["seed"] == 3 and report["seeds_fmax_mhz"] == {"3": 28.0}
    assert (tmp_path / "one" / "nextpnr.log").exists()
    assert not list((tmp_path / "one").glob("*.seed*"))
    # no seed places: the first seed's utilisation, not fitting
    report = synthesize(preset("tiny"), "tiny", "icebreaker", tmp_path / "none", seed=[4],
                        out=lambda line: None)
    assert not report["fits"] and report["resources"]["lut"]["used"] == 5400


def test_the_router_is_the_budgets_unless_chosen(tmp_path, monkeypatch):
    budgets = {"budgets": {"reckon/ulx3s/lanes8": {"router": "router2"},
                           "tiny/ulx3s": {"max": {}}}}
    assert default_router("reckon/ulx3s/lanes8", budgets) == "router2"
    assert default_router("tiny/ulx3s", budgets) == "router1"  # named by none: nextpnr's
    assert default_router("reckon/ulx3s", budgets) == "router1"  # no entry
    with pytest.raises(SynthError, match="budget b/c: router must be one of router1, "
                                         "router2, not 'router3'"):
        default_router("b/c", {"budgets": {"b/c": {"router": "router3"}}})
    _fake_tools(tmp_path, monkeypatch)
    for router in (None, "router2"):
        lines = []
        report = synthesize(preset("tiny"), "tiny", "icebreaker", tmp_path / str(router),
                            router=router, out=lines.append)
        used = router or "router1"  # (tiny/icebreaker's budget names none)
        assert report["router"] == used
        assert [line for line in lines if "fake_nextpnr" in line and f"--router {used} " in line]
    with pytest.raises(SynthError, match="router must be one of router1, router2, not 'fast'"):
        synthesize(preset("tiny"), "tiny", "icebreaker", tmp_path / "bad", router="fast")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("seed, message", [
    ([], "no placement seed given"), ([1, 2, 1], "placement seeds repeat: 1, 2, 1"),
    ([1, "2"], "placement seeds are integers, not '2'"), (True, "integers, not True")])
def test_bad_seeds_are_refused_before_any_build(tmp_path, seed, message):
    with pytest.raises(ValueError, match=message):
        synthesize(preset("tiny"), "tiny", "icebreaker", tmp_path, seed=seed)
    assert not tmp_path.joinpath("eligo.il").exists()


def test_checked_in_budgets_are_well_formed():
    budgets = load_budgets()
    assert 0 <= budgets["tolerance"] < 1
    for key, budget in budgets["budgets"].items():
        p, board, *lanes = key.split("/")
        assert lanes in ([], ["lanes2"], ["lanes4"], ["lanes8"]), key
        preset(p)
        BoardTop(preset("tiny"), board)
        assert set(budget) <= {"fits", "max", "min_fmax_mhz", "measured", "router"}
        assert default_router(key, budgets) in ROUTERS


# In the default run since the core's state moved into memories: yosys about 40 s and
# nextpnr about 130 s on the shared 2-core machine (they were 12 and over 10 minutes).
def test_real_bitstream_tiny_ulx3s_within_budget(tmp_path):
    lines = []
    report = synthesize(preset("tiny"), "tiny", "ulx3s", tmp_path, out=lines.append)
    assert report["fits"], report["resources"]
    assert (tmp_path / "eligo.bit").stat().st_size > 100_000
    assert (tmp_path / "report.json").exists() and (tmp_path / "report.md").exists()
    assert report["resources"]["lut"]["used"] > 0 and report["fmax_sync_mhz"] > 0
    assert report["seed"] == 1
    assert check_budget(report) == []


# yosys about 30 s and nextpnr 70-150 s on the shared 2-core machine. The ice40 preset fills
# 96 % of the UP5K: a change that no longer fits fails here.
def test_real_bitstream_ice40_icebreaker_fits_within_budget(tmp_path):
    report = synthesize(preset("ice40"), "ice40", "icebreaker", tmp_path, out=lambda line: None)
    assert report["fits"], report["resources"]
    assert (tmp_path / "eligo.bin").stat().st_size > 50_000
    assert report["resources"]["dsp"]["used"] <= report["resources"]["dsp"]["available"]
    assert check_budget(report) == []
