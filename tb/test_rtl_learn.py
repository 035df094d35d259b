# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of rtl/learn.py (TriggerUnit, WeightUpdateUnit) against the golden
model's phase 4 (docs/spec.md 3: learning signal, accumulators, trigger, row writes), bit for
bit.

For each configuration a ``GoldenModel`` (a batch of cores) runs a few steps with random
inputs and targets, so that accumulators and weights are in interesting states; then one
target step is captured: a subclass snapshots the state at the start of ``_learn`` (weights,
``err``, ``acc``, ``acc_out``, ``ebar``/``zout``, the counters) and records the ``q`` vectors
it passes to the row writes. Every row (recurrent ``j`` then readout ``k`` of every core) is
streamed through ``TriggerUnit``, and every synapse of every row whose RTL ``q`` is not 0
(except the ``W_rec`` diagonal) through ``WeightUpdateUnit``, with the random words of sites
L, LOUT, W, WOUT from ``kernels.rand64_ufunc``, under {no idle, random idle} x
{no backpressure, random backpressure}. The RTL results must equal the golden state after
the step: ``acc``, ``acc_out``, ``q``, ``W``, ``w_out``, and the counts ``row_updates``,
``weight_writes``, ``sat_acc``, ``sat_acc_out``, ``sat_w``, ``sat_w_out``.
Random stimuli come from ``random.Random`` / numpy generators seeded from ``SEED``; failure
messages carry it.
"""

import random
import re

import numpy as np
import pytest
from amaranth.back import verilog

from eligo.config import Config, preset
from eligo.model import kernels
from eligo.model.golden import GoldenModel, random_weights
from eligo.rtl.learn import (TriggerUnit, WeightUpdateUnit, elig_width, q_width, signal_width,
                             trigger_in_layout, trigger_out_layout, trigger_sum_width,
                             weight_in_layout, weight_out_layout)
from eligo.rtl.stream_util import hold_monitor, run_simulation, stream_get, stream_put

SEED = 20240613
SITES = kernels.SITES

CONFIGS = {
    "tiny": preset("tiny"),
    # A high recurrent threshold: 16 of the 100 rows write (2146 synapses), which keeps the
    # file fast.
    "cue": preset("cue", trigger=24000),
    # Narrow accumulators and weights, large rates, q_max 7: acc and weights clamp, |q| up to
    # 7; stochastic datapath rounding, floor updates.
    "narrow": Config(w_bits=4, w_frac=2, acc_bits=8, acc_frac=4, q_max=7, trigger=9,
                     trigger_out=13, eta=900, eta_out=700, lr_shift=5, lr_out_shift=7,
                     rounding="stochastic", update_rounding="floor"),
    # Each step's signal alone; floor datapath, updates toward zero, random feedback.
    "no_accumulate": Config(accumulate_error=False, rounding="floor", update_rounding="zero",
                            feedback="random", trigger=300, trigger_out=1500, eta=40,
                            eta_out=30),
    "q3_random": Config(q_max=3, feedback="random", rounding="stochastic",
                        update_rounding="stochastic", trigger=700, trigger_out=900, eta=60,
                        eta_out=25, lr_shift=9, lr_out_shift=8),
    # Negative l_shift and err_to_acc_shift (exact left shifts), lr_shift 0 (exact update).
    "left_shift": Config(acc_bits=24, acc_frac=20, trigger=1 << 21, trigger_out=3 << 20,
                         q_max=2, lr_shift=0, lr_out_shift=3, eta=1, eta_out=3,
                         update_rounding="floor", rounding="zero"),
    # Factored traces: the row writes use e (computed from psi and pre) instead of ebar.
    "factored": Config(trace_mode="factored", update_rounding="zero", trigger=600,
                       trigger_out=1200, eta=80, eta_out=20),
}
# (cores, warm-up steps) per configuration.
SIZES = {"tiny": (4, 24), "cue": (1, 12), "narrow": (4, 24), "no_accumulate": (4, 24),
         "q3_random": (4, 24), "left_shift": (4, 24), "factored": (4, 24)}

COUNTS = ("row_updates", "weight_writes", "sat_acc", "sat_acc_out", "sat_w", "sat_w_out")
COLUMNS = {"row_updates": kernels.C_ROWS, "weight_writes": kernels.C_WRITES,
           "sat_acc": kernels.C_ACC, "sat_acc_out": kernels.C_ACC_OUT, "sat_w": kernels.C_W,
           "sat_w_out": kernels.C_W_OUT}


class CapturingModel(GoldenModel):
    """A golden model that snapshots phase 4's inputs and its q vectors when ``capture``."""
    capture = False

    def _learn(self, has_target):
        if self.capture:
            st = self.state
            self.before = {name: st[name].copy() for name in
                           ("w_in", "w_rec", "w_out", "b", "err", "acc", "acc_out", "zout",
                            "psi")}
            self.before["W"] = self._W.copy()
            self.before["pre"] = self._pre.copy()
            if self.full:
                self.before["ebar"] = st["ebar"].copy()
            self.before.update(t=self.t, has_target=has_target.copy(),
                               counts=self._counts.copy())
        super()._learn(has_target)

    def _write_rec_rows(self, q):
        if self.capture:
            self.q = q.copy()
        super()._write_rec_rows(q)

    def _write_out_rows(self, q_out):
        if self.capture:
            self.q_out = q_out.copy()
        super()._write_out_rows(q_out)


