"""The bridge between real numbers and a configuration's integers."""

import numpy as np
import pytest

from eligo.config import Config, preset
from eligo.model import bridge


def test_quantize_rounds_to_nearest_ties_away_and_clamps():
    got = bridge.quantize([0.5 / 64, -0.5 / 64, 1.5 / 64, 10.0, -10.0, 0.3], 6, 8)
    assert got.tolist() == [1, -1, 2, 127, -128, 19]
    assert bridge.quantize([-1.0, 2.0], 4, 4, signed=False).tolist() == [0, 15]


def test_weights_round_trip_within_half_an_lsb():
    cfg = preset("tiny")
    rng = np.random.default_rng(0)
    w = [rng.uniform(-1.9, 1.9, shape) for shape in ((6, 4), (6, 6), (2, 6), (6, 2))]
    q = bridge.quantize_weights(cfg, *w)
    assert np.all(np.diagonal(q[1]) == 0)
    back = bridge.dequantize_weights(cfg, *q)
    for orig, b, name in zip(w, back, "in rec out b".split()):
        if name == "rec":
            np.fill_diagonal(orig, 0.0)
        assert np.max(np.abs(orig - b)) <= 0.5 / 2**cfg.w_frac, name


@pytest.mark.parametrize("name", ["tiny", "cue", "ice40", "reckon"])
def test_real_params_round_trip_exact_on_integers(name):
    cfg = preset(name)
    assert bridge.with_real_params(cfg, **vars(bridge.real_params(cfg))) == cfg


def test_homeostatic_term_in_real_units():
    # tiny: w_frac 6, y_frac 12, trace_frac 7; the term joins a sum with 18 fraction bits.
    cfg = Config(homeo_gain=96, homeo_target=256)
    rp = bridge.real_params(cfg)
    assert (rp.homeo_gain, rp.homeo_target) == (96 / 2**11, 2.0)
    zout = 300  # integers: the term's real value is the real gain times the real distance
    term = cfg.homeo_gain * (zout - cfg.homeo_target) / 2**(cfg.w_frac + cfg.y_frac)
    assert term == rp.homeo_gain * (zout / 2**cfg.trace_frac - rp.homeo_target)
    assert bridge.with_real_params(Config(), homeo_gain=rp.homeo_gain,
                                   homeo_target=rp.homeo_target) == cfg


def test_with_real_params_sets_nearest_integers():
    cfg = bridge.with_real_params(Config(), alpha=np.exp(-1 / 20), theta=1.0, beta=0.07,
                                  gamma=0.3, trigger=0.25)
    assert (cfg.alpha, cfg.theta, cfg.beta, cfg.gamma, cfg.trigger) == (3896, 4096, 287, 77, 1024)
    assert bridge.with_real_params(Config(), alpha=1.0).alpha == 4095


def test_learning_rate_convention():
    cfg = bridge.with_real_params(Config(lr_shift=20), lr=0.01)
    lr, _ = bridge.learning_rates(cfg)
    assert cfg.eta == 1311  # 0.01 * 0.5 * 2**(6 - 8) * 2**20 = 1310.72
    assert abs(lr - 0.01) / 0.01 <= 0.5 / cfg.eta
    # integer step for one LSB of ebar equals the float step for ebar = 2**-e_frac, rounded
    trigger = cfg.trigger / 2**cfg.acc_frac
    float_step = lr * trigger * 2.0**-cfg.e_frac
    assert cfg.eta / 2**cfg.lr_shift / 2**cfg.w_frac == pytest.approx(float_step)


def test_unknown_and_unrepresentable_real_params_refused():
    with pytest.raises(ValueError, match=r"^unknown real parameter 'tau'; known: alpha, "):
        bridge.with_real_params(Config(), tau=20.0)
    with pytest.raises(ValueError, match=r"^theta must be an integer in \[1, 32767\]"):
        bridge.with_real_params(Config(), theta=9.0)
