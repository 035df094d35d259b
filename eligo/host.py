"""Host side of the UART link (docs/link.md, ``eligo.rtl.link``): talk to a board over a
serial port, or to a simulation of the board top over an injected transport.

A *transport* is any object with ``write(data: bytes)`` and ``read(n) -> bytes`` that returns
at most ``n`` bytes and fewer (possibly none) when its timeout passes: a ``serial.Serial``
(pyserial) is one; the tests pass one that talks to the simulator.

:class:`SerialLink` is a bus for :class:`eligo.driver.Driver` (``read``/``write`` raising
:class:`~eligo.driver.BusError` on SLVERR) plus the event streams (:meth:`SerialLink.send_events`,
:meth:`SerialLink.receive_outputs`). :class:`Host` puts the driver on top: load a
configuration and weights, run steps, read counters.
"""

import collections
import time

import numpy as np

from eligo.driver import BusError, Driver
from eligo.rtl.link import (CMD_EVENT, CMD_READ, CMD_WRITE, FRAME_ERROR, FRAME_OUTPUT,
                            REPLY, SYNC, crc8, encode_frame)
from eligo.rtl.regmap import pack_event, unpack_output

__all__ = ["LinkError", "SerialLink", "Host", "ERROR_NAMES"]

ERROR_NAMES = {1: "bad checksum", 2: "unknown command", 3: "wrong length", 4: "timeout"}
RESP_SLVERR = 2
EV_SPIKE, EV_TARGET, EV_END = 0, 1, 2
OUT_SPIKE, OUT_READOUT, OUT_END = 0, 1, 2


