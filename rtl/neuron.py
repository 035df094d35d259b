"""The neuron update of docs/spec.md 3, phase 1 (without ``eps_a``): one LIF or ALIF neuron
per cycle, pipelined, as a stream.

:class:`NeuronUnit` takes a neuron's exact synaptic sum ``I``, its state ``v``, ``a``, ``ref``,
its spike of the last step ``z_old`` and the three random words of its rounding sites, and
returns the new ``v``, ``a``, ``ref``, the spike ``z``, the pseudo-derivative ``psi`` and the
clamp flags, bit for bit as ``eligo.model.kernels.neuron_phase`` computes them.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import ensure_config
from .arith import MAX_WIDTH, RoundShift, Saturate, at_least, at_most
from .pipeline import Stages

__all__ = ["synaptic_input_width", "ref_width", "neuron_in_layout", "neuron_out_layout",
           "NeuronUnit"]


def synaptic_input_width(cfg):
    """Bits of the signed synaptic sum ``I``: it holds ``[-n_pre * 2**(w_bits-1),
    n_pre * 2**(w_bits-1)]``, every sum of ``n_pre`` weights."""
    ensure_config(cfg)
    return (cfg.n_pre << (cfg.w_bits - 1)).bit_length() + 1


def ref_width(cfg):
    """Bits of the unsigned refractory counter ``ref`` (``0..refractory``), at least 1."""
    ensure_config(cfg)
    return max(cfg.refractory.bit_length(), 1)


def neuron_in_layout(cfg):
    """Layout of one neuron update request (the payload of :attr:`NeuronUnit.i`).

    Fields: ``I`` (``signed(synaptic_input_width(cfg))``: ``sum_i W[j, i] * s_i``, exact),
    ``v`` (``signed(v_bits)``), ``a`` (``unsigned(a_bits)``), ``ref``
    (``unsigned(ref_width(cfg))``), ``z_old`` (1: the neuron's spike of step ``t-1``),
    ``alif`` (1: the neuron is ALIF), ``rand_v``, ``rand_a``, ``rand_psi`` (64 bits each:
    ``rand64`` of sites V, A, PSI at ``row = j``, ``col = 0`` and this step; read only when
    ``cfg.rounding == "stochastic"``).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "I": signed(synaptic_input_width(cfg)),
        "v": signed(cfg.v_bits),
        "a": unsigned(cfg.a_bits),
        "ref": unsigned(ref_width(cfg)),
        "z_old": 1,
        "alif": 1,
        "rand_v": 64,
        "rand_a": 64,
        "rand_psi": 64,
    })