def rand_words(cfg, t, site, rows, cols):
    """rand64(seed, t, site, row, col), broadcast, as unsigned 64-bit Python ints."""
    words = kernels.rand64_ufunc(np.int64(cfg.seed), np.int64(t), np.int64(site),
                                 np.asarray(rows, np.int64), np.asarray(cols, np.int64))
    return np.asarray(words).view(np.uint64)


def factored_elig(model, cfg):
    """Factored mode: e of every row (as the golden model computes it for written rows)."""
    B = model.batch
    b_idx = np.repeat(np.arange(B), cfg.n_rec).astype(np.int64)
    j_idx = np.tile(np.arange(cfg.n_rec), B).astype(np.int64)
    out = np.empty((len(b_idx), cfg.n_pre), np.int64)
    counts = np.zeros((B, len(kernels.COUNTER_NAMES)), np.int64)
    kernels.eligibility_rows(b_idx, j_idx, model.before["psi"], model.before["pre"],
                             model._params, out, counts, kernels.MODE_MARKERS[cfg.rounding])
    return out.reshape(B, cfg.n_rec, cfg.n_pre)


def build_case(name):
    """Run the golden model to a captured target step; return the streams and expectations."""
    cfg = CONFIGS[name]
    batch, warm = SIZES[name]
    gen = np.random.default_rng([SEED, len(name), sum(map(ord, name))])
    model = CapturingModel(cfg, batch)
    weights = [random_weights(cfg, SEED + 17 * b + len(name), scale=1.5) for b in range(batch)]
    model.load_weights(*(np.stack([w[n] for w in weights]) for n in range(4)))
    y_lo, y_hi = -(1 << (cfg.y_bits - 1)), (1 << (cfg.y_bits - 1)) - 1
    unit = 1 << cfg.y_frac
    rates = gen.uniform(0.1, 0.6, size=(batch, cfg.n_in))

    def stimulus(target_p):
        x = (gen.random((batch, cfg.n_in)) < rates).astype(np.int64)
        ystar = np.clip(gen.normal(0, 2 * unit, size=(batch, cfg.n_out)).round(),
                        y_lo, y_hi).astype(np.int64)
        ystar[gen.random((batch, cfg.n_out)) < 0.15] = y_hi  # extreme targets: large errors
        mask = gen.random((batch, cfg.n_out)) < target_p
        return x, ystar, mask

    for _ in range(warm):
        x, ystar, mask = stimulus(gen.choice((0.0, 0.5, 1.0)))
        model.step(x, ystar, mask)
    x, ystar, mask = stimulus(1.0)
    if batch > 1:
        mask[0] = False  # a core without a target: its rows pass unchanged
        mask[1, 0] = False  # a core with a partial mask
    model.capture = True
    model.step(x, ystar, mask)
    model.capture = False
    before, t = model.before, model.before["t"]
    after = model.snapshot()
    deltas = {n: after[n] - before["counts"][:, COLUMNS[n]] for n in COUNTS}

    # Trigger requests: recurrent rows j then readout rows k, per core.
    F = np.swapaxes(before["w_out"], 1, 2) if cfg.feedback == "symmetric" else before["b"]
    signal = np.einsum("bjk,bk->bj", F, before["err"])
    rand_l = rand_words(cfg, t, SITES["L"], np.arange(cfg.n_rec), 0)
    rand_lout = rand_words(cfg, t, SITES["LOUT"], np.arange(cfg.n_out), 0)
    triggers, expected_rows = [], []
    for b in range(batch):
        tgt = int(before["has_target"][b])
        for j in range(cfg.n_rec):
            triggers.append({"signal_sum": int(signal[b, j]), "acc": int(before["acc"][b, j]),
                             "has_target": tgt, "readout": 0, "rand": int(rand_l[j])})
            expected_rows.append({"acc": int(after["acc"][b, j]), "q": int(model.q[b, j])})
        for k in range(cfg.n_out):
            triggers.append({"signal_sum": int(before["err"][b, k]),
                             "acc": int(before["acc_out"][b, k]), "has_target": tgt,
                             "readout": 1, "rand": int(rand_lout[k])})
            expected_rows.append({"acc": int(after["acc_out"][b, k]),
                                  "q": int(model.q_out[b, k])})
    elig = before["ebar"] if model.full else factored_elig(model, cfg)
    rand_w = rand_words(cfg, t, SITES["W"], np.arange(cfg.n_rec)[:, None],
                        np.arange(cfg.n_pre)[None, :])
    rand_wout = rand_words(cfg, t, SITES["WOUT"], np.arange(cfg.n_out)[:, None],
                           np.arange(cfg.n_rec)[None, :])
    return dict(cfg=cfg, model=model, before=before, after=after, deltas=deltas,
                triggers=triggers, expected_rows=expected_rows, elig=elig, rand_w=rand_w,
                rand_wout=rand_wout)


