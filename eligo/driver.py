"""Host-side driver of an eligo core, written once against the register map
(``eligo.rtl.regmap``) and usable over any bus.

A bus is an object with ``read(address) -> int`` and ``write(address, value)``, each raising
:class:`BusError` when the core answers SLVERR: :class:`Driver` calls them directly (a
serial link, a simulator model), :class:`AsyncDriver` awaits them (cocotb bus models). Both
share one implementation: every operation is a generator that yields ``("r", address)`` or
``("w", address, value)`` and receives the read values, and the two classes only differ in
how they run it.

Values are checked before anything is sent (a weight outside ``w_bits``, a parameter outside
its register's range, a wrong shape): the error names what was wrong, and the core keeps
what it had.
"""

import functools
import inspect

import numpy as np

from eligo.config import ensure_config
from eligo.model.names import COUNTER_NAMES
from eligo.rtl.regmap import (COMMAND_BITS, ID_MAGIC, MAP_VERSION, PHASES, RUNTIME_PARAMS,
                              STATUS_BITS, register_map)

__all__ = ["BusError", "Driver", "AsyncDriver", "Operations"]


class BusError(Exception):
    """The core answered SLVERR (address and access in the message)."""


def _signed(value, bits=32):
    value &= (1 << bits) - 1
    return value - ((value >> (bits - 1)) << bits)


class Operations:
    """The driver's operations as generators (see the module docstring). An operation that
    uses another calls it as ``Operations.name(self)``: ``self.name`` is the running
    (blocking or awaitable) version in the subclasses."""

    def __init__(self, cfg):
        ensure_config(cfg)
        self.cfg = cfg
        self.map = register_map(cfg)

    # -- primitives ---------------------------------------------------------------------
    def _read_reg(self, name):
        return (yield ("r", self.map.registers[name].address))

    def _write_reg(self, name, value):
        yield ("w", self.map.registers[name].address, value & 0xFFFFFFFF)

    def _read_window(self, name):
        w = self.map.windows[name]
        out = np.zeros((w.rows, w.cols), np.int64)
        for row in range(w.rows):
            for col in range(w.cols):
                raw = yield ("r", w.address(row, col))
                out[row, col] = _signed(raw) if w.signed else raw
        return out

    def _write_window(self, name, matrix):
        w = self.map.windows[name]
        matrix = np.asarray(matrix)
        if matrix.shape != (w.rows, w.cols):
            raise ValueError(f"{name} must have shape {(w.rows, w.cols)}, not {matrix.shape}")
        if matrix.size and (matrix.min() < w.low or matrix.max() > w.high):
            raise ValueError(f"{name} values must lie in [{w.low}, {w.high}] "
                             f"({'s' if w.signed else 'u'}{w.bits}), not "
                             f"[{matrix.min()}, {matrix.max()}]")
        for (row, col), value in np.ndenumerate(matrix):
            yield ("w", w.address(row, col), int(value) & 0xFFFFFFFF)

    # -- operations ---------------------------------------------------------------------
    def check_identity(self):
        """Raise ``RuntimeError`` unless the core answers with this configuration's map."""
        ident = yield from self._read_reg("id")
        if ident != ID_MAGIC:
            raise RuntimeError(f"no eligo core here: id reads 0x{ident:08X}, not "
                               f"0x{ID_MAGIC:08X}")
        version = yield from self._read_reg("version")
        want = self.map.registers["version"].value
        if version != want:
            raise RuntimeError(f"register map version 0x{version:08X} (map << 16 | model), "
                               f"this driver speaks 0x{want:08X} (map {MAP_VERSION})")
        crc = yield from self._read_reg("config_crc")
        if crc != self.map.registers["config_crc"].value:
            raise RuntimeError(f"the core was built from another configuration: config_crc "
                               f"0x{crc:08X}, not 0x{self.map.registers['config_crc'].value:08X}")

    def write_params(self, **values):
        """Write runtime parameters (names of ``RUNTIME_PARAMS``); all are checked first."""
        for name, value in values.items():
            if name not in RUNTIME_PARAMS:
                raise ValueError(f"{name!r} is not a runtime parameter register; they are "
                                 f"{', '.join(RUNTIME_PARAMS)}")
            reg = self.map.registers[name]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not reg.low <= value <= reg.high:
                raise ValueError(f"{name} must be an integer in [{reg.low}, {reg.high}], "
                                 f"not {value!r}")
        for name, value in values.items():
            yield from self._write_reg(name, int(value))

    def read_params(self):
        out = {}
        for name in RUNTIME_PARAMS:
            out[name] = yield from self._read_reg(name)
        return out

    def write_weights(self, w_in, w_rec, w_out, b=None):
        """Load the weights (as ``GoldenModel.load_weights``; ``b`` zero when None); every
        matrix is checked before the first write."""
        c = self.cfg
        b = np.zeros((c.n_rec, c.n_out), np.int64) if b is None else b
        w_rec = np.asarray(w_rec)
        mats = {"w_in": w_in, "w_rec": w_rec, "w_out": w_out, "b": b}
        for name, matrix in mats.items():  # check everything, write nothing yet
            for _ in self._write_window(name, matrix):
                break
        if w_rec.shape == (c.n_rec, c.n_rec) and np.any(np.diag(w_rec)):
            raise ValueError("w_rec must have a zero diagonal")
        for name, matrix in mats.items():
            yield from self._write_window(name, matrix)

    def read_weights(self):
        out = {}
        for name in ("w_in", "w_rec", "w_out", "b"):
            out[name] = yield from self._read_window(name)
        return out

    def read_counters(self):
        out = {}
        for name in COUNTER_NAMES:
            out[name] = yield from self._read_reg(f"count_{name}")
        return out

    def read_cycles(self):
        out = {}
        for name in PHASES:
            out[name] = yield from self._read_reg(f"cycles_{name}")
        return out

    def status(self):
        word = yield from self._read_reg("status")
        return {name: bool(word >> bit & 1) for name, bit in STATUS_BITS.items()}

    def read_t(self):
        return (yield from self._read_reg("t"))

    def read_errors(self):
        return (yield from self._read_reg("errors"))

    def command(self, *names):
        """Write the command register with the bits of ``names`` (``COMMAND_BITS``)."""
        unknown = [n for n in names if n not in COMMAND_BITS]
        if unknown:
            raise ValueError(f"unknown command {unknown[0]!r}; commands: "
                             f"{', '.join(COMMAND_BITS)}")
        yield from self._write_reg("command", sum(1 << COMMAND_BITS[n] for n in names))

    VECTORS = ("v", "a", "ref", "z", "psi", "xbar", "zbar", "zout", "y", "err", "acc",
               "acc_out")

    def read_variables(self, *names):
        """The named state variables of ``GoldenModel.snapshot()`` (batch axis left out):
        any of :attr:`VECTORS`, and ``ebar``/``eps`` in full trace mode; nothing else."""
        c = self.cfg
        for name in names:
            if name not in self.VECTORS + ("ebar", "eps"):
                raise ValueError(f"unknown state variable {name!r}")
            if name in ("ebar", "eps") and c.trace_mode != "full":
                raise ValueError(f"{name} exists in full trace mode only")
        st = {}
        for name in names:
            if name in self.VECTORS:
                st[name] = (yield from self._read_window(name))[0]
            elif name == "eps" and not c.n_alif:
                st[name] = np.zeros((0, c.n_pre), np.int64)
            else:
                st[name] = yield from self._read_window(name)
        return st

    def read_state(self, weights=True):
        """Every variable of ``GoldenModel.snapshot()`` (batch axis left out), the counters
        and ``t``; without ``weights``, the weight matrices are skipped (they are the
        slowest to read)."""
        traces = ("ebar", "eps") if self.cfg.trace_mode == "full" else ()
        st = yield from Operations.read_variables(self, *self.VECTORS, *traces)
        if weights:
            st.update((yield from Operations.read_weights(self)))
        st.update((yield from Operations.read_counters(self)))
        st["t"] = yield from Operations.read_t(self)
        return st


