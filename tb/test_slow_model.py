"""Tests of the slow scalar reference model (tb/slow_model.py) on its own.

Expected values are the spec's known answers or integers worked out by hand from
docs/spec.md in the comments, never values obtained by running the model.
"""

import importlib
import importlib.util
from pathlib import Path


from eligo.config import Config

try:
    sm = importlib.import_module("eligo.tb.slow_model")
except ImportError:  # package not installed: load the file by path
    _path = Path(__file__).resolve().parent / "slow_model.py"
    _spec = importlib.util.spec_from_file_location("slow_model", _path)
    sm = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sm)

SlowModel = sm.SlowModel


# -- Threefry known answers (spec section 1.2) --------------------------------------------------

def test_threefry_random123_vector():
    x0, x1 = sm.threefry2x32_20(0x13198A2E, 0x03707344, 0x243F6A88, 0x85A308D3)
    assert (x0, x1) == (0xC4923A9C, 0x483DF7A0)


def test_threefry_zero_vector():
    assert sm.threefry2x32_20(0, 0, 0, 0) == (0x6B200159, 0x99BA4EFE)


def test_rand64_layout():
    # key (seed, site), counter (t, row * 2**16 + col); rand64 = x1 * 2**32 + x0.
    r = sm.rand64(seed=0x13198A2E, t=0x243F6A88, site=0x03707344, row=0x85A3, col=0x08D3)
    assert r == 0x483DF7A0C4923A9C
    assert sm.rand64(0, 0, 0, 0, 0) == 0x99BA4EFE6B200159
    # t enters modulo 2**32
    assert sm.rand64(0, 2**32, 0, 0, 0) == 0x99BA4EFE6B200159


def test_site_ids():
    assert sm.SITES == {"V": 1, "A": 2, "PSI": 3, "PRE": 4, "G": 5, "EPS": 6, "E": 7,
                        "EBAR": 8, "ZOUT": 9, "Y": 10, "L": 11, "LOUT": 12, "W": 13,
                        "WOUT": 14}


# -- saturation and rounding --------------------------------------------------------------------

def test_sat():
    assert sm.sat_s(127, 8) == (127, False)
    assert sm.sat_s(128, 8) == (127, True)
    assert sm.sat_s(-128, 8) == (-128, False)
    assert sm.sat_s(-129, 8) == (-128, True)
    assert sm.sat_u(255, 8) == (255, False)
    assert sm.sat_u(256, 8) == (255, True)
    assert sm.sat_u(-1, 8) == (0, True)


def test_round_nonpositive_shift_is_exact_left_shift():
    for mode in ("zero", "floor", "stochastic"):
        assert sm.rshift_round(5, 0, mode, 12345) == 5
        assert sm.rshift_round(-3, -2, mode, 12345) == -12
        assert sm.rshift_round(7, -1, mode, None) == 14   # no draw needed for s <= 0


def test_round_zero_and_floor():
    # 7/2 = 3.5, -7/2 = -3.5, -8/4 = -2 exactly, -9/4 = -2.25
    assert sm.rshift_round(7, 1, "zero") == 3
    assert sm.rshift_round(-7, 1, "zero") == -3
    assert sm.rshift_round(7, 1, "floor") == 3
    assert sm.rshift_round(-7, 1, "floor") == -4
    assert sm.rshift_round(-8, 2, "zero") == -2
    assert sm.rshift_round(-8, 2, "floor") == -2
    assert sm.rshift_round(-9, 2, "zero") == -2
    assert sm.rshift_round(-9, 2, "floor") == -3
    assert sm.rshift_round(0, 3, "zero") == 0


def test_round_stochastic():
    # (x + (r & (2**s - 1))) >> s
    assert sm.rshift_round(-7, 2, "stochastic", 0) == -2          # -7 >> 2 = floor(-1.75)
    assert sm.rshift_round(-7, 2, "stochastic", 3) == -1          # -4 >> 2
    assert sm.rshift_round(-7, 2, "stochastic", 0b110) == -2      # r & 3 = 2: -5 >> 2
    assert sm.rshift_round(-7, 2, "stochastic", 2**64 - 1) == -1  # r & 3 = 3
    assert sm.rshift_round(5, 2, "stochastic", 2) == 1            # 7 >> 2
    assert sm.rshift_round(5, 2, "stochastic", 3) == 2            # 8 >> 2
    assert sm.rshift_round(5, 2, "stochastic", lambda: 7) == 2    # lazy draw, 7 & 3 = 3


def test_round_is_lazy_for_deterministic_modes():
    def boom():
        raise AssertionError("drew a random number for a deterministic mode")
    assert sm.rshift_round(-7, 1, "zero", boom) == -3
    assert sm.rshift_round(-7, 1, "floor", boom) == -4


# -- a hand-computed 2-step trace of one LIF neuron ---------------------------------------------

