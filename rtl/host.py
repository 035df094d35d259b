"""The host side of the core: a minimal register bus and the AXI4-Lite target that drives it.

:func:`bus_signature` is the one internal bus of the design: the initiator (the
:class:`AxiLiteTarget`, or a test) holds ``valid``, ``write``, ``addr`` and ``w_data`` stable
until the target answers with ``ready`` high for one cycle, with ``r_data`` (reads) and
``error`` (the access was refused and changed nothing) in that same cycle. The core
(``eligo.rtl.core.Core.host``) is the target; it decodes addresses from
``eligo.rtl.regmap.register_map``.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["bus_signature", "AxiLiteTarget", "RESP_OKAY", "RESP_SLVERR"]

RESP_OKAY, RESP_SLVERR = 0b00, 0b10


def bus_signature(addr_width):
    """The register bus, from the initiator's side (byte addresses of 32-bit words)."""
    if not isinstance(addr_width, int) or not 3 <= addr_width <= 32:
        raise ValueError(f"addr_width must be an integer in [3, 32], not {addr_width!r}")
    return wiring.Signature({
        "valid": Out(1), "write": Out(1), "addr": Out(addr_width), "w_data": Out(32),
        "ready": In(1), "r_data": In(32), "error": In(1),
    })


class AxiLiteTarget(wiring.Component):
    """AXI4-Lite (32-bit data) target in front of the register bus, one access at a time.

    Ports carry the AXI4-Lite names with the prefix ``s_axil_`` (cocotbext-axi's
    ``AxiLiteBus.from_prefix(dut, "s_axil")`` finds them in the generated Verilog). A write
    takes its address and data on AW and W in either order (each is accepted once, the other
    is awaited), then one bus access; a read takes AR, then one bus access. Writes go first
    when both are pending. Responses wait for BREADY / RREADY as long as needed; no other
    access starts meanwhile. A write whose WSTRB is not 0b1111 answers SLVERR without a bus
    access; so does any access the bus refuses. AWPROT/ARPROT are ignored.

    Latency: an access costs the bus's answer time plus 2 cycles (request and response
    registers), e.g. 4 cycles from AR to RVALID against the core (5 with its ``host``
    input stage). The bus's ``valid``, ``write`` and ``addr`` are registers, set as the
    access starts (so the core's address decode does not begin at this target's state).

    Parameters
    ----------
    addr_width : int
        Address bits (the register map's ``addr_width``); higher address bits must be 0 or
        the access answers SLVERR without a bus access.

    Members
    -------
    s_axil_* : the AXI4-Lite target ports (``awaddr``, ``awprot``, ``awvalid``, ``awready``,
        ``wdata``, ``wstrb``, ``wvalid``, ``wready``, ``bresp``, ``bvalid``, ``bready``,
        ``araddr``, ``arprot``, ``arvalid``, ``arready``, ``rdata``, ``rresp``, ``rvalid``,
        ``rready``), 32-bit addresses.
    bus : ``Out(bus_signature(addr_width))``
    """

    def __init__(self, addr_width):
        self._bus_sig = bus_signature(addr_width)
        self.addr_width = addr_width
        super().__init__({
            "s_axil_awaddr": In(32), "s_axil_awprot": In(3), "s_axil_awvalid": In(1),
            "s_axil_awready": Out(1),
            "s_axil_wdata": In(32), "s_axil_wstrb": In(4), "s_axil_wvalid": In(1),
            "s_axil_wready": Out(1),
            "s_axil_bresp": Out(2), "s_axil_bvalid": Out(1), "s_axil_bready": In(1),
            "s_axil_araddr": In(32), "s_axil_arprot": In(3), "s_axil_arvalid": In(1),
            "s_axil_arready": Out(1),
            "s_axil_rdata": Out(32), "s_axil_rresp": Out(2), "s_axil_rvalid": Out(1),
            "s_axil_rready": In(1),
            "bus": Out(self._bus_sig),
        })

    def elaborate(self, platform):
        m = Module()
        # Only the address bits the bus has are kept, with whether the others were zero
        # (and, for W, whether every byte was written).
        aw_addr, aw_ok, aw_full = Signal(self.addr_width), Signal(), Signal()
        w_data, w_ok, w_full = Signal(32), Signal(), Signal()
        bus = self.bus
        bus_valid, bus_write, bus_addr = Signal(), Signal(), Signal(self.addr_width)
        m.d.comb += [bus.valid.eq(bus_valid), bus.write.eq(bus_write), bus.addr.eq(bus_addr),
                     bus.w_data.eq(w_data)]
        high_bits_zero = lambda addr: addr[self.addr_width:] == 0

        # AW and W are latched independently while no write is pending.
        m.d.comb += [self.s_axil_awready.eq(~aw_full), self.s_axil_wready.eq(~w_full)]
        with m.If(self.s_axil_awvalid & ~aw_full):
            m.d.sync += [aw_addr.eq(self.s_axil_awaddr), aw_full.eq(1),
                         aw_ok.eq(high_bits_zero(self.s_axil_awaddr))]
        with m.If(self.s_axil_wvalid & ~w_full):
            m.d.sync += [w_data.eq(self.s_axil_wdata), w_ok.eq(self.s_axil_wstrb == 0b1111),
                         w_full.eq(1)]

        with m.FSM(name="axil"):
            with m.State("idle"):
                with m.If(aw_full & w_full):
                    with m.If(w_ok & aw_ok):
                        m.d.sync += [bus_valid.eq(1), bus_write.eq(1), bus_addr.eq(aw_addr)]
                        m.next = "write"
                    with m.Else():
                        m.d.sync += [self.s_axil_bresp.eq(RESP_SLVERR),
                                     self.s_axil_bvalid.eq(1)]
                        m.next = "write_resp"
                with m.Elif(self.s_axil_arvalid):
                    m.d.comb += self.s_axil_arready.eq(1)
                    with m.If(high_bits_zero(self.s_axil_araddr)):
                        m.d.sync += [bus_valid.eq(1), bus_write.eq(0),
                                     bus_addr.eq(self.s_axil_araddr)]
                        m.next = "read"
                    with m.Else():
                        m.d.sync += [self.s_axil_rresp.eq(RESP_SLVERR), self.s_axil_rdata.eq(0),
                                     self.s_axil_rvalid.eq(1)]
                        m.next = "read_resp"
            with m.State("write"):
                with m.If(bus.ready):
                    m.d.sync += [bus_valid.eq(0),
                                 self.s_axil_bresp.eq(RESP_SLVERR * bus.error),
                                 self.s_axil_bvalid.eq(1)]
                    m.next = "write_resp"
            with m.State("write_resp"):
                with m.If(self.s_axil_bready):
                    m.d.sync += [self.s_axil_bvalid.eq(0), aw_full.eq(0), w_full.eq(0)]
                    m.next = "idle"
            with m.State("read"):
                with m.If(bus.ready):
                    m.d.sync += [bus_valid.eq(0), self.s_axil_rdata.eq(bus.r_data),
                                 self.s_axil_rresp.eq(RESP_SLVERR * bus.error),
                                 self.s_axil_rvalid.eq(1)]
                    m.next = "read_resp"
            with m.State("read_resp"):
                with m.If(self.s_axil_rready):
                    m.d.sync += self.s_axil_rvalid.eq(0)
                    m.next = "idle"
        return m
