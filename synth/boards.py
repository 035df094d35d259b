"""Board tops: the core behind the UART link (``eligo.rtl.link.LinkTop``) on the platforms of
``amaranth-boards`` (from PyPI, which supports Amaranth 0.5):

- ``icebreaker``: iCEBreaker, iCE40 UP5K-SG48, 12 MHz oscillator (pin 35) through the
  SB_PLL40_PAD, UART on the FTDI's second channel (rx pin 6, tx pin 9).
- ``ulx3s``: ULX3S 85F, ECP5 LFE5U-85F-6BG381C, 25 MHz oscillator (G2) through an EHXPLLL,
  UART on the FTDI (rx M1, tx L4).

``busy`` and ``error`` of the core drive the first two LEDs.
"""

from dataclasses import dataclass

from amaranth.hdl import ClockDomain, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from eligo.config import ensure_config
from eligo.rtl.core import INPUT_STAGES
from eligo.rtl.link import LinkTop

__all__ = ["Board", "BOARDS", "BoardTop", "ice40_pll_params", "ecp5_pll_params"]


@dataclass(frozen=True)
class Board:
    name: str
    family: str         # "ice40" or "ecp5"
    platform: str       # amaranth_boards class, "module:Class"
    osc_hz: float
    default_hz: float   # the PLL's output: the clock the core runs on
    title: str
    # The core's units with a register stage before them (Core's input_stages): on the
    # UP5K only the neuron unit's (the critical path's; the others' registers, the
    # host's included, do not fit).
    input_stages: frozenset
    # The units' product stages (Core's product_stages): not on the UP5K (they do not fit).
    product_stages: bool
    # Lane memories in LUT RAM above one lane (Core's lane_lut_ram): on the ECP5, where the
    # per-lane w_out, b and pre took a block RAM each and `reckon` at 8 lanes (95 % of the
    # block RAM) did not route; the UP5K has no LUT RAM.
    lane_lut_ram: frozenset = frozenset()

    def make_platform(self):
        import importlib
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)()


BOARDS = {
    "icebreaker": Board("icebreaker", "ice40", "amaranth_boards.icebreaker:ICEBreakerPlatform",
                        12e6, 30e6, "iCEBreaker (iCE40 UP5K)", frozenset({"neuron"}), False),
    "ulx3s": Board("ulx3s", "ecp5", "amaranth_boards.ulx3s:ULX3S_85F_Platform",
                   25e6, 75e6, "ULX3S (ECP5 LFE5U-85F)", INPUT_STAGES, True,
                   frozenset({"w_out", "b", "pre"})),
}


def ice40_pll_params(f_in, f_out):
    """SB_PLL40 (SIMPLE feedback) dividers closest to ``f_out``, as icepll picks them:
    ``(divr, divf, divq, filter_range, f_achieved)``."""
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10e6 <= pfd <= 133e6:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533e6 <= vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = vco / (1 << divq)
                if best is None or abs(f - f_out) < abs(best[-1] - f_out):
                    rng = next(i for i, edge in enumerate([17e6, 26e6, 44e6, 66e6, 101e6, 1e12],
                                                          start=1) if pfd < edge)
                    best = (divr, divf, divq, rng, f)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting reaches {f_out / 1e6} MHz from "
                         f"{f_in / 1e6} MHz")
    return best


def ecp5_pll_params(f_in, f_out):
    """EHXPLLL dividers closest to ``f_out`` (CLKOP feedback), as ecppll picks them:
    ``(clki_div, clkfb_div, clkop_div, f_achieved)``."""
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if not 3.125e6 <= pfd <= 400e6:
            continue
        for fb in range(1, 81):
            f = pfd * fb
            for op in range(1, 129):
                vco = f * op
                if 400e6 <= vco <= 800e6:
                    if best is None or abs(f - f_out) < abs(best[-1] - f_out):
                        best = (clki, fb, op, f)
                    break
    if best is None:
        raise ValueError(f"no ECP5 PLL setting reaches {f_out / 1e6} MHz from "
                         f"{f_in / 1e6} MHz")
    return best


class BoardTop(Elaboratable):
    """The core (``lanes`` lanes) with its UART link on ``board``, clocked at ``clock_hz``
    (through the PLL; None: the board's default). ``baud``: the UART's rate (clocks per bit
    rounded)."""

    def __init__(self, cfg, board, clock_hz=None, baud=115200, lanes=1):
        ensure_config(cfg)
        if board not in BOARDS:
            raise ValueError(f"board must be one of {', '.join(map(repr, BOARDS))}, not "
                             f"{board!r}")
        self.cfg = cfg
        self.board = BOARDS[board]
        self.clock_hz = float(clock_hz or self.board.default_hz)
        if self.board.family == "ice40":
            self.pll = ice40_pll_params(self.board.osc_hz, self.clock_hz)
        else:
            self.pll = ecp5_pll_params(self.board.osc_hz, self.clock_hz)
        self.clock_hz = self.pll[-1]
        self.baud = baud
        self.clocks_per_bit = round(self.clock_hz / baud)
        self.lanes = lanes

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync")
        board = self.board
        lock = Signal()
        if board.family == "ice40":
            # pin 35 is the PLL's own pad: SB_PLL40_PAD takes the raw pin (an SB_IO in front
            # of it would block the PLL's site)
            divr, divf, divq, rng, _ = self.pll
            pad = platform.request(platform.default_clk, 0, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE", p_DIVR=divr, p_DIVF=divf, p_DIVQ=divq,
                p_FILTER_RANGE=rng,
                i_PACKAGEPIN=pad.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=cd.clk, o_LOCK=lock)
        else:
            m.submodules.clk_in = clk_buf = io.Buffer(
                "i", platform.request(platform.default_clk, 0, dir="-"))
            clk_in = clk_buf.i
            clki, fb, op, f = self.pll
            m.submodules.pll = Instance(
                "EHXPLLL",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_CLKOP_ENABLE="ENABLED", p_CLKI_DIV=clki, p_CLKOP_DIV=op,
                p_CLKOP_CPHASE=op - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=fb,
                a_FREQUENCY_PIN_CLKI=f"{board.osc_hz / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{f / 1e6:g}", a_ICP_CURRENT="12",
                a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                i_CLKI=clk_in, i_CLKFB=cd.clk, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
                i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
                i_PLLWAKESYNC=0, i_ENCLKOP=0,
                o_CLKOP=cd.clk, o_LOCK=lock)
        platform.add_clock_constraint(cd.clk, self.clock_hz)
        m.submodules.reset_sync = ResetSynchronizer(~lock, domain="sync")

        m.submodules.top = top = LinkTop(self.cfg, self.clocks_per_bit, lanes=self.lanes,
                                         input_stages=board.input_stages,
                                         product_stages=board.product_stages,
                                         lane_lut_ram=board.lane_lut_ram)
        # (amaranth 0.5: resources as raw ports, each behind an explicit buffer)
        uart_pins = [io_.name for io_ in platform.resources["uart", 0].ios]  # ULX3S: rts, dtr
        uart = platform.request("uart", 0, dir=dict.fromkeys(uart_pins, "-"))
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        for index, sig in enumerate([top.busy, top.error]):
            m.submodules[f"led{index}"] = led = io.Buffer(
                "o", platform.request("led", index, dir="-"))
            m.d.comb += led.o.eq(sig)
        return m
