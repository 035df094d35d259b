"""Fixed-point helpers of docs/spec.md 1: the rounding shift ``R`` (1.1) and saturation
``sat_s`` / ``sat_u`` (1, notation)."""

from amaranth import hdl
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ROUND_MODES", "RoundShift", "Saturate", "at_least", "at_most", "below", "within",
           "times_const", "times_small", "row_major"]

#: The rounding modes of spec 1.1, in the order of ``eligo.model.kernels.ROUND_MODES``.
ROUND_MODES = ("zero", "floor", "stochastic")

MAX_WIDTH = 64  # the golden model is int64
MAX_SHIFT = 62  # the configuration never shifts by more (docs/spec.md 1)


def _check_int(name, value, lo, hi):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, not {value!r}")


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")


# Synthesis maps every ``*`` to a DSP block, even with a constant or a 2-bit operand: the
# iCE40 UP5K has 8 of them, and a DSP's delay on an address path sits before a memory read.
# The two helpers below build such products from shifts, selects and adds instead.

def times_const(x, k):
    """The exact product ``x * k`` of an unsigned value ``x`` and an integer constant
    ``k >= 0``: one shifted copy of ``x`` per set bit of ``k``, added (``popcount(k) - 1``
    adders, none for a power of two). A Python int ``x`` gives the int ``x * k``."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise ValueError(f"k must be a non-negative integer, not {k!r}")
    if isinstance(x, int):
        return x * k
    x = Value.cast(x)
    if x.shape().signed:
        raise TypeError(f"x must be unsigned, not {x.shape()!r}")
    terms = [x << b for b in range(k.bit_length()) if k >> b & 1]
    product = terms[0] if terms else Const(0, 1)
    for term in terms[1:]:
        product = product + term
    return product


def row_major(row, stride, col):
    """``row * stride + col``, the word of column ``col`` of row ``row`` in a row-major
    memory of rows ``stride`` words long, for ``0 <= col < stride`` (the caller's contract;
    the result is wrong otherwise). With ``stride`` a power of two it is ``col``'s low bits
    below ``row``: no adder on the address path."""
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
        raise ValueError(f"stride must be a positive integer, not {stride!r}")
    row, col = Value.cast(row), Value.cast(col)
    if stride & (stride - 1) == 0:
        bits = stride.bit_length() - 1
        return Cat(col[:bits], Const(0, max(0, bits - len(col))), row)
    return times_const(row, stride) + col


# Synthesis maps a comparison with a constant to a carry chain of the value's full width
# (yosys simplifies only a few constants): the helpers below compare only the bits the
# constant needs and test the bits above it with a reduction.

def at_most(value, bound):
    """``value <= bound`` for a value and an integer constant ``bound``, as a comparison of
    ``bound.bit_length()`` low bits (none where the bound is all ones) and a test that the
    bits above them are zero (for a signed value, or all ones below a negative bound)."""
    _check_int("bound", bound, -(1 << MAX_WIDTH), 1 << MAX_WIDTH)
    value = Value.cast(value)
    if bound < 0:  # value <= bound  <=>  ~value >= ~bound = -1 - bound >= 0
        return at_least(~value, -1 - bound) if value.shape().signed else Const(0)
    signed, width = value.shape().signed, len(value)
    if bound >= (1 << (width - signed)) - 1:
        return Const(1)
    k = bound.bit_length()
    magnitude = value[:width - 1] if signed else value  # (the bits below the sign)
    fits = magnitude[k:] == 0 if k < len(magnitude) else Const(1)
    low = Const(1) if bound == (1 << k) - 1 else value[:k] <= bound
    return (value[-1] | (fits & low)) if signed else (fits & low)


def at_least(value, bound):
    """``value >= bound`` for a value and an integer constant ``bound`` (see
    :func:`at_most`)."""
    _check_int("bound", bound, -(1 << MAX_WIDTH), 1 << MAX_WIDTH)
    value = Value.cast(value)
    if bound < 0:  # value >= bound  <=>  ~value <= ~bound = -1 - bound >= 0
        return at_most(~value, -1 - bound) if value.shape().signed else Const(1)
    signed, width = value.shape().signed, len(value)
    magnitude = value[:width - 1] if signed else value
    if bound == 0:
        return ~value[-1] if signed else Const(1)
    if bound > (1 << len(magnitude)) - 1:
        return Const(0)
    k = bound.bit_length()
    above = magnitude[k:] != 0 if k < len(magnitude) else Const(0)
    low = magnitude[:k] >= bound if bound != 1 << (k - 1) else magnitude[k - 1]
    result = above | low
    return ~value[-1] & result if signed else result


def below(value, bound):
    """``value < bound`` for an integer constant ``bound`` (see :func:`at_most`)."""
    return at_most(value, bound - 1)


def within(value, low, high):
    """``low <= value <= high`` for integer constants (see :func:`at_most`)."""
    return at_least(value, low) & at_most(value, high)


def times_small(x, q, bound):
    """The exact product ``x * q`` of a value ``x`` and a value ``q`` with ``|q| <= bound``
    (a small constant: the trigger's ``q_max``): per bit of ``|q|`` a select of ``x``
    shifted, added, then the sign. An unsigned ``q`` is a magnitude and needs no sign logic,
    so a caller that holds ``|q|`` and the sign apart passes ``|q|`` and applies the sign
    once itself. ``q`` outside ``[-bound, bound]`` is a contract violation (the product is
    then wrong)."""
    if not isinstance(bound, int) or isinstance(bound, bool) or bound < 1:
        raise ValueError(f"bound must be a positive integer, not {bound!r}")
    x, q = Value.cast(x), Value.cast(q)
    signed_q = q.shape().signed
    mag = (Mux(q < 0, -q, q) if signed_q else q)[:bound.bit_length()]
    product = Mux(mag[0], x, 0)
    for b in range(1, bound.bit_length()):
        product = product + Mux(mag[b], x << b, 0)
    return Mux(q < 0, -product, product) if signed_q else product


def round_shift_width(width, shift, mode):
    """Bits of the signed result of :class:`RoundShift` (see its docstring for the proof)."""
    return max(width - shift, 1) + (mode == "stochastic")


class RoundShift(wiring.Component):
    """``R(x, shift)`` of docs/spec.md 1.1: an arithmetic right shift by a fixed ``shift``
    with rounding ``mode``, exact (no wrap, no saturation) for every input.

    - ``"zero"``: ``sign(x) * (abs(x) >> shift)``, computed as
      ``(x + (x < 0 ? 2**shift - 1 : 0)) >> shift``.
    - ``"floor"``: ``x >> shift``.
    - ``"stochastic"``: ``(x + (rand & (2**shift - 1))) >> shift``, with ``rand`` the
      ``rand64`` of the rounding site (only its low ``shift`` bits are used).

    Output width. Let ``w = width``, ``s = shift`` and ``x`` in ``[-2**(w-1), 2**(w-1) - 1]``.

    - floor: ``x >> s`` lies in ``[-2**(w-1) >> s, (2**(w-1) - 1) >> s]``. For ``s < w`` that
      is ``[-2**(w-1-s), 2**(w-1-s) - 1]``: ``w - s`` signed bits; for ``s >= w`` it is
      ``[-1, 0]``: 1 bit. So ``max(w - s, 1)`` bits.
    - zero: ``|R(x)| = |x| >> s`` and the sign is kept, so the result lies between the floor
      results of ``-2**(w-1)`` and ``2**(w-1) - 1``: ``max(w - s, 1)`` bits again (it reaches
      ``-2**(w-1-s)`` for ``x = -2**(w-1)`` when ``s < w``).
    - stochastic: with ``0 <= r <= 2**s - 1`` the sum ``x + r`` lies in
      ``[-2**(w-1), 2**(w-1) + 2**s - 2]``, so the result lies in
      ``[-2**(w-1) >> s, (2**(w-1) + 2**s - 2) >> s]``. For ``s < w`` that is
      ``[-2**(w-1-s), 2**(w-1-s)]`` (``floor((2**(w-1) + 2**s - 2) / 2**s) = 2**(w-1-s)``
      because ``2**s - 2 < 2**s``), which needs ``w - s + 1`` signed bits, and the top value is
      reached (``x = 2**(w-1) - 1``, ``r = 2**s - 1``). For ``s >= w`` it is ``[-1, 1]``
      (``2**(w-1) + 2**s - 2 >= 2**s`` because ``w >= 2``): 2 bits. So ``max(w - s, 1) + 1``
      bits. (A 1-bit input, which would make this bound loose, is refused.)

    :attr:`out_width` is that width: ``max(width - shift, 1)``, plus 1 in stochastic mode.

    Latency 0 cycles (combinational) or 1 cycle with ``registered=True`` (``o`` is a register
    updated every cycle, no enable). Throughput: one value per cycle.

    Parameters
    ----------
    width : int
        Bits of the signed input ``x``, 2 to 64.
    shift : int
        Right shift, 1 to 62.
    mode : str
        ``"zero"``, ``"floor"`` or ``"stochastic"``.
    registered : bool
        Register the output (default ``False``).

    Members
    -------
    x : ``In(signed(width))``
        Value to shift.
    rand : ``In(64)``
        Random bits (``rand64`` of the rounding site); used only in stochastic mode, and then
        only ``rand[:shift]``.
    o : ``Out(signed(out_width))``
        ``R(x, shift)``.

    Raises
    ------
    TypeError
        If ``width`` or ``shift`` is not an integer, or ``registered`` not a bool.
    ValueError
        If ``width`` or ``shift`` is out of range, or ``mode`` is not a rounding mode.
    """

    def __init__(self, width, shift, mode, *, registered=False):
        _check_int("Width", width, 2, MAX_WIDTH)
        _check_int("Shift", shift, 1, MAX_SHIFT)
        if not isinstance(mode, str) or mode not in ROUND_MODES:
            raise ValueError(f"Mode must be one of 'zero', 'floor', 'stochastic', "
                             f"not {mode!r}")
        _check_bool("Registered", registered)
        self._width, self._shift, self._mode = width, shift, mode
        self._registered = registered
        super().__init__({
            "x": In(signed(width)),
            "rand": In(64),
            "o": Out(signed(round_shift_width(width, shift, mode))),
        })

    @property
    def width(self):
        return self._width

    @property
    def shift(self):
        return self._shift

    @property
    def mode(self):
        return self._mode

    @property
    def registered(self):
        return self._registered

    @property
    def out_width(self):
        """Bits of the signed output ``o``: ``max(width - shift, 1)``, +1 if stochastic."""
        return round_shift_width(self._width, self._shift, self._mode)

    @property
    def latency(self):
        """Cycles from ``x`` to ``o``: 0, or 1 if registered."""
        return int(self._registered)

    def elaborate(self, platform):
        m = Module()
        s = self._shift
        if self._mode == "floor":
            addend = 0
        elif self._mode == "zero":
            addend = Mux(self.x[-1], (1 << s) - 1, 0)
        else:
            addend = self.rand[:s]
        # x + addend is exact: Amaranth widens signed + unsigned to a signed shape that holds
        # both; `>>` of a signed value is arithmetic (floor division by 2**s).
        total = Signal(signed(max(self._width, s + 1) + 1), name="total")
        result = Signal(signed(self.out_width), name="result")
        m.d.comb += [
            total.eq(self.x + addend),
            result.eq(total >> s),  # fits: see the class docstring
        ]
        domain = m.d.sync if self._registered else m.d.comb
        domain += self.o.eq(result)
        return m


class Saturate(wiring.Component):
    """Clamp a signed value to ``out_width`` bits: ``sat_s`` (``signed=True``, range
    ``[-2**(out_width-1), 2**(out_width-1) - 1]``) or ``sat_u`` (``signed=False``, range
    ``[0, 2**out_width - 1]``) of docs/spec.md 1.

    ``clamped`` is 1 exactly when ``o != i`` (the input was outside the range), which is what
    the golden model's saturation counters count. A bound that the input cannot cross (for
    example ``out_width >= in_width`` with ``signed=True``) costs no logic.

    Latency 0 cycles (combinational). Throughput: one value per cycle.

    Parameters
    ----------
    in_width : int
        Bits of the signed input ``i``, at least 1.
    out_width : int
        Bits of the output ``o``, at least 1.
    signed : bool
        Signed (``sat_s``) or unsigned (``sat_u``) output range.

    Members
    -------
    i : ``In(signed(in_width))``
        Value to clamp.
    o : ``Out(signed(out_width))`` or ``Out(unsigned(out_width))``
        Clamped value.
    clamped : ``Out(1)``
        1 if ``i`` was outside the range of ``o``.

    Raises
    ------
    TypeError
        If ``in_width`` or ``out_width`` is not an integer, or ``signed`` not a bool.
    ValueError
        If ``in_width`` or ``out_width`` is less than 1.
    """

    def __init__(self, in_width, out_width, *, signed):
        for name, value in (("Input width", in_width), ("Output width", out_width)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an integer, not {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        _check_bool("Signed", signed)
        self._in_width, self._out_width, self._signed = in_width, out_width, signed
        if signed:
            self._lo, self._hi = -(1 << (out_width - 1)), (1 << (out_width - 1)) - 1
        else:
            self._lo, self._hi = 0, (1 << out_width) - 1
        # (the parameter `signed` hides amaranth's `signed` here)
        shape = hdl.signed(out_width) if signed else unsigned(out_width)
        super().__init__({
            "i": In(hdl.signed(in_width)),
            "o": Out(shape),
            "clamped": Out(1),
        })

    @property
    def in_width(self):
        return self._in_width

    @property
    def out_width(self):
        return self._out_width

    @property
    def signed(self):
        return self._signed

    @property
    def bounds(self):
        """``(lo, hi)``: the output range."""
        return self._lo, self._hi

    @property
    def latency(self):
        return 0

    def elaborate(self, platform):
        m = Module()
        in_lo, in_hi = -(1 << (self._in_width - 1)), (1 << (self._in_width - 1)) - 1
        low = Signal(name="low")    # i < lo
        high = Signal(name="high")  # i > hi
        if self._lo > in_lo:
            m.d.comb += low.eq(~at_least(self.i, self._lo))
        if self._hi < in_hi:
            m.d.comb += high.eq(~at_most(self.i, self._hi))
        m.d.comb += self.clamped.eq(low | high)
        with m.If(low):
            m.d.comb += self.o.eq(self._lo)
        with m.Elif(high):
            m.d.comb += self.o.eq(self._hi)
        with m.Else():
            m.d.comb += self.o.eq(self.i)
        return m

