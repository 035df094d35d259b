"""``eligo sim``: the RTL core and the golden model side by side on random stimulus.

Every state variable is compared after every step; the first mismatch is reported precisely
(step, variable, index, both values). Also reported: cycles per step by phase against the
ideal for the activity (one cycle per item of work at one lane). :func:`run_sim` runs the
core alone in the Amaranth simulator; :func:`run_cosim` runs the core with its AXI ports
under cocotb (Verilator or Icarus, ``eligo.cosim``).
"""

import random
import time

import numpy as np

__all__ = ["run_sim", "run_cosim", "random_stimulus", "phase_table", "merge_write_phases"]


def random_stimulus(cfg, steps, rng, input_rate=None, target_every=None):
    """``steps`` steps ``(x, ystar, mask, learn)`` drawn from ``rng`` (a ``random.Random``):
    each input spikes with probability ``input_rate`` (default 0.4). With ``target_every``
    (as ``eligo sim``): every readout has a target on every k-th step (0: never) and every
    step learns as ``cfg.learn`` says; without it, a random half of the readouts has a target
    at each step and 90 % of the steps learn."""
    plan = []
    y_max = 1 << (cfg.y_bits - 1)
    rate = 0.4 if input_rate is None else input_rate
    for t in range(steps):
        x = np.array([rng.random() < rate for _ in range(cfg.n_in)], np.int64)
        if target_every is None:
            mask = np.array([rng.random() < 0.5 for _ in range(cfg.n_out)], np.int64)
            learn = None
        else:
            on = target_every > 0 and t % target_every == target_every - 1
            mask = np.full(cfg.n_out, int(on), np.int64)
            learn = cfg.learn
        ystar = np.array([rng.randrange(-y_max // 4, y_max // 4) for _ in range(cfg.n_out)],
                         np.int64) * mask
        plan.append((x, ystar, mask, rng.random() < 0.9 if learn is None else learn))
    return plan


def run_sim(cfg, steps, seed=1, input_rate=0.3, target_every=2, weight_scale=1.0, lanes=1,
            out=print):
    """Run ``steps`` steps; returns the lockstep result dict (see
    ``eligo.tb.core_harness.run_lockstep``) with ``seconds`` added."""
    from eligo.model.golden import GoldenModel, random_weights
    from eligo.tb.core_harness import run_lockstep

    weights = random_weights(cfg, seed, scale=weight_scale)
    golden = GoldenModel(cfg)
    golden.load_weights(*weights)
    stimulus = random_stimulus(cfg, steps, random.Random(seed), input_rate, target_every)
    out(f"eligo sim: RTL core (Amaranth simulator) beside the golden model, n_in={cfg.n_in}, "
        f"n_rec={cfg.n_rec} ({cfg.n_alif} ALIF), n_out={cfg.n_out}, {steps} steps, input "
        f"rate {input_rate}, targets every {target_every} steps, learning "
        f"{'on' if cfg.learn else 'off'}, seed {seed}, {lanes} lane{'s' * (lanes > 1)}")
    start = time.perf_counter()
    tick = max(steps // 10, 1)
    result = run_lockstep(
        cfg, weights, stimulus, golden,
        progress=lambda n: (n % tick == 0 or n == steps)
        and out(f"  {n}/{steps} steps, {time.perf_counter() - start:.1f} s"), lanes=lanes)
    result["seconds"] = time.perf_counter() - start
    done = max(result["steps"], 1)
    if result["mismatch"] is None:
        out(f"{result['steps']} steps, 0 mismatches ({result['seconds']:.1f} s)")
    else:
        t, var, index, core_value, golden_value = result["mismatch"]
        out(f"MISMATCH at step {t}: {var}{'' if index is None else list(index)}: "
            f"core {core_value}, golden {golden_value}")
    phase_table(result["cycles"], result["ideal"], done, out)
    return result


def merge_write_phases(cycles):
    """The core's cycles per phase with ``write_rec`` and ``write_out`` summed as ``write``,
    the phase ``ideal_cycles`` counts (a new dict)."""
    cycles = dict(cycles)
    cycles["write"] = cycles.pop("write_rec") + cycles.pop("write_out")
    return cycles


def phase_table(cycles, ideal, steps, out=print):
    """Print cycles per step of each phase (the core's ``cycles_*``, summed over ``steps``)
    against ``ideal`` (``ideal_cycles`` summed; its ``write`` is both write phases)."""
    from eligo.rtl.core import PHASES
    cycles = merge_write_phases(cycles)
    order = [p for p in PHASES if p not in ("write_rec", "write_out")]
    order.insert(order.index("output"), "write")
    out(f"{'phase':10s} {'cycles/step':>12s} {'ideal/step':>11s} {'ratio':>6s}")
    for phase in order:
        have, want = cycles[phase] / steps, ideal.get(phase, 0) / steps
        ratio = f"{have / want:6.2f}" if want else "     -"
        out(f"{phase:10s} {have:12.1f} {want:11.1f} {ratio}")
    total, ideal_total = sum(cycles.values()) / steps, sum(ideal.values()) / steps
    out(f"{'total':10s} {total:12.1f} {ideal_total:11.1f} {total / max(ideal_total, 1):6.2f}")


def run_cosim(cfg, steps, simulator="verilator", seed=1, task=None, task_params=None,
              samples=None, check_every=0, weight_scale=1.0, waves=False, phases=False,
              lanes=1, input_rate=None, target_every=None, out=print):
    """The cocotb long-run bench (tb/cocotb_core.py ``long_run``) on the Verilog of the core
    with its AXI ports: the golden model steps beside it, the streamed outputs of every step
    are compared, the whole state every ``check_every`` steps (0: at the end only). Stimulus:
    random (``input_rate`` and ``target_every`` as :func:`run_sim`; left None, spikes at
    0.4, targets on a random half of the readouts, learning on 90 % of the steps), or the
    training samples of ``task`` one after another (``samples`` of them, repeated; default:
    as many as ``steps`` needs). ``phases``: read the core's cycles per phase after every step
    and print them against the ideal (costs bus reads, so wall time and cycles rise). Returns
    the bench's result dict (``steps``, ``mismatch``, ``wall_s``, ``cycles``, ``cycles_per_s``,
    ``counters``, ``ideal``, ``check_s``: the wall seconds of the whole-state checks, with
    ``phases`` ``phase_cycles``) plus ``passed`` and ``build_s``."""
    from eligo.cosim import CosimError, build, run_bench
    if task is not None:
        from eligo.model.tasks import make_task
        try:
            make_task(task, 1, 0, seed, **(task_params or {})).check_network(cfg)
        except ValueError as exc:
            raise CosimError(str(exc)) from None
    out(f"eligo sim: building the core ({lanes} lane{'s' * (lanes > 1)}) for {simulator} "
        f"(cached per configuration) ...")
    start = time.perf_counter()
    directory, _ = build(cfg, simulator, waves, lanes=lanes)
    build_s = time.perf_counter() - start
    out(f"  build ready in {build_s:.1f} s ({directory})")
    params = {"seed": seed, "steps": steps, "check_every": check_every, "scale": weight_scale,
              "task": task, "task_params": task_params or {}, "samples": samples,
              "phases": phases, "input_rate": input_rate, "target_every": target_every}
    passed, result = run_bench(cfg, "long_run", params, simulator=simulator, waves=waves,
                               quiet=False, lanes=lanes)
    result = dict(result or {"steps": 0, "mismatch": "the bench wrote no result"})
    result.update(passed=passed, build_s=build_s)
    if result.get("mismatch") is None and not passed:
        result["mismatch"] = "the bench failed (see its log above)"
    done = max(result["steps"], 1)
    out(f"{result['steps']} steps on {simulator}, "
        f"{'0 mismatches' if result['mismatch'] is None else 'MISMATCH: ' + result['mismatch']}")
    if result.get("wall_s"):
        out(f"  wall {result['wall_s']:.1f} s ({result['wall_s'] / done * 1e3:.2f} ms/step), "
            f"{result['cycles']} cycles ({result['cycles'] / done:.0f} per step, including "
            f"event and output transfers), {result['cycles_per_s']:.0f} simulated cycles/s; "
            f"{result['check_s']:.1f} s of the wall reading the whole state back")
    if result.get("phase_cycles") and result["steps"]:
        phase_table(result["phase_cycles"], result["ideal"], result["steps"], out)
    if waves:
        fst = sorted(directory.glob("*.fst"))
        out(f"  waveform: {fst[-1] if fst else 'none written'}")
    return result
