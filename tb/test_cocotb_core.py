"""The full core through its AXI ports under cocotb, on Verilator and Icarus: random runtime
parameters, weights and stimulus with learning on, every state variable compared with the
golden model after every step, under the stream matrix; and the golden vectors replayed.
The benches themselves are in tb/cocotb_core.py; eligo.cosim builds and runs them.
"""

import pytest

from eligo.config import Config
from eligo.cosim import run_bench
from eligo.golden import vectors

# One build per simulator: ALIF and LIF neurons, refractoriness, random feedback, full traces,
# floor updates (the matrix varies runtime parameters and seeds, not the build).
MATRIX_CFG = Config(n_in=4, n_rec=6, n_alif=3, n_out=2, refractory=1, feedback="random",
                    update_rounding="floor", trigger=600, trigger_out=800, eta=8, eta_out=4)
SIMULATORS = ["verilator", "icarus"]


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_learning_matrix_equals_golden(simulator, tmp_path_factory):
    passed, result = run_bench(MATRIX_CFG, "random_learning", {"seed": 11, "steps": 25},
                               simulator=simulator, quiet=True)
    assert passed, f"cocotb bench failed on {simulator}: see build/cosim/*/random_learning.log"
    assert result["counters"]["row_updates"] > 0


def _scenario_groups():
    return sorted(vectors.SCENARIOS)


@pytest.mark.parametrize("scenario", _scenario_groups())
def test_golden_vectors_replay_on_icarus(scenario):
    path = vectors.VECTOR_DIR / f"{scenario}.txt"
    cfg = vectors.parse(path).config
    passed, result = run_bench(cfg, "replay_vectors", {"seed": 0, "vectors": [str(path)]},
                               simulator="icarus", quiet=True)
    assert passed, f"replay of {path} failed: see build/cosim/icarus-*/replay_vectors.log"
    assert result["replayed"][0]["steps"] == 60


@pytest.mark.slow
@pytest.mark.parametrize("scenario", _scenario_groups())
def test_golden_vectors_replay_on_verilator(scenario):
    path = vectors.VECTOR_DIR / f"{scenario}.txt"
    cfg = vectors.parse(path).config
    passed, _ = run_bench(cfg, "replay_vectors", {"seed": 0, "vectors": [str(path)]},
                          simulator="verilator", quiet=True)
    assert passed
