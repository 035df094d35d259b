"""The ``eligo demo`` trial: a synthetic cue-accumulation stimulus run on the golden model.

Private to the command line; later work replaces it with the real task.
"""

import time

import numpy as np

N_GROUP = 10          # channels per input group: left cues, right cues, recall, background
N_CUES = 7
CUE_STEPS = 100
GAP_STEPS = 50
RECALL_STEPS = 150
TRIAL_STEPS = 2250    # 7 * (100 + 50) cue period, a delay, and the recall window at the end
CUE_P = 0.04          # 40 Hz at 1 ms per step
NOISE_P = 0.01        # 10 Hz
WEIGHT_SCALE = 1.0    # random_weights scale: about 3 Hz per neuron (0.5 is nearly silent)


def cue_trial(cfg, gen, steps=TRIAL_STEPS):
    """One trial: ``(x (T, 40), ystar (T, n_out), mask (T, n_out), n_left)``.

    Inputs 0-9 fire during left cues, 10-19 during right cues, 20-29 during the recall window,
    30-39 always (background noise). Targets only in the recall window: readout 0 high
    (1.0) and readout 1 low (0) when there were more left cues, the reverse otherwise.
    """
    if cfg.n_in != 4 * N_GROUP or cfg.n_out < 2:
        raise ValueError(f"the demo stimulus needs n_in = {4 * N_GROUP} and n_out >= 2, "
                         f"not n_in = {cfg.n_in}, n_out = {cfg.n_out}")
    recall = steps - RECALL_STEPS
    if recall < N_CUES * (CUE_STEPS + GAP_STEPS):
        raise ValueError(f"a trial needs at least {N_CUES * (CUE_STEPS + GAP_STEPS) + RECALL_STEPS}"
                         f" steps, not {steps}")
    p = np.zeros((steps, cfg.n_in))
    sides = gen.integers(0, 2, size=N_CUES)        # 0 left, 1 right
    for i, side in enumerate(sides):
        start = i * (CUE_STEPS + GAP_STEPS)
        group = slice(side * N_GROUP, (side + 1) * N_GROUP)
        p[start:start + CUE_STEPS, group] = CUE_P
    p[recall:, 2 * N_GROUP:3 * N_GROUP] = CUE_P
    p[:, 3 * N_GROUP:] = NOISE_P
    x = (gen.random(p.shape) < p).astype(np.int64)
    n_left = int((sides == 0).sum())
    ystar = np.zeros((steps, cfg.n_out), np.int64)
    mask = np.zeros((steps, cfg.n_out), bool)
    winner = 0 if n_left > N_CUES - n_left else 1
    ystar[recall:, winner] = 1 << cfg.y_frac
    mask[recall:, :2] = True
    return x, ystar, mask, n_left


def run(seed=1, out=print, steps=TRIAL_STEPS):
    from eligo.config import preset
    from eligo.model.golden import GoldenModel, SAT_NAMES, random_weights

    cfg = preset("cue")
    gen = np.random.default_rng(seed)
    x, ystar, mask, n_left = cue_trial(cfg, gen, steps)
    model = GoldenModel(cfg, 1)
    w_in, w_rec, w_out, b = random_weights(cfg, seed, scale=WEIGHT_SCALE)
    model.load_weights(w_in, w_rec, w_out, b)
    out(f"eligo demo: cue preset (n_in={cfg.n_in}, n_rec={cfg.n_rec} with {cfg.n_alif} ALIF, "
        f"n_out={cfg.n_out}), random weights (scale {WEIGHT_SCALE}), one trial of {steps} steps, "
        f"{n_left} left / "
        f"{N_CUES - n_left} right cues, learning on, seed {seed}")

    ys = np.zeros((steps, cfg.n_out), np.int64)
    start = time.perf_counter()
    first = None
    tick = max(steps // 10, 1)
    for t in range(steps):
        z, y = model.step(x[t][None], ystar[t][None], mask[t][None], learn=True)
        ys[t] = y[0]
        if first is None:
            first = time.perf_counter() - start
        if (t + 1) % tick == 0 or t + 1 == steps:
            out(f"  {100 * (t + 1) // steps:3d}%  {t + 1:5d}/{steps} steps  "
                f"{time.perf_counter() - start:6.2f} s")
    wall = time.perf_counter() - start

    c = {name: int(v[0]) for name, v in model.counters.items()}
    target_steps = int(mask.any(axis=1).sum())
    dense = target_steps * (cfg.n_rec * (cfg.n_pre - 1) + cfg.n_out * cfg.n_rec)
    recall = ys[mask.any(axis=1)].mean(axis=0) / 2**cfg.y_frac
    decided = "left" if recall[0] > recall[1] else "right"
    truth = "left" if n_left > N_CUES - n_left else "right"
    rate = (steps - 1) / (wall - first) if steps > 1 and wall > first else float("nan")
    out("summary")
    out(f"  steps            {steps}")
    out(f"  wall time        {wall:.2f} s (first step {first:.2f} s, includes any compilation)")
    out(f"  steps/s          {rate:.0f} (after the first step)")
    out(f"  spikes/step      {c['spikes'] / steps:.2f} ({c['spikes']} spikes, "
        f"{c['spikes'] / steps / cfg.n_rec * 1000:.1f} Hz per neuron at 1 ms/step)")
    out(f"  row updates      {c['row_updates']}")
    out(f"  weight writes    {c['weight_writes']}")
    out(f"  dense writes     {dense} (every row at each of the {target_steps} target steps); "
        f"triggered writes are {100 * c['weight_writes'] / max(dense, 1):.2f} % of that")
    sats = ", ".join(f"{n} {c['sat_' + n]}" for n in SAT_NAMES)
    out(f"  saturations      {sats}")
    out(f"  recall readouts  y0 {recall[0]:+.3f}, y1 {recall[1]:+.3f}: says {decided}, "
        f"answer {truth} (one trial from random weights: chance)")
    return 0
