"""The error trigger and the weight writes of docs/spec.md 3, phase 4, as pipelined streams.

:class:`TriggerUnit` updates one row's accumulator per cycle (a recurrent neuron ``j`` or a
readout ``k``): the learning signal ``L``, the new accumulator and the update multiple ``q``.
:class:`WeightUpdateUnit` writes one synapse per cycle of a row whose ``q`` is not 0. Both
are bit for bit what ``eligo.model.golden.GoldenModel._learn`` (``_trigger``,
``kernels.write_rows``) computes. Every internal width is the narrowest signed width that
holds the exact value range of its signal over every value the ports allow, so nothing wraps
whatever the runtime parameters are.
"""

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import ensure_config
from .arith import MAX_WIDTH, RoundShift, Saturate, times_const, times_small
from .pipeline import Stages
from .synapse import signed_bits

__all__ = ["signal_width", "homeo_range", "trigger_sum_width", "q_width", "elig_width",
           "eta_bits", "trigger_in_layout", "trigger_out_layout", "weight_in_layout",
           "weight_out_layout", "trigger_ranges", "weight_ranges", "TriggerUnit",
           "WeightUpdateUnit"]

#: Bits of the unsigned runtime ports ``eta`` and ``eta_out`` (eligo.config: 0..65535).
ETA_BITS = 16


# -- value ranges (interval arithmetic; every operation below is monotonic per argument) ----

def _signed_range(bits):
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _unsigned_range(bits):
    return 0, (1 << bits) - 1


def _mul(a, b):
    corners = [x * y for x in a for y in b]
    return min(corners), max(corners)


def _add(a, b):
    return a[0] + b[0], a[1] + b[1]


def _sub(a, b):
    return a[0] - b[1], a[1] - b[0]


def _round_range(a, shift, mode):
    """The range of ``R(x, shift)`` for ``x`` in ``a`` (R is monotonic in ``x``)."""
    lo, hi = a
    if shift <= 0:
        return lo << -shift, hi << -shift
    if mode == "floor":
        return lo >> shift, hi >> shift
    if mode == "zero":
        trunc = lambda v: -((-v) >> shift) if v < 0 else v >> shift
        return trunc(lo), trunc(hi)
    return lo >> shift, (hi + (1 << shift) - 1) >> shift


def _hull(a, b):
    return min(a[0], b[0]), max(a[1], b[1])


def _bits(rng):
    return max(signed_bits(*rng), 2)


def _round(m, name, x, rng, shift, mode, rand):
    """``R(x, shift)`` of docs/spec.md 1.1 for ``x`` with range ``rng``: an exact left shift
    for ``shift <= 0``, else a :class:`RoundShift` (the widths here never exceed 64 bits)."""
    if shift <= 0:
        return x << -shift
    width = _bits(rng)
    assert width <= MAX_WIDTH, (name, width)  # see signal_width() and weight_ranges()
    rs = RoundShift(width, shift, mode)
    m.submodules[name] = rs
    m.d.comb += [rs.x.eq(x), rs.rand.eq(rand)]
    return rs.o


# -- widths and layouts ----------------------------------------------------------------------

def signal_width(cfg):
    """Bits of the signed error part of the learning signal, ``sum_k F[j, k] * err_k`` (the
    core's ``sig`` memory): it holds ``[-n_out * 2**(w_bits-1) * 2**(err_bits-1),
    n_out * 2**(w_bits-1) * 2**(err_bits-1)]`` (at most 56 bits within the configuration's
    limits). The trigger's request adds the homeostatic term: :func:`trigger_sum_width`."""
    ensure_config(cfg)
    return (cfg.n_out << (cfg.w_bits - 1 + cfg.err_bits - 1)).bit_length() + 1


def homeo_range(cfg):
    """The range of the homeostatic term ``homeo_gain * (zout_j - homeo_target)`` over every
    runtime value the configuration allows (``zout_j`` in ``unsigned(trace_bits)``)."""
    ensure_config(cfg)
    zout_minus_target = _sub(_unsigned_range(cfg.trace_bits), cfg.field_range("homeo_target"))
    return _mul(cfg.field_range("homeo_gain"), zout_minus_target)


