"""One configuration for every tier of eligo.

A :class:`Config` holds the network sizes, every bit width and fraction width, the convention
options and the runtime parameters. The golden model, the float reference, the RTL, the
testbenches, the golden vectors and the synthesis flow are all built from it. It is validated
when it is built: a bad value raises ``TypeError`` or ``ValueError`` naming the field, the value
and what is allowed. docs/spec.md says what each field means in the arithmetic.
"""

import dataclasses
import json
import math
import tomllib
from pathlib import Path

import tomli_w

__all__ = ["Config", "PRESETS", "preset", "load", "ensure_config", "FIELD_GROUPS",
           "INT64_HEADROOM_BITS"]

# Intermediates of the golden model are int64 numpy values; every one must stay below 2**62
# in magnitude so that a sum of two of them cannot overflow either.
INT64_HEADROOM_BITS = 62

ROUNDING_MODES = ("zero", "floor", "stochastic")
RESET_MODES = ("subtract", "zero")
TRACE_MODES = ("full", "factored")
FEEDBACK_MODES = ("symmetric", "random")

# (field, group, kind, low, high): kind is "int", "bool" or a tuple of allowed strings.
# low/high bound int fields; a string names another field, evaluated after the plain checks.
_FIELDS = [
    # network
    ("n_in", "network", "int", 1, 4096),
    ("n_rec", "network", "int", 1, 4096),
    ("n_out", "network", "int", 1, 256),
    ("n_alif", "network", "int", 0, "n_rec"),
    # formats: widths are total bits, *_frac are fraction bits
    ("w_bits", "formats", "int", 2, 16),
    ("w_frac", "formats", "int", 0, 16),
    ("v_bits", "formats", "int", 4, 32),
    ("v_frac", "formats", "int", 0, 30),
    ("a_bits", "formats", "int", 2, 32),
    ("a_frac", "formats", "int", 0, 30),
    ("trace_bits", "formats", "int", 2, 24),
    ("trace_frac", "formats", "int", 0, 23),
    ("psi_bits", "formats", "int", 1, 16),
    ("e_bits", "formats", "int", 2, 24),
    ("e_frac", "formats", "int", 0, 40),
    ("eps_bits", "formats", "int", 2, 32),
    ("y_bits", "formats", "int", 4, 32),
    ("y_frac", "formats", "int", 0, 30),
    ("err_bits", "formats", "int", 2, 32),
    ("acc_bits", "formats", "int", 2, 32),
    ("acc_frac", "formats", "int", 0, 40),
    ("decay_bits", "formats", "int", 1, 24),
    ("counter_bits", "formats", "int", 8, 32),
    # conventions
    ("reset", "conventions", RESET_MODES, None, None),
    ("rounding", "conventions", ROUNDING_MODES, None, None),
    ("update_rounding", "conventions", ROUNDING_MODES, None, None),
    ("trace_mode", "conventions", TRACE_MODES, None, None),
    ("feedback", "conventions", FEEDBACK_MODES, None, None),
    ("accumulate_error", "conventions", "bool", None, None),
    ("refractory", "conventions", "int", 0, 255),
    ("q_max", "conventions", "int", 1, 7),
    # runtime parameters
    ("alpha", "runtime", "int", 0, "decay_max"),
    ("rho", "runtime", "int", 0, "decay_max"),
    ("kappa", "runtime", "int", 0, "decay_max"),
    ("theta", "runtime", "int", 1, "v_max"),
    ("beta", "runtime", "int", 0, "v_max"),
    ("gamma", "runtime", "int", 0, "psi_max"),
    ("eta", "runtime", "int", 0, 65535),
    ("lr_shift", "runtime", "int", 0, 48),
    ("eta_out", "runtime", "int", 0, 65535),
    ("lr_out_shift", "runtime", "int", 0, 48),
    ("trigger", "runtime", "int", 1, "acc_max"),
    ("trigger_out", "runtime", "int", 1, "acc_max"),
    ("homeo_gain", "runtime", "int", 0, 65535),
    ("homeo_target", "runtime", "int", 0, "trace_max"),
    ("learn", "runtime", "bool", None, None),
    ("seed", "runtime", "int", 0, 2**32 - 1),
]

