# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the UART host link (rtl/link.py) in front of AxiCore, with a
bit-level UART peer (tb/link_harness.py) and the host driver (eligo/host.py) running in a
thread against the simulation: register round trips, SLVERR in replies, malformed frames
(error reply, nothing changed), events in and outputs out, equal to the golden model."""

import re

import pytest

from eligo.host import Host, SerialLink
from eligo.model.golden import GoldenModel
from eligo.rtl.link import (CMD_EVENT, CMD_READ, CMD_WRITE, ERR_TIMEOUT, FRAME_ERROR, REPLY,
                            LinkTop, UartLink, UartRx, UartTx, crc8, encode_frame)
from eligo.rtl.regmap import register_map
from eligo.tb.core_harness import first_mismatch, load_weights, read_state
from eligo.tb.link_harness import (CFG, CPB, TIMEOUT, WEIGHT_PROBE, SimUart,
                                   check_host_link, check_host_steps, learning_case, le,
                                   malformed_frames, parse_frames, run_host)


def make_top(cfg=CFG):
    return LinkTop(cfg, CPB, fifo_depth=64, timeout=TIMEOUT)


def test_crc8_is_crc8_smbus():
    assert crc8(b"123456789") == 0xF4  # the catalogue's check value
    frame = encode_frame(CMD_READ, b"\x00\x00\x00\x00")
    assert frame[0] == 0xA5 and frame[-1] == crc8(frame[1:-1])


@pytest.mark.parametrize("cls", [UartRx, UartTx, UartLink])
@pytest.mark.parametrize("value", [3, "8", True])
def test_init_wrong_clocks_per_bit(cls, value):
    with pytest.raises(ValueError, match=r"^clocks_per_bit must be an integer of at least 4, "
                                         rf"not {re.escape(repr(value))}$"):
        cls(value)


@pytest.mark.parametrize("value", [8, 100, "64"])
def test_init_wrong_fifo_depth(value):
    with pytest.raises(ValueError, match=r"^fifo_depth must be a power of two of at least 16, "
                                         rf"not {re.escape(repr(value))}$"):
        UartLink(4, fifo_depth=value)


def test_init_wrong_timeout():
    with pytest.raises(ValueError, match=r"^timeout must be an integer of at least 2 byte "
                                         r"times \(80 cycles\), not 79$"):
        UartLink(4, timeout=79)


def test_encode_frame_refuses_long_payload():
    with pytest.raises(ValueError, match=r"at most 255 payload bytes"):
        encode_frame(CMD_EVENT, bytes(256))


# -- raw frames, bit level --------------------------------------------------------------------

def simulate_raw(bench, cfg=CFG):
    from eligo.rtl.stream_util import run_simulation
    dut = make_top(cfg)
    uart = SimUart(dut, CPB)

    async def exchange(ctx, data, replies):
        """Send ``data``; return the next ``replies`` frames from the DUT."""
        uart.send(data)
        frames, buf = [], bytearray()
        while len(frames) < replies:
            await ctx.tick().repeat(CPB)
            buf += uart.from_dut
            uart.from_dut.clear()
            frames += parse_frames(buf)
        assert not buf
        return frames

    async def testbench(ctx):
        await bench(ctx, dut, lambda data, replies: exchange(ctx, data, replies))

    run_simulation(dut, testbench, background=uart.background())
    assert uart.framing_errors == 0


def test_raw_read_write_and_malformed_frames_change_nothing():
    rmap = register_map(CFG)
    theta = rmap["theta"].address
    row, col, value = WEIGHT_PROBE
    w_in = rmap["w_in"].address(row, col)

    async def bench(ctx, dut, exchange):
        core = dut.core.core
        # a read: OKAY and the id
        [(cmd, payload)] = await exchange(encode_frame(CMD_READ, le(0)), 1)
        assert cmd == REPLY[CMD_READ] and payload == bytes([0]) + le(0x454C474F)
        # a write and its read-back
        [(cmd, payload)] = await exchange(encode_frame(CMD_WRITE, le(theta) + le(3000)), 1)
        assert (cmd, payload) == (REPLY[CMD_WRITE], b"\x00")
        assert ctx.get(core.params["theta"]) == 3000
        # SLVERR travels in the reply: a read-only register, a value out of range
        [(cmd, payload)] = await exchange(encode_frame(CMD_WRITE, le(0) + le(5)), 1)
        assert (cmd, payload) == (REPLY[CMD_WRITE], b"\x02")
        [(cmd, payload)] = await exchange(encode_frame(CMD_READ, le(rmap.end)), 1)
        assert cmd == REPLY[CMD_READ] and payload[0] == 2

        # malformed frames (one cut short: timeout): an error reply each, nothing changed
        cases = malformed_frames(CFG)
        assert ERR_TIMEOUT in [code for _, _, code in cases]
        for name, frame, code in cases:
            [(cmd, payload)] = await exchange(frame, 1)
            assert (cmd, payload) == (FRAME_ERROR, bytes([code])), name
        assert ctx.get(core.params["theta"]) == 3000
        lane, address = core.weight_word(row, col)
        assert ctx.get(core.w[lane][address]) == 0
        assert ctx.get(core.errors) == 0 and ctx.get(core.t) == 0
        assert ctx.get(dut.frame_errors) == len(cases)
        # garbage before a frame is skipped
        weight_write = encode_frame(CMD_WRITE, le(w_in) + le(value))
        [(cmd, payload)] = await exchange(b"\x00\x13" + weight_write, 1)
        assert (cmd, payload) == (REPLY[CMD_WRITE], b"\x00")
        assert ctx.get(core.w[lane][address]) == value
        # frames in flight: three reads sent at once come back in order
        frames = await exchange(b"".join(encode_frame(CMD_READ, le(a))
                                         for a in (theta, w_in, 0)), 3)
        assert [p[1:] for _, p in frames] == [le(3000), le(value), le(0x454C474F)]

    simulate_raw(bench)


# -- the host driver against the simulated board top ------------------------------------------

def test_host_round_trip_bus_errors_and_refused_frames():
    def host_fn(transport):
        # one refused frame and no state comparison: the rest is the cocotb bench's
        # (tb/cocotb_link.py), where a UART byte costs microseconds rather than milliseconds
        return check_host_link(CFG, SerialLink(transport, timeout=60), names=["bad checksum"],
                               probe=False)

    assert run_host(make_top(), CPB, host_fn) == 1


def test_host_learning_steps_equal_golden():
    cfg = CFG
    weights, plan = learning_case(cfg, steps=3)
    w_in = weights[0]
    golden = GoldenModel(cfg)
    golden.load_weights(*weights)
    dut = make_top(cfg)

    def host_fn(transport):
        # the weights are loaded in the simulation (``before``): a UART write costs ~700
        # cycles of a slow simulation; the cocotb bench loads them through the link
        host = Host(cfg, SerialLink(transport, timeout=60))
        w = host.driver.map.windows["w_in"]
        assert host.link.read(w.address(1, 2)) & 0xFF == w_in[1, 2] & 0xFF
        check_host_steps(host, golden, plan)
        spikes = host.link.read(host.driver.map.registers["count_spikes"].address)
        assert spikes == golden.counters["spikes"][0] > 0

    async def before(ctx):
        load_weights(ctx, dut.core.core, weights)

    async def after(ctx):
        found = first_mismatch(read_state(ctx, dut.core.core), golden.snapshot())
        assert found is None, found

    run_host(dut, CPB, host_fn, after, before)