def trigger_sum_width(cfg):
    """Bits of the signed ``signal_sum`` of a :class:`TriggerUnit` request: a recurrent row's
    ``sum_k F[j, k] * err_k`` (``signal_width(cfg)``) plus its homeostatic term
    (:func:`homeo_range`)."""
    ensure_config(cfg)
    return _bits(_add(_signed_range(signal_width(cfg)), homeo_range(cfg)))


def q_width(cfg):
    """Bits of the signed update multiple ``q``: it holds ``[-q_max, q_max]``."""
    ensure_config(cfg)
    return cfg.q_max.bit_length() + 1


def elig_width(cfg):
    """Bits of the signed ``elig`` of :class:`WeightUpdateUnit`: it holds an ``ebar`` / ``e``
    (``signed(e_bits)``) and a ``zout`` (``unsigned(trace_bits)``)."""
    ensure_config(cfg)
    return max(cfg.e_bits, cfg.trace_bits + 1)


def eta_bits():
    """Bits of the unsigned runtime ports ``eta`` and ``eta_out``."""
    return ETA_BITS


def trigger_in_layout(cfg):
    """Layout of one row request (the payload of :attr:`TriggerUnit.i`).

    Fields: ``signal_sum`` (``signed(trigger_sum_width(cfg))``: for a recurrent row
    ``sum_k F[j, k] * err_k + homeo_gain * (zout_j - homeo_target)``, exact; for a readout
    row ``err_k``, of which only the low ``err_bits`` bits are read, as a signed value),
    ``acc`` (``signed(acc_bits)``: the row's old accumulator), ``has_target`` (1: the step
    carries a target on this core), ``readout`` (1: readout row ``k``; 0: recurrent row ``j``), ``rand`` (64 bits: ``rand64``
    of site L at ``(j, 0)`` or site LOUT at ``(k, 0)`` at this step; read only when
    ``cfg.rounding == "stochastic"``).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "signal_sum": signed(trigger_sum_width(cfg)),
        "acc": signed(cfg.acc_bits),
        "has_target": 1,
        "readout": 1,
        "rand": 64,
    })


def trigger_out_layout(cfg):
    """Layout of one row result (the payload of :attr:`TriggerUnit.o`).

    Fields: ``acc`` (``signed(acc_bits)``: the new accumulator), ``q``
    (``signed(q_width(cfg))``, in ``[-q_max, q_max]``: the row is written when it is not 0),
    ``sat_acc`` (1: the accumulator sum was clamped; counts into ``sat_acc`` for recurrent
    rows and ``sat_acc_out`` for readout rows).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "acc": signed(cfg.acc_bits),
        "q": signed(q_width(cfg)),
        "sat_acc": 1,
    })


def weight_in_layout(cfg):
    """Layout of one synapse write request (the payload of :attr:`WeightUpdateUnit.i`).

    Fields: ``w`` (``signed(w_bits)``: the old weight), ``q`` (``signed(q_width(cfg))``: the
    row's multiple, from :class:`TriggerUnit`), ``elig`` (``signed(elig_width(cfg))``:
    ``ebar_ji`` (``e_ji`` in factored mode) for a recurrent row, ``zout_j`` for a readout
    row), ``readout`` (1: a readout synapse ``(k, j)`` of ``w_out``; 0: a synapse ``(j, i)``
    of ``W``), ``rand`` (64 bits: ``rand64`` of site W at ``(j, i)`` or WOUT at ``(k, j)`` at
    this step; read only when ``cfg.update_rounding == "stochastic"``).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "w": signed(cfg.w_bits),
        "q": signed(q_width(cfg)),
        "elig": signed(elig_width(cfg)),
        "readout": 1,
        "rand": 64,
    })


def weight_out_layout(cfg):
    """Layout of one synapse write result (the payload of :attr:`WeightUpdateUnit.o`).

    Fields: ``w`` (``signed(w_bits)``: the new weight), ``clamped`` (1: the new weight was
    saturated; counts into ``sat_w`` or ``sat_w_out``).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "w": signed(cfg.w_bits),
        "clamped": 1,
    })


