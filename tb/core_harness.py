"""Driving the RTL core (``eligo.rtl.core.Core``) in the Amaranth simulator beside the golden
model: load weights, stream a step's events, collect its outputs, read every state variable
under the golden model's names, and run both in lockstep reporting the first mismatch.
Used by the tests (tb/test_rtl_core.py) and by ``eligo demo``.
"""

import numpy as np

from eligo.rtl.core import EV_END, EV_SPIKE, EV_TARGET, OUT_END, OUT_READOUT, OUT_SPIKE, \
    PHASES, Core, event_layout
from eligo.rtl.stream_util import run_simulation, stream_get, stream_put

__all__ = ["read_state", "phase_cycles", "collision_monitor", "load_weights", "put_event",
           "run_step", "step_events", "first_mismatch", "ideal_cycles", "golden_step",
           "run_lockstep"]


def read_state(ctx, core):
    """Every state variable and counter of the core, named as in ``golden.snapshot()``."""
    c = core.cfg

    def regs(sigs):
        return np.array([ctx.get(s) for s in sigs], np.int64)

    def mem(data, shape):
        return np.array([ctx.get(data[k]) for k in range(data.depth)],
                        np.int64).reshape(shape)

    def bank(data, bank_bit, size):
        return mem(data, (2, size))[ctx.get(bank_bit)]  # (psi: n_rec words per bank)

    def lanes(datas, word, rows, cols=c.n_pre):
        """A memory split among the lanes as rows x cols, ``word(row, col)`` giving the lane
        and address of each word (Core.weight_word, Core.synapse_word, ...)."""
        out = np.zeros((rows, cols), np.int64)
        for (r, i), _ in np.ndenumerate(out):
            lane, address = word(r, i)
            out[r, i] = ctx.get(datas[lane][address])
        return out

    neuron = [ctx.get(core.neuron[j]) for j in range(c.n_rec)]
    W = lanes(core.w, core.weight_word, c.n_rec)
    pre_bank = ctx.get(core.pre_bank)
    pre = lanes(core.pre, lambda _, i: core.pre_word(pre_bank, i), 1)[0]
    st = {"v": np.array([s.v for s in neuron], np.int64),
          "a": np.array([s.a for s in neuron], np.int64),
          "ref": np.array([s.ref for s in neuron], np.int64), "z": regs(core.z),
          "psi": bank(core.psi, core.psi_bank, c.n_rec), "xbar": pre[:c.n_in],
          "zbar": pre[c.n_in:], "y": regs(core.y),
          "zout": lanes(core.zout, lambda _, j: core.neuron_word(j), 1, c.n_rec)[0],
          "err": regs(core.err), "acc": mem(core.acc, c.n_rec), "acc_out": regs(core.acc_out),
          "w_in": W[:, :c.n_in], "w_rec": W[:, c.n_in:],
          "w_out": lanes(core.w_out, core.readout_word, c.n_out, c.n_rec),
          "b": lanes(core.b, core.feedback_word, c.n_rec, c.n_out)}
    if c.trace_mode == "full":  # the factored core has no eps/ebar, as the golden model
        st["eps"] = lanes(core.eps, core.synapse_word, c.n_alif)  # no rows: no memory
        st["ebar"] = lanes(core.ebar, core.synapse_word, c.n_rec)
    st.update({name: ctx.get(sig) for name, sig in core.counters.items()})
    st["t"] = ctx.get(core.t)
    return st


async def phase_cycles(ctx, core):
    """The cycles each phase of :data:`PHASES` took in the last step (0 if it did not run),
    as the ``cycles_*`` registers read them. Called after the end marker: it waits a cycle,
    as the core writes the last phase's count in the cycle after the phase ends."""
    await ctx.tick()
    ran = ctx.get(core.cycles_ran)
    return {p: ctx.get(core.cycles[k]) if ran >> k & 1 else 0 for k, p in enumerate(PHASES)}


