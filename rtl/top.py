"""The core with its AXI ports: the unit a SoC, a board top or a cocotb bench instantiates.

Ports (Verilog names, as cocotbext-axi's ``from_prefix`` expects them):

- ``s_axil_*``: AXI4-Lite target, 32-bit data, for the register map (docs/regmap.md).
- ``s_axis_tdata`` (64 bits), ``s_axis_tvalid``, ``s_axis_tready``: events in, one word each
  (``eligo.rtl.regmap.pack_event``). The core takes them while it is idle; during a step
  ``s_axis_tready`` is low and nothing is lost. One word waits, checked, in a register in
  front of the core (the check and the core's start of a step in one cycle limited the clock),
  so ``s_axis_tready`` falls one word later than the core stops taking events.
- ``m_axis_tdata`` (64 bits), ``m_axis_tvalid``, ``m_axis_tready``, ``m_axis_tlast``: the
  step's outputs (spikes, readouts, the end marker with TLAST). When ``m_axis_tready`` is low
  the core waits.
- ``busy``, ``error``: the status bits, for LEDs or interrupts.

A word the core cannot apply (reserved bits set, kind 3, an index the core's index field
cannot hold, a target value outside the readout's ``y_bits`` range, a spike with a nonzero
value, an end of step whose value is not 0 or 1) reaches the core as a bad event: it sets the
error flag and the ``errors`` counter and changes nothing else. Indexes the field can hold but
the network does not have (a channel ``>= n_in``, a readout ``>= n_out``) are refused by the
core in the same way.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ensure_config
from .arith import below, within
from .core import EV_END, EV_SPIKE, EV_TARGET, INPUT_STAGES, OUT_END, Core, index_width
from .host import AxiLiteTarget
from .regmap import (EVENT_BITS, INDEX_BITS, INDEX_SHIFT, KIND_BITS, KIND_SHIFT, VALUE_BITS,
                     register_map)

__all__ = ["AxiCore"]

EV_BAD = 3


class AxiCore(wiring.Component):
    """:class:`~eligo.rtl.core.Core` behind an :class:`~eligo.rtl.host.AxiLiteTarget` and two
    AXI4-Stream ports (module docstring). Latency: that of the core, plus a cycle for an
    event (its register); the output adapter is combinational.

    Parameters
    ----------
    cfg : eligo.config.Config
    lanes, input_stages, product_stages, lane_lut_ram :
        The core's (:class:`~eligo.rtl.core.Core`).

    Members
    -------
    core : Core
        The wrapped core (its memories and registers, for simulator tests).
    """

    def __init__(self, cfg, lanes=1, input_stages=INPUT_STAGES, product_stages=True,
                 lane_lut_ram=frozenset()):
        ensure_config(cfg)
        self._cfg = cfg
        self.core = Core(cfg, lanes, input_stages, product_stages, lane_lut_ram)
        self.axil = AxiLiteTarget(register_map(cfg).addr_width)
        members = {name: (In if flow == In else Out)(shape)
                   for name, flow, shape in self._axil_members()}
        members.update({
            "s_axis_tdata": In(EVENT_BITS), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
            "m_axis_tdata": Out(EVENT_BITS), "m_axis_tvalid": Out(1), "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
            "busy": Out(1), "error": Out(1),
        })
        super().__init__(members)

    def _axil_members(self):
        for name, member in self.axil.signature.members.items():
            if name.startswith("s_axil_"):
                yield name, member.flow, member.shape

    @property
    def cfg(self):
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        m.submodules.core = core = self.core
        m.submodules.axil = axil = self.axil
        wiring.connect(m, axil.bus, core.host)
        for name, flow, _ in self._axil_members():
            if flow == In:
                m.d.comb += getattr(axil, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(axil, name))

        # events in: check the word, register its fields (or a bad event) for the core
        word = self.s_axis_tdata
        value = word[:VALUE_BITS].as_signed()
        index = word[INDEX_SHIFT:INDEX_SHIFT + INDEX_BITS]
        kind = word[KIND_SHIFT:KIND_SHIFT + KIND_BITS]
        reserved = word[KIND_SHIFT + KIND_BITS:]
        y_low, y_high = -(1 << (c.y_bits - 1)), (1 << (c.y_bits - 1)) - 1
        good = (reserved == 0) & below(index, 1 << index_width(c)) & (
            ((kind == EV_SPIKE) & (value == 0))
            | ((kind == EV_TARGET) & within(value, y_low, y_high))
            | ((kind == EV_END) & ((value == 0) | (value == 1))))
        held = Signal()  # a checked word waits in core.i.payload
        m.d.comb += [core.i.valid.eq(held), self.s_axis_tready.eq(~held | core.i.ready)]
        ev = core.i.payload
        with m.If(self.s_axis_tvalid & self.s_axis_tready):
            m.d.sync += [held.eq(1), ev.kind.eq(Mux(good, kind, EV_BAD)), ev.index.eq(index),
                         ev.value.eq(value)]
        with m.Elif(core.i.ready):
            m.d.sync += held.eq(0)

        # outputs out
        out = core.o.payload
        m.d.comb += [
            self.m_axis_tvalid.eq(core.o.valid), core.o.ready.eq(self.m_axis_tready),
            self.m_axis_tdata[:VALUE_BITS].eq(out.value),
            self.m_axis_tdata[INDEX_SHIFT:INDEX_SHIFT + INDEX_BITS].eq(out.index),
            self.m_axis_tdata[KIND_SHIFT:KIND_SHIFT + KIND_BITS].eq(out.kind),
            self.m_axis_tlast.eq(out.kind == OUT_END),
            self.busy.eq(core.busy), self.error.eq(core.error),
        ]
        return m
