"""cocotb benches of the whole core through its AXI ports (``eligo.rtl.top.AxiCore``), run by
``eligo.cosim`` under Verilator or Icarus (tb/test_cocotb_core.py, ``eligo sim``,
``eligo bench sim``).

The bench's parameters come as JSON in the environment variable ``ELIGO_BENCH`` (written by
``eligo.cosim.run``): ``config`` (the build's configuration), ``seed``, ``steps`` and what
each test needs. Results (figures, the first mismatch) are written as JSON to the path in
``ELIGO_BENCH_RESULT`` when given.

- :func:`random_learning` (cocotbext-axi bus models, under the stream matrix {no idle,
  random idle} x {no backpressure, random backpressure}): random runtime parameters, weights
  and stimulus with learning on; after every step the streamed spikes and readouts and every
  state variable and counter (read through the memory windows) equal the golden model's.
- :func:`replay_vectors`: the golden vector files of this build's configuration, step by step.
- :func:`long_run`: a long run driven by transactions (no Python on idle clock edges): the
  streamed outputs of every step against the golden model, the whole state every
  ``check_every`` steps and at the end, wall time and simulated cycles per second.
"""

import json
import logging
import os
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiResp, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from eligo.config import Config
from eligo.cosim import PERIOD_NS
from eligo.driver import AsyncDriver, BusError
from eligo.model.golden import GoldenModel, random_weights
from eligo.rtl.core import EV_END, OUT_END, OUT_READOUT, OUT_SPIKE
from eligo.rtl.regmap import PHASES, RUNTIME_PARAMS, pack_event, register_map, unpack_output
from eligo.sim import random_stimulus
from eligo.tb.core_harness import first_mismatch, golden_step, step_events



def bench_params():
    params = json.loads(os.environ["ELIGO_BENCH"])
    params["config"] = Config.from_dict(params["config"])
    return params


def save_result(result):
    path = os.environ.get("ELIGO_BENCH_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=2, default=int)


class AxilBus:
    """eligo.driver's bus over cocotbext-axi's AXI4-Lite master."""

    def __init__(self, master):
        self.master = master

    async def read(self, address):
        resp = await self.master.read(address, 4)
        if resp.resp != AxiResp.OKAY:
            raise BusError(f"read of 0x{address:X}: {resp.resp.name}")
        return int.from_bytes(resp.data, "little")

    async def write(self, address, value):
        resp = await self.master.write(address, int(value).to_bytes(4, "little"))
        if resp.resp != AxiResp.OKAY:
            raise BusError(f"write of 0x{value:X} to 0x{address:X}: {resp.resp.name}")


class TB:
    """Reset, the driver, and either clocking of ``eligo.cosim``'s wrapper:

    - ``free_clock=False``: cocotb toggles ``clk_ext`` (a GPI clock) and cocotbext-axi's
      AXI4-Lite master and, with ``streams``, its stream source and sink drive the ports;
    - ``free_clock=True``: the simulator's own clock, with the ports driven by
      :class:`FreeClockPorts` (no Python on the clock cycles the bench does not await).
    """

    def __init__(self, dut, cfg, streams=True, free_clock=False):
        self.dut, self.cfg = dut, cfg
        # every input driven from time zero
        dut.rst.value = 1
        dut.s_axis_tvalid.value = 0
        dut.s_axis_tdata.value = 0
        dut.m_axis_tready.value = 0
        dut.clk_ext.value = 0
        dut.clk_free.value = int(free_clock)
        self.source = self.sink = self.ports = None
        if free_clock:
            self.clock = dut.clk
            self.ports = FreeClockPorts(dut)
            self.driver = AsyncDriver(cfg, self.ports)
            return
        # It starts low, so the first rising edge comes after time 0's initial values.
        self.clock = dut.clk_ext
        Clock(dut.clk_ext, PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk_ext, dut.rst)
        # one log line per access would dominate the state reads' time
        self.axil.write_if.log.setLevel(logging.WARNING)
        self.axil.read_if.log.setLevel(logging.WARNING)
        self.driver = AsyncDriver(cfg, AxilBus(self.axil))
        if streams:
            self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk_ext,
                                          dut.rst, byte_lanes=1)
            self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk_ext,
                                      dut.rst, byte_lanes=1)

    async def reset(self):
        """Reset for 3 cycles, changed at falling edges; returns at a falling edge."""
        self.dut.rst.value = 1
        for _ in range(3):
            await FallingEdge(self.clock)
        self.dut.rst.value = 0
        await FallingEdge(self.clock)

    def set_matrix(self, idle, backpressure, rng):
        def pauses(on):
            while True:
                yield on and rng.random() < 0.4
        self.source.set_pause_generator(pauses(idle))
        self.sink.set_pause_generator(pauses(backpressure))

    async def step(self, events, learn):
        """One step: ``(spikes, readouts)``, through the stream models or FreeClockPorts."""
        if self.ports is not None:
            return await self.ports.step(events, learn)
        await self.source.send(AxiStreamFrame(step_words(events, learn)))
        frame = await self.sink.recv()
        return decode_outputs(frame.tdata)


