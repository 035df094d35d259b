# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the UART host link (rtl/link.py) in front of AxiCore, with a
bit-level UART peer (tb/link_harness.py) and the host driver (eligo/host.py) running in a
thread against the simulation: register round trips, SLVERR in replies, malformed frames
(error reply, nothing changed), events in and outputs out, equal to the golden model."""

import re

import numpy as np
import pytest

from eligo.config import Config
from eligo.driver import BusError
from eligo.host import Host, LinkError, SerialLink
from eligo.model.golden import GoldenModel, random_weights
from eligo.rtl.link import (CMD_EVENT, CMD_READ, CMD_WRITE, ERR_CHECKSUM, ERR_COMMAND,
                            ERR_LENGTH, ERR_TIMEOUT, FRAME_ERROR, REPLY, LinkTop, UartLink,
                            UartRx, UartTx, crc8, encode_frame)
from eligo.rtl.regmap import register_map
from eligo.tb.core_harness import first_mismatch, load_weights, read_state
from eligo.tb.link_harness import SimUart, parse_frames, run_host

CFG = Config(n_in=4, n_rec=5, n_out=2, n_alif=2, update_rounding="zero", trigger=700,
             trigger_out=900, eta=8, eta_out=4)
CPB = 4
TIMEOUT = 400  # cycles: a cut frame is dropped quickly in the tests


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
    w_in = rmap["w_in"].address(1, 2)
    le = lambda v, n=4: (v & (1 << 8 * n) - 1).to_bytes(n, "little")

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

        # malformed frames: an error reply each, nothing changed
        good_write = encode_frame(CMD_WRITE, le(theta) + le(1234))
        bad_crc = good_write[:-1] + bytes([good_write[-1] ^ 0x01])
        bad_data = good_write[:5] + bytes([good_write[5] ^ 0x40]) + good_write[6:]
        unknown = encode_frame(0x07, le(theta) + le(1234))
        wrong_len = encode_frame(CMD_WRITE, le(theta) + le(1234) + b"\x00")
        short_read = encode_frame(CMD_READ, le(theta)[:3])
        bad_event = encode_frame(CMD_EVENT, le(0, 8)[:7])
        weight_write = encode_frame(CMD_WRITE, le(w_in) + le(5))
        bad_weight_write = weight_write[:-1] + bytes([weight_write[-1] ^ 0x80])
        cases = [(bad_crc, ERR_CHECKSUM), (bad_data, ERR_CHECKSUM), (unknown, ERR_COMMAND),
                 (wrong_len, ERR_LENGTH), (short_read, ERR_LENGTH), (bad_event, ERR_LENGTH),
                 (bad_weight_write, ERR_CHECKSUM)]
        for frame, code in cases:
            [(cmd, payload)] = await exchange(frame, 1)
            assert (cmd, payload) == (FRAME_ERROR, bytes([code])), frame.hex()
        # a frame cut short: timeout; garbage before a frame is skipped
        [(cmd, payload)] = await exchange(good_write[:6], 1)
        assert (cmd, payload) == (FRAME_ERROR, bytes([ERR_TIMEOUT]))
        assert ctx.get(core.params["theta"]) == 3000
        assert ctx.get(core.w[1 * CFG.n_pre + 2]) == 0
        assert ctx.get(core.errors) == 0 and ctx.get(core.t) == 0
        assert ctx.get(dut.frame_errors) == len(cases) + 1
        [(cmd, payload)] = await exchange(b"\x00\x13" + weight_write, 1)
        assert (cmd, payload) == (REPLY[CMD_WRITE], b"\x00")
        assert ctx.get(core.w[1 * CFG.n_pre + 2]) == 5
        # frames in flight: three reads sent at once come back in order
        frames = await exchange(b"".join(encode_frame(CMD_READ, le(a))
                                         for a in (theta, w_in, 0)), 3)
        assert [p[1:] for _, p in frames] == [le(3000), le(5), le(0x454C474F)]

    simulate_raw(bench)


# -- the host driver against the simulated board top ------------------------------------------

def test_host_round_trip_bus_errors_and_refused_frames():
    rmap = register_map(CFG)

    def host_fn(transport):
        link = SerialLink(transport, timeout=60)
        host = Host(CFG, link)
        host.driver.check_identity()
        host.driver.write_params(theta=3000, seed=0xDEADBEEF)
        assert link.read(rmap["seed"].address) == 0xDEADBEEF
        assert link.read(rmap["alpha"].address) == CFG.alpha
        with pytest.raises(BusError, match="SLVERR"):
            link.write(rmap["id"].address, 1)
        with pytest.raises(BusError, match="SLVERR"):
            link.read(rmap.end)
        frame = encode_frame(CMD_WRITE, rmap["theta"].address.to_bytes(4, "little")
                             + (100).to_bytes(4, "little"))
        with pytest.raises(LinkError, match="bad checksum") as info:
            link.transact(frame[:-1] + bytes([frame[-1] ^ 0xFF]), REPLY[CMD_WRITE])
        assert info.value.code == ERR_CHECKSUM
        assert link.read(rmap["theta"].address) == 3000  # the refused write changed nothing
        return "done"

    assert run_host(make_top(), CPB, host_fn) == "done"


def test_host_learning_steps_equal_golden():
    cfg = CFG
    steps = 3
    w_in, w_rec, w_out, b = random_weights(cfg, np.random.default_rng(3), scale=2.0)
    golden = GoldenModel(cfg)
    golden.load_weights(w_in, w_rec, w_out, b)
    rng = np.random.default_rng(5)
    plan = [((rng.random(cfg.n_in) < 0.5).astype(np.int64),
             rng.integers(-3000, 3000, cfg.n_out), np.array([t % 2, 1], np.int64))
            for t in range(steps)]
    dut = make_top(cfg)

    def host_fn(transport):
        # the weights are loaded in the simulation (``before``): a UART write costs ~700
        # cycles of a slow simulation; test_host_round_trip covers writes through the link
        host = Host(cfg, SerialLink(transport, timeout=60))
        w = host.driver.map.windows["w_in"]
        assert host.link.read(w.address(1, 2)) & 0xFF == w_in[1, 2] & 0xFF
        for t, (x, ystar, mask) in enumerate(plan):
            z, y = host.step(x, ystar, mask, learn=True)
            out = golden.step(x, ystar, mask, True)
            assert np.array_equal(z, out.z[0]), f"step {t}"
            assert np.array_equal(y, out.y[0]), f"step {t}"
        spikes = host.link.read(host.driver.map.registers["count_spikes"].address)
        assert spikes == golden.counters["spikes"][0] > 0

    async def before(ctx):
        load_weights(ctx, dut.core.core, (w_in, w_rec, w_out, b))

    async def after(ctx):
        found = first_mismatch(read_state(ctx, dut.core.core), golden.snapshot())
        assert found is None, found

    run_host(dut, CPB, host_fn, after, before)
