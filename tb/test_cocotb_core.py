"""The full core through its AXI ports under cocotb, on Verilator and Icarus: random runtime
parameters, weights and stimulus with learning on, every state variable compared with the
golden model after every step, under the stream matrix; and the golden vectors replayed.
The benches themselves are in tb/cocotb_core.py; eligo.cosim builds and runs them.
"""

from pathlib import Path

import pytest

from eligo.config import Config
from eligo.cosim import CosimError, build, clock_wrapper, run_bench
from eligo.sim import merge_write_phases
from eligo.golden import vectors

# One build per simulator: ALIF and LIF neurons, refractoriness, random feedback, full traces,
# floor updates, the homeostatic term, and narrow formats so that weights and accumulators
# clamp (the matrix varies runtime parameters and seeds, not the build). A directed start puts
# a LIF membrane exactly on theta and saturates another; the bench asserts that coverage
# (MATRIX_BENCH).
MATRIX_CFG = Config(n_in=4, n_rec=6, n_alif=3, n_out=2, refractory=1, feedback="random",
                    update_rounding="floor", w_bits=6, w_frac=3, v_bits=10, v_frac=4,
                    theta=16, beta=4, a_bits=10, a_frac=4, trace_bits=8, trace_frac=4,
                    e_bits=8, e_frac=4, eps_bits=10, y_bits=10, y_frac=4, err_bits=10,
                    acc_bits=10, acc_frac=4, trigger=12, trigger_out=16, eta=40, eta_out=30,
                    lr_shift=4, lr_out_shift=4, homeo_gain=4, homeo_target=30)
MATRIX_BENCH = {"seed": 11, "steps": 40, "scale": 3.0, "directed": True,
                "cover_threshold": True, "cover": ["spikes", "row_updates", "sat_v"]}
SIMULATORS = ["verilator", "icarus"]


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_learning_matrix_equals_golden(simulator, tmp_path_factory):
    passed, result = run_bench(MATRIX_CFG, "random_learning", MATRIX_BENCH,
                               simulator=simulator, quiet=True)
    assert passed, f"cocotb bench failed on {simulator}: see build/cosim/*/random_learning.log"
    assert result["counters"]["row_updates"] > 0


def test_verilator_builds_with_only_the_ports_public():
    # --public-flat-rw (cocotb's runner default) keeps Verilator from optimizing any signal
    # away; the build leaves it out and makes only the wrapper's signals public (the benches
    # touch nothing else). Verilator records the command line it ran in Vtop__verFiles.dat.
    directory, _ = build(MATRIX_CFG, "verilator")
    command = next(line for line in (directory / "Vtop__verFiles.dat").read_text().splitlines()
                   if line.startswith("C "))
    assert "--vpi" in command and "public.vlt" in command
    assert "--public-flat-rw" not in command and "--public " not in command
    assert 'public_flat_rw -module "eligo_tb" -var "*"' in (directory / "public.vlt").read_text()


def test_a_failed_build_is_a_cosim_error_naming_its_log(monkeypatch, tmp_path):
    # cocotb 2's runner raises RuntimeError for a failed command; the build log's cause
    # (here the FST writer's missing lz4.h) turns into a hint
    import os
    from eligo import cosim

    class FailingRunner:
        def build(self, **kwargs):
            os.write(1, b"fstcpp_writer.cpp:18:10: fatal error: lz4.h: No such file\n")
            raise RuntimeError("Command failed with return code: 2")
    monkeypatch.setattr(cosim, "_runner", lambda simulator: FailingRunner())
    with pytest.raises(CosimError) as failure:
        build(MATRIX_CFG, "verilator", waves=True, root=tmp_path)
    message = str(failure.value)
    assert message.startswith("verilator build failed (Command failed with return code: 2)")
    assert str(tmp_path) in message and "build.log" in message
    assert message.endswith("need the lz4 headers (apt-get install liblz4-dev)")