class FreeClockPorts:
    """The core's AXI ports driven by hand on the simulator's own clock.

    Inputs change only at falling edges and outputs are read only in ``ReadOnly`` of a
    falling edge, where they hold what the next rising edge sees: a transfer happens at that
    edge when valid and ready are both 1 there. This holds whichever order a simulator runs
    an internal clock's callbacks and flops in. Every wait on a core output is a wait on its
    rising edge, so the cycles between cost no Python. Also the bus of eligo.driver (every
    method returns at a falling edge, where inputs may change again).
    """

    def __init__(self, dut):
        self.dut, self.clk = dut, dut.clk
        for name in ("awvalid", "wvalid", "bready", "arvalid", "rready", "awprot", "arprot"):
            getattr(dut, f"s_axil_{name}").value = 0
        dut.s_axil_wstrb.value = 0xF

    async def _until_high(self, signal):
        """Return in ReadOnly of the first falling edge (this one included) where signal is 1."""
        while True:
            await ReadOnly()
            if signal.value:
                return
            await RisingEdge(signal)
            await FallingEdge(self.clk)

    async def _send(self, *channels):
        """Raise each ``(valid, ready)`` pair's valid; return at the falling edge after the
        last transfer, every valid low again."""
        for valid, _ in channels:
            valid.value = 1
        pending = list(channels)
        while pending:
            await ReadOnly()
            taken = [c for c in pending if c[1].value]
            if not taken:  # no Python until a ready rises
                await First(*(RisingEdge(ready) for _, ready in pending))
            await FallingEdge(self.clk)
            for valid, ready in taken:
                valid.value = 0
                pending.remove((valid, ready))

    async def _receive(self, ready, valid, *data):
        """Take one transfer from an output channel: the values of ``data`` then."""
        ready.value = 1
        await self._until_high(valid)
        values = [int(d.value) for d in data]
        await FallingEdge(self.clk)
        ready.value = 0
        return values

    async def write(self, address, value):
        d = self.dut
        d.s_axil_awaddr.value = address
        d.s_axil_wdata.value = int(value)
        await self._send((d.s_axil_awvalid, d.s_axil_awready), (d.s_axil_wvalid, d.s_axil_wready))
        resp, = await self._receive(d.s_axil_bready, d.s_axil_bvalid, d.s_axil_bresp)
        if resp != AxiResp.OKAY:
            raise BusError(f"write of 0x{value:X} to 0x{address:X}: {AxiResp(resp).name}")

    async def read(self, address):
        d = self.dut
        d.s_axil_araddr.value = address
        await self._send((d.s_axil_arvalid, d.s_axil_arready))
        resp, data = await self._receive(d.s_axil_rready, d.s_axil_rvalid, d.s_axil_rresp,
                                         d.s_axil_rdata)
        if resp != AxiResp.OKAY:
            raise BusError(f"read of 0x{address:X}: {AxiResp(resp).name}")
        return data

    async def step(self, events, learn):
        """One step: its words one per accepted cycle, then its outputs up to the end marker."""
        d = self.dut
        for word in step_words(events, learn):
            d.s_axis_tdata.value = word
            await self._send((d.s_axis_tvalid, d.s_axis_tready))
        d.m_axis_tready.value = 1
        words = []
        while True:
            await self._until_high(d.m_axis_tvalid)
            words.append(int(d.m_axis_tdata.value))
            last = bool(d.m_axis_tlast.value)
            await FallingEdge(self.clk)
            if last:
                break
        d.m_axis_tready.value = 0
        return decode_outputs(words)