def weight_requests(case, rows):
    """Synapse requests of every row with q != 0 (``rows``: the TriggerUnit results, in
    request order), skipping the W_rec diagonal; with where each result goes."""
    cfg, before = case["cfg"], case["before"]
    n_rows = cfg.n_rec + cfg.n_out
    requests, targets = [], []
    for b in range(case["model"].batch):
        for r in range(n_rows):
            q = rows[b * n_rows + r]["q"]
            if q == 0:
                continue
            if r < cfg.n_rec:
                j = r
                for i in range(cfg.n_pre):
                    if i == cfg.n_in + j:
                        continue  # the W_rec diagonal is never written (the caller's job)
                    requests.append({"w": int(before["W"][b, j, i]), "q": q,
                                     "elig": int(case["elig"][b, j, i]), "readout": 0,
                                     "rand": int(case["rand_w"][j, i])})
                    targets.append(("W", b, j, i))
            else:
                k = r - cfg.n_rec
                for j in range(cfg.n_rec):
                    requests.append({"w": int(before["w_out"][b, k, j]), "q": q,
                                     "elig": int(before["zout"][b, j]), "readout": 1,
                                     "rand": int(case["rand_wout"][k, j])})
                    targets.append(("w_out", b, k, j))
    return requests, targets


_CASES = {}


def case(name):
    if name not in _CASES:
        _CASES[name] = build_case(name)
    return _CASES[name]


def set_ports(ctx, dut):
    cfg = dut.cfg
    names = ("trigger", "trigger_out") if isinstance(dut, TriggerUnit) else ("eta", "eta_out")
    for name in names:
        ctx.set(getattr(dut, name), getattr(cfg, name))


