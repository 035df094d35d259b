"""The counter-based random source of docs/spec.md 1.2: a pipelined Threefry-2x32-20.

:class:`Threefry2x32` hashes a (key, counter) pair into 64 bits; :class:`RandomSource` forms
the key and counter from ``(seed, site, t, row, col)`` exactly as the spec does, so its output
equals ``eligo.model.kernels.rand64(seed, t, site, row, col)`` (read as unsigned 64 bits).
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .stream_util import stream_get, stream_put

__all__ = ["THREEFRY_ROUNDS", "ROUNDS_PER_STAGE", "threefry_layout", "rand64_layout",
           "Threefry2x32", "RandomSource", "stream_put", "stream_get"]

THREEFRY_ROUNDS = 20
#: The allowed ``rounds_per_stage``: the divisors of 20.
ROUNDS_PER_STAGE = (1, 2, 4, 5, 10, 20)

_ROT = (13, 15, 26, 6, 17, 29, 16, 24)
_PARITY = 0x1BD11BDA


def threefry_layout():
    """Layout of one Threefry-2x32 request: key ``(key0, key1)`` and counter
    ``(ctr0, ctr1)``, 32 bits each, ``key0`` in the low bits."""
    return data.StructLayout({"key0": 32, "key1": 32, "ctr0": 32, "ctr1": 32})


def rand64_layout():
    """Layout of one ``rand64(seed, t, site, row, col)`` request (spec 1.2).

    Fields: ``seed`` (32 bits), ``site`` (32), ``t`` (32, the step index mod 2**32), ``col``
    (16), ``row`` (16). The order makes the bits of a request equal, bit for bit, the bits of
    the :func:`threefry_layout` request it stands for: ``key0 = seed``, ``key1 = site``,
    ``ctr0 = t``, ``ctr1 = row * 2**16 + col`` (``col`` below ``row``).
    """
    return data.StructLayout({"seed": 32, "site": 32, "t": 32, "col": 16, "row": 16})


def _check_rounds_per_stage(rounds_per_stage):
    if not isinstance(rounds_per_stage, int) or isinstance(rounds_per_stage, bool):
        raise TypeError(f"Rounds per stage must be an integer, not {rounds_per_stage!r}")
    if rounds_per_stage not in ROUNDS_PER_STAGE:
        raise ValueError(f"Rounds per stage must be one of "
                         f"{', '.join(map(str, ROUNDS_PER_STAGE))}, not {rounds_per_stage!r}")


class Threefry2x32(wiring.Component):
    """Threefry-2x32 with 20 rounds (Salmon et al., SC 2011; Random123's threefry2x32_20),
    pipelined with ``20 // rounds_per_stage`` register stages.

    Stage ``k`` does rounds ``k * rounds_per_stage`` to ``(k + 1) * rounds_per_stage - 1``
    and each key injection that falls after one of them (after rounds 4, 8, 12, 16, 20);
    stage 0 also does the initial key addition. The key travels with its data down the
    pipeline (64 bits per stage; ``k2`` is recomputed by an XOR where it is needed).

    Output: ``rand = x1 * 2**32 + x0``, i.e. ``o.payload[0:32] = x0``,
    ``o.payload[32:64] = x1``.

    Latency: ``20 // rounds_per_stage`` cycles (:attr:`latency`): a request that transfers
    on ``i`` in cycle ``n`` is presented on ``o`` in cycle ``n + latency`` when ``o`` is not
    back-pressured. Throughput: one request per cycle. The pipeline stalls as a whole: it
    advances when its last stage is empty or ``o.ready`` is high (``i.ready`` is that
    condition, combinationally dependent on ``o.ready``), so ``o.payload`` is stable while
    ``o.valid`` waits for ``o.ready``, and no request is dropped or duplicated.

    Parameters
    ----------
    rounds_per_stage : int
        Rounds per pipeline stage, one of 1, 2, 4, 5, 10, 20 (the divisors of 20). Default 4:
        5 stages of 4 rounds and one key injection each; 20 gives one stage (all 20 rounds
        combinational between two registers), 2 gives 10 stages.

    Members
    -------
    i : ``In(stream.Signature(threefry_layout()))``
        Requests: key ``(key0, key1)``, counter ``(ctr0, ctr1)``.
    o : ``Out(stream.Signature(64))``
        Results, in request order.

    Raises
    ------
    TypeError
        If ``rounds_per_stage`` is not an integer.
    ValueError
        If ``rounds_per_stage`` does not divide 20.
    """

    def __init__(self, rounds_per_stage=4):
        _check_rounds_per_stage(rounds_per_stage)
        self._rounds_per_stage = rounds_per_stage
        super().__init__({
            "i": In(stream.Signature(threefry_layout())),
            "o": Out(stream.Signature(64)),
        })

    @property
    def rounds_per_stage(self):
        return self._rounds_per_stage

    @property
    def stages(self):
        """Number of register stages."""
        return THREEFRY_ROUNDS // self._rounds_per_stage

    @property
    def latency(self):
        """Cycles from a transfer on ``i`` to ``o.valid`` with no backpressure."""
        return self.stages

    def elaborate(self, platform):
        m = Module()
        rps = self._rounds_per_stage
        n = self.stages

        # Stage registers: valid (reset to 0) and data (reset-less, don't care when empty).
        valid = [Signal(name=f"s{k}_valid") for k in range(n)]
        x0 = [Signal(32, name=f"s{k}_x0", reset_less=True) for k in range(n)]
        x1 = [Signal(32, name=f"s{k}_x1", reset_less=True) for k in range(n)]
        k0 = [Signal(32, name=f"s{k}_k0", reset_less=True) for k in range(n)]
        k1 = [Signal(32, name=f"s{k}_k1", reset_less=True) for k in range(n)]

        # The pipeline advances as a whole unless its output is held by backpressure.
        advance = Signal()
        m.d.comb += [
            advance.eq(~valid[-1] | self.o.ready),
            self.i.ready.eq(advance),
            self.o.valid.eq(valid[-1]),
            self.o.payload.eq(Cat(x0[-1], x1[-1])),
        ]

        req = self.i.payload
        for k in range(n):
            if k == 0:
                in_valid, in_k0, in_k1 = self.i.valid, req.key0, req.key1
                a = (req.ctr0 + req.key0)[:32]
                b = (req.ctr1 + req.key1)[:32]
            else:
                in_valid, in_k0, in_k1 = valid[k - 1], k0[k - 1], k1[k - 1]
                a, b = x0[k - 1], x1[k - 1]
            ks = (in_k0, in_k1, _PARITY ^ in_k0 ^ in_k1)
            # One named wire per round (and per injection) keeps every expression a tree of
            # one round: a round uses its new x0 twice, so nesting rounds would grow the
            # expression exponentially in the simulator and in the netlist.
            for r in range(k * rps, (k + 1) * rps):
                a_r, b_r = Signal(32, name=f"r{r + 1}_x0"), Signal(32, name=f"r{r + 1}_x1")
                m.d.comb += [
                    a_r.eq(a + b),
                    b_r.eq(b.rotate_left(_ROT[r % 8]) ^ a_r),
                ]
                a, b = a_r, b_r
                if r % 4 == 3:
                    j = (r + 1) // 4
                    a_j, b_j = Signal(32, name=f"inj{j}_x0"), Signal(32, name=f"inj{j}_x1")
                    m.d.comb += [
                        a_j.eq(a + ks[j % 3]),
                        b_j.eq(b + ks[(j + 1) % 3] + j),
                    ]
                    a, b = a_j, b_j
            with m.If(advance):
                m.d.sync += [
                    valid[k].eq(in_valid),
                    x0[k].eq(a), x1[k].eq(b), k0[k].eq(in_k0), k1[k].eq(in_k1),
                ]
        return m


class RandomSource(wiring.Component):
    """``rand64(seed, t, site, row, col)`` of docs/spec.md 1.2 as a stream: a
    :class:`Threefry2x32` with key ``(seed, site)`` and counter
    ``(t mod 2**32, row * 2**16 + col)``.

    Latency, throughput and backpressure are those of the :class:`Threefry2x32` inside:
    latency ``20 // rounds_per_stage`` cycles, one request per cycle.

    Parameters
    ----------
    rounds_per_stage : int
        As for :class:`Threefry2x32` (default 4).

    Members
    -------
    i : ``In(stream.Signature(rand64_layout()))``
        Requests ``(seed, site, t, row, col)``.
    o : ``Out(stream.Signature(64))``
        ``rand64`` as an unsigned 64-bit value (the golden model's int64 read modulo 2**64).

    Raises
    ------
    TypeError
        If ``rounds_per_stage`` is not an integer.
    ValueError
        If ``rounds_per_stage`` does not divide 20.
    """

    def __init__(self, rounds_per_stage=4):
        _check_rounds_per_stage(rounds_per_stage)
        self._rounds_per_stage = rounds_per_stage
        super().__init__({
            "i": In(stream.Signature(rand64_layout())),
            "o": Out(stream.Signature(64)),
        })

    @property
    def rounds_per_stage(self):
        return self._rounds_per_stage

    @property
    def latency(self):
        """Cycles from a transfer on ``i`` to ``o.valid`` with no backpressure."""
        return THREEFRY_ROUNDS // self._rounds_per_stage

    def elaborate(self, platform):
        m = Module()
        m.submodules.threefry = threefry = Threefry2x32(self._rounds_per_stage)
        req = self.i.payload
        m.d.comb += [
            threefry.i.valid.eq(self.i.valid),
            self.i.ready.eq(threefry.i.ready),
            threefry.i.payload.key0.eq(req.seed),
            threefry.i.payload.key1.eq(req.site),
            threefry.i.payload.ctr0.eq(req.t),
            threefry.i.payload.ctr1.eq(req.col | (req.row << 16)),
        ]
        wiring.connect(m, threefry.o, wiring.flipped(self.o))
        return m
