"""The bridge between the float tier and the integer tiers.

Every integer of the golden model stands for a real number: an integer ``n`` of a format
with ``f`` fraction bits is ``n / 2**f`` (docs/spec.md section 4). This module turns real
parameters, weights and targets into a configuration's integers (round to nearest, ties away
from zero, then clamp to the format) and back. The float reference (``eligo.model.reference``)
reads a configuration through :func:`real_params`, so both tiers see the same network.

Learning rates need a convention of their own: the float rule writes
``W[j] -= lr * q * trigger * ebar[j]`` when row ``j`` triggers with multiple ``q``, and the
integer rule writes ``W[j] -= R(eta * q * ebar[j], lr_shift)``; equating the two gives
``eta / 2**lr_shift = lr * trigger * 2**(w_frac - e_frac)`` (readout rows: ``zout`` and
``trace_frac`` instead of ``ebar`` and ``e_frac``).
"""

import dataclasses

import numpy as np

__all__ = ["RealParams", "real_params", "with_real_params", "quantize", "dequantize",
           "quantize_weights", "dequantize_weights", "quantize_targets", "learning_rates"]


@dataclasses.dataclass(frozen=True)
class RealParams:
    """The runtime parameters of a configuration as the real numbers they stand for.

    Decay factors are per step; ``theta`` and ``beta`` are in membrane units (``beta`` per
    spike); ``gamma`` is the pseudo-derivative's peak; ``trigger``/``trigger_out`` are in
    learning-signal units; ``lr``/``lr_out`` follow the float rule of the module docstring;
    the homeostatic term adds ``homeo_gain * (zout_j - homeo_target)`` to the learning signal,
    ``zout_j`` and ``homeo_target`` in spikes.
    """
    alpha: float
    rho: float
    kappa: float
    theta: float
    beta: float
    gamma: float
    trigger: float
    trigger_out: float
    lr: float
    lr_out: float
    homeo_gain: float
    homeo_target: float


def _round(x):
    """Round to nearest, ties away from zero (numpy's rint would round ties to even)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def quantize(values, frac, bits, signed=True):
    """Real values to integers with ``frac`` fraction bits, clamped to ``bits``."""
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return np.clip(_round(np.asarray(values, dtype=np.float64) * 2.0**frac), lo, hi)


def dequantize(values, frac):
    return np.asarray(values, dtype=np.float64) / 2.0**frac


def learning_rates(cfg):
    """(lr, lr_out) of a configuration's eta, lr_shift, eta_out, lr_out_shift and triggers."""
    trigger = cfg.trigger / 2**cfg.acc_frac
    trigger_out = cfg.trigger_out / 2**cfg.acc_frac
    lr = cfg.eta / 2**cfg.lr_shift * 2.0**(cfg.e_frac - cfg.w_frac) / trigger
    lr_out = cfg.eta_out / 2**cfg.lr_out_shift * 2.0**(cfg.trace_frac - cfg.w_frac) / trigger_out
    return lr, lr_out


def real_params(cfg):
    """The :class:`RealParams` a configuration's integers stand for."""
    D = cfg.decay_bits
    lr, lr_out = learning_rates(cfg)
    return RealParams(
        alpha=cfg.alpha / 2**D, rho=cfg.rho / 2**D, kappa=cfg.kappa / 2**D,
        theta=cfg.theta / 2**cfg.v_frac, beta=cfg.beta / 2**cfg.v_frac,
        gamma=cfg.gamma / 2**cfg.psi_bits, trigger=cfg.trigger / 2**cfg.acc_frac,
        trigger_out=cfg.trigger_out / 2**cfg.acc_frac, lr=lr, lr_out=lr_out,
        homeo_gain=cfg.homeo_gain / _homeo_gain_scale(cfg),
        homeo_target=cfg.homeo_target / 2**cfg.trace_frac)


def _homeo_gain_scale(cfg):
    """Integers per real unit of ``homeo_gain``: its term joins a sum with ``w_frac + y_frac``
    fraction bits, and its ``zout`` has ``trace_frac``."""
    return 2.0**(cfg.w_frac + cfg.y_frac - cfg.trace_frac)


def _eta(rate, shift, scale):
    """The integer multiplier for a float rate at a given shift (at least 1 if rate > 0)."""
    eta = int(_round(rate * scale * 2.0**shift))
    return max(eta, 1) if rate > 0 else 0


def with_real_params(cfg, **real):
    """A copy of ``cfg`` whose runtime integers are the nearest to the given real values
    (names of :class:`RealParams`; the others keep their integers). ``lr``/``lr_out`` keep
    ``lr_shift``/``lr_out_shift`` and set ``eta``/``eta_out``; the resulting configuration is
    validated like any other, so an unrepresentable value is refused with its field."""
    unknown = sorted(set(real) - {f.name for f in dataclasses.fields(RealParams)})
    if unknown:
        raise ValueError(f"unknown real parameter {unknown[0]!r}; known: "
                         f"{', '.join(f.name for f in dataclasses.fields(RealParams))}")
    D = cfg.decay_bits
    scales = {"alpha": 2**D, "rho": 2**D, "kappa": 2**D, "theta": 2**cfg.v_frac,
              "beta": 2**cfg.v_frac, "gamma": 2**cfg.psi_bits, "trigger": 2**cfg.acc_frac,
              "trigger_out": 2**cfg.acc_frac, "homeo_gain": _homeo_gain_scale(cfg),
              "homeo_target": 2**cfg.trace_frac}
    changes = {name: int(_round(value * scales[name]))
               for name, value in real.items() if name in scales}
    for name in ("alpha", "rho", "kappa"):
        if name in changes:  # a factor of 1.0 is the largest fraction below it
            changes[name] = min(changes[name], 2**D - 1)
    cfg = cfg.replace(**changes)
    if "lr" in real:
        trigger = cfg.trigger / 2**cfg.acc_frac
        cfg = cfg.replace(eta=_eta(real["lr"], cfg.lr_shift,
                                   trigger * 2.0**(cfg.w_frac - cfg.e_frac)))
    if "lr_out" in real:
        trigger_out = cfg.trigger_out / 2**cfg.acc_frac
        cfg = cfg.replace(eta_out=_eta(real["lr_out"], cfg.lr_out_shift,
                                       trigger_out * 2.0**(cfg.w_frac - cfg.trace_frac)))
    return cfg


def quantize_weights(cfg, w_in, w_rec, w_out, b=None):
    """Float weights (membrane units) to the configuration's weight integers; the W_rec
    diagonal is forced to 0 (no self-connections exist in the core)."""
    q = lambda w: None if w is None else quantize(w, cfg.w_frac, cfg.w_bits)
    w_rec = q(w_rec)
    np.fill_diagonal(w_rec, 0)
    return q(w_in), w_rec, q(w_out), q(b)


def dequantize_weights(cfg, *weights):
    return tuple(None if w is None else dequantize(w, cfg.w_frac) for w in weights)


def quantize_targets(cfg, targets):
    """Real targets to readout integers (``y_frac`` fraction bits, clamped to ``y_bits``)."""
    return quantize(targets, cfg.y_frac, cfg.y_bits)
