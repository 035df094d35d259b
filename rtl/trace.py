"""The traces of docs/spec.md 3, phase 2 (``xbar``, ``zbar``, ``zout``), and the readout and
error of phase 3 (``y``, ``err``): one value per cycle, pipelined, as streams.

:class:`TraceUnit` decays one presynaptic or readout trace and adds its spike;
:class:`ReadoutUnit` decays one readout, adds its exact weighted spike sum and forms its error
against the target. Both return their results and clamp flags bit for bit as
``eligo.model.kernels.trace_phase`` and ``eligo.model.kernels.readout_phase`` compute them.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import ensure_config
from .arith import RoundShift, Saturate

__all__ = ["trace_in_layout", "trace_out_layout", "TraceUnit",
           "readout_drive_width", "readout_in_layout", "readout_out_layout", "ReadoutUnit"]


# -- traces (phase 2) ------------------------------------------------------------------------

def trace_in_layout(cfg):
    """Layout of one trace update request (the payload of :attr:`TraceUnit.i`).

    Fields: ``trace`` (``unsigned(trace_bits)``: the old ``xbar_i``, ``zbar_i`` or ``zout_j``),
    ``spike`` (1: ``x_i``, ``z_old_i`` or ``z_j``), ``rand`` (64 bits: ``rand64`` of site PRE
    at ``row = 0``, ``col = i`` (``i`` indexing ``pre``, so ``n_in + i`` for ``zbar_i``), or of
    site ZOUT at ``row = 0``, ``col = j``, and this step; read only when
    ``cfg.rounding == "stochastic"``).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "trace": unsigned(cfg.trace_bits),
        "spike": 1,
        "rand": 64,
    })