def test_a_crashed_simulation_is_a_cosim_error_naming_its_log(monkeypatch, tmp_path):
    # cocotb 2's runner raises RuntimeError when the simulator process exits nonzero (a
    # crash, a kill); the bench reports it with its log instead of a traceback
    from eligo import cosim
    real_build = cosim.build

    def build_with_crashing_simulator(*args, **kwargs):
        directory, runner = real_build(*args, **kwargs)
        crash = ["sh", "-c", "echo 'Segmentation fault (simulated)'; exit 139"]
        monkeypatch.setattr(runner, "_test_command", lambda: [crash])
        return directory, runner
    monkeypatch.setattr(cosim, "build", build_with_crashing_simulator)
    with pytest.raises(CosimError) as failure:
        run_bench(MATRIX_CFG, "long_run", {"seed": 1, "steps": 2}, simulator="icarus",
                  quiet=True)
    message = str(failure.value)
    assert message.startswith("the icarus simulation of long_run failed (Command failed "
                              "with return code: 139); see ")
    log = Path(message.rsplit("see ", 1)[1])
    assert log.name == "long_run.log"
    assert "Segmentation fault (simulated)" in log.read_text()


@pytest.mark.parametrize("simulator,lanes", [(s, 1) for s in SIMULATORS] + [("icarus", 4)])
def test_long_run_on_the_free_clock_equals_golden(simulator, lanes):
    # the simulator's own clock and FreeClockPorts (eligo sim, eligo bench sim), on the
    # matrix build: outputs and the whole state against golden after every step, and the
    # core's cycles per phase, none below the ideal for the step's activity (with 4 lanes,
    # the sweep's ideal is a column group per cycle)
    params = {"seed": 5, "steps": 30, "check_every": 1, "scale": 3.0, "phases": True}
    passed, result = run_bench(MATRIX_CFG, "long_run", params, simulator=simulator, quiet=True,
                               lanes=lanes)
    assert passed, f"long_run failed on {simulator}: {result and result['mismatch']}"
    assert result["steps"] == 30 and result["mismatch"] is None
    assert result["counters"]["spikes"] > 0 and result["counters"]["row_updates"] > 0
    cycles, ideal = merge_write_phases(result["phase_cycles"]), result["ideal"]
    assert set(ideal) <= set(cycles)
    for phase, n in ideal.items():
        assert cycles[phase] >= n, (phase, cycles[phase], n)
    assert ideal["syn"] > 0 and ideal["write"] > 0
    assert sum(ideal.values()) <= sum(cycles.values()) < result["cycles"]


def test_rtl_trajectories_lie_within_the_reference_bound():
    # the float reference on the RTL's stimulus (docs/convergence.md): Icarus, one build of
    # the convergence network at the bound's widths
    from eligo.model.convergence import RTL_BOUND, widened_config
    passed, result = run_bench(widened_config(RTL_BOUND["k"]), "reference_bound", {"seed": 0},
                               simulator="icarus", quiet=True)
    assert passed, f"reference_bound failed: {result}"
    assert set(result["median"]) == {"v", "ebar", "y"}
    assert all(0 < value <= RTL_BOUND["median"][name] for name, value in result["median"].items())


CORE_VERILOG = """module sub(a); input a; endmodule
module eligo_top(b, clk, a, y);
  input [3:0] a;
  output [7:0] y;
  input clk;
  input b;
endmodule
"""


def test_clock_wrapper_passes_every_port_but_clk():
    text = clock_wrapper(CORE_VERILOG, period_ns=10)
    assert "module eligo_tb(clk_ext, clk_free, a, y, b);" in text
    for line in ("input [3:0] a;", "output [7:0] y;", "input b;", "#5 clk_int = ~clk_int;",
                 ".clk(clk),", ".a(a),", ".y(y),", ".b(b)"):
        assert line in text, line
    assert "input clk;" not in text


def test_clock_wrapper_refuses_a_core_without_its_clock_or_module():
    with pytest.raises(CosimError, match="no 1-bit input clk"):
        clock_wrapper(CORE_VERILOG.replace("input clk;", "input [1:0] clk;"))
    with pytest.raises(CosimError, match="module eligo_top not found"):
        clock_wrapper(CORE_VERILOG.replace("eligo_top", "other"))
    with pytest.raises(ValueError, match="even"):
        clock_wrapper(CORE_VERILOG, period_ns=7)


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


@pytest.mark.slow
def test_mutations_of_the_rtl_fail_the_bench():
    from eligo.tb.mutation_check import run_mutation_check
    results = run_mutation_check("icarus", out=lambda *a: None)
    assert results == {"none": True, "rounding": False, "strictness": False,
                       "saturation": False}