def _run_sync(gen, bus):
    try:
        op = next(gen)
        while True:
            op = gen.send(bus.read(op[1]) if op[0] == "r" else bus.write(op[1], op[2]))
    except StopIteration as stop:
        return stop.value


async def _run_async(gen, bus):
    try:
        op = next(gen)
        while True:
            op = gen.send(await (bus.read(op[1]) if op[0] == "r" else bus.write(op[1], op[2])))
    except StopIteration as stop:
        return stop.value


def _wrap(runner):
    def make(name):
        op = getattr(Operations, name)

        @functools.wraps(op)
        def method(self, *args, **kwargs):
            return runner(op(self, *args, **kwargs), self.bus)
        return method

    def decorate(cls):
        for name, member in vars(Operations).items():
            if not name.startswith("_") and inspect.isgeneratorfunction(member):
                setattr(cls, name, make(name))
        return cls
    return decorate


@_wrap(_run_sync)
class Driver(Operations):
    """The operations of :class:`Operations` over a blocking bus (``read``/``write``)."""

    def __init__(self, cfg, bus):
        super().__init__(cfg)
        self.bus = bus


@_wrap(_run_async)
class AsyncDriver(Operations):
    """The operations of :class:`Operations` over a bus whose ``read``/``write`` are
    coroutines (cocotb); every method is awaited."""

    def __init__(self, cfg, bus):
        super().__init__(cfg)
        self.bus = bus
