# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of rtl/random.py (Threefry2x32, RandomSource) and rtl/arith.py
(RoundShift, Saturate against the golden model's kernels, docs/spec.md 1.1 and 1.2;
times_const and times_small against Python's products; at_most and at_least against Python's
comparisons, with below and within on top).

Random stimuli come from ``random.Random(SEED)``; every failure message carries the seed and
the failing inputs.
"""

import random
import re
from collections import deque

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal, signed, unsigned

from eligo.model import kernels
from eligo.rtl.arith import (ROUND_MODES, RoundShift, Saturate, at_least, at_most, below,
                              row_major, times_const, times_small, within)
from eligo.rtl.random import (ROUNDS_PER_STAGE, RandomSource, Threefry2x32, rand64_layout,
                              stream_get, stream_put, threefry_layout)
from eligo.rtl.stream_util import hold_monitor, run_simulation

SEED = 20240611
M32 = (1 << 32) - 1
M64 = (1 << 64) - 1

KAT = [  # spec 1.2: (key0, key1, ctr0, ctr1) -> (x0, x1)
    ((0x13198A2E, 0x03707344, 0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
    ((0, 0, 0, 0), (0x6B200159, 0x99BA4EFE)),
]


def model_rand64(seed, t, site, row, col):
    """The golden model's rand64 as unsigned 64-bit Python ints (it returns a wrapped int64)."""
    args = [np.asarray(v, dtype=np.int64) for v in (seed, t, site, row, col)]
    return [int(v) for v in np.atleast_1d(kernels.rand64_ufunc(*args).view(np.uint64))]


def model_threefry(requests):
    """Model results for (key0, key1, ctr0, ctr1) tuples."""
    k0, k1, c0, c1 = (np.array(col, dtype=np.int64) for col in zip(*requests))
    return model_rand64(k0, c0, k1, c1 >> 16, c1 & 0xFFFF)


def random_requests(rng, n):
    """``n`` random Threefry requests, starting with corner cases."""
    corners = [(0, 0, 0, 0), (M32, M32, M32, M32), (M32, 0, M32, 0), (0, M32, 0, M32),
               (1, 2, 3, 4), (0x80000000, 0x80000000, 0x80000000, 0x80000000)]
    return corners + [tuple(rng.getrandbits(32) for _ in range(4))
                      for _ in range(n - len(corners))]


def stream_scoreboard(dut, payloads, expected, *, idle, backpressure, rng, tag):
    """Push ``payloads`` into ``dut.i`` and check that ``dut.o`` gives ``expected``: in
    order, exactly once each, nothing more, and with ``o.payload``/``o.valid`` held while
    back-pressured. ``idle``/``backpressure`` insert random gaps on either side."""
    assert len(payloads) == len(expected)
    got = []
    pending = deque(expected)

    async def producer(ctx):
        for p in payloads:
            await stream_put(ctx, dut.i, p, idle=rng.choice((0, 0, 1, 3)) if idle else 0)

    async def consumer(ctx):
        for _ in expected:
            value = await stream_get(ctx, dut.o,
                                     stall=rng.choice((0, 0, 1, 4)) if backpressure else 0)
            want = pending.popleft()
            assert value == want, (f"{tag}: result {len(got)} is {value:#018x}, expected "
                                   f"{want:#018x} (seed {SEED})")
            got.append(value)
        # Nothing more comes out.
        for _ in range(dut.latency + 3):
            await ctx.tick()
            assert not ctx.get(dut.o.valid), f"{tag}: extra result (seed {SEED})"

    monitor = hold_monitor(dut.o, f"{tag}: output changed under backpressure (seed {SEED})")

    run_simulation(dut, producer, consumer, background=[monitor])
    assert len(got) == len(expected) and not pending


# -- Threefry2x32 ----------------------------------------------------------------------------

def test_threefry_model_known_answers():
    got = model_threefry([req for req, _ in KAT])
    assert got == [x1 << 32 | x0 for _, (x0, x1) in KAT]


@pytest.mark.parametrize("rounds_per_stage", ROUNDS_PER_STAGE)
def test_threefry_known_answers(rounds_per_stage):
    dut = Threefry2x32(rounds_per_stage)
    payloads = [dict(zip(("key0", "key1", "ctr0", "ctr1"), req)) for req, _ in KAT]
    expected = [x1 << 32 | x0 for _, (x0, x1) in KAT]
    stream_scoreboard(dut, payloads, expected, idle=False, backpressure=False,
                      rng=random.Random(SEED), tag=f"rps={rounds_per_stage}")


