"""One eligo core (docs/spec.md 3, phases 1-5): a sequencer around the bit-exact units of
this package, with the weights, traces and neuron state in memories.

:class:`Core` takes a stream of events (input spikes, targets, end of step), runs one timestep
per end-of-step event and streams out the step's spikes, readouts and an end-of-step marker,
bit for bit as ``eligo.model.golden.GoldenModel.step`` computes them.
"""

import operator
from collections import namedtuple
from functools import reduce

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, MemoryData
from amaranth.lib.wiring import In, Out

from ..config import ensure_config
from ..model.names import COUNTER_NAMES
from .arith import at_least, at_most, below, row_major, times_const, within
from .host import bus_signature
from .learn import TriggerUnit, WeightUpdateUnit, q_width, signal_width, trigger_sum_width
from .neuron import NeuronUnit, ref_width, synaptic_input_width
from .random import RandomSource
from .regmap import COMMAND_BITS, PHASES, STATUS_BITS, register_map
from .synapse import AlifFactor, EligibilityUnit, SynapseUnit
from .trace import ReadoutUnit, TraceUnit, readout_drive_width

__all__ = ["EV_SPIKE", "EV_TARGET", "EV_END", "OUT_SPIKE", "OUT_READOUT", "OUT_END",
           "PHASES", "LANES", "RANDOM_ROUNDS_PER_STAGE", "INPUT_STAGES", "LANE_MEMORIES",
           "check_input_stages", "check_lane_lut_ram",
           "index_width", "event_layout", "output_layout", "neuron_state_layout", "Core"]

# Event kinds (the `kind` field of event_layout).
EV_SPIKE, EV_TARGET, EV_END = 0, 1, 2
# Output kinds (the `kind` field of output_layout).
OUT_SPIKE, OUT_READOUT, OUT_END = 0, 1, 2

# The attribute of the memories that never read a word in the cycle their write port writes
# it (a phase visits each address once and drains before the next phase reads; host accesses
# wait for an idle core, or a cycle while the cycles memory is written; read ports are
# enabled only where their data is used). Their read ports may return anything on such a
# collision, which spares the FPGA build yosys's read-first emulation (a delayed write port
# and a bypass: about a flip-flop per data and address bit; see
# eligo.synth.flow.mark_collision_free). The simulations check the claim on every cycle
# (Core.collision_checked, eligo.tb.core_harness.collision_monitor).
COLLISION_FREE = {"no_rw_check": 1}
ERRORS_MAX = 2**32 - 1  # the bad-event counter `errors` (32 bits, saturating)

# Allowed values of Core's ``lanes``: the column of a synapse splits into lane bits and a
# group without a divider.
LANES = (1, 2, 4, 8, 16, 32, 64)
# Threefry rounds per pipeline stage of the random sources: two keep a stage to a few adds
# (four rounds and a key injection in one cycle were the ECP5's critical path), at 10
# cycles of latency instead of 5.
RANDOM_ROUNDS_PER_STAGE = 2
# What can take its inputs from a register stage (Core's `input_stages`): the units, and
# the host's window reads ("host": memory data registered before the read multiplexers).
INPUT_STAGES = frozenset({"neuron", "trace", "synapse", "eligibility", "readout", "update",
                          "host"})
# The memories split one per lane (Core's `lane_lut_ram` may put some in LUT RAM).
LANE_MEMORIES = frozenset({"w", "w_out", "b", "ebar", "eps", "pre", "zout", "input", "signal"})

# Rounding sites, the ``site`` input of the random source (docs/spec.md 1.2; the golden
# model's ``eligo.model.kernels.SITES``).
SITES = {
    "V": 1, "A": 2, "PSI": 3, "PRE": 4, "G": 5, "EPS": 6, "E": 7, "EBAR": 8,
    "ZOUT": 9, "Y": 10, "L": 11, "LOUT": 12, "W": 13, "WOUT": 14,
}


def index_width(cfg):
    """Bits of the ``index`` field of events and outputs: it holds every channel, neuron and
    readout index, and at least one index beyond each (so a bad event can be expressed)."""
    ensure_config(cfg)
    return max(cfg.n_in, cfg.n_rec, cfg.n_out).bit_length()