def trigger_ranges(cfg):
    """``{name: (lo, hi)}``: the exact range of every internal value of :class:`TriggerUnit`
    over every value its ports allow (names as in its docstring)."""
    ensure_config(cfg)
    r = {}
    acc = _signed_range(cfg.acc_bits)
    r["l_rec"] = _round_range(_signed_range(trigger_sum_width(cfg)), cfg.l_shift, cfg.rounding)
    r["l_out"] = _round_range(_signed_range(cfg.err_bits), cfg.err_to_acc_shift, cfg.rounding)
    r["l"] = _hull(r["l_rec"], r["l_out"])
    r["acc_sum"] = _add(_hull(acc, (0, 0)), r["l"])
    r["acc_new"] = acc
    r["mag"] = (0, 1 << (cfg.acc_bits - 1))
    r["multiple"] = (0, cfg.q_max * ((1 << (cfg.acc_bits - 1)) - 1))
    return r


def weight_ranges(cfg):
    """``{name: (lo, hi)}``: the exact range of every internal value of
    :class:`WeightUpdateUnit` over every value its ports allow (names as in its docstring)."""
    ensure_config(cfg)
    r = {}
    q = _signed_range(q_width(cfg))
    r["eta_q"] = _mul(_unsigned_range(ETA_BITS), q)
    r["prod"] = _mul(r["eta_q"], _signed_range(elig_width(cfg)))
    r["dw_rec"] = _round_range(r["prod"], cfg.lr_shift, cfg.update_rounding)
    r["dw_out"] = _round_range(r["prod"], cfg.lr_out_shift, cfg.update_rounding)
    r["dw"] = _hull(r["dw_rec"], r["dw_out"])
    r["w_sum"] = _sub(_signed_range(cfg.w_bits), r["dw"])
    return r


def _rand_bits(mode, *shifts):
    """Low bits of a random word that a rounding shift reads (0 unless stochastic)."""
    return max([s for s in shifts if s > 0], default=0) if mode == "stochastic" else 0


# -- the trigger -----------------------------------------------------------------------------

