"""The per-synapse arithmetic of docs/spec.md 3 (phase 1's ``eps_a`` update and phase 2's
eligibility and eligibility trace), bit for bit as ``eligo.model.kernels.sweep_full`` and
``eligibility_rows``.

:class:`AlifFactor` computes the ALIF factor ``G_j`` of a row (once per neuron);
:class:`SynapseUnit` updates one synapse ``(j, i)`` per cycle in a pipeline, in ``full``
trace mode; :class:`EligibilityUnit` computes the eligibility of one synapse per cycle for
the row writes in ``factored`` mode. Every internal width is the narrowest signed width
that holds the exact value range of its signal over every input the ports allow (interval
arithmetic in :func:`synapse_ranges`, :func:`eligibility_ranges`), so nothing wraps whatever
the runtime parameters are.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from eligo.config import ensure_config

from .arith import MAX_WIDTH, RoundShift, Saturate
from .pipeline import stalling_pipeline

__all__ = ["signed_bits", "alif_factor_range", "synapse_ranges", "synapse_in_layout",
           "synapse_out_layout", "AlifFactor", "SynapseUnit", "eligibility_ranges",
           "eligibility_in_layout", "eligibility_out_layout", "EligibilityUnit"]


# -- value ranges ----------------------------------------------------------------------------

def signed_bits(lo, hi):
    """Bits of the narrowest signed shape that holds every integer of ``[lo, hi]``."""
    def need(v):
        return (v if v >= 0 else ~v).bit_length() + 1
    return max(need(lo), need(hi))


def _mul(a, b):
    corners = [x * y for x in a for y in b]
    return min(corners), max(corners)


def _add(a, b):
    return a[0] + b[0], a[1] + b[1]


def _sub(a, b):
    return a[0] - b[1], a[1] - b[0]


def _shl(a, s):
    return a[0] << s, a[1] << s


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


def _signed_range(bits):
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _unsigned_range(bits):
    return 0, (1 << bits) - 1


def _beta_bits(cfg):
    # beta is a runtime parameter in [0, 2**(v_bits - 1) - 1] (eligo.config)
    return cfg.v_bits - 1


def alif_factor_range(cfg):
    """``(lo, hi)`` of ``G = rho - R(psi_old * beta, g_shift)`` over every port value:
    ``psi_old`` in ``[0, 2**psi_bits - 1]``, ``beta`` in ``[0, 2**(v_bits-1) - 1]``, ``rho``
    in ``[0, 2**decay_bits - 1]``."""
    prod = _mul(_unsigned_range(cfg.psi_bits), _unsigned_range(_beta_bits(cfg)))
    shifted = _round_range(prod, cfg.g_shift, cfg.rounding)
    return _sub(_unsigned_range(cfg.decay_bits), shifted)


def synapse_ranges(cfg):
    """``{name: (lo, hi)}``: the exact value range of every internal signal of
    :class:`SynapseUnit` over every input its ports allow (docs/spec.md 3, phases 1 and 2).

    ``D = decay_bits``, ``P = psi_bits``; the port ranges are those of the formats
    (``psi``, ``pre`` unsigned, ``eps``, ``ebar``, ``g`` signed, ``beta`` and ``kappa``
    unsigned). The names are those of the docstring of :class:`SynapseUnit`.
    """
    psi = _unsigned_range(cfg.psi_bits)
    pre = _unsigned_range(cfg.trace_bits)
    eps = _signed_range(cfg.eps_bits)
    e = _signed_range(cfg.e_bits)
    beta = _unsigned_range(_beta_bits(cfg))
    kappa = _unsigned_range(cfg.decay_bits)
    r = {}
    r["psi_pre"] = _mul(psi, pre)
    r["g_eps"] = _mul(alif_factor_range(cfg), eps)
    r["eps_sum"] = _add(_shl(r["psi_pre"], cfg.decay_bits), _shl(r["g_eps"], cfg.psi_bits))
    r["ebar_kappa"] = _mul(e, kappa)
    r["ebar_decayed"] = _round_range(r["ebar_kappa"], cfg.decay_bits, cfg.rounding)
    r["eps_rounded"] = _round_range(r["eps_sum"], cfg.eps_shift, cfg.rounding)
    r["eps_new"] = eps
    r["beta_eps"] = _mul(beta, eps)
    r["e_diff"] = _sub(_shl(pre, cfg.v_frac), r["beta_eps"])
    r["e_sum"] = _mul(psi, r["e_diff"])
    r["e_rounded"] = _round_range(r["e_sum"], cfg.e_shift, cfg.rounding)
    r["e"] = e
    r["ebar_sum"] = _add(r["ebar_decayed"], e)
    r["ebar_new"] = e
    return r


# -- layouts ---------------------------------------------------------------------------------

def synapse_in_layout(cfg):
    """Input payload of :class:`SynapseUnit` for a configuration.

    Fields: ``alif`` (1: the row is an ALIF neuron), ``psi``, ``psi_old``
    (``unsigned(psi_bits)``: the row neuron's pseudo-derivative of this step and of the last),
    ``g`` (``signed``, the row's ``G_j`` from :class:`AlifFactor`), ``pre``, ``pre_old``
    (``unsigned(trace_bits)``: presynaptic trace of the column, this step and the last),
    ``eps`` (``signed(eps_bits)``, the synapse's old ``eps_a``; ignored for LIF rows),
    ``ebar`` (``signed(e_bits)``, the old trace), ``rand_eps``, ``rand_e``, ``rand_ebar``
    (64 bits each: ``rand64`` of sites EPS, E, EBAR at ``(j, i)``; used only when
    ``rounding == "stochastic"``).
    """
    _check_config(cfg)
    return data.StructLayout({
        "alif": 1,
        "psi": unsigned(cfg.psi_bits),
        "psi_old": unsigned(cfg.psi_bits),
        "g": signed(signed_bits(*alif_factor_range(cfg))),
        "pre": unsigned(cfg.trace_bits),
        "pre_old": unsigned(cfg.trace_bits),
        "eps": signed(cfg.eps_bits),
        "ebar": signed(cfg.e_bits),
        "rand_eps": 64,
        "rand_e": 64,
        "rand_ebar": 64,
    })


def synapse_out_layout(cfg):
    """Output payload of :class:`SynapseUnit`: ``eps`` (``signed(eps_bits)``, the new
    ``eps_a``; 0 for LIF rows), ``ebar`` (``signed(e_bits)``, the new trace) and the clamp
    flags ``sat_eps``, ``sat_e``, ``sat_ebar`` (1 bit each: the value was saturated, as the
    golden model's ``sat_*`` counters count)."""
    _check_config(cfg)
    return data.StructLayout({
        "eps": signed(cfg.eps_bits),
        "ebar": signed(cfg.e_bits),
        "sat_eps": 1,
        "sat_e": 1,
        "sat_ebar": 1,
    })


# -- building blocks -------------------------------------------------------------------------

def _check_config(cfg, *, full=False):
    ensure_config(cfg)
    if full and cfg.trace_mode != "full":
        raise ValueError(f"Trace mode must be 'full' (factored mode keeps no per-synapse "
                         f"traces, so it has no synapse unit), not {cfg.trace_mode!r}")


def _round(m, name, x, rng, shift, mode, rand):
    """``R(x, shift)`` of docs/spec.md 1.1 for ``x`` with range ``rng``: an exact left shift
    for ``shift <= 0``, a :class:`RoundShift` up to 64 bits, the same formula inline beyond.
    Returns a value whose range is ``_round_range(rng, shift, mode)``."""
    if shift <= 0:
        return x << -shift
    width = max(signed_bits(*rng), 2)
    if width <= MAX_WIDTH:
        rs = RoundShift(width, shift, mode)
        m.submodules[name] = rs
        m.d.comb += [rs.x.eq(x), rs.rand.eq(rand)]
        return rs.o
    if mode == "floor":
        addend = 0
    elif mode == "zero":
        addend = Mux(x[-1], (1 << shift) - 1, 0)
    else:
        addend = rand[:shift]
    total = Signal(signed(width + 1), name=f"{name}_total")
    m.d.comb += total.eq(x + addend)
    return total >> shift


class AlifFactor(wiring.Component):
    """The ALIF factor of docs/spec.md 3, phase 1, site G:
    ``G_j = rho - R(psi_old_j * beta, g_shift; G, j, 0)``, for one neuron.

    ``g_shift = psi_bits + v_frac - decay_bits`` may be zero or negative; then ``R`` is an
    exact left shift (no random bits are used).

    Widths: ``psi_old * beta`` is exact in ``psi_bits + v_bits - 1`` unsigned bits; ``g`` is
    ``signed(g_width)``, the narrowest signed width that holds ``[-R((2**psi_bits - 1) *
    (2**(v_bits - 1) - 1), g_shift), 2**decay_bits - 1]`` (:func:`alif_factor_range`), so
    ``G`` is exact (never saturated) for every port value.

    Latency 0 cycles (combinational). Throughput: one neuron per cycle.

    Parameters
    ----------
    cfg : eligo.config.Config
        Formats (``psi_bits``, ``v_bits``, ``v_frac``, ``decay_bits``) and ``rounding``.

    Members
    -------
    psi_old : ``In(unsigned(psi_bits))``
        The neuron's pseudo-derivative of the last step.
    beta : ``In(unsigned(v_bits - 1))``
        Runtime threshold adaptation ``beta``.
    rho : ``In(unsigned(decay_bits))``
        Runtime adaptation decay ``rho``.
    rand_g : ``In(64)``
        ``rand64(seed, t, G, j, 0)``; used only when ``rounding == "stochastic"`` and
        ``g_shift > 0``.
    g : ``Out(signed(g_width))``
        ``G_j``.

    Raises
    ------
    TypeError
        If ``cfg`` is not a :class:`~eligo.config.Config`.
    """

    def __init__(self, cfg):
        _check_config(cfg)
        self._cfg = cfg
        super().__init__({
            "psi_old": In(unsigned(cfg.psi_bits)),
            "beta": In(unsigned(_beta_bits(cfg))),
            "rho": In(unsigned(cfg.decay_bits)),
            "rand_g": In(64),
            "g": Out(signed(self.g_width)),
        })

    @property
    def cfg(self):
        return self._cfg

    @property
    def g_width(self):
        """Bits of the signed output ``g``."""
        return signed_bits(*alif_factor_range(self._cfg))

    @property
    def latency(self):
        return 0

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        prod_rng = _mul(_unsigned_range(cfg.psi_bits), _unsigned_range(_beta_bits(cfg)))
        prod = Signal(signed(signed_bits(*prod_rng)), name="psi_beta")
        m.d.comb += prod.eq(self.psi_old * self.beta)
        shifted = _round(m, "round_g", prod, prod_rng, cfg.g_shift, cfg.rounding, self.rand_g)
        m.d.comb += self.g.eq(self.rho - shifted)
        return m


class SynapseUnit(wiring.Component):
    """One synapse ``(j, i)`` per cycle: phase 1's ``eps_a`` and phase 2's eligibility ``e``
    and trace ``ebar`` of docs/spec.md 3 in ``full`` trace mode, exactly as
    ``eligo.model.kernels.sweep_full``::

        eps' = sat_s(R((psi_old * pre_old << D) + (g * eps << P), D + P; EPS, j, i), eps_bits)
        e    = sat_s(R(psi * ((pre << v_frac) - beta * eps'), e_shift; E, j, i), e_bits)
        ebar'= sat_s(R(ebar * kappa, D; EBAR, j, i) + e, e_bits)

    with ``D = decay_bits``, ``P = psi_bits`` and ``eps'`` the new ``eps_a``. For a LIF row
    (``alif == 0``) the ``eps`` input is ignored, ``eps'`` is taken as 0 (no ``beta`` term)
    and the output ``eps`` is 0 with ``sat_eps == 0``: the golden model keeps no ``eps_a``
    for LIF rows. When ``psi == 0``, ``e`` is 0 in every rounding mode and never clamps,
    which is what the golden model gets by skipping it. ``e_shift`` may be zero or negative
    (an exact left shift).

    Pipeline (stage ``k`` registers are named ``s<k>_*``), widths as ranges over every port
    value (:func:`synapse_ranges`, each register the narrowest signed width of its range):

    1. ``psi_pre = psi_old * pre_old``, ``g_eps = g * eps``,
       ``eps_sum = (psi_pre << D) + (g_eps << P)`` (registered); ``ebar_kappa = ebar * kappa``,
       ``ebar_decayed = R(ebar_kappa, D)`` (registered).
    2. ``eps_rounded = R(eps_sum, D + P)``, ``eps' = sat_s(eps_rounded, eps_bits)``, masked to
       0 for LIF rows (registered with ``sat_eps``).
    3. ``beta_eps = beta * eps'``, ``e_diff = (pre << v_frac) - beta_eps`` (registered).
    4. ``e_sum = psi * e_diff`` (registered: the product alone, a cascade of multipliers;
       left out without ``product_stages``, its logic joining stage 5's, as on the iCE40).
    5. ``e_rounded = R(e_sum, e_shift)``, ``e = sat_s(e_rounded, e_bits)`` (registered with
       ``sat_e``).
    6. ``ebar_sum = ebar_decayed + e``, ``ebar' = sat_s(ebar_sum, e_bits)`` (registered with
       ``sat_ebar``: the output).

    :attr:`widths` gives the bits of each of these signals for the configuration. Of the
    random words ``rand_ebar`` is used in stage 1; of ``rand_eps`` and ``rand_e`` only the
    low ``D + P`` and ``e_shift`` bits are carried down the pipeline, and only in stochastic
    mode.

    Latency: 6 cycles, 5 without ``product_stages`` (:attr:`latency`): a synapse that transfers
    on ``i`` in cycle ``n`` is presented on ``o`` in cycle ``n + latency`` when ``o`` is not
    back-pressured. Throughput: one synapse per cycle. As
    :class:`~eligo.rtl.random.Threefry2x32`, the pipeline stalls as a whole: it advances when
    its last stage is empty or ``o.ready`` is high (``i.ready`` is that condition,
    combinationally dependent on ``o.ready``), so ``o.payload`` is stable while ``o.valid``
    waits for ``o.ready``. ``kappa`` is read in stage 1 and ``beta`` in stage 3: hold them
    constant while synapses are in flight.

    Parameters
    ----------
    cfg : eligo.config.Config
        Formats, ``rounding`` and the trace mode, which must be ``"full"``.
    product_stages : bool
        Keep stage 4 (default).

    Members
    -------
    i : ``In(stream.Signature(synapse_in_layout(cfg)))``
        Synapses to update (old state and this row's and column's neuron values).
    o : ``Out(stream.Signature(synapse_out_layout(cfg)))``
        New ``eps`` and ``ebar`` and clamp flags, in input order.
    beta : ``In(unsigned(v_bits - 1))``
        Runtime threshold adaptation ``beta``.
    kappa : ``In(unsigned(decay_bits))``
        Runtime eligibility trace decay ``kappa``.

    Raises
    ------
    TypeError
        If ``cfg`` is not a :class:`~eligo.config.Config`.
    ValueError
        If ``cfg.trace_mode`` is not ``"full"``.
    """

    def __init__(self, cfg, product_stages=True):
        _check_config(cfg, full=True)
        self._product_stages = bool(product_stages)
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(synapse_in_layout(cfg))),
            "o": Out(stream.Signature(synapse_out_layout(cfg))),
            "beta": In(unsigned(_beta_bits(cfg))),
            "kappa": In(unsigned(cfg.decay_bits)),
        })

    @property
    def cfg(self):
        return self._cfg

    @property
    def latency(self):
        """Cycles from a transfer on ``i`` to ``o.valid`` with no backpressure."""
        return 6 if self._product_stages else 5

    @property
    def widths(self):
        """``{name: bits}`` of every internal signal (signed), see the class docstring."""
        return {name: signed_bits(*rng) for name, rng in synapse_ranges(self._cfg).items()}

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        rng = synapse_ranges(cfg)
        width = {name: signed_bits(*r) for name, r in rng.items()}
        mode = cfg.rounding
        stochastic = mode == "stochastic"
        n = self.latency

        def wire(name):
            return Signal(signed(width[name]), name=name)

        def reg(stage, name, shape):
            return Signal(shape, name=f"s{stage}_{name}", reset_less=True)

        def rand_bits(shift):
            return max(shift, 0) if stochastic else 0

        advance = stalling_pipeline(m, self, n)

        def stage(k, pairs):
            """Register ``(dst, src)`` pairs of stage ``k`` when the pipeline advances."""
            with m.If(advance):
                m.d.sync += [dst.eq(src) for dst, src in pairs]

        req = self.i.payload
        # rand_ebar is used in stage 1; of rand_eps and rand_e only the bits that stages 2
        # and 4 use travel down the pipeline.
        eps_rb, e_rb = rand_bits(cfg.eps_shift), rand_bits(cfg.e_shift)

        # -- stage 1: the eps_a sum and the decayed trace ------------------------------------
        psi_pre, g_eps, eps_sum = wire("psi_pre"), wire("g_eps"), wire("eps_sum")
        ebar_kappa, ebar_decayed = wire("ebar_kappa"), wire("ebar_decayed")
        m.d.comb += [
            psi_pre.eq(req.psi_old * req.pre_old),
            g_eps.eq(req.g * req.eps),
            eps_sum.eq((psi_pre << cfg.decay_bits) + (g_eps << cfg.psi_bits)),
            ebar_kappa.eq(req.ebar * self.kappa),
        ]
        m.d.comb += ebar_decayed.eq(_round(m, "round_ebar", ebar_kappa, rng["ebar_kappa"],
                                           cfg.decay_bits, mode, req.rand_ebar))
        s1 = {
            "alif": reg(1, "alif", 1),
            "psi": reg(1, "psi", unsigned(cfg.psi_bits)),
            "pre": reg(1, "pre", unsigned(cfg.trace_bits)),
            "eps_sum": reg(1, "eps_sum", eps_sum.shape()),
            "ebar_decayed": reg(1, "ebar_decayed", ebar_decayed.shape()),
            "rand_eps": reg(1, "rand_eps", eps_rb),
            "rand_e": reg(1, "rand_e", e_rb),
        }
        stage(1, [(s1["alif"], req.alif), (s1["psi"], req.psi), (s1["pre"], req.pre),
                  (s1["eps_sum"], eps_sum), (s1["ebar_decayed"], ebar_decayed),
                  (s1["rand_eps"], req.rand_eps[:eps_rb]), (s1["rand_e"], req.rand_e[:e_rb])])

        # -- stage 2: the new eps_a ----------------------------------------------------------
        eps_rounded = wire("eps_rounded")
        m.d.comb += eps_rounded.eq(_round(m, "round_eps", s1["eps_sum"], rng["eps_sum"],
                                          cfg.eps_shift, mode, s1["rand_eps"]))
        m.submodules.sat_eps = sat_eps = Saturate(width["eps_rounded"], cfg.eps_bits,
                                                  signed=True)
        m.d.comb += sat_eps.i.eq(eps_rounded)
        s2 = {
            "psi": reg(2, "psi", unsigned(cfg.psi_bits)),
            "pre": reg(2, "pre", unsigned(cfg.trace_bits)),
            "eps": reg(2, "eps", signed(cfg.eps_bits)),
            "sat_eps": reg(2, "sat_eps", 1),
            "ebar_decayed": reg(2, "ebar_decayed", s1["ebar_decayed"].shape()),
            "rand_e": reg(2, "rand_e", e_rb),
        }
        stage(2, [(s2["psi"], s1["psi"]), (s2["pre"], s1["pre"]),
                  (s2["eps"], Mux(s1["alif"], sat_eps.o, 0)),
                  (s2["sat_eps"], s1["alif"] & sat_eps.clamped),
                  (s2["ebar_decayed"], s1["ebar_decayed"]), (s2["rand_e"], s1["rand_e"])])

        # -- stage 3: the difference of the eligibility ---------------------------------------
        beta_eps, e_diff = wire("beta_eps"), wire("e_diff")
        m.d.comb += [
            beta_eps.eq(self.beta * s2["eps"]),
            e_diff.eq((s2["pre"] << cfg.v_frac) - beta_eps),
        ]
        s3 = {
            "psi": reg(3, "psi", unsigned(cfg.psi_bits)),
            "e_diff": reg(3, "e_diff", e_diff.shape()),
            "eps": reg(3, "eps", signed(cfg.eps_bits)),
            "sat_eps": reg(3, "sat_eps", 1),
            "ebar_decayed": reg(3, "ebar_decayed", s1["ebar_decayed"].shape()),
            "rand_e": reg(3, "rand_e", e_rb),
        }
        stage(3, [(s3["psi"], s2["psi"]), (s3["e_diff"], e_diff), (s3["eps"], s2["eps"]),
                  (s3["sat_eps"], s2["sat_eps"]), (s3["ebar_decayed"], s2["ebar_decayed"]),
                  (s3["rand_e"], s2["rand_e"])])

        # -- stage 4: the eligibility's product -----------------------------------------------
        e_sum = wire("e_sum")
        m.d.comb += e_sum.eq(s3["psi"] * s3["e_diff"])
        carried = ("eps", "sat_eps", "ebar_decayed", "rand_e")
        s4 = {"e_sum": e_sum, **{name: s3[name] for name in carried}}
        if self._product_stages:
            values = s4
            s4 = {name: reg(4, name, value.shape()) for name, value in values.items()}
            stage(4, [(s4[name], value) for name, value in values.items()])

        # -- stage 5: the eligibility ----------------------------------------------------------
        e_rounded = wire("e_rounded")
        m.d.comb += e_rounded.eq(_round(m, "round_e", s4["e_sum"], rng["e_sum"], cfg.e_shift,
                                        mode, s4["rand_e"]))
        m.submodules.sat_e = sat_e = Saturate(width["e_rounded"], cfg.e_bits, signed=True)
        m.d.comb += sat_e.i.eq(e_rounded)
        s5 = {
            "e": reg(5, "e", signed(cfg.e_bits)),
            "sat_e": reg(5, "sat_e", 1),
            "eps": reg(5, "eps", signed(cfg.eps_bits)),
            "sat_eps": reg(5, "sat_eps", 1),
            "ebar_decayed": reg(5, "ebar_decayed", s1["ebar_decayed"].shape()),
        }
        stage(5, [(s5["e"], sat_e.o), (s5["sat_e"], sat_e.clamped), (s5["eps"], s4["eps"]),
                  (s5["sat_eps"], s4["sat_eps"]), (s5["ebar_decayed"], s4["ebar_decayed"])])

        # -- stage 6: the trace -----------------------------------------------------------------
        ebar_sum = wire("ebar_sum")
        m.d.comb += ebar_sum.eq(s5["ebar_decayed"] + s5["e"])
        m.submodules.sat_ebar = sat_ebar = Saturate(width["ebar_sum"], cfg.e_bits,
                                                    signed=True)
        m.d.comb += sat_ebar.i.eq(ebar_sum)
        s6 = reg(6, "out", synapse_out_layout(cfg))
        stage(6, [(s6.eps, s5["eps"]), (s6.sat_eps, s5["sat_eps"]), (s6.ebar, sat_ebar.o),
                  (s6.sat_e, s5["sat_e"]), (s6.sat_ebar, sat_ebar.clamped)])
        m.d.comb += self.o.payload.eq(s6)
        return m


# -- factored mode ---------------------------------------------------------------------------

def eligibility_ranges(cfg):
    """``{name: (lo, hi)}`` of :class:`EligibilityUnit`'s signals: ``e_sum = psi * (pre <<
    v_frac)`` and ``e_rounded = R(e_sum, e_shift)``."""
    ensure_config(cfg)
    e_sum = _mul(_unsigned_range(cfg.psi_bits), _shl(_unsigned_range(cfg.trace_bits),
                                                     cfg.v_frac))
    return {"e_sum": e_sum, "e_rounded": _round_range(e_sum, cfg.e_shift, cfg.rounding)}


def eligibility_in_layout(cfg):
    """Input payload of :class:`EligibilityUnit`: ``psi`` (``unsigned(psi_bits)``, the row
    neuron's pseudo-derivative), ``pre`` (``unsigned(trace_bits)``, the column's presynaptic
    trace) and ``rand_e`` (64 bits: ``rand64`` of site E at ``(j, i)``; used only when
    ``rounding == "stochastic"``)."""
    ensure_config(cfg)
    return data.StructLayout({"psi": unsigned(cfg.psi_bits), "pre": unsigned(cfg.trace_bits),
                              "rand_e": 64})


def eligibility_out_layout(cfg):
    """Output payload of :class:`EligibilityUnit`: ``e`` (``signed(e_bits)``) and ``sat_e``
    (1: it was saturated)."""
    ensure_config(cfg)
    return data.StructLayout({"e": signed(cfg.e_bits), "sat_e": 1})


class EligibilityUnit(wiring.Component):
    """The eligibility of one synapse ``(j, i)`` per cycle in ``factored`` trace mode, exactly
    as ``eligo.model.kernels.eligibility_rows``::

        e = sat_s(R(psi * (pre << v_frac), e_shift; E, j, i), e_bits)

    (:class:`SynapseUnit`'s ``e`` without the ``eps`` term, which factored mode does not
    keep). The row writes need only this, so it is two stages rather than the synapse
    unit's five: a core delays fewer tags and weights to meet it.

    Pipeline: 1. ``e_sum = psi * (pre << v_frac)`` (registered, with the ``e_shift`` random
    bits stochastic rounding uses); 2. ``e = sat_s(R(e_sum, e_shift), e_bits)`` (registered
    with ``sat_e``: the output). Latency 2 cycles (:attr:`latency`), one synapse per cycle;
    the pipeline stalls as a whole as :class:`SynapseUnit`'s does.

    Parameters
    ----------
    cfg : eligo.config.Config
        Formats and ``rounding`` (any trace mode).

    Members
    -------
    i : ``In(stream.Signature(eligibility_in_layout(cfg)))``
    o : ``Out(stream.Signature(eligibility_out_layout(cfg)))``

    Raises
    ------
    TypeError
        If ``cfg`` is not a :class:`~eligo.config.Config`.
    """

    STAGES = 2

    def __init__(self, cfg):
        ensure_config(cfg)
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(eligibility_in_layout(cfg))),
            "o": Out(stream.Signature(eligibility_out_layout(cfg))),
        })

    @property
    def cfg(self):
        return self._cfg

    @property
    def latency(self):
        """Cycles from a transfer on ``i`` to ``o.valid`` with no backpressure."""
        return self.STAGES

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        rng = eligibility_ranges(cfg)
        rand_bits = max(cfg.e_shift, 0) if cfg.rounding == "stochastic" else 0
        advance = stalling_pipeline(m, self, self.STAGES)
        req = self.i.payload
        e_sum = Signal(signed(signed_bits(*rng["e_sum"])), name="s1_e_sum", reset_less=True)
        rand_e = Signal(rand_bits, name="s1_rand_e", reset_less=True)
        e_rounded = Signal(signed(signed_bits(*rng["e_rounded"])), name="e_rounded")
        m.d.comb += e_rounded.eq(_round(m, "round_e", e_sum, rng["e_sum"], cfg.e_shift,
                                        cfg.rounding, rand_e))
        m.submodules.sat_e = sat_e = Saturate(len(e_rounded), cfg.e_bits, signed=True)
        m.d.comb += sat_e.i.eq(e_rounded)
        out = Signal(eligibility_out_layout(cfg), name="s2_out", reset_less=True)
        with m.If(advance):
            m.d.sync += [e_sum.eq(req.psi * (req.pre << cfg.v_frac)),
                         rand_e.eq(req.rand_e[:rand_bits]),
                         out.e.eq(sat_e.o), out.sat_e.eq(sat_e.clamped)]
        m.d.comb += self.o.payload.eq(out)
        return m
