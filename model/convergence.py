"""How far the golden model's trajectories are from the float reference's, by bit width.

The network (4 inputs, 8 neurons of which 4 ALIF, 2 readouts) runs with the same integer
weights (4 fraction bits, so they are exact in both tiers) on the same random inputs, with
learning on and no targets (so traces and eligibility run, and no weight is written). Its
real parameters are multiples of 2**-6, so every width represents them exactly and the
distance measures the datapath's rounding alone. Widening adds ``k`` fraction bits to every
format (and to the decay factors) and keeps enough integer bits that nothing saturates.

``python -m eligo.model.convergence`` prints the table in docs/convergence.md.
"""

import sys

import numpy as np

from eligo.config import Config

from . import bridge
from .golden import GoldenModel

__all__ = ["REAL", "VARIABLES", "RTL_BOUND", "widened_config", "stimulus",
           "reference_trajectories", "network_distances", "distance", "distances", "default_width_distances"]

REAL = dict(alpha=58 / 64, rho=62 / 64, kappa=51 / 64, theta=1.0, beta=0.25, gamma=0.5)
VARIABLES = {"v": "v_frac", "ebar": "e_frac", "y": "y_frac"}
REFERENCE_BITS = 11
# The bound the cocotb bench ``reference_bound`` checks the RTL against (docs/convergence.md):
# at k extra bits, on the first ``networks`` networks of ``stimulus(seed=0)``, the median
# over networks of each network's mean |RTL - reference| (real units) per variable. Medians,
# as a few networks whose spike times flip carry most of the mean; the bounds are twice the
# largest median seen over 32 groups of 16 networks for each of two seeds of the golden
# model (v 0.0039, ebar 0.0169, y 0.0022).
RTL_BOUND = {"k": 4, "networks": 16, "steps": 60,
             "median": {"v": 0.008, "ebar": 0.035, "y": 0.005}}


def widened_config(k, rounding="zero"):
    """The base formats plus ``k`` fraction bits everywhere, with the parameters of REAL."""
    base = Config(n_in=4, n_rec=8, n_alif=4, n_out=2, w_bits=8, w_frac=4,
                  v_bits=13 + k, v_frac=6 + k, a_bits=10 + k, a_frac=4 + k,
                  trace_bits=10 + k, trace_frac=4 + k, psi_bits=min(4 + k, 16),
                  e_bits=12 + k, e_frac=4 + k, eps_bits=14 + k, y_bits=13 + k, y_frac=6 + k,
                  err_bits=13 + k, acc_bits=13 + k, acc_frac=6 + k, decay_bits=6 + k,
                  rounding=rounding, alpha=1, rho=1, kappa=1, theta=1, beta=0, gamma=0,
                  trigger=64, trigger_out=64)
    return bridge.with_real_params(base, **REAL)


def stimulus(cfg, batch, steps, seed):
    """``((w_in, w_rec, w_out), x)``: ``batch`` networks' random integer weights and
    ``steps`` steps of random input spikes (30 %), x (steps, batch, n_in)."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (cfg.w_bits - 1)), (1 << (cfg.w_bits - 1)) - 1
    scale = 2**cfg.w_frac
    w_in = np.clip(rng.integers(-3 * scale // 2, 3 * scale // 2 + 1, (batch, cfg.n_rec, cfg.n_in)),
                   lo, hi)
    w_rec = np.clip(rng.integers(-3 * scale // 4, 3 * scale // 4 + 1,
                                 (batch, cfg.n_rec, cfg.n_rec)), lo, hi)
    w_rec[:, np.arange(cfg.n_rec), np.arange(cfg.n_rec)] = 0
    w_out = np.clip(rng.integers(-scale, scale + 1, (batch, cfg.n_out, cfg.n_rec)), lo, hi)
    x = (rng.random((steps, batch, cfg.n_in)) < 0.3).astype(np.int64)
    return (w_in, w_rec, w_out), x


def reference_trajectories(ref_cfg, weights, x):
    """The float reference's ``VARIABLES`` (real units, (T, batch, ...) arrays) on the
    golden-unit ``weights`` and inputs ``x`` (T, batch, n_in), learning as configured."""
    import torch

    from .reference import Reference
    reference = Reference(ref_cfg, batch=x.shape[1], dtype=torch.float64)
    reference.load_weights(*weights, from_golden=True)
    out = reference.run(x, record=list(VARIABLES))
    return {name: out[name].numpy() for name in VARIABLES}


def network_distances(cfg, got, want):
    """Each network's mean |got - want| of each of ``VARIABLES``, arrays (batch,): ``got``
    integers in ``cfg``'s formats, ``want`` real, both (T, batch, ...)."""
    out = {}
    for name, frac in VARIABLES.items():
        diff = np.abs(np.asarray(got[name]) / 2**getattr(cfg, frac) - want[name])
        out[name] = diff.reshape(diff.shape[0], diff.shape[1], -1).mean(axis=(0, 2))
    return out


def distance(cfg, got, want):
    """Mean |got - want| of each of ``VARIABLES`` over networks, steps and indices."""
    return {name: float(d.mean()) for name, d in network_distances(cfg, got, want).items()}


def _distance(cfg, ref_cfg, batch, steps, seed):
    """Mean |golden - reference| of v, ebar and y (real units) over cores, steps, indices."""
    weights, x = stimulus(cfg, batch, steps, seed)
    golden = GoldenModel(cfg, batch=batch)
    golden.load_weights(*weights)
    got = golden.run(x, record=list(VARIABLES))
    return distance(cfg, got, reference_trajectories(ref_cfg, weights, x))


def distances(extra_bits=range(9), rounding="zero", batch=256, steps=60, seed=0):
    """{k: {variable: distance}} against the reference with REFERENCE_BITS extra bits."""
    ref_cfg = widened_config(REFERENCE_BITS)
    return {k: _distance(widened_config(k, rounding), ref_cfg, batch, steps, seed)
            for k in extra_bits}


def default_width_distances(preset_name="tiny", batch=256, steps=60, seed=0):
    """The distance at a preset's own widths (the reference reads the same parameters)."""
    from eligo.config import preset
    cfg = preset(preset_name, n_in=4, n_rec=8, n_alif=4, n_out=2, w_frac=4)
    return _distance(cfg, cfg, batch, steps, seed)


def main():
    print("| extra bits k | v_frac | e_frac | y_frac | decay_bits | "
          + " | ".join(f"mean abs {n} (zero)" for n in VARIABLES) + " | "
          + " | ".join(f"mean abs {n} (floor)" for n in VARIABLES) + " |")
    print("|" + " --- |" * (5 + 2 * len(VARIABLES)))
    zero, floor = distances(rounding="zero"), distances(rounding="floor")
    for k in zero:
        cfg = widened_config(k)
        cells = [f"{zero[k][n]:.2e}" for n in VARIABLES] + [f"{floor[k][n]:.2e}"
                                                              for n in VARIABLES]
        print(f"| {k} | {cfg.v_frac} | {cfg.e_frac} | {cfg.y_frac} | {cfg.decay_bits} | "
              + " | ".join(cells) + " |")
    d = default_width_distances()
    print()
    print("Default widths (`tiny` preset formats, same network): "
          + ", ".join(f"mean abs {n} {v:.2e}" for n, v in d.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
