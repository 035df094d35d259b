"""A bit-level UART peer for the Amaranth simulator, and a transport that lets the blocking
host code (``eligo.host``) run in a thread against the simulated board top.

- :class:`SimUart`: drives the DUT's ``rx`` and decodes its ``tx`` (two background
  testbenches), with ``to_dut`` (bytes to send) and ``from_dut`` (bytes received).
- :class:`ThreadTransport`: ``write``/``read`` as pyserial has them, over two queues that the
  simulation side (:func:`serve`) empties and fills.
- :func:`run_host`: simulate ``dut`` while ``host_fn(transport)`` runs in a thread; then
  ``after(ctx)`` runs in the simulation (to inspect the DUT's state directly).

What the tests do through the link is here too, so that the Amaranth-simulator tests
(tb/test_link.py) and the cocotb bench of the Verilog (tb/cocotb_link.py) run the same checks:
:func:`malformed_frames`, :func:`check_host_link`, :func:`learning_case`,
:func:`check_host_steps`, :func:`check_host_counters`.
"""

import collections
import queue
import threading

import numpy as np

from eligo.config import Config
from eligo.driver import BusError
from eligo.model.golden import random_weights
from eligo.rtl.link import (CMD_EVENT, CMD_READ, CMD_WRITE, ERR_CHECKSUM, ERR_COMMAND,
                            ERR_LENGTH, ERR_TIMEOUT, REPLY, SYNC, crc8, encode_frame)
from eligo.rtl.regmap import register_map
from eligo.rtl.stream_util import run_simulation

__all__ = ["SimUart", "ThreadTransport", "run_host", "parse_frames", "le", "malformed_frames",
           "check_host_link", "learning_case", "check_host_steps", "check_host_counters",
           "THETA_PROBE", "WEIGHT_PROBE", "CFG", "CPB", "TIMEOUT"]

# the link tests' core and line, shared by the Amaranth-simulator and cocotb benches
CFG = Config(n_in=4, n_rec=5, n_out=2, n_alif=2, update_rounding="zero", trigger=700,
             trigger_out=900, eta=8, eta_out=4)
CPB = 4
TIMEOUT = 400  # cycles: a cut frame is dropped quickly in the tests
# what the malformed frames would write if they were carried out: theta, and w_in[1, 2]
THETA_PROBE = 1234
WEIGHT_PROBE = (1, 2, 5)