def event_layout(cfg):
    """Layout of one input event (the payload of :attr:`Core.i`).

    Fields: ``kind`` (2 bits: :data:`EV_SPIKE` input spike on channel ``index``,
    :data:`EV_TARGET` target ``value`` for readout ``index``, :data:`EV_END` end of step; 3 is
    a bad event), ``index`` (``unsigned(index_width(cfg))``), ``value`` (``signed(y_bits)``:
    the target, read only for :data:`EV_TARGET`).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "kind": 2,
        "index": unsigned(index_width(cfg)),
        "value": signed(cfg.y_bits),
    })


def output_layout(cfg):
    """Layout of one output transfer (the payload of :attr:`Core.o`).

    Fields: ``kind`` (2 bits: :data:`OUT_SPIKE` neuron ``index`` spiked, :data:`OUT_READOUT`
    readout ``index`` has ``value``, :data:`OUT_END` end of step), ``index``
    (``unsigned(index_width(cfg))``), ``value`` (``signed(y_bits)``: the readout ``y``, 0 for
    the other kinds).
    """
    ensure_config(cfg)
    return data.StructLayout({
        "kind": 2,
        "index": unsigned(index_width(cfg)),
        "value": signed(cfg.y_bits),
    })


def neuron_state_layout(cfg):
    """Layout of one word of the core's neuron memory: ``v`` (``signed(v_bits)``), ``a``
    (``unsigned(a_bits)``), ``ref`` (``unsigned(ref_width(cfg))``)."""
    ensure_config(cfg)
    return data.StructLayout({"v": signed(cfg.v_bits), "a": unsigned(cfg.a_bits),
                              "ref": unsigned(ref_width(cfg))})


def _power_of_two_above(n):
    """The least power of two at or above ``n``."""
    return 1 << (n - 1).bit_length()


_Stream = namedtuple("_Stream", "valid payload")


class _InputStage:
    """With ``registered``, a register stage before ``unit``'s input, in the parent module
    ``m``: the phases set ``i.valid`` and ``i.payload`` here and the unit sees them a cycle
    later, so that its first stage does not follow the memory reads and multiplexers that
    choose its inputs; otherwise the unit's own ``i``. ``o`` is the unit's; ``latency``
    counts the stage. (The units are never back-pressured.)"""

    def __init__(self, m, unit, name, registered, lane=0):
        self.unit, self.o = unit, unit.o
        self.stages = int(registered)
        self.latency = unit.latency + self.stages
        if not self.stages:
            self.i = unit.i
            return
        suffix = str(lane) if lane else ""
        self.i = _Stream(Signal(name=f"{name}{suffix}_in_valid"),
                         Signal(unit.i.payload.shape(), name=f"{name}{suffix}_in",
                                reset_less=True))
        m.d.sync += [unit.i.valid.eq(self.i.valid), unit.i.payload.eq(self.i.payload)]


def _check_names(value, known, what, kind, kinds):
    """``value`` (a set, frozenset, tuple or list of names from ``known``) as a frozenset."""
    if (not isinstance(value, (set, frozenset, tuple, list))
            or not all(isinstance(name, str) for name in value)):
        raise TypeError(f"{what} must be a set of {kind} names, not {value!r}")
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"{what}: no {kind} named {', '.join(map(repr, unknown))} "
                         f"({kinds}: {', '.join(sorted(known))})")
    return frozenset(value)


def check_input_stages(input_stages):
    """``input_stages`` as a frozenset, checked against :data:`INPUT_STAGES`."""
    return _check_names(input_stages, INPUT_STAGES, "input_stages", "stage", "stages")


def check_lane_lut_ram(lane_lut_ram):
    """``lane_lut_ram`` as a frozenset, checked against :data:`LANE_MEMORIES`."""
    return _check_names(lane_lut_ram, LANE_MEMORIES, "lane_lut_ram", "memory", "memories")


def lowest_set_bit(vector):
    """``(any, index)``: whether ``vector`` has a set bit and the index of its lowest (0
    when none), as a balanced tree of ``log2(len(vector))`` levels, not a chain of one
    priority level per bit (a 512-bit chain is too deep for synthesis and for Fmax)."""
    if len(vector) == 1:
        return vector[0], Const(0, 1)
    half = 1 << ((len(vector) - 1).bit_length() - 1)  # the largest power of two below
    low_any, low_index = lowest_set_bit(vector[:half])
    high_any, high_index = lowest_set_bit(vector[half:])
    width = (len(vector) - 1).bit_length()
    return (low_any | high_any,
            Mux(low_any, low_index, Mux(high_any, high_index | half, 0)).as_unsigned()[:width])


class Core(wiring.Component):
    """One eligo core: docs/spec.md 3 (phases 1-5) per end-of-step event.

    Lanes: synaptic integration adds ``lanes`` rows of a source's column per cycle, the
    learning signal sums ``lanes`` rows per cycle, and the per-synapse trace sweep and both
    row-write phases process ``lanes`` columns of a row per cycle, with one
    :class:`SynapseUnit` per lane (the sweep's, or the factored row writes' ``e_ji``), one
    :class:`WeightUpdateUnit` per lane, and one random source per random word a lane needs.
    ``W`` is skewed among the lanes (``W[j, i]`` in lane ``(i + j) % lanes``), so that a row
    group of a column and a column group of a row each lie in distinct lanes, met through
    rotations; ``ebar``, ``eps`` and ``pre`` are split by columns (lane ``i % lanes``); the
    synaptic inputs, ``w_out``, ``b``, ``zout`` and the learning signal by recurrent neuron
    (lane ``j % lanes``). The neuron, trace, drive, readout, trigger and output phases process
    one item per cycle (their lanes are future work).

    Scope: both trace modes; every ``rounding`` and ``update_rounding`` (zero, floor,
    stochastic); both feedback modes, LIF and ALIF neurons, refractoriness, both reset modes,
    ``accumulate_error`` on and off, learning on and off per step. The runtime parameters
    (``alpha`` ... ``trigger_out``) and ``seed`` are registers (:attr:`params`, reset to
    ``cfg``'s values, written through :attr:`host`); ``lr_shift`` and ``lr_out_shift`` are
    elaboration constants.

    Random source (stochastic rounding): :class:`~eligo.rtl.random.RandomSource` units (at one
    lane four when ``rounding`` is stochastic, one when only ``update_rounding`` is, five
    with full traces when both are; with lanes, as many as the widest phase's lanes need:
    the sweep three per lane beyond the first, the row writes one W word per lane (full
    traces: beside the sweep's own, in the same phase) and, factored, one E word per lane; 2
    Threefry rounds per stage, :data:`RANDOM_ROUNDS_PER_STAGE`) receive, in the cycle after an
    item is issued (its memory-read stage, from registers), ``rand64(seed, site, t, row,
    col)`` requests for that item's sites at the golden model's ``(row, col)``, ``t`` the
    step counter: neuron V, A, PSI ``(j, 0)``; trace PRE ``(0, i)`` / ZOUT ``(0, j)``; sweep G
    ``(j, 0)``, EPS, E, EBAR ``(j, i)`` and, full, W ``(j, i)`` (from sources of its own);
    readout Y ``(k, 0)``; trigger L ``(j, 0)`` / LOUT ``(k, 0)``; factored write_rec W
    ``(j, i)`` and E ``(j, i)``; write_out WOUT ``(k, j)``.
    A phase that rounds stochastically feeds its unit ``RandomSource.latency`` cycles after
    the memory-read stage (its memory data delayed as much), where the item meets its words:
    one item per cycle still, the phase's drain ``latency`` cycles longer.
    The units named in ``input_stages`` (default all; the trigger has two stages of its own
    before it) take their inputs from a register stage, so that their first stage does not
    follow a memory read or the multiplexers that choose its operands; with ``"host"`` in
    it, the host's reads take the memories' data from a register too.

    Factored traces (``trace_mode == "factored"``): no ``eps``/``ebar`` memories and no
    sweep; in ``write_rec`` each written synapse's ``e_ji`` (this step's ``psi_j``, ``pre_i``,
    site E at ``(j, i)``, clamps counted in ``sat_e``; the diagonal neither computed nor
    counted) comes from the :class:`SynapseUnit`'s LIF path (old trace 0) and goes on to the
    weight update unit, whose weight word and W random word are delayed alongside.

    Memories (:class:`MemoryData`, exposed as properties; synchronous read ports): ``w``
    (``signed(w_bits)``, ``w_in`` beside ``w_rec`` as the golden ``_W``: one memory per lane,
    ``W[j, i]`` at :meth:`weight_word`), ``ebar`` (``signed(e_bits)``) and ``eps`` (ALIF rows
    ``r``, ``signed(eps_bits)``; None without ALIF neurons; both None with factored traces):
    one memory per lane, column ``i`` of row ``j`` at :meth:`synapse_word`; ``w_out`` and
    ``b`` (one memory per lane, at :meth:`readout_word` and :meth:`feedback_word`), ``neuron``
    (``n_rec`` words of :func:`neuron_state_layout`: ``v``, ``a``, ``ref``), ``psi`` (two
    banks of ``n_rec``: ``b * n_rec + j``, the latest in bank ``psi_bank``), ``pre``
    (``xbar`` then ``zbar``, two banks of ``n_pre`` split among the lanes by column, at
    :meth:`pre_word`; the latest in bank ``pre_bank``), ``zout`` (one memory per lane, at
    :meth:`neuron_word`), ``acc`` (``n_rec`` words). The neuron phase writes ``psi`` into the
    other bank and flips ``psi_bank`` when it ends, the trace phase likewise ``pre``, so the
    sweep reads last step's values (``psi_old``, ``pre_old``) beside this step's without a
    copy. Internal memories hold
    ``I_j`` (lane ``j % lanes``; zeroed as the neuron phase reads it) and the learning signal
    ``sig_j`` (likewise). Register arrays (lists of signals): ``z`` (``n_rec``), ``y``,
    ``err``, ``acc_out`` (``n_out`` each); ``clear_state`` zeroes them at once and the
    memories in a sweep of one word per cycle (the core stays busy meanwhile).
    ``counters`` maps every name of ``eligo.model.names.COUNTER_NAMES`` to a saturating
    register of ``cfg.counter_bits``. One counter times the running phase; in the cycle
    after the phase ends, its count goes into word ``PHASES.index(phase)`` of the memory
    :attr:`cycles` and
    sets that bit of ``cycles_ran`` (cleared when a step starts): a phase's cycles in the
    last step are that word where its bit is set, else 0.
    ``collision_checked`` (filled when the core is elaborated) lists ``(name, write port,
    read ports)`` of every memory marked :data:`COLLISION_FREE`.

    Step schedule (after the end-of-step event; one sequencer state per phase, each a loop
    that issues one item per cycle into a one-cycle memory-read stage and then a unit, and
    ends when its pipeline has drained; no unit is ever back-pressured):

    1. ``syn``: for each active source ``s`` (input spikes, then last step's spikes, lowest
       first), ``I_j += W[j, s]`` for every ``j``, a row group of ``lanes`` rows per cycle
       (``active * ceil(n_rec / lanes)`` cycles).
    2. ``neuron``: :class:`NeuronUnit` over every neuron (latency 5).
    3. ``trace`` (learn only): :class:`TraceUnit` over ``pre`` (``alpha``, spikes ``x``,
       ``z_old``) then ``zout`` (``kappa``, spikes ``z``); the old ``pre`` is kept.
    4. ``drive``: ``drive_k += w_out[k, j]`` for each spiking ``j`` and every ``k``.
    5. ``readout``: :class:`ReadoutUnit` over every readout (``y``, ``err``).
    6. ``signal`` (learn and a target): ``sig_j = sum_k F[j, k] * err_k``, reading ``w_out``
       (symmetric) or ``b`` (random) before any weight of the step is written, a row group
       of ``lanes`` rows per cycle (``ceil(n_rec / lanes) * n_out`` cycles).
    7. ``trigger``: :class:`TriggerUnit` over recurrent rows then readout rows (``acc``,
       ``acc_out``, ``q``, row and write counts); a recurrent row's request adds the
       homeostatic term ``homeo_gain * (zout_j - homeo_target)`` to ``sig_j`` (``zout`` read
       beside ``sig``).
    8. ``sweep`` (learn only, full traces; after the trigger, or after the readout in a step
       without a target): :class:`SynapseUnit` over every synapse (a group of ``lanes``
       columns per cycle), row ``G_j`` from :class:`AlifFactor`, read-modify-write of
       ``eps`` and ``ebar`` (latency 6); in a step with a target, each new ``ebar`` of a row
       with ``q_j != 0`` goes on as ``elig`` to a :class:`WeightUpdateUnit` and its weight
       is written (the diagonal never): the recurrent row writes cost no cycles of their
       own. (Where the sweep draws no random words itself, its results wait for the W
       words, which arrive ``RandomSource.latency`` cycles after the read stage.) None of
       the phases between the trace and the sweep reads ``pre``, ``psi``, ``eps`` or
       ``ebar``, so the traces equal those of a sweep right after the trace.
    9. ``write_rec`` (factored traces): :class:`WeightUpdateUnit` over every synapse of each
       row with ``q_j != 0``, a column group of ``lanes`` columns per cycle
       (``ceil(n_pre / lanes)`` cycles a row; the diagonal is never written), ``e_ji`` from
       an :class:`EligibilityUnit` first (2 cycles more latency) as ``elig``.
    10. ``write_out``: the same over each readout row with ``q_k != 0``, ``elig = zout``, a
        group of ``lanes`` columns per cycle (``ceil(n_rec / lanes)`` cycles a row).
    11. ``output``: one transfer per spiking neuron (ascending), one per readout, the end
        marker; ``t`` has been incremented when it starts.

    Events arrive only while ``busy`` is low (``i.ready``). A spike event for a channel
    ``>= n_in``, a target event for a readout ``>= n_out`` or an event of kind 3 sets the
    sticky ``error`` flag, increments ``errors`` and is otherwise ignored. ``learn`` is bit 0 of
    the end-of-step event's ``value``. Events also wait while a host access is pending.

    Parameters
    ----------
    cfg : eligo.config.Config
    lanes : int
        One of :data:`LANES` (powers of two up to 64).
    input_stages : set of str
        The units (names from :data:`INPUT_STAGES`, default all) that take their inputs from
        a register stage: a cycle more per phase that uses one, for a shorter clock period
        (the multiplexers and memory reads that choose a unit's operands no longer precede
        its first stage), at the cost of those registers. ``"host"``: the host's accesses
        take three cycles, not two, the memories' read data registered before the host's
        read multiplexers.
    product_stages : bool
        The units' optional stages, which register a multiplier's product before its
        rounding, and a threshold before its comparison (default on; the ``product_stages``
        of :class:`NeuronUnit`, :class:`SynapseUnit` and :class:`WeightUpdateUnit`): 2, 1 and
        2 cycles more latency; and the signal phase's ``err_k`` registered (no cycle more).
    lane_lut_ram : set of str
        Memories split by lane (names from :data:`LANE_MEMORIES`, default none) that are
        built in LUT RAM (yosys's ``ram_style = "distributed"``) when ``lanes > 1``: each
        lane's share is small then (``w_out`` and ``b``: ``n_out * ceil(n_rec / lanes)``
        words, ``pre``: two banks of ``ceil(n_pre / lanes)``) but takes a whole block RAM.
        At one lane they hold whole arrays and stay block RAM. (The iCE40 has no LUT RAM.)

    Members
    -------
    i : ``In(stream.Signature(event_layout(cfg)))``
    o : ``Out(stream.Signature(output_layout(cfg)))``
    host : ``In(bus_signature(register_map(cfg).addr_width))``
        The register bus (registers, memory windows, commands: docs/regmap.md).
    busy : ``Out(1)``
        A step is in progress (from the end-of-step event to the end marker's transfer).
    t : ``Out(32)``
        Steps done.
    error : ``Out(1)``; errors : ``Out(32)``
        Sticky bad-event flag; count of bad events (saturating).

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`eligo.config.Config`, ``lanes`` not an int, or
        ``input_stages`` or ``lane_lut_ram`` not a set, frozenset, tuple or list of strings.
    ValueError
        If ``lanes`` is not in :data:`LANES`, ``input_stages`` names a unit not in
        :data:`INPUT_STAGES` or ``lane_lut_ram`` a memory not in :data:`LANE_MEMORIES`.
    """

    def __init__(self, cfg, lanes=1, input_stages=INPUT_STAGES, product_stages=True,
                 lane_lut_ram=frozenset()):
        ensure_config(cfg)
        if not isinstance(lanes, int) or isinstance(lanes, bool):
            raise TypeError(f"lanes must be an int, not {lanes!r}")
        if lanes not in LANES:
            raise ValueError(f"lanes must be a power of two from 1 to {LANES[-1]}, "
                             f"not {lanes!r}")
        self._input_stages = check_input_stages(input_stages)
        self._product_stages = bool(product_stages)
        self._lane_lut_ram = check_lane_lut_ram(lane_lut_ram)
        self._cfg = cfg
        self._lanes = lanes
        c = cfg
        full = c.trace_mode == "full"
        # Column groups of a synapse row (the column-banked memories hold rows x groups words
        # per lane) and row groups (the row-banked ones hold row groups x n_pre).
        self._groups = groups = -(-c.n_pre // lanes)
        self._row_groups = -(-c.n_rec // lanes)
        # W's rows and pre's banks are padded to a power of two words, so that an address
        # is a row (bank) above a column: no multiplier-by-a-constant adders on the address
        # paths, for up to twice the words.
        self._w_stride = _power_of_two_above(c.n_pre)
        self._pre_stride = _power_of_two_above(groups)

        def banked(shape, depth):
            return [MemoryData(shape=shape, depth=depth, init=[]) for _ in range(lanes)]
        self._w = banked(signed(c.w_bits), self._row_groups * self._w_stride)
        self._ebar = banked(signed(c.e_bits), c.n_rec * groups) if full else None
        self._eps = (banked(signed(c.eps_bits), c.n_alif * groups) if c.n_alif and full
                     else None)
        # The readout-side memories split by recurrent neuron (lane j % lanes), so that the
        # learning signal and the readout row writes cover a row group per cycle.
        self._w_out = banked(signed(c.w_bits), c.n_out * self._row_groups)
        self._b = banked(signed(c.w_bits), self._row_groups * c.n_out)

        def regs(name, n, shape):
            return [Signal(shape, name=f"{name}{k}") for k in range(n)]
        # Per-neuron and per-trace state in memories; psi and pre keep two banks (this
        # step's values and last step's, which the sweep reads beside them).
        self._neuron = MemoryData(shape=neuron_state_layout(c), depth=c.n_rec, init=[])
        self._psi = MemoryData(shape=unsigned(c.psi_bits), depth=2 * c.n_rec, init=[])
        self._pre = banked(unsigned(c.trace_bits), 2 * self._pre_stride)
        self._zout = banked(unsigned(c.trace_bits), self._row_groups)
        self._acc = MemoryData(shape=signed(c.acc_bits), depth=c.n_rec, init=[])
        self.psi_bank = Signal(name="psi_bank")
        self.pre_bank = Signal(name="pre_bank")
        self.z = regs("z", c.n_rec, 1)
        self.y = regs("y", c.n_out, signed(c.y_bits))
        self.err = regs("err", c.n_out, signed(c.err_bits))
        self.acc_out = regs("acc_out", c.n_out, signed(c.acc_bits))
        self.counters = {name: Signal(c.counter_bits, name=f"count_{name}")
                         for name in COUNTER_NAMES}
        # A memory rather than a register per phase: 11 words of 32 bits cost one or two
        # block RAMs instead of 352 flip-flops, 11 adders and their host multiplexer.
        self._cycles = MemoryData(shape=unsigned(32), depth=len(PHASES), init=[])
        self.cycles_ran = Signal(len(PHASES))
        self._map = register_map(cfg)
        self.params = {
            r.name: Signal(range(r.high + 1), init=r.value, name=f"param_{r.name}")
            for r in self._map.registers.values() if r.kind == "param"}
        super().__init__({
            "i": In(stream.Signature(event_layout(cfg))),
            "o": Out(stream.Signature(output_layout(cfg))),
            "host": In(bus_signature(self._map.addr_width)),
            "busy": Out(1),
            "t": Out(32),
            "error": Out(1),
            "errors": Out(32),
        })

    @property
    def cfg(self):
        return self._cfg

    @property
    def w(self):
        """``W`` (``w_in`` beside ``w_rec``, as the golden ``_W``): one ``MemoryData`` per
        lane, ``W[j, i]`` at :meth:`weight_word` ``(j, i)``."""
        return self._w

    def weight_word(self, j, i):
        """``(lane, address)`` of ``W[j, i]`` in :attr:`w`: lane ``(i + j) % lanes``, address
        ``(j // lanes) * w_stride + i``, ``w_stride`` the power of two at or above ``n_pre``.
        The skew puts the ``lanes`` rows of a row group at one address in distinct lanes
        (for synaptic integration) and ``lanes`` consecutive columns of a row in distinct
        lanes too (for the row writes)."""
        return (i + j) % self._lanes, (j // self._lanes) * self._w_stride + i

    @property
    def lanes(self):
        return self._lanes

    def synapse_word(self, row, i):
        """``(lane, address)`` of column ``i`` of ``row`` in the per-lane memories
        :attr:`ebar` and :attr:`eps`: lane ``i % lanes``, address
        ``row * ceil(n_pre / lanes) + i // lanes``."""
        return i % self._lanes, row * self._groups + i // self._lanes

    def pre_word(self, bank, i):
        """``(lane, address)`` of trace ``i`` in bank ``bank`` of :attr:`pre`: lane
        ``i % lanes``, address ``bank * pre_stride + i // lanes``, ``pre_stride`` the power
        of two at or above ``ceil(n_pre / lanes)``."""
        return i % self._lanes, bank * self._pre_stride + i // self._lanes

    @property
    def ebar(self):
        """``ebar``: one ``MemoryData`` per lane, ``ebar[j, i]`` at
        :meth:`synapse_word` ``(j, i)``; None with factored traces."""
        return self._ebar

    @property
    def eps(self):
        """``eps``: one ``MemoryData`` per lane, ALIF row ``r`` at :meth:`synapse_word`
        ``(r, i)``; None if ``n_alif == 0`` or with factored traces."""
        return self._eps

    def neuron_word(self, j):
        """``(lane, address)`` of neuron ``j``'s word in the memories split by recurrent
        neuron (:attr:`zout`): lane ``j % lanes``, address ``j // lanes``."""
        return j % self._lanes, j // self._lanes

    @property
    def w_out(self):
        """``w_out``: one ``MemoryData`` per lane, ``w_out[k, j]`` at :meth:`readout_word`
        ``(k, j)``."""
        return self._w_out

    def readout_word(self, k, j):
        """``(lane, address)`` of ``w_out[k, j]``: lane ``j % lanes``, address
        ``k * ceil(n_rec / lanes) + j // lanes``."""
        return j % self._lanes, k * self._row_groups + j // self._lanes

    @property
    def b(self):
        """``b``: one ``MemoryData`` per lane, ``b[j, k]`` at :meth:`feedback_word`
        ``(j, k)``."""
        return self._b

    def feedback_word(self, j, k):
        """``(lane, address)`` of ``b[j, k]``: lane ``j % lanes``, address
        ``(j // lanes) * n_out + k``."""
        return j % self._lanes, (j // self._lanes) * self._cfg.n_out + k

    @property
    def neuron(self):
        """``MemoryData`` of ``neuron_state_layout(cfg)`` (``v``, ``a``, ``ref``), address
        ``j``."""
        return self._neuron

    @property
    def psi(self):
        """``MemoryData`` of ``psi`` in two banks: neuron ``j`` of bank ``b`` at
        ``b * n_rec + j``; :attr:`psi_bank` holds the latest step's bank."""
        return self._psi

    @property
    def pre(self):
        """The presynaptic traces (``xbar`` then ``zbar``, ``n_pre`` of them) in two banks:
        one ``MemoryData`` per lane, trace ``i`` of bank ``b`` at :meth:`pre_word`
        ``(b, i)``; :attr:`pre_bank` holds the latest."""
        return self._pre

    @property
    def zout(self):
        """``zout``: one ``MemoryData`` per lane, ``zout[j]`` at :meth:`neuron_word`."""
        return self._zout

    @property
    def cycles(self):
        """``MemoryData``: word ``k`` holds the cycles phase ``PHASES[k]`` took in the last
        step, valid where bit ``k`` of :attr:`cycles_ran` is set."""
        return self._cycles

    @property
    def acc(self):
        """``MemoryData`` of ``acc``, address ``j``."""
        return self._acc

    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        n_in, n_rec, n_out, n_pre, n_alif = c.n_in, c.n_rec, c.n_out, c.n_pre, c.n_alif
        alif0 = n_rec - n_alif
        # Lanes (L of them): items are split among the lanes by index i % L, group i // L
        # (W skewed: weight_word).
        L = self._lanes
        lane_bits = (L - 1).bit_length()
        G = self._groups      # column groups: column i is group i // L of lane i % L
        WS, PS = self._w_stride, self._pre_stride  # W's row stride, pre's bank stride
        R = self._row_groups  # row groups: row j is row j // L of lane j % L

        def lane_present(lane, group, count):
            """Lane ``lane`` has an item (a row of ``count`` rows, a column of ``count``
            columns) in group ``group``: only the last group may be short."""
            groups = -(-(count - lane) // L)
            return below(group, groups) if groups < -(-count // L) else Const(1)

        def lane_of(i):
            return i[:lane_bits] if lane_bits else Const(0, 1)

        def group_of(i):
            return i >> lane_bits

        def rotated(values, shift):
            """``values`` (one per lane) rotated: item ``k`` is ``values[(k + shift) % L]``.
            W's skewed lanes (:meth:`weight_word`) meet the row-ordered synaptic inputs and
            the column-ordered traces through rotations."""
            if L == 1:
                return list(values)
            table = Array(values)
            return [table[lane_of(shift + k)] for k in range(L)]

        def w_group_address(row, group):
            """W's address of row ``row``'s column group ``group`` (columns group * L ..
            group * L + L - 1): lane k holds column group * L + (k - row) % L there."""
            return row_major(group_of(row), WS, times_const(group, L))

        # -- units, runtime parameters fixed from the configuration ---------------------------
        m.submodules.neuron = neu = NeuronUnit(c, self._product_stages)
        m.submodules.trace = tru = TraceUnit(c)
        m.submodules.alif = alf = AlifFactor(c)
        full = c.trace_mode == "full"
        # One unit per lane (lane 0's first): the sweep's synapse units (full traces), or
        # the eligibility units that give the row writes e_ji (factored).
        lane_syns, lane_eligs = [], []
        for lane in range(L):
            suffix = str(lane) if lane else ""
            if full:
                m.submodules[f"synapse{suffix}"] = unit = SynapseUnit(c, self._product_stages)
                lane_syns.append(unit)
            else:
                m.submodules[f"eligibility{suffix}"] = unit = EligibilityUnit(c)
                lane_eligs.append(unit)
        m.submodules.readout = rou = ReadoutUnit(c)
        m.submodules.trigger = trg = TriggerUnit(c)
        m.submodules.update = upd = WeightUpdateUnit(c, self._product_stages)
        # The row writes update a column group per cycle: one update unit per lane (lane 0's,
        # `upd`, also serves write_out).
        upds = [upd]
        for lane in range(1, L):
            m.submodules[f"update{lane}"] = unit = WeightUpdateUnit(c, self._product_stages)
            upds.append(unit)
        p = self.params
        m.d.comb += [
            neu.alpha.eq(p["alpha"]), neu.rho.eq(p["rho"]), neu.theta.eq(p["theta"]),
            neu.beta.eq(p["beta"]), neu.gamma.eq(p["gamma"]),
            alf.beta.eq(p["beta"]), alf.rho.eq(p["rho"]),
            *(u.beta.eq(p["beta"]) for u in lane_syns),
            *(u.kappa.eq(p["kappa"]) for u in lane_syns),
            rou.kappa.eq(p["kappa"]),
            trg.trigger.eq(p["trigger"]), trg.trigger_out.eq(p["trigger_out"]),
            *(u.eta.eq(p["eta"]) for u in upds), *(u.eta_out.eq(p["eta_out"]) for u in upds),
        ]
        units = (neu, tru, *lane_syns, *lane_eligs, rou, trg, *upds)
        for unit in units:
            m.d.comb += unit.o.ready.eq(1)
        # The units in `input_stages` take their inputs from a register stage (the trigger
        # has two stages of its own before it).
        def staged(unit, name, lane=0):
            return _InputStage(m, unit, name, name in self._input_stages, lane)
        neu, tru, rou = staged(neu, "neuron"), staged(tru, "trace"), staged(rou, "readout")
        lane_syns = [staged(unit, "synapse", k) for k, unit in enumerate(lane_syns)]
        lane_eligs = [staged(unit, "eligibility", k) for k, unit in enumerate(lane_eligs)]
        upds = [staged(unit, "update", k) for k, unit in enumerate(upds)]
        upd = upds[0]

        # -- memories ------------------------------------------------------------------------

        self.collision_checked = checked = []

        def memory(name, mem_data, reads=1, transparent=False, attrs=None):
            """A memory and its (write port, read ports...): with ``transparent``, a read
            of the word being written returns the new value; else it is COLLISION_FREE and
            its ports are listed for the simulations' check."""
            mem = Memory(data=mem_data, attrs=attrs if transparent else
                         {**(attrs or {}), **COLLISION_FREE})
            m.submodules[name] = mem
            write = mem.write_port()
            rds = [mem.read_port(transparent_for=(write,) if transparent else ())
                   for _ in range(reads)]
            if not transparent:
                checked.append((name, write, tuple(rds)))
            return write, *rds

        def lane_memories(name, datas, reads=1, transparent=False):
            """One memory per lane: (write ports, read ports per read) of each lane."""
            assert name in LANE_MEMORIES, name
            attrs = ({"ram_style": "distributed"} if L > 1 and name in self._lane_lut_ram
                     else None)
            per_lane = [memory(f"{name}_mem{lane}" if L > 1 else f"{name}_mem", mem_data,
                               reads, transparent, attrs)
                        for lane, mem_data in enumerate(datas)]
            return tuple(list(ports) for ports in zip(*per_lane))
        # W skewed (lane (i + j) % L), so that synaptic integration adds a row group and the
        # row writes update a column group per cycle; ebar, eps and pre by columns (lane
        # i % L), so that the sweep and the row writes cover a column group per cycle.
        w_wr, w_rd = lane_memories("w", self._w)
        # w_out, b, zout and the learning signal by recurrent neuron (lane j % L), so that
        # the signal and the readout row writes cover a row group per cycle.
        w_out_wr, w_out_rd = lane_memories("w_out", self._w_out)
        b_wr, b_rd = lane_memories("b", self._b)
        if full:
            ebar_wr, ebar_rd = lane_memories("ebar", self._ebar)
        if n_alif and full:
            eps_wr, eps_rd = lane_memories("eps", self._eps)
            eps_data = [port.data for port in eps_rd]
        else:
            eps_data = [Const(0, signed(c.eps_bits))] * L

        # -- state ---------------------------------------------------------------------------
        # Memories (synchronous reads: address in the issue cycle, data in stage 1). psi and
        # pre have two banks: a phase that updates them reads the current bank, writes the
        # other and flips the bank bit when it ends, so the sweep reads this step's values
        # beside last step's (psi_old, pre_old) without copying.
        n_wr, n_rd = memory("neuron_mem", self._neuron)
        psi_wr, psi_rd, psi_old_rd = memory("psi_mem", self._psi, reads=2)
        pre_wr, pre_rd, pre_old_rd = lane_memories("pre", self._pre, reads=2)
        zout_wr, zout_rd = lane_memories("zout", self._zout)
        acc_wr, acc_rd = memory("acc_mem", self._acc)
        # The synaptic input I_j, by rows as W (lane j % L, address j // L), accumulated in
        # syn (a source's items visit the row groups in turn, so an item may read the word the
        # item before is writing: transparent) and zeroed as the neuron phase reads it.
        in_wr, in_rd = lane_memories(
            "input", [MemoryData(shape=signed(synaptic_input_width(c)), depth=R, init=[])
                      for _ in range(L)], transparent=True)
        # The learning signal sum_k F[j, k] * err_k, written once per row by the signal phase
        # (by rows, as zout).
        sig_wr, sig_rd = lane_memories(
            "signal", [MemoryData(shape=signed(signal_width(c)), depth=R, init=[])
                       for _ in range(L)])
        psi_bank, pre_bank = self.psi_bank, self.pre_bank

        def bank(sel, size, index):
            """Address of ``index`` (below ``size``) in bank ``sel`` of a two-bank memory
            of ``size`` words per bank: the bank bit above the index for a power of two."""
            if size & (size - 1):
                return Mux(sel, size + index, index)
            return row_major(sel, size, index)

        Z, Y, ERR = Array(self.z), Array(self.y), Array(self.err)
        z_old = [Signal(name=f"z_old{j}") for j in range(n_rec)]
        Z_OLD = Array(z_old)
        ACC_OUT = Array(self.acc_out)
        DRV = Array(Signal(signed(readout_drive_width(c)), name=f"drive{k}")
                    for k in range(n_out))
        # Each row's q (recurrent rows, then readout rows) from the trigger phase: the values
        # in a memory the row writes read with their items, whether each is nonzero in
        # registers (the rows the write phases visit).
        # (yosys would build a memory this small from flip-flops: asked for a block RAM.)
        q_wr, q_rd = memory("q_mem", MemoryData(shape=signed(q_width(c)), depth=n_rec + n_out,
                                                init=[]), attrs={"ram_style": "block"})
        q_nonzero = Signal(n_rec + n_out)
        # Full traces: the sweep runs after the trigger and, in a step with a target, writes
        # the rows with q != 0 as it passes them (set when the sweep starts).
        sweep_writes = Signal()
        x = Signal(n_in)
        mask = Signal(n_out)
        YSTAR = Array(Signal(signed(c.y_bits), name=f"ystar{k}") for k in range(n_out))
        learn = Signal()

        # -- loop registers shared by the phases ---------------------------------------------
        top = max(n_rec * n_pre, n_pre + n_rec, n_rec * n_out, n_rec + n_out, 2 * n_pre,
                  2 * n_rec, R * WS, 2 * PS)  # (items, and W's and pre's padded addresses)
        n = Signal(range(top + 1))               # flattened item counter
        row = Signal(range(max(n_rec, n_out) + 1))
        col = Signal(range(max(n_pre, n_out) + 1))
        pend = Signal(max(n_pre, n_rec, n_out))   # sources / rows still to visit
        inner = Signal(range(max(n_pre, n_rec, n_out) + 1))
        issued = Signal()
        # The lowest set bit of pend, registered (the priority encoder ahead of the issue
        # logic and the read addresses was the iCE40's critical path): `src` and `src_any`
        # (pend != 0) hold for pend as it was a cycle ago, so they are valid (`src_ok`) in
        # the cycles after one that left pend unchanged; a change costs a cycle's bubble.
        src = Signal(range(max(n_pre, n_rec, n_out)))
        src_any, src_ok = Signal(), Signal()
        lsb_any, lsb_index = lowest_set_bit(pend)
        m.d.sync += [src.eq(lsb_index), src_any.eq(lsb_any), src_ok.eq(1)]

        def clear_src():
            m.d.sync += [pend.bit_select(src, 1).eq(0), src_ok.eq(0)]

        # Issue stage (comb, set by the phase) and stage 1 (memory data valid).
        iss_valid, iss_a, iss_b = Signal(), Signal(range(top + 1)), Signal(range(top + 1))
        iss_addr = Signal(range(top + 1))
        s1_valid = Signal()
        s1_a, s1_b, s1_addr = Signal.like(iss_a), Signal.like(iss_b), Signal.like(iss_addr)
        m.d.sync += [s1_valid.eq(iss_valid), s1_a.eq(iss_a), s1_b.eq(iss_b),
                     s1_addr.eq(iss_addr)]

        busy_bits = [s1_valid]

        def delayed(sig, stages, name):
            prev = sig
            for k in range(stages):
                reg = (Signal.like(prev, name=f"{name}_d{k + 1}") if isinstance(prev, Signal)
                       else Signal(prev.shape(), name=f"{name}_d{k + 1}"))
                m.d.sync += reg.eq(prev)
                prev = reg
                if len(reg) == 1 and name.endswith("valid"):
                    busy_bits.append(reg)
            return prev

        def tags(unit, name, stage):
            """The tags of ``stage`` (the unit's input stage: ``(a, b, addr)``) delayed by the
            unit's latency (they come out with ``o``)."""
            a, b, addr = stage
            delayed(unit.i.valid, unit.latency, f"{name}_valid")
            return (delayed(a, unit.latency, f"{name}_a"),
                    delayed(b, unit.latency, f"{name}_b"),
                    delayed(addr, unit.latency, f"{name}_addr"))

        # -- the random source ---------------------------------------------------------------
        # Up to four RandomSources (one per random field of the widest phase, the sweep's G,
        # EPS, E, EBAR) take their requests from stage 1 (registers: the issue logic before
        # them was the ECP5's critical path); their words arrive ``latency`` cycles later.
        # Phases that round stochastically therefore feed their unit from stage R, stage 1
        # delayed by ``latency`` cycles (memory data included), where each item meets them.
        stochastic = c.rounding == "stochastic"
        # The recurrent row writes (full traces: within the sweep) draw random words.
        # (factored: write_rec rounds e_ji with `rounding`; write_out shares its unit)
        updates_draw = c.update_rounding == "stochastic" or (stochastic and not full)
        rec_phase = "sweep" if full else "write_rec"  # the phase that writes W
        rand_phases = set()
        if stochastic:
            rand_phases |= {"neuron", "trace", "sweep", "readout", "trigger"}
        if updates_draw:  # (full traces: the sweep's results wait for the W words instead)
            rand_phases |= {"write_out"} if full else {"write_rec", "write_out"}
        n_rng = 4 if stochastic else (1 if rand_phases else 0)
        # The sweep's other lanes draw their EPS, E and EBAR words from 3 sources each.
        n_lane_rng = 3 * (L - 1) if stochastic and full else 0
        # The row writes' lane l draws its W word from source w_base + l (full: after the
        # sweep's own sources, which it draws from in the same cycle) and (factored,
        # stochastic) its E word from source L + l.
        w_base = n_rng + n_lane_rng if stochastic and full else 0
        rec_rand_w = [w_base + lane for lane in range(L)] if updates_draw else []
        rec_rand_e = [L + lane for lane in range(L)] if stochastic and not full else []
        rngs = []
        for k in range(max(n_rng + n_lane_rng, w_base + len(rec_rand_w) + len(rec_rand_e))):
            rng = RandomSource(RANDOM_ROUNDS_PER_STAGE)
            m.submodules[f"rng{k}"] = rng
            m.d.comb += [rng.i.valid.eq(s1_valid), rng.i.payload.seed.eq(p["seed"]),
                         rng.i.payload.t.eq(self.t), rng.o.ready.eq(1)]
            rngs.append(rng)
        rand = [rng.o.payload for rng in rngs]
        # Source indices of lane l's EPS, E, EBAR words in the sweep.
        lane_rand = [(1, 2, 3)] + [tuple(range(n_rng + 3 * (lane - 1), n_rng + 3 * lane))
                                   for lane in range(1, L if full else 1)]
        extra = rngs[0].latency if rngs else 0
        in_rand_phase = Signal()  # the sequencer is in one of rand_phases (set below)
        sr_valid = delayed(s1_valid & in_rand_phase, extra, "sr_valid")
        sr_a = delayed(s1_a, extra, "sr_a")
        sr_b = delayed(s1_b, extra, "sr_b")
        sr_addr = delayed(s1_addr, extra, "sr_addr")

        def stage_of(phase):
            """``(valid, a, b, addr)`` of the stage that feeds ``phase``'s unit."""
            if phase in rand_phases:
                return sr_valid, sr_a, sr_b, sr_addr
            return s1_valid, s1_a, s1_b, s1_addr

        data_r = {}

        def data_of(phase, sig, name):
            """Memory read data ``sig`` at the stage that feeds ``phase``'s unit."""
            if phase not in rand_phases or isinstance(sig, Const):
                return sig
            if id(sig) not in data_r:
                data_r[id(sig)] = delayed(sig, extra, f"{name}_r")
            return data_r[id(sig)]

        # A COLLISION_FREE memory's read ports are enabled only in the phases that read it
        # and, in a phase that also writes it, only in the cycles whose data is used (an
        # issue cycle, the item's lane; Amaranth's read port then holds its data), so that
        # the simulations' collision check is exact. (The enables of the other phases do not
        # wait for the issue logic, which would lengthen the clock's critical path.)
        for _, _, reads in checked:
            m.d.comb += [port.en.eq(0) for port in reads]

        def lane_read(ports, address, *, written=False, lane=None, when=None):
            """Drive every lane's read port with ``address``. A phase that writes the memory
            it reads says so (``written``): the read is then enabled only in the issue cycle
            and, where the item uses one lane (``lane``) or the read only ``when``, there."""
            for k, port in enumerate(ports):
                en = Const(1)
                if written:
                    en = iss_valid if when is None else iss_valid & when
                    en = en if lane is None else en & (lane == k)
                m.d.comb += [port.addr.eq(address), port.en.eq(en)]

        def read_w_group(row, base):
            """Read a column group of row ``row`` of W, at ``base`` (:func:`w_group_address`),
            one column per lane, in a phase that also writes W."""
            for lane, port in enumerate(w_rd):
                lane_read([port], base + lane_of(lane - row), written=True)

        def lane_data(phase, ports, lane, name):
            """The read data of lane ``lane`` (a value) at the stage feeding ``phase``."""
            datas = [data_of(phase, port.data, f"{name}{k}") for k, port in enumerate(ports)]
            return Array(datas)[lane] if L > 1 else datas[0]

        def lane_write(ports, lane, address, value):
            for k, port in enumerate(ports):
                with m.If(lane == k):
                    m.d.comb += [port.addr.eq(address), port.data.eq(value), port.en.eq(1)]

        def rand_request(k, site, row, col):
            req = rngs[k].i.payload
            m.d.comb += [req.site.eq(SITES[site]), req.row.eq(row), req.col.eq(col)]

        # -- counters ------------------------------------------------------------------------
        incs = {name: [] for name in COUNTER_NAMES}

        def count(name, expr):
            incs[name].append(expr)

        # -- the sequencer -------------------------------------------------------------------
        phase_ends = Signal()  # the running phase's last cycle (cycles, after the FSM)
        step_starts = Signal()  # an end-of-step event is taken

        def start(state, pend_value=None):
            m.next = state
            m.d.comb += phase_ends.eq(1)
            m.d.sync += [n.eq(0), row.eq(0), col.eq(0), inner.eq(0), issued.eq(0),
                         pend.eq(0 if pend_value is None else pend_value), src_ok.eq(0)]

        def counted_loop(total):
            """Issue ``n`` = 0 .. total-1, one per cycle."""
            with m.If(~issued):
                m.d.comb += [iss_valid.eq(1), iss_a.eq(n)]
                m.d.sync += n.eq(n + 1)
                with m.If(n == total - 1):
                    m.d.sync += issued.eq(1)

        def grid_loop(rows, cols):
            """Issue ``(row, col)`` over rows x cols, row-major, ``n`` the flat index."""
            with m.If(~issued):
                m.d.comb += [iss_valid.eq(1), iss_a.eq(row), iss_b.eq(col), iss_addr.eq(n)]
                m.d.sync += [n.eq(n + 1), col.eq(col + 1)]
                with m.If(col == cols - 1):
                    m.d.sync += [col.eq(0), row.eq(row + 1)]
                    with m.If(row == rows - 1):
                        m.d.sync += issued.eq(1)

        def mask_loop(length):
            """For each set bit ``src`` of ``pend`` (lowest first), ``inner`` = 0 .. length-1.
            The phase sets iss_valid (it may skip an item). A bubble while ``src`` settles:
            at the start and after each source."""
            with m.If(src_ok & ~src_any):
                m.d.sync += issued.eq(1)
            with m.Elif(src_ok):
                m.d.sync += inner.eq(inner + 1)
                with m.If(inner == length - 1):
                    m.d.sync += inner.eq(0)
                    clear_src()
            return src_ok & src_any

        pipe_busy = Signal()
        done = Signal()
        host_hold = Signal()  # the host bus holds the core idle (set in the host section)
        clear_mem = Signal()  # clear_state asked for the sweep that zeroes the memories
        m.d.comb += done.eq(issued & ~pipe_busy)

        z_vec = Cat(*self.z)
        with m.FSM(name="seq") as fsm:
            with m.State("collect"):
                # Events wait while the host accesses the core (host_hold, below) and in the
                # cycle a clear starts (it would leave the event unapplied).
                m.d.comb += self.i.ready.eq(~host_hold & ~clear_mem)
                ev = self.i.payload
                bad = Signal()
                with m.If(clear_mem):
                    m.d.sync += clear_mem.eq(0)
                    start("clear")
                with m.Elif(self.i.valid & ~host_hold):
                    with m.Switch(ev.kind):
                        with m.Case(EV_SPIKE):
                            with m.If(below(ev.index, n_in)):
                                m.d.sync += x.bit_select(ev.index, 1).eq(1)
                            with m.Else():
                                m.d.comb += bad.eq(1)
                        with m.Case(EV_TARGET):
                            with m.If(below(ev.index, n_out)):
                                m.d.sync += [mask.bit_select(ev.index, 1).eq(1),
                                             YSTAR[ev.index].eq(ev.value)]
                            with m.Else():
                                m.d.comb += bad.eq(1)
                        with m.Case(EV_END):
                            m.d.sync += learn.eq(ev.value[0])
                            m.d.sync += [o.eq(s) for o, s in zip(z_old, self.z)]
                            m.d.sync += self.cycles_ran.eq(0)
                            m.d.comb += step_starts.eq(1)
                            start("syn", Cat(x, z_vec))
                        with m.Default():
                            m.d.comb += bad.eq(1)
                with m.If(bad):
                    m.d.sync += [self.error.eq(1),
                                 self.errors.eq(Mux(self.errors == ERRORS_MAX, self.errors,
                                                    self.errors + 1))]

            # clear_state: zero every state memory, one word of each per cycle.
            cleared = [(n_wr, n_rec), (psi_wr, 2 * n_rec), (acc_wr, n_rec)]
            cleared += [(port, 2 * PS) for port in pre_wr] + [(port, R) for port in zout_wr]
            if full:
                cleared += [(port, n_rec * G) for port in ebar_wr]
            if n_alif and full:
                cleared += [(port, n_alif * G) for port in eps_wr]
            with m.State("clear"):
                for port, depth in cleared:
                    m.d.comb += [port.addr.eq(n), port.data.eq(0), port.en.eq(below(n, depth))]
                m.d.sync += n.eq(n + 1)
                with m.If(n == max(depth for _, depth in cleared) - 1):
                    m.next = "collect"

            with m.State("syn"):
                go = mask_loop(R)  # inner: the row group, rows inner * L + lane
                m.d.comb += [iss_valid.eq(go & ~issued), iss_a.eq(inner), iss_b.eq(src)]
                lane_read(w_rd, row_major(inner, WS, src))
                lane_read(in_rd, inner)
                with m.If(done):
                    start("neuron")

            with m.State("neuron"):
                counted_loop(n_rec)
                lane_read([n_rd], iss_a, written=True)
                lane_read(in_rd, group_of(iss_a))
                with m.If(done):
                    m.d.sync += psi_bank.eq(~psi_bank)
                    with m.If(learn):
                        start("trace")
                    with m.Else():
                        m.d.sync += [r.eq(0) for r in DRV]
                        start("drive", z_vec)

            with m.State("trace"):
                counted_loop(n_pre + n_rec)
                lane_read(pre_rd, bank(pre_bank, PS, group_of(iss_a)))  # (writes the other bank)
                lane_read(zout_rd, group_of(iss_a - n_pre), written=True,
                          lane=lane_of(iss_a - n_pre), when=at_least(iss_a, n_pre))
                with m.If(done):
                    m.d.sync += pre_bank.eq(~pre_bank)
                    m.d.sync += [r.eq(0) for r in DRV]
                    start("drive", z_vec)

            def start_sweep(writes):
                m.d.sync += sweep_writes.eq(writes)
                start("sweep")

            if full:
                # After the trigger (or the readout, in a step without a target): every
                # synapse's traces, and the weights of the rows with q != 0.
                with m.State("sweep"):
                    grid_loop(n_rec, G)  # row j, column group g: columns g*L .. g*L+L-1
                    lane_read(ebar_rd, n, written=True)
                    read_w_group(iss_a, w_group_address(iss_a, iss_b))
                    lane_read([q_rd], iss_a)
                    lane_read(pre_rd, bank(pre_bank, PS, iss_b))
                    lane_read(pre_old_rd, bank(~pre_bank, PS, iss_b))
                    lane_read([psi_rd], bank(psi_bank, n_rec, iss_a))
                    lane_read([psi_old_rd], bank(~psi_bank, n_rec, iss_a))
                    if n_alif:
                        lane_read(eps_rd, Mux(at_least(row, alif0), n - alif0 * G, 0),
                                  written=True, when=at_least(row, alif0))
                    with m.If(done):
                        with m.If(sweep_writes):
                            start("write_out", q_nonzero[n_rec:])
                        with m.Else():
                            start("output", z_vec)

            with m.State("drive"):
                go = mask_loop(n_out)
                m.d.comb += [iss_valid.eq(go & ~issued), iss_a.eq(inner), iss_b.eq(src)]
                lane_read(w_out_rd, row_major(inner, R, group_of(src)))
                with m.If(done):
                    start("readout")

            with m.State("readout"):
                counted_loop(n_out)
                with m.If(done):
                    with m.If(learn & (mask != 0)):
                        start("signal")
                    if full:
                        with m.Elif(learn):
                            start_sweep(0)
                    with m.Else():
                        start("output", z_vec)

            with m.State("signal"):
                grid_loop(R, n_out)  # row group, readout: rows row * L + lane
                lane_read(w_out_rd, row_major(col, R, row))
                lane_read(b_rd, row_major(row, n_out, col))
                with m.If(done):
                    start("trigger")

            with m.State("trigger"):
                counted_loop(n_rec + n_out)
                lane_read(sig_rd, group_of(iss_a))
                lane_read(zout_rd, group_of(iss_a))
                lane_read([acc_rd], iss_a, written=True, when=below(iss_a, n_rec))  # (rows only)
                with m.If(done):
                    if full:
                        start_sweep(1)
                    else:
                        start("write_rec", q_nonzero[:n_rec])

            if not full:  # (full traces: the sweep writes the recurrent rows)
                with m.State("write_rec"):
                    go = mask_loop(G)  # row src, column group inner: columns inner * L + lane
                    base = w_group_address(src, inner)
                    m.d.comb += [iss_valid.eq(go & ~issued), iss_a.eq(src), iss_b.eq(inner),
                                 iss_addr.eq(base)]
                    read_w_group(src, base)
                    lane_read([q_rd], src)
                    lane_read([psi_rd], bank(psi_bank, n_rec, src))
                    lane_read(pre_rd, bank(pre_bank, PS, inner))
                    with m.If(done):
                        start("write_out", q_nonzero[n_rec:])

            with m.State("write_out"):
                go = mask_loop(R)  # readout src, row group inner: columns inner * L + lane
                addr = row_major(src, R, inner)
                lane_read([q_rd], n_rec + src)
                m.d.comb += [iss_valid.eq(go & ~issued), iss_a.eq(src), iss_b.eq(inner),
                             iss_addr.eq(addr)]
                lane_read(w_out_rd, addr, written=True)
                lane_read(zout_rd, inner)
                with m.If(done):
                    start("output", z_vec)

            with m.State("output"):
                m.d.comb += [self.busy.eq(1), self.o.valid.eq(src_ok)]  # (a spike: a bubble)
                with m.If(src_any):
                    m.d.comb += [self.o.payload.kind.eq(OUT_SPIKE),
                                 self.o.payload.index.eq(src)]
                    with m.If(self.o.ready & src_ok):
                        clear_src()
                with m.Elif(below(n, n_out)):
                    m.d.comb += [self.o.payload.kind.eq(OUT_READOUT),
                                 self.o.payload.index.eq(n),
                                 self.o.payload.value.eq(Y[n])]
                    with m.If(self.o.ready & src_ok):
                        m.d.sync += n.eq(n + 1)
                with m.Else():
                    m.d.comb += self.o.payload.kind.eq(OUT_END)
                    with m.If(self.o.ready & src_ok):
                        m.d.sync += [self.t.eq(self.t + 1), x.eq(0), mask.eq(0)]
                        m.d.comb += phase_ends.eq(1)
                        m.next = "collect"

        m.d.comb += self.busy.eq(~fsm.ongoing("collect"))

        # -- cycles per phase: one counter, stored in the cycles memory in the cycle after a
        # phase ends, from registers (the host's request waits for that write: a phase's end
        # is too long a decision to sit before the request logic) -------------------------
        # (COLLISION_FREE: a host request is not taken in a cycle that writes this memory.)
        cycles_wr, cycles_rd = memory("cycles_mem", self._cycles)
        phase_cycles = Signal(32)  # the running phase's cycles (in the cycle after a phase's
        phase = Signal(range(len(PHASES)))  # end: the ended phase's, written then)
        in_phase = Signal()
        ended, ended_phase = Signal(), Signal.like(phase)
        for k, name in enumerate(PHASES):
            if name != ("write_rec" if full else "sweep"):  # (the phase this mode lacks)
                with m.If(fsm.ongoing(name)):
                    m.d.comb += [phase.eq(k), in_phase.eq(1)]
        m.d.sync += [ended.eq(in_phase & phase_ends), ended_phase.eq(phase)]
        with m.If(ended):
            m.d.comb += [cycles_wr.addr.eq(ended_phase), cycles_wr.data.eq(phase_cycles),
                         cycles_wr.en.eq(1)]
            m.d.sync += phase_cycles.eq(in_phase)  # (this cycle is the next phase's first)
            with m.If(~step_starts):  # (a new step's start clears the phases' bits)
                m.d.sync += self.cycles_ran.bit_select(ended_phase, 1).eq(1)
        with m.Elif(in_phase):
            m.d.sync += phase_cycles.eq(phase_cycles + 1)

        # -- random requests: the sites and (row, col) of the golden model, per phase --------
        if rngs:
            m.d.comb += in_rand_phase.eq(Cat(*(fsm.ongoing(p) for p in sorted(rand_phases)))
                                         .any())
            ia, ib = s1_a, s1_b
            if stochastic:
                with m.If(fsm.ongoing("neuron")):
                    rand_request(0, "V", ia, 0)
                    rand_request(1, "A", ia, 0)
                    rand_request(2, "PSI", ia, 0)
                with m.If(fsm.ongoing("trace")):
                    with m.If(below(ia, n_pre)):
                        rand_request(0, "PRE", 0, ia)
                    with m.Else():
                        rand_request(0, "ZOUT", 0, ia - n_pre)
                with m.If(fsm.ongoing("sweep")):
                    rand_request(0, "G", ia, 0)
                    for lane, (k_eps, k_e, k_ebar) in enumerate(lane_rand):
                        column = times_const(ib, L) + lane
                        rand_request(k_eps, "EPS", ia, column)
                        rand_request(k_e, "E", ia, column)
                        rand_request(k_ebar, "EBAR", ia, column)
                with m.If(fsm.ongoing("readout")):
                    rand_request(0, "Y", ia, 0)
                with m.If(fsm.ongoing("trigger")):
                    with m.If(below(ia, n_rec)):
                        rand_request(0, "L", ia, 0)
                    with m.Else():
                        rand_request(0, "LOUT", ia - n_rec, 0)
            if updates_draw:
                with m.If(fsm.ongoing(rec_phase)):
                    for lane, k in enumerate(rec_rand_w):
                        rand_request(k, "W", ia, times_const(ib, L) + lane)
                    for lane, k in enumerate(rec_rand_e):
                        rand_request(k, "E", ia, times_const(ib, L) + lane)
                with m.If(fsm.ongoing("write_out")):
                    for lane, k in enumerate(rec_rand_w):
                        rand_request(k, "WOUT", ia, times_const(ib, L) + lane)

        # -- phase datapaths: stage 1 into the units, results back ---------------------------
        def ongoing(name):
            return fsm.ongoing(name)

        def sat_count(name, valid, flag, cond=None):
            expr = valid & flag
            if cond is not None:
                expr = expr & cond
            count(name, expr)

        # syn: I_j += W[j, s] (row inner * L + k's weight in W's lane (k + s) % L); the neuron
        # phase zeroes each I_j once it has been read
        w_rows = rotated([port.data for port in w_rd], s1_b)
        for lane in range(L):
            with m.If(s1_valid & ongoing("syn") & lane_present(lane, s1_a, n_rec)):
                m.d.comb += [in_wr[lane].addr.eq(s1_a),
                             in_wr[lane].data.eq(in_rd[lane].data + w_rows[lane]),
                             in_wr[lane].en.eq(1)]
        with m.If(s1_valid & ongoing("neuron")):
            lane_write(in_wr, lane_of(s1_a), group_of(s1_a), 0)

        # neuron
        req = neu.i.payload
        state = neuron_state_layout(c)(data_of("neuron", n_rd.data.as_value(), "state"))
        u_valid, ua, ub, uaddr = stage_of("neuron")
        m.d.comb += [
            neu.i.valid.eq(u_valid & ongoing("neuron")),
            req.I.eq(lane_data("neuron", in_rd, lane_of(ua), "in_data")),
            req.v.eq(state.v), req.a.eq(state.a), req.ref.eq(state.ref),
            req.z_old.eq(Z_OLD[ua]), req.alif.eq(at_least(ua, alif0)),
        ]
        if stochastic:
            m.d.comb += [req.rand_v.eq(rand[0]), req.rand_a.eq(rand[1]),
                         req.rand_psi.eq(rand[2])]
        na, _, _ = tags(neu, "neu", (ua, ub, uaddr))
        res = neu.o.payload
        with m.If(neu.o.valid):
            m.d.comb += [n_wr.addr.eq(na), n_wr.en.eq(1), n_wr.data.v.eq(res.v),
                         n_wr.data.a.eq(res.a), n_wr.data.ref.eq(res.ref),
                         psi_wr.addr.eq(bank(~psi_bank, n_rec, na)), psi_wr.data.eq(res.psi),
                         psi_wr.en.eq(1)]
            m.d.sync += Z[na].eq(res.z)
        count("spikes", neu.o.valid & res.z)
        sat_count("sat_v", neu.o.valid, res.sat_v)
        sat_count("sat_a", neu.o.valid, res.sat_a)

        # trace: pre (xbar, zbar) with alpha, then zout with kappa
        spikes = Cat(x, *z_old, *self.z)
        u_valid, ua, ub, uaddr = stage_of("trace")
        m.d.comb += [
            tru.i.valid.eq(u_valid & ongoing("trace")),
            tru.i.payload.trace.eq(Mux(below(ua, n_pre),
                                       lane_data("trace", pre_rd, lane_of(ua), "pre_data"),
                                       lane_data("trace", zout_rd, lane_of(ua - n_pre),
                                                 "zout_data"))),
            tru.i.payload.spike.eq(spikes.bit_select(ua, 1)),
            tru.unit.decay.eq(delayed(Mux(below(ua, n_pre), p["alpha"], p["kappa"]),
                                      tru.stages, "trace_decay")),  # (with its item)
        ]
        if stochastic:
            m.d.comb += tru.i.payload.rand.eq(rand[0])
        ta, _, _ = tags(tru, "tru", (ua, ub, uaddr))
        with m.If(tru.o.valid):
            with m.If(below(ta, n_pre)):
                lane_write(pre_wr, lane_of(ta), bank(~pre_bank, PS, group_of(ta)),
                           tru.o.payload.trace)
            with m.Else():
                lane_write(zout_wr, lane_of(ta - n_pre), group_of(ta - n_pre),
                           tru.o.payload.trace)
        clamped = tru.o.payload.clamped
        sat_count("sat_xbar", tru.o.valid, clamped, below(ta, n_in))
        sat_count("sat_zbar", tru.o.valid, clamped, at_least(ta, n_in) & below(ta, n_pre))
        sat_count("sat_zout", tru.o.valid, clamped, at_least(ta, n_pre))

        # sweep (full): eps and ebar of every synapse, one column group (a column per lane)
        # per cycle; factored: e_ji of the written rows
        if full:
            u_valid, ua, ub, uaddr = stage_of("sweep")
            psi_old = data_of("sweep", psi_old_rd.data, "psi_old_data")
            m.d.comb += [alf.psi_old.eq(psi_old)]
            if stochastic:
                m.d.comb += alf.rand_g.eq(rand[0])
            sa, sb, saddr = tags(lane_syns[0], "syn", (ua, ub, uaddr))
            for lane, unit in enumerate(lane_syns):
                req, res = unit.i.payload, unit.o.payload
                m.d.comb += [
                    unit.i.valid.eq(u_valid & ongoing("sweep") & lane_present(lane, ub, n_pre)),
                    req.alif.eq(at_least(ua, alif0)), req.psi_old.eq(psi_old),
                    req.psi.eq(data_of("sweep", psi_rd.data, "psi_data")), req.g.eq(alf.g),
                    req.pre.eq(data_of("sweep", pre_rd[lane].data, f"pre_data{lane}")),
                    req.pre_old.eq(data_of("sweep", pre_old_rd[lane].data,
                                           f"pre_old_data{lane}")),
                    req.eps.eq(data_of("sweep", eps_data[lane], f"eps_data{lane}")),
                    req.ebar.eq(data_of("sweep", ebar_rd[lane].data, f"ebar_data{lane}")),
                ]
                if stochastic:
                    k_eps, k_e, k_ebar = lane_rand[lane]
                    m.d.comb += [req.rand_eps.eq(rand[k_eps]), req.rand_e.eq(rand[k_e]),
                                 req.rand_ebar.eq(rand[k_ebar])]
                with m.If(unit.o.valid):
                    m.d.comb += [ebar_wr[lane].addr.eq(saddr), ebar_wr[lane].data.eq(res.ebar),
                                 ebar_wr[lane].en.eq(1)]
                    if n_alif:
                        with m.If(at_least(sa, alif0)):
                            m.d.comb += [eps_wr[lane].addr.eq(saddr - alif0 * G),
                                         eps_wr[lane].data.eq(res.eps), eps_wr[lane].en.eq(1)]
        # The recurrent row writes' items (their own names: the trigger below rebinds ua):
        # row rw_row, column group rw_group; lane k's column rw_group * L + k is written
        # unless it is past n_pre or the diagonal.
        rw_valid, rw_row, rw_group, rw_addr = stage_of(rec_phase)
        off_diagonal = [((rw_group << lane_bits) | lane) != n_in + rw_row for lane in range(L)]
        if not full:
            rec_columns = [rw_valid & lane_present(lane, rw_group, n_pre) & off_diagonal[lane]
                           for lane in range(L)]
            for lane, unit in enumerate(lane_eligs):
                req = unit.i.payload
                m.d.comb += [
                    unit.i.valid.eq(rec_columns[lane] & ongoing("write_rec")),
                    req.psi.eq(data_of("write_rec", psi_rd.data, "psi_data")),
                    req.pre.eq(data_of("write_rec", pre_rd[lane].data, f"pre_data{lane}")),
                ]
                if stochastic:
                    m.d.comb += req.rand_e.eq(rand[rec_rand_e[lane]])
                if lane:  # (lane 0's valid is delayed by tags below; it may idle alone)
                    delayed(unit.i.valid, unit.latency, f"elig{lane}_valid")
                sat_count("sat_e", unit.o.valid, unit.o.payload.sat_e)
            fa, fb, faddr = tags(lane_eligs[0], "elig", (rw_row, rw_group, rw_addr))
        for unit in lane_syns:
            sat_count("sat_eps", unit.o.valid, unit.o.payload.sat_eps)
            sat_count("sat_e", unit.o.valid, unit.o.payload.sat_e)
            sat_count("sat_ebar", unit.o.valid, unit.o.payload.sat_ebar)

        # drive: drive_k += w_out[k, j] for each spiking j
        with m.If(s1_valid & ongoing("drive")):
            m.d.sync += DRV[s1_a].eq(DRV[s1_a] + lane_data("drive", w_out_rd, lane_of(s1_b),
                                                           "w_out_drive"))

        # readout
        req = rou.i.payload
        u_valid, ua, ub, uaddr = stage_of("readout")
        m.d.comb += [
            rou.i.valid.eq(u_valid & ongoing("readout")),
            req.y.eq(Y[ua]), req.drive.eq(DRV[ua]), req.ystar.eq(YSTAR[ua]),
            req.mask.eq(mask.bit_select(ua, 1)),
        ]
        if stochastic:
            m.d.comb += req.rand.eq(rand[0])
        ra, _, _ = tags(rou, "rou", (ua, ub, uaddr))
        res = rou.o.payload
        with m.If(rou.o.valid):
            m.d.sync += [Y[ra].eq(res.y), ERR[ra].eq(res.err)]
        sat_count("sat_y", rou.o.valid, res.sat_y)
        sat_count("sat_err", rou.o.valid, res.sat_err)

        # signal: sig_j = sum_k F[j, k] * err_k, summed over a row's items in sig_run and
        # written at its last (all weight reads before any write of the step)
        # (a row group per cycle: lane l sums row s1_a * L + l)
        err_k = Signal.like(self.err[0], name="signal_err")
        if self._product_stages:
            # err_k selected in the issue stage (the readout wrote ERR before this phase):
            # the n_out-way multiplexer, its fanout to the lanes' multipliers, the product
            # and the sum in one cycle were the ECP5's critical path.
            m.d.sync += err_k.eq(ERR[iss_b])
        else:
            m.d.comb += err_k.eq(ERR[s1_b])
        for lane in range(L):
            feedback = (w_out_rd if c.feedback == "symmetric" else b_rd)[lane].data
            sig_run = Signal(signed(signal_width(c)), name=f"sig_run{lane}")
            sig_sum = Signal(signed(signal_width(c)), name=f"sig_sum{lane}")
            m.d.comb += sig_sum.eq(Mux(s1_b == 0, 0, sig_run) + feedback * err_k)
            with m.If(s1_valid & ongoing("signal") & lane_present(lane, s1_a, n_rec)):
                m.d.sync += sig_run.eq(sig_sum)
                m.d.comb += [sig_wr[lane].addr.eq(s1_a), sig_wr[lane].data.eq(sig_sum),
                             sig_wr[lane].en.eq(s1_b == n_out - 1)]

        # trigger: recurrent rows (sig_j plus the homeostatic term), then readout rows
        # Two register stages before the unit: H, the item's reads and the homeostatic
        # product; H2, the signal sum and the accumulator picked for the row. (The product,
        # the sum and the unit's first stage in one cycle limited the clock.)
        req = trg.i.payload
        u_valid, ua, ub, uaddr = stage_of("trigger")
        homeo = Signal(signed(trigger_sum_width(c)), name="homeo")
        m.d.comb += homeo.eq(p["homeo_gain"] * (lane_data("trigger", zout_rd, lane_of(ua),
                                                          "zout_trigger")
                                                - p["homeo_target"]))
        h_valid = delayed(u_valid & ongoing("trigger"), 1, "trg_h_valid")
        ha, hb, haddr = (delayed(x, 1, f"trg_h_{n}") for x, n in ((ua, "a"), (ub, "b"),
                                                                   (uaddr, "addr")))
        h_homeo, h_sig, h_acc = (
            delayed(x, 1, f"trg_h_{n}") for x, n in (
                (homeo, "homeo"), (lane_data("trigger", sig_rd, lane_of(ua), "sig_data"), "sig"),
                (data_of("trigger", acc_rd.data, "acc_data"), "acc")))
        is_out = at_least(ha, n_rec)
        h2 = {n: delayed(x, 1, f"trg_h2_{n}") for n, x in (
            ("valid", h_valid), ("a", ha), ("b", hb), ("addr", haddr), ("out", is_out),
            ("sum", Mux(is_out, ERR[ha - n_rec], h_sig + h_homeo)),
            ("acc", Mux(is_out, ACC_OUT[ha - n_rec], h_acc)))}
        m.d.comb += [
            trg.i.valid.eq(h2["valid"]),
            req.signal_sum.eq(h2["sum"]), req.acc.eq(h2["acc"]),
            req.has_target.eq(1), req.readout.eq(h2["out"]),
        ]
        if stochastic:
            m.d.comb += req.rand.eq(delayed(Value.cast(rand[0]), 2, "trg_h_rand"))
        ga, _, _ = tags(trg, "trg", (h2["a"], h2["b"], h2["addr"]))
        res = trg.o.payload
        with m.If(trg.o.valid):
            m.d.comb += [q_wr.addr.eq(ga), q_wr.data.eq(res.q), q_wr.en.eq(1)]
            m.d.sync += q_nonzero.bit_select(ga, 1).eq(res.q != 0)
            with m.If(below(ga, n_rec)):
                m.d.comb += [acc_wr.addr.eq(ga), acc_wr.data.eq(res.acc), acc_wr.en.eq(1)]
            with m.Else():
                m.d.sync += ACC_OUT[ga - n_rec].eq(res.acc)
        written = trg.o.valid & (res.q != 0)
        sat_count("sat_acc", trg.o.valid, res.sat_acc, below(ga, n_rec))
        sat_count("sat_acc_out", trg.o.valid, res.sat_acc, at_least(ga, n_rec))
        count("row_updates", written)
        count("weight_writes", Mux(written, Mux(at_least(ga, n_rec), n_rec, n_pre - 1), 0))

        # write_rec / write_out: one WeightUpdateUnit per lane. write_rec: lane k on column
        # ub * L + k of row ua (its weight rotated out of W's skewed lanes, its result rotated
        # back); write_out: lane k on column ub * L + k of readout row ua (w_out and zout are
        # in that lane).
        rec = ongoing(rec_phase)
        w_cols = rotated([data_of(rec_phase, port.data, f"w_data{k}")
                          for k, port in enumerate(w_rd)], rw_row)
        rand_w = [rand[k] for k in rec_rand_w] or [Const(0, 64)] * L
        rand_out = rand_w  # (write_out draws its WOUT words from the same sources)
        # The q of the row an item writes: memory data like the item's other words.
        rec_q = data_of(rec_phase, q_rd.data, "q_data")
        out_q = data_of("write_out", q_rd.data, "q_data")
        if full:
            # The sweep's new ebar reaches the update units, in a step with a target and for
            # a row with q != 0, with the weights, q and W random words delayed alongside.
            # The W words arrive `extra` cycles after the item's read stage; where the sweep
            # draws none itself (it is fed from that stage), its results wait for them rather
            # than delaying all of its inputs.
            elig_latency = lane_syns[0].latency
            results_at = (extra if "sweep" in rand_phases else 0) + elig_latency
            wait = max(0, extra - results_at) if rec_rand_w else 0
            # (A sweep unit's valid already says its lane has a column in the item.)
            rec_row = delayed(sweep_writes & (rec_q != 0), elig_latency, "rec_row")
            delayed(lane_syns[0].o.valid & rec_row, wait,
                    "rec_wait_valid")  # (busy while a written row's results wait)
            rec_valid = [delayed(unit.o.valid & rec_row
                                 & delayed(off, elig_latency, f"rec_column{k}"), wait,
                                 f"rec_wait{k}")
                         for k, (unit, off) in enumerate(zip(lane_syns, off_diagonal))]
            rec_a, rec_b = delayed(sa, wait, "rec_wait_a"), delayed(sb, wait, "rec_wait_b")
            rec_addr = w_group_address(rec_a, rec_b)
            rec_elig = [delayed(unit.o.payload.ebar, wait, f"rec_wait_ebar{k}")
                        for k, unit in enumerate(lane_syns)]
            data_delay, rand_delay = elig_latency + wait, results_at + wait - extra
        else:
            # Factored: e_ji reaches the update units from the eligibility units' outputs,
            # with the weights and W random words delayed alongside.
            elig_latency = lane_eligs[0].latency
            rec_valid = [unit.o.valid for unit in lane_eligs]
            rec_a, rec_b, rec_addr = fa, fb, faddr
            rec_elig = [unit.o.payload.e for unit in lane_eligs]
            data_delay = rand_delay = elig_latency
        w_cols = [delayed(w, data_delay, f"w_data_f{k}") for k, w in enumerate(w_cols)]
        rec_q = delayed(rec_q, data_delay, "rec_q_f")
        if rec_rand_w:
            rand_w = [delayed(r, rand_delay, f"rand_w_f{k}") for k, r in enumerate(rand_w)]
        u_valid, ua, ub, uaddr = stage_of("write_out")
        for lane, unit in enumerate(upds):
            req = unit.i.payload
            out_valid = u_valid & ongoing("write_out") & lane_present(lane, ub, n_rec)
            m.d.comb += [
                unit.i.valid.eq(Mux(rec, rec_valid[lane], out_valid)),
                req.w.eq(Mux(rec, w_cols[lane],
                             data_of("write_out", w_out_rd[lane].data, f"w_out_data{lane}"))),
                req.q.eq(Mux(rec, rec_q, out_q)),
                req.elig.eq(Mux(rec, rec_elig[lane],
                                data_of("write_out", zout_rd[lane].data, f"zout_data{lane}"))),
                req.readout.eq(~rec),
                req.rand.eq(Mux(rec, rand_w[lane], rand_out[lane])),
            ]
            if lane:  # (lane 0's valid is delayed by tags below; it may idle alone)
                delayed(unit.i.valid, unit.latency, f"upd{lane}_valid")
            sat_count("sat_w", unit.o.valid & rec, unit.o.payload.clamped)
            sat_count("sat_w_out", unit.o.valid & ~rec, unit.o.payload.clamped)
        wa, _, uaddr = tags(upd, "upd", (Mux(rec, rec_a, ua), Mux(rec, rec_b, ub),
                                         Mux(rec, rec_addr, uaddr)))
        w_results = rotated([unit.o.payload.w for unit in upds], -wa)
        w_writes = rotated([unit.o.valid for unit in upds], -wa)
        with m.If(rec):
            for lane, port in enumerate(w_wr):
                with m.If(w_writes[lane]):
                    m.d.comb += [port.addr.eq(uaddr + lane_of(lane - wa)),
                                 port.data.eq(w_results[lane]), port.en.eq(1)]
        with m.Else():
            for unit, port in zip(upds, w_out_wr):
                with m.If(unit.o.valid):
                    m.d.comb += [port.addr.eq(uaddr), port.data.eq(unit.o.payload.w),
                                 port.en.eq(1)]

        # -- counters and the drain condition ------------------------------------------------
        for name, terms in incs.items():
            if not terms:  # (nothing this configuration computes can saturate it: stays 0)
                continue
            reg = self.counters[name]
            total = sum(terms[1:], terms[0])
            nxt = Signal(max(len(reg), len(total)) + 1, name=f"next_{name}")
            m.d.comb += nxt.eq(reg + total)
            m.d.sync += reg.eq(Mux(at_most(nxt, c.counter_max), nxt, c.counter_max))
        m.d.comb += pipe_busy.eq(Cat(*busy_bits).any())

        # The host's windows onto the memories: (read ports, write port or None, address of
        # (row, col), the lane of (row, col) among the read ports, the word's value from the
        # read data). Each window's read is issued in the request cycle (the core is idle
        # then, its ports free).
        def at(stride, offset=0):
            return lambda row, col: times_const(row, stride) + offset + col

        def one(port, address, word=None, write=None):
            return [port], write and [write], address, lambda row, col: Const(0, 1), word

        def weights(offset):
            return (w_rd, w_wr, lambda row, col: row_major(group_of(row), WS, offset + col),
                    lambda row, col: lane_of(row + offset + col), None)

        def lanes(ports, column):
            """Lane-banked words: (ports, address, lane) of column ``column(row, col)`` of
            row ``row``."""
            return (ports, lambda row, col: times_const(row, G) + group_of(column(row, col)),
                    lambda row, col: lane_of(column(row, col)))

        def pre_window(offset):
            return (pre_rd, None, lambda row, col: bank(pre_bank, PS, group_of(offset + col)),
                    lambda row, col: lane_of(offset + col), None)
        windows = {
            "w_in": weights(0), "w_rec": weights(n_in),
            "w_out": (w_out_rd, w_out_wr, lambda row, col: times_const(row, R) + group_of(col),
                      lambda row, col: lane_of(col), None),
            "b": (b_rd, b_wr, lambda row, col: times_const(group_of(row), n_out) + col,
                  lambda row, col: lane_of(row), None),
            "v": one(n_rd, at(0), lambda d: d.v), "a": one(n_rd, at(0), lambda d: d.a),
            "ref": one(n_rd, at(0), lambda d: d.ref),
            "psi": one(psi_rd, lambda row, col: bank(psi_bank, n_rec, col)),
            "xbar": pre_window(0), "zbar": pre_window(n_in),
            "zout": (zout_rd, None, lambda row, col: group_of(col), lambda row, col: lane_of(col),
                     None),
            "acc": one(acc_rd, at(0)),
        }
        if full:
            ports, address, lane = lanes(ebar_rd, lambda row, col: col)
            windows["ebar"] = (ports, None, address, lane, None)
            if n_alif:
                ports, address, lane = lanes(eps_rd, lambda row, col: col)
                windows["eps"] = (ports, None, address, lane, None)
        self._elaborate_host(m, fsm, host_hold, clear_mem, windows, cycles_wr, cycles_rd)
        return m

    def _elaborate_host(self, m, fsm, host_hold, clear_mem, memory_windows, cycles_wr,
                        cycles_rd):
        """The host bus target (docs/regmap.md). An access takes two cycles: the request
        cycle issues the memory read of a window, the answer cycle returns ``r_data`` (or
        performs the write) with ``ready``. With the ``"host"`` input stage a wait cycle
        between them registers the memories' read data (and the cycles register's value), so
        that no block RAM output leads through the read multiplexers. Register reads are
        taken at any time; writes and window reads only while the core is idle (``collect``,
        no clear running), and events wait while a host request is pending, so neither can
        change the other's state.

        The address decode and the written value's range checks are registered every cycle
        (``early``): the bus holds its request until ``ready``, so in the answer cycle they
        are the request's, and that cycle's write enables start at registers."""
        rmap, h = self._map, self.host

        def early(value, name):
            reg = Signal(Value.cast(value).shape(), name=f"host_{name}_q")
            m.d.sync += reg.eq(value)  # (unconditional: never call this inside m.If)
            return reg
        idle = fsm.ongoing("collect") & ~clear_mem
        stage = Signal()  # the answer cycle
        is_register = below(h.addr, min(w.base for w in rmap.windows.values()))
        # (Not taken while a phase's cycles are written: the request's read of the cycles
        # memory never meets that write.)
        take = h.valid & ~stage & (idle | (is_register & ~h.write)) & ~cycles_wr.en
        registered = {}  # id(read port): its data, registered (the "host" stage)
        if "host" in self._input_stages:
            wait = Signal()
            take &= ~wait
            m.d.sync += [wait.eq(take), stage.eq(wait)]
            for port in {id(p): p for window in memory_windows.values()
                         for p in window[0]}.values():
                reg = Signal.like(port.data, name=f"host_read{len(registered)}_q",
                                  reset_less=True)
                m.d.sync += reg.eq(port.data)  # (the ports stay idle until the answer)
                registered[id(port)] = reg
        else:
            m.d.sync += stage.eq(take)

        def read_data(port):
            return registered.get(id(port), port.data)
        m.d.comb += host_hold.eq(h.valid)
        value = h.w_data.as_signed()
        # The registers are consecutive words from address 0 (regmap): a read selects its
        # value by the word index, a tree of multiplexers without an address comparison per
        # register.
        registers = sorted(rmap.registers.values(), key=lambda r: r.address)
        word_bits = (len(registers) - 1).bit_length()
        word = h.addr[2:2 + word_bits]
        register_hit = early((h.addr[:2] == 0) & (h.addr[2 + word_bits:] == 0)
                             & below(word, len(registers)), "register_hit")
        # The cycles registers (consecutive words) read the cycles memory: its word is read
        # in the request cycle, from the address alone; a phase that did not run reads 0.
        cycles_words = [k for k, r in enumerate(registers) if r.kind == "cycles"]
        phase = (word - cycles_words[0])[:len(cycles_rd.addr)]
        m.d.comb += [cycles_rd.addr.eq(phase), cycles_rd.en.eq(take)]
        cycles_value = Mux(self.cycles_ran.bit_select(phase, 1), cycles_rd.data, 0)
        # A register's value is registered in the cycle before the answer (the bus holds the
        # address from the request on), so that the word's multiplexer tree ends at a
        # register. The cycles memory's data arrives in that cycle only with the "host"
        # stage; without it, it joins in the answer cycle.
        host_stage = "host" in self._input_stages
        register_value = early(
            Array(self._register_value(r, cycles_value if host_stage else 0)
                  for r in registers)[word], "register_value")

        # -- the answer: an OR of one term per case (the cases exclude one another by
        # address), not a chain of multiplexers in case order (the host read was the
        # iCE40's critical path through that chain) --------------------------------------
        answers = []  # (condition, read value or None): the bus accesses answered OKAY

        def ok(condition, r_data=None):
            answers.append((condition, r_data))

        # -- windows: the word of (row, col) at base + 4 * (row << col_bits | col) ---------
        register_windows = {"z": self.z, "y": self.y, "err": self.err,
                            "acc_out": self.acc_out}
        windows = []
        for w in rmap.windows.values():
            size_bits = w.size.bit_length() - 1
            row_bits = size_bits - 2 - w.col_bits
            hit = Signal(name=f"host_hit_{w.name}")
            row = h.addr[2 + w.col_bits:size_bits] if row_bits else Const(0, 1)
            col = h.addr[2:2 + w.col_bits] if w.col_bits else Const(0, 1)
            m.d.comb += hit.eq((h.addr[size_bits:] == w.base >> size_bits)
                               & below(row, w.rows) & below(col, w.cols))
            allowed = None
            if w.writable and w.name not in register_windows:
                allowed = early(self._host_value_allowed(w, h, row, col), f"allowed_{w.name}")
            windows.append((w, early(hit, f"hit_{w.name}"), row, col, allowed))
            if w.name in memory_windows:  # issue the read in the request cycle
                ports, _, address = memory_windows[w.name][:3]
                with m.If(take & hit):
                    m.d.comb += [port.addr.eq(address(row, col)) for port in ports]
                    m.d.comb += [port.en.eq(1) for port in ports]

        def write_allowed(r):
            """Whether register ``r`` (a parameter or the command) takes the written value."""
            if r.kind == "param":
                return within(value if r.low < 0 else h.w_data, r.low, r.high)
            return (h.w_data & ~sum(1 << b for b in COMMAND_BITS.values())) == 0
        writes_allowed = {r.name: early(write_allowed(r), f"allowed_{r.name}")
                          for r in registers if r.kind in ("param", "command")}

        ok(register_hit & ~h.write, register_value)
        if not host_stage:
            is_cycles = early(within(word, cycles_words[0], cycles_words[-1]), "is_cycles")
            ok(register_hit & is_cycles & ~h.write, cycles_value)
        for k, r in enumerate(registers):
            if r.name in writes_allowed:
                self._host_write(m, r, h, value, clear_mem, ok,
                                 stage & register_hit & h.write & (word == k)
                                 & writes_allowed[r.name])
        for w, hit, row, col, allowed in windows:
            self._host_window(m, w, h, ok, row, col, register_windows, memory_windows,
                              allowed, read_data, stage & hit)
        terms = []
        for condition, r_data in answers:
            if r_data is not None:
                term = Signal(32, name=f"host_answer{len(terms)}")
                m.d.comb += term.eq(Mux(condition, r_data, 0))  # (sign-extended)
                terms.append(term)
        with m.If(stage):
            m.d.comb += [h.ready.eq(1), h.error.eq(~Cat(c for c, _ in answers).any()),
                         h.r_data.eq(reduce(operator.or_, terms))]

    def _register_value(self, r, cycles_value):
        """What a read of register ``r`` returns."""
        if r.kind == "param":
            return self.params[r.name]
        if r.kind == "status":
            return {"status": self._status_word(), "t": self.t, "errors": self.errors}[r.name]
        return {"const": lambda: Const(r.value, 32), "command": lambda: Const(0, 1),
                "counter": lambda: self.counters[r.name.removeprefix("count_")],
                "cycles": lambda: cycles_value}[r.kind]()

    def _host_write(self, m, r, h, value, clear_mem, ok, accepted):
        """A write of register ``r`` (a parameter or the command), answered OKAY and performed
        when ``accepted`` holds."""
        ok(accepted)
        with m.If(accepted):
            if r.kind == "param":
                m.d.sync += self.params[r.name].eq(value if r.low < 0 else h.w_data)
                return
            with m.If(h.w_data[COMMAND_BITS["clear_state"]]):
                m.d.sync += [s.eq(0) for s in (self.z + self.y + self.err + self.acc_out)]
                m.d.sync += clear_mem.eq(1)
            with m.If(h.w_data[COMMAND_BITS["clear_counters"]]):
                m.d.sync += [s.eq(0) for s in self.counters.values()]
            with m.If(h.w_data[COMMAND_BITS["clear_error"]]):
                m.d.sync += [self.error.eq(0), self.errors.eq(0)]

    def _status_word(self):
        bits = {"busy": self.busy, "error": self.error}
        return Cat(*(bits[name] for name, _ in sorted(STATUS_BITS.items(), key=lambda x: x[1])))

    def _host_value_allowed(self, w, h, row, col):
        """Whether window ``w`` takes the bus's write value at ``(row, col)``."""
        value = h.w_data.as_signed() if w.signed else h.w_data
        allowed = within(value, w.low, w.high)
        if w.name == "w_rec":  # the diagonal holds 0, and only 0 may be written
            allowed &= (row != col) | (value == 0)
        return allowed

    def _host_window(self, m, w, h, ok, row, col, registers, memory_windows, allowed,
                     read_data, hit):
        """The answer to an access of window ``w`` at (``row``, ``col``) (``hit``: in the
        answer cycle)."""
        if w.name in registers:
            ok(hit & ~h.write, Array(registers[w.name])[col])
            return
        ports, writes, address, lane, word = memory_windows[w.name]
        data = Array(read_data(port) for port in ports)[lane(row, col)] if len(ports) > 1 \
            else read_data(ports[0])
        ok(hit & ~h.write, word(data) if word else data)
        if writes is None or not w.writable:
            return
        value = h.w_data.as_signed() if w.signed else h.w_data
        ok(hit & h.write & allowed)
        with m.If(hit & h.write & allowed):
            for k, port in enumerate(writes):
                with m.If(lane(row, col) == k):
                    m.d.comb += [port.addr.eq(address(row, col)), port.data.eq(value),
                                 port.en.eq(1)]