def neuron_out_layout(cfg):
    """Layout of one neuron update result (the payload of :attr:`NeuronUnit.o`).

    Fields: ``v`` (``signed(v_bits)``), ``a`` (``unsigned(a_bits)``), ``ref``
    (``unsigned(ref_width(cfg))``), ``z`` (1), ``psi`` (``unsigned(psi_bits)``: never above
    ``gamma``), ``sat_v`` (1: ``v`` was clamped), ``sat_a`` (1: ``a`` was clamped; only ever
    for an ALIF neuron).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "v": signed(cfg.v_bits),
        "a": unsigned(cfg.a_bits),
        "ref": unsigned(ref_width(cfg)),
        "z": 1,
        "psi": unsigned(cfg.psi_bits),
        "sat_v": 1,
        "sat_a": 1,
    })


class NeuronUnit(wiring.Component):
    """Phase 1 of docs/spec.md 3 for one neuron per cycle (the neuron, not ``eps_a``).

    With ``D = decay_bits``, ``s = psi_shift = v_frac + a_frac`` and ``R`` the rounding shift
    of ``cfg.rounding`` (random words from the request)::

        dv  = R(v * alpha, D)
        v'  = sat_s(dv + (I << syn_shift) - z_old * theta, v_bits)        reset "subtract"
        v'  = sat_s((0 if z_old else dv) + (I << syn_shift), v_bits)      reset "zero"
        a'  = sat_u(R(a * rho, D) + (z_old << a_frac), a_bits) if alif else a
        Aq  = (theta << a_frac) + (beta * a' if alif else 0)
        rf  = ref > 0
        z   = (v' << a_frac) > Aq and not rf
        h   = 2**s - |(v' << a_frac) - Aq|
        psi = 0 if rf or h <= 0 else R(gamma * h, s)
        ref' = refractory if z else max(ref - 1, 0)

    A LIF neuron's ``a`` passes through unchanged (the golden model does not write it; it is
    0 there) and never sets ``sat_a``. With ``n_alif = 0`` every request must have
    ``alif = 0``: the unit then leaves out the ``a * rho`` and ``beta * a'`` multipliers,
    and takes ``gamma * h`` as ``(gamma * (h >> a_frac)) << a_frac`` (exact: ``h``'s low
    ``a_frac`` bits are then zero).

    Elaboration parameters come from ``cfg``: every width and fraction width, ``reset``,
    ``rounding``, ``refractory``, whether ``n_alif`` is 0. The runtime parameters ``alpha``,
    ``rho``, ``theta``, ``beta``, ``gamma`` are input ports (for a register file); the unit
    reads ``alpha`` and ``rho`` in stage 1, ``beta`` in stage 2, ``theta`` in stage 3 (and in
    stage 1 with the subtractive reset) and ``gamma`` in stage 5, so they must be held while
    requests are in flight (change them only when the unit is empty).

    Pipeline: five register stages, at most one multiplier level or carry chain each (but
    the first). Without ``product_stages`` stages 2 and 4 are left out (their logic joins
    the next stage's): three stages, as on the iCE40, where their registers do not fit.

    - Stage 1 (request to ``s1_*``): ``v * alpha`` and ``a * rho``, both rounding shifts by
      ``D``, the membrane sum (before saturation) and the adaptation sum.
    - Stage 2 (``s1_*`` to ``s2_*``): both saturations and ``beta * a'``.
    - Stage 3 (``s2_*`` to ``s3_*``): the threshold ``Aq`` and ``diff = (v' << a_frac) - Aq``.
    - Stage 4 (``s3_*`` to ``s4_*``): ``z``, ``|diff|``, ``h`` and ``ref'``.
    - Stage 5 (``s4_*`` to the output register): ``gamma * h`` and its rounding shift by
      ``s``.

    Internal widths (``st`` is 1 for stochastic rounding, else 0; ``Iw`` is
    :func:`synaptic_input_width`; every value is exact, nothing wraps):

    - ``v_alpha``: ``signed(v_bits + D)``. ``|v * alpha| <= 2**(v_bits-1) * (2**D - 1)``.
    - ``dv``: ``signed(v_bits + st)`` (:class:`RoundShift` of ``v_bits + D`` bits by ``D``).
    - ``drive = I << syn_shift``: ``signed(Iw + syn_shift)``.
    - ``v_sum``: ``signed(m + 2)``, ``m = max(v_bits + st, Iw + syn_shift)``: each of its three
      terms (``dv``, ``drive``, ``theta < 2**(v_bits-1)``) has magnitude at most ``2**(m-1)``,
      so the sum is below ``3 * 2**(m-1) < 2**(m+1)``.
    - ``a_rho``: ``unsigned(a_bits + D)``, rounded as ``signed(a_bits + D + 1)``; ``da``:
      ``unsigned(a_bits)``. ``(a * rho + 2**D - 1) >> D <= 2**a_bits - 1`` because
      ``a * rho <= (2**a_bits - 1) * (2**D - 1)``, so even a stochastic rounding up fits.
    - ``a_sum``: ``unsigned(a_bits + 1)``: ``da + 2**a_frac < 2**a_bits + 2**(a_bits-1)``.
    - ``beta_a``: ``unsigned(v_bits - 1 + a_bits)`` (``beta < 2**(v_bits-1)``).
    - ``aq``: ``unsigned(v_bits + a_bits)``: ``theta << a_frac < 2**(v_bits+a_bits-2)`` (as
      ``a_frac <= a_bits - 1``) plus ``beta_a < 2**(v_bits+a_bits-1)``.
    - ``diff``: ``signed(v_bits + a_bits + 1)``: it lies in
      ``(-(2**(v_bits+a_bits-2) + aq_max), 2**(v_bits-1+a_frac))``, above ``-2**(v_bits+a_bits)``.
    - ``mag = |diff|``: ``unsigned(v_bits + a_bits)``.
    - ``h``: ``unsigned(s + 1)``, in ``[1, 2**s]`` where it is used (``mag < 2**s``).
    - ``gamma_h``: ``unsigned(psi_bits + s)``: ``gamma * h <= (2**psi_bits - 1) * 2**s``;
      rounded by ``s`` as ``signed(psi_bits + s + 1)``. The result is at most ``gamma``
      (``(gamma * 2**s + 2**s - 1) >> s = gamma``), so it fits ``psi``'s ``psi_bits``.
      With ``s == 0`` (``v_frac == a_frac == 0``) there is no shift: ``psi = gamma * h``.
    - ``s1_rand_psi`` ... ``s4_rand_psi``: the low ``s`` bits of ``rand_psi`` (stochastic
      only).

    Latency: 5 cycles, 3 without ``product_stages`` (:attr:`latency`): a request that transfers
    on ``i`` in cycle ``n`` is presented on ``o`` in cycle ``n + latency`` when ``o`` is not
    back-pressured. Throughput: one neuron per cycle. The pipeline stalls as a whole, as
    :class:`eligo.rtl.random.Threefry2x32` does: it advances when its last stage is empty or
    ``o.ready`` is high (``i.ready`` is that condition, combinationally dependent on
    ``o.ready``); ``o.payload`` is stable while ``o.valid`` waits for ``o.ready``.

    Parameters
    ----------
    cfg : eligo.config.Config
        The configuration.
    product_stages : bool
        Keep stages 2 and 4 (default).

    Members
    -------
    i : ``In(stream.Signature(neuron_in_layout(cfg)))``
        Neuron update requests.
    o : ``Out(stream.Signature(neuron_out_layout(cfg)))``
        Results, in request order.
    alpha, rho : ``In(unsigned(decay_bits))``
        Membrane and adaptation decay factors.
    theta, beta : ``In(unsigned(v_bits - 1))``
        Baseline threshold and threshold adaptation, in membrane integers.
    gamma : ``In(unsigned(psi_bits))``
        Pseudo-derivative peak.

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`eligo.config.Config`.
    ValueError
        If ``psi_bits + v_frac + a_frac`` exceeds 63: ``gamma * h`` (any ``gamma`` the port
        can carry) would not fit the 64-bit :class:`RoundShift`.
    """

    def __init__(self, cfg, product_stages=True):
        ensure_config(cfg)
        self._product_stages = bool(product_stages)
        psi_product = cfg.psi_bits + cfg.psi_shift
        if psi_product + 1 > MAX_WIDTH:
            raise ValueError(f"psi_bits + v_frac + a_frac of the configuration must be at "
                             f"most {MAX_WIDTH - 1}, not {psi_product!r}")
        self._cfg = cfg
        super().__init__({
            "i": In(stream.Signature(neuron_in_layout(cfg))),
            "o": Out(stream.Signature(neuron_out_layout(cfg))),
            "alpha": In(unsigned(cfg.decay_bits)),
            "rho": In(unsigned(cfg.decay_bits)),
            "theta": In(unsigned(cfg.v_bits - 1)),
            "beta": In(unsigned(cfg.v_bits - 1)),
            "gamma": In(unsigned(cfg.psi_bits)),
        })

    @property
    def cfg(self):
        return self._cfg

    @property
    def latency(self):
        """Cycles from a transfer on ``i`` to ``o.valid`` with no backpressure."""
        return 5 if self._product_stages else 3

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        D, st = cfg.decay_bits, int(cfg.rounding == "stochastic")
        v_bits, a_bits, a_frac, psi_bits = cfg.v_bits, cfg.a_bits, cfg.a_frac, cfg.psi_bits
        s = cfg.psi_shift
        i_width = synaptic_input_width(cfg)
        r_bits = ref_width(cfg)
        rand_bits = s if st else 0  # low bits of rand_psi that stage 5 reads

        stages = Stages(m, self, 3, 2, self._product_stages)
        stage, advance = stages.stage, stages.advance

        # -- stage 1: decays, membrane and adaptation sums ----------------------------------
        req = self.i.payload
        v_alpha = Signal(signed(v_bits + D))
        m.submodules.round_v = round_v = RoundShift(v_bits + D, D, cfg.rounding)
        dv = round_v.o  # signed(v_bits + st)
        drive = Signal(signed(i_width + cfg.syn_shift))
        v_width = max(v_bits + st, i_width + cfg.syn_shift) + 2
        v_sum = Signal(signed(v_width))
        m.d.comb += [
            v_alpha.eq(req.v * self.alpha),
            round_v.x.eq(v_alpha),
            round_v.rand.eq(req.rand_v),
            drive.eq(req.I << cfg.syn_shift),
        ]
        if cfg.reset == "subtract":
            m.d.comb += v_sum.eq(dv + drive - Mux(req.z_old, self.theta, 0))
        else:
            m.d.comb += v_sum.eq(Mux(req.z_old, 0, dv) + drive)

        a_sum = Signal(unsigned(a_bits + 1))
        if cfg.n_alif:
            a_rho = Signal(unsigned(a_bits + D))
            m.submodules.round_a = round_a = RoundShift(a_bits + D + 1, D, cfg.rounding)
            da = Signal(unsigned(a_bits))
            m.d.comb += [
                a_rho.eq(req.a * self.rho),
                round_a.x.eq(a_rho),
                round_a.rand.eq(req.rand_a),
                da.eq(round_a.o),  # in [0, 2**a_bits - 1]: see the class docstring
                a_sum.eq(Mux(req.alif, da + (req.z_old << a_frac), req.a)),
            ]
        else:  # no ALIF neuron: a' = a, and no multiplier (a DSP block) for rho or beta
            m.d.comb += a_sum.eq(req.a)

        s1 = stage({"v_sum": v_sum, "a_sum": a_sum, "alif": req.alif, "ref": req.ref,
                    "rand_psi": req.rand_psi[:rand_bits]})

        # -- stage 2: saturations, the threshold's adaptation product ----------------------
        m.submodules.sat_v = sat_v = Saturate(v_width, v_bits, signed=True)
        m.submodules.sat_a = sat_a = Saturate(a_bits + 2, a_bits, signed=False)
        beta_a = Signal(unsigned(v_bits - 1 + a_bits))
        m.d.comb += [
            sat_v.i.eq(s1["v_sum"]),
            sat_a.i.eq(s1["a_sum"]),
            beta_a.eq(Mux(s1["alif"], self.beta * sat_a.o, 0) if cfg.n_alif else 0),
        ]
        carried = ("ref", "rand_psi")
        s2 = stage({"v": sat_v.o, "a": sat_a.o, "sat_v": sat_v.clamped,
                    "sat_a": sat_a.clamped, "beta_a": beta_a,
                    **{name: s1[name] for name in carried}}, optional=True)

        # -- stage 3: threshold, distance to it --------------------------------------------
        aq = Signal(unsigned(v_bits + a_bits))
        diff = Signal(signed(v_bits + a_bits + 1))
        m.d.comb += [
            aq.eq((self.theta << a_frac) + s2["beta_a"]),
            diff.eq((s2["v"] << a_frac) - aq),
        ]
        carried = ("v", "a", "sat_v", "sat_a", "ref", "rand_psi")
        s3 = stage({"diff": diff, **{name: s2[name] for name in carried}})

        # -- stage 4: spike, the pseudo-derivative's distance, refractory counter ---------
        refractory = Signal()
        z = Signal()
        mag = Signal(unsigned(v_bits + a_bits))
        near = Signal()  # h > 0
        h = Signal(unsigned(s + 1))
        new_ref = Signal(unsigned(r_bits))
        m.d.comb += [
            refractory.eq(s3["ref"] != 0),
            z.eq(at_least(s3["diff"], 1) & ~refractory),
            mag.eq(Mux(s3["diff"][-1], -s3["diff"], s3["diff"])),
            near.eq(at_most(mag, (1 << s) - 1)),
            h.eq((1 << s) - mag[:s]),  # used only where near, i.e. mag < 2**s
        ]
        if cfg.refractory:
            m.d.comb += new_ref.eq(Mux(z, cfg.refractory, Mux(refractory, s3["ref"] - 1, 0)))
        else:  # ref' is refractory (0) after a spike, else max(ref - 1, 0)
            m.d.comb += new_ref.eq(Mux(refractory, s3["ref"] - 1, 0))
        carried = ("v", "a", "sat_v", "sat_a", "rand_psi")
        s4 = stage({"z": z, "h": h, "psi_on": near & ~refractory, "ref": new_ref,
                    **{name: s3[name] for name in carried}}, optional=True)

        # -- stage 5: the pseudo-derivative -------------------------------------------------
        gamma_h = Signal(unsigned(psi_bits + s))
        psi_r = Signal(unsigned(psi_bits))
        if cfg.n_alif:
            m.d.comb += gamma_h.eq(self.gamma * s4["h"])
        else:
            # Without beta * a', diff = (v' - theta) << a_frac: the low a_frac bits of diff,
            # hence of h, are zero, and the product is v_frac + 1 bits wide, not s + 1 (one
            # DSP block where 16-bit ones would take two).
            m.d.comb += gamma_h.eq((self.gamma * s4["h"][a_frac:]) << a_frac)
        if s:
            m.submodules.round_psi = round_psi = RoundShift(psi_bits + s + 1, s, cfg.rounding)
            m.d.comb += [
                round_psi.x.eq(gamma_h),
                round_psi.rand.eq(s4["rand_psi"]),
                psi_r.eq(round_psi.o),  # in [0, gamma]: see the class docstring
            ]
        else:
            m.d.comb += psi_r.eq(gamma_h)

        out = Signal(neuron_out_layout(cfg), reset_less=True)
        with m.If(advance):
            m.d.sync += [
                out.v.eq(s4["v"]), out.a.eq(s4["a"]), out.ref.eq(s4["ref"]), out.z.eq(s4["z"]),
                out.psi.eq(Mux(s4["psi_on"], psi_r, 0)),
                out.sat_v.eq(s4["sat_v"]), out.sat_a.eq(s4["sat_a"]),
            ]
        m.d.comb += self.o.payload.eq(out)
        return m