def run_stream(dut, requests, fields, *, idle, backpressure, rng, tag):
    """Stream ``requests`` through ``dut`` with random gaps; return the results (dicts).
    Checks that the output is held under backpressure and nothing extra comes out."""
    got = []

    async def producer(ctx):
        set_ports(ctx, dut)
        for req in requests:
            await stream_put(ctx, dut.i, req, idle=rng.choice((0, 0, 1, 3)) if idle else 0)

    async def consumer(ctx):
        for _ in requests:
            payload = await stream_get(ctx, dut.o,
                                       stall=rng.choice((0, 0, 1, 4)) if backpressure else 0)
            got.append({f: int(getattr(payload, f)) for f in fields})
        for _ in range(dut.latency + 3):
            await ctx.tick()
            assert not ctx.get(dut.o.valid), f"{tag}: extra result (seed {SEED})"

    monitor = hold_monitor(dut.o, f"{tag}: output changed under backpressure (seed {SEED})")

    run_simulation(dut, producer, consumer, background=[monitor])
    assert len(got) == len(requests)
    return got


def per_core(values, cfg, batch, kind):
    """Sum flags of TriggerUnit results per core: recurrent rows or readout rows."""
    n_rows = cfg.n_rec + cfg.n_out
    arr = np.array(values).reshape(batch, n_rows)
    return arr[:, :cfg.n_rec].sum(axis=1) if kind == "rec" else arr[:, cfg.n_rec:].sum(axis=1)


@pytest.mark.parametrize("backpressure", [False, True], ids=["no_bp", "random_bp"])
@pytest.mark.parametrize("idle", [False, True], ids=["no_idle", "random_idle"])
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("product_stages", [True, False], ids=["products", "no_products"])
def test_learn_vs_golden(name, idle, backpressure, product_stages):
    c = case(name)
    cfg, model, before, after, deltas = c["cfg"], c["model"], c["before"], c["after"], \
        c["deltas"]
    batch = model.batch
    tag = f"{name} idle={idle} bp={backpressure} product_stages={product_stages}"
    rng = random.Random(f"{SEED}-{name}-{idle}-{backpressure}")

    # Phase 4a: every row through the trigger.
    rows = run_stream(TriggerUnit(cfg), c["triggers"], ("acc", "q", "sat_acc"), idle=idle,
                      backpressure=backpressure, rng=rng, tag=tag)
    for n, (g, e) in enumerate(zip(rows, c["expected_rows"])):
        assert {f: g[f] for f in e} == e, \
            f"{tag}: row {n} request {c['triggers'][n]}: got {g}, expected {e} (seed {SEED})"
    sat = [g["sat_acc"] for g in rows]
    assert (per_core(sat, cfg, batch, "rec") == deltas["sat_acc"]).all(), tag
    assert (per_core(sat, cfg, batch, "out") == deltas["sat_acc_out"]).all(), tag
    written = [g["q"] != 0 for g in rows]
    n_rec_rows = per_core(written, cfg, batch, "rec")
    n_out_rows = per_core(written, cfg, batch, "out")
    assert (n_rec_rows + n_out_rows == deltas["row_updates"]).all(), tag
    assert (n_rec_rows * (cfg.n_pre - 1) + n_out_rows * cfg.n_rec
            == deltas["weight_writes"]).all(), tag

    # Phase 4b: every synapse of every written row through the weight update.
    requests, targets = weight_requests(c, rows)
    results = run_stream(WeightUpdateUnit(cfg, product_stages), requests, ("w", "clamped"),
                         idle=idle, backpressure=backpressure, rng=rng, tag=tag)
    W, w_out = before["W"].copy(), before["w_out"].copy()
    sat_w, sat_w_out = np.zeros(batch, np.int64), np.zeros(batch, np.int64)
    for (matrix, b, r, col), g in zip(targets, results):
        (W if matrix == "W" else w_out)[b, r, col] = g["w"]
        (sat_w if matrix == "W" else sat_w_out)[b] += g["clamped"]
    gold_W = np.concatenate([after["w_in"], after["w_rec"]], axis=2)
    bad = np.argwhere(W != gold_W)
    assert not len(bad), f"{tag}: W differs at {tuple(bad[0])}: {W[tuple(bad[0])]} vs " \
                         f"{gold_W[tuple(bad[0])]} (seed {SEED})"
    bad = np.argwhere(w_out != after["w_out"])
    assert not len(bad), f"{tag}: w_out differs at {tuple(bad[0])} (seed {SEED})"
    assert (sat_w == deltas["sat_w"]).all(), f"{tag}: sat_w counts (seed {SEED})"
    assert (sat_w_out == deltas["sat_w_out"]).all(), f"{tag}: sat_w_out counts (seed {SEED})"


