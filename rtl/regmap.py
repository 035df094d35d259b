"""The host register map of an eligo core: one description, three users.

:func:`register_map` turns a :class:`~eligo.config.Config` into the byte addresses of every
register and memory window. The RTL decodes host accesses from it (``eligo.rtl.host``), the
register table of docs/regmap.md is generated from it (:meth:`RegisterMap.markdown`), and the
Python host driver (``eligo.driver``) reads and writes through it. The stream word formats
(:func:`pack_event`, :func:`unpack_output`) live here for the same reason: the top-level RTL
(``eligo.rtl.top``) and every host use these.

Rules every user relies on (docs/regmap.md):

- The bus is 32 bits wide; addresses are byte addresses of 32-bit words (multiples of 4). A
  value narrower than 32 bits reads sign-extended (signed variables) or zero-extended.
- A read or write of an address that holds nothing, a write to a read-only register or
  window, a write whose value lies outside the variable's range, a write of a nonzero
  ``w_rec`` diagonal weight, and a partial write (write strobes not all set) answer SLVERR and
  change nothing.
- Memory windows, parameter writes and commands wait while a step is running (the bus
  stalls until the step's end marker has been sent); status, counters and constants answer
  at once.
- A window is a matrix: the word of ``(row, col)`` lies at ``base + 4 * (row << col_bits |
  col)``, ``col_bits`` the bits of its column count; one-dimensional state has one row.
"""

import dataclasses
import zlib

from ..config import ensure_config
from ..model.names import COUNTER_NAMES
from .neuron import ref_width

__all__ = ["MAP_VERSION", "ID_MAGIC", "RUNTIME_PARAMS", "CONSTANTS", "COMMAND_BITS",
           "STATUS_BITS", "Register", "Window", "RegisterMap", "register_map", "config_crc",
           "EVENT_BITS", "pack_event", "unpack_event", "pack_output", "unpack_output",
           "PHASES"]

MAP_VERSION = 2
ID_MAGIC = 0x454C474F  # "ELGO"

# Sequencer phases in step order (one cycles register each); defined here because the map
# and the RTL (eligo.rtl.core.PHASES) must agree.
PHASES = ("syn", "neuron", "trace", "sweep", "drive", "readout", "signal", "trigger",
          "write_rec", "write_out", "output")

# Runtime parameters the host may change between steps (eligo.config, group "runtime").
# lr_shift and lr_out_shift are elaboration constants of the RTL (a fixed shift, not a
# barrel shifter), readable as constants; learn travels with each end-of-step event.
RUNTIME_PARAMS = ("alpha", "rho", "kappa", "theta", "beta", "gamma", "eta", "eta_out",
                  "trigger", "trigger_out", "homeo_gain", "homeo_target", "seed")
CONSTANTS = ("n_in", "n_rec", "n_out", "n_alif", "lr_shift", "lr_out_shift", "config_crc")
COMMAND_BITS = {"clear_state": 0, "clear_counters": 1, "clear_error": 2}
STATUS_BITS = {"busy": 0, "error": 1}

WINDOW_BASE = 0x1000


def config_crc(cfg):
    """CRC-32 of the configuration's build-time fields (every group but ``runtime``): a
    driver checks it to know the core was built from the configuration it holds."""
    ensure_config(cfg)
    fields = {k: v for group, values in cfg.to_dict().items() if group != "runtime"
              for k, v in values.items()}
    fields["lr_shift"], fields["lr_out_shift"] = cfg.lr_shift, cfg.lr_out_shift
    text = ",".join(f"{k}={fields[k]}" for k in sorted(fields))
    return zlib.crc32(text.encode())


@dataclasses.dataclass(frozen=True)
class Register:
    """One 32-bit register.

    ``kind``: ``"const"`` (read-only ``value``), ``"status"``, ``"command"`` (write-only,
    reads 0), ``"param"`` (read-write, ``low`` .. ``high``), ``"counter"`` and ``"cycles"``
    (read-only; ``counter_bits`` wide and saturating / 32 bits, cleared per step).
    """
    name: str
    address: int
    kind: str
    doc: str
    value: int = None
    low: int = None
    high: int = None

    @property
    def access(self):
        return {"param": "rw", "command": "w"}.get(self.kind, "r")


@dataclasses.dataclass(frozen=True)
class Window:
    """A matrix of one variable: ``rows x cols`` words from ``base``."""
    name: str
    base: int
    rows: int
    cols: int
    signed: bool
    bits: int
    writable: bool
    doc: str

    @property
    def col_bits(self):
        return max(self.cols - 1, 0).bit_length()

    @property
    def size(self):
        """Bytes the window spans: a power of two, the alignment of ``base``."""
        words = self.rows << self.col_bits
        return 4 << max(words - 1, 0).bit_length()

    @property
    def low(self):
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def high(self):
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def address(self, row, col=0):
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise IndexError(f"{self.name}[{row}, {col}] lies outside its {self.rows} x "
                             f"{self.cols} window")
        return self.base + 4 * (row << self.col_bits | col)