class TriggerUnit(wiring.Component):
    """The error trigger of docs/spec.md 3, phase 4, for one row per cycle.

    With ``T = trigger`` and ``s = l_shift = w_frac + y_frac - acc_frac`` for a recurrent row
    (``readout == 0``), ``T = trigger_out`` and ``s = err_to_acc_shift = y_frac - acc_frac``
    for a readout row (``readout == 1``), and ``R`` the rounding shift of ``cfg.rounding``
    (an exact left shift when ``s <= 0``; random word from the request)::

        L    = R(signal_sum, s)                 recurrent: signal_sum = sum_k F[j, k] * err_k
                                                  + homeo_gain * (zout_j - homeo_target)
                                                readout:   signal_sum = err_k (low err_bits)
        acc' = sat_s((acc if accumulate_error else 0) + L, acc_bits)
        q    = sign(acc') * min(q_max, |acc'| // T)
        acc'' = acc' - q * T

    and the result is ``acc''``, ``q`` and ``sat_acc`` (``acc'`` was clamped). A row with
    ``has_target == 0`` passes unchanged: ``acc`` out equals ``acc`` in, ``q = 0``,
    ``sat_acc = 0`` (the golden model keeps the state of a core without a target).

    The division by the runtime ``T``: ``q_max <= 7`` (eligo.config), so
    ``min(q_max, |acc'| // T)`` is the number of ``m`` in ``1..q_max`` with
    ``|acc'| >= m * T``: as ``T >= 1`` the multiples increase with ``m``, the comparisons form
    a thermometer code, and the largest ``m`` that passes is the quotient, clamped to
    ``q_max``. Each ``m * T`` is a product with a constant below 8 (at most two adders).
    ``acc'' = sign(acc') * (|acc'| - |q| * T)`` with ``0 <= |acc'| - |q| * T <= |acc'|``, so
    it keeps the sign of ``acc'`` and fits ``acc_bits`` without a clamp. (``T = 0``, which
    eligo.config refuses, would give ``|q| = q_max`` and ``acc'' = acc'``.)

    Elaboration parameters from ``cfg``: ``n_out``, ``w_bits``, ``err_bits``, ``acc_bits``,
    ``q_max``, the shifts ``l_shift`` and ``err_to_acc_shift``, ``rounding``,
    ``accumulate_error``. The runtime parameters ``trigger`` and ``trigger_out`` are input
    ports, read in stages 2 and 3: hold them while rows are in flight.

    Pipeline: four register stages.

    - Stage 0 (request to ``s0_*``): both rounding shifts (recurrent and readout; the
      ``readout`` bit selects ``L``).
    - Stage 1 (``s0_*`` to ``s1_*``): the accumulator sum and its saturation. (The rounding
      and the sum were one stage: three carry chains in a row, the iCE40's critical path.)
    - Stage 2 (``s1_*`` to ``s2_*``): ``|acc'|``, the ``q_max`` comparisons with the multiples
      of ``T``, ``|q|``.
    - Stage 3 (``s2_*`` to the output register): ``q`` with the sign of ``acc'``,
      ``acc' - q * T``.

    Internal widths (exact ranges over every port value in :func:`trigger_ranges`; each is
    the narrowest signed width of its range, at least 2 bits; nothing wraps):

    - ``l_rec``: ``R`` of ``signed(trigger_sum_width(cfg))`` by ``l_shift`` (a
      :class:`RoundShift`, at most 57 bits in, or a left shift); ``l_out``: ``R`` of
      ``signed(err_bits)`` by ``err_to_acc_shift``; ``l``: their hull.
    - ``acc_sum``: ``acc`` (or 0) plus ``l``; saturated to ``signed(acc_bits)``.
    - ``mag = |acc'|``: ``unsigned(acc_bits)`` (up to ``2**(acc_bits-1)``).
    - ``m * T``: ``unsigned(acc_bits - 1 + bits(m))``; ``q * T``: ``signed(acc_bits + 3)``
      at most; ``acc''``: ``signed(acc_bits)`` (see above).

    Latency: 4 cycles (:attr:`latency`). Throughput: one row per cycle. The pipeline stalls as
    a whole: it advances when its last stage is empty or ``o.ready`` is high (``i.ready`` is
    that condition, combinationally dependent on ``o.ready``); ``o.payload`` is stable while
    ``o.valid`` waits for ``o.ready``.

    Parameters
    ----------
    cfg : eligo.config.Config
        The configuration.

    Members
    -------
    i : ``In(stream.Signature(trigger_in_layout(cfg)))``
        Row requests.
    o : ``Out(stream.Signature(trigger_out_layout(cfg)))``
        Results, in request order.
    trigger, trigger_out : ``In(unsigned(acc_bits - 1))``
        Thresholds of recurrent and readout rows, in accumulator integers (at least 1).

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`eligo.config.Config`.
    """

    def __init__(self, cfg):
        ensure_config(cfg)
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(trigger_in_layout(cfg))),
            "o": Out(stream.Signature(trigger_out_layout(cfg))),
            "trigger": In(unsigned(cfg.acc_bits - 1)),
            "trigger_out": In(unsigned(cfg.acc_bits - 1)),
        })

    @property
    def cfg(self):
        return self._cfg

    @property
    def latency(self):
        """Cycles from a transfer on ``i`` to ``o.valid`` with no backpressure."""
        return 4

    @property
    def widths(self):
        """``{name: bits}`` of every internal value (signed), see the class docstring."""
        return {name: _bits(rng) for name, rng in trigger_ranges(self._cfg).items()}

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        widths = self.widths
        acc_bits, q_max = cfg.acc_bits, cfg.q_max
        qw = q_width(cfg)

        s0_valid, s1_valid, s2_valid, s3_valid = (Signal(name=f"s{k}_valid")
                                                   for k in (0, 1, 2, 3))
        advance = Signal()
        m.d.comb += [
            advance.eq(~s3_valid | self.o.ready),
            self.i.ready.eq(advance),
            self.o.valid.eq(s3_valid),
        ]

        # -- stage 0: learning signal ------------------------------------------------------
        req = self.i.payload
        err = Signal(signed(cfg.err_bits))
        l_rec = Signal(signed(widths["l_rec"]))
        l_out = Signal(signed(widths["l_out"]))
        m.d.comb += [
            err.eq(req.signal_sum[:cfg.err_bits]),  # reinterpreted as signed(err_bits)
            l_rec.eq(_round(m, "round_l", req.signal_sum,
                            _signed_range(trigger_sum_width(cfg)), cfg.l_shift, cfg.rounding,
                            req.rand)),
            l_out.eq(_round(m, "round_lout", err, _signed_range(cfg.err_bits),
                            cfg.err_to_acc_shift, cfg.rounding, req.rand)),
        ]
        s0_l = Signal(signed(widths["l"]), reset_less=True)
        s0_acc = Signal(signed(acc_bits), reset_less=True)
        s0_target = Signal(reset_less=True)
        s0_readout = Signal(reset_less=True)
        with m.If(advance):
            m.d.sync += [
                s0_valid.eq(self.i.valid),
                s0_l.eq(Mux(req.readout, l_out, l_rec)),
                s0_acc.eq(req.acc), s0_target.eq(req.has_target), s0_readout.eq(req.readout),
            ]

        # -- stage 1: accumulator sum, saturation --------------------------------------------
        acc_sum = Signal(signed(widths["acc_sum"]))
        m.d.comb += acc_sum.eq((s0_acc + s0_l) if cfg.accumulate_error else s0_l)
        m.submodules.sat_acc = sat_acc = Saturate(widths["acc_sum"], acc_bits, signed=True)
        m.d.comb += sat_acc.i.eq(acc_sum)

        s1_acc = Signal(signed(acc_bits), reset_less=True)
        s1_sat = Signal(reset_less=True)
        s1_target = Signal(reset_less=True)
        s1_readout = Signal(reset_less=True)
        with m.If(advance):
            m.d.sync += [
                s1_valid.eq(s0_valid),
                # Without a target the row passes unchanged (and q is 0, see stage 2).
                s1_acc.eq(Mux(s0_target, sat_acc.o, s0_acc)),
                s1_sat.eq(s0_target & sat_acc.clamped),
                s1_target.eq(s0_target),
                s1_readout.eq(s0_readout),
            ]

        # -- stage 2: |acc'| against the multiples of the threshold --------------------------
        threshold = Signal(unsigned(acc_bits - 1))
        m.d.comb += threshold.eq(Mux(s1_readout, self.trigger_out, self.trigger))
        mag = Signal(unsigned(acc_bits))
        m.d.comb += mag.eq(Mux(s1_acc < 0, -s1_acc, s1_acc))
        q_mag = Const(0, unsigned(3))
        for k in range(1, q_max + 1):
            multiple = Signal(unsigned(acc_bits - 1 + k.bit_length()), name=f"multiple{k}")
            m.d.comb += multiple.eq(times_const(threshold, k))
            q_mag = Mux(mag >= multiple, k, q_mag)  # thermometer code: the largest k wins
        s2_q_mag = Signal(unsigned(3), reset_less=True)
        s2_acc = Signal(signed(acc_bits), reset_less=True)
        s2_sat = Signal(reset_less=True)
        s2_readout = Signal(reset_less=True)
        with m.If(advance):
            m.d.sync += [
                s2_valid.eq(s1_valid),
                s2_q_mag.eq(Mux(s1_target, q_mag, 0)),
                s2_acc.eq(s1_acc), s2_sat.eq(s1_sat), s2_readout.eq(s1_readout),
            ]

        # -- stage 3: signed q, remainder ---------------------------------------------------
        threshold3 = Signal(unsigned(acc_bits - 1))
        m.d.comb += threshold3.eq(Mux(s2_readout, self.trigger_out, self.trigger))
        # q has the accumulator's sign: the product takes |q| and the sign is applied once,
        # to the remainder's add or subtract.
        negative = s2_acc < 0
        q = Signal(signed(qw))
        # |q| * threshold, the largest multiple of stage 2 (widths counts a sign bit; this
        # value is never negative)
        mag_threshold = Signal(unsigned(widths["multiple"] - 1))
        acc_new = Signal(signed(acc_bits + 1))
        m.d.comb += [
            q.eq(Mux(negative, -s2_q_mag, s2_q_mag)),
            mag_threshold.eq(times_small(threshold3, s2_q_mag, q_max)),
            # acc - q * threshold, in the acc_bits range: see the docstring
            acc_new.eq(Mux(negative, s2_acc + mag_threshold, s2_acc - mag_threshold)),
        ]
        s3 = Signal(trigger_out_layout(cfg), reset_less=True)
        with m.If(advance):
            m.d.sync += [
                s3_valid.eq(s2_valid),
                s3.acc.eq(acc_new), s3.q.eq(q), s3.sat_acc.eq(s2_sat),
            ]
        m.d.comb += self.o.payload.eq(s3)
        return m


