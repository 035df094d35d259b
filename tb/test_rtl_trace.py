# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of rtl/trace.py (TraceUnit, ReadoutUnit) against the golden
model's ``kernels.trace_phase`` (docs/spec.md 3, phase 2 traces ``xbar``, ``zbar``, ``zout``)
and ``kernels.readout_phase`` (phase 3, ``y`` and ``err``), bit for bit.

For each configuration, random traces, spikes, readouts, weights and targets are fed to the
golden kernels (several steps ``t``, a batch of cores each); the same per-value requests (the
old value, the spike or the readout drive ``sum_j w_out[k, j] * z_j`` computed here, the
target, and the random word of site PRE, ZOUT or Y) are streamed through the RTL under
{no idle, random idle} x {no backpressure, random backpressure}. The trace unit's ``decay``
port is switched between ``alpha`` (presynaptic traces) and ``kappa`` (readout traces) while
the unit is empty, as a caller would. Random stimuli come from ``random.Random`` seeded from
``SEED``; failure messages carry it.
"""

import random
import re
from collections import Counter

import numpy as np
import pytest
from amaranth.back import verilog

from eligo.config import Config, preset
from eligo.model import kernels
from eligo.rtl.stream_util import hold_monitor, run_simulation, stream_get, stream_put
from eligo.rtl.trace import (ReadoutUnit, TraceUnit, readout_drive_width, readout_in_layout,
                             readout_out_layout, trace_in_layout, trace_out_layout)

SEED = 20240613
SITE_PRE, SITE_ZOUT, SITE_Y = kernels.SITES["PRE"], kernels.SITES["ZOUT"], kernels.SITES["Y"]

CONFIGS = {
    "tiny": preset("tiny"),
    "cue": preset("cue"),
    # Narrow traces, readouts and errors, 6-bit decays (alpha != kappa), stochastic rounding:
    # every clamp is frequent.
    "narrow": Config(w_bits=6, w_frac=2, trace_bits=4, trace_frac=2, y_bits=8, y_frac=4,
                     err_bits=6, decay_bits=6, alpha=60, rho=62, kappa=56,
                     rounding="stochastic"),
    # Floor rounding, decays near 1 so that traces clamp; err wider than y never clamps.
    "floor": Config(rounding="floor", alpha=4000, kappa=4090, err_bits=17),
    # Stochastic rounding, 10-bit traces, three readouts of ten neurons.
    "stochastic": Config(rounding="stochastic", n_rec=10, n_alif=5, n_out=3, trace_bits=10,
                         trace_frac=5, y_bits=12, y_frac=8, err_bits=10, alpha=4050,
                         kappa=4060),
}
# (steps, cores per step) of the trace and of the readout cases: about 300 traces and
# 150 readouts per configuration.
TRACE_SIZES = {"tiny": (5, 4), "cue": (1, 1), "narrow": (5, 4), "floor": (5, 4),
               "stochastic": (4, 3)}
READOUT_SIZES = {"tiny": (10, 8), "cue": (10, 8), "narrow": (10, 8), "floor": (10, 8),
                 "stochastic": (10, 5)}


def mixture(rng, lo, hi, near=(), spread=0):
    """A value in [lo, hi]: uniform, an extreme, or near one of ``near`` (+-spread)."""
    kind = rng.random()
    if kind < 0.35 or not near:
        return rng.randint(lo, hi) if kind < 0.8 or not near else rng.choice((lo, hi))
    if kind < 0.45:
        return rng.choice((lo, hi, lo + 1, hi - 1))
    centre = rng.choice(near)
    return min(max(centre + rng.randint(-spread, spread), lo), hi)


def rand_words(cfg, t, site, rows, cols):
    """rand64(seed, t, site, row, col) over broadcast rows/cols, as unsigned 64-bit ints."""
    words = kernels.rand64_ufunc(np.int64(cfg.seed), np.int64(t), np.int64(site),
                                 np.asarray(rows, np.int64), np.asarray(cols, np.int64))
    return [int(w) for w in np.atleast_1d(words).view(np.uint64)]


def golden_params(cfg, t):
    p = kernels.pack_params(cfg)
    p[kernels.P_T] = t
    return p


def trace_max(cfg, decay):
    """The largest decayed trace: R((2**trace_bits - 1) * decay, D), rounded up if it can."""
    product = ((1 << cfg.trace_bits) - 1) * decay
    up = (1 << cfg.decay_bits) - 1 if cfg.rounding == "stochastic" else 0
    return (product + up) >> cfg.decay_bits


def reachable(cfg):
    """For each clamp counter, whether some state and input of the unit can reach it."""
    hi = (1 << cfg.trace_bits) - 1
    D, y_lo, y_hi = cfg.decay_bits, -(1 << (cfg.y_bits - 1)), (1 << (cfg.y_bits - 1)) - 1
    mode = kernels.ROUND_MODES[cfg.rounding]
    # The extreme decayed readouts (a stochastic rounding can round up, never down past floor)
    dy_hi = (y_hi * cfg.kappa + ((1 << D) - 1 if mode == 2 else 0)) >> D
    dy_lo = int(kernels.round_shift(y_lo * cfg.kappa, D, min(mode, 1), 0, 0, 0, 0, 0))
    drive = (cfg.n_rec << (cfg.w_bits - 1)) << cfg.out_shift  # the drive's bounds, shifted
    drive_hi = drive - (cfg.n_rec << cfg.out_shift)
    pre = trace_max(cfg, cfg.alpha) + (1 << cfg.trace_frac) > hi
    return {kernels.C_XBAR: pre, kernels.C_ZBAR: pre,
            kernels.C_ZOUT: trace_max(cfg, cfg.kappa) + (1 << cfg.trace_frac) > hi,
            kernels.C_Y: dy_hi + drive_hi > y_hi or dy_lo - drive < y_lo,
            kernels.C_ERR: cfg.err_bits <= cfg.y_bits}


# -- traces ------------------------------------------------------------------------------------

def build_trace_case(name):
    """Groups of requests (one decay each), expected results, counter keys, counts."""
    cfg = CONFIGS[name]
    rng = random.Random(f"{SEED}-trace-{name}")
    steps, batch = TRACE_SIZES[name]
    n_in, n_rec, n_pre = cfg.n_in, cfg.n_rec, cfg.n_pre
    hi, spike = (1 << cfg.trace_bits) - 1, 1 << cfg.trace_frac
    groups, counts = [], []
    for k in range(steps):
        t = 1 + k * 7919 + rng.getrandbits(20)
        pre = np.zeros((batch, n_pre), np.int64)
        zout = np.zeros((batch, n_rec), np.int64)
        x = np.zeros((batch, n_in), np.int64)
        z_old = np.zeros((batch, n_rec), np.int64)
        z = np.zeros((batch, n_rec), np.int64)
        for b in range(batch):
            density = rng.choice((0.1, 0.5, 0.9, 1.0))
            x[b] = [rng.random() < density for _ in range(n_in)]
            z_old[b] = [rng.random() < density for _ in range(n_rec)]
            z[b] = [rng.random() < density for _ in range(n_rec)]
            pre[b] = [mixture(rng, 0, hi, near=(0, spike, hi), spread=2 * spike)
                      for _ in range(n_pre)]
            zout[b] = [mixture(rng, 0, hi, near=(0, spike, hi), spread=2 * spike)
                       for _ in range(n_rec)]
        new_pre, new_zout = pre.copy(), zout.copy()
        gcounts = np.zeros((batch, len(kernels.COUNTER_NAMES)), np.int64)
        kernels.trace_phase(new_pre, x, z_old, new_zout, z, golden_params(cfg, t), gcounts,
                            kernels.MODE_MARKERS[cfg.rounding])
        base = len(counts)  # counter rows: one per (step, core)
        counts.extend(gcounts)
        r_pre = rand_words(cfg, t, SITE_PRE, 0, np.arange(n_pre))
        r_zout = rand_words(cfg, t, SITE_ZOUT, 0, np.arange(n_rec))
        pre_group = (cfg.alpha, [], [], [])
        zout_group = (cfg.kappa, [], [], [])
        for b in range(batch):
            row = base + b
            s = np.concatenate([x[b], z_old[b]])
            for i in range(n_pre):
                pre_group[1].append({"trace": int(pre[b, i]), "spike": int(s[i]),
                                     "rand": r_pre[i]})
                pre_group[2].append(int(new_pre[b, i]))
                pre_group[3].append((row, kernels.C_XBAR if i < n_in else kernels.C_ZBAR))
            for j in range(n_rec):
                zout_group[1].append({"trace": int(zout[b, j]), "spike": int(z[b, j]),
                                      "rand": r_zout[j]})
                zout_group[2].append(int(new_zout[b, j]))
                zout_group[3].append((row, kernels.C_ZOUT))
        groups += [pre_group, zout_group]
    return cfg, groups, np.array(counts)


def run_trace_stream(dut, groups, *, idle, backpressure, rng, tag):
    """Stream each group's requests with its decay on the port, switching decay only when the
    unit is empty; return the results. Checks that the output is held under backpressure and
    nothing extra comes out."""
    got = []
    total = sum(len(g[1]) for g in groups)

    async def producer(ctx):
        sent = 0
        for decay, requests, _, _ in groups:
            while len(got) < sent:  # drain before the decay changes
                await ctx.tick()
            ctx.set(dut.decay, decay)
            for req in requests:
                await stream_put(ctx, dut.i, req, idle=rng.choice((0, 0, 1, 3)) if idle else 0)
            sent += len(requests)

    async def consumer(ctx):
        for _ in range(total):
            payload = await stream_get(ctx, dut.o,
                                       stall=rng.choice((0, 0, 1, 4)) if backpressure else 0)
            got.append((int(payload.trace), int(payload.clamped)))
        await expect_quiet(ctx, dut, tag)

    run(dut, producer, consumer, tag)
    return got


async def expect_quiet(ctx, dut, tag):
    for _ in range(dut.latency + 3):
        await ctx.tick()
        assert not ctx.get(dut.o.valid), f"{tag}: extra result (seed {SEED})"


def run(dut, producer, consumer, tag):
    monitor = hold_monitor(dut.o, f"{tag}: output changed under backpressure (seed {SEED})")

    run_simulation(dut, producer, consumer, background=[monitor])


# -- readouts ----------------------------------------------------------------------------------

def build_readout_case(name):
    """Requests, expected (y, err) and counter keys, and the golden counts."""
    cfg = CONFIGS[name]
    rng = random.Random(f"{SEED}-readout-{name}")
    steps, batch = READOUT_SIZES[name]
    n_out, n_rec = cfg.n_out, cfg.n_rec
    w_lo, w_hi = -(1 << (cfg.w_bits - 1)), (1 << (cfg.w_bits - 1)) - 1
    y_lo, y_hi = -(1 << (cfg.y_bits - 1)), (1 << (cfg.y_bits - 1)) - 1
    err_hi = (1 << (cfg.err_bits - 1)) - 1
    requests, expected, keys, counts = [], [], [], []
    for k in range(steps):
        t = 1 + k * 7919 + rng.getrandbits(20)
        w_out = np.zeros((batch, n_out, n_rec), np.int64)
        z = np.zeros((batch, n_rec), np.int64)
        y = np.zeros((batch, n_out), np.int64)
        ystar = np.zeros((batch, n_out), np.int64)
        mask = np.zeros((batch, n_out), np.int64)
        for b in range(batch):
            density = 1.0 if k == 0 else rng.choice((0.1, 0.3, 0.6, 1.0))
            z[b] = [rng.random() < density for _ in range(n_rec)]
            for o in range(n_out):
                kind = rng.random()
                if kind < 0.15 or k == 0:  # an extreme row: with every spike, drive at a bound
                    w_out[b, o] = rng.choice((w_lo, w_hi))
                elif kind < 0.55:        # small weights: y stays near where it starts
                    w_out[b, o] = [rng.randint(w_lo // 8, w_hi // 8) for _ in range(n_rec)]
                else:
                    w_out[b, o] = [rng.randint(w_lo, w_hi) for _ in range(n_rec)]
                y[b, o] = mixture(rng, y_lo, y_hi, near=(0, y_lo, y_hi), spread=err_hi)
                ystar[b, o] = mixture(rng, y_lo, y_hi, near=(int(y[b, o]), y_lo, y_hi),
                                      spread=2 * err_hi)
                mask[b, o] = rng.random() < 0.7
        new_y, err = y.copy(), np.zeros_like(y)
        gcounts = np.zeros((batch, len(kernels.COUNTER_NAMES)), np.int64)
        kernels.readout_phase(w_out, z, new_y, ystar, mask, err, golden_params(cfg, t),
                              gcounts, kernels.MODE_MARKERS[cfg.rounding])
        drive = np.einsum("bkj,bj->bk", w_out, z)
        r_y = rand_words(cfg, t, SITE_Y, np.arange(n_out), 0)
        for b in range(batch):
            row = len(counts)
            counts.append(gcounts[b])
            for o in range(n_out):
                d = int(drive[b, o])
                assert d == sum(int(w_out[b, o, j]) for j in range(n_rec) if z[b, j])
                requests.append({"y": int(y[b, o]), "drive": d, "ystar": int(ystar[b, o]),
                                 "mask": int(mask[b, o]), "rand": r_y[o]})
                expected.append((int(new_y[b, o]), int(err[b, o])))
                keys.append(row)
    return cfg, requests, expected, keys, np.array(counts)


def run_readout_stream(dut, requests, *, idle, backpressure, rng, tag):
    got = []

    async def producer(ctx):
        ctx.set(dut.kappa, dut.cfg.kappa)
        for req in requests:
            await stream_put(ctx, dut.i, req, idle=rng.choice((0, 0, 1, 3)) if idle else 0)

    async def consumer(ctx):
        for _ in requests:
            payload = await stream_get(ctx, dut.o,
                                       stall=rng.choice((0, 0, 1, 4)) if backpressure else 0)
            got.append({f: int(getattr(payload, f)) for f in ("y", "err", "sat_y", "sat_err")})
        await expect_quiet(ctx, dut, tag)

    run(dut, producer, consumer, tag)
    return got


_CASES = {}


def case(kind, name):
    if (kind, name) not in _CASES:
        build = build_trace_case if kind == "trace" else build_readout_case
        _CASES[kind, name] = build(name)
    return _CASES[kind, name]


MATRIX = [pytest.mark.parametrize("backpressure", [False, True], ids=["no_bp", "random_bp"]),
          pytest.mark.parametrize("idle", [False, True], ids=["no_idle", "random_idle"]),
          pytest.mark.parametrize("name", list(CONFIGS))]


def matrix(test):
    for mark in MATRIX:
        test = mark(test)
    return test


@matrix
def test_trace_vs_golden(name, idle, backpressure):
    cfg, groups, counts = case("trace", name)
    tag = f"trace {name} idle={idle} bp={backpressure}"
    rng = random.Random(f"{SEED}-trace-{name}-{idle}-{backpressure}")
    got = run_trace_stream(TraceUnit(cfg), groups, idle=idle, backpressure=backpressure,
                           rng=rng, tag=tag)
    requests = [r for g in groups for r in g[1]]
    expected = [e for g in groups for e in g[2]]
    keys = [key for g in groups for key in g[3]]
    assert len(got) == len(requests)
    for n, ((trace, _), e) in enumerate(zip(got, expected)):
        assert trace == e, \
            f"{tag}: trace {n} request {requests[n]}: got {trace}, expected {e} (seed {SEED})"
    # Clamp counts per (step, core) and counter: sat_xbar, sat_zbar, sat_zout.
    clamps = Counter()
    for (_, clamped), key in zip(got, keys):
        clamps[key] += clamped
    for column in (kernels.C_XBAR, kernels.C_ZBAR, kernels.C_ZOUT):
        for row in range(len(counts)):
            assert clamps[row, column] == counts[row, column], \
                f"{tag}: {kernels.COUNTER_NAMES[column]} of core {row} (seed {SEED})"


@matrix
def test_readout_vs_golden(name, idle, backpressure):
    cfg, requests, expected, keys, counts = case("readout", name)
    tag = f"readout {name} idle={idle} bp={backpressure}"
    rng = random.Random(f"{SEED}-readout-{name}-{idle}-{backpressure}")
    got = run_readout_stream(ReadoutUnit(cfg), requests, idle=idle, backpressure=backpressure,
                             rng=rng, tag=tag)
    assert len(got) == len(requests)
    for n, (g, e) in enumerate(zip(got, expected)):
        assert (g["y"], g["err"]) == e, \
            f"{tag}: readout {n} request {requests[n]}: got {g}, expected {e} (seed {SEED})"
    sat_y, sat_err = Counter(), Counter()
    for g, row in zip(got, keys):
        sat_y[row] += g["sat_y"]
        sat_err[row] += g["sat_err"]
    for row in range(len(counts)):
        assert sat_y[row] == counts[row, kernels.C_Y], f"{tag}: sat_y of core {row}"
        assert sat_err[row] == counts[row, kernels.C_ERR], f"{tag}: sat_err of core {row}"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_stimulus_coverage(name):
    # Every clamp the configuration can reach is reached, and none that it cannot.
    cfg, groups, trace_counts = case("trace", name)
    _, requests, expected, _, readout_counts = case("readout", name)
    counts = np.concatenate([trace_counts.sum(axis=0, keepdims=True),
                             readout_counts.sum(axis=0, keepdims=True)]).sum(axis=0)
    for column, can in reachable(cfg).items():
        assert (counts[column] > 0) == can, \
            f"{kernels.COUNTER_NAMES[column]}: {counts[column]} clamps, reachable: {can}"
    hi = (1 << cfg.trace_bits) - 1
    traces = [r for g in groups for r in g[1]]
    assert any(r["trace"] == hi and r["spike"] for r in traces)
    assert any(r["trace"] == 0 and not r["spike"] for r in traces)
    # The drive at both of its bounds, and masked errors that would have clamped.
    bound = cfg.n_rec << (cfg.w_bits - 1)
    assert any(r["drive"] == -bound for r in requests), "drive never at its lower bound"
    assert any(r["drive"] == bound - cfg.n_rec for r in requests), "drive never at its top"
    err_lo, err_hi = -(1 << (cfg.err_bits - 1)), (1 << (cfg.err_bits - 1)) - 1
    masked = [not r["mask"] and not err_lo <= e[0] - r["ystar"] <= err_hi
              for r, e in zip(requests, expected)]
    assert any(masked) == (cfg.err_bits <= cfg.y_bits), "no masked error beyond the range"
    assert any(r["mask"] for r in requests) and not all(r["mask"] for r in requests)


# -- latency, throughput, backpressure ---------------------------------------------------------

def unit_case(kind):
    """A unit of ``kind`` for ``narrow``, a setter of its runtime port, requests, expected."""
    if kind == "trace":
        cfg, groups, _ = case("trace", "narrow")
        decay, requests, expected, _ = groups[0]
        dut = TraceUnit(cfg)
        return dut, (lambda ctx: ctx.set(dut.decay, decay)), requests, expected, "trace"
    cfg, requests, expected, _, _ = case("readout", "narrow")
    dut = ReadoutUnit(cfg)
    return (dut, (lambda ctx: ctx.set(dut.kappa, cfg.kappa)), requests,
            [e[0] for e in expected], "y")


@pytest.mark.parametrize("kind", ["trace", "readout"])
def test_latency_and_throughput(kind):
    dut, setup, requests, expected, field = unit_case(kind)
    assert dut.latency == 2
    n = 24
    out = []

    async def testbench(ctx):
        setup(ctx)
        ctx.set(dut.o.ready, 1)
        for cycle in range(n + dut.latency + 3):
            # One new request every cycle; the input never stalls without backpressure.
            ctx.set(dut.i.valid, cycle < n)
            ctx.set(dut.i.payload, requests[min(cycle, n - 1)])
            if cycle < n:
                assert ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                out.append((cycle, int(getattr(ctx.get(dut.o.payload), field))))
            await ctx.tick()

    run_simulation(dut, testbench)
    # Request k transfers in cycle k and is presented in cycle k + latency.
    assert out == [(k + dut.latency, expected[k]) for k in range(n)]


@pytest.mark.parametrize("kind", ["trace", "readout"])
def test_fills_under_backpressure(kind):
    # With o.ready low the unit takes `latency` requests, then holds them.
    dut, setup, requests, expected, field = unit_case(kind)

    async def testbench(ctx):
        setup(ctx)
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


def test_layouts():
    cfg = CONFIGS["tiny"]
    assert list(dict(trace_in_layout(cfg))) == ["trace", "spike", "rand"]
    assert list(dict(trace_out_layout(cfg))) == ["trace", "clamped"]
    for layout in (trace_in_layout(cfg), trace_out_layout(cfg)):
        shape = layout["trace"].shape
        assert shape.width == cfg.trace_bits and not shape.signed
    assert readout_drive_width(cfg) == 11  # [-768, 768]
    assert readout_drive_width(preset("cue")) == 15  # [-12800, 12800]
    fields_in = dict(readout_in_layout(cfg))
    assert list(fields_in) == ["y", "drive", "ystar", "mask", "rand"]
    assert fields_in["drive"].shape.width == 11 and fields_in["drive"].shape.signed
    assert fields_in["y"].shape.width == fields_in["ystar"].shape.width == cfg.y_bits
    fields_out = dict(readout_out_layout(CONFIGS["narrow"]))
    assert list(fields_out) == ["y", "err", "sat_y", "sat_err"]
    assert fields_out["err"].shape.width == 6 and fields_out["err"].shape.signed
    assert TraceUnit(cfg).decay.shape().width == cfg.decay_bits
    assert ReadoutUnit(cfg).kappa.shape().width == cfg.decay_bits


def test_converts_to_verilog():
    for unit, name in ((TraceUnit, "trace"), (ReadoutUnit, "readout")):
        text = verilog.convert(unit(CONFIGS["stochastic"]), name=name, emit_src=False)
        assert f"module {name}(" in text and "src =" not in text


# -- parameter validation --------------------------------------------------------------------

def raises(exc, message):
    return pytest.raises(exc, match=f"^{re.escape(message)}$")


@pytest.mark.parametrize("build", [TraceUnit, ReadoutUnit, trace_in_layout, trace_out_layout,
                                   readout_drive_width, readout_in_layout, readout_out_layout])
def test_init_wrong_cfg(build):
    for value in (None, "tiny", {"n_in": 4}):
        with raises(TypeError, f"Configuration must be an eligo.config.Config, not {value!r}"):
            build(value)
