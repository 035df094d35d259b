# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of rtl/neuron.py (NeuronUnit) against the golden model's
``kernels.neuron_phase`` (docs/spec.md 3, phase 1), bit for bit.

For each configuration, random neuron states, weights and spikes are fed to the golden kernel
(several steps ``t``, a batch of cores each); the same per-neuron requests (the synaptic sum
``I = W @ s`` computed here, the state, and the random words of sites V, A, PSI) are streamed
through the RTL under {no idle, random idle} x {no backpressure, random backpressure}.
Random stimuli come from ``random.Random`` seeded from ``SEED``; failure messages carry it.
"""

import random
import re

import numpy as np
import pytest
from amaranth.back import verilog

from eligo.config import Config, preset
from eligo.model import kernels
from eligo.rtl.neuron import (NeuronUnit, neuron_in_layout, neuron_out_layout, ref_width,
                              synaptic_input_width)
from eligo.rtl.stream_util import hold_monitor, run_simulation, stream_get, stream_put

SEED = 20240612
SITE_V, SITE_A, SITE_PSI = kernels.SITES["V"], kernels.SITES["A"], kernels.SITES["PSI"]

CONFIGS = {
    "tiny": preset("tiny"),
    "cue": preset("cue"),
    # Narrow membrane and adaptation, large weights: v and a saturate often; stochastic
    # rounding with refractoriness.
    "narrow": Config(w_bits=8, w_frac=2, v_bits=8, v_frac=4, a_bits=4, a_frac=2, theta=16,
                     beta=5, gamma=200, alpha=3500, rho=3900, rounding="stochastic",
                     refractory=3),
    "reset_zero_floor": Config(reset="zero", rounding="floor"),
    "refractory2_stochastic": Config(refractory=2, rounding="stochastic"),
    # psi_shift == 0: no rounding shift for psi, h > 0 only at v << a_frac == Aq.
    # (stochastic rounding: with a_frac == 0, only a rounding up can push a past a_bits)
    "integer": Config(w_bits=4, w_frac=0, v_bits=8, v_frac=0, a_bits=4, a_frac=0, theta=3,
                      beta=1, gamma=9, alpha=4095, rho=4095, reset="zero",
                      rounding="stochastic", refractory=1),
    # No ALIF neuron: the unit is built without its adaptation multipliers.
    "lif_only": Config(n_alif=0, rounding="stochastic", refractory=1),
}
# Steps (t values) and cores per step for each configuration: about 300-400 neurons each.
SIZES = {"tiny": (8, 8), "cue": (2, 2), "narrow": (8, 8), "reset_zero_floor": (8, 8),
         "refractory2_stochastic": (8, 8), "integer": (8, 8), "lif_only": (8, 8)}


def mixture(rng, lo, hi, near=(), spread=0):
    """A value in [lo, hi]: uniform, an extreme, or near one of ``near`` (+-spread)."""
    kind = rng.random()
    if kind < 0.35 or not near:
        return rng.randint(lo, hi) if kind < 0.8 or not near else rng.choice((lo, hi))
    if kind < 0.45:
        return rng.choice((lo, hi, lo + 1, hi - 1))
    centre = rng.choice(near)
    return min(max(centre + rng.randint(-spread, spread), lo), hi)


def make_step(cfg, rng, batch):
    """Random W, x, z_old and neuron state for ``batch`` cores (int64 arrays)."""
    n_in, n_rec, n_pre = cfg.n_in, cfg.n_rec, cfg.n_pre
    w_lo, w_hi = -(1 << (cfg.w_bits - 1)), (1 << (cfg.w_bits - 1)) - 1
    v_lo, v_hi = -(1 << (cfg.v_bits - 1)), (1 << (cfg.v_bits - 1)) - 1
    a_hi = (1 << cfg.a_bits) - 1
    alif0 = n_rec - cfg.n_alif
    W = np.zeros((batch, n_rec, n_pre), np.int64)
    x = np.zeros((batch, n_in), np.int64)
    z_old = np.zeros((batch, n_rec), np.int64)
    v = np.zeros((batch, n_rec), np.int64)
    a = np.zeros((batch, n_rec), np.int64)
    ref = np.zeros((batch, n_rec), np.int64)
    for b in range(batch):
        density = rng.choice((0.1, 0.3, 0.5, 1.0))  # spike density of the sources
        x[b] = [rng.random() < density for _ in range(n_in)]
        z_old[b] = [rng.random() < density for _ in range(n_rec)]
        for j in range(n_rec):
            kind = rng.random()
            if kind < 0.1:    # an extreme row: with dense spikes, I at its bounds
                W[b, j] = rng.choice((w_lo, w_hi))
            elif kind < 0.5:  # small weights: v stays near where it starts
                W[b, j] = [rng.randint(w_lo // 8, w_hi // 8) for _ in range(n_pre)]
            else:
                W[b, j] = [rng.randint(w_lo, w_hi) for _ in range(n_pre)]
            alif = j >= alif0
            a[b, j] = mixture(rng, 0, a_hi, near=(0, 1 << cfg.a_frac, a_hi),
                              spread=1 << cfg.a_frac) if alif else 0
            if not alif and rng.random() < 0.1:
                # Never reached from reset (LIF a stays 0), but defined: a passes through.
                a[b, j] = rng.randint(0, a_hi)
            # The membrane near the threshold (theta + beta * a in membrane units) and around.
            thr = cfg.theta + ((cfg.beta * int(a[b, j])) >> cfg.a_frac if alif else 0)
            v[b, j] = mixture(rng, v_lo, v_hi, near=(thr, 0, v_hi, v_lo),
                              spread=2 << cfg.v_frac)
            ref[b, j] = rng.randint(0, cfg.refractory) if rng.random() < 0.5 else 0
            if not alif and cfg.alpha and rng.random() < 0.1:
                # On the threshold: no input, no reset, R(v * alpha, D) == theta (always for
                # zero and floor rounding, often for stochastic), so psi == gamma.
                W[b, j], z_old[b, j], ref[b, j] = 0, 0, 0
                v[b, j] = min(-((-cfg.theta << cfg.decay_bits) // cfg.alpha), v_hi)  # ceil
    return W, x, z_old, v, a, ref


def golden(cfg, t, W, x, z_old, v, a, ref):
    """Run ``kernels.neuron_phase`` on copies: returns v, a, ref, z, psi, counts."""
    p = kernels.pack_params(cfg)
    p[kernels.P_T] = t
    v, a, ref = v.copy(), a.copy(), ref.copy()
    z, psi = np.zeros_like(v), np.zeros_like(v)
    counts = np.zeros((v.shape[0], len(kernels.COUNTER_NAMES)), np.int64)
    kernels.neuron_phase(W, x, z_old, v, a, ref, z, psi, p, counts,
                         kernels.MODE_MARKERS[cfg.rounding])
    return v, a, ref, z, psi, counts


def rand_words(cfg, t, site, n_rec):
    """rand64(seed, t, site, row=j, col=0) for every neuron j, as unsigned 64-bit ints."""
    j = np.arange(n_rec, dtype=np.int64)
    words = kernels.rand64_ufunc(np.int64(cfg.seed), np.int64(t), np.int64(site), j,
                                 np.int64(0))
    return [int(w) for w in words.view(np.uint64)]


def build_case(name):
    """Requests, expected results and per-(step, core) golden counters for one config."""
    cfg = CONFIGS[name]
    rng = random.Random(f"{SEED}-{name}")
    steps, batch = SIZES[name]
    i_lo = -(cfg.n_pre << (cfg.w_bits - 1))
    layout = neuron_in_layout(cfg)
    i_shape = layout["I"].shape
    requests, expected, counts = [], [], []
    for k in range(steps):
        t = 1 + k * 7919 + rng.getrandbits(20)
        W, x, z_old, v, a, ref = make_step(cfg, rng, batch)
        if k == 0:  # every source spikes: extreme rows give the extreme I
            x[:], z_old[:] = 1, 1
        gv, ga, gref, gz, gpsi, gcounts = golden(cfg, t, W, x, z_old, v, a, ref)
        assert (gcounts[:, kernels.C_SPIKES] == gz.sum(axis=1)).all()
        counts.append(gcounts)
        s = np.concatenate([x, z_old], axis=1)
        I = np.einsum("bji,bi->bj", W, s)
        rv, ra, rpsi = (rand_words(cfg, t, site, cfg.n_rec)
                        for site in (SITE_V, SITE_A, SITE_PSI))
        for b in range(batch):
            for j in range(cfg.n_rec):
                Ij = int(I[b, j])
                assert Ij == sum(int(W[b, j, i]) for i in range(cfg.n_pre) if s[b, i])
                assert i_lo <= Ij <= -i_lo, (name, Ij)
                assert -(1 << (i_shape.width - 1)) <= Ij < (1 << (i_shape.width - 1))
                requests.append({
                    "I": Ij, "v": int(v[b, j]), "a": int(a[b, j]), "ref": int(ref[b, j]),
                    "z_old": int(z_old[b, j]), "alif": int(j >= cfg.n_rec - cfg.n_alif),
                    "rand_v": rv[j], "rand_a": ra[j], "rand_psi": rpsi[j]})
                expected.append({
                    "v": int(gv[b, j]), "a": int(ga[b, j]), "ref": int(gref[b, j]),
                    "z": int(gz[b, j]), "psi": int(gpsi[b, j])})
    return cfg, requests, expected, np.concatenate(counts)


_CASES = {}


def case(name):
    if name not in _CASES:
        _CASES[name] = build_case(name)
    return _CASES[name]


FIELDS = ("v", "a", "ref", "z", "psi", "sat_v", "sat_a")


def run_stream(dut, requests, *, idle, backpressure, rng, tag):
    """Stream ``requests`` through ``dut`` with random gaps; return the results (dicts).
    Checks that the output is held under backpressure and nothing extra comes out."""
    cfg = dut.cfg
    got = []

    async def producer(ctx):
        for name in ("alpha", "rho", "theta", "beta", "gamma"):
            ctx.set(getattr(dut, name), getattr(cfg, name))
        for req in requests:
            await stream_put(ctx, dut.i, req, idle=rng.choice((0, 0, 1, 3)) if idle else 0)

    async def consumer(ctx):
        for _ in requests:
            payload = await stream_get(ctx, dut.o,
                                       stall=rng.choice((0, 0, 1, 4)) if backpressure else 0)
            got.append({f: int(getattr(payload, f)) for f in FIELDS})
        for _ in range(dut.latency + 3):
            await ctx.tick()
            assert not ctx.get(dut.o.valid), f"{tag}: extra result (seed {SEED})"

    monitor = hold_monitor(dut.o, f"{tag}: output changed under backpressure (seed {SEED})")

    run_simulation(dut, producer, consumer, background=[monitor])
    return got


@pytest.mark.parametrize("backpressure", [False, True], ids=["no_bp", "random_bp"])
@pytest.mark.parametrize("idle", [False, True], ids=["no_idle", "random_idle"])
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("product_stages", [True, False], ids=["products", "no_products"])
def test_neuron_vs_golden(name, idle, backpressure, product_stages):
    cfg, requests, expected, counts = case(name)
    tag = f"{name} idle={idle} bp={backpressure} product_stages={product_stages}"
    rng = random.Random(f"{SEED}-{name}-{idle}-{backpressure}")
    got = run_stream(NeuronUnit(cfg, product_stages), requests, idle=idle, backpressure=backpressure,
                     rng=rng, tag=tag)
    assert len(got) == len(requests)
    for n, (g, e) in enumerate(zip(got, expected)):
        assert {f: g[f] for f in e} == e, \
            f"{tag}: neuron {n} request {requests[n]}: got {g}, expected {e} (seed {SEED})"
    # Clamp counts, per (step, core): n_rec consecutive results each.
    sat_v = np.array([g["sat_v"] for g in got]).reshape(-1, cfg.n_rec).sum(axis=1)
    sat_a = np.array([g["sat_a"] for g in got]).reshape(-1, cfg.n_rec).sum(axis=1)
    assert (sat_v == counts[:, kernels.C_V]).all(), f"{tag}: sat_v counts (seed {SEED})"
    assert (sat_a == counts[:, kernels.C_A]).all(), f"{tag}: sat_a counts (seed {SEED})"
    # A LIF neuron never clamps a.
    lif = [g["sat_a"] for g, r in zip(got, requests) if not r["alif"]]
    assert not any(lif)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_stimulus_coverage(name):
    # The stimulus reaches what the comparison is meant to cover.
    cfg, requests, expected, counts = case(name)
    assert counts[:, kernels.C_V].sum() > 0, "no v saturation"
    if cfg.n_alif:
        assert counts[:, kernels.C_A].sum() > 0, "no a saturation"
    assert sum(e["z"] for e in expected) > 0, "no spikes"
    assert sum(e["psi"] > 0 for e in expected) > 0, "no nonzero psi"
    assert sum(e["psi"] == cfg.gamma for e in expected) > 0, "psi never at its peak"
    assert sum(not e["z"] for e in expected) > 0
    if cfg.refractory:
        # Refractory neurons that would have spiked, and counters counting down.
        assert any(r["ref"] > 0 for r in requests), "no refractoriness"
        assert any(r["ref"] > 0 and not r["alif"] and e["v"] > cfg.theta
                   for r, e in zip(requests, expected)), "refractoriness never held a spike"
        assert any(e["ref"] == cfg.refractory for e in expected)
        assert any(0 < e["ref"] < cfg.refractory for e in expected) or cfg.refractory == 1
    extreme_i = cfg.n_pre << (cfg.w_bits - 1)
    assert any(r["I"] == -extreme_i for r in requests), "I never at its lower bound"


@pytest.mark.parametrize("product_stages,latency", [(True, 5), (False, 3)])
def test_latency_and_throughput(product_stages, latency):
    cfg, requests, expected, _ = case("tiny")
    dut = NeuronUnit(cfg, product_stages)
    assert dut.latency == latency
    n = 24
    out = []

    async def testbench(ctx):
        for name in ("alpha", "rho", "theta", "beta", "gamma"):
            ctx.set(getattr(dut, name), getattr(cfg, name))
        ctx.set(dut.o.ready, 1)
        for cycle in range(n + dut.latency + 3):
            # One new request every cycle; the input never stalls without backpressure.
            ctx.set(dut.i.valid, cycle < n)
            ctx.set(dut.i.payload, requests[min(cycle, n - 1)])
            if cycle < n:
                assert ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                out.append((cycle, int(ctx.get(dut.o.payload).v)))
            await ctx.tick()

    run_simulation(dut, testbench)
    # Request k transfers in cycle k and is presented in cycle k + latency.
    assert out == [(k + dut.latency, expected[k]["v"]) for k in range(n)]


@pytest.mark.parametrize("product_stages", [True, False])
def test_fills_under_backpressure(product_stages):
    # With o.ready low the unit takes `latency` requests, then holds them.
    cfg, requests, expected, _ = case("tiny")
    dut = NeuronUnit(cfg, product_stages)

    async def testbench(ctx):
        for name in ("alpha", "rho", "theta", "beta", "gamma"):
            ctx.set(getattr(dut, name), getattr(cfg, name))
        ctx.set(dut.o.ready, 0)
        accepted = 0
        for _ in range(dut.latency + 4):
            ctx.set(dut.i.payload, requests[accepted])
            ctx.set(dut.i.valid, 1)
            *_, ready = await ctx.tick().sample(dut.i.ready)
            accepted += ready
        ctx.set(dut.i.valid, 0)
        assert accepted == dut.latency
        got = [int((await stream_get(ctx, dut.o)).v) for _ in range(accepted)]
        assert got == [e["v"] for e in expected[:accepted]]

    run_simulation(dut, testbench)


def test_layouts():
    cfg = CONFIGS["tiny"]
    assert synaptic_input_width(cfg) == 12  # [-1280, 1280]
    assert ref_width(cfg) == 1 and ref_width(Config(refractory=2)) == 2
    assert ref_width(Config(refractory=255)) == 8
    fields_in = dict(neuron_in_layout(cfg))
    assert list(fields_in) == ["I", "v", "a", "ref", "z_old", "alif", "rand_v", "rand_a",
                               "rand_psi"]
    assert fields_in["v"].shape.width == 16 and fields_in["v"].shape.signed
    fields_out = dict(neuron_out_layout(cfg))
    assert list(fields_out) == list(FIELDS)
    assert fields_out["psi"].shape.width == cfg.psi_bits and not fields_out["psi"].shape.signed
    dut = NeuronUnit(cfg)
    assert dut.alpha.shape().width == cfg.decay_bits
    assert dut.theta.shape().width == dut.beta.shape().width == cfg.v_bits - 1
    assert dut.gamma.shape().width == cfg.psi_bits


@pytest.mark.parametrize("name", ["tiny", "integer"])
def test_converts_to_verilog(name):
    text = verilog.convert(NeuronUnit(CONFIGS[name]), name="neuron", emit_src=False)
    assert "module neuron(" in text and "src =" not in text


# -- parameter validation --------------------------------------------------------------------

def raises(exc, message):
    return pytest.raises(exc, match=f"^{re.escape(message)}$")


def test_init_wrong_cfg():
    for value in (None, "tiny", {"n_in": 4}):
        with raises(TypeError, f"Configuration must be an eligo.config.Config, not {value!r}"):
            NeuronUnit(value)
    with raises(TypeError, "Configuration must be an eligo.config.Config, not 'tiny'"):
        neuron_in_layout("tiny")


def test_init_unbuildable_cfg():
    # A valid configuration (its own gamma is 1) whose gamma * h, for any gamma the 8-bit
    # port can carry, needs more than 64 bits.
    cfg = Config(v_bits=32, v_frac=30, a_bits=32, a_frac=30, gamma=1)
    with raises(ValueError,
                "psi_bits + v_frac + a_frac of the configuration must be at most 63, not 68"):
        NeuronUnit(cfg)
    NeuronUnit(cfg.replace(a_frac=25))  # 8 + 55 = 63 fits