class SimUart:
    """UART peer (8N1, ``clocks_per_bit``) on the DUT's ``rx``/``tx``."""

    def __init__(self, dut, clocks_per_bit):
        self.dut = dut
        self.cpb = clocks_per_bit
        self.to_dut = collections.deque()
        self.from_dut = bytearray()
        self.framing_errors = 0

    # Background testbenches use plain ticks: one left suspended inside ``tick().repeat()``
    # when the simulation ends is reported as an unraisable exception at shutdown.
    async def _wait(self, ctx, cycles):
        for _ in range(cycles):
            await ctx.tick()

    async def driver(self, ctx):
        ctx.set(self.dut.rx, 1)
        while True:
            if not self.to_dut:
                await self._wait(ctx, self.cpb)
                continue
            byte = self.to_dut.popleft()
            for bit in [0] + [byte >> i & 1 for i in range(8)] + [1]:
                ctx.set(self.dut.rx, bit)
                await self._wait(ctx, self.cpb)

    async def receiver(self, ctx):
        tx, cpb = self.dut.tx, self.cpb
        while True:
            await ctx.negedge(tx)
            await self._wait(ctx, cpb // 2)
            if ctx.get(tx):
                continue  # a glitch
            byte = 0
            for i in range(8):
                await self._wait(ctx, cpb)
                byte |= ctx.get(tx) << i
            await self._wait(ctx, cpb)
            if ctx.get(tx):
                self.from_dut.append(byte)
            else:
                self.framing_errors += 1

    def send(self, data):
        self.to_dut.extend(bytes(data))

    def busy(self):
        return bool(self.to_dut)

    def background(self):
        return [self.driver, self.receiver]


def parse_frames(buf):
    """Split complete frames off the front of ``buf`` (a bytearray, consumed): a list of
    ``(cmd, payload)``; raises AssertionError on bytes that are no valid frame."""
    frames = []
    while buf:
        assert buf[0] == SYNC, f"stray byte 0x{buf[0]:02X} from the DUT"
        if len(buf) < 3 or len(buf) < 4 + buf[2]:
            break
        n = buf[2]
        assert crc8(buf[1:3 + n]) == buf[3 + n], f"bad checksum from the DUT: {buf.hex()}"
        frames.append((buf[1], bytes(buf[3:3 + n])))
        del buf[:4 + n]
    return frames


class ThreadTransport:
    """pyserial's ``write``/``read`` over queues served by :func:`serve`."""

    def __init__(self, read_timeout=0.02):
        self.outbox = queue.Queue()  # host to DUT
        self.inbox = queue.Queue()   # DUT to host, one byte each
        self.read_timeout = read_timeout

    def write(self, data):
        self.outbox.put(bytes(data))

    def read(self, n):
        out = bytearray()
        try:
            out.append(self.inbox.get(timeout=self.read_timeout))
            while len(out) < n:
                out.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        return bytes(out)


def run_host(dut, clocks_per_bit, host_fn, after=None, before=None):
    """Simulate ``dut`` (ports ``rx``, ``tx``) with a :class:`SimUart` while
    ``host_fn(transport)`` runs in a thread; re-raises what the thread raised; returns what
    ``host_fn`` returned. ``before(ctx)`` runs in the simulation before the thread starts
    (e.g. to load memories directly), ``after(ctx)`` once it is done."""
    uart = SimUart(dut, clocks_per_bit)
    transport = ThreadTransport()
    result = {}

    def target():
        try:
            result["value"] = host_fn(transport)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)

    async def serve(ctx):
        if before is not None:
            await before(ctx)
        thread.start()
        while thread.is_alive():
            while not transport.outbox.empty():
                uart.send(transport.outbox.get_nowait())
            for byte in uart.from_dut:
                transport.inbox.put(byte)
            uart.from_dut.clear()
            await ctx.tick().repeat(clocks_per_bit)
        if after is not None and "error" not in result:
            await after(ctx)

    run_simulation(dut, serve, background=uart.background())
    thread.join()
    if "error" in result:
        raise result["error"]
    assert uart.framing_errors == 0
    return result.get("value")


# -- checks shared by the Amaranth-simulator tests and the cocotb bench ----------------------

def le(value, n=4):
    """``value`` as ``n`` little-endian bytes (two's complement)."""
    return (value & (1 << 8 * n) - 1).to_bytes(n, "little")


def _flip(frame, index, mask):
    index %= len(frame)
    return frame[:index] + bytes([frame[index] ^ mask]) + frame[index + 1:]


def malformed_frames(cfg):
    """``(name, frame, error code)`` for frames the link must refuse. Carried out, each would
    change something: write ``THETA_PROBE`` to theta or ``WEIGHT_PROBE`` to w_in, or send an
    event. The last is cut short: its reply comes after the link's ``timeout``."""
    rmap = register_map(cfg)
    row, col, value = WEIGHT_PROBE
    theta_write = encode_frame(CMD_WRITE, le(rmap["theta"].address) + le(THETA_PROBE))
    weight_write = encode_frame(CMD_WRITE, le(rmap["w_in"].address(row, col)) + le(value))
    return [
        ("bad checksum", _flip(theta_write, -1, 0x01), ERR_CHECKSUM),
        ("payload bit flipped", _flip(theta_write, 5, 0x40), ERR_CHECKSUM),
        ("unknown command", encode_frame(0x07, le(rmap["theta"].address) + le(THETA_PROBE)),
         ERR_COMMAND),
        ("write one byte too long", encode_frame(CMD_WRITE, le(rmap["theta"].address)
                                                 + le(THETA_PROBE) + b"\x00"), ERR_LENGTH),
        ("read one byte short", encode_frame(CMD_READ, le(rmap["theta"].address)[:3]),
         ERR_LENGTH),
        ("event one byte short", encode_frame(CMD_EVENT, le(0, 8)[:7]), ERR_LENGTH),
        ("weight write, checksum flipped", _flip(weight_write, -1, 0x80), ERR_CHECKSUM),
        ("write cut short", theta_write[:6], ERR_TIMEOUT),
    ]


