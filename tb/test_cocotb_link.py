"""The board top's logic (``eligo.rtl.link.LinkTop``: UART link + core) as Verilog under
cocotb, with a UART model as the serial line and ``eligo.host.Host`` driving it from a
thread: the benches are in tb/cocotb_link.py; eligo.cosim builds and runs them.


Icarus runs in the default test run; Verilator's build of LinkTop takes minutes, so it is
``slow``.
"""

import pytest

from eligo.cosim import Design, run_bench
from eligo.tb.link_harness import CFG, CPB, TIMEOUT, malformed_frames

FIFO_DEPTH = 64
SIMULATORS = ["icarus", pytest.param("verilator", marks=pytest.mark.slow)]


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