@pytest.mark.parametrize("backpressure", [False, True], ids=["no_bp", "random_bp"])
@pytest.mark.parametrize("idle", [False, True], ids=["no_idle", "random_idle"])
@pytest.mark.parametrize("rounds_per_stage", [4, 20, 2])
def test_threefry_random_vs_model(rounds_per_stage, idle, backpressure):
    rng = random.Random(f"{SEED}-{rounds_per_stage}-{idle}-{backpressure}")
    requests = random_requests(rng, 200)
    payloads = [dict(zip(("key0", "key1", "ctr0", "ctr1"), req)) for req in requests]
    stream_scoreboard(Threefry2x32(rounds_per_stage), payloads, model_threefry(requests),
                      idle=idle, backpressure=backpressure, rng=rng,
                      tag=f"rps={rounds_per_stage} idle={idle} bp={backpressure}")


@pytest.mark.parametrize("rounds_per_stage", [4, 20, 2])
def test_threefry_latency_and_throughput(rounds_per_stage):
    dut = Threefry2x32(rounds_per_stage)
    assert dut.latency == dut.stages == 20 // rounds_per_stage
    n = 16
    out_cycles = []

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        for cycle in range(n + dut.latency + 4):
            # One new request every cycle; the input never stalls without backpressure.
            ctx.set(dut.i.valid, cycle < n)
            ctx.set(dut.i.payload, {"key0": 0, "key1": 0, "ctr0": cycle, "ctr1": 0})
            if cycle < n:
                assert ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                out_cycles.append(cycle)
            await ctx.tick()

    run_simulation(dut, testbench)
    # Request k transfers in cycle k and is presented in cycle k + latency.
    assert out_cycles == [k + dut.latency for k in range(n)]


@pytest.mark.parametrize("rounds_per_stage", [4, 20, 2])
def test_threefry_fills_under_backpressure(rounds_per_stage):
    # With o.ready low the pipeline still takes requests until the first one reaches the
    # output (latency requests), then holds: it stalls only when its output is held.
    dut = Threefry2x32(rounds_per_stage)
    requests = [(k, 0, k, 0) for k in range(dut.latency + 2)]
    expected = model_threefry(requests)

    async def testbench(ctx):
        ctx.set(dut.o.ready, 0)
        accepted = 0
        for cycle in range(dut.latency + 4):
            k0, k1, c0, c1 = requests[min(accepted, len(requests) - 1)]
            ctx.set(dut.i.payload, {"key0": k0, "key1": k1, "ctr0": c0, "ctr1": c1})
            ctx.set(dut.i.valid, 1)
            *_, ready = await ctx.tick().sample(dut.i.ready)
            accepted += ready
        ctx.set(dut.i.valid, 0)
        assert accepted == dut.latency
        assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload) == expected[0]
        got = [await stream_get(ctx, dut.o) for _ in range(accepted)]
        assert got == expected[:accepted]

    run_simulation(dut, testbench)


def test_threefry_converts_to_verilog():
    text = verilog.convert(Threefry2x32(4), name="threefry", emit_src=False)
    assert "module threefry(" in text and "src =" not in text


# -- RandomSource ----------------------------------------------------------------------------

def test_rand64_layout_is_bitwise_the_threefry_request():
    rng = random.Random(SEED)
    for _ in range(20):
        seed, site, t = (rng.getrandbits(32) for _ in range(3))
        row, col = rng.getrandbits(16), rng.getrandbits(16)
        a = rand64_layout().const({"seed": seed, "site": site, "t": t, "row": row, "col": col})
        b = threefry_layout().const({"key0": seed, "key1": site, "ctr0": t,
                                     "ctr1": row << 16 | col})
        assert a.as_bits() == b.as_bits()