def test_lif_two_step_trace():
    # Defaults: w_frac 6, v_bits 16, v_frac 12, a_frac 10, trace_bits 12, trace_frac 7,
    # psi_bits 8, e_bits 12, e_frac 8, y_frac 12, acc_frac 12, D = 12; alpha = kappa = 3896,
    # theta 4096, gamma 77, eta = eta_out = 1, lr_shift = lr_out_shift = 6, trigger(_out) 2048,
    # q_max 1, refractory 0, reset subtract, rounding zero, symmetric feedback, full traces.
    cfg = Config(n_in=1, n_rec=1, n_alif=0, n_out=1, update_rounding="floor")
    m = SlowModel(cfg)
    m.load_weights([[80]], [[0]], [[64]])     # w_in 1.25, w_out 1.0

    # ---- step t=0: x = [1], no target ----
    # s = [1, 0]; I = 80. dv = R(0 * 3896, 12) = 0. v = sat_s(0 + (80 << 6) - 0, 16) = 5120.
    # Aq = 4096 * 2**10 = 4194304; v * 2**10 = 5242880 > Aq -> z = 1.
    # h = 2**22 - |5242880 - 4194304| = 4194304 - 1048576 = 3145728.
    # psi = R(77 * 3145728, 22) = trunc(57.75) = 57. ref = 0.
    # Phase 2: xbar = 0 + 1 * 128 = 128; zbar = 0 + z_old(0) * 128 = 0.
    # e_00 = R(57 * (128 * 4096), 8 + 7 + 12 - 8 = 19) = 57 * 2**19 >> 19 = 57; e_01 = 0.
    # ebar = [57, 0]. zout = 0 + 1 * 128 = 128.
    # Phase 3: y = R(0, 12) + ((64 * 1) << 6) = 4096; err = 0. Phase 4 skipped (no mask).
    z, y = m.step([1])
    assert (z, y) == ([1], [4096])
    s = m.snapshot()
    assert s["v"] == [5120] and s["a"] == [0] and s["ref"] == [0] and s["psi"] == [57]
    assert s["xbar"] == [128] and s["zbar"] == [0] and s["zout"] == [128]
    assert s["ebar"] == [[57, 0]] and s["eps"] == []
    assert s["err"] == [0] and s["acc"] == [0] and s["acc_out"] == [0]
    assert s["t"] == 1 and s["spikes"] == 1 and s["row_updates"] == 0
    assert s["weight_writes"] == 0

    # ---- step t=1: x = [0], ystar = [16000], mask = [1] ----
    # s = [0, 1]; I = 80 * 0 + 0 * 1 = 0.
    # dv = R(5120 * 3896, 12) = 19947520 / 4096 = 4870 exactly.
    # v = sat_s(4870 + 0 - 1 * 4096, 16) = 774. v * 2**10 = 792576 < Aq -> z = 0.
    # h = 4194304 - |792576 - 4194304| = 792576; psi = R(77 * 792576, 22) = trunc(14.55) = 14.
    # Phase 2: xbar = R(128 * 3896, 12) + 0 = trunc(121.75) = 121;
    #          zbar = R(0, 12) + z_old(1) * 128 = 128.
    # e_00 = R(14 * 121 * 4096, 19) = trunc(13.234375) = 13; e_01 = R(14 * 128 * 4096, 19) = 14.
    # ebar_00 = R(57 * 3896, 12) + 13 = trunc(54.216) + 13 = 67; ebar_01 = 0 + 14 = 14.
    # zout = R(128 * 3896, 12) + 0 = 121.
    # Phase 3: y = R(4096 * 3896, 12) + 0 = 3896; err = sat_s(3896 - 16000, 16) = -12104.
    # Phase 4: L = R(64 * -12104, 6 + 12 - 12 = 6) = -774656 / 64 = -12104 exactly;
    #   acc = -12104; q = -min(1, 12104 // 2048 = 5) = -1; acc = -12104 + 2048 = -10056.
    #   Lout = R(-12104, 0) = -12104; acc_out = -12104; q_out = -1; acc_out = -10056.
    #   Row 0: W[0, 0] = 80 - floor(1 * -1 * 67 / 64) = 80 - (-2) = 82; W[0, 1] is the diagonal.
    #   Readout row 0: w_out = 64 - floor(1 * -1 * 121 / 64) = 64 - (-2) = 66.
    # Counters: row_updates 2, weight_writes (n_pre - 1) + n_rec = 1 + 1 = 2, spikes 1, t 2.
    z, y = m.step([0], ystar=[16000], mask=[1])
    assert (z, y) == ([0], [3896])
    s = m.snapshot()
    assert s["v"] == [774] and s["ref"] == [0] and s["psi"] == [14]
    assert s["xbar"] == [121] and s["zbar"] == [128] and s["zout"] == [121]
    assert s["ebar"] == [[67, 14]]
    assert s["err"] == [-12104] and s["acc"] == [-10056] and s["acc_out"] == [-10056]
    assert s["w_in"] == [[82]] and s["w_rec"] == [[0]] and s["w_out"] == [[66]]
    assert s["b"] == [[0]]
    assert s["t"] == 2 and s["spikes"] == 1
    assert s["row_updates"] == 2 and s["weight_writes"] == 2
    assert all(s[f"sat_{v}"] == 0 for v in sm.SAT_VARS)

    # reset keeps weights, counters and t
    m.reset()
    s = m.snapshot()
    assert s["v"] == [0] and s["ebar"] == [[0, 0]] and s["acc"] == [0] and s["y"] == [0]
    assert s["w_in"] == [[82]] and s["t"] == 2 and s["row_updates"] == 2


def test_saturation_counter_and_learn_off():
    # v_bits 14: v in [-8192, 8191]. w_in = 127 -> I << 6 = 8128; two inputs -> 16256 clamps.
    cfg = Config(n_in=2, n_rec=1, n_alif=0, n_out=1, v_bits=14, learn=False)
    m = SlowModel(cfg)
    m.load_weights([[127, 127]], [[5]], [[0]])      # nonzero diagonal is held at 0
    assert m.snapshot()["w_rec"] == [[0]]
    z, y = m.step([1, 1])
    s = m.snapshot()
    assert s["v"] == [8191] and s["sat_v"] == 1 and z == [1]
    # learn off: traces untouched, no eligibility computed
    assert s["xbar"] == [0, 0] and s["zout"] == [0] and s["sat_e"] == 0


def test_factored_snapshot_has_no_eps_ebar():
    m = SlowModel(Config(trace_mode="factored"))
    s = m.snapshot()
    assert "eps" not in s and "ebar" not in s
    assert len(SlowModel(Config()).snapshot()["eps"]) == Config().n_alif