def test_stimulus_coverage():
    # The stimulus, over all configurations, reaches what the comparison is meant to cover.
    seen = {"q>1": 0, "sat_acc": 0, "sat_acc_out": 0, "sat_w": 0, "sat_w_out": 0,
            "no_target": 0, "target": 0, "rec_row": 0, "out_row": 0, "no_write": 0}
    for name in CONFIGS:
        c = case(name)
        cfg = c["cfg"]
        q = np.concatenate([c["model"].q, c["model"].q_out], axis=1)
        assert c["model"].before["has_target"].any()
        seen["q>1"] += int((abs(q) > 1).sum())
        for n in ("sat_acc", "sat_acc_out", "sat_w", "sat_w_out"):
            seen[n] += int(c["deltas"][n].sum())
        has = c["before"]["has_target"]
        seen["no_target"] += int((~has).sum())
        seen["target"] += int(has.sum())
        seen["rec_row"] += int((c["model"].q != 0).sum())
        seen["out_row"] += int((c["model"].q_out != 0).sum())
        seen["no_write"] += int((q[has] == 0).sum())
        # Every configuration writes some rows, else its weight path goes untested.
        assert (q != 0).any(), name
        if cfg.q_max > 1:
            assert (abs(q) > 1).any(), f"{name}: no |q| > 1"
    for what, n in seen.items():
        assert n > 0, f"stimulus never reached {what}"
    # |q| == q_max == 7 in the narrow configuration.
    c = case("narrow")
    assert (abs(np.concatenate([c["model"].q, c["model"].q_out], axis=1)) == 7).any()


def golden_trigger(cfg, acc_old, signal, readout, has_target, t):
    """The golden model's ``_round`` and ``_trigger`` on crafted rows: request ``n`` is row 0
    of core ``n`` (the other rows are 0 and change nothing). Returns acc, q, clamp flags."""
    B = len(acc_old)
    model = GoldenModel(cfg, batch=B)
    model.t = t
    name, n = ("acc_out", cfg.n_out) if readout else ("acc", cfg.n_rec)
    acc, sig = np.zeros((B, n), np.int64), np.zeros((B, n), np.int64)
    acc[:, 0], sig[:, 0] = acc_old, signal
    shift = cfg.err_to_acc_shift if readout else cfg.l_shift
    L = model._round(sig, shift, cfg.rounding, "LOUT" if readout else "L",
                     np.arange(n)[None, :], 0)
    model.state[name] = acc
    q = model._trigger(name, L, cfg.trigger_out if readout else cfg.trigger,
                       np.asarray(has_target, bool))
    column = kernels.C_ACC_OUT if readout else kernels.C_ACC
    return model.state[name][:, 0], q[:, 0], model._counts[:, column]


