# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of rtl/core.py (Core: one lane; zero, floor and stochastic
rounding; full and factored traces) against the golden model, step by step.

For each configuration a ``GoldenModel`` and a ``Core`` start from the same random weights
(``random_weights``); every step streams random input spikes (shuffled, with a duplicate now
and then), targets on some steps and the end-of-step event with a random ``learn`` bit into the
core, drains its output stream up to the end-of-step marker, and then compares, bit for bit,
every state variable and counter of ``golden.snapshot()`` (read from the core's memories and
registers) and the streamed spikes and readouts with the golden step's outputs. Coverage
assertions make sure each configuration exercises what it is there for (spikes, row writes,
clamps). Seeds are fixed; failure messages carry the configuration, step and seed.
"""

import random
import re

import numpy as np
import pytest
from amaranth.back import verilog

from eligo.config import Config
from eligo.model.golden import GoldenModel, random_weights
from eligo.rtl.core import EV_END, EV_SPIKE, EV_TARGET, INPUT_STAGES, OUT_END, PHASES, \
    RANDOM_ROUNDS_PER_STAGE, Core
from eligo.rtl.learn import WeightUpdateUnit
from eligo.rtl.neuron import NeuronUnit
from eligo.rtl.random import RandomSource
from eligo.rtl.synapse import EligibilityUnit, SynapseUnit
from eligo.rtl.stream_util import run_simulation, stream_get
from eligo.tb.core_harness import collision_monitor, ideal_cycles, load_weights, phase_cycles, \
    put_event, read_state, run_step

SEED = 20261122

BASE = dict(n_in=4, n_rec=6, n_out=2, update_rounding="zero", trigger=700, trigger_out=900,
            eta=8, eta_out=4)

CONFIGS = {
    "lif": Config(**{**BASE, "n_in": 3, "n_rec": 4, "n_alif": 0}),
    "mixed_alif": Config(**{**BASE, "n_alif": 3, "update_rounding": "floor"}),
    "refractory": Config(**{**BASE, "n_rec": 5, "n_alif": 2, "refractory": 2}),
    "reset_zero": Config(**{**BASE, "reset": "zero", "n_alif": 2}),
    "floor": Config(**{**BASE, "rounding": "floor", "update_rounding": "floor"}),
    "random_feedback": Config(**{**BASE, "feedback": "random"}),
    "no_accumulate": Config(**{**BASE, "accumulate_error": False, "trigger": 300,
                               "trigger_out": 600}),
    # Narrow formats and large rates: weights, traces, eligibilities, readouts, errors and
    # accumulators clamp; |q| up to 7.
    "narrow": Config(n_in=4, n_rec=5, n_alif=2, n_out=2, w_bits=4, w_frac=2, v_bits=12,
                     v_frac=8, theta=256, beta=128, trace_bits=8, trace_frac=5, e_bits=8, e_frac=6,
                     eps_bits=9, y_bits=10, y_frac=6, err_bits=8, acc_bits=8, acc_frac=4, q_max=7,
                     trigger=9, trigger_out=13, eta=900, eta_out=700, lr_shift=5,
                     lr_out_shift=7, update_rounding="floor", rounding="floor"),
}
# The same with a narrow adaptation: a clamps.
CONFIGS["narrow_a"] = CONFIGS["narrow"].replace(a_bits=11, a_frac=8)
# Stochastic rounding (the random source): datapath only, updates only, both; with ALIF,
# refractoriness and random feedback; and the narrow config with every rounding stochastic.
CONFIGS["stoch_data"] = Config(**{**BASE, "n_alif": 3, "rounding": "stochastic"})
CONFIGS["stoch_update"] = Config(**{**BASE, "n_alif": 2, "refractory": 2,
                                    "update_rounding": "stochastic"})
CONFIGS["stoch_both"] = Config(**{**BASE, "n_alif": 2, "refractory": 1, "feedback": "random",
                                  "rounding": "stochastic", "update_rounding": "stochastic",
                                  "seed": 12345})
CONFIGS["stoch_narrow"] = CONFIGS["narrow"].replace(rounding="stochastic",
                                                    update_rounding="stochastic",
                                                    counter_bits=8)
# The homeostatic term of the learning signal (named to sort last, as the stimulus seeds
# follow the sorted names); in the narrow config with a stochastic datapath it drives the
# accumulators into saturation.
CONFIGS["zhomeo"] = Config(**{**BASE, "n_alif": 3, "homeo_gain": 300, "homeo_target": 100})
CONFIGS["zhomeo_narrow"] = CONFIGS["narrow"].replace(rounding="stochastic", homeo_gain=40000,
                                                    homeo_target=50)
# Factored traces (e_ji computed in the row writes): floor, stochastic datapath and updates
# with random feedback, and the narrow config (e clamps).
CONFIGS["zfactored"] = Config(**{**BASE, "n_alif": 2, "trace_mode": "factored",
                                 "update_rounding": "floor"})
CONFIGS["zfactored_stoch"] = Config(**{**BASE, "n_alif": 2, "refractory": 1,
                                       "trace_mode": "factored", "feedback": "random",
                                       "rounding": "stochastic",
                                       "update_rounding": "stochastic"})
CONFIGS["zfactored_narrow"] = CONFIGS["narrow"].replace(trace_mode="factored",
                                                        rounding="stochastic", e_bits=6,
                                                        counter_bits=8)
# (steps, input spike probability, weight scale) per configuration.
PLAN = {name: (40, 0.5, 2.0) for name in CONFIGS}
PLAN["narrow"] = PLAN["narrow_a"] = PLAN["stoch_narrow"] = (40, 0.6, 3.0)
PLAN["zfactored_narrow"] = PLAN["zhomeo_narrow"] = (40, 0.6, 3.0)
# Counters that must be nonzero at the end of a configuration's run.
COVER = {name: ("spikes", "row_updates") for name in CONFIGS}
COVER["narrow_a"] = ("spikes", "row_updates", "sat_a", "sat_zbar", "sat_zout")
COVER["narrow"] = ("spikes", "row_updates", "sat_v", "sat_xbar", "sat_eps",
                   "sat_e", "sat_ebar", "sat_zout", "sat_y", "sat_err", "sat_acc", "sat_w",
                   "sat_w_out")
COVER["stoch_narrow"] = ("spikes", "row_updates", "sat_v", "sat_xbar", "sat_ebar", "sat_zout",
                         "sat_y", "sat_err", "sat_acc", "sat_w", "sat_w_out")
COVER["zfactored_narrow"] = ("spikes", "row_updates", "sat_e", "sat_w")
COVER["zhomeo_narrow"] = ("spikes", "row_updates", "sat_acc", "sat_w")
# Counters that must end saturated (8-bit counters: counter_bits=8).
SATURATED = {"stoch_narrow": ("weight_writes",), "zfactored_narrow": ("weight_writes",)}


def make_plan(cfg, name):
    """Golden run: per step the events, learn bit, golden outputs and snapshot."""
    steps, p_in, scale = PLAN[name]
    rng = np.random.default_rng([SEED, sorted(CONFIGS).index(name)])
    golden = GoldenModel(cfg)
    weights = random_weights(cfg, SEED + 1, scale=scale)
    golden.load_weights(*weights)
    ylim = (1 << (cfg.y_bits - 1)) - 1
    plan = []
    for t in range(steps):
        x = (rng.random(cfg.n_in) < p_in).astype(np.int64)
        mask = (rng.random(cfg.n_out) < 0.6) if rng.random() < 0.5 else np.zeros(cfg.n_out, bool)
        ystar = np.where(mask, rng.integers(-ylim // 3, ylim // 3 + 1, cfg.n_out), 0)
        learn = bool(rng.random() < 0.8)
        out = golden.step(x, ystar if mask.any() else None, mask if mask.any() else None,
                          learn)
        events = [(EV_SPIKE, i, 0) for i in np.flatnonzero(x)]
        if events and rng.random() < 0.3:
            events.append(events[0])  # a repeated spike event is idempotent
        events += [(EV_TARGET, k, int(ystar[k])) for k in np.flatnonzero(mask)]
        rng.shuffle(events)
        plan.append(dict(events=events, learn=learn, z=out.z[0].copy(), y=out.y[0].copy(),
                         snap=golden.snapshot()))
    return weights, plan


# Lanes beyond one (the sweep runs a column per lane per cycle): a multiple of n_pre's lanes
# and not (partial last column group), stochastic (each lane's own random words), a lane
# count beyond half of n_pre (lanes empty in the last group), factored (no sweep).
LANE_RUNS = [("mixed_alif", 2), ("stoch_both", 4), ("narrow", 8), ("stoch_narrow", 2),
             ("zfactored_stoch", 4), ("zhomeo", 4), ("zhomeo_narrow", 2),
             ("stoch_update", 4)]  # (the ULX3S's roundings: the sweep waits, the trigger not)


@pytest.mark.parametrize("name", ["zhomeo", "zhomeo_narrow"])
def test_homeostatic_configs_exercise_the_term(name):
    """Without its homeostatic term the run writes other weights: the term is exercised."""
    cfg = CONFIGS[name]
    _, with_term = make_plan(cfg, name)
    _, without = make_plan(cfg.replace(homeo_gain=0), name)
    assert any(not np.array_equal(with_term[-1]["snap"][w], without[-1]["snap"][w])
               for w in ("w_in", "w_rec", "w_out"))


# Core's (input_stages, product_stages): the default (all), the iCEBreaker build's (the
# neuron's input stage, no product stages), none, and mixed ones: the units' timing shifts.
ALL, ICE40 = (INPUT_STAGES, True), (frozenset({"neuron"}), False)
NONE, NO_PRODUCTS = (frozenset(), True), (INPUT_STAGES, False)
STAGE_RUNS = [("zfactored_stoch", 1, ICE40), ("stoch_both", 2, NONE),
              ("mixed_alif", 1, NO_PRODUCTS)]


@pytest.mark.parametrize("name,lanes,stages", [(name, 1, ALL) for name in CONFIGS]
                         + [(name, lanes, ALL) for name, lanes in LANE_RUNS] + STAGE_RUNS)
def test_core_vs_golden(name, lanes, stages):
    cfg = CONFIGS[name]
    weights, plan = make_plan(cfg, name)
    final = plan[-1]["snap"]
    for counter in COVER[name]:
        assert final[counter][0] > 0, f"{name}: the stimulus never reaches {counter}"
    for counter in SATURATED.get(name, ()):
        assert final[counter][0] == cfg.counter_max, f"{name}: {counter} never saturates"
    core = Core(cfg, lanes, *stages)
    idle_rng = random.Random(SEED)

    async def testbench(ctx):
        load_weights(ctx, core, weights)
        for t, step in enumerate(plan):
            where = f"config {name}, {lanes} lanes, step {t}, seed {SEED}"
            spikes, readouts = await run_step(ctx, core, step["events"], step["learn"],
                                              idle_rng)
            assert spikes == list(np.flatnonzero(step["z"])), f"spikes at {where}"
            assert readouts == dict(enumerate(step["y"].tolist())), f"readouts at {where}"
            assert ctx.get(core.busy) == 0
            got = read_state(ctx, core)
            snap = step["snap"]
            assert set(got) == set(snap)
            for var, want in snap.items():
                want = np.asarray(want)[0] if var != "t" else want
                assert np.array_equal(got[var], want), \
                    f"{var} at {where}: core {got[var]}, golden {want}"
            assert ctx.get(core.error) == 0

    run_simulation(core, testbench, background=[collision_monitor(core)])


@pytest.mark.parametrize("rounding,update_rounding,trace_mode,lanes,stages", [
    ("zero", "zero", "full", 1, ALL), ("stochastic", "zero", "full", 1, ALL),
    ("zero", "stochastic", "full", 1, ALL), ("stochastic", "stochastic", "full", 1, ALL),
    ("floor", "zero", "factored", 1, ALL), ("stochastic", "zero", "factored", 1, ALL),
    ("zero", "stochastic", "factored", 1, ALL), ("zero", "zero", "full", 4, ALL),
    ("stochastic", "zero", "full", 2, ALL), ("zero", "stochastic", "full", 4, ALL),
    ("stochastic", "zero", "factored", 4, ALL), ("zero", "zero", "factored", 1, ICE40),
    ("stochastic", "stochastic", "full", 2, NONE), ("zero", "stochastic", "full", 1, ICE40),
    ("zero", "stochastic", "factored", 2, (frozenset({"eligibility", "readout"}), False))])
def test_core_cycles_per_phase(rounding, update_rounding, trace_mode, lanes, stages):
    """One step of the tiny config: every phase's cycle count is its ideal item count plus
    a fixed drain (memory-read stage + unit latency, which the product stages lengthen,
    + 1), plus a cycle for the register stage before a unit in ``stages``' input stages,
    plus ``RandomSource.latency`` (the random words, requested at the read stage, arrive
    that much after the memory data) in each phase that rounds stochastically; factored
    traces have no sweep and pass the recurrent row writes through the eligibility unit
    (its latency more drain)."""
    cfg = Config(rounding=rounding, update_rounding=update_rounding, trigger=1,
                 trigger_out=1, trace_mode=trace_mode)
    core = Core(cfg, lanes, *stages)
    result = {}

    async def testbench(ctx):
        w_in, w_rec, w_out, b = random_weights(cfg, 3, scale=2.0)
        load_weights(ctx, core, (w_in, w_rec, w_out, b))
        # step 0: spikes on inputs 0 and 2; step 1: same, with a target on readout 0.
        await run_step(ctx, core, [(EV_SPIKE, 0, 0), (EV_SPIKE, 2, 0)], 1)
        result["untargeted"] = await phase_cycles(ctx, core)
        z = [ctx.get(s) for s in core.z]
        await run_step(ctx, core, [(EV_SPIKE, 0, 0), (EV_SPIKE, 2, 0), (EV_TARGET, 0, 3000)],
                       1)
        result.update(await phase_cycles(ctx, core))
        result["z_old"] = z
        result["z"] = [ctx.get(s) for s in core.z]
        result["q_rows"] = ctx.get(core.counters["row_updates"])

    run_simulation(core, testbench, background=[collision_monitor(core)])
    n_rec, n_pre, n_out = cfg.n_rec, cfg.n_pre, cfg.n_out
    # The rows the step writes, from the golden model (which the core equals bit for bit).
    golden = GoldenModel(cfg)
    golden.load_weights(*random_weights(cfg, 3, scale=2.0))
    x = np.eye(cfg.n_in, dtype=np.int64)[0] + np.eye(cfg.n_in, dtype=np.int64)[2]
    golden.step(x, learn=True)
    golden.step(x, np.array([3000] + [0] * (n_out - 1)), np.eye(n_out, dtype=bool)[0],
                learn=True)
    q, q_out = golden.rows_written["rec"][0], golden.rows_written["out"][0]
    assert result["z"] == golden.state["z"][0].tolist()
    assert result["q_rows"] == np.count_nonzero(q) + np.count_nonzero(q_out)
    result.update(rows_rec=np.count_nonzero(q), rows_out=np.count_nonzero(q_out),
                  last_row=int(q[n_rec - 1] != 0))
    result["total"] = sum(result[p] for p in PHASES)
    active = 2 + sum(result["z_old"])
    spiking = sum(result["z"])
    rng_latency = RandomSource(RANDOM_ROUNDS_PER_STAGE).latency
    r = rng_latency if rounding == "stochastic" else 0
    factored = trace_mode == "factored"
    u = rng_latency if (update_rounding == "stochastic"
                        or (factored and rounding == "stochastic")) else 0
    # The phases that visit the set bits of a mask (syn, drive, the row writes, output) take
    # a cycle's bubble at their start and after each source (the registered priority
    # encoder settles).
    assert result["syn"] == active * (-(-n_rec // lanes) + 1) + 3  # a row group per cycle
    input_stages, product_stages = stages
    s = {name: int(name in input_stages) for name in INPUT_STAGES}
    assert result["neuron"] == n_rec + NeuronUnit(cfg, product_stages).latency + 2 \
        + s["neuron"] + r
    assert result["trace"] == n_pre + n_rec + 2 + 2 + s["trace"] + r
    groups = -(-n_pre // lanes)  # one column group per cycle
    # The row writes' items (the diagonal is never written, and a bubble) and their drain:
    # the update unit's latency after its input stage.
    rows_rec, rows_out = result["rows_rec"], result["rows_out"]
    assert rows_rec > 0 and rows_out > 0
    diag_alone_last = result["last_row"] and (n_pre - 1) % lanes == 0
    update_drain = WeightUpdateUnit(cfg, product_stages).latency + s["update"]
    # Full traces: the sweep, after the trigger, also writes the rows with q != 0; when the
    # last row is written, the drain lasts through the update unit (from the last written
    # item: a cycle less when the last item is that row's diagonal alone), after the sweep
    # unit's results have waited for the W random words, which arrive u cycles after the
    # read stage.
    sweep_results = r + s["synapse"] + (0 if factored
                                        else SynapseUnit(cfg, product_stages).latency)
    wait = max(0, u - sweep_results)
    assert result["sweep"] == (0 if factored else n_rec * groups + 2 + sweep_results
                               + result["last_row"] * (wait + update_drain - diag_alone_last))
    # Step 0, learning without a target: the sweep writes nothing (no update drain) and
    # leads to the output; no signal, trigger or row writes.
    untargeted = result["untargeted"]
    assert untargeted["sweep"] == (0 if factored else n_rec * groups + 2 + sweep_results)
    assert [untargeted[p] for p in ("signal", "trigger", "write_rec", "write_out")] == [0] * 4
    assert untargeted["trace"] > 0 and untargeted["output"] > 0
    assert result["drive"] == spiking * (n_out + 1) + 3
    assert result["readout"] == n_out + 2 + 2 + s["readout"] + r
    row_groups = -(-n_rec // lanes)  # one row group per cycle
    assert result["signal"] == row_groups * n_out + 2
    assert result["trigger"] == n_rec + n_out + 4 + 2 + 2 + r  # + stages H, H2 before the unit
    # trigger = 1: every recurrent row with a nonzero signal is written (factored, in
    # write_rec: a column group per cycle; the diagonal a bubble, which ends the phase a
    # cycle early when it is the last row's last group alone), every readout row too (a row
    # group of its columns per cycle); the drain is the update unit's latency + 2.
    drain = update_drain + 2 + u
    assert result["write_rec"] == (rows_rec * (groups + 1) + drain - diag_alone_last
                                   + EligibilityUnit.STAGES + s["eligibility"] if factored
                                   else 0)
    assert result["write_out"] == rows_out * (row_groups + 1) + drain
    assert result["output"] == 2 * spiking + n_out + 2


def test_core_bad_events():
    cfg = CONFIGS["lif"]
    core = Core(cfg)

    async def testbench(ctx):
        assert ctx.get(core.error) == 0 and ctx.get(core.errors) == 0
        await put_event(ctx, core, EV_SPIKE, cfg.n_in)        # no such channel
        await put_event(ctx, core, EV_TARGET, cfg.n_out, 77)  # no such readout
        await put_event(ctx, core, 3, 0)                      # no such kind
        assert ctx.get(core.error) == 1 and ctx.get(core.errors) == 3
        await put_event(ctx, core, EV_SPIKE, 0)               # a good one: no count
        assert ctx.get(core.errors) == 3
        await put_event(ctx, core, EV_END, 0, 1)
        while True:
            item = await stream_get(ctx, core.o)
            if item.kind == OUT_END:
                break
        # Nothing of the bad events was applied: the step equals a golden step with x_0 only
        # and no target.
        golden = GoldenModel(cfg)
        golden.step(np.eye(cfg.n_in, dtype=np.int64)[0], learn=True)
        got = read_state(ctx, core)
        for var, want in golden.snapshot().items():
            want = np.asarray(want)[0] if var != "t" else want
            assert np.array_equal(got[var], want), var
        assert ctx.get(core.error) == 1 and ctx.get(core.errors) == 3

    run_simulation(core, testbench, background=[collision_monitor(core)])


def test_core_wrong_config():
    with pytest.raises(TypeError, match=r"^Configuration must be an eligo.config.Config, "
                                        r"not 'tiny'$"):
        Core("tiny")


@pytest.mark.parametrize("n_in,n_rec,lanes", [(4, 6, 1), (4, 6, 4), (3, 6, 4), (5, 6, 2),
                                              (4, 6, 8)])
def test_ideal_write_items(n_in, n_rec, lanes):
    """The ideal row-write count, factored: at one lane the weight writes (the diagonal
    skipped), with lanes the column groups of each written recurrent row holding a synapse
    other than the diagonal (n_in 3 and 5 put the last row's diagonal alone in the last
    group), by enumeration, and the row groups of each readout row. Full traces: the
    readout rows only (the sweep, whose ideal is every column group of every row, writes
    the recurrent rows)."""
    cfg = Config(n_in=n_in, n_rec=n_rec, trace_mode="factored")
    rows_rec, n_rows_out = [0, 2, n_rec - 1], 2
    ideal = ideal_cycles(cfg, 0, 0, 0, True, True, rows_rec, n_rows_out, lanes)
    n_pre = cfg.n_pre
    groups = [range(g, min(g + lanes, n_pre)) for g in range(0, n_pre, lanes)]
    items = sum(any(i != n_in + j for i in group) for j in rows_rec for group in groups)
    readout_items = n_rows_out * -(-n_rec // lanes)
    assert ideal["write"] == items + readout_items and ideal["sweep"] == 0
    if lanes == 1:
        assert ideal["write"] == len(rows_rec) * (n_pre - 1) + n_rows_out * n_rec
    full = ideal_cycles(Config(n_in=n_in, n_rec=n_rec, trace_mode="full"), 0, 0, 0, True,
                        True, rows_rec, n_rows_out, lanes)
    assert full["write"] == readout_items and full["sweep"] == n_rec * len(groups)


@pytest.mark.parametrize("lanes,error,message", [
    ("2", TypeError, "lanes must be an int, not '2'"),
    (True, TypeError, "lanes must be an int, not True"),
    (3, ValueError, "lanes must be a power of two from 1 to 64, not 3"),
    (0, ValueError, "lanes must be a power of two from 1 to 64, not 0"),
    (128, ValueError, "lanes must be a power of two from 1 to 64, not 128")])
def test_core_wrong_lanes(lanes, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        Core(CONFIGS["lif"], lanes)


@pytest.mark.parametrize("stages,error,message", [
    ("neuron", TypeError, "input_stages must be a set of stage names, not 'neuron'"),
    ({1}, TypeError, "input_stages must be a set of stage names, not {1}"),
    ({"neuron", "trigger"}, ValueError,
     "input_stages: no stage named 'trigger' (stages: eligibility, host, neuron, readout, "
     "synapse, trace, update)")])
def test_core_wrong_input_stages(stages, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        Core(CONFIGS["lif"], 1, stages)


@pytest.mark.parametrize("memories,error,message", [
    ("pre", TypeError, "lane_lut_ram must be a set of memory names, not 'pre'"),
    ({"pre", "acc"}, ValueError,
     "lane_lut_ram: no memory named 'acc' (memories: b, ebar, eps, input, pre, signal, w, "
     "w_out, zout)")])
def test_core_wrong_lane_lut_ram(memories, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        Core(CONFIGS["lif"], 2, lane_lut_ram=memories)


@pytest.mark.parametrize("lanes", [1, 2])
def test_lane_lut_ram_marks_the_named_lane_memories_above_one_lane(lanes):
    # yosys builds a memory with ram_style "distributed" in LUT RAM (the ECP5 board's
    # w_out, b and pre); at one lane each holds a whole array and is left to yosys.
    from amaranth.back import rtlil
    text = rtlil.convert(Core(CONFIGS["lif"], lanes, lane_lut_ram={"w_out", "pre"}),
                         emit_src=False)
    styled = set(re.findall(r'attribute \\ram_style "distributed"\n(?:\s*attribute .*\n)*'
                            r'\s*memory .* \\(\w+)', text))
    names = [f"{m}_mem{k}" for m in ("w_out", "pre") for k in range(lanes)]
    assert styled == (set(names) if lanes > 1 else set()), styled


@pytest.mark.parametrize("name", ["mixed_alif", "stoch_both", "zfactored_stoch"])
def test_core_verilog(name):
    text = verilog.convert(Core(CONFIGS[name]), emit_src=False)
    assert re.search(r"^module top\(", text, re.M)
    assert "/work/" not in text


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8, 13, 100, 512])
def test_lowest_set_bit(width):
    # the sequencer's priority encoder (pending sources, rows, spikes): a balanced tree
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    from eligo.rtl.core import lowest_set_bit
    vector = Signal(width)
    found, index = lowest_set_bit(vector)
    m = Module()
    found_out, index_out = Signal(), Signal(16)
    m.d.comb += [found_out.eq(found), index_out.eq(index)]
    rng = random.Random(width)
    values = ([0, (1 << width) - 1] + [1 << k for k in range(width)]
              + [rng.getrandbits(width) for _ in range(200)])
    if width <= 8:
        values = range(1 << width)

    async def testbench(ctx):
        for x in values:
            ctx.set(vector, x)
            want = (x & -x).bit_length() - 1 if x else 0
            assert (ctx.get(found_out), ctx.get(index_out)) == (int(x != 0), want), x

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