def collision_monitor(core):
    """A background testbench that fails if, in any cycle, a read port of a memory the core
    marks COLLISION_FREE (``core.collision_checked``, filled when it is elaborated) reads the
    word its write port writes: the FPGA build lets such reads return anything."""
    async def monitor(ctx):
        ports = [(name, write, read) for name, write, reads in core.collision_checked
                 for read in reads]
        sigs = [s for _, write, read in ports for s in (write.en, write.addr, read.en,
                                                       read.addr)]
        cycle = 0
        while True:
            values = (await ctx.tick().sample(*sigs))[-len(sigs):]
            for k, (name, _, _) in enumerate(ports):
                w_en, w_addr, r_en, r_addr = values[4 * k:4 * k + 4]
                assert not (w_en and r_en and w_addr == r_addr), (
                    f"{name}: read and write of word {w_addr} in cycle {cycle}")
            cycle += 1
    return monitor


def load_weights(ctx, core, weights):
    w_in, w_rec, w_out, b = weights
    W = np.concatenate([w_in, w_rec], axis=1)
    for (j, i), value in np.ndenumerate(W):
        lane, address = core.weight_word(j, i)
        ctx.set(core.w[lane][address], int(value))
    for (k, j), value in np.ndenumerate(w_out):
        lane, address = core.readout_word(k, j)
        ctx.set(core.w_out[lane][address], int(value))
    for (j, k), value in np.ndenumerate(b):
        lane, address = core.feedback_word(j, k)
        ctx.set(core.b[lane][address], int(value))


def put_event(ctx, core, kind, index, value=0):
    layout = event_layout(core.cfg)
    return stream_put(ctx, core.i, layout.const({"kind": kind, "index": index, "value": value}))


async def run_step(ctx, core, events, learn, idle_rng=None):
    """Stream one step's events, the end marker; returns (spike indices, readouts). With
    ``idle_rng``, the output stream is back-pressured at random."""
    for kind, index, value in events:
        await put_event(ctx, core, kind, int(index), value)
    await put_event(ctx, core, EV_END, 0, int(bool(learn)))
    spikes, readouts = [], {}
    while True:
        item = await stream_get(ctx, core.o, stall=idle_rng.choice((0, 0, 1)) if idle_rng else 0)
        if item.kind == OUT_END:
            return spikes, readouts
        if item.kind == OUT_SPIKE:
            spikes.append(int(item.index))
        else:
            assert item.kind == OUT_READOUT
            readouts[int(item.index)] = int(item.value)


def step_events(x, ystar=None, mask=None):
    """The core's events of one step: input spikes, then targets (without the end marker)."""
    events = [(EV_SPIKE, int(i), 0) for i in np.flatnonzero(x)]
    if mask is not None:
        events += [(EV_TARGET, int(k), int(ystar[k])) for k in np.flatnonzero(mask)]
    return events


def first_mismatch(got, snap):
    """The first difference between the core's state and a golden snapshot (batch 1), as
    ``(variable, index, core value, golden value)``, or None."""
    for var, want in snap.items():
        want = np.asarray(want)[0] if var != "t" else np.asarray(want)
        have = np.asarray(got[var])
        if have.shape != want.shape:
            return var, None, have.shape, want.shape
        diff = np.argwhere(have != want)
        if len(diff):
            index = tuple(int(v) for v in diff[0])
            return var, index, int(have[index]), int(want[index])
    return None