class LinkError(Exception):
    """The link failed: an error frame came back, a reply did not come, or it made no
    sense. ``code`` is the error frame's code (None for the other cases)."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class SerialLink:
    """The frame protocol over a transport.

    Parameters
    ----------
    transport : object with ``write(bytes)`` and ``read(n) -> bytes``
    timeout : float
        Seconds to wait for a reply (on top of the transport's own read timeout).
    window : int
        Event frames in flight at once (each is 12 bytes of the board's receive FIFO; the
        default 16 stays well inside its 256).
    """

    def __init__(self, transport, *, timeout=5.0, window=16):
        self.transport = transport
        self.timeout = timeout
        self.window = window
        self.outputs = collections.deque()  # output words received, not yet taken
        self._buf = bytearray()

    @classmethod
    def open(cls, port, baudrate=115200, **kwargs):
        """A link over a serial port (pyserial)."""
        import serial
        return cls(serial.Serial(port, baudrate, timeout=0.05), **kwargs)

    # -- frames ---------------------------------------------------------------------
    def _fill(self, deadline):
        while True:
            data = self.transport.read(64)
            if data:
                self._buf += data
                return
            if time.monotonic() > deadline:
                raise LinkError(f"no reply from the board in {self.timeout} s")

    def _next_frame(self, deadline):
        """The next well-formed frame (cmd, payload); bytes that are no frame are skipped."""
        buf = self._buf
        while True:
            start = buf.find(SYNC)
            if start < 0:
                buf.clear()
            elif start > 0:
                del buf[:start]
            if len(buf) >= 3 and len(buf) >= 4 + buf[2]:
                n = buf[2]
                body, crc = bytes(buf[1:3 + n]), buf[3 + n]
                if crc8(body) == crc:
                    del buf[:4 + n]
                    return body[0], body[2:]
                del buf[:1]  # not a frame after all: hunt for the next sync byte
                continue
            self._fill(deadline)

    def _reply(self, want):
        """Wait for the reply frame ``want``, keeping output frames that arrive meanwhile."""
        deadline = time.monotonic() + self.timeout
        while True:
            cmd, payload = self._next_frame(deadline)
            if cmd == FRAME_OUTPUT and len(payload) == 8:
                self.outputs.append(int.from_bytes(payload, "little"))
            elif cmd == FRAME_ERROR and len(payload) == 1:
                code = payload[0]
                raise LinkError(f"the board refused a frame: {ERROR_NAMES.get(code, code)}",
                                code)
            elif cmd == want:
                return payload
            else:
                raise LinkError(f"unexpected frame 0x{cmd:02X} ({payload.hex()}) while "
                                f"waiting for 0x{want:02X}")

    def transact(self, frame, want):
        """Send raw ``frame`` bytes and return the payload of reply ``want`` (tests use it
        to send malformed frames)."""
        self.transport.write(bytes(frame))
        return self._reply(want)

    # -- the bus of eligo.driver ----------------------------------------------------
    def read(self, address):
        payload = self.transact(encode_frame(CMD_READ, address.to_bytes(4, "little")),
                                REPLY[CMD_READ])
        if payload[0] == RESP_SLVERR:
            raise BusError(f"read of 0x{address:X}: SLVERR")
        return int.from_bytes(payload[1:5], "little")

    def write(self, address, value):
        payload = self.transact(encode_frame(CMD_WRITE, address.to_bytes(4, "little")
                                             + (value & 0xFFFFFFFF).to_bytes(4, "little")),
                                REPLY[CMD_WRITE])
        if payload[0] == RESP_SLVERR:
            raise BusError(f"write of 0x{value:X} to 0x{address:X}: SLVERR")

    # -- streams --------------------------------------------------------------------
    def send_events(self, words):
        """Send 64-bit event words, up to ``window`` frames in flight; return when the core
        has taken every one."""
        words = list(words)
        pending = 0
        for i in range(0, len(words), self.window):
            chunk = words[i:i + self.window]
            self.transport.write(b"".join(encode_frame(CMD_EVENT, w.to_bytes(8, "little"))
                                          for w in chunk))
            pending = len(chunk)
            for _ in range(pending):
                self._reply(REPLY[CMD_EVENT])

    def receive_outputs(self, until_end=True):
        """Output words received so far; with ``until_end``, wait for the end-of-step word
        and return the words up to and including it."""
        out = []
        deadline = time.monotonic() + self.timeout
        while True:
            while self.outputs:
                word = self.outputs.popleft()
                out.append(word)
                if until_end and unpack_output(word)[0] == OUT_END:
                    return out
            if not until_end:
                return out
            cmd, payload = self._next_frame(deadline)
            if cmd == FRAME_OUTPUT and len(payload) == 8:
                self.outputs.append(int.from_bytes(payload, "little"))
            else:
                raise LinkError(f"unexpected frame 0x{cmd:02X} ({payload.hex()}) while "
                                f"waiting for outputs")


class Host:
    """An eligo board over a :class:`SerialLink`: :class:`~eligo.driver.Driver` for the
    register map plus whole timesteps.

    Parameters
    ----------
    cfg : eligo.config.Config
        The configuration the board was built from (``check_identity`` verifies it).
    link : SerialLink
    """

    def __init__(self, cfg, link):
        self.cfg = cfg
        self.link = link
        self.driver = Driver(cfg, link)

    @classmethod
    def open(cls, cfg, port, baudrate=115200, **kwargs):
        return cls(cfg, SerialLink.open(port, baudrate, **kwargs))

    def load(self, weights, **params):
        """Check the board's identity, write runtime parameters and the weights
        ``(w_in, w_rec, w_out[, b])``, and clear the state and counters."""
        self.driver.check_identity()
        if params:
            self.driver.write_params(**params)
        self.driver.write_weights(*weights)
        self.driver.command("clear_state", "clear_counters", "clear_error")

    def step(self, x, ystar=None, mask=None, learn=False):
        """One timestep: input spikes ``x`` (0/1 per channel), targets ``ystar`` where
        ``mask``; returns ``(z, y)``: the spike vector and the readout values."""
        c = self.cfg
        words = [pack_event(EV_SPIKE, int(i)) for i in np.flatnonzero(x)]
        if mask is not None:
            words += [pack_event(EV_TARGET, int(k), int(ystar[k])) for k in np.flatnonzero(mask)]
        words.append(pack_event(EV_END, 0, int(bool(learn))))
        self.link.send_events(words)
        z = np.zeros(c.n_rec, np.int64)
        y = np.zeros(c.n_out, np.int64)
        for word in self.link.receive_outputs():
            kind, index, value = unpack_output(word)
            if kind == OUT_SPIKE:
                z[index] = 1
            elif kind == OUT_READOUT:
                y[index] = value
        return z, y

    def run(self, x, ystar=None, mask=None, learn=False):
        """Steps over ``x`` of shape (T, n_in); returns ``(z, y)`` of shapes (T, n_rec),
        (T, n_out)."""
        zs, ys = [], []
        for t in range(len(x)):
            z, y = self.step(x[t], None if ystar is None else ystar[t],
                             None if mask is None else mask[t], learn)
            zs.append(z)
            ys.append(y)
        return np.array(zs), np.array(ys)

    def counters(self):
        return self.driver.read_counters()

    def cycles(self):
        return self.driver.read_cycles()