def trace_out_layout(cfg):
    """Layout of one trace update result (the payload of :attr:`TraceUnit.o`).

    Fields: ``trace`` (``unsigned(trace_bits)``), ``clamped`` (1: the sum exceeded
    ``2**trace_bits - 1``; counted by ``sat_xbar``, ``sat_zbar`` or ``sat_zout``).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "trace": unsigned(cfg.trace_bits),
        "clamped": 1,
    })


class TraceUnit(wiring.Component):
    """One presynaptic trace (``xbar_i``, ``zbar_i``) or readout trace (``zout_j``) of
    docs/spec.md 3, phase 2, per cycle.

    With ``D = decay_bits`` and ``R`` the rounding shift of ``cfg.rounding`` (random word from
    the request)::

        trace' = sat_u(R(trace * decay, D) + spike * 2**trace_frac, trace_bits)

    ``decay`` is a runtime input port: the caller drives ``alpha`` for presynaptic traces and
    ``kappa`` for readout traces. The unit reads it in stage 1 only, so it must be held while
    requests are in flight (change it only when the unit is empty).

    Pipeline: two register stages.

    - Stage 1 (request to ``s1_*``): ``trace * decay``, its rounding shift by ``D``, plus the
      spike.
    - Stage 2 (``s1_*`` to the output register): the saturation.

    Internal widths (``tb = trace_bits``; every value is exact, nothing wraps):

    - ``product = trace * decay``: ``unsigned(tb + D)``; rounded as ``signed(tb + D + 1)``.
    - ``decayed``: ``unsigned(tb)``. ``product <= (2**tb - 1) * (2**D - 1)``, so even a
      stochastic rounding up gives ``(product + 2**D - 1) >> D
      = (2**(tb+D) - 2**tb) >> D <= 2**tb - 1``. Only a spike can push the sum past the range.
    - ``total = decayed + (spike << trace_frac)``: ``unsigned(tb + 1)``, below
      ``2**tb + 2**(tb-1)`` (``trace_frac <= trace_bits - 1``).

    Latency: 2 cycles (:attr:`latency`): a request that transfers on ``i`` in cycle ``n`` is
    presented on ``o`` in cycle ``n + 2`` when ``o`` is not back-pressured. Throughput: one
    trace per cycle. The pipeline stalls as a whole, as :class:`eligo.rtl.neuron.NeuronUnit`
    does: it advances when its last stage is empty or ``o.ready`` is high (``i.ready`` is that
    condition, combinationally dependent on ``o.ready``); ``o.payload`` is stable while
    ``o.valid`` waits for ``o.ready``.

    Parameters
    ----------
    cfg : eligo.config.Config
        The configuration (``trace_bits``, ``trace_frac``, ``decay_bits``, ``rounding``).

    Members
    -------
    i : ``In(stream.Signature(trace_in_layout(cfg)))``
        Trace update requests.
    o : ``Out(stream.Signature(trace_out_layout(cfg)))``
        Results, in request order.
    decay : ``In(unsigned(decay_bits))``
        Decay factor: ``alpha`` (``xbar``, ``zbar``) or ``kappa`` (``zout``).

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`eligo.config.Config`.
    """

    def __init__(self, cfg):
        ensure_config(cfg)
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(trace_in_layout(cfg))),
            "o": Out(stream.Signature(trace_out_layout(cfg))),
            "decay": In(unsigned(cfg.decay_bits)),
        })

    @property
    def cfg(self):
        return self._cfg

    @property
    def latency(self):
        """Cycles from a transfer on ``i`` to ``o.valid`` with no backpressure."""
        return 2

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        D, tb = cfg.decay_bits, cfg.trace_bits

        s1_valid, s2_valid = Signal(name="s1_valid"), Signal(name="s2_valid")
        advance = Signal()
        m.d.comb += [
            advance.eq(~s2_valid | self.o.ready),
            self.i.ready.eq(advance),
            self.o.valid.eq(s2_valid),
        ]

        # -- stage 1: decay and spike ---------------------------------------------------------
        req = self.i.payload
        product = Signal(unsigned(tb + D))
        m.submodules.round = rnd = RoundShift(tb + D + 1, D, cfg.rounding)
        decayed = Signal(unsigned(tb))
        total = Signal(unsigned(tb + 1))
        m.d.comb += [
            product.eq(req.trace * self.decay),
            rnd.x.eq(product),
            rnd.rand.eq(req.rand),
            decayed.eq(rnd.o),  # in [0, 2**tb - 1]: see the class docstring
            total.eq(decayed + (req.spike << cfg.trace_frac)),
        ]

        s1_total = Signal(unsigned(tb + 1), reset_less=True)
        with m.If(advance):
            m.d.sync += [s1_valid.eq(self.i.valid), s1_total.eq(total)]

        # -- stage 2: saturation --------------------------------------------------------------
        m.submodules.sat = sat = Saturate(tb + 2, tb, signed=False)
        m.d.comb += sat.i.eq(s1_total)

        s2 = Signal(trace_out_layout(cfg), reset_less=True)
        with m.If(advance):
            m.d.sync += [
                s2_valid.eq(s1_valid),
                s2.trace.eq(sat.o), s2.clamped.eq(sat.clamped),
            ]
        m.d.comb += self.o.payload.eq(s2)
        return m


# -- readout and error (phase 3) -------------------------------------------------------------

def readout_drive_width(cfg):
    """Bits of the signed readout drive ``sum_j w_out[k, j] * z_j``: it holds
    ``[-n_rec * 2**(w_bits-1), n_rec * 2**(w_bits-1)]``, every sum of ``n_rec`` weights."""
    ensure_config(cfg)
    return (cfg.n_rec << (cfg.w_bits - 1)).bit_length() + 1


def readout_in_layout(cfg):
    """Layout of one readout update request (the payload of :attr:`ReadoutUnit.i`).

    Fields: ``y`` (``signed(y_bits)``: the old ``y_k``), ``drive``
    (``signed(readout_drive_width(cfg))``: ``sum_j w_out[k, j] * z_j``, exact, with this
    step's spikes), ``ystar`` (``signed(y_bits)``: the target), ``mask`` (1: the target is
    given), ``rand`` (64 bits: ``rand64`` of site Y at ``row = k``, ``col = 0`` and this step;
    read only when ``cfg.rounding == "stochastic"``).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "y": signed(cfg.y_bits),
        "drive": signed(readout_drive_width(cfg)),
        "ystar": signed(cfg.y_bits),
        "mask": 1,
        "rand": 64,
    })


