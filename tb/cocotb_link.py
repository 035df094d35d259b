"""cocotb bench of the board top's logic (``eligo.rtl.link.LinkTop``: the UART link in front of
the core) with a UART model as the serial line and the unchanged host driver
(``eligo.host.Host`` over ``SerialLink``) running in a thread against the simulation; built
and run by ``eligo.cosim`` (tb/test_cocotb_link.py) under Icarus or Verilator.

- :class:`UartModel`: 8N1 at the link's ``clocks_per_bit``; drives ``rx`` and decodes
  ``tx`` with one simulator callback per bit (timers), none per clock edge.
- :class:`SimTransport`: the transport of ``eligo.host`` (``write``, ``read``) for a thread
  started with ``cocotb.task.bridge``: each call hands control to the simulation
  (``cocotb.task.resume``) until the bytes are queued, or until bytes came back and the
  line has been quiet for a byte time (as a serial port's read with a timeout returns).
- :func:`host_link`: identity, parameters, SLVERR as ``BusError`` and every malformed frame
  refused with its error code, nothing changed (tb/link_harness.py's ``check_host_link``).
- :func:`host_learning`: weights and parameters loaded by ``Host.load``, learning steps
  whose spikes and readouts, then counters and full state (read through the link), equal
  the golden model's.

Parameters come as JSON in ``ELIGO_BENCH`` (``config``, ``clocks_per_bit``, and what each
test needs); results go to ``ELIGO_BENCH_RESULT`` (as in tb/cocotb_core.py).
"""

import collections

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.task import bridge, resume
from cocotb.triggers import Event, FallingEdge, First, RisingEdge, Timer

from eligo.cosim import PERIOD_NS
from eligo.host import Host, SerialLink
from eligo.model.golden import GoldenModel
from eligo.tb.cocotb_core import bench_params, save_result
from eligo.tb.core_harness import first_mismatch
from eligo.tb.link_harness import (check_host_counters, check_host_link, check_host_steps,
                                   learning_case, malformed_frames)

QUIET_BITS = 12       # a read returns once the line has been quiet this long after a byte
WAIT_BITS = 20000     # a read with nothing received returns empty after this long


class UartModel:
    """The host's end of the serial line: ``send(data)`` queues bytes for ``rx``; bytes
    decoded from ``tx`` collect in ``received`` (a stop bit that reads 0 counts in
    ``framing_errors`` instead)."""

    def __init__(self, rx, tx, clocks_per_bit, period_ns=PERIOD_NS):
        self.rx, self.tx = rx, tx
        self.bit_ns = clocks_per_bit * period_ns
        self.period_ns = period_ns
        self.to_send = collections.deque()
        self.received = bytearray()
        self.framing_errors = 0
        self._queued = Event()
        self._arrived = Event()
        rx.value = 1

    def start(self):
        cocotb.start_soon(self._drive())
        cocotb.start_soon(self._decode())

    def send(self, data):
        self.to_send.extend(bytes(data))
        self._queued.set()

    async def _drive(self):
        while True:
            while not self.to_send:
                self._queued.clear()
                await self._queued.wait()
            byte = self.to_send.popleft()
            for bit in [0] + [byte >> i & 1 for i in range(8)] + [1]:
                self.rx.value = bit
                await Timer(self.bit_ns, unit="ns")

    async def _decode(self):
        # tx is a flip-flop, changing on rising clock edges only: sampled half a bit plus
        # half a clock period after the start bit's falling edge, it is never read at an edge
        first = self.bit_ns // 2 + self.period_ns // 2
        while True:
            await FallingEdge(self.tx)
            await Timer(first, unit="ns")
            if self.tx.value:
                continue  # a glitch, not a start bit
            byte = 0
            for i in range(8):
                await Timer(self.bit_ns, unit="ns")
                byte |= int(self.tx.value) << i
            await Timer(self.bit_ns, unit="ns")
            if self.tx.value:
                self.received.append(byte)
                self._arrived.set()
            else:
                self.framing_errors += 1

    async def read(self, n, quiet_ns, wait_ns):
        """Up to ``n`` received bytes: once ``n`` are there, or the line has been quiet for
        ``quiet_ns`` after a byte, or after ``wait_ns`` with nothing received (then none)."""
        while len(self.received) < n:
            self._arrived.clear()
            timer = Timer(quiet_ns if self.received else wait_ns, unit="ns")
            if await First(self._arrived.wait(), timer) is timer:
                break
        out = bytes(self.received[:n])
        del self.received[:n]
        return out


class SimTransport:
    """``write``/``read`` (as pyserial's) for code running in a ``cocotb.task.bridge``
    thread: each call runs in the simulation and returns in simulated time."""

    def __init__(self, uart):
        self.uart = uart
        self._read = resume(uart.read)
        self._write = resume(self._send)
        self.quiet_ns, self.wait_ns = QUIET_BITS * uart.bit_ns, WAIT_BITS * uart.bit_ns

    def write(self, data):
        self._write(bytes(data))

    async def _send(self, data):
        self.uart.send(data)

    def read(self, n):
        return self._read(n, self.quiet_ns, self.wait_ns)


class LinkTB:
    """Clock, reset and the UART model."""

    def __init__(self, dut, clocks_per_bit):
        self.dut = dut
        # eligo.cosim simulates this design without its clock wrapper: the clock toggles in
        # the GPI layer (no Python on its edges), low at time 0
        Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)
        dut.rst.value = 1
        self.uart = UartModel(dut.rx, dut.tx, clocks_per_bit)

    async def reset(self):
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        self.uart.start()

    async def run_host(self, host_fn, timeout_s=120.0):
        """``host_fn(link)`` in a thread, ``link`` a ``SerialLink`` over the UART model;
        returns what it returns (and raises what it raises). ``timeout_s``: the link's
        reply timeout, wall-clock seconds."""
        transport = SimTransport(self.uart)
        result = await bridge(host_fn)(SerialLink(transport, timeout=timeout_s))
        assert self.uart.framing_errors == 0, "framing errors on tx"
        return result


@cocotb.test()
async def host_link(dut):
    p = bench_params()
    cfg = p["config"]
    tb = LinkTB(dut, p["clocks_per_bit"])
    await tb.reset()
    refused = await tb.run_host(lambda link: check_host_link(cfg, link))
    assert refused == len(malformed_frames(cfg))
    frame_errors = int(dut.frame_errors.value)
    assert frame_errors == refused, f"frame_errors reads {frame_errors}, {refused} refused"
    save_result({"refused": refused, "frame_errors": frame_errors})


@cocotb.test()
async def host_learning(dut):
    p = bench_params()
    cfg = p["config"]
    params = p.get("params", {})
    weights, plan = learning_case(cfg, steps=p["steps"])
    golden = GoldenModel(cfg)
    golden.set_params(**params)
    golden.load_weights(*weights)
    tb = LinkTB(dut, p["clocks_per_bit"])
    await tb.reset()

    def host_fn(link):
        host = Host(cfg, link)
        host.load(weights, **params)
        check_host_steps(host, golden, plan)
        counters = check_host_counters(host, golden)
        found = first_mismatch(host.driver.read_state(), golden.snapshot())
        assert found is None, f"(variable, index, rtl, golden) = {found}"
        return counters

    counters = await tb.run_host(host_fn)
    assert int(dut.frame_errors.value) == 0
    save_result({"steps": len(plan), "counters": counters,
                 "sim_time_ns": get_sim_time("ns")})