@pytest.mark.parametrize("rounds_per_stage", [4, 20])
def test_random_source_vs_model(rounds_per_stage):
    rng = random.Random(f"{SEED}-rs-{rounds_per_stage}")
    fields = [(0x13198A2E, 0x03707344, 0x243F6A88, 0x85A3, 0x08D3),  # the spec's vector
              (M32, M32, M32, 0xFFFF, 0xFFFF), (0, 0, 0, 0xFFFF, 0), (0, 0, 0, 0, 0xFFFF)]
    fields += [(rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32),
                rng.getrandbits(16), rng.getrandbits(16)) for _ in range(100)]
    payloads = [dict(zip(("seed", "site", "t", "row", "col"), f)) for f in fields]
    seed, site, t, row, col = (np.array(c, dtype=np.int64) for c in zip(*fields))
    expected = model_rand64(seed, t, site, row, col)
    assert expected[0] == 0x483DF7A0C4923A9C
    dut = RandomSource(rounds_per_stage)
    assert dut.latency == 20 // rounds_per_stage
    stream_scoreboard(dut, payloads, expected, idle=True, backpressure=True, rng=rng,
                      tag=f"RandomSource rps={rounds_per_stage}")


# -- RoundShift ------------------------------------------------------------------------------

def test_round_modes_match_the_model():
    assert ROUND_MODES == tuple(sorted(kernels.ROUND_MODES, key=kernels.ROUND_MODES.get))


def reference_round_shift(x, s, mode, r):
    """Spec 1.1 in Python integers (arbitrary precision, floor ``>>``)."""
    if mode == "zero":
        return -((-x) >> s) if x < 0 else x >> s
    if mode == "floor":
        return x >> s
    return (x + (r & ((1 << s) - 1))) >> s


def test_round_shift_exhaustive_small():
    # Every x of widths 2..7, shifts 1..9 (shift >= width included), every low-bit pattern
    # of rand: checks the results and that the output width holds them.
    m = Module()
    duts = []
    for mode in ROUND_MODES:
        for width in range(2, 8):
            for shift in range(1, 10):
                dut = RoundShift(width, shift, mode)
                m.submodules[f"{mode}_{width}_{shift}"] = dut
                duts.append(dut)

    async def testbench(ctx):
        for dut in duts:
            w, s = dut.width, dut.shift
            results = set()
            rands = range(1 << min(s, 4)) if dut.mode == "stochastic" else [0]
            if dut.mode == "stochastic" and s > 4:
                rands = [0, 1, (1 << s) - 1, (1 << s) - 2, 1 << (s - 1), M64]
            for x in range(-(1 << (w - 1)), 1 << (w - 1)):
                for r in rands:
                    ctx.set(dut.x, x)
                    ctx.set(dut.rand, r)
                    want = reference_round_shift(x, s, dut.mode, r)
                    assert ctx.get(dut.o) == want, (dut.mode, w, s, x, r)
                    results.add(want)
            # The stated output width is the narrowest that holds every result.
            o_width = dut.out_width
            assert dut.o.shape() == signed(o_width)
            fits = [signed(k) for k in range(1, o_width + 1)
                    if all(-(1 << (k - 1)) <= v < (1 << (k - 1)) for v in results)]
            assert fits[0].width == o_width, (dut.mode, w, s, sorted(results))

    run_simulation(m, testbench)


def x_samples(rng, width, n):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    xs = [lo, lo + 1, -1, 0, 1, hi - 1, hi]
    return xs + [rng.randint(lo, hi) for _ in range(n - len(xs))]


@pytest.mark.parametrize("mode", ROUND_MODES)
def test_round_shift_vs_model(mode):
    rng = random.Random(f"{SEED}-rs-{mode}")
    code = kernels.ROUND_MODES[mode]
    configs = [(8, 1), (8, 3), (8, 7), (16, 5), (24, 12), (32, 16), (40, 1), (48, 30),
               (62, 20), (62, 62), (63, 1), (63, 17), (63, 62), (64, 5), (64, 62), (12, 20)]
    m = Module()
    cases = []
    for width, shift in configs:
        dut = RoundShift(width, shift, mode)
        m.submodules[f"w{width}_s{shift}"] = dut
        n = 60
        xs = np.array(x_samples(rng, width, n), dtype=np.int64)
        if width == 64:  # the model (int64) adds up to 2**s - 1 before shifting
            xs = np.minimum(xs, (1 << 63) - (1 << shift))
        site = np.array([rng.randint(1, 14) for _ in range(n)], dtype=np.int64)
        seed = np.array([rng.getrandbits(32) for _ in range(n)], dtype=np.int64)
        t = np.array([rng.getrandbits(20) for _ in range(n)], dtype=np.int64)
        row = np.array([rng.getrandbits(10) for _ in range(n)], dtype=np.int64)
        col = np.array([rng.getrandbits(10) for _ in range(n)], dtype=np.int64)
        want = kernels.round_shift(xs, np.int64(shift), np.int64(code), seed, t, site, row, col)
        rand = model_rand64(seed, t, site, row, col)
        cases.append((dut, [int(v) for v in xs], rand, [int(v) for v in want]))

    async def testbench(ctx):
        for dut, xs, rands, wants in cases:
            for x, r, want in zip(xs, rands, wants):
                ctx.set(dut.x, x)
                ctx.set(dut.rand, r)
                assert ctx.get(dut.o) == want, \
                    (f"{mode} width={dut.width} shift={dut.shift} x={x} rand={r:#x}: "
                     f"{ctx.get(dut.o)} != {want} (seed {SEED})")

    run_simulation(m, testbench)


