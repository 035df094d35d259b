"""Mutation check of the cocotb bench: a wrong RTL must fail it.

Each mutation changes the RTL only (the Verilog is generated in this process; the golden model
in the simulator process is untouched), builds it in its own folder and runs the matrix bench
of tb/test_cocotb_core.py (``random_learning``). Mutations:

- ``rounding``: the neuron unit rounds with ``floor`` where the configuration says ``zero``;
- ``strictness``: the spike condition ``v > A`` becomes ``v >= A``;
- ``saturation``: the membrane's upper saturation bound is one less.

``python -m eligo.tb.mutation_check [--simulator icarus]`` prints, for the unmutated RTL and
each mutation, whether the bench passed; the run succeeds when the first passes and every
mutation fails. (Also a slow test: tb/test_cocotb_core.py.)
"""

import argparse
import contextlib
import inspect
import sys
import tempfile
import types

from eligo.cosim import run_bench

__all__ = ["MUTATIONS", "mutated", "run_mutation_check"]

STRICT_SPIKE = "z.eq((s2_diff > 0) & ~refractory)"


@contextlib.contextmanager
def _patched(module, name, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def _floor_neuron():
    from eligo.rtl import core, neuron
    return _patched(core, "NeuronUnit",
                    lambda cfg: neuron.NeuronUnit(cfg.replace(rounding="floor")))


def _non_strict_spike():
    from eligo.rtl import core, neuron
    source = inspect.getsource(neuron)
    if source.count(STRICT_SPIKE) != 1:
        raise AssertionError("the spike comparison moved: update STRICT_SPIKE")
    module = types.ModuleType("eligo.rtl.neuron_mutated")
    module.__package__ = "eligo.rtl"
    exec(compile(source.replace(STRICT_SPIKE, STRICT_SPIKE.replace("> 0", ">= 0")),
                 "neuron_mutated.py", "exec"), module.__dict__)
    return _patched(core, "NeuronUnit", module.NeuronUnit)


def _membrane_bound():
    from eligo.rtl import arith, neuron

    class LowerBound(arith.Saturate):
        def __init__(self, in_width, out_width, *, signed):
            super().__init__(in_width, out_width, signed=signed)
            if signed:
                self._hi -= 1
    return _patched(neuron, "Saturate", LowerBound)


MUTATIONS = {"rounding": _floor_neuron, "strictness": _non_strict_spike,
             "saturation": _membrane_bound}


def mutated(name):
    """A context manager in which the RTL carries mutation ``name``."""
    return MUTATIONS[name]()


def run_mutation_check(simulator="icarus", out=print):
    """``{name: bench passed}`` for ``"none"`` and every mutation."""
    from eligo.tb.test_cocotb_core import MATRIX_BENCH, MATRIX_CFG
    results = {}
    with tempfile.TemporaryDirectory() as root:
        for name in ("none",) + tuple(MUTATIONS):
            context = contextlib.nullcontext() if name == "none" else mutated(name)
            with context:
                passed, _ = run_bench(MATRIX_CFG, "random_learning", MATRIX_BENCH,
                                      simulator=simulator, root=f"{root}/{name}", quiet=True)
            results[name] = passed
            out(f"mutation {name:10s}: bench {'passed' if passed else 'FAILED'}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", default="icarus", choices=("icarus", "verilator"))
    args = parser.parse_args(argv)
    results = run_mutation_check(args.simulator)
    ok = results["none"] and not any(v for k, v in results.items() if k != "none")
    print("mutation check:", "every mutation caught" if ok else "NOT every mutation caught")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
