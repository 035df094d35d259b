"""``eligo sim``: the RTL core and the golden model side by side on random stimulus.

Every state variable is compared after every step; the first mismatch is reported precisely
(step, variable, index, both values). Also reported: cycles per step by phase against the
ideal for the activity (one cycle per item of work at one lane). The RTL runs in the
Amaranth simulator (a Verilator backend comes with the cocotb benches).
"""

import time

import numpy as np

__all__ = ["run_sim"]


def run_sim(cfg, steps, seed=1, input_rate=0.3, target_every=2, weight_scale=1.0, out=print):
    """Run ``steps`` steps; returns the lockstep result dict (see
    ``eligo.tb.core_harness.run_lockstep``) with ``seconds`` added."""
    from eligo.model.golden import GoldenModel, random_weights
    from eligo.rtl.core import PHASES
    from eligo.tb.core_harness import run_lockstep

    rng = np.random.default_rng(seed)
    weights = random_weights(cfg, seed, scale=weight_scale)
    golden = GoldenModel(cfg)
    golden.load_weights(*weights)
    limit = (1 << (cfg.y_bits - 1)) - 1
    stimulus = []
    for t in range(steps):
        x = (rng.random(cfg.n_in) < input_rate).astype(np.int64)
        mask = np.full(cfg.n_out, target_every > 0 and t % target_every == target_every - 1)
        ystar = rng.integers(-limit // 4, limit // 4 + 1, cfg.n_out)
        stimulus.append((x, ystar, mask, cfg.learn))
    out(f"eligo sim: RTL core (Amaranth simulator) beside the golden model, n_in={cfg.n_in}, "
        f"n_rec={cfg.n_rec} ({cfg.n_alif} ALIF), n_out={cfg.n_out}, {steps} steps, input "
        f"rate {input_rate}, targets every {target_every} steps, learning "
        f"{'on' if cfg.learn else 'off'}, seed {seed}")
    start = time.perf_counter()
    tick = max(steps // 10, 1)
    result = run_lockstep(
        cfg, weights, stimulus, golden,
        progress=lambda n: (n % tick == 0 or n == steps)
        and out(f"  {n}/{steps} steps, {time.perf_counter() - start:.1f} s"))
    result["seconds"] = time.perf_counter() - start
    done = max(result["steps"], 1)
    if result["mismatch"] is None:
        out(f"{result['steps']} steps, 0 mismatches ({result['seconds']:.1f} s)")
    else:
        t, var, index, core_value, golden_value = result["mismatch"]
        out(f"MISMATCH at step {t}: {var}{'' if index is None else list(index)}: "
            f"core {core_value}, golden {golden_value}")
    cycles = dict(result["cycles"])
    cycles["write"] = cycles.pop("write_rec") + cycles.pop("write_out")
    order = [p for p in PHASES if p not in ("write_rec", "write_out")]
    order.insert(order.index("output"), "write")
    out(f"{'phase':10s} {'cycles/step':>12s} {'ideal/step':>11s} {'ratio':>6s}")
    for phase in order:
        have, ideal = cycles[phase] / done, result["ideal"].get(phase, 0) / done
        ratio = f"{have / ideal:6.2f}" if ideal else "     -"
        out(f"{phase:10s} {have:12.1f} {ideal:11.1f} {ratio}")
    total, ideal_total = sum(cycles.values()) / done, sum(result["ideal"].values()) / done
    out(f"{'total':10s} {total:12.1f} {ideal_total:11.1f} {total / max(ideal_total, 1):6.2f}")
    return result