def ideal_cycles(cfg, n_inputs, n_spikes_old, n_spikes, learn, has_target, rows_rec,
                 n_rows_out, lanes=1):
    """The ideal cycle count of each phase of one step: one cycle per item of work the
    activity asks for (active source x neuron, neuron, trace, synapse, spike x readout, ...),
    no pipeline fill or drain. ``rows_rec`` are the recurrent rows the step writes (indices),
    ``n_rows_out`` the number of readout rows. With ``lanes``, the synaptic integration's
    item is a group of ``lanes`` rows of a source's column, the learning signal's a group of
    ``lanes`` rows of a readout, the sweep's and the row writes' a group of ``lanes`` columns
    of a row holding at least one synapse to write (the diagonal is never written); the other
    phases' ideal stays one item per cycle. With full traces the sweep writes the recurrent
    rows as it passes them: ``write`` counts only the readout rows."""
    c = cfg
    learning, target = bool(learn), bool(learn and has_target)
    groups = -(-c.n_pre // lanes)

    def diagonal_alone(j):  # the diagonal W[j, n_in + j] is the only column of its group
        column = c.n_in + j
        return min(lanes, c.n_pre - column // lanes * lanes) == 1
    row_groups = -(-c.n_rec // lanes)
    writes_rec = (0 if c.trace_mode == "full"
                  else sum(groups - diagonal_alone(int(j)) for j in rows_rec))
    writes = writes_rec + n_rows_out * row_groups
    return {
        "syn": (n_inputs + n_spikes_old) * -(-c.n_rec // lanes), "neuron": c.n_rec,
        "trace": (c.n_pre + c.n_rec) * learning,
        "sweep": c.n_rec * -(-c.n_pre // lanes) * (learning and c.trace_mode == "full"),
        "drive": n_spikes * c.n_out, "readout": c.n_out,
        "signal": row_groups * c.n_out * target, "trigger": (c.n_rec + c.n_out) * target,
        "write": writes, "output": n_spikes + c.n_out + 1}


def golden_step(cfg, golden, x, ystar, mask, learn, lanes=1):
    """``golden.step`` (targets only if ``mask`` has one) and that step's ``ideal_cycles``:
    ``(out, ideal)``."""
    has_target = mask is not None and bool(np.any(mask))
    n_spikes_old = int(golden.state["z"][0].sum())
    out = golden.step(x, ystar if has_target else None, mask if has_target else None, learn)
    rows = golden.rows_written
    ideal = ideal_cycles(cfg, int(np.sum(x)), n_spikes_old, int(out.z[0].sum()), learn,
                         has_target, np.flatnonzero(rows["rec"][0]),
                         int(rows["out"][0].sum()), lanes)
    return out, ideal


def run_lockstep(cfg, weights, steps, golden, progress=None, lanes=1):
    """Run the core and ``golden`` (a batch-1 GoldenModel with the same weights loaded) over
    ``steps``, a list of ``(x, ystar, mask, learn)``; compare every state variable and the
    streamed outputs after every step. Returns a dict with the number of steps compared, the
    first mismatch (step, variable, index, core value, golden value) or None, and the
    core's cycles per phase and the ideal cycles (``ideal_cycles``, with the two write phases
    as ``write``) summed over the run."""
    core = Core(cfg, lanes)
    result = {"steps": 0, "mismatch": None, "cycles": {p: 0 for p in PHASES}, "ideal": {}}

    async def testbench(ctx):
        load_weights(ctx, core, weights)
        for t, (x, ystar, mask, learn) in enumerate(steps):
            has_target = mask is not None and np.any(mask)
            out, ideal = golden_step(cfg, golden, x, ystar, mask, learn, lanes)
            for phase, n in ideal.items():
                result["ideal"][phase] = result["ideal"].get(phase, 0) + n
            spikes, readouts = await run_step(
                ctx, core, step_events(x, ystar, mask if has_target else None), learn)
            for p, n in (await phase_cycles(ctx, core)).items():
                result["cycles"][p] += n
            result["steps"] = t + 1
            if spikes != list(np.flatnonzero(out.z[0])):
                result["mismatch"] = (t, "z (streamed)", None, spikes,
                                      list(np.flatnonzero(out.z[0])))
                return
            if readouts != dict(enumerate(out.y[0].tolist())):
                result["mismatch"] = (t, "y (streamed)", None, readouts, out.y[0].tolist())
                return
            found = first_mismatch(read_state(ctx, core), golden.snapshot())
            if found is not None:
                result["mismatch"] = (t,) + found
                return
            if progress is not None:
                progress(t + 1)

    run_simulation(core, testbench, background=[collision_monitor(core)])
    return result
