"""Pipelines that stall as a whole, shared by the arithmetic units.

A unit with ``stages`` register stages advances all of them together when its last stage is
empty or its output is taken (``o.ready``); ``i.ready`` is that condition, so a result waits
in the output register, stable, while ``o.valid`` waits for ``o.ready``.
"""

from amaranth.hdl import Signal

__all__ = ["stalling_pipeline", "stage_registers", "Stages"]


def stalling_pipeline(m, unit, stages):
    """The valid bits (``s1_valid`` ...) of ``unit``'s ``stages``-deep pipeline in module
    ``m``, driving ``unit.i.ready`` and ``unit.o.valid``. Returns ``advance``, under which
    the unit loads its stage registers."""
    valid = [Signal(name=f"s{k + 1}_valid") for k in range(stages)]
    advance = Signal()
    m.d.comb += [advance.eq(~valid[-1] | unit.o.ready), unit.i.ready.eq(advance),
                 unit.o.valid.eq(valid[-1])]
    with m.If(advance):
        m.d.sync += valid[0].eq(unit.i.valid)
        m.d.sync += [valid[k].eq(valid[k - 1]) for k in range(1, stages)]
    return advance


def stage_registers(m, advance, k, values):
    """Registers ``s<k>_<name>`` for ``values`` (``{name: value}``), each of its value's
    shape, loaded under ``advance``; returned as ``{name: register}``."""
    regs = {name: Signal.like(value, name=f"s{k}_{name}", reset_less=True)
            for name, value in values.items()}
    with m.If(advance):
        m.d.sync += [regs[name].eq(value) for name, value in values.items()]
    return regs


class Stages:
    """The register stages of ``unit``'s stalling pipeline, in order, where the optional
    ones (the product stages of ``Core(product_stages=...)``) may be left out: ``stage``
    then passes its values through combinationally. ``count``: the stages kept, which is
    the unit's latency."""

    def __init__(self, m, unit, required, optional, keep_optional):
        self._m, self._keep = m, keep_optional
        self.count = required + optional * keep_optional
        self.advance = stalling_pipeline(m, unit, self.count)
        self._k = 0

    def stage(self, values, optional=False):
        """Register ``values`` (``{name: value}``) as the next stage, ``s<k>_<name>``; an
        optional stage left out returns ``values`` themselves."""
        if optional and not self._keep:
            return dict(values)
        self._k += 1
        assert self._k <= self.count
        return stage_registers(self._m, self.advance, self._k, values)
