# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of rtl/synapse.py (AlifFactor, SynapseUnit, EligibilityUnit)
against the golden model's ``kernels.sweep_full`` (docs/spec.md 3, phase 1's eps_a and
phase 2's e and ebar) and ``kernels.eligibility_rows`` (factored mode's e).

Random stimuli come from ``random.Random`` seeded from SEED and the test's parameters; every
failure message carries the seed and the failing synapse.
"""

import random
import re

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, signed, unsigned

from eligo.config import Config, preset
from eligo.model import kernels
from eligo.rtl.synapse import (AlifFactor, EligibilityUnit, SynapseUnit, alif_factor_range,
                               eligibility_in_layout, eligibility_out_layout, signed_bits,
                               synapse_in_layout, synapse_out_layout, synapse_ranges)
from eligo.rtl.stream_util import hold_monitor, run_simulation, stream_get, stream_put

SEED = 20240612

# A narrow configuration: small formats so that eps, e and ebar all saturate often, and
# g_shift = 4 + 6 - 12 = -2 (an exact left shift in G).
NARROW = dict(psi_bits=4, v_bits=10, v_frac=6, w_frac=6, theta=64, beta=200, gamma=15,
              eps_bits=6, e_bits=5, e_frac=4, trace_bits=6, trace_frac=3, decay_bits=12,
              alpha=3500, rho=3900, kappa=3000, trigger=1024, trigger_out=1024)

CONFIGS = {
    "tiny": lambda: preset("tiny"),
    # cue's formats (decay_bits 16, g_shift 4) with fewer neurons, to keep the simulation short
    "cue": lambda: preset("cue", n_in=8, n_rec=12, n_alif=6),
    "tiny_stochastic": lambda: preset("tiny", rounding="stochastic", seed=0xDEADBEEF),
    "narrow_floor": lambda: Config(rounding="floor", **NARROW),
    # g_shift = 4 + 6 - 10 = 0
    "narrow_stochastic": lambda: Config(rounding="stochastic", seed=77,
                                        **dict(NARROW, decay_bits=10, rho=1000, kappa=900,
                                               alpha=950)),
    # e_shift = 16 + 7 + 12 - 38 = -3 (exact left shift) and an eps_a sum wider than 64 bits
    # (the inline rounding beyond RoundShift's range)
    "wide_stochastic": lambda: Config(psi_bits=16, gamma=60000, v_bits=32, eps_bits=32,
                                      e_bits=24, e_frac=38, rounding="stochastic", seed=5),
}

# The clamps that a configuration's own beta and rho can reach. In tiny's formats eps_a
# cannot saturate: G >= rho - (255 * beta >> 8) = 3056 (of 4096), so eps_a's largest fixed
# point is about (255 * 4095 >> 8) / (1 - 3056 / 4096) ~ 16000 < 2**15.
# The same holds for wide_stochastic (G >= 4076 - 1024, psi_old * pre_old >> 16 < 4096).
REACHABLE = {name: ("sat_e", "sat_ebar") if name.startswith(("tiny", "wide"))
             else ("sat_eps", "sat_e", "sat_ebar") for name in CONFIGS}

STEP = 11  # the step index t of the random words


def model_rand64(cfg, t, site, rows, cols):
    args = [np.asarray(v, dtype=np.int64) for v in (cfg.seed, t, site, rows, cols)]
    return kernels.rand64_ufunc(*args).view(np.uint64)


def pick(rng, lo, hi):
    """A value of [lo, hi], often one of its ends."""
    u = rng.random()
    if u < 0.15:
        return lo
    if u < 0.3:
        return hi
    return rng.randint(lo, hi)


def make_stimulus(cfg, rng):
    """Random state within its formats; some rows have psi == 0 (LIF and ALIF)."""
    n_rec, n_pre, n_alif = cfg.n_rec, cfg.n_pre, cfg.n_alif
    psi_hi, tr_hi = (1 << cfg.psi_bits) - 1, (1 << cfg.trace_bits) - 1
    eps_lo, eps_hi = -(1 << (cfg.eps_bits - 1)), (1 << (cfg.eps_bits - 1)) - 1
    e_lo, e_hi = -(1 << (cfg.e_bits - 1)), (1 << (cfg.e_bits - 1)) - 1
    psi = [pick(rng, 1, psi_hi) for _ in range(n_rec)]
    psi[0] = 0                      # a LIF row with psi == 0
    psi[n_rec - 1] = 0              # an ALIF row with psi == 0
    psi_old = [pick(rng, 0, psi_hi) for _ in range(n_rec)]
    pre = [pick(rng, 0, tr_hi) for _ in range(n_pre)]
    pre_old = [pick(rng, 0, tr_hi) for _ in range(n_pre)]
    eps = [[pick(rng, eps_lo, eps_hi) for _ in range(n_pre)] for _ in range(n_alif)]
    ebar = [[pick(rng, e_lo, e_hi) for _ in range(n_pre)] for _ in range(n_rec)]
    # The corner where eps_a saturates if it can: largest eps_a, psi_old and pre_old.
    alif0 = n_rec - n_alif
    psi_old[alif0], pre_old[-1], eps[0][-1] = psi_hi, tr_hi, eps_hi
    arr = lambda v: np.array([v], dtype=np.int64)
    return dict(psi=arr(psi), psi_old=arr(psi_old), pre=arr(pre), pre_old=arr(pre_old),
                eps=arr(eps), ebar=arr(ebar))


def run_golden(cfg, st, t):
    eps, ebar = st["eps"].copy(), st["ebar"].copy()
    p = kernels.pack_params(cfg)
    p[kernels.P_T] = t
    counts = np.zeros((1, len(kernels.COUNTER_NAMES)), dtype=np.int64)
    kernels.sweep_full(eps, ebar, st["psi_old"], st["pre_old"], st["psi"], st["pre"], p,
                       counts, kernels.MODE_MARKERS[cfg.rounding])
    return eps[0], ebar[0], counts[0]


def reference_g(cfg, psi_old, beta, rho, rand):
    """G of spec 3, phase 1 in Python integers."""
    x, s = psi_old * beta, cfg.g_shift
    if s <= 0:
        r = x << -s
    elif cfg.rounding == "floor":
        r = x >> s
    elif cfg.rounding == "zero":
        r = x >> s  # x >= 0
    else:
        r = (x + (rand & ((1 << s) - 1))) >> s
    return rho - r


def run_rtl(cfg, st, t, *, idle, backpressure, rng, tag, product_stages=True):
    """Stream every synapse (j, i) in row order through AlifFactor (per row) and
    SynapseUnit; returns eps (n_alif x n_pre), ebar (n_rec x n_pre) and the clamp counts."""
    n_rec, n_pre, alif0 = cfg.n_rec, cfg.n_pre, cfg.n_rec - cfg.n_alif
    rows, cols = np.meshgrid(np.arange(n_rec), np.arange(n_pre), indexing="ij")
    rand = {site: model_rand64(cfg, t, kernels.SITES[site], rows, cols)
            for site in ("EPS", "E", "EBAR")}
    rand_g = model_rand64(cfg, t, kernels.SITES["G"], np.arange(n_rec), 0)

    m = Module()
    m.submodules.alif = af = AlifFactor(cfg)
    m.submodules.syn = su = SynapseUnit(cfg, product_stages)
    eps_out = np.zeros((cfg.n_alif, n_pre), dtype=np.int64)
    ebar_out = np.zeros((n_rec, n_pre), dtype=np.int64)
    clamps = {"sat_eps": 0, "sat_e": 0, "sat_ebar": 0}

    async def producer(ctx):
        for port, value in ((af.beta, cfg.beta), (af.rho, cfg.rho), (su.beta, cfg.beta),
                            (su.kappa, cfg.kappa)):
            ctx.set(port, value)
        for j in range(n_rec):
            psi_old = int(st["psi_old"][0, j])
            ctx.set(af.psi_old, psi_old)
            ctx.set(af.rand_g, int(rand_g[j]))
            g = ctx.get(af.g)
            assert g == reference_g(cfg, psi_old, cfg.beta, cfg.rho, int(rand_g[j])), \
                f"{tag}: G of row {j} (seed {SEED})"
            alif = j >= alif0
            for i in range(n_pre):
                payload = {
                    "alif": int(alif), "psi": int(st["psi"][0, j]), "psi_old": psi_old,
                    "g": g, "pre": int(st["pre"][0, i]), "pre_old": int(st["pre_old"][0, i]),
                    "eps": int(st["eps"][0, j - alif0, i]) if alif else 0,
                    "ebar": int(st["ebar"][0, j, i]),
                    "rand_eps": int(rand["EPS"][j, i]), "rand_e": int(rand["E"][j, i]),
                    "rand_ebar": int(rand["EBAR"][j, i]),
                }
                await stream_put(ctx, su.i, payload,
                                 idle=rng.choice((0, 0, 1, 3)) if idle else 0)

    async def consumer(ctx):
        for j in range(n_rec):
            for i in range(n_pre):
                out = await stream_get(ctx, su.o,
                                       stall=rng.choice((0, 0, 1, 4)) if backpressure else 0)
                if j >= alif0:
                    eps_out[j - alif0, i] = out.eps
                else:
                    assert out.eps == 0 and out.sat_eps == 0, \
                        f"{tag}: LIF synapse ({j}, {i}) has eps {out.eps} (seed {SEED})"
                ebar_out[j, i] = out.ebar
                for name in clamps:
                    clamps[name] += getattr(out, name)
        for _ in range(su.latency + 3):
            await ctx.tick()
            assert not ctx.get(su.o.valid), f"{tag}: extra result (seed {SEED})"

    monitor = hold_monitor(su.o, f"{tag}: output changed under backpressure (seed {SEED})")

    run_simulation(m, producer, consumer, background=[monitor])
    return eps_out, ebar_out, clamps


# -- bit-exact against the golden model ------------------------------------------------------

@pytest.mark.parametrize("backpressure", [False, True], ids=["no_bp", "random_bp"])
@pytest.mark.parametrize("idle", [False, True], ids=["no_idle", "random_idle"])
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("product_stages", [True, False], ids=["products", "no_products"])
def test_synapse_vs_golden(name, idle, backpressure, product_stages):
    cfg = CONFIGS[name]()
    assert cfg.trace_mode == "full"
    rng = random.Random(f"{SEED}-{name}-{idle}-{backpressure}")
    st = make_stimulus(cfg, rng)
    want_eps, want_ebar, counts = run_golden(cfg, st, STEP)
    tag = f"{name} idle={idle} bp={backpressure} product_stages={product_stages}"
    eps, ebar, clamps = run_rtl(cfg, st, STEP, idle=idle, backpressure=backpressure,
                                rng=rng, tag=tag, product_stages=product_stages)
    for label, got, want in (("eps", eps, want_eps), ("ebar", ebar, want_ebar)):
        bad = np.argwhere(got != want)
        assert not bad.size, (f"{tag}: {label}{tuple(bad[0])} is {got[tuple(bad[0])]}, "
                              f"golden {want[tuple(bad[0])]} (seed {SEED})")
    golden = {"sat_eps": counts[kernels.C_EPS], "sat_e": counts[kernels.C_E],
              "sat_ebar": counts[kernels.C_EBAR]}
    assert clamps == golden, f"{tag}: clamp counts {clamps}, golden {golden} (seed {SEED})"
    # The stimulus reached every reachable clamp, and rows with psi == 0 and psi != 0 of
    # both kinds.
    assert all(clamps[c] > 0 for c in REACHABLE[name]), \
        f"{tag}: clamps not all reached: {clamps}"
    alif0 = cfg.n_rec - cfg.n_alif
    psi = st["psi"][0]
    assert (psi[:alif0] == 0).any() and (psi[:alif0] != 0).any()
    assert (psi[alif0:] == 0).any() and (psi[alif0:] != 0).any()


def test_configs_cover_the_shifts():
    cfgs = {name: make() for name, make in CONFIGS.items()}
    assert {c.rounding for c in cfgs.values()} == {"zero", "floor", "stochastic"}
    assert cfgs["narrow_floor"].g_shift < 0 and cfgs["narrow_stochastic"].g_shift == 0
    assert cfgs["wide_stochastic"].e_shift < 0
    assert synapse_ranges(cfgs["wide_stochastic"])["eps_sum"][1].bit_length() > 64


# -- EligibilityUnit (factored mode) ---------------------------------------------------------

def run_golden_eligibility(cfg, st, t):
    """``kernels.eligibility_rows`` over every row: e (n_rec x n_pre, diagonal 0) and the
    count of clamps."""
    p = kernels.pack_params(cfg)
    p[kernels.P_T] = t
    out = np.zeros((cfg.n_rec, cfg.n_pre), dtype=np.int64)
    counts = np.zeros((1, len(kernels.COUNTER_NAMES)), dtype=np.int64)
    kernels.eligibility_rows(np.zeros(cfg.n_rec, dtype=np.int64), np.arange(cfg.n_rec),
                             st["psi"], st["pre"], p, out, counts,
                             kernels.MODE_MARKERS[cfg.rounding])
    return out, int(counts[0, kernels.C_E])


@pytest.mark.parametrize("backpressure", [False, True], ids=["no_bp", "random_bp"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_eligibility_vs_golden(name, backpressure):
    # Every synapse but the diagonal (which the core never writes), row by row, with random
    # idle cycles and optional backpressure; e and the clamp count as the golden model's.
    cfg = CONFIGS[name]().replace(trace_mode="factored")
    rng = random.Random(f"{SEED}-elig-{name}-{backpressure}")
    st = make_stimulus(cfg, rng)
    want, want_clamps = run_golden_eligibility(cfg, st, STEP)
    synapses = [(j, i) for j in range(cfg.n_rec) for i in range(cfg.n_pre)
                if i != cfg.n_in + j]
    rows, cols = np.meshgrid(np.arange(cfg.n_rec), np.arange(cfg.n_pre), indexing="ij")
    rand_e = model_rand64(cfg, STEP, kernels.SITES["E"], rows, cols)
    dut = EligibilityUnit(cfg)
    got = np.zeros_like(want)
    clamps = []

    async def producer(ctx):
        for j, i in synapses:
            payload = {"psi": int(st["psi"][0, j]), "pre": int(st["pre"][0, i]),
                       "rand_e": int(rand_e[j, i])}
            await stream_put(ctx, dut.i, payload, idle=rng.choice((0, 0, 1, 2)))

    async def consumer(ctx):
        for j, i in synapses:
            out = await stream_get(ctx, dut.o,
                                   stall=rng.choice((0, 0, 1, 3)) if backpressure else 0)
            got[j, i] = out.e
            clamps.append(out.sat_e)

    monitor = hold_monitor(dut.o, f"{name}: output changed under backpressure")
    run_simulation(dut, producer, consumer, background=[monitor])
    bad = np.argwhere(got != want)
    assert not bad.size, (f"{name}: e{tuple(bad[0])} is {got[tuple(bad[0])]}, golden "
                          f"{want[tuple(bad[0])]} (seed {SEED})")
    assert sum(clamps) == want_clamps
    if name.startswith("narrow"):  # small formats: e saturates
        assert want_clamps > 0


def test_eligibility_latency_ports_and_range():
    cfg = preset("tiny", trace_mode="factored")
    dut = EligibilityUnit(cfg)
    assert dut.latency == EligibilityUnit.STAGES == 2
    assert dut.i.payload.shape() == eligibility_in_layout(cfg)
    assert dut.o.payload.shape() == eligibility_out_layout(cfg)
    n, out_cycles = 9, []

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        for cycle in range(n + dut.latency + 3):
            # The largest psi and pre first, then psi == 0.
            psi, pre = ((1 << cfg.psi_bits) - 1, (1 << cfg.trace_bits) - 1) if cycle == 0 \
                else (0, cycle)
            ctx.set(dut.i.valid, cycle < n)
            ctx.set(dut.i.payload, {"psi": psi, "pre": pre})
            assert ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                out_cycles.append((cycle, ctx.get(dut.o.payload.e),
                                   ctx.get(dut.o.payload.sat_e)))
            await ctx.tick()

    run_simulation(dut, testbench)
    assert [c for c, _, _ in out_cycles] == [k + dut.latency for k in range(n)]
    e_hi = (1 << (cfg.e_bits - 1)) - 1
    assert out_cycles[0][1:] == (e_hi, 1)  # the largest product saturates in tiny's formats
    assert all(e == 0 and not sat for _, e, sat in out_cycles[1:])  # psi == 0: e == 0


# -- AlifFactor ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tiny", "tiny_stochastic", "narrow_floor",
                                  "narrow_stochastic", "cue"])
def test_alif_factor_extremes(name):
    # Every psi_old at the extreme and some random beta and rho (the ports allow any value of
    # their formats, not only the configuration's), checked against the formula.
    cfg = CONFIGS[name]()
    rng = random.Random(f"{SEED}-g-{name}")
    dut = AlifFactor(cfg)
    beta_hi, rho_hi = (1 << (cfg.v_bits - 1)) - 1, (1 << cfg.decay_bits) - 1
    assert dut.latency == 0
    assert dut.g.shape() == signed(signed_bits(*alif_factor_range(cfg))) == signed(dut.g_width)
    lo, hi = alif_factor_range(cfg)
    psis = list(range(1 << cfg.psi_bits))[:300]
    cases = [(psi, beta, rho, rng.getrandbits(64))
             for psi in psis for beta, rho in ((beta_hi, 0), (0, rho_hi),
                                               (rng.randint(0, beta_hi), rng.randint(0, rho_hi)))]
    cases.append(((1 << cfg.psi_bits) - 1, beta_hi, 0, (1 << 64) - 1))

    async def testbench(ctx):
        seen = []
        for psi, beta, rho, r in cases:
            for port, value in ((dut.psi_old, psi), (dut.beta, beta), (dut.rho, rho),
                                (dut.rand_g, r)):
                ctx.set(port, value)
            want = reference_g(cfg, psi, beta, rho, r)
            assert ctx.get(dut.g) == want, (name, psi, beta, rho, r)
            seen.append(want)
        assert min(seen) == lo and max(seen) == rho_hi == hi  # the range is tight

    run_simulation(dut, testbench)


# -- pipeline contract -----------------------------------------------------------------------

@pytest.mark.parametrize("product_stages,latency", [(True, 6), (False, 5)])
def test_synapse_latency_and_throughput(product_stages, latency):
    cfg = preset("tiny")
    dut = SynapseUnit(cfg, product_stages)
    assert dut.latency == latency
    n = 12
    out_cycles = []

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        for cycle in range(n + dut.latency + 4):
            ctx.set(dut.i.valid, cycle < n)
            ctx.set(dut.i.payload, {"alif": 0, "psi": 1, "ebar": cycle})
            if cycle < n:
                assert ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                out_cycles.append(cycle)
            await ctx.tick()

    run_simulation(dut, testbench)
    assert out_cycles == [k + dut.latency for k in range(n)]


@pytest.mark.parametrize("product_stages", [True, False])
def test_synapse_fills_under_backpressure(product_stages):
    # With o.ready low the pipeline takes `latency` synapses, then holds.
    cfg = preset("tiny", kappa=0)
    dut = SynapseUnit(cfg, product_stages)

    async def testbench(ctx):
        ctx.set(dut.o.ready, 0)
        accepted = 0
        for _ in range(dut.latency + 4):
            # kappa = 0 and psi = 0: ebar' = 0; eps' of an ALIF row with g = 1, pre_old = 0
            # is R(eps << psi_bits, D + psi_bits) = R(eps, D): use eps = k << D.
            ctx.set(dut.i.payload, {"alif": 1, "g": 1, "eps": accepted << cfg.decay_bits})
            ctx.set(dut.i.valid, 1)
            *_, ready = await ctx.tick().sample(dut.i.ready)
            accepted += ready
        ctx.set(dut.i.valid, 0)
        assert accepted == dut.latency
        got = [(await stream_get(ctx, dut.o)).eps for _ in range(accepted)]
        assert got == list(range(accepted))
        for _ in range(3):
            await ctx.tick()
            assert not ctx.get(dut.o.valid)

    run_simulation(dut, testbench)


def test_synapse_ports_and_widths():
    cfg = preset("tiny")
    dut = SynapseUnit(cfg)
    assert dut.i.payload.shape() == synapse_in_layout(cfg)
    assert dut.o.payload.shape() == synapse_out_layout(cfg)
    assert dut.beta.shape() == unsigned(15) and dut.kappa.shape() == unsigned(12)
    layout = synapse_in_layout(cfg)
    assert [layout[f].shape for f in ("psi", "pre", "eps", "ebar", "g")] == [
        unsigned(8), unsigned(12), signed(16), signed(12), signed(16)]
    assert dut.widths == {
        "psi_pre": 21, "g_eps": 31, "eps_sum": 40, "ebar_kappa": 24, "ebar_decayed": 12,
        "eps_rounded": 20, "eps_new": 16, "beta_eps": 31, "e_diff": 32, "e_sum": 40,
        "e_rounded": 21, "e": 12, "ebar_sum": 13, "ebar_new": 12}
    # The packed bits round-trip through the layout (as a host driver would use it).
    value = {"alif": 1, "psi": 200, "g": -5, "eps": -32768, "ebar": 2047, "rand_e": 1 << 63}
    raw = layout.const(value).as_bits()
    back = layout.from_bits(raw)
    assert (back.alif, back.psi, back.g, back.eps, back.ebar, back.rand_e) == tuple(
        value.values())


def test_signed_bits():
    for lo in range(-40, 41):
        for hi in range(lo, 41):
            n = signed_bits(lo, hi)
            assert -(1 << (n - 1)) <= lo and hi < (1 << (n - 1))
            assert n == 1 or not (-(1 << (n - 2)) <= lo and hi < (1 << (n - 2)))


def test_synapse_converts_to_verilog():
    text = verilog.convert(SynapseUnit(CONFIGS["tiny_stochastic"]()), name="synapse",
                           emit_src=False)
    assert "module synapse(" in text and "src =" not in text
    text = verilog.convert(AlifFactor(CONFIGS["narrow_floor"]()), name="alif_factor",
                           emit_src=False)
    assert "module alif_factor(" in text
    # Wider than 64 bits inside (the inline rounding of the eps_a sum).
    text = verilog.convert(SynapseUnit(CONFIGS["wide_stochastic"]()), name="synapse_wide",
                           emit_src=False)
    assert "module synapse_wide(" in text


# -- parameter validation --------------------------------------------------------------------

def raises(exc, message):
    return pytest.raises(exc, match=f"^{re.escape(message)}$")


@pytest.mark.parametrize("build", [SynapseUnit, AlifFactor, synapse_in_layout,
                                   synapse_out_layout, EligibilityUnit, eligibility_in_layout,
                                   eligibility_out_layout])
def test_init_wrong_cfg(build):
    with raises(TypeError, "Configuration must be an eligo.config.Config, not 'tiny'"):
        build("tiny")
    with raises(TypeError, "Configuration must be an eligo.config.Config, not None"):
        build(None)


def test_synapse_refuses_factored_mode():
    with raises(ValueError, "Trace mode must be 'full' (factored mode keeps no per-synapse "
                            "traces, so it has no synapse unit), not 'factored'"):
        SynapseUnit(preset("tiny", trace_mode="factored"))
    AlifFactor(preset("tiny", trace_mode="factored"))  # G alone is a pure function