def _probe(host):
    """What a malformed frame could have changed, read through the link: the runtime
    parameters, the w_in weight the frames aim at, ``t`` and ``errors`` (14 reads)."""
    d = host.driver
    row, col, _ = WEIGHT_PROBE
    return {**d.read_params(), "t": d.read_t(), "errors": d.read_errors(),
            "w_in": host.link.read(d.map.windows["w_in"].address(row, col))}


def check_host_link(cfg, link, names=None, probe=True):
    """Through ``link`` (an ``eligo.host.SerialLink``): identity, parameter writes and
    read-backs, SLVERR raised as ``BusError`` (a read-only register, an address past the
    map, and with ``probe`` a value out of range), and the malformed frames (those named in
    ``names``, all when None) each refused with its code (``LinkError.code``). Nothing
    changes: theta reads back, and with ``probe`` the parameters, the w_in weight the frames
    aim at, ``t`` and ``errors`` are the same before and after. Leaves theta at 3000 and the
    seed at 0xDEADBEEF; returns how many frames were refused."""
    from eligo.host import ERROR_NAMES, Host, LinkError
    rmap = register_map(cfg)
    host = Host(cfg, link)
    host.driver.check_identity()
    host.driver.write_params(theta=3000, seed=0xDEADBEEF)
    assert link.read(rmap["seed"].address) == 0xDEADBEEF
    assert link.read(rmap["alpha"].address) == cfg.alpha
    refused_accesses = [lambda: link.write(rmap["id"].address, 1),  # read-only
                        lambda: link.read(rmap.end)]
    if probe:
        refused_accesses.append(lambda: link.write(rmap["theta"].address,
                                                   rmap["theta"].high + 1))
    for access in refused_accesses:
        try:
            access()
        except BusError as exc:
            assert "SLVERR" in str(exc), exc
        else:
            raise AssertionError("an access the register map refuses raised no BusError")
    before = _probe(host) if probe else None
    refused = 0
    for name, frame, code in malformed_frames(cfg):
        if names is not None and name not in names:
            continue
        try:
            link.transact(frame, REPLY.get(frame[1], 0))
        except LinkError as exc:
            assert exc.code == code, f"{name}: error code {exc.code}, not {code}"
            assert ERROR_NAMES[code] in str(exc), exc
        else:
            raise AssertionError(f"{name}: the link carried out a malformed frame")
        refused += 1
    assert link.read(rmap["theta"].address) == 3000
    if probe:
        after = _probe(host)
        for key, value in before.items():
            assert np.array_equal(after[key], value), \
                f"a refused frame changed {key}: {value} before, {after[key]} after"
    assert not link.outputs, "a refused frame produced outputs"
    return refused


def learning_case(cfg, steps=3):
    """Weights ``(w_in, w_rec, w_out, b)`` and a plan of ``steps`` steps ``(x, ystar,
    mask)`` that reach spikes and (with the tests' small trigger) weight updates."""
    weights = random_weights(cfg, np.random.default_rng(3), scale=2.0)
    rng = np.random.default_rng(5)
    plan = [((rng.random(cfg.n_in) < 0.5).astype(np.int64),
             rng.integers(-3000, 3000, cfg.n_out), np.array([t % 2] + [1] * (cfg.n_out - 1)))
            for t in range(steps)]
    return weights, plan


def check_host_steps(host, golden, plan, learn=True):
    """Run ``plan`` through ``host`` (an ``eligo.host.Host``) and ``golden`` side by side:
    the spikes and readouts of every step are equal."""
    for t, (x, ystar, mask) in enumerate(plan):
        z, y = host.step(x, ystar, mask, learn=learn)
        out = golden.step(x, ystar, mask, learn)
        assert np.array_equal(z, out.z[0]), f"step {t}: spikes {z}, golden {out.z[0]}"
        assert np.array_equal(y, out.y[0]), f"step {t}: readouts {y}, golden {out.y[0]}"


def check_host_counters(host, golden):
    """The board's event counters (read through ``host``) equal the golden model's."""
    got = host.counters()
    want = {name: int(v[0]) for name, v in golden.counters.items()}
    assert got == want, f"counters {got}, golden {want}"
    return got
