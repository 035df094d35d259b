"""UART host link (docs/link.md): a framed protocol over 8N1 that carries AXI4-Lite accesses
and the event streams of :class:`~eligo.rtl.top.AxiCore`, for board tops without a CPU.

Frames, both directions: ``0xA5, cmd, len, payload[len], crc`` with ``crc`` the CRC-8
(polynomial 0x07, initial value 0, no reflection) of ``cmd, len, payload``. Multi-byte fields
are little-endian.

=========  ====================  ===========================================================
host cmd   payload               reply (device to host)
=========  ====================  ===========================================================
0x01 read  address (4)           0x81: resp (1), data (4)
0x02 write address (4), data (4) 0x82: resp (1)
0x03 event event word (8)        0x83: empty, sent once the core has taken the word
=========  ====================  ===========================================================

Every output word of the core is sent as a frame ``0x90`` (payload: the 64-bit word) as soon
as it leaves ``m_axis``: the core waits (``m_axis_tready`` low) while the transmitter is busy,
so nothing is dropped. ``resp`` is the AXI response (0 OKAY, 2 SLVERR).

A malformed frame (bad checksum, unknown command, a length the command does not have, or a
frame cut short: no byte for ``timeout`` cycles inside a frame) is answered with an error
frame ``0xE0`` (payload: one code byte, :data:`ERR_CHECKSUM` ...) and does nothing else:
accesses and events are only carried out once the whole frame has been checked. Bytes
outside a frame (before a ``0xA5``) are skipped.

The receiver feeds a byte FIFO (``fifo_depth``), so a host may have several frames in flight
(at most ``fifo_depth`` bytes); frames are executed in order, one at a time, and each gets
exactly one reply, in order.
"""

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import cdc, fifo, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SYNC", "CMD_READ", "CMD_WRITE", "CMD_EVENT", "REPLY", "FRAME_OUTPUT",
           "FRAME_ERROR", "ERR_CHECKSUM", "ERR_COMMAND", "ERR_LENGTH", "ERR_TIMEOUT",
           "CMD_LENGTH", "crc8", "encode_frame", "UartRx", "UartTx", "UartLink", "LinkTop"]

SYNC = 0xA5
CMD_READ, CMD_WRITE, CMD_EVENT = 0x01, 0x02, 0x03
CMD_LENGTH = {CMD_READ: 4, CMD_WRITE: 8, CMD_EVENT: 8}
REPLY = {cmd: 0x80 | cmd for cmd in CMD_LENGTH}
REPLY_LENGTH = {CMD_READ: 5, CMD_WRITE: 1, CMD_EVENT: 0}
FRAME_OUTPUT, FRAME_ERROR = 0x90, 0xE0
ERR_CHECKSUM, ERR_COMMAND, ERR_LENGTH, ERR_TIMEOUT = 1, 2, 3, 4
CRC_POLY = 0x07


