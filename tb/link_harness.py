"""A bit-level UART peer for the Amaranth simulator, and a transport that lets the blocking
host code (``eligo.host``) run in a thread against the simulated board top.

- :class:`SimUart`: drives the DUT's ``rx`` and decodes its ``tx`` (two background
  testbenches), with ``to_dut`` (bytes to send) and ``from_dut`` (bytes received).
- :class:`ThreadTransport`: ``write``/``read`` as pyserial has them, over two queues that the
  simulation side (:func:`serve`) empties and fills.
- :func:`run_host`: simulate ``dut`` while ``host_fn(transport)`` runs in a thread; then
  ``after(ctx)`` runs in the simulation (to inspect the DUT's state directly).
"""

import collections
import queue
import threading

from eligo.rtl.link import SYNC, crc8
from eligo.rtl.stream_util import run_simulation

__all__ = ["SimUart", "ThreadTransport", "run_host", "parse_frames"]


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