def test_round_shift_registered():
    dut = RoundShift(16, 4, "stochastic", registered=True)
    assert dut.latency == 1 and RoundShift(16, 4, "zero").latency == 0
    rng = random.Random(SEED)
    stimuli = [(rng.randint(-(1 << 15), (1 << 15) - 1), rng.getrandbits(64)) for _ in range(50)]

    async def testbench(ctx):
        held = 0  # the register's reset value
        for x, r in stimuli:
            ctx.set(dut.x, x)
            ctx.set(dut.rand, r)
            assert ctx.get(dut.o) == held  # registered: no change before the edge
            await ctx.tick()
            held = reference_round_shift(x, 4, "stochastic", r)
            assert ctx.get(dut.o) == held, (x, r)

    run_simulation(dut, testbench)


# -- Saturate --------------------------------------------------------------------------------

def reference_saturate(x, out_width, is_signed):
    lo, hi = ((-(1 << (out_width - 1)), (1 << (out_width - 1)) - 1) if is_signed
              else (0, (1 << out_width) - 1))
    y = min(max(x, lo), hi)
    return y, int(y != x)


def check_saturate(cases):
    """``cases``: (dut, xs) pairs, all in one simulation."""
    m = Module()
    for k, (dut, _) in enumerate(cases):
        m.submodules[f"sat{k}"] = dut

    async def testbench(ctx):
        for dut, xs in cases:
            for x in xs:
                ctx.set(dut.i, x)
                want = reference_saturate(x, dut.out_width, dut.signed)
                got = (ctx.get(dut.o), ctx.get(dut.clamped))
                assert got == want, (dut.in_width, dut.out_width, dut.signed, x, got, want)

    run_simulation(m, testbench)


def test_saturate_exhaustive_small():
    cases = []
    for is_signed in (True, False):
        for in_width in range(1, 7):
            for out_width in range(1, 8):
                xs = range(-(1 << (in_width - 1)), 1 << (in_width - 1))
                cases.append((Saturate(in_width, out_width, signed=is_signed), xs))
    check_saturate(cases)


def test_saturate_random_wide():
    rng = random.Random(f"{SEED}-sat")
    cases = []
    for is_signed in (True, False):
        for in_width, out_width in [(40, 16), (63, 32), (64, 63), (64, 64), (100, 62),
                                    (33, 1), (20, 40)]:
            lo, hi = -(1 << (in_width - 1)), (1 << (in_width - 1)) - 1
            xs = x_samples(rng, in_width, 150)
            # Values just around the bounds of the output range.
            for bound in (-(1 << (out_width - 1)), (1 << (out_width - 1)) - 1,
                          (1 << out_width) - 1):
                xs += [v for v in (bound - 1, bound, bound + 1) if lo <= v <= hi]
            xs += [rng.randint(-(2 << out_width), 2 << out_width) for _ in range(50)]
            xs = [x for x in xs if lo <= x <= hi]
            cases.append((Saturate(in_width, out_width, signed=is_signed), xs))
    check_saturate(cases)


def test_saturate_shapes():
    s = Saturate(10, 4, signed=True)
    assert (s.i.shape(), s.o.shape(), s.bounds) == (signed(10), signed(4), (-8, 7))
    u = Saturate(10, 4, signed=False)
    assert (u.o.shape().signed, u.o.shape().width, u.bounds) == (False, 4, (0, 15))