FIELD_GROUPS = {name: group for name, group, *_ in _FIELDS}
GROUPS = ("network", "formats", "conventions", "runtime")


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes, formats, conventions and runtime parameters of one eligo core.

    Parameters
    ----------
    n_in, n_rec, n_out : int
        Input channels, recurrent neurons, leaky readouts.
    n_alif : int
        How many recurrent neurons are ALIF: neurons ``n_rec - n_alif .. n_rec - 1``.
    w_bits, w_frac : int
        Weights (``W_in``, ``W_rec``, ``W_out``, ``B``): signed, total and fraction bits.
    v_bits, v_frac : int
        Membrane: signed. ``2**v_frac`` is one membrane unit, the half-width of the
        pseudo-derivative's triangle.
    a_bits, a_frac : int
        Adaptation: unsigned, in spikes with ``a_frac`` fraction bits.
    trace_bits, trace_frac : int
        Presynaptic and readout traces: unsigned, in spikes with ``trace_frac`` fraction bits.
    psi_bits : int
        Pseudo-derivative: unsigned, all fraction bits (a value in ``[0, 1)``).
    e_bits, e_frac : int
        Eligibility (and its trace ``ebar``): signed.
    eps_bits : int
        ALIF adaptation eligibility ``eps_a``: signed, ``trace_frac`` fraction bits.
    y_bits, y_frac : int
        Readouts and targets: signed.
    err_bits : int
        Readout error: signed, ``y_frac`` fraction bits.
    acc_bits, acc_frac : int
        Error accumulators of the trigger (recurrent rows and readout rows): signed.
    decay_bits : int
        Fraction bits ``D`` of the decay factors ``alpha``, ``rho``, ``kappa``.
    counter_bits : int
        Width of the event and saturation counters, which saturate at
        ``2**counter_bits - 1``; narrower counters cost less logic, and the host then reads
        and clears them more often.
    reset : {"subtract", "zero"}
        Membrane reset one step after a spike.
    rounding : {"zero", "floor", "stochastic"}
        Rounding of every datapath right shift (decays, eligibility, learning signal).
    update_rounding : {"zero", "floor", "stochastic"}
        Rounding of weight updates.
    trace_mode : {"full", "factored"}
        Per-synapse eligibility trace memory, or none (``ebar = e``, no ``eps_a``).
    feedback : {"symmetric", "random"}
        Learning-signal weights: ``W_out`` transposed, or a fixed matrix ``B``.
    accumulate_error : bool
        Whether the trigger accumulates the learning signal or takes each step's alone.
    refractory : int
        Steps after a spike during which a neuron cannot spike and its ``psi`` is 0.
    q_max : int
        Largest update multiple ``|q|``: 1 is ternary.
    alpha, rho, kappa : int
        Decay factors of membrane and presynaptic traces, adaptation, readout and
        eligibility traces, as ``decay_bits``-bit fractions.
    theta : int
        Baseline threshold, in membrane integers.
    beta : int
        Threshold adaptation of ALIF neurons, membrane integers per spike.
    gamma : int
        Pseudo-derivative peak, in ``psi`` integers.
    eta, lr_shift : int
        Recurrent/input weight update: ``round(eta * q * ebar / 2**lr_shift)``.
    eta_out, lr_out_shift : int
        Readout weight update: ``round(eta_out * q * zout / 2**lr_out_shift)``.
    trigger, trigger_out : int
        Trigger thresholds ``Theta`` of recurrent and readout rows, in accumulator integers.
    homeo_gain, homeo_target : int
        Homeostatic term of the learning signal: ``homeo_gain * (zout_j - homeo_target)`` is
        added to neuron ``j``'s ``sum_k F[j, k] * err_k`` (0: off); ``homeo_target`` in
        ``zout`` integers.
    learn : bool
        Learning on (eligibility, trigger, weight writes) or off (inference only).
    seed : int
        32-bit seed of the counter-based random source.

    Raises
    ------
    TypeError
        A field has the wrong type.
    ValueError
        A field is out of range, or the combination needs intermediates wider than int64 allows.
    """

    n_in: int = 4
    n_rec: int = 6
    n_out: int = 2
    n_alif: int = 3

    w_bits: int = 8
    w_frac: int = 6
    v_bits: int = 16
    v_frac: int = 12
    a_bits: int = 16
    a_frac: int = 10
    trace_bits: int = 12
    trace_frac: int = 7
    psi_bits: int = 8
    e_bits: int = 12
    e_frac: int = 8
    eps_bits: int = 16
    y_bits: int = 16
    y_frac: int = 12
    err_bits: int = 16
    acc_bits: int = 16
    acc_frac: int = 12
    decay_bits: int = 12
    counter_bits: int = 32

    reset: str = "subtract"
    rounding: str = "zero"
    update_rounding: str = "stochastic"
    trace_mode: str = "full"
    feedback: str = "symmetric"
    accumulate_error: bool = True
    refractory: int = 0
    q_max: int = 1

    alpha: int = 3896   # exp(-1/20) in 12 fraction bits
    rho: int = 4076     # exp(-1/200)
    kappa: int = 3896   # exp(-1/20)
    theta: int = 4096   # 1.0 membrane unit
    beta: int = 1024    # 0.25 per spike
    gamma: int = 77     # 0.3
    eta: int = 1
    lr_shift: int = 6
    eta_out: int = 1
    lr_out_shift: int = 6
    trigger: int = 2048      # 0.5
    trigger_out: int = 2048  # 0.5
    homeo_gain: int = 0
    homeo_target: int = 0
    learn: bool = True
    seed: int = 1

    def __post_init__(self):
        for name, _group, kind, low, high in _FIELDS:
            value = getattr(self, name)
            if kind == "bool":
                if not isinstance(value, bool):
                    raise TypeError(f"{name} must be a bool, not {value!r}")
            elif kind == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"{name} must be an integer, not {value!r}")
                low_v, high_v = self._bound(low), self._bound(high)
                if not low_v <= value <= high_v:
                    raise ValueError(
                        f"{name} must be an integer in [{low_v}, {high_v}]"
                        f"{self._bound_note(low, high)}, not {value!r}")
            else:
                if not isinstance(value, str):
                    raise TypeError(f"{name} must be a string, not {value!r}")
                if value not in kind:
                    raise ValueError(f"{name} must be one of {', '.join(map(repr, kind))}, "
                                     f"not {value!r}")
        self._check_relations()
        self._check_headroom()

    def field_range(self, name):
        """``(low, high)`` of the integer field ``name`` for this configuration (bounds that
        name another field are evaluated with this configuration's value of it)."""
        for field, _group, kind, low, high in _FIELDS:
            if field == name:
                if kind != "int":
                    raise ValueError(f"field {name!r} is not an integer field")
                return self._bound(low), self._bound(high)
        raise ValueError(f"unknown configuration field {name!r}")

    # -- validation helpers --------------------------------------------------------------

    def _bound(self, bound):
        # Only the bound asked for: the fields it depends on were checked before (they come
        # earlier in _FIELDS), the others not yet.
        if isinstance(bound, int):
            return bound
        return {
            "n_rec": lambda: self.n_rec,
            "decay_max": lambda: 2**self.decay_bits - 1,
            "v_max": lambda: 2**(self.v_bits - 1) - 1,
            "psi_max": lambda: 2**self.psi_bits - 1,
            "acc_max": lambda: 2**(self.acc_bits - 1) - 1,
            "trace_max": lambda: 2**self.trace_bits - 1,
        }[bound]()

    @staticmethod
    def _bound_note(low, high):
        notes = {"n_rec": "n_rec", "decay_max": "2**decay_bits - 1",
                 "v_max": "2**(v_bits - 1) - 1", "psi_max": "2**psi_bits - 1",
                 "acc_max": "2**(acc_bits - 1) - 1", "trace_max": "2**trace_bits - 1"}
        named = [notes[b] for b in (low, high) if isinstance(b, str)]
        return f" (upper bound {named[0]})" if named else ""

    def _check_relations(self):
        def need(ok, field, value, what):
            if not ok:
                raise ValueError(f"{field} must be {what}, not {value!r}")
        need(self.w_frac <= self.v_frac, "w_frac", self.w_frac,
             f"at most v_frac ({self.v_frac}) so that inputs scale up exactly")
        need(self.w_frac <= self.y_frac, "w_frac", self.w_frac,
             f"at most y_frac ({self.y_frac}) so that readout inputs scale up exactly")
        need(self.v_frac <= self.v_bits - 2, "v_frac", self.v_frac,
             f"at most v_bits - 2 ({self.v_bits - 2}) so that one membrane unit fits")
        need(self.trace_frac <= self.trace_bits - 1, "trace_frac", self.trace_frac,
             f"at most trace_bits - 1 ({self.trace_bits - 1}) so that one spike fits")
        need(self.a_frac <= self.a_bits - 1, "a_frac", self.a_frac,
             f"at most a_bits - 1 ({self.a_bits - 1}) so that one spike fits")
        need(self.y_frac <= self.y_bits - 1, "y_frac", self.y_frac,
             f"at most y_bits - 1 ({self.y_bits - 1})")
        # n_in and n_rec are at most 4096 each, so a synapse column always fits the 16 bits
        # the random source's counter gives it (docs/spec.md 1.2).

    def intermediate_bits(self):
        """Bits (magnitude, without sign) of the widest value of each step of the arithmetic.

        The names follow docs/spec.md; the golden model computes each of them exactly in int64.
        """
        b = lambda m: max(int(m), 1).bit_length()
        w, v, tr = 2**(self.w_bits - 1), 2**(self.v_bits - 1), 2**self.trace_bits
        psi, eps, e = 2**self.psi_bits, 2**(self.eps_bits - 1), 2**(self.e_bits - 1)
        left = lambda shift: max(-shift, 0)  # a negative right shift is an exact left shift
        dec, err = 2**self.decay_bits, 2**(self.err_bits - 1)
        n_pre = self.n_in + self.n_rec
        beta_psi = psi * self.beta
        g_factor = dec + (beta_psi >> max(self.psi_bits + self.v_frac - self.decay_bits, 0)
                          << max(self.decay_bits - self.psi_bits - self.v_frac, 0))
        return {
            "synaptic input I << syn_shift": b(n_pre * w << self.syn_shift),
            "membrane decay v*alpha": b(v * dec),
            "membrane sum": b(v + (n_pre * w << self.syn_shift) + self.theta),
            "adaptation decay a*rho": b(2**self.a_bits * dec),
            "threshold A*2**a_frac": b(self.theta * 2**self.a_frac
                                       + self.beta * 2**self.a_bits + v * 2**self.a_frac),
            "pseudo-derivative gamma*h": b(self.gamma * 2**(self.v_frac + self.a_frac)),
            "trace decay pre*alpha": b(tr * dec),
            "adaptation factor psi*beta": b(beta_psi) + left(self.g_shift),
            "eps_a sum": b((psi * tr << self.decay_bits) + (g_factor * eps << self.psi_bits)),
            "eligibility sum": b(psi * ((tr << self.v_frac) + self.beta * eps))
            + left(self.e_shift),
            "eligibility trace decay ebar*kappa": b(e * dec),
            "readout decay y*kappa": b(2**(self.y_bits - 1) * dec),
            "readout input": b(self.n_rec * w << self.out_shift),
            "learning signal sum B*err + homeostatic term":
                b(self.n_out * w * err + self.homeo_gain * tr) + left(self.l_shift),
            "readout error to accumulator": b(err) + left(self.err_to_acc_shift),
            "weight update eta*q*ebar": b(self.eta * self.q_max * e),
            "readout update eta_out*q*zout": b(self.eta_out * self.q_max * tr),
        }

    def rounding_shifts(self):
        """Every right shift of the arithmetic (negative: an exact left shift)."""
        return {"decay": self.decay_bits, "psi_shift": self.psi_shift, "g_shift": self.g_shift,
                "eps_shift": self.eps_shift, "e_shift": self.e_shift, "l_shift": self.l_shift,
                "err_to_acc_shift": self.err_to_acc_shift, "lr_shift": self.lr_shift,
                "lr_out_shift": self.lr_out_shift}

    def _check_headroom(self):
        for name, shift in self.rounding_shifts().items():
            if not -INT64_HEADROOM_BITS <= shift <= INT64_HEADROOM_BITS:
                raise ValueError(
                    f"the {name} of this configuration is {shift}; shifts must lie in "
                    f"[-{INT64_HEADROOM_BITS}, {INT64_HEADROOM_BITS}]: adjust the fraction "
                    f"bits it depends on")
        for name, bits in self.intermediate_bits().items():
            if bits > INT64_HEADROOM_BITS:
                raise ValueError(
                    f"the {name} of this configuration needs {bits} bits; at most "
                    f"{INT64_HEADROOM_BITS} are supported: reduce the widths it depends on")

    # -- derived values --------------------------------------------------------------------

    @property
    def n_pre(self):
        """Presynaptic sources of a recurrent neuron: inputs then recurrent neurons."""
        return self.n_in + self.n_rec

    @property
    def counter_max(self):
        """The value at which every event and saturation counter stops."""
        return 2**self.counter_bits - 1

    @property
    def n_lif(self):
        return self.n_rec - self.n_alif

    @property
    def syn_shift(self):
        """Left shift from weight integers to membrane integers."""
        return self.v_frac - self.w_frac

    @property
    def out_shift(self):
        """Left shift from weight integers to readout integers."""
        return self.y_frac - self.w_frac

    @property
    def psi_shift(self):
        """Right shift of ``gamma * h`` (h has ``v_frac + a_frac`` fraction bits) to psi."""
        return self.v_frac + self.a_frac

    @property
    def g_shift(self):
        """Right shift of ``psi * beta`` to the ``decay_bits`` fraction of ``rho``."""
        return self.psi_bits + self.v_frac - self.decay_bits

    @property
    def eps_shift(self):
        return self.decay_bits + self.psi_bits

    @property
    def e_shift(self):
        """Right shift of ``psi * (pre * 2**v_frac - beta * eps_a)`` to eligibility integers."""
        return self.psi_bits + self.trace_frac + self.v_frac - self.e_frac

    @property
    def l_shift(self):
        """Right shift of ``sum B * err`` to accumulator integers."""
        return self.w_frac + self.y_frac - self.acc_frac

    @property
    def err_to_acc_shift(self):
        """Right shift of a readout error to accumulator integers."""
        return self.y_frac - self.acc_frac

    # -- construction and files ------------------------------------------------------------

    def replace(self, **changes):
        """A copy with some fields changed, validated like a new one."""
        unknown = sorted(set(changes) - set(FIELD_GROUPS))
        if unknown:
            raise ValueError(f"unknown configuration field {unknown[0]!r}; known fields: "
                             f"{', '.join(FIELD_GROUPS)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """Fields grouped as in the files: network, formats, conventions, runtime."""
        groups = {}
        for name, group in FIELD_GROUPS.items():
            groups.setdefault(group, {})[name] = getattr(self, name)
        return groups

    @classmethod
    def from_dict(cls, data, *, source="configuration"):
        """Build from grouped (as :meth:`to_dict`) or flat fields; unknown keys are refused."""
        if not isinstance(data, dict):
            raise TypeError(f"{source} must be a table of fields, not {data!r}")
        flat = {}

        def put(name, value):
            if name in flat:
                raise ValueError(f"{source}: field {name!r} is given twice")
            flat[name] = value

        for key, value in data.items():
            if key in GROUPS:
                if not isinstance(value, dict):
                    raise ValueError(f"{source}: [{key}] must be a table of fields, "
                                     f"not {value!r}")
                for name, item in value.items():
                    if name in FIELD_GROUPS and FIELD_GROUPS[name] != key:
                        raise ValueError(f"{source}: field {name!r} belongs in "
                                         f"[{FIELD_GROUPS[name]}], not in [{key}]")
                    if name not in FIELD_GROUPS:
                        raise ValueError(f"{source}: unknown field {name!r} in [{key}]")
                    put(name, item)
            elif key in FIELD_GROUPS:
                put(key, value)
            else:
                raise ValueError(f"{source}: unknown field {key!r}")
        if source == "configuration":
            return cls(**flat)
        try:
            return cls(**flat)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{source}: {exc}") from None

    def to_toml(self):
        return tomli_w.dumps(self.to_dict())

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path):
        """Write TOML or JSON, chosen by the file's suffix."""
        path = Path(path)
        text = {".toml": self.to_toml, ".json": self.to_json}.get(path.suffix)
        if text is None:
            raise ValueError(f"configuration file must end in .toml or .json, not {str(path)!r}")
        path.write_text(text())

    @classmethod
    def parse(cls, text, fmt, *, source="configuration"):
        """Build from TOML or JSON text (``fmt`` is "toml" or "json")."""
        if fmt not in ("toml", "json"):
            raise ValueError(f"format must be 'toml' or 'json', not {fmt!r}")
        try:
            data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{source} is not valid {fmt.upper()}: {exc}") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def load(cls, path):
        """Read a TOML or JSON file written by :meth:`save` (or by hand)."""
        path = Path(path)
        fmt = {".toml": "toml", ".json": "json"}.get(path.suffix)
        if fmt is None:
            raise ValueError(f"configuration file must end in .toml or .json, not {str(path)!r}")
        return cls.parse(path.read_text(), fmt, source=str(path))

    # -- float views (for docs and the reference tier) -------------------------------------

    def decay_float(self, name):
        """A decay factor as the float it stands for."""
        return getattr(self, name) / 2**self.decay_bits

    @staticmethod
    def decay_int(tau, decay_bits):
        """The decay factor exp(-1/tau) rounded to ``decay_bits`` fraction bits."""
        return min(round(math.exp(-1.0 / tau) * 2**decay_bits), 2**decay_bits - 1)


def _cue():
    # 2250-step trials need adaptation over thousands of steps: 16-bit decay fractions so that
    # exp(-1/2000) is representable, and 14 fraction bits of adaptation so that it decays
    # exponentially rather than one LSB per step.
    d = 16
    return Config(n_in=40, n_rec=100, n_alif=50, n_out=2, decay_bits=d,
                  a_bits=20, a_frac=14,
                  alpha=Config.decay_int(20, d), rho=Config.decay_int(2000, d),
                  kappa=Config.decay_int(20, d), beta=Config().beta // 4)


def _ice40():
    # Sized and simplified to fit the iCE40 UP5K with the UART link (docs/board_icebreaker.md):
    # LIF neurons only and factored traces (no per-synapse traces, no sweep), round-to-zero
    # weight updates (no random source) and 8-bit event counters. With 8 ALIF neurons, full
    # traces and stochastic updates the same network takes 9,353 logic cells and 17 DSPs,
    # against the part's 5,280 and 8.
    return Config(n_in=16, n_rec=32, n_alif=0, n_out=2, trace_mode="factored",
                  update_rounding="zero", counter_bits=8)


PRESETS = {
    "tiny": lambda: Config(),
    "cue": _cue,
    "ice40": _ice40,
    "reckon": lambda: Config(n_in=256, n_rec=256, n_alif=0, n_out=16),
}


def ensure_config(cfg):
    """Refuse anything but a :class:`Config` (for components built from one)."""
    if not isinstance(cfg, Config):
        raise TypeError(f"Configuration must be an eligo.config.Config, not {cfg!r}")
    return cfg


def preset(name, **changes):
    """A named preset, optionally with some fields changed."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(map(repr, PRESETS))}, not {name!r}")
    cfg = PRESETS[name]()
    return cfg.replace(**changes) if changes else cfg


def load(path_or_preset):
    """A preset name, or a path to a TOML/JSON configuration file."""
    if path_or_preset in PRESETS:
        return preset(path_or_preset)
    return Config.load(path_or_preset)