def readout_out_layout(cfg):
    """Layout of one readout update result (the payload of :attr:`ReadoutUnit.o`).

    Fields: ``y`` (``signed(y_bits)``), ``err`` (``signed(err_bits)``: 0 where ``mask`` is
    0), ``sat_y`` (1: ``y`` was clamped), ``sat_err`` (1: ``err`` was clamped; only ever where
    ``mask`` is 1).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "y": signed(cfg.y_bits),
        "err": signed(cfg.err_bits),
        "sat_y": 1,
        "sat_err": 1,
    })


class ReadoutUnit(wiring.Component):
    """One readout ``k`` of docs/spec.md 3, phase 3, per cycle: the leaky readout and its
    error.

    With ``D = decay_bits`` and ``R`` the rounding shift of ``cfg.rounding`` (random word from
    the request)::

        y'   = sat_s(R(y * kappa, D) + (drive << out_shift), y_bits)
        err  = sat_s(y' - ystar, err_bits) if mask else 0

    ``out_shift = y_frac - w_frac``. ``sat_err`` is set only where ``mask`` is 1 (the golden
    model counts an error clamp only for a given target).

    ``kappa`` is a runtime input port, read in stage 1 only: hold it while requests are in
    flight.

    Pipeline: two register stages.

    - Stage 1 (request to ``s1_*``): ``y * kappa``, its rounding shift by ``D``, plus the
      shifted drive.
    - Stage 2 (``s1_*`` to the output register): the saturation of ``y'``, ``y' - ystar``, its
      saturation and the mask.

    Internal widths (``yb = y_bits``, ``st`` is 1 for stochastic rounding, else 0, ``dw`` is
    :func:`readout_drive_width`; every value is exact, nothing wraps):

    - ``y_kappa``: ``signed(yb + D)``. ``|y * kappa| <= 2**(yb-1) * (2**D - 1)``.
    - ``dy``: ``signed(yb + st)`` (:class:`RoundShift` of ``yb + D`` bits by ``D``; the value
      even lies in ``[-2**(yb-1), 2**(yb-1) - 1]``).
    - ``shifted = drive << out_shift``: ``signed(dw + out_shift)``.
    - ``y_sum``: ``signed(max(yb + st, dw + out_shift) + 1)``: the sum of two values of at most
      that width less one.
    - ``diff = y' - ystar``: ``signed(yb + 1)``, in ``[-(2**yb - 1), 2**yb - 1]``; it can
      clamp only when ``err_bits <= y_bits``.

    Latency: 2 cycles (:attr:`latency`). Throughput: one readout per cycle. The pipeline stalls
    as a whole (as :class:`TraceUnit`); ``o.payload`` is stable while ``o.valid`` waits for
    ``o.ready``.

    Parameters
    ----------
    cfg : eligo.config.Config
        The configuration (``n_rec``, ``w_bits``, ``w_frac``, ``y_bits``, ``y_frac``,
        ``err_bits``, ``decay_bits``, ``rounding``).

    Members
    -------
    i : ``In(stream.Signature(readout_in_layout(cfg)))``
        Readout update requests.
    o : ``Out(stream.Signature(readout_out_layout(cfg)))``
        Results, in request order.
    kappa : ``In(unsigned(decay_bits))``
        Readout decay factor.

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`eligo.config.Config`.
    """

    def __init__(self, cfg):
        ensure_config(cfg)
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(readout_in_layout(cfg))),
            "o": Out(stream.Signature(readout_out_layout(cfg))),
            "kappa": In(unsigned(cfg.decay_bits)),
        })

    @property
    def cfg(self):
        return self._cfg

    @property
    def latency(self):
        """Cycles from a transfer on ``i`` to ``o.valid`` with no backpressure."""
        return 2

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        D, yb, st = cfg.decay_bits, cfg.y_bits, int(cfg.rounding == "stochastic")
        dw = readout_drive_width(cfg)
        sum_width = max(yb + st, dw + cfg.out_shift) + 1

        s1_valid, s2_valid = Signal(name="s1_valid"), Signal(name="s2_valid")
        advance = Signal()
        m.d.comb += [
            advance.eq(~s2_valid | self.o.ready),
            self.i.ready.eq(advance),
            self.o.valid.eq(s2_valid),
        ]

        # -- stage 1: decay and drive ---------------------------------------------------------
        req = self.i.payload
        y_kappa = Signal(signed(yb + D))
        m.submodules.round = rnd = RoundShift(yb + D, D, cfg.rounding)
        shifted = Signal(signed(dw + cfg.out_shift))
        y_sum = Signal(signed(sum_width))
        m.d.comb += [
            y_kappa.eq(req.y * self.kappa),
            rnd.x.eq(y_kappa),
            rnd.rand.eq(req.rand),
            shifted.eq(req.drive << cfg.out_shift),
            y_sum.eq(rnd.o + shifted),
        ]

        s1_y_sum = Signal(signed(sum_width), reset_less=True)
        s1_ystar = Signal(signed(yb), reset_less=True)
        s1_mask = Signal(reset_less=True)
        with m.If(advance):
            m.d.sync += [
                s1_valid.eq(self.i.valid),
                s1_y_sum.eq(y_sum), s1_ystar.eq(req.ystar), s1_mask.eq(req.mask),
            ]

        # -- stage 2: saturation, error -------------------------------------------------------
        m.submodules.sat_y = sat_y = Saturate(sum_width, yb, signed=True)
        m.submodules.sat_err = sat_err = Saturate(yb + 1, cfg.err_bits, signed=True)
        diff = Signal(signed(yb + 1))
        m.d.comb += [
            sat_y.i.eq(s1_y_sum),
            diff.eq(sat_y.o - s1_ystar),
            sat_err.i.eq(diff),
        ]

        s2 = Signal(readout_out_layout(cfg), reset_less=True)
        with m.If(advance):
            m.d.sync += [
                s2_valid.eq(s1_valid),
                s2.y.eq(sat_y.o), s2.sat_y.eq(sat_y.clamped),
                s2.err.eq(Mux(s1_mask, sat_err.o, 0)),
                s2.sat_err.eq(s1_mask & sat_err.clamped),
            ]
        m.d.comb += self.o.payload.eq(s2)
        return m