def step_words(events, learn):
    """The stream words of one step: its events, then the end marker carrying ``learn``."""
    return [pack_event(k, i, v) for k, i, v in events] + [pack_event(EV_END, 0, learn)]


def decode_outputs(words):
    spikes, readouts, ended = [], {}, False
    for word in words:
        kind, index, value = unpack_output(int(word))
        assert not ended, "an output word after the end marker"
        if kind == OUT_SPIKE:
            spikes.append(index)
        elif kind == OUT_READOUT:
            readouts[index] = value
        else:
            assert kind == OUT_END, f"unknown output kind {kind}"
            ended = True
    assert ended, "the step's outputs lack the end marker"
    return spikes, readouts


def random_params(cfg, rng):
    """Runtime parameters near the configuration's, inside the registers' bounds."""
    rmap = register_map(cfg)
    out = {}
    for name in RUNTIME_PARAMS:
        reg = rmap[name]
        if name == "seed":
            out[name] = rng.randrange(1 << 32)
        else:
            value = int(getattr(cfg, name) * rng.uniform(0.5, 1.5)) + rng.randint(-2, 2)
            out[name] = min(max(value, reg.low), reg.high)
    return out


def directed_start(cfg, params, weights, plan):
    """Make the first steps reach two corners random stimulus rarely hits: LIF neuron 0's
    membrane lands exactly on theta at step 0 (its only input weight is theta in weight
    units and only that channel spikes), and neuron 1's membrane saturates (every input
    weight at the maximum, every input on for steps 1 to 5)."""
    w_in, w_rec, w_out, b = (np.array(w) for w in weights)
    shift = cfg.v_frac - cfg.w_frac
    w_max = (1 << (cfg.w_bits - 1)) - 1
    theta = max(params["theta"] >> shift << shift, 1 << shift)
    if theta >> shift > w_max or cfg.n_rec - cfg.n_alif < 2:
        raise ValueError("directed_start needs theta within one weight and two LIF neurons")
    params = dict(params, theta=theta)
    w_in[0, :], w_rec[0, :] = 0, 0
    w_in[0, 0] = theta >> shift
    w_in[1, :] = w_max
    x, ystar, mask, learn = plan[0]
    plan[0] = (np.eye(cfg.n_in, dtype=np.int64)[0], ystar, mask, learn)
    for t in range(1, min(6, len(plan))):  # then every input on for a few steps
        plan[t] = (np.ones(cfg.n_in, np.int64),) + tuple(plan[t][1:])
    return params, (w_in, w_rec, w_out, b)


def check_outputs(where, spikes, readouts, out):
    want_spikes = [int(j) for j in np.flatnonzero(out.z[0])]
    assert spikes == want_spikes, f"{where}: spikes {spikes}, golden {want_spikes}"
    want_y = dict(enumerate(int(v) for v in out.y[0]))
    assert readouts == want_y, f"{where}: readouts {readouts}, golden {want_y}"


