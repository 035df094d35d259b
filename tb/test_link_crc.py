"""The link's CRC hardware (``_crc8_next``, eight XORs) against the byte-wise ``crc8``."""

import random

from amaranth.hdl import Module, Signal

from eligo.rtl.link import _crc8_next, crc8
from eligo.rtl.stream_util import run_simulation


def test_crc8_next_equals_crc8_for_every_byte_and_register():
    m = Module()
    crc, byte = Signal(8), Signal(8)
    m.d.comb += (result := Signal(8)).eq(_crc8_next(crc, byte))
    pairs = [(c, b) for c in (0, 0xFF, 0x80, 0x01) for b in range(256)]
    rng = random.Random(3)
    pairs += [(rng.randrange(256), rng.randrange(256)) for _ in range(500)]
    wrong = []

    async def testbench(ctx):
        for c, b in pairs:
            ctx.set(crc, c)
            ctx.set(byte, b)
            if ctx.get(result) != crc8(bytes([b]), c):
                wrong.append((c, b, ctx.get(result), crc8(bytes([b]), c)))

    run_simulation(m, testbench)
    assert wrong == []
