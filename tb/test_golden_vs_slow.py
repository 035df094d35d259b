"""The vectorized golden model equals the independent scalar model on every state variable,
every counter and every step, over many seeded random configurations and stimuli.

The configurations are drawn so that, taken together, they reach every option value and drive
every saturating variable into saturation; the last test asserts that they did.
"""

import collections

import numpy as np
import pytest

from eligo.config import Config
from eligo.model.golden import GoldenModel, SAT_NAMES, random_weights
from eligo.tb.slow_model import SlowModel

N_CONFIGS = 60
STEPS = 40
BATCH = 2

OPTIONS = {
    "reset": ("subtract", "zero"),
    "rounding": ("zero", "floor", "stochastic"),
    "update_rounding": ("zero", "floor", "stochastic"),
    "trace_mode": ("full", "factored"),
    "feedback": ("symmetric", "random"),
    "accumulate_error": (True, False),
}


def random_config(seed):
    """A small valid configuration; about a third of them use tiny widths to saturate."""
    rng = np.random.default_rng(seed)
    while True:
        narrow = rng.random() < 0.35
        pick = lambda lo, hi: int(rng.integers(lo, hi + 1))
        fields = {name: values[rng.integers(len(values))] for name, values in OPTIONS.items()}
        n_rec = pick(1, 6)
        fields.update(
            n_in=pick(1, 5), n_rec=n_rec, n_out=pick(1, 3), n_alif=pick(0, n_rec),
            w_bits=pick(3, 5) if narrow else pick(6, 9),
            v_bits=pick(8, 11) if narrow else pick(14, 18),
            a_bits=pick(4, 8) if narrow else pick(12, 18),
            trace_bits=pick(4, 7) if narrow else pick(9, 13),
            psi_bits=pick(3, 8),
            e_bits=pick(3, 6) if narrow else pick(8, 14),
            eps_bits=pick(4, 8) if narrow else pick(10, 18),
            y_bits=pick(6, 10) if narrow else pick(12, 18),
            err_bits=pick(3, 8) if narrow else pick(10, 18),
            acc_bits=pick(4, 8) if narrow else pick(10, 18),
            decay_bits=pick(4, 14),
            refractory=pick(0, 3) * (rng.random() < 0.4),
            q_max=pick(1, 3),
            counter_bits=8 if narrow else 32,  # narrow: counters saturate too (no draw)
        )
        fields["w_frac"] = pick(0, fields["w_bits"] - 1)
        fields["v_frac"] = pick(fields["w_frac"], fields["v_bits"] - 2)
        fields["a_frac"] = pick(0, fields["a_bits"] - 1)
        fields["trace_frac"] = pick(0, fields["trace_bits"] - 1)
        fields["e_frac"] = pick(0, fields["e_bits"] + 6)
        fields["y_frac"] = pick(fields["w_frac"], fields["y_bits"] - 1)
        fields["acc_frac"] = pick(max(fields["y_frac"] - 4, 0), fields["y_frac"] + 4)
        dmax = 2**fields["decay_bits"] - 1
        vmax = 2**(fields["v_bits"] - 1) - 1
        amax = 2**(fields["acc_bits"] - 1) - 1
        fields.update(
            alpha=pick(dmax // 2, dmax), rho=pick(dmax // 2, dmax), kappa=pick(dmax // 2, dmax),
            theta=pick(max(1, 2**fields["v_frac"] // 2), min(vmax, 2**(fields["v_frac"] + 1))),
            beta=pick(0, min(vmax, 2**fields["v_frac"])),
            gamma=pick(0, 2**fields["psi_bits"] - 1),
            eta=pick(1, 8), lr_shift=pick(0, 8), eta_out=pick(1, 8), lr_out_shift=pick(0, 8),
            trigger=pick(1, max(1, amax // 4)), trigger_out=pick(1, max(1, amax // 4)),
            seed=pick(0, 2**32 - 1),
        )
        if rng.random() < 0.5:  # the homeostatic term of the learning signal
            fields.update(homeo_gain=pick(1, 300),
                          homeo_target=pick(0, 2**fields["trace_bits"] - 1))
        try:
            return Config(**fields)
        except ValueError:
            continue


def stimulus(cfg, seed, steps):
    """Inputs, targets, masks, learn flags and reset points for BATCH independent cores."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.05, 0.6)
    x = (rng.random((steps, BATCH, cfg.n_in)) < rate).astype(np.int64)
    lo, hi = -(2**(cfg.y_bits - 1)), 2**(cfg.y_bits - 1) - 1
    ystar = rng.integers(lo, hi + 1, (steps, BATCH, cfg.n_out))
    mask = rng.random((steps, BATCH, cfg.n_out)) < 0.4
    learn = rng.random(steps) < 0.85
    resets = set(rng.choice(np.arange(1, steps), size=1).tolist()) if rng.random() < 0.5 else set()
    return x, ystar, mask, learn, resets


def run_both(seed):
    """Run golden (batch) and one slow model per batch element; compare after every step.

    Returns the per-configuration facts the coverage test needs.
    """
    cfg = random_config(seed)
    x, ystar, mask, learn, resets = stimulus(cfg, seed + 10_000, STEPS)
    golden = GoldenModel(cfg, batch=BATCH)
    slows = [SlowModel(cfg) for _ in range(BATCH)]
    weights = [random_weights(cfg, seed * 7 + b, scale=float(np.random.default_rng(seed).
                                                               uniform(0.5, 6.0)))
               for b in range(BATCH)]
    golden.load_weights(*(np.stack(ws) for ws in zip(*weights)))
    for slow, ws in zip(slows, weights):
        slow.load_weights(*ws)
    for t in range(STEPS):
        if t in resets:
            golden.reset()
            for slow in slows:
                slow.reset()
        out = golden.step(x[t], ystar[t], mask[t], learn=bool(learn[t]))
        snap = golden.snapshot()
        for b, slow in enumerate(slows):
            m = mask[t, b]
            z, y = slow.step(x[t, b], ystar[t, b] if m.any() else None,
                             m if m.any() else None, learn=bool(learn[t]))
            assert out.z[b].tolist() == list(z) and out.y[b].tolist() == list(y)
            expected = slow.snapshot()
            assert set(expected) == set(snap), f"state names differ for {cfg}"
            for name, want in expected.items():
                got = snap[name] if name == "t" else snap[name][b]
                if np.asarray(got).tolist() != want:
                    pytest.fail(f"config seed {seed}, step {t}, core {b}: {name} differs\n"
                                f"golden {np.asarray(got).tolist()}\nslow   {want}\n{cfg}")
    final = golden.snapshot()
    return cfg, final


@pytest.fixture(scope="module")
def runs():
    return [run_both(seed) for seed in range(N_CONFIGS)]


def test_golden_equals_slow_model(runs):
    assert len(runs) == N_CONFIGS


def test_random_configurations_reach_every_option_and_saturation(runs):
    seen = collections.defaultdict(set)
    totals = collections.Counter()
    for cfg, final in runs:
        for name in OPTIONS:
            seen[name].add(getattr(cfg, name))
        seen["refractory>0"].add(cfg.refractory > 0)
        seen["q_max>1"].add(cfg.q_max > 1)
        seen["alif"].add(cfg.n_alif > 0)
        seen["lif"].add(cfg.n_lif > 0)
        for name in ("spikes", "row_updates", "weight_writes") + tuple(
                f"sat_{n}" for n in SAT_NAMES):
            totals[name] += int(final[name].sum())
            totals["a counter saturated"] += int((final[name] == cfg.counter_max).sum())
    for name, values in OPTIONS.items():
        assert seen[name] == set(values), f"{name} never took {set(values) - seen[name]}"
    for flag in ("refractory>0", "q_max>1", "alif", "lif"):
        assert seen[flag] == {True, False}, flag
    for name, total in totals.items():
        assert total > 0, f"no configuration reached {name}"


def test_chunked_stepping_equals_one_run():
    cfg = random_config(3).replace(rounding="stochastic", trace_mode="full")
    x, ystar, mask, learn, _ = stimulus(cfg, 99, STEPS)
    weights = random_weights(cfg, 5, scale=3.0)
    whole = GoldenModel(cfg, batch=BATCH)
    whole.load_weights(*weights)
    ref = whole.run(x, ystar, mask, record=True)
    chunked = GoldenModel(cfg, batch=BATCH)
    chunked.load_weights(*weights)
    parts = [chunked.run(x[a:b], ystar[a:b], mask[a:b], record=True)
             for a, b in ((0, 7), (7, 8), (8, 25), (25, STEPS))]
    for name, value in ref.items():
        np.testing.assert_array_equal(np.concatenate([p[name] for p in parts]), value,
                                      err_msg=name)
