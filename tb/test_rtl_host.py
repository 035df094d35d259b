# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the host interface (rtl/host.py, rtl/top.py, rtl/regmap.py)
through the AXI4-Lite and AXI4-Stream ports of ``AxiCore``, with the Python driver
(eligo/driver.py) on top: every register kind, every SLVERR case (nothing changes), bad
event words, the commands, runtime parameter writes taking effect exactly as in the golden
model, and a learning run compared with the golden model through the windows.
The cocotb benches (tb/test_cocotb_core.py) repeat the run in Verilator and Icarus.
"""

import re

import numpy as np
import pytest

from eligo.config import Config, preset
from eligo.driver import AsyncDriver, BusError, Driver, Operations
from eligo.model.golden import GoldenModel, random_weights
from eligo.rtl.core import EV_END, EV_SPIKE, EV_TARGET, INPUT_STAGES, Core
from eligo.rtl.host import RESP_SLVERR, AxiLiteTarget, bus_signature
from eligo.rtl.regmap import (ID_MAGIC, RUNTIME_PARAMS, pack_event, param_bounds, register_map,
                              unpack_event)
from eligo.rtl.stream_util import run_simulation
from eligo.rtl.top import AxiCore
from eligo.tb.axi_harness import SimAxiLite, run_axi_step, send_event
from eligo.tb.core_harness import collision_monitor, first_mismatch, step_events

CFG = Config(n_in=4, n_rec=5, n_out=2, n_alif=2, update_rounding="zero", trigger=700,
             trigger_out=900, eta=8, eta_out=4)


# The host's accesses with and without the register stage on its memory reads (the
# iCEBreaker's stages leave it out).
ALL, NO_HOST = INPUT_STAGES, INPUT_STAGES - {"host"}


def simulate(cfg, bench, input_stages=ALL):
    dut = AxiCore(cfg, input_stages=input_stages)

    async def testbench(ctx):
        bus = SimAxiLite(ctx, dut)
        await bench(ctx, dut, bus, AsyncDriver(cfg, bus))

    run_simulation(dut, testbench, background=[collision_monitor(dut.core)])


# -- the register map itself ------------------------------------------------------------------

def test_register_map_places_every_window_aligned_and_disjoint():
    for cfg in (CFG, preset("cue"), preset("reckon"), CFG.replace(trace_mode="factored")):
        rmap = register_map(cfg)
        spans = sorted((w.base, w.base + w.size) for w in rmap.windows.values())
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
        assert all(w.base % w.size == 0 for w in rmap.windows.values())
        assert max(r.address for r in rmap.registers.values()) < spans[0][0]
        assert rmap.end <= 1 << rmap.addr_width
    assert "ebar" not in register_map(CFG.replace(trace_mode="factored")).windows
    assert "eps" not in register_map(CFG.replace(n_alif=0)).windows


def test_docs_register_table_is_current():
    from eligo import spec_tables
    text = spec_tables.REGMAP_PATH.read_text()
    assert spec_tables.render(text, spec_tables.REGMAP_SECTIONS) == text, \
        "docs/regmap.md is stale: run `python -m eligo.spec_tables`"


def test_param_bounds_keep_every_combination_valid():
    # v_bits 32: beta * 2**a_bits overflows the 62-bit headroom unless beta is narrowed.
    cfg = Config(v_bits=32, v_frac=12, a_bits=32, a_frac=10)
    bounds = param_bounds(cfg)
    assert bounds["beta"][1] < cfg.field_range("beta")[1]
    highs = {name: high for name, (_, high) in bounds.items()}
    cfg.replace(**highs)  # valid: no raise
    for name, high in highs.items():  # tight: one more on a narrowed field is invalid
        if high < cfg.field_range(name)[1]:
            with pytest.raises(ValueError, match="needs 63 bits"):
                cfg.replace(**{**highs, name: high + 1})


@pytest.mark.parametrize("word,want", [
    (pack_event(EV_TARGET, 3, -5), (EV_TARGET, 3, -5)),
    (pack_event(EV_END, 0, 1), (EV_END, 0, 1)),
    (1 << 63 | pack_event(EV_SPIKE, 1), (None, 1, 0)),
])
def test_event_words_round_trip(word, want):
    assert unpack_event(word) == want


@pytest.mark.parametrize("args,message", [
    ((4, 0, 0), "event kind must be in [0, 3], not 4"),
    ((0, 1 << 16, 0), "event index must be in [0, 65535], not 65536"),
    ((1, 0, 1 << 31), "event value must fit 32 signed bits, not 2147483648"),
])
def test_pack_event_refuses_fields_that_do_not_fit(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pack_event(*args)


@pytest.mark.parametrize("width", [2, 33, "8"])
def test_bus_signature_wrong_addr_width(width):
    with pytest.raises(ValueError, match=r"^addr_width must be an integer in \[3, 32\], not "):
        bus_signature(width)
    with pytest.raises(ValueError, match=r"^addr_width must be an integer"):
        AxiLiteTarget(width)


# -- registers and bus errors -----------------------------------------------------------------

@pytest.mark.parametrize("stages", [ALL, NO_HOST], ids=["host_stage", "no_host_stage"])
def test_identity_params_counters_and_bus_errors(stages):
    rmap = register_map(CFG)

    async def bench(ctx, dut, bus, drv):
        await drv.check_identity()
        assert await drv.read_params() == {n: getattr(CFG, n) for n in RUNTIME_PARAMS}
        await drv.write_params(theta=3000, seed=0xDEADBEEF)
        assert (await drv.read_params())["seed"] == 0xDEADBEEF
        assert ctx.get(dut.core.params["theta"]) == 3000

        async def refused(coro):
            with pytest.raises(BusError):
                await coro
            assert bus.resp == RESP_SLVERR

        before = await drv.read_params()
        theta = rmap["theta"]
        await refused(bus.write(theta.address, theta.high + 1))        # out of range
        await refused(bus.write(theta.address, 0))                     # below theta's 1
        await refused(bus.write(rmap["id"].address, 5))                # read-only register
        await refused(bus.write(rmap["count_spikes"].address, 5))
        await refused(bus.read(rmap.end))                              # nothing there
        await refused(bus.read(rmap["id"].address + 2))                # unaligned
        await refused(bus.read(1 << rmap.addr_width))                  # beyond the map
        # (the target keeps only the map's address bits: the bits above must still refuse)
        await refused(bus.write(1 << rmap.addr_width | theta.address, 100))
        await refused(bus.write(rmap["command"].address, 1 << 5))      # no such command
        bus.strobe = 0b0011
        await refused(bus.write(theta.address, 100))                   # partial write
        bus.strobe = 0b1111
        w_rec, w_in, v = rmap["w_rec"], rmap["w_in"], rmap["v"]
        await refused(bus.write(w_rec.address(1, 1), 3))               # diagonal
        await refused(bus.write(w_in.address(0, 0), 1 << (CFG.w_bits - 1)))  # too large
        await refused(bus.write(w_rec.base + 4 * CFG.n_rec, 1))        # column beyond n_rec
        await refused(bus.write(v.address(0, 0), 1))                   # state is read-only
        assert await drv.read_params() == before
        weights = await drv.read_weights()
        assert all(not m.any() for m in weights.values())
        await bus.write(w_rec.address(1, 1), 0)                        # 0 on the diagonal: ok
        await bus.write(w_in.address(0, 0), -(1 << (CFG.w_bits - 1)), aw_first=False)
        assert (await drv.read_weights())["w_in"][0, 0] == -(1 << (CFG.w_bits - 1))

    simulate(CFG, bench, stages)


@pytest.mark.parametrize("stages,cycles", [(ALL, 3), (NO_HOST, 2)],
                         ids=["host_stage", "no_host_stage"])
def test_bus_access_cycles(stages, cycles):
    """The core answers a register read, a window read and a window write ``cycles``
    cycles after the request (ready high in the last), with the register stage on its
    memory reads or without."""
    core = Core(CFG, 1, stages)
    rmap = register_map(CFG)
    accesses = [(False, rmap["id"].address, 0), (True, rmap["w_in"].address(1, 2), -3),
                (False, rmap["w_in"].address(1, 2), 0)]

    async def testbench(ctx):
        h = core.host
        answers = []
        for write, addr, value in accesses:
            ctx.set(h.valid, 1)
            ctx.set(h.write, write)
            ctx.set(h.addr, addr)
            ctx.set(h.w_data, value & 0xFFFFFFFF)
            for waited in range(1, 10):
                await ctx.tick()
                if ctx.get(h.ready):
                    break
            answers.append((waited + 1, ctx.get(h.error), ctx.get(h.r_data)))
            await ctx.tick()
            ctx.set(h.valid, 0)
            await ctx.tick()
        assert answers == [(cycles, 0, ID_MAGIC), (cycles, 0, 0), (cycles, 0, 0xFFFFFFFD)]

    run_simulation(core, testbench, background=[collision_monitor(core)])


def test_driver_checks_values_before_sending():
    sent = []

    class Recorder:
        def read(self, address):
            sent.append(("r", address))
            return 0

        def write(self, address, value):
            sent.append(("w", address, value))

    drv = Driver(CFG, Recorder())
    c = CFG
    good = [np.zeros((c.n_rec, c.n_in), int), np.zeros((c.n_rec, c.n_rec), int),
            np.zeros((c.n_out, c.n_rec), int)]
    bad_rec = good[1].copy()
    bad_rec[2, 2] = 1
    with pytest.raises(ValueError, match=r"^w_rec must have a zero diagonal$"):
        drv.write_weights(good[0], bad_rec, good[2])
    with pytest.raises(ValueError, match=r"^w_out must have shape \(2, 5\), not \(5, 2\)$"):
        drv.write_weights(good[0], good[1], good[2].T)
    with pytest.raises(ValueError, match=r"^w_in values must lie in \[-128, 127\] \(s8\)"):
        drv.write_weights(good[0] + 200, good[1], good[2])
    with pytest.raises(ValueError, match=r"^theta must be an integer in \[1, 32767\], not 0$"):
        drv.write_params(eta=3, theta=0)
    with pytest.raises(ValueError, match=r"^'learn' is not a runtime parameter register"):
        drv.write_params(learn=1)
    with pytest.raises(ValueError, match=r"^unknown state variable 'w_in'$"):
        drv.read_variables("v", "w_in")
    with pytest.raises(ValueError, match=r"^ebar exists in full trace mode only$"):
        Driver(CFG.replace(trace_mode="factored"), Recorder()).read_variables("ebar")
    with pytest.raises(RuntimeError, match=r"^no eligo core here: id reads 0x00000000"):
        drv.check_identity()
    assert sent == [("r", 0)]  # the refused calls sent nothing
    drv.write_params(eta=3)
    assert sent[-1] == ("w", register_map(CFG)["eta"].address, 3)
    assert isinstance(drv, Operations)


# -- events -----------------------------------------------------------------------------------

def test_bad_event_words_are_counted_and_not_applied():
    cfg = CFG
    golden = GoldenModel(cfg)

    async def bench(ctx, dut, bus, drv):
        bad = [
            1 << 60 | pack_event(EV_SPIKE, 0),                 # reserved bit
            pack_event(3, 0),                                  # kind 3
            pack_event(EV_SPIKE, cfg.n_in),                    # no such channel
            pack_event(EV_SPIKE, 1 << 15),                     # beyond the index field
            pack_event(EV_SPIKE, 1, 7),                        # spike with a value
            pack_event(EV_TARGET, cfg.n_out, 1),               # no such readout
            pack_event(EV_TARGET, 0, 1 << (cfg.y_bits - 1)),   # target beyond y_bits
            pack_event(EV_END, 0, 2),                          # learn must be 0 or 1
        ]
        for word in bad:
            await send_event(ctx, dut, word)
        assert await drv.status() == {"busy": False, "error": True}
        assert await drv.read_errors() == len(bad)
        spikes, readouts = await run_axi_step(ctx, dut, [(EV_SPIKE, 1, 0)], True)
        golden.step(np.eye(cfg.n_in, dtype=np.int64)[1], learn=True)
        assert first_mismatch(await drv.read_state(), golden.snapshot()) is None
        await drv.command("clear_error")
        assert await drv.status() == {"busy": False, "error": False}
        assert await drv.read_errors() == 0

    simulate(cfg, bench)


def test_event_offered_during_a_clear_command_is_applied_after_it():
    """An event word that waits while the host writes the clear_state command is applied
    once the clear has run, not taken and dropped in the cycle the clear starts."""
    cfg = CFG
    dut = AxiCore(cfg)
    sent = []

    async def host(ctx):
        drv = AsyncDriver(cfg, SimAxiLite(ctx, dut))
        await drv.command("clear_state")
        while not sent:
            await ctx.tick()
        while (await drv.status())["busy"]:
            pass
        assert await drv.read_errors() == 1  # the bad word below was counted

    async def events(ctx):
        while not ctx.get(dut.core.host.valid):  # the command's bus request is pending
            await ctx.tick()
        await send_event(ctx, dut, pack_event(3, 0))  # kind 3: a bad event, counted
        sent.append(True)

    run_simulation(dut, host, events, background=[collision_monitor(dut.core)])


# -- a learning run through the ports, and the commands ---------------------------------------

def _plan(cfg, steps, seed):
    rng = np.random.default_rng(seed)
    plan = []
    for t in range(steps):
        x = (rng.random(cfg.n_in) < 0.5).astype(np.int64)
        mask = (rng.random(cfg.n_out) < 0.6).astype(np.int64)
        ystar = rng.integers(-3000, 3000, cfg.n_out)
        plan.append((x, ystar, mask, bool(rng.random() < 0.85)))
    return plan


@pytest.mark.parametrize("trace_mode,stages", [("full", ALL), ("factored", ALL),
                                               ("full", NO_HOST)])
def test_learning_run_through_the_ports_equals_golden(trace_mode, stages):
    cfg = CFG.replace(trace_mode=trace_mode)
    w_in, w_rec, w_out, b = random_weights(cfg, np.random.default_rng(3), scale=1.0)
    golden = GoldenModel(cfg)
    golden.load_weights(w_in, w_rec, w_out, b)

    async def bench(ctx, dut, bus, drv):
        await drv.write_weights(w_in, w_rec, w_out, b)
        for t, (x, ystar, mask, learn) in enumerate(_plan(cfg, 12, 5)):
            if t == 6:  # a runtime parameter change between steps, as on the golden side
                await drv.write_params(theta=3500, kappa=3000)
                golden.set_params(theta=3500, kappa=3000)
            has = bool(mask.any())
            out = golden.step(x, ystar if has else None, mask if has else None, learn)
            spikes, readouts = await run_axi_step(ctx, dut, step_events(x, ystar, mask), learn)
            assert spikes == list(np.flatnonzero(out.z[0])), f"step {t}"
            assert readouts == dict(enumerate(out.y[0].tolist())), f"step {t}"
            found = first_mismatch(await drv.read_state(), golden.snapshot())
            assert found is None, f"step {t}: {found}"
        assert golden.counters["row_updates"][0] > 0
        # clear_state is golden's reset; clear_counters its clear_counters
        await drv.command("clear_state")
        golden.reset()
        assert first_mismatch(await drv.read_state(), golden.snapshot()) is None
        await drv.command("clear_counters")
        golden.clear_counters()
        assert first_mismatch(await drv.read_state(), golden.snapshot()) is None
        assert (await drv.read_cycles())["output"] > 0

    simulate(cfg, bench, stages)