async def check_state(where, driver, golden, weights=True):
    got = await driver.read_state(weights=weights)
    snap = golden.snapshot()
    if not weights:
        snap = {k: v for k, v in snap.items() if k not in ("w_in", "w_rec", "w_out", "b")}
    found = first_mismatch(got, snap)
    assert found is None, f"{where}: (variable, index, rtl, golden) = {found}"


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def random_learning(dut, idle, backpressure):
    p = bench_params()
    cfg = p["config"]
    seed = p["seed"] * 4 + 2 * idle + backpressure
    rng = random.Random(seed)
    tb = TB(dut, cfg)
    tb.set_matrix(idle, backpressure, random.Random(seed + 1000))  # its own stream of draws
    await tb.reset()
    await tb.driver.check_identity()
    # A reset leaves the memories as they were: clear the eligibility traces.
    await tb.driver.command("clear_state", "clear_counters")
    params = random_params(cfg, rng)
    weights = random_weights(cfg, np.random.default_rng(seed), scale=p.get("scale", 1.5))
    plan = random_stimulus(cfg, p["steps"], rng)
    if p.get("directed"):
        params, weights = directed_start(cfg, params, weights, plan)
    await tb.driver.write_params(**params)
    golden = GoldenModel(cfg)
    golden.set_params(**params)
    golden.load_weights(*weights)
    await tb.driver.write_weights(*weights)
    at_threshold = 0  # LIF membranes exactly at theta: where v > A and v >= A differ
    for t, (x, ystar, mask, learn) in enumerate(plan):
        where = f"step {t} (seed {seed}, idle {idle}, backpressure {backpressure})"
        has = bool(mask.any())
        out = golden.step(x, ystar if has else None, mask if has else None, learn)
        lif = slice(0, cfg.n_rec - cfg.n_alif)
        at_threshold += int(np.sum((golden.state["v"][0, lif] == params["theta"])
                                   & (golden.state["ref"][0, lif] == 0)))
        spikes, readouts = await tb.step(step_events(x, ystar, mask if has else None),
                                         int(learn))
        check_outputs(where, spikes, readouts, out)
        await check_state(where, tb.driver, golden)
    counters = {k: int(v[0]) for k, v in golden.counters.items()}
    for name in p.get("cover", ["spikes", "row_updates"]):
        assert counters[name] > 0, f"the stimulus never reaches {name}: {counters}"
    if p.get("cover_threshold"):
        assert at_threshold > 0, "no LIF membrane ever sat exactly at the threshold"
    save_result({"steps": p["steps"], "counters": counters, "at_threshold": at_threshold})


@cocotb.test()
async def replay_vectors(dut):
    from eligo.golden.vectors import parse
    p = bench_params()
    cfg = p["config"]
    tb = TB(dut, cfg)
    replayed = []
    for path in p["vectors"]:
        vf = parse(path)
        assert vf.config == cfg, f"{path} was made for another configuration than this build"
        await tb.reset()
        await tb.driver.command("clear_state", "clear_counters")
        await tb.driver.write_weights(*(vf.weights[n] for n in ("w_in", "w_rec", "w_out", "b")))
        for t in range(vf.steps):
            x, ystar, mask = (vf.inputs[n][t] for n in ("x", "ystar", "mask"))
            learn = int(vf.inputs["learn"][t])
            spikes, readouts = await tb.step(step_events(x, ystar, mask), learn)
            want = {name: values[t] for name, values in vf.states.items()}
            assert spikes == [int(j) for j in np.flatnonzero(want["z"])], f"{path} step {t}"
            assert readouts == dict(enumerate(int(v) for v in want["y"])), f"{path} step {t}"
            got = await tb.driver.read_state()
            found = first_mismatch(got, {k: (v if k == "t" else v[None])
                                         for k, v in want.items()})
            assert found is None, f"{path} step {t}: (variable, index, rtl, file) = {found}"
        replayed.append({"file": str(path), "steps": vf.steps})
    save_result({"replayed": replayed})