# -- the weight writes -----------------------------------------------------------------------

class WeightUpdateUnit(wiring.Component):
    """A weight write of docs/spec.md 3, phase 4, for one synapse per cycle.

    With ``Ru`` the rounding shift of ``cfg.update_rounding`` (random word from the
    request)::

        recurrent (readout == 0):  w' = sat_s(w - Ru(eta * q * elig, lr_shift), w_bits)
        readout   (readout == 1):  w' = sat_s(w - Ru(eta_out * q * elig, lr_out_shift), w_bits)

    where ``elig`` is ``ebar_ji`` (``e_ji`` in factored mode) of a recurrent synapse ``(j, i)``
    or ``zout_j`` of a readout synapse ``(k, j)``; ``clamped`` is 1 when ``w'`` was
    saturated. A shift of 0 is exact. The caller streams only rows whose ``q`` is not 0 and
    skips the ``W_rec`` diagonal ``i == n_in + j`` (it is never written: that is the
    sequencer's job, not this unit's; a request for it would be computed like any other).

    Elaboration parameters from ``cfg``: ``w_bits``, ``e_bits``, ``trace_bits``, ``q_max``,
    ``update_rounding``, and the shifts ``lr_shift`` and ``lr_out_shift`` (runtime fields of
    the configuration, fixed in this hardware). The rates ``eta`` and ``eta_out`` are input
    ports (16 bits each), read in stage 1: hold them while synapses are in flight.

    Pipeline: four register stages, one product or carry chain each.

    - Stage 1 (request to ``s1_*``): ``eta_q = eta * q`` (``eta_out`` for readout
      synapses; shifts and adds, ``q`` is small).
    - Stage 2 (``s1_*`` to ``s2_*``): ``prod = eta_q * elig``.
    - Stage 3 (``s2_*`` to ``s3_*``): both rounding shifts (the ``readout`` bit selects).
    - Stage 4 (``s3_*`` to the output register): ``w - dw`` and its saturation.

    Without ``product_stages`` stages 1 and 3 are left out (their logic joins the next
    stage's): two stages, as on the iCE40, where their registers do not fit.

    Internal widths (exact ranges over every port value in :func:`weight_ranges`; each the
    narrowest signed width of its range; nothing wraps):

    - ``eta_q``: ``signed(16 + q_width(cfg))`` at most; ``prod``: ``eta_q`` times
      ``signed(elig_width(cfg))``, at most 16 + 4 + 25 = 45 bits.
    - ``dw_rec``, ``dw_out``: ``prod`` rounded by ``lr_shift``, ``lr_out_shift``; ``dw``:
      their hull.
    - ``w_sum``: ``w - dw``; saturated to ``signed(w_bits)``.

    Latency: 4 cycles, 2 without ``product_stages`` (:attr:`latency`). Throughput: one
    synapse per cycle. The pipeline stalls as a whole
    (:func:`eligo.rtl.pipeline.stalling_pipeline`).

    Parameters
    ----------
    cfg : eligo.config.Config
        The configuration.
    product_stages : bool
        Keep stages 1 and 3 (default).

    Members
    -------
    i : ``In(stream.Signature(weight_in_layout(cfg)))``
        Synapse write requests.
    o : ``Out(stream.Signature(weight_out_layout(cfg)))``
        Results, in request order.
    eta, eta_out : ``In(unsigned(16))``
        Learning rates of recurrent/input and of readout weights.

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`eligo.config.Config`.
    """

    def __init__(self, cfg, product_stages=True):
        ensure_config(cfg)
        self._product_stages = bool(product_stages)
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(weight_in_layout(cfg))),
            "o": Out(stream.Signature(weight_out_layout(cfg))),
            "eta": In(unsigned(ETA_BITS)),
            "eta_out": In(unsigned(ETA_BITS)),
        })

    @property
    def cfg(self):
        return self._cfg

    @property
    def latency(self):
        """Cycles from a transfer on ``i`` to ``o.valid`` with no backpressure."""
        return 4 if self._product_stages else 2

    @property
    def widths(self):
        """``{name: bits}`` of every internal value (signed), see the class docstring."""
        return {name: _bits(rng) for name, rng in weight_ranges(self._cfg).items()}

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        ranges, widths = weight_ranges(cfg), self.widths
        mode = cfg.update_rounding
        rand_bits = _rand_bits(mode, cfg.lr_shift, cfg.lr_out_shift)

        stages = Stages(m, self, 2, 2, self._product_stages)
        stage, advance = stages.stage, stages.advance

        # -- stage 1: the rate times q (shifts and adds) -------------------------------------
        req = self.i.payload
        eta_q = Signal(signed(widths["eta_q"]))
        m.d.comb += eta_q.eq(times_small(Mux(req.readout, self.eta_out, self.eta), req.q,
                                         cfg.q_max))
        s1 = stage({"eta_q": eta_q, "elig": req.elig, "w": req.w, "readout": req.readout,
                    "rand": req.rand[:rand_bits]}, optional=True)

        # -- stage 2: the product ------------------------------------------------------------
        prod = Signal(signed(widths["prod"]))
        m.d.comb += prod.eq(s1["eta_q"] * s1["elig"])
        s2 = stage({"prod": prod, **{name: s1[name] for name in ("w", "readout", "rand")}})

        # -- stage 3: rounding ---------------------------------------------------------------
        dw_rec = Signal(signed(widths["dw_rec"]))
        dw_out = Signal(signed(widths["dw_out"]))
        dw = Signal(signed(widths["dw"]))
        m.d.comb += [
            dw_rec.eq(_round(m, "round_w", s2["prod"], ranges["prod"], cfg.lr_shift, mode,
                             s2["rand"])),
            dw_out.eq(_round(m, "round_wout", s2["prod"], ranges["prod"], cfg.lr_out_shift,
                             mode, s2["rand"])),
            dw.eq(Mux(s2["readout"], dw_out, dw_rec)),
        ]
        s3 = stage({"dw": dw, "w": s2["w"]}, optional=True)

        # -- stage 4: subtraction, saturation ------------------------------------------------
        w_sum = Signal(signed(widths["w_sum"]))
        m.d.comb += w_sum.eq(s3["w"] - s3["dw"])
        m.submodules.sat_w = sat_w = Saturate(widths["w_sum"], cfg.w_bits, signed=True)
        m.d.comb += sat_w.i.eq(w_sum)

        out = Signal(weight_out_layout(cfg), reset_less=True)
        with m.If(advance):
            m.d.sync += [out.w.eq(sat_w.o), out.clamped.eq(sat_w.clamped)]
        m.d.comb += self.o.payload.eq(out)
        return m