@pytest.mark.parametrize("name", ["narrow", "q3_random", "left_shift"])
def test_trigger_directed(name):
    # Every accumulator value with L == 0 (so |acc'| meets every multiple of the threshold
    # exactly, and every value one off it), for small, odd and large thresholds, plus
    # random signals at and near the port extremes; both row kinds, with and without target.
    base = CONFIGS[name]
    rng = random.Random(f"{SEED}-directed-{name}")
    acc_lo, acc_hi = -(1 << (base.acc_bits - 1)), (1 << (base.acc_bits - 1)) - 1
    # sum_k F[j, k] * err_k plus the homeostatic term, both at their extremes
    s_max = (base.n_out << (base.w_bits - 1 + base.err_bits - 1)) \
        + 65535 * ((1 << base.trace_bits) - 1)
    e_lo, e_hi = -(1 << (base.err_bits - 1)), (1 << (base.err_bits - 1)) - 1
    t = 12345
    reached_q_max = False
    if base.acc_bits <= 10:
        accs = list(range(acc_lo, acc_hi + 1))
    else:
        accs = [rng.randint(acc_lo, acc_hi) for _ in range(200)] + [acc_lo, acc_hi, 0]
    for T in sorted({1, 7, acc_hi // base.q_max, base.trigger}):
        cfg = base.replace(trigger=T, trigger_out=max(T // 2, 1))
        if base.acc_bits > 10:  # multiples of the threshold and their neighbours
            accs_t = accs + [s * (m * T + d) for m in range(1, base.q_max + 2)
                             for d in (-1, 0, 1) for s in (1, -1)
                             if acc_lo <= s * (m * T + d) <= acc_hi]
        else:
            accs_t = accs
        for readout in (0, 1):
            acc_old = accs_t + [rng.randint(acc_lo, acc_hi) for _ in range(60)]
            zeros = len(accs_t)
            if readout:
                extra = [rng.choice((e_lo, e_hi, rng.randint(e_lo, e_hi))) for _ in range(60)]
            else:
                extra = [rng.choice((-s_max, s_max, rng.randint(-s_max, s_max)))
                         for _ in range(60)]
            signal = [0] * zeros + extra
            target = [1] * zeros + [rng.random() < 0.8 for _ in extra]
            g_acc, g_q, g_sat = golden_trigger(cfg, acc_old, signal, readout, target, t)
            word = int(rand_words(cfg, t, SITES["LOUT" if readout else "L"], 0, 0))
            requests = [{"signal_sum": s, "acc": a, "has_target": int(h),
                         "readout": readout, "rand": word}
                        for s, a, h in zip(signal, acc_old, target)]
            got = run_stream(TriggerUnit(cfg), requests, ("acc", "q", "sat_acc"), idle=False,
                             backpressure=False, rng=rng, tag=name)
            for n, g in enumerate(got):
                # Without a target the golden model still counts a clamp of the sum it
                # discards; unreachable there (err, hence L, is 0 without a target), and the
                # unit reports none (docs/spec.md: only steps with a target run phase 4).
                e = {"acc": int(g_acc[n]), "q": int(g_q[n]),
                     "sat_acc": int(g_sat[n]) if target[n] else 0}
                assert g == e, f"{name} T={T}: {requests[n]}: got {g}, expected {e}"
            reached_q_max |= any(abs(int(q)) == base.q_max for q in g_q)
    assert reached_q_max


def test_weight_update_directed():
    # Port extremes: eta 0, 1, 65535, every q in [-q_max, q_max], elig at the extremes of
    # ebar and zout, weights at their bounds, against kernels.write_rows.
    rng = random.Random(f"{SEED}-weights")
    for name in ("narrow", "q3_random", "left_shift"):
        cfg = CONFIGS[name]
        w_lo, w_hi = -(1 << (cfg.w_bits - 1)), (1 << (cfg.w_bits - 1)) - 1
        t = 777
        p = kernels.pack_params(cfg)
        p[kernels.P_T] = t
        for readout in (0, 1):
            if readout:
                el = [0, 1, (1 << cfg.trace_bits) - 1]
                el_rand = lambda: rng.randint(0, (1 << cfg.trace_bits) - 1)
            else:
                el = [-(1 << (cfg.e_bits - 1)), -1, 0, 1, (1 << (cfg.e_bits - 1)) - 1]
                el_rand = lambda: rng.randint(-(1 << (cfg.e_bits - 1)),
                                              (1 << (cfg.e_bits - 1)) - 1)
            n_cols = 12
            qs = np.array([q for q in range(-cfg.q_max, cfg.q_max + 1)], np.int64)
            n_rows = len(qs)
            for eta in (0, 1, 65535, rng.randint(2, 65534)):
                elig = np.array([[rng.choice(el) if rng.random() < 0.5 else el_rand()
                                  for _ in range(n_cols)] for _ in range(n_rows)], np.int64)
                W = np.array([[rng.choice((w_lo, w_hi, rng.randint(w_lo, w_hi)))
                               for _ in range(n_cols)] for _ in range(n_rows)], np.int64)
                gold = W[None].copy()
                counts = np.zeros((1, len(kernels.COUNTER_NAMES)), np.int64)
                shift = cfg.lr_out_shift if readout else cfg.lr_shift
                site = SITES["WOUT" if readout else "W"]
                kernels.write_rows(gold, np.zeros(n_rows, np.int64),
                                   np.arange(n_rows, dtype=np.int64), qs, elig, eta, shift,
                                   p, site, -1, w_lo, w_hi, counts, kernels.C_W,
                                   kernels.MODE_MARKERS[cfg.update_rounding])
                words = rand_words(cfg, t, site, np.arange(n_rows)[:, None],
                                   np.arange(n_cols)[None, :])
                requests = [{"w": int(W[r, c]), "q": int(qs[r]), "elig": int(elig[r, c]),
                             "readout": readout, "rand": int(words[r, c])}
                            for r in range(n_rows) for c in range(n_cols)]
                dut = WeightUpdateUnit(cfg.replace(eta=eta, eta_out=eta))
                got = run_stream(dut, requests, ("w", "clamped"), idle=False,
                                 backpressure=False, rng=rng, tag=name)
                assert [g["w"] for g in got] == gold[0].ravel().tolist(), (name, eta, readout)
                assert sum(g["clamped"] for g in got) == counts[0, kernels.C_W]


def pulse_run(dut, requests, n):
    """Offer one request per cycle with o.ready high; return (cycle, payload) of outputs."""
    out = []

    async def testbench(ctx):
        set_ports(ctx, dut)
        ctx.set(dut.o.ready, 1)
        for cycle in range(n + dut.latency + 3):
            ctx.set(dut.i.valid, cycle < n)
            ctx.set(dut.i.payload, requests[min(cycle, n - 1)])
            if cycle < n:
                assert ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                out.append((cycle, ctx.get(dut.o.payload).as_bits()))
            await ctx.tick()

    run_simulation(dut, testbench)
    return out


@pytest.mark.parametrize("product_stages,update_latency", [(True, 4), (False, 2)])
def test_latency_and_throughput(product_stages, update_latency):
    c = case("narrow")
    cfg = c["cfg"]
    trig = TriggerUnit(cfg)
    assert trig.latency == 4
    n = min(24, len(c["triggers"]))
    ref = run_stream(TriggerUnit(cfg), c["triggers"][:n], ("acc", "q", "sat_acc"),
                     idle=False, backpressure=False, rng=random.Random(0), tag="ref")
    layout = trigger_out_layout(cfg)
    out = pulse_run(trig, c["triggers"], n)
    # Request k transfers in cycle k and is presented in cycle k + latency.
    assert [k for k, _ in out] == [k + trig.latency for k in range(n)]
    assert [{f: int(getattr(layout.from_bits(bits), f)) for f in ref[0]} for _, bits in out] \
        == ref

    wu = WeightUpdateUnit(cfg, product_stages)
    assert wu.latency == update_latency
    requests, _ = weight_requests(c, c["expected_rows"])
    n = 24
    assert len(requests) >= n
    ref = run_stream(WeightUpdateUnit(cfg), requests[:n], ("w", "clamped"), idle=False,
                     backpressure=False, rng=random.Random(0), tag="ref")
    layout = weight_out_layout(cfg)
    out = pulse_run(wu, requests, n)
    assert [k for k, _ in out] == [k + wu.latency for k in range(n)]
    assert [{f: int(getattr(layout.from_bits(bits), f)) for f in ref[0]} for _, bits in out] \
        == ref


@pytest.mark.parametrize("unit", ["trigger", "weight", "weight_no_products"])
def test_fills_under_backpressure(unit):
    # With o.ready low the unit takes `latency` requests, then holds them.
    c = case("tiny")
    cfg = c["cfg"]
    if unit == "trigger":
        dut, requests = TriggerUnit(cfg), c["triggers"]
        expected = [e["acc"] for e in c["expected_rows"]]
        field = "acc"
    else:
        dut = WeightUpdateUnit(cfg, product_stages=unit == "weight")
        requests, targets = weight_requests(c, c["expected_rows"])
        gold_W = np.concatenate([c["after"]["w_in"], c["after"]["w_rec"]], axis=2)
        expected = [int((gold_W if m == "W" else c["after"]["w_out"])[b, r, col])
                    for m, b, r, col in targets]
        field = "w"

    async def testbench(ctx):
        set_ports(ctx, dut)
        ctx.set(dut.o.ready, 0)
        accepted = 0
        for _ in range(dut.latency + 4):
            ctx.set(dut.i.payload, requests[accepted])
            ctx.set(dut.i.valid, 1)
            *_, ready = await ctx.tick().sample(dut.i.ready)
            accepted += ready
        ctx.set(dut.i.valid, 0)
        assert accepted == dut.latency
        got = [int(getattr(await stream_get(ctx, dut.o), field)) for _ in range(accepted)]
        assert got == expected[:accepted]

    run_simulation(dut, testbench)


def test_layouts_and_widths():
    cfg = CONFIGS["tiny"]
    assert signal_width(cfg) == 25  # up to 2 * 2**7 * 2**15 = 2**23
    assert q_width(cfg) == 2 and q_width(Config(q_max=3)) == 3 and q_width(Config(q_max=7)) == 4
    assert elig_width(cfg) == 13  # zout: unsigned 12 bits
    assert elig_width(Config(e_bits=20)) == 20
    assert list(dict(trigger_in_layout(cfg))) == ["signal_sum", "acc", "has_target",
                                                  "readout", "rand"]
    assert list(dict(trigger_out_layout(cfg))) == ["acc", "q", "sat_acc"]
    assert list(dict(weight_in_layout(cfg))) == ["w", "q", "elig", "readout", "rand"]
    assert list(dict(weight_out_layout(cfg))) == ["w", "clamped"]
    trig, wu = TriggerUnit(cfg), WeightUpdateUnit(cfg)
    assert trig.trigger.shape().width == trig.trigger_out.shape().width == cfg.acc_bits - 1
    assert wu.eta.shape().width == wu.eta_out.shape().width == 16
    # Widest values within the configuration's limits fit the 64-bit RoundShift.
    wide = Config(n_out=256, w_bits=16, w_frac=6, err_bits=32, e_bits=24, trace_bits=24,
                  q_max=7, acc_bits=32)
    assert signal_width(wide) == 56
    assert trigger_sum_width(wide) == 57  # plus 65535 * (2**24 - 1) < 2**40
    assert trigger_sum_width(cfg) == 30  # 2**23 + 65535 * (2**12 - 1) < 2**29
    assert max(TriggerUnit(wide).widths.values()) <= 64
    assert WeightUpdateUnit(wide).widths["prod"] <= 45


@pytest.mark.parametrize("name", ["tiny", "left_shift", "narrow"])
def test_converts_to_verilog(name):
    for unit, label in ((TriggerUnit, "trigger"), (WeightUpdateUnit, "weight_update")):
        text = verilog.convert(unit(CONFIGS[name]), name=label, emit_src=False)
        assert f"module {label}(" in text and "src =" not in text


# -- parameter validation --------------------------------------------------------------------

def raises(exc, message):
    return pytest.raises(exc, match=f"^{re.escape(message)}$")


@pytest.mark.parametrize("unit", [TriggerUnit, WeightUpdateUnit, trigger_in_layout,
                                  trigger_out_layout, weight_in_layout, weight_out_layout,
                                  signal_width, trigger_sum_width, q_width, elig_width])
def test_init_wrong_cfg(unit):
    for value in (None, "tiny", {"n_in": 4}):
        with raises(TypeError, f"Configuration must be an eligo.config.Config, not {value!r}"):
            unit(value)
