"""``eligo synth``: build a board top (``eligo.synth.boards``) into a bitstream with the YoWASP
tools (yosys, nextpnr, icepack/ecppack from PyPI), report the resources and Fmax, and check
them against the budget of the (preset, board) pair in ``synth/budgets.json``.

The build runs in ``build_dir``: Amaranth writes the design and constraint files (the plan of
``platform.build``), then this module runs yosys, nextpnr (``--report report.json``,
``--timing-allow-fail``: Fmax is reported, not required; ``--router``: by default the router
that the pair's budget names, nextpnr's router1 where it names none) and the packer, timing
each.
A design that does not fit stops at nextpnr; its report then carries nextpnr's utilisation
and ``fits: false``.

With several placement seeds, nextpnr places and routes the one netlist once per seed (as
many at a time as the machine has cores), and the build keeps the seed with the highest
Fmax: its files take the usual names (``eligo.asc`` / ``eligo.config``, ``nextpnr.json``,
``nextpnr.log``), every seed's stay beside them with the seed in their names, and the report
lists each seed's Fmax. At a full device the seed alone moves Fmax by several per cent.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["synthesize", "write_plan", "check_budget", "load_budgets", "report_markdown",
           "check_seeds", "check_router", "budget_key", "default_router", "BUDGETS_PATH",
           "ROUTERS", "SynthError"]

BUDGETS_PATH = Path(__file__).with_name("budgets.json")
ROUTERS = ("router1", "router2")  # nextpnr's routers

# nextpnr's bel types, by family: what goes in which report column
RESOURCE_KEYS = {
    "ice40": {"lut": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
              "dsp": "ICESTORM_DSP", "io": "SB_IO", "pll": "ICESTORM_PLL"},
    "ecp5": {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "bram": "DP16KD", "dsp": "MULT18X18D",
             "io": "TRELLIS_IO", "pll": "EHXPLLL"},
}
FF_CELLS = re.compile(r"^(SB_DFF\w*|TRELLIS_FF)$")


class SynthError(Exception):
    """A tool failed (not for a design that does not fit: that is a report)."""


def _tool(name):
    """The YoWASP build of ``name`` (``YOSYS``, ``NEXTPNR_ICE40``... override it)."""
    env = name.upper().replace("-", "_")
    if os.environ.get(env):
        return os.environ[env]
    here = Path(sys.executable).parent / f"yowasp-{name}"
    return str(here) if here.exists() else (shutil.which(f"yowasp-{name}") or f"yowasp-{name}")


def _command_line(cmd):
    return f"   $ {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))}"


def _run(cmd, cwd, log, out):
    out(_command_line(cmd))
    start = time.perf_counter()
    with open(cwd / log, "w") as f:
        proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    return proc.returncode, time.perf_counter() - start


def _run_many(jobs, cwd, out):
    """:func:`_run` of each ``(cmd, log)`` of ``jobs``, as many at a time as there are cores:
    ``[(rc, seconds)]`` in their order."""
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    if len(jobs) > 1:
        out(f"   {len(jobs)} runs, {workers} at a time:")
    for cmd, _ in jobs:  # (the commands printed here: lines from threads would interleave)
        out(_command_line(cmd))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda job: _run(job[0], cwd, job[1], lambda line: None),
                             jobs))


def _slowest(fmax):
    """The lowest of ``{clock: Fmax}`` (the design's Fmax), None without a clock."""
    return min(fmax.values()) if fmax else None


def check_seeds(seed):
    """``seed`` (an int or a sequence of them) as a tuple of distinct seeds; ValueError
    naming what is wrong otherwise."""
    seeds = tuple(seed) if isinstance(seed, (list, tuple)) else (seed,)
    if not seeds:
        raise ValueError("no placement seed given")
    bad = [s for s in seeds if not isinstance(s, int) or isinstance(s, bool)]
    if bad:
        raise ValueError(f"placement seeds are integers, not {bad[0]!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"placement seeds repeat: {', '.join(map(str, seeds))}")
    return seeds


def _yosys_cells(rpt):
    """Cell counts of the last ``stat`` in a yosys log."""
    text = rpt.read_text(errors="replace")
    last = text.rfind("Printing statistics")
    cells = {}
    for line in text[last:].splitlines():
        match = re.match(r"^\s+(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$", line)
        if match:
            cells[match.group(2)] = int(match.group(1))
    return cells


def _check_stopped(tool, rc, log):
    """A tool killed by a signal (``rc < 0``) says nothing about the design: raise, instead of
    reading its exit as "does not fit"."""
    if rc < 0:
        raise SynthError(f"{tool} was stopped by signal {-rc} before it finished; see {log}")


def _nextpnr_log_utilisation(log):
    """``{bel: (used, available)}`` from nextpnr's 'Device utilisation' lines."""
    util = {}
    for match in re.finditer(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%",
                             log.read_text(errors="replace")):
        util[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return util


def mark_collision_free(rtlil):
    """``rtlil`` (RTLIL text) with the read ports of every memory that carries the
    ``no_rw_check`` attribute (``eligo.rtl.core.COLLISION_FREE``) marked as returning
    anything when they read the word being written (``COLLISION_X_MASK`` all ones), and
    the number of ports marked. Amaranth emits such ports as returning the old word, which
    yosys emulates on block RAMs with a delayed write port and a bypass; yosys honours the
    attribute only on ports it builds itself. Returns ``(text, count)``."""
    lines = rtlil.split("\n")
    marked, module, attrs = set(), None, []
    for line in lines:  # which memories of which module carry the attribute
        words = line.split()
        if words[:1] == ["module"]:
            module = words[1]
        if words[:1] == ["attribute"]:
            attrs.append(words[1])
            continue
        if words[:1] == ["memory"] and "\\no_rw_check" in attrs:
            marked.add((module, words[-1]))
        attrs = []
    out, count, module, cell_memid = [], 0, None, None
    for line in lines:
        words = line.split()
        if words[:1] == ["module"]:
            module = words[1]
        elif words[:2] == ["cell", "$memrd_v2"]:
            cell_memid = ""
        elif cell_memid is not None and words[:2] == ["parameter", "\\MEMID"]:
            cell_memid = words[2].strip('"').replace("\\\\", "\\")
        elif cell_memid is not None and words[:2] == ["parameter", "\\COLLISION_X_MASK"]:
            if (module, cell_memid) in marked:
                width = int(words[2].split("'")[0])
                line = line.replace(words[2], f"{width}'" + "1" * width)
                count += 1
        elif cell_memid is not None and words[:1] == ["end"]:
            cell_memid = None
        out.append(line)
    return "\n".join(out), count


def write_plan(top, platform, family, build_dir, name):
    """Elaborate ``top`` and write Amaranth's build plan (design, constraints, the yosys
    script ``<name>.ys``) into ``build_dir``, without running any tool; the design's
    collision-free memories marked (:func:`mark_collision_free`). Returns the number of
    read ports marked."""
    # synth_ice40 maps multipliers to LUTs unless told -dsp (synth_ecp5 uses its DSPs).
    overrides = {"synth_opts": "-dsp"} if family == "ice40" else {}
    plan = platform.build(top, name=name, build_dir=str(build_dir), do_build=False,
                          **overrides)
    plan.extract(str(build_dir))
    design = Path(build_dir) / f"{name}.il"
    text, count = mark_collision_free(design.read_text())
    design.write_text(text)
    return count


def synthesize(cfg, preset, board, build_dir, *, clock_hz=None, seed=1, lanes=1, router=None,
               out=print):
    """Build ``cfg`` (named ``preset`` in the report) with ``lanes`` lanes for ``board``;
    return the report (a dict, also written to ``build_dir/report.json`` and
    ``report.md``). ``seed``: nextpnr's placement seed, or several (the fastest is kept, see
    the module docstring). ``router``: one of :data:`ROUTERS`, or None for
    :func:`default_router`."""
    from eligo.synth.boards import BOARDS, BoardTop
    seeds = check_seeds(seed)
    router = (default_router(budget_key(preset, board, lanes)) if router is None
              else check_router(router))
    top = BoardTop(cfg, board, clock_hz, lanes=lanes)
    b = BOARDS[board]
    platform = b.make_platform()
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    name = "eligo"
    start = time.perf_counter()
    out(f"   elaborating {preset} ({lanes} lane{'s' * (lanes > 1)}) for {b.title} at "
        f"{top.clock_hz / 1e6:.2f} MHz "
        f"(UART {top.baud} baud, {top.clocks_per_bit} clocks per bit)")
    marked = write_plan(top, platform, b.family, build_dir, name)
    out(f"   {marked} block RAM read ports marked collision-free (no read-first emulation)")
    times = {"elaborate": time.perf_counter() - start}

    rc, times["yosys"] = _run([_tool("yosys"), "-q", "-l", f"{name}.rpt", f"{name}.ys"],
                              build_dir, "yosys.log", out)
    if rc:
        raise SynthError(f"yosys failed (exit {rc}); see {build_dir / 'yosys.log'}")
    cells = _yosys_cells(build_dir / f"{name}.rpt")

    if b.family == "ice40":
        dev = platform._nextpnr_device_options[platform.device]
        pnr = [_tool("nextpnr-ice40"), dev, "--package", platform.package.lower(),
               "--json", f"{name}.json", "--pcf", f"{name}.pcf"]
        placed, pnr_out = f"{name}.asc", "--asc"
        pack = [_tool("icepack"), f"{name}.asc", f"{name}.bin"]
        bitstream = f"{name}.bin"
    else:
        dev = platform._nextpnr_device_options[platform.device]
        pkg = platform._nextpnr_package_options[platform.package].upper()
        pnr = [_tool("nextpnr-ecp5"), dev, "--package", pkg, "--speed", platform.speed,
               "--json", f"{name}.json", "--lpf", f"{name}.lpf"]
        placed, pnr_out = f"{name}.config", "--textcfg"
        pack = [_tool("ecppack"), "--input", f"{name}.config", "--bit", f"{name}.bit"]
        bitstream = f"{name}.bit"

    # One place and route per seed; with one seed its files take the usual names.
    def named(file, seed):
        stem, dot, ext = file.rpartition(".")
        return file if len(seeds) == 1 else f"{stem}.seed{seed}{dot}{ext}"
    outputs = (placed, "nextpnr.json", "nextpnr.log", "nextpnr.out")
    jobs = []
    for seed in seeds:
        placed_s, report_s, log_s, out_s = (named(f, seed) for f in outputs)
        for f in {*outputs, placed_s, report_s, log_s, out_s}:  # (no stale file is read)
            (build_dir / f).unlink(missing_ok=True)
        jobs.append((pnr + [pnr_out, placed_s, "--report", report_s, "--timing-allow-fail",
                            "--router", router, "--seed", str(seed), "--log", log_s], out_s))
    start_pnr = time.perf_counter()
    results = _run_many(jobs, build_dir, out)
    times["nextpnr"] = time.perf_counter() - start_pnr
    per_seed = {}  # seed: (fits, util, fmax)
    for seed, (rc, _) in zip(seeds, results):
        log = build_dir / named("nextpnr.log", seed)
        _check_stopped("nextpnr", rc, log)
        if rc == 0:
            report = json.loads((build_dir / named("nextpnr.json", seed)).read_text())
            util = {bel: (v["used"], v["available"])
                    for bel, v in report["utilization"].items()}
            fmax = {clk: round(v["achieved"], 2) for clk, v in report.get("fmax", {}).items()}
            per_seed[seed] = (True, util, fmax)
        else:
            util = _nextpnr_log_utilisation(log)
            if not util:
                raise SynthError(f"nextpnr failed (exit {rc}); see {log}")
            per_seed[seed] = (False, util, {})

    def speed(seed):  # placed seeds first, then the slowest clock's Fmax
        fits, _, fmax = per_seed[seed]
        return (fits, _slowest(fmax) or 0.0)
    seed = max(seeds, key=speed)  # (the first of equals)
    fits, util, fmax = per_seed[seed]
    if len(seeds) > 1:
        for f in outputs:
            if (build_dir / named(f, seed)).exists():
                shutil.copyfile(build_dir / named(f, seed), build_dir / f)
        out("   seeds: " + ", ".join(
            f"{s}: " + (f"{_slowest(per_seed[s][2]):.2f} MHz" if per_seed[s][2]
                        else "placed, no clock" if per_seed[s][0] else "does not fit")
            for s in seeds) + f"; kept {seed}")
    if fits:
        rc, times["pack"] = _run(pack, build_dir, "pack.log", out)
        if rc:
            raise SynthError(f"the packer failed (exit {rc}); see {build_dir / 'pack.log'}")
    times["total"] = time.perf_counter() - start

    keys = RESOURCE_KEYS[b.family]
    resources = {}
    for col, bel in keys.items():
        if bel in util:
            resources[col] = {"used": util[bel][0], "available": util[bel][1]}
    ff = sum(n for cell, n in cells.items() if FF_CELLS.match(cell))
    if "ff" not in resources:
        resources["ff"] = {"used": ff, "available": resources.get("lut", {}).get("available")}
    report = {
        "preset": preset, "board": board, "lanes": lanes,
        "device": f"{platform.device}-{platform.package}",
        "family": b.family, "fits": fits, "seed": seed, "router": router,
        "seeds_fmax_mhz": {str(s): _slowest(f) for s, (_, _, f) in per_seed.items()},
        "clock_mhz": round(top.clock_hz / 1e6, 3),
        "fmax_mhz": fmax,
        "fmax_sync_mhz": _slowest(fmax),
        "resources": resources,
        "yosys_cells": {k: v for k, v in cells.items() if not k.startswith("$")},
        "times_s": {k: round(v, 1) for k, v in times.items()},
        "bitstream": str(build_dir / bitstream) if fits else None,
        "config": {"n_in": cfg.n_in, "n_rec": cfg.n_rec, "n_out": cfg.n_out,
                   "n_alif": cfg.n_alif, "trace_mode": cfg.trace_mode},
    }
    (build_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (build_dir / "report.md").write_text(report_markdown([report]))
    return report


def report_markdown(reports):
    """One table row per report."""
    cols = ["lut", "ff", "bram", "spram", "dsp"]
    lines = ["| preset | board | lanes | fits | " + " | ".join(c.upper() for c in cols)
             + " | Fmax (MHz) | seed | clock (MHz) | yosys (s) | nextpnr (s) | total (s) |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in cols)
             + " | --- | --- | --- | --- | --- | --- |"]
    for r in reports:
        cells = []
        for c in cols:
            v = r["resources"].get(c)
            cells.append("-" if v is None else
                         f"{v['used']}/{v['available']}" if v["available"] else f"{v['used']}")
        fmax = "-" if r["fmax_sync_mhz"] is None else f"{r['fmax_sync_mhz']:.1f}"
        tried = len(r.get("seeds_fmax_mhz", ())) or 1
        seed = f"{r.get('seed', 1)}" + (f" (best of {tried})" if tried > 1 else "")
        t = r["times_s"]
        lines.append(f"| {r['preset']} | {r['board']} | {r.get('lanes', 1)} | "
                     f"{'yes' if r['fits'] else 'NO'} | "
                     + " | ".join(cells) + f" | {fmax} | {seed} | {r['clock_mhz']:g} | "
                     f"{t.get('yosys', 0):.0f} | {t.get('nextpnr', 0):.0f} | "
                     f"{t.get('total', 0):.0f} |")
    return "\n".join(lines) + "\n"


def load_budgets(path=BUDGETS_PATH):
    return json.loads(Path(path).read_text())


def budget_key(preset, board, lanes=1):
    """The key of a build's entry in ``synth/budgets.json``."""
    return f"{preset}/{board}" + (f"/lanes{lanes}" if lanes != 1 else "")


def check_router(router, what="router"):
    """``router`` if it is one of :data:`ROUTERS`; else a SynthError naming ``what``."""
    if router not in ROUTERS:
        raise SynthError(f"{what} must be one of {', '.join(ROUTERS)}, not {router!r}")
    return router


def default_router(key, budgets=None):
    """The nextpnr router that budget ``key`` was measured with (its ``"router"``), so
    that a plain build repeats the measurement; ``"router1"``, nextpnr's default, where the
    entry names none or there is no entry."""
    budgets = load_budgets() if budgets is None else budgets
    router = budgets.get("budgets", {}).get(key, {}).get("router", "router1")
    return check_router(router, f"budget {key}: router")


def check_budget(report, budgets=None):
    """Problems (strings) of ``report`` against its budget: resources above
    ``max * (1 + tolerance)``, Fmax below ``min_fmax_mhz``, or a design that no longer fits.
    An empty list when there is no budget for the pair or all is within it."""
    budgets = load_budgets() if budgets is None else budgets
    key = budget_key(report["preset"], report["board"], report.get("lanes", 1))
    budget = budgets.get("budgets", {}).get(key)
    if budget is None:
        return []
    tol = budgets.get("tolerance", 0.05)
    problems = []
    if budget.get("fits", True) and not report["fits"]:
        problems.append(f"{key}: the design no longer fits the device")
    for col, limit in budget.get("max", {}).items():
        used = report["resources"].get(col, {}).get("used")
        if used is not None and used > limit * (1 + tol):
            problems.append(f"{key}: {col.upper()} {used} exceeds the budget {limit} "
                            f"(+{tol:.0%})")
    if "min_fmax_mhz" in budget and report["fits"]:
        fmax = report["fmax_sync_mhz"]
        if fmax is None or fmax < budget["min_fmax_mhz"]:
            problems.append(f"{key}: Fmax {fmax} MHz below the budget "
                            f"{budget['min_fmax_mhz']} MHz")
    return problems