# -- parameter validation --------------------------------------------------------------------

def raises(exc, message):
    return pytest.raises(exc, match=f"^{re.escape(message)}$")


@pytest.mark.parametrize("cls", [Threefry2x32, RandomSource])
def test_init_wrong_rounds_per_stage(cls):
    with raises(TypeError, "Rounds per stage must be an integer, not '4'"):
        cls("4")
    with raises(TypeError, "Rounds per stage must be an integer, not True"):
        cls(True)
    for value in (3, 0, -4, 40):
        with raises(ValueError,
                    f"Rounds per stage must be one of 1, 2, 4, 5, 10, 20, not {value}"):
            cls(value)


def test_round_shift_init_wrong_width():
    with raises(TypeError, "Width must be an integer, not 8.0"):
        RoundShift(8.0, 2, "zero")
    for value in (1, 0, -1, 65):
        with raises(ValueError, f"Width must be between 2 and 64, not {value}"):
            RoundShift(value, 2, "zero")


def test_round_shift_init_wrong_shift():
    with raises(TypeError, "Shift must be an integer, not None"):
        RoundShift(8, None, "zero")
    for value in (0, -3, 63):
        with raises(ValueError, f"Shift must be between 1 and 62, not {value}"):
            RoundShift(8, value, "zero")


def test_round_shift_init_wrong_mode():
    for value in ("round", "Zero", 0, None):
        with raises(ValueError,
                    f"Mode must be one of 'zero', 'floor', 'stochastic', not {value!r}"):
            RoundShift(8, 2, value)


def test_round_shift_init_wrong_registered():
    with raises(TypeError, "Registered must be a bool, not 1"):
        RoundShift(8, 2, "zero", registered=1)


def test_saturate_init_wrong_in_width():
    with raises(TypeError, "Input width must be an integer, not '8'"):
        Saturate("8", 4, signed=True)
    for value in (0, -2):
        with raises(ValueError, f"Input width must be a positive integer, not {value}"):
            Saturate(value, 4, signed=True)


def test_saturate_init_wrong_out_width():
    with raises(TypeError, "Output width must be an integer, not 4.5"):
        Saturate(8, 4.5, signed=False)
    for value in (0, -2):
        with raises(ValueError, f"Output width must be a positive integer, not {value}"):
            Saturate(8, value, signed=False)


def test_saturate_init_wrong_signed():
    with raises(TypeError, "Signed must be a bool, not 'yes'"):
        Saturate(8, 4, signed="yes")


CONSTANTS = list(range(41)) + [48, 63, 64, 140, 255, 512, 1000]


def test_times_const_exhaustive_small():
    # Every unsigned x of widths 1..6 times every constant of CONSTANTS, exact.
    m = Module()
    cases = []
    for width in range(1, 7):
        x = Signal(unsigned(width), name=f"x{width}")
        outs = []
        for k in CONSTANTS:
            out = Signal(unsigned(width + 10), name=f"p{width}_{k}")
            m.d.comb += out.eq(times_const(x, k))
            outs.append((k, out))
        cases.append((x, outs))

    async def testbench(ctx):
        for x, outs in cases:
            for value in range(1 << len(x)):
                ctx.set(x, value)
                for k, out in outs:
                    assert ctx.get(out) == value * k, (len(x), value, k)

    run_simulation(m, testbench)


def test_constant_comparisons_exhaustive_small():
    # Every value of small signed and unsigned shapes against every bound from below the
    # shape's range to above it (the bounds that reduce to constants included).
    m = Module()
    cases = []
    for shape in (unsigned(1), unsigned(3), unsigned(6), signed(1), signed(2), signed(4),
                  signed(6)):
        x = Signal(shape, name=f"x_{'s' if shape.signed else 'u'}{shape.width}")
        low = -(1 << (shape.width - 1)) if shape.signed else 0
        high = (1 << (shape.width - shape.signed)) - 1
        outs = []
        for bound in range(low - 3, high + 4):
            le, ge, lt, span = Signal(), Signal(), Signal(), Signal()
            m.d.comb += [le.eq(at_most(x, bound)), ge.eq(at_least(x, bound)),
                         lt.eq(below(x, bound)), span.eq(within(x, bound, bound + 2))]
            outs.append((bound, le, ge, lt, span))
        cases.append((x, low, high, outs))

    async def testbench(ctx):
        for x, low, high, outs in cases:
            for value in range(low, high + 1):
                ctx.set(x, value)
                for bound, le, ge, lt, span in outs:
                    assert ctx.get(le) == (value <= bound), (x.shape(), value, bound)
                    assert ctx.get(ge) == (value >= bound), (x.shape(), value, bound)
                    assert ctx.get(lt) == (value < bound), (x.shape(), value, bound)
                    assert ctx.get(span) == (bound <= value <= bound + 2), (
                        x.shape(), value, bound)

    run_simulation(m, testbench)


