"""AXI4-Lite and AXI4-Stream initiators for ``AxiCore`` on the Amaranth simulator, used by
tb/test_rtl_host.py and ``eligo demo``."""

from eligo.driver import BusError
from eligo.rtl.core import EV_END, OUT_END, OUT_READOUT, OUT_SPIKE
from eligo.rtl.host import RESP_OKAY
from eligo.rtl.regmap import pack_event, unpack_output

__all__ = ["SimAxiLite", "send_event", "run_axi_step"]


class SimAxiLite:
    """An AXI4-Lite initiator on the Amaranth simulator: one access at a time, with
    ``resp`` of the last access kept; ``read``/``write`` raise BusError on SLVERR."""

    def __init__(self, ctx, dut):
        self.ctx, self.dut = ctx, dut
        self.strobe = 0b1111

    async def write(self, address, value, *, aw_first=True):
        ctx, d = self.ctx, self.dut
        channels = [(d.s_axil_awvalid, d.s_axil_awready, [(d.s_axil_awaddr, address)]),
                    (d.s_axil_wvalid, d.s_axil_wready,
                     [(d.s_axil_wdata, value), (d.s_axil_wstrb, self.strobe)])]
        if not aw_first:
            channels.reverse()
        for valid, ready, fields in channels:  # one channel after the other
            for sig, v in fields:
                ctx.set(sig, v)
            ctx.set(valid, 1)
            while True:
                *_, r = await ctx.tick().sample(ready)
                if r:
                    break
            ctx.set(valid, 0)
        ctx.set(d.s_axil_bready, 1)
        while True:
            *_, bvalid, bresp = await ctx.tick().sample(d.s_axil_bvalid, d.s_axil_bresp)
            if bvalid:
                break
        ctx.set(d.s_axil_bready, 0)
        self.resp = bresp
        if bresp != RESP_OKAY:
            raise BusError(f"write of 0x{value:X} to 0x{address:X}: SLVERR")

    async def read(self, address):
        ctx, d = self.ctx, self.dut
        ctx.set(d.s_axil_araddr, address)
        ctx.set(d.s_axil_arvalid, 1)
        while True:
            *_, r = await ctx.tick().sample(d.s_axil_arready)
            if r:
                break
        ctx.set(d.s_axil_arvalid, 0)
        ctx.set(d.s_axil_rready, 1)
        while True:
            *_, rvalid, rdata, rresp = await ctx.tick().sample(
                d.s_axil_rvalid, d.s_axil_rdata, d.s_axil_rresp)
            if rvalid:
                break
        ctx.set(d.s_axil_rready, 0)
        self.resp = rresp
        if rresp != RESP_OKAY:
            raise BusError(f"read of 0x{address:X}: SLVERR")
        return rdata


async def send_event(ctx, dut, word):
    ctx.set(dut.s_axis_tdata, word)
    ctx.set(dut.s_axis_tvalid, 1)
    while True:
        *_, r = await ctx.tick().sample(dut.s_axis_tready)
        if r:
            break
    ctx.set(dut.s_axis_tvalid, 0)


async def run_axi_step(ctx, dut, events, learn):
    """Send one step's events (``(kind, index, value)``) and the end marker; return the
    spikes and readouts up to the end marker (which must carry TLAST)."""
    for kind, index, value in events:
        await send_event(ctx, dut, pack_event(kind, index, value))
    await send_event(ctx, dut, pack_event(EV_END, 0, int(learn)))
    ctx.set(dut.m_axis_tready, 1)
    spikes, readouts = [], {}
    while True:
        *_, valid, word, last = await ctx.tick().sample(dut.m_axis_tvalid, dut.m_axis_tdata,
                                                         dut.m_axis_tlast)
        if not valid:
            continue
        kind, index, value = unpack_output(word)
        assert last == (kind == OUT_END)
        if kind == OUT_END:
            ctx.set(dut.m_axis_tready, 0)
            return spikes, readouts
        if kind == OUT_SPIKE:
            spikes.append(index)
        else:
            assert kind == OUT_READOUT
            readouts[index] = value