def crc8(data, crc=0):
    """CRC-8 of ``data`` (bytes), polynomial 0x07, MSB first, starting from ``crc``."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY if crc & 0x80 else crc << 1) & 0xFF
    return crc


def encode_frame(cmd, payload=b""):
    """One frame as bytes (for the host and the tests)."""
    payload = bytes(payload)
    if not 0 <= cmd <= 255 or len(payload) > 255:
        raise ValueError(f"a frame holds a command byte and at most 255 payload bytes, not "
                         f"{cmd!r} with {len(payload)}")
    body = bytes([cmd, len(payload)]) + payload
    return bytes([SYNC]) + body + bytes([crc8(body)])


def _crc8_next(crc, byte):
    """The CRC register after ``byte`` (Amaranth expression). The update is linear in
    ``crc ^ byte`` over GF(2), so each result bit is the XOR of the input bits whose image
    (``crc8`` of that bit alone) has it set: eight small XORs. (Unrolling the eight shifts as
    ``Mux``es used each operand three times per shift: 3^8 copies in the Verilog.)"""
    c = crc ^ byte
    images = [crc8(b"\0", 1 << i) for i in range(8)]
    return Cat(*(functools.reduce(operator.xor, (c[i] for i in range(8) if images[i] >> k & 1),
                                  Const(0, 1))
                 for k in range(8)))


def _check_cpb(clocks_per_bit):
    if not isinstance(clocks_per_bit, int) or isinstance(clocks_per_bit, bool) \
            or clocks_per_bit < 4:
        raise ValueError(f"clocks_per_bit must be an integer of at least 4, not "
                         f"{clocks_per_bit!r}")


class UartRx(wiring.Component):
    """8N1 receiver. ``rx`` is synchronised (2 flip-flops) and sampled in the middle of each
    bit. A byte is presented on ``data`` with ``valid`` high for one cycle, about 9.5 bit
    times after the start bit's falling edge; a byte whose stop bit reads 0 is dropped and
    ``frame_error`` pulses instead. No backpressure (feed a FIFO).

    Parameters
    ----------
    clocks_per_bit : int
        Clock cycles per bit (at least 4).
    """

    rx: In(1, init=1)
    data: Out(8)
    valid: Out(1)
    frame_error: Out(1)

    def __init__(self, clocks_per_bit):
        _check_cpb(clocks_per_bit)
        self.clocks_per_bit = clocks_per_bit
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        cpb = self.clocks_per_bit
        rx = Signal(init=1)
        m.submodules.sync_rx = cdc.FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(cpb))
        bit = Signal(range(8))
        shreg = Signal(8)
        with m.FSM(name="uart_rx"):
            with m.State("idle"):
                with m.If(~rx):
                    m.d.sync += timer.eq(cpb // 2 - 1)
                    m.next = "start"
            with m.State("start"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(cpb - 1), bit.eq(0)]
                    m.next = "data"
                    with m.If(rx):  # a glitch, not a start bit
                        m.next = "idle"
            with m.State("data"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(cpb - 1), shreg.eq(Cat(shreg[1:], rx)),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "stop"
            with m.State("stop"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.comb += [self.valid.eq(rx), self.frame_error.eq(~rx)]
                    m.next = "idle"
        m.d.comb += self.data.eq(shreg)
        return m


class UartTx(wiring.Component):
    """8N1 transmitter with a ready/valid input: a byte is taken (``valid`` and ``ready``
    high) when the previous one has been sent entirely (10 bit times); ``tx`` is a
    flip-flop output, idle high.

    Parameters
    ----------
    clocks_per_bit : int
        Clock cycles per bit (at least 4).
    """

    tx: Out(1, init=1)
    data: In(8)
    valid: In(1)
    ready: Out(1)

    def __init__(self, clocks_per_bit):
        _check_cpb(clocks_per_bit)
        self.clocks_per_bit = clocks_per_bit
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        cpb = self.clocks_per_bit
        timer = Signal(range(cpb))
        left = Signal(range(10))
        shreg = Signal(9)
        with m.If(left == 0):
            m.d.comb += self.ready.eq(1)
            with m.If(self.valid):
                m.d.sync += [self.tx.eq(0), shreg.eq(Cat(self.data, Const(1, 1))),
                             timer.eq(cpb - 1), left.eq(10)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [timer.eq(cpb - 1), left.eq(left - 1)]
                with m.If(left != 1):
                    m.d.sync += [self.tx.eq(shreg[0]), shreg.eq(shreg >> 1)]
        return m


def _axil_initiator_members():
    return {
        "m_axil_awaddr": Out(32), "m_axil_awprot": Out(3), "m_axil_awvalid": Out(1),
        "m_axil_awready": In(1),
        "m_axil_wdata": Out(32), "m_axil_wstrb": Out(4), "m_axil_wvalid": Out(1),
        "m_axil_wready": In(1),
        "m_axil_bresp": In(2), "m_axil_bvalid": In(1), "m_axil_bready": Out(1),
        "m_axil_araddr": Out(32), "m_axil_arprot": Out(3), "m_axil_arvalid": Out(1),
        "m_axil_arready": In(1),
        "m_axil_rdata": In(32), "m_axil_rresp": In(2), "m_axil_rvalid": In(1),
        "m_axil_rready": Out(1),
    }


class UartLink(wiring.Component):
    """The frame decoder and encoder of the module docstring between a UART and AXI ports:
    an AXI4-Lite initiator (``m_axil_*``), an event stream out (``m_axis_*``, 64 bits, to the
    core's ``s_axis``) and an output stream in (``s_axis_*``, from the core's ``m_axis``).

    Parameters
    ----------
    clocks_per_bit : int
        Clock cycles per UART bit (clock frequency / baud rate), at least 4.
    fifo_depth : int
        Bytes of the receive FIFO (a power of two, at least 16): how many bytes a host may
        have in flight.
    timeout : int or None
        Cycles without a byte inside a frame before the frame is dropped with
        :data:`ERR_TIMEOUT`; None: 256 byte times.

    Members
    -------
    rx : In(1)
        Serial input (idle high).
    tx : Out(1)
        Serial output (idle high).
    m_axil_* : AXI4-Lite initiator ports
    m_axis_tdata, m_axis_tvalid, m_axis_tready : the event stream to the core
    s_axis_tdata, s_axis_tvalid, s_axis_tready, s_axis_tlast : the core's outputs
    frame_errors : Out(8)
        Error replies sent (saturating), for a LED or a probe.
    """

    def __init__(self, clocks_per_bit, *, fifo_depth=256, timeout=None):
        _check_cpb(clocks_per_bit)
        if not isinstance(fifo_depth, int) or fifo_depth < 16 or fifo_depth & (fifo_depth - 1):
            raise ValueError(f"fifo_depth must be a power of two of at least 16, not "
                             f"{fifo_depth!r}")
        if timeout is None:
            timeout = 256 * 10 * clocks_per_bit
        if not isinstance(timeout, int) or timeout < 20 * clocks_per_bit:
            raise ValueError(f"timeout must be an integer of at least 2 byte times "
                             f"({20 * clocks_per_bit} cycles), not {timeout!r}")
        self.clocks_per_bit = clocks_per_bit
        self.fifo_depth = fifo_depth
        self.timeout = timeout
        members = {"rx": In(1, init=1), "tx": Out(1, init=1)}
        members.update(_axil_initiator_members())
        members.update({
            "m_axis_tdata": Out(64), "m_axis_tvalid": Out(1), "m_axis_tready": In(1),
            "s_axis_tdata": In(64), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "frame_errors": Out(8),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = UartRx(self.clocks_per_bit)
        m.submodules.uart_tx = utx = UartTx(self.clocks_per_bit)
        m.submodules.rx_fifo = rxf = fifo.SyncFIFOBuffered(width=8, depth=self.fifo_depth)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx),
                     rxf.w_data.eq(urx.data), rxf.w_en.eq(urx.valid)]

        # The decoder's reply (valid in its "reply" state, where it waits for the encoder):
        # built from the frame's registers, which hold still until the encoder takes it.
        reply_valid, reply_taken = Signal(), Signal()
        reply_cmd, reply_len, reply_data = Signal(8), Signal(8), Signal(40)

        # -- decoder and executor -------------------------------------------------------
        cmd, length, crc = Signal(8), Signal(8), Signal(8)
        # The payload bytes still to come, counted down: no adder before the comparison on
        # the path into the decoder's state.
        left = Signal(8)
        payload = Signal(64)
        resp = Signal(2)
        err = Signal(3)
        idle_time = Signal(range(self.timeout + 1))
        aw_done, w_done = Signal(), Signal()
        byte = rxf.r_data
        take = Signal()  # a byte is consumed this cycle
        m.d.comb += take.eq(rxf.r_rdy & rxf.r_en)

        in_frame = Signal()
        with m.If(take | ~in_frame):
            m.d.sync += idle_time.eq(0)
        with m.Elif(idle_time != self.timeout):
            m.d.sync += idle_time.eq(idle_time + 1)
        timed_out = in_frame & (idle_time == self.timeout)

        known = Signal()
        len_ok = Signal()
        m.d.comb += [
            known.eq((cmd == CMD_READ) | (cmd == CMD_WRITE) | (cmd == CMD_EVENT)),
            len_ok.eq(Mux(cmd == CMD_READ, length == CMD_LENGTH[CMD_READ],
                          length == CMD_LENGTH[CMD_WRITE])),
            # (the payload bytes shift in from the top: a read's 4 bytes end in the upper half)
            self.m_axil_awaddr.eq(payload[:32]), self.m_axil_araddr.eq(payload[32:]),
            self.m_axil_wdata.eq(payload[32:]), self.m_axil_wstrb.eq(0b1111),
            self.m_axis_tdata.eq(payload),
        ]

        def fail(code):
            m.d.sync += err.eq(code)
            m.next = "reply"

        with m.FSM(name="decoder"):
            with m.State("sync"):
                m.d.comb += rxf.r_en.eq(1)
                with m.If(take & (byte == SYNC)):
                    m.d.sync += [crc.eq(0), err.eq(0)]
                    m.next = "cmd"
            with m.State("cmd"):
                m.d.comb += [rxf.r_en.eq(1), in_frame.eq(1)]
                with m.If(take):
                    m.d.sync += [cmd.eq(byte), crc.eq(_crc8_next(crc, byte))]
                    m.next = "len"
                with m.Elif(timed_out):
                    fail(ERR_TIMEOUT)
            with m.State("len"):
                m.d.comb += [rxf.r_en.eq(1), in_frame.eq(1)]
                with m.If(take):
                    m.d.sync += [length.eq(byte), left.eq(byte), crc.eq(_crc8_next(crc, byte))]
                    m.next = "payload"
                    with m.If(byte == 0):
                        m.next = "crc"
                with m.Elif(timed_out):
                    fail(ERR_TIMEOUT)
            with m.State("payload"):
                m.d.comb += [rxf.r_en.eq(1), in_frame.eq(1)]
                with m.If(take):
                    m.d.sync += [left.eq(left - 1), crc.eq(_crc8_next(crc, byte)),
                                 payload.eq(Cat(payload[8:], byte))]
                    with m.If(left == 1):
                        m.next = "crc"
                with m.Elif(timed_out):
                    fail(ERR_TIMEOUT)
            with m.State("crc"):
                m.d.comb += [rxf.r_en.eq(1), in_frame.eq(1)]
                with m.If(take):
                    with m.If(byte != crc):
                        fail(ERR_CHECKSUM)
                    with m.Elif(~known):
                        fail(ERR_COMMAND)
                    with m.Elif(~len_ok):
                        fail(ERR_LENGTH)
                    with m.Elif(cmd == CMD_READ):
                        m.next = "ar"
                    with m.Elif(cmd == CMD_WRITE):
                        m.d.sync += [aw_done.eq(0), w_done.eq(0)]
                        m.next = "aw_w"
                    with m.Else():
                        m.next = "event"
                with m.Elif(timed_out):
                    fail(ERR_TIMEOUT)
            with m.State("ar"):
                m.d.comb += self.m_axil_arvalid.eq(1)
                with m.If(self.m_axil_arready):
                    m.next = "r"
            with m.State("r"):
                m.d.comb += self.m_axil_rready.eq(1)
                with m.If(self.m_axil_rvalid):
                    m.d.sync += [payload[:32].eq(self.m_axil_rdata), resp.eq(self.m_axil_rresp)]
                    m.next = "reply"
            with m.State("aw_w"):
                m.d.comb += [self.m_axil_awvalid.eq(~aw_done), self.m_axil_wvalid.eq(~w_done)]
                aw_now = aw_done | self.m_axil_awready
                w_now = w_done | self.m_axil_wready
                m.d.sync += [aw_done.eq(aw_now), w_done.eq(w_now)]
                with m.If(aw_now & w_now):
                    m.next = "b"
            with m.State("b"):
                m.d.comb += self.m_axil_bready.eq(1)
                with m.If(self.m_axil_bvalid):
                    m.d.sync += resp.eq(self.m_axil_bresp)
                    m.next = "reply"
            with m.State("event"):
                m.d.comb += self.m_axis_tvalid.eq(1)
                with m.If(self.m_axis_tready):
                    m.next = "reply"
            with m.State("reply"):
                m.d.comb += reply_valid.eq(1)
                with m.If(err != 0):
                    m.d.comb += [reply_cmd.eq(FRAME_ERROR), reply_len.eq(1),
                                 reply_data.eq(err)]
                with m.Elif(cmd == CMD_READ):
                    m.d.comb += [reply_cmd.eq(REPLY[CMD_READ]),
                                 reply_len.eq(REPLY_LENGTH[CMD_READ]),
                                 reply_data.eq(Cat(resp, Const(0, 6), payload[:32]))]
                with m.Elif(cmd == CMD_WRITE):
                    m.d.comb += [reply_cmd.eq(REPLY[CMD_WRITE]),
                                 reply_len.eq(REPLY_LENGTH[CMD_WRITE]), reply_data.eq(resp)]
                with m.Else():
                    m.d.comb += [reply_cmd.eq(REPLY[CMD_EVENT]),
                                 reply_len.eq(REPLY_LENGTH[CMD_EVENT])]
                with m.If(reply_taken):
                    with m.If((err != 0) & (self.frame_errors != 255)):
                        m.d.sync += self.frame_errors.eq(self.frame_errors + 1)
                    m.next = "sync"

        # -- encoder: replies first, then output words ----------------------------------
        tx_cmd, tx_len, tx_left, tx_crc = Signal(8), Signal(8), Signal(8), Signal(8)
        tx_data = Signal(64)
        sent = Signal()
        m.d.comb += sent.eq(utx.valid & utx.ready)
        with m.FSM(name="encoder"):
            with m.State("idle"):
                with m.If(reply_valid):
                    m.d.comb += reply_taken.eq(1)
                    m.d.sync += [tx_cmd.eq(reply_cmd), tx_len.eq(reply_len),
                                 tx_data.eq(reply_data)]
                    m.next = "sync"
                with m.Elif(self.s_axis_tvalid):
                    m.d.comb += self.s_axis_tready.eq(1)
                    m.d.sync += [tx_cmd.eq(FRAME_OUTPUT), tx_len.eq(8),
                                 tx_data.eq(self.s_axis_tdata)]
                    m.next = "sync"
            with m.State("sync"):
                m.d.comb += [utx.valid.eq(1), utx.data.eq(SYNC)]
                with m.If(sent):
                    m.d.sync += tx_crc.eq(0)
                    m.next = "cmd"
            with m.State("cmd"):
                m.d.comb += [utx.valid.eq(1), utx.data.eq(tx_cmd)]
                with m.If(sent):
                    m.d.sync += tx_crc.eq(_crc8_next(tx_crc, tx_cmd))
                    m.next = "len"
            with m.State("len"):
                m.d.comb += [utx.valid.eq(1), utx.data.eq(tx_len)]
                with m.If(sent):
                    m.d.sync += [tx_crc.eq(_crc8_next(tx_crc, tx_len)), tx_left.eq(tx_len)]
                    m.next = "payload"
                    with m.If(tx_len == 0):
                        m.next = "crc"
            with m.State("payload"):
                m.d.comb += [utx.valid.eq(1), utx.data.eq(tx_data[:8])]
                with m.If(sent):
                    m.d.sync += [tx_crc.eq(_crc8_next(tx_crc, tx_data[:8])),
                                 tx_data.eq(tx_data >> 8), tx_left.eq(tx_left - 1)]
                    with m.If(tx_left == 1):
                        m.next = "crc"
            with m.State("crc"):
                m.d.comb += [utx.valid.eq(1), utx.data.eq(tx_crc)]
                with m.If(sent):
                    m.next = "idle"
        return m


class LinkTop(wiring.Component):
    """:class:`~eligo.rtl.top.AxiCore` behind a :class:`UartLink`: what a board top
    instantiates (and what the cocotb bench simulates). Ports: ``rx``, ``tx`` (the UART),
    ``busy``, ``error`` (the core's status bits) and ``frame_errors``.

    Parameters
    ----------
    cfg : eligo.config.Config
    clocks_per_bit : int
    fifo_depth, timeout : see :class:`UartLink`
    lanes, input_stages, product_stages, lane_lut_ram :
        The core's (:class:`~eligo.rtl.core.Core`; default all input stages, product stages
        on, no LUT RAM).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)
    error: Out(1)
    frame_errors: Out(8)

    def __init__(self, cfg, clocks_per_bit, *, fifo_depth=256, timeout=None, lanes=1,
                 input_stages=None, product_stages=True, lane_lut_ram=frozenset()):
        from .core import INPUT_STAGES
        from .top import AxiCore
        self.link = UartLink(clocks_per_bit, fifo_depth=fifo_depth, timeout=timeout)
        self.core = AxiCore(cfg, lanes, INPUT_STAGES if input_stages is None else input_stages,
                            product_stages, lane_lut_ram)
        self.cfg = cfg
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        m.submodules.axi_core = core = self.core
        for name, member in _axil_initiator_members().items():
            ours, theirs = getattr(link, name), getattr(core, "s" + name[1:])
            if member.flow == Out:
                m.d.comb += theirs.eq(ours)
            else:
                m.d.comb += ours.eq(theirs)
        m.d.comb += [
            link.rx.eq(self.rx), self.tx.eq(link.tx),
            core.s_axis_tdata.eq(link.m_axis_tdata), core.s_axis_tvalid.eq(link.m_axis_tvalid),
            link.m_axis_tready.eq(core.s_axis_tready),
            link.s_axis_tdata.eq(core.m_axis_tdata), link.s_axis_tvalid.eq(core.m_axis_tvalid),
            core.m_axis_tready.eq(link.s_axis_tready), link.s_axis_tlast.eq(core.m_axis_tlast),
            self.busy.eq(core.busy), self.error.eq(core.error),
            self.frame_errors.eq(link.frame_errors),
        ]
        return m