def test_constant_comparisons_bad_bound():
    with pytest.raises(TypeError, match="bound must be an integer, not 1.5"):
        at_most(Signal(4), 1.5)
    with pytest.raises(TypeError, match="bound must be an integer, not True"):
        at_least(Signal(4), True)


def test_times_const_of_an_int_and_bad_arguments():
    assert times_const(7, 140) == 980
    with pytest.raises(ValueError, match="k must be a non-negative integer, not -1"):
        times_const(Signal(4), -1)
    with pytest.raises(ValueError, match="k must be a non-negative integer, not True"):
        times_const(Signal(4), True)
    with pytest.raises(TypeError, match="x must be unsigned"):
        times_const(Signal(signed(4)), 3)


def test_row_major_exhaustive_small():
    # row * stride + col for every row of 4 bits and every col < stride, strides 1..9 (powers
    # of two take the concatenation, the others the adder), col wider than it needs to be.
    m = Module()
    row = Signal(4)
    cases = []
    for stride in range(1, 10):
        col = Signal(5, name=f"col{stride}")
        out = Signal(10, name=f"addr{stride}")
        m.d.comb += out.eq(row_major(row, stride, col))
        cases.append((stride, col, out))

    async def testbench(ctx):
        for r in range(16):
            ctx.set(row, r)
            for stride, col, out in cases:
                for c in range(stride):
                    ctx.set(col, c)
                    assert ctx.get(out) == r * stride + c, (stride, r, c)

    run_simulation(m, testbench)
    with pytest.raises(ValueError, match="stride must be a positive integer, not 0"):
        row_major(row, 0, Signal(2))


def test_times_small_exhaustive_small():
    # Every x (signed and unsigned, widths 1..4) times every q in [-bound, bound], q as wide
    # as the trigger makes it (bound.bit_length() + 1 signed bits), wider, or narrower (then
    # every value it holds), and every unsigned magnitude q in [0, bound]
    # (bound.bit_length() bits, or wider), for bounds 1..7.
    m = Module()
    cases = []
    for is_signed in (False, True):
        for width in range(1, 5):
            x = Signal(signed(width) if is_signed else unsigned(width),
                       name=f"x{'s' if is_signed else 'u'}{width}")
            for bound in range(1, 8):
                bits = bound.bit_length()
                for q_shape in (signed(bits + 1), signed(bits + 3), signed(2), unsigned(bits),
                                unsigned(bits + 2)):
                    q = Signal(q_shape, name=f"q{len(cases)}")
                    out = Signal(signed(width + 5), name=f"p{len(cases)}")
                    m.d.comb += out.eq(times_small(x, q, bound))
                    cases.append((x, q, bound, out))

    async def testbench(ctx):
        for x, q, bound, out in cases:
            low, high = (-(1 << (len(x) - 1)), 1 << (len(x) - 1)) if x.shape().signed \
                else (0, 1 << len(x))
            q_low, q_high = (-(1 << (len(q) - 1)), (1 << (len(q) - 1)) - 1) \
                if q.shape().signed else (0, (1 << len(q)) - 1)
            q_values = range(max(q_low, -bound), min(q_high, bound) + 1)
            for xv in range(low, high):
                ctx.set(x, xv)
                for qv in q_values:
                    ctx.set(q, qv)
                    assert ctx.get(out) == xv * qv, (x.name, q.shape(), bound, xv, qv)

    run_simulation(m, testbench)


def test_times_small_bad_arguments():
    with pytest.raises(ValueError, match="bound must be a positive integer, not 0"):
        times_small(Signal(4), Signal(signed(2)), 0)
