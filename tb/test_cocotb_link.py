"""The board top's logic (``eligo.rtl.link.LinkTop``: UART link + core) as Verilog under
cocotb, with a UART model as the serial line and ``eligo.host.Host`` driving it from a
thread: the benches are in tb/cocotb_link.py; eligo.cosim builds and runs them.

Both simulators are ``slow`` for now. rtl/link.py's ``_crc8_next`` unrolls the CRC as nested
``Mux``es that reuse their operand three times per bit, so each of its four uses is a tree of
3^8 copies: LinkTop converts to 9.5 MB of Verilog (the core alone: 0.4 MB) in about 70 s,
Icarus compiles it in about 90 s and runs it at about 550 cycles/s, and these benches take
about 12 minutes. With the CRC as eight XORs of masked bits (CRC-8 is linear) the Verilog is
0.4 MB and the Icarus benches take about 20 s and 35 s; then Icarus belongs in the default
run. Verilator builds LinkTop in over 2 minutes even then, and stays ``slow``.
"""

import pytest

from eligo.cosim import Design, run_bench
from eligo.tb.link_harness import malformed_frames
from eligo.tb.test_link import CFG, CPB, TIMEOUT

FIFO_DEPTH = 64
SIMULATORS = [pytest.param("icarus", marks=pytest.mark.slow),
              pytest.param("verilator", marks=pytest.mark.slow)]


def link_design(clocks_per_bit=CPB, fifo_depth=FIFO_DEPTH, timeout=TIMEOUT):
    """``LinkTop`` with these link parameters, for ``eligo.cosim``."""
    from eligo.rtl.link import LinkTop

    def make(cfg):
        return LinkTop(cfg, clocks_per_bit, fifo_depth=fifo_depth, timeout=timeout)
    return Design(f"link-cpb{clocks_per_bit}-fifo{fifo_depth}-timeout{timeout}", make,
                  "eligo.tb.cocotb_link")


def run(testcase, simulator, **params):
    passed, result = run_bench(CFG, testcase, {"clocks_per_bit": CPB, **params},
                               simulator=simulator, quiet=True, design=link_design())
    assert passed, (f"cocotb bench {testcase} failed on {simulator}: see "
                    f"build/cosim/{simulator}-link-*/{testcase}.log")
    return result


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_host_bus_errors_and_malformed_frames(simulator):
    result = run("host_link", simulator)
    assert result["refused"] == result["frame_errors"] == len(malformed_frames(CFG))


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_host_learning_steps_equal_golden(simulator):
    result = run("host_learning", simulator, steps=4, params={"eta": 10, "seed": 7})
    assert result["counters"]["spikes"] > 0
    assert result["counters"]["row_updates"] > 0
