"""Simulator helpers that drive and drain ``lib.stream`` interfaces (Amaranth 0.5 testbenches).

They follow the four ready/valid rules of ``amaranth.lib.stream``: the producer asserts
``valid`` without waiting for ``ready`` and keeps ``payload`` stable until the transfer; the
consumer may assert ``ready`` at any time. A transfer happens at the clock edge where both
``valid`` and ``ready`` are high.

Called back to back (no ``await ctx.tick()`` between two calls), :func:`stream_put` keeps
``valid`` high and :func:`stream_get` keeps ``ready`` high, so a loop of calls moves one item
per cycle; the ``idle`` and ``stall`` arguments insert cycles with ``valid`` (``ready``) low
first, for the {idle} x {backpressure} test matrix.

The waits are plain loops of ``await ctx.tick().sample(...)`` rather than ``.until()`` and
``.repeat()``: those keep an async generator open, and when another testbench fails, its
clean-up at garbage collection buries the real failure under ``RuntimeError: aclose()``
reports (Amaranth 0.5.10).
"""

__all__ = ["stream_put", "stream_get", "hold_monitor", "run_simulation"]


async def stream_put(ctx, stream, payload, *, idle=0):
    """Transfer ``payload`` into ``stream`` (a producer-side view: we drive valid/payload).

    Waits ``idle`` cycles with ``valid`` low, then asserts ``valid`` with ``payload`` and
    returns after the clock edge at which the transfer happened, with ``valid`` low again.
    """
    if idle:
        ctx.set(stream.valid, 0)
        for _ in range(idle):
            await ctx.tick()
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    while True:
        *_, ready = await ctx.tick().sample(stream.ready)
        if ready:
            break
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, *, stall=0):
    """Take one payload from ``stream`` (a consumer-side view: we drive ready).

    Waits ``stall`` cycles with ``ready`` low, then asserts ``ready`` and returns the payload
    sampled at the clock edge of the transfer, with ``ready`` low again.
    """
    if stall:
        ctx.set(stream.ready, 0)
        for _ in range(stall):
            await ctx.tick()
    ctx.set(stream.ready, 1)
    while True:
        *_, payload, valid = await ctx.tick().sample(stream.payload, stream.valid)
        if valid:
            break
    ctx.set(stream.ready, 0)
    return payload


def hold_monitor(stream, message):
    """A background testbench that fails with ``message`` if ``stream``'s payload changes
    while ``valid`` is high and ``ready`` low (the payload must stay until the transfer)."""
    def bits(payload):
        return payload.as_bits() if hasattr(payload, "as_bits") else payload

    async def monitor(ctx):
        held = None
        while True:
            *_, valid, ready, payload = await ctx.tick().sample(stream.valid, stream.ready,
                                                                stream.payload)
            if held is not None:
                assert valid and bits(payload) == held, message
            held = bits(payload) if valid and not ready else None
    return monitor


def run_simulation(dut, *testbenches, background=()):
    """Simulate ``dut`` with a 100 MHz clock (if it has a clock domain) until every
    testbench has returned; ``background`` testbenches run alongside without holding it up."""
    from amaranth.sim import Simulator
    sim = Simulator(dut)
    sim.add_clock(1e-8, if_exists=True)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    for testbench in background:
        sim.add_testbench(testbench, background=True)
    sim.run()