@cocotb.test()
async def long_run(dut):
    """A long learning run: outputs every step, state every ``check_every`` steps."""
    from eligo.model.tasks import make_task
    p = bench_params()
    cfg = p["config"]
    tb = TB(dut, cfg, free_clock=True)
    await tb.reset()
    await tb.driver.check_identity()
    await tb.driver.command("clear_state", "clear_counters")
    rng = random.Random(p["seed"])
    golden = GoldenModel(cfg)
    weights = random_weights(cfg, np.random.default_rng(p["seed"]), scale=p.get("scale", 1.0))
    golden.load_weights(*weights)
    await tb.driver.write_weights(*weights)
    plan = stimulus_for(p, cfg, rng, make_task)
    steps, check_every = p["steps"], p.get("check_every", 0)
    result = {"steps": 0, "mismatch": None, "cycles": 0, "ideal": {}, "check_s": 0.0}
    if p.get("phases"):  # the core's cycles_* registers after every step (costs bus reads)
        result["phase_cycles"] = dict.fromkeys(PHASES, 0)
    start = time.perf_counter()
    sim_start = cocotb.utils.get_sim_time("ns")
    last_report = start
    try:
        for t in range(steps):
            x, ystar, mask, learn = plan(t)
            has = mask is not None and bool(mask.any())
            out, ideal = golden_step(cfg, golden, x, ystar, mask, learn, p.get("lanes", 1))
            spikes, readouts = await tb.step(step_events(x, ystar, mask if has else None),
                                             int(learn))
            check_outputs(f"step {t}", spikes, readouts, out)
            for phase, n in ideal.items():
                result["ideal"][phase] = result["ideal"].get(phase, 0) + n
            if "phase_cycles" in result:
                for phase, n in (await tb.driver.read_cycles()).items():
                    result["phase_cycles"][phase] += n
            if check_every and (t + 1) % check_every == 0 or t == steps - 1:
                check_start = time.perf_counter()
                await check_state(f"step {t}", tb.driver, golden,
                                  weights=(t == steps - 1 or p.get("check_weights", False)))
                result["check_s"] += time.perf_counter() - check_start
            result["steps"] = t + 1
            now = time.perf_counter()
            if now - last_report >= 10:
                last_report = now
                print(f"eligo sim: {t + 1}/{steps} steps, {now - start:.0f}s, 0 mismatches",
                      flush=True)
    except AssertionError as exc:
        result["mismatch"] = str(exc)
        raise
    finally:
        wall = time.perf_counter() - start
        cycles = int((cocotb.utils.get_sim_time("ns") - sim_start) // PERIOD_NS)
        result.update(wall_s=wall, cycles=cycles, cycles_per_s=cycles / wall if wall else 0,
                      counters={k: int(v[0]) for k, v in golden.counters.items()})
        save_result(result)


@cocotb.test()
async def reference_bound(dut):
    """The RTL against the float reference on eligo.model.convergence's networks (learning
    on, no targets): its v, ebar and y, read after every step, equal the golden model's and
    lie within ``convergence.RTL_BOUND`` of the reference's trajectories."""
    from eligo.model import convergence
    p = bench_params()
    cfg = p["config"]
    bound = convergence.RTL_BOUND
    tb = TB(dut, cfg, free_clock=True)
    await tb.reset()
    await tb.driver.check_identity()
    (w_in, w_rec, w_out), x = convergence.stimulus(cfg, bound["networks"], bound["steps"], 0)
    got = {name: [] for name in convergence.VARIABLES}
    for n in range(bound["networks"]):
        await tb.driver.command("clear_state", "clear_counters")
        await tb.driver.write_weights(w_in[n], w_rec[n], w_out[n])
        rows = {name: [] for name in got}
        for t in range(bound["steps"]):
            await tb.step(step_events(x[t, n], None, None), int(cfg.learn))
            state = await tb.driver.read_variables(*got)
            for name in got:
                rows[name].append(state[name])
        for name in got:
            got[name].append(rows[name])
    got = {name: np.stack(v, axis=1) for name, v in got.items()}  # (T, networks, ...)
    golden = GoldenModel(cfg, batch=bound["networks"])
    golden.load_weights(w_in, w_rec, w_out)
    want_golden = golden.run(x, record=list(got))
    for name in got:
        assert np.array_equal(got[name], want_golden[name]), f"{name}: the RTL is not golden"
    reference = convergence.reference_trajectories(
        convergence.widened_config(convergence.REFERENCE_BITS), (w_in, w_rec, w_out), x)
    medians = {name: float(np.median(d)) for name, d in
               convergence.network_distances(cfg, got, reference).items()}
    save_result({"median": medians, "bound": bound["median"]})
    for name, value in medians.items():
        assert value <= bound["median"][name], f"{name}: median distance {value:.3g} > bound"


def stimulus_for(p, cfg, rng, make_task):
    """``plan(t) -> (x, ystar, mask, learn)``: random, or the samples of a task."""
    if p.get("task") is None:
        steps = random_stimulus(cfg, min(p["steps"], 4096), rng, p.get("input_rate"),
                                p.get("target_every"))
        return lambda t: steps[t % len(steps)]
    from eligo.model.train import _golden_targets

    def samples(n):
        return make_task(p["task"], seed=p["seed"], n_train=n, n_test=1,
                         **p.get("task_params", {})).train
    split = samples(1)
    T = split.x.shape[1]
    split = samples(p.get("samples") or -(-p["steps"] // T))

    def plan(t):
        index = (t // T) % split.x.shape[0]
        ystar, mask = _golden_targets(cfg, split, index)
        return split.x[index][t % T].astype(np.int64), ystar[t % T], mask[t % T], True
    return plan