class RegisterMap:
    """Every register and window of a core built from ``cfg`` (use :func:`register_map`)."""

    def __init__(self, cfg):
        ensure_config(cfg)
        self.cfg = c = cfg
        regs = []

        def reg(name, kind, doc, **extra):
            regs.append(Register(name, 4 * len(regs), kind, doc, **extra))

        reg("id", "const", f"0x{ID_MAGIC:08X} (\"ELGO\")", value=ID_MAGIC)
        reg("version", "const", "register map version << 16 | golden model version",
            value=MAP_VERSION << 16 | _model_version())
        reg("status", "status", "bit 0 busy (a step is running), bit 1 error (sticky: a bad "
            "event was refused since the last clear_error)")
        reg("command", "command", "write 1 to act: bit 0 clear_state (zero neuron, trace, "
            "readout and eligibility state; weights, counters and t stay), bit 1 "
            "clear_counters, bit 2 clear_error (status.error and errors)")
        reg("t", "status", "steps done (mod 2**32)")
        reg("errors", "status", "bad events refused (saturating)")
        for name in CONSTANTS:
            value = config_crc(c) if name == "config_crc" else getattr(c, name)
            doc = ("CRC-32 of the build-time configuration (eligo.rtl.regmap.config_crc)"
                   if name == "config_crc" else f"build-time constant {name}")
            reg(name, "const", doc, value=value)
        bounds = param_bounds(c)
        for name in RUNTIME_PARAMS:
            low, high = bounds[name]
            reg(name, "param", f"runtime parameter {name}, in [{low}, {high}]; reset value "
                f"from the configuration", value=getattr(c, name), low=low, high=high)
        for name in COUNTER_NAMES:
            reg(f"count_{name}", "counter", f"counter {name} ({c.counter_bits} bits, saturating)")
        for name in PHASES:
            reg(f"cycles_{name}", "cycles", f"cycles of phase {name} in the last step")
        self.registers = {r.name: r for r in regs}
        if 4 * len(regs) > WINDOW_BASE:
            raise AssertionError("registers overlap the windows")

        full = c.trace_mode == "full"
        specs = [
            ("v", 1, c.n_rec, True, c.v_bits, False, "membrane v[j]"),
            ("a", 1, c.n_rec, False, c.a_bits, False, "adaptation a[j]"),
            ("ref", 1, c.n_rec, False, ref_width(c), False,
             "refractory steps left ref[j]"),
            ("z", 1, c.n_rec, False, 1, False, "spike z[j] of the last step"),
            ("psi", 1, c.n_rec, False, c.psi_bits, False, "pseudo-derivative psi[j]"),
            ("xbar", 1, c.n_in, False, c.trace_bits, False, "input trace xbar[i]"),
            ("zbar", 1, c.n_rec, False, c.trace_bits, False, "recurrent trace zbar[j]"),
            ("zout", 1, c.n_rec, False, c.trace_bits, False, "readout-filtered trace zout[j]"),
            ("acc", 1, c.n_rec, True, c.acc_bits, False, "error accumulator acc[j]"),
            ("y", 1, c.n_out, True, c.y_bits, False, "readout y[k]"),
            ("err", 1, c.n_out, True, c.err_bits, False, "readout error err[k]"),
            ("acc_out", 1, c.n_out, True, c.acc_bits, False, "readout accumulator acc_out[k]"),
            ("w_in", c.n_rec, c.n_in, True, c.w_bits, True, "input weight w_in[j, i]"),
            ("w_rec", c.n_rec, c.n_rec, True, c.w_bits, True,
             "recurrent weight w_rec[j, i] (the diagonal is 0 and only 0 may be written)"),
            ("w_out", c.n_out, c.n_rec, True, c.w_bits, True, "readout weight w_out[k, j]"),
            ("b", c.n_rec, c.n_out, True, c.w_bits, True,
             "feedback weight b[j, k] (used with feedback = random)"),
        ]
        if full:
            specs.append(("ebar", c.n_rec, c.n_pre, True, c.e_bits, False,
                          "eligibility trace ebar[j, i] (i over inputs, then neurons)"))
            if c.n_alif:
                specs.append(("eps", c.n_alif, c.n_pre, True, c.eps_bits, False,
                              "ALIF eligibility eps[r, i] of ALIF neuron n_rec - n_alif + r"))
        # Largest first: each base is aligned to its window's size without gaps.
        placed = []
        base = WINDOW_BASE
        for spec in sorted(specs, key=lambda s: -Window(s[0], 0, *s[1:]).size):
            window = Window(spec[0], 0, *spec[1:])
            base = -(-base // window.size) * window.size
            placed.append(dataclasses.replace(window, base=base))
            base += window.size
        self.windows = {w.name: w for w in sorted(placed, key=lambda w: w.base)}
        self.end = base
        self.addr_width = max(base - 1, 1).bit_length()

    def __getitem__(self, name):
        return self.registers[name] if name in self.registers else self.windows[name]

    def markdown(self):
        """The register table and the window table of docs/regmap.md."""
        lines = ["| address | name | access | reset / value | description |",
                 "| --- | --- | --- | --- | --- |"]
        for r in self.registers.values():
            value = "" if r.value is None else (f"0x{r.value:08X}" if r.name in
                                               ("id", "version", "config_crc") else r.value)
            lines.append(f"| 0x{r.address:04X} | `{r.name}` | {r.access} | {value} | {r.doc} |")
        lines += ["", "| base | window | rows x cols | col_bits | format | access | "
                  "description |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for w in self.windows.values():
            fmt = f"{'s' if w.signed else 'u'}{w.bits}"
            lines.append(f"| 0x{w.base:05X} | `{w.name}` | {w.rows} x {w.cols} | {w.col_bits} "
                         f"| {fmt} | {'rw' if w.writable else 'r'} | {w.doc} |")
        return "\n".join(lines) + "\n"


def _model_version():
    from ..golden.vectors import MODEL_VERSION
    return MODEL_VERSION


def param_bounds(cfg):
    """``{name: (low, high)}`` of the values a parameter register accepts: each field's own
    range, narrowed where a larger value would make the configuration invalid (an
    intermediate wider than the golden model's 62 bits). Every combination of accepted values
    is a valid configuration: the intermediates only grow with each parameter, so it is
    enough that all highs together are valid."""
    bounds = {name: cfg.field_range(name) for name in RUNTIME_PARAMS}
    base = {name: getattr(cfg, name) for name in RUNTIME_PARAMS}

    def valid(highs):
        try:
            cfg.replace(**highs)
            return True
        except ValueError:
            return False

    highs = {name: high for name, (_, high) in bounds.items()}
    if not valid(highs):
        # The largest common step from the configuration's values towards the field maxima
        # (f / 2**20 of the way), then each field raised alone as far as it stays valid.
        lerp = lambda f: {n: base[n] + (highs[n] - base[n]) * f // (1 << 20) for n in highs}
        lo, hi = 0, 1 << 20
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if valid(lerp(mid)) else (lo, mid - 1)
        current = lerp(lo)
        for name in RUNTIME_PARAMS:
            good, top = current[name], highs[name]
            while good < top:
                mid = (good + top + 1) // 2
                good, top = (mid, top) if valid({**current, name: mid}) else (good, mid - 1)
            current[name] = good
        highs = current
    return {name: (bounds[name][0], highs[name]) for name in RUNTIME_PARAMS}


_REGISTER_MAPS = {}


def register_map(cfg):
    """The :class:`RegisterMap` of ``cfg`` (cached: configurations are immutable)."""
    ensure_config(cfg)
    if cfg not in _REGISTER_MAPS:
        _REGISTER_MAPS[cfg] = RegisterMap(cfg)
    return _REGISTER_MAPS[cfg]


# -- stream words ----------------------------------------------------------------------------
# Events in (AXI4-Stream, 64-bit TDATA) and outputs out share one format:
#   [31:0] value (two's complement), [47:32] index, [49:48] kind, [63:50] zero.
# Event kinds: 0 input spike on channel index (value 0), 1 target value for readout index,
# 2 end of step (value = learn, 0 or 1). Output kinds: 0 neuron index spiked, 1 readout index
# has value, 2 end of step (TLAST set). Any other word is a bad event: refused and counted.

EVENT_BITS = 64
VALUE_BITS, INDEX_BITS, KIND_BITS = 32, 16, 2
INDEX_SHIFT, KIND_SHIFT = 32, 48


def pack_event(kind, index=0, value=0):
    """The 64-bit word of an event (or output); refuses fields that do not fit."""
    if not 0 <= kind < 1 << KIND_BITS:
        raise ValueError(f"event kind must be in [0, 3], not {kind!r}")
    if not 0 <= index < 1 << INDEX_BITS:
        raise ValueError(f"event index must be in [0, {(1 << INDEX_BITS) - 1}], not {index!r}")
    if not -(1 << (VALUE_BITS - 1)) <= value < 1 << (VALUE_BITS - 1):
        raise ValueError(f"event value must fit 32 signed bits, not {value!r}")
    return kind << KIND_SHIFT | index << INDEX_SHIFT | (value & 0xFFFFFFFF)


def unpack_event(word):
    """``(kind, index, value)`` of a 64-bit word; ``kind`` is None if reserved bits are set."""
    value = word & 0xFFFFFFFF
    value -= (value >> 31) << 32
    index = word >> INDEX_SHIFT & 0xFFFF
    kind = word >> KIND_SHIFT & 3
    return (None if word >> (KIND_SHIFT + KIND_BITS) else kind), index, value


pack_output, unpack_output = pack_event, unpack_event
