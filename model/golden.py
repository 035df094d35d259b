"""The golden model: docs/spec.md as integer code, vectorized over a batch of cores.

Every value is an int64 numpy array with a leading batch axis: ``batch`` independent cores with
one configuration (each has its own weights, state and counters). Phases 1-3 of a step run in
the compiled kernels of :mod:`eligo.model.kernels` (one loop over neurons or synapses per
phase); phase 4, which runs only on steps with targets, is numpy around the row-write kernel.
The configuration guarantees that no intermediate needs more than 62 bits, so int64 is exact.
"""

import numpy as np

from . import kernels as K
from .kernels import ROUND_MODES, SITES
from .names import COUNTER_NAMES, SAT_NAMES, STATE_NAMES

__all__ = ["GoldenModel", "StepOutput", "STATE_NAMES", "COUNTER_NAMES", "SAT_NAMES",
           "random_weights"]



class StepOutput(tuple):
    """What the core streams out at the end of a step: spikes ``z`` and readouts ``y``."""
    __slots__ = ()

    def __new__(cls, z, y):
        return super().__new__(cls, (z, y))

    z = property(lambda self: self[0])
    y = property(lambda self: self[1])


def _signed_range(bits):
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


class GoldenModel:
    """Bit-exact integer model of one eligo core, vectorized over a batch of cores.

    Parameters
    ----------
    cfg : eligo.config.Config
    batch : int
        Number of independent cores simulated side by side.

    Members
    -------
    state : dict of str to numpy.ndarray
        Every state variable of docs/spec.md section 2, with a leading batch axis.
    counters : dict of str to numpy.ndarray
        The saturating counters (``cfg.counter_bits`` wide), one value per batch element
        (views: read only).
    t : int
        The step index (feeds the random source; ``reset()`` keeps it).
    rows_written : dict of str to numpy.ndarray
        Which rows the last step wrote: ``"rec"`` (batch, n_rec) and ``"out"``
        (batch, n_out), bool (what a hardware schedule spends its row-write cycles on).

    The step is computed phase by phase by the compiled kernels of ``eligo.model.kernels``;
    phase 4 (the error trigger and weight writes, which only runs on target steps) is numpy.
    """

    def __init__(self, cfg, batch=1):
        if isinstance(batch, bool) or not isinstance(batch, int):
            raise TypeError(f"batch must be an integer, not {batch!r}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch!r}")
        self.cfg = cfg
        self.batch = batch
        self.full = cfg.trace_mode == "full"
        self._params = K.pack_params(cfg)
        self._mode = K.MODE_MARKERS[cfg.rounding]                # datapath rounding
        self._update_mode = K.MODE_MARKERS[cfg.update_rounding]  # weight-update rounding
        self._w_range = _signed_range(cfg.w_bits)
        self.t = 0
        B, c = batch, cfg
        self.rows_written = self._no_rows_written()
        # W is w_in beside w_rec, pre is xbar then zbar: the public names are views of them.
        self._W = np.zeros((B, c.n_rec, c.n_pre), np.int64)
        self._pre = np.zeros((B, c.n_pre), np.int64)
        self.state = {"w_in": self._W[:, :, :c.n_in], "w_rec": self._W[:, :, c.n_in:],
                      "w_out": np.zeros((B, c.n_out, c.n_rec), np.int64),
                      "b": np.zeros((B, c.n_rec, c.n_out), np.int64)}
        self.reset()
        self.clear_counters()

    # -- state management ------------------------------------------------------------------

    def reset(self):
        """Clear the per-sample state (spec section 2); keep weights, counters and ``t``."""
        c, B = self.cfg, self.batch
        shapes = {"v": (c.n_rec,), "a": (c.n_rec,), "ref": (c.n_rec,), "z": (c.n_rec,),
                  "psi": (c.n_rec,), "zout": (c.n_rec,), "y": (c.n_out,), "err": (c.n_out,),
                  "acc": (c.n_rec,), "acc_out": (c.n_out,)}
        if self.full:
            shapes["eps"] = (c.n_alif, c.n_pre)
            shapes["ebar"] = (c.n_rec, c.n_pre)
        for name, shape in shapes.items():
            self.state[name] = np.zeros((B,) + shape, np.int64)
        self._pre[...] = 0
        self.state["xbar"] = self._pre[:, :c.n_in]
        self.state["zbar"] = self._pre[:, c.n_in:]

    def set_params(self, **changes):
        """Change runtime parameters between steps, as a host writing the core's parameter
        registers does. Only fields of the ``runtime`` group are accepted; the new
        configuration is validated first (nothing changes on an error)."""
        from eligo.config import FIELD_GROUPS
        for name in changes:
            if FIELD_GROUPS.get(name) != "runtime":
                raise ValueError(f"{name!r} is not a runtime parameter; only the runtime "
                                 f"group may change between steps")
        cfg = self.cfg.replace(**changes)
        self.cfg, self._params = cfg, K.pack_params(cfg)

    def clear_counters(self):
        self._counts = np.zeros((self.batch, len(COUNTER_NAMES)), np.int64)

    @property
    def counters(self):
        return {name: self._counts[:, i] for i, name in enumerate(COUNTER_NAMES)}

    def load_weights(self, w_in, w_rec, w_out, b=None):
        """Load weights, shaped per core or with a leading batch axis (broadcast to all).

        Raises ``ValueError`` naming the matrix for a wrong shape, a value outside the
        ``w_bits`` range, or a nonzero ``w_rec`` diagonal; nothing is loaded then.
        """
        c = self.cfg
        lo, hi = self._w_range
        new = {}
        given = {"w_in": (w_in, (c.n_rec, c.n_in)), "w_rec": (w_rec, (c.n_rec, c.n_rec)),
                 "w_out": (w_out, (c.n_out, c.n_rec))}
        if b is not None:
            given["b"] = (b, (c.n_rec, c.n_out))
        for name, (value, shape) in given.items():
            arr = _as_int_array(value, name)
            if arr.shape not in (shape, (self.batch,) + shape):
                raise ValueError(f"{name} must have shape {shape} or {(self.batch,) + shape}, "
                                 f"not {arr.shape}")
            bad = (arr < lo) | (arr > hi)
            if bad.any():
                raise ValueError(f"{name} values must lie in [{lo}, {hi}] (w_bits={c.w_bits}), "
                                 f"not {arr[bad].flat[0]} at {tuple(np.argwhere(bad)[0])}")
            new[name] = np.broadcast_to(arr, (self.batch,) + shape)
        diag = np.diagonal(new["w_rec"], axis1=-2, axis2=-1)
        if diag.any():
            raise ValueError("w_rec must have a zero diagonal (no self-connections), not "
                             f"{diag[diag != 0].flat[0]} on it")
        for name, arr in new.items():
            self.state[name][...] = arr

    def snapshot(self):
        """A copy of every state variable and counter, plus ``t``."""
        snap = {name: arr.copy() for name, arr in self.state.items()}
        snap.update({name: arr.copy() for name, arr in self.counters.items()})
        snap["t"] = self.t
        return snap

    # -- one timestep (spec section 3) -----------------------------------------------------

    def step(self, x, ystar=None, mask=None, learn=None):
        """Advance every core by one step; returns the streamed outputs ``(z, y)``.

        ``x``: input spikes, shape (batch, n_in), values 0 or 1. ``ystar`` and ``mask``:
        targets (within the ``y_bits`` range) and which readouts carry one, shape
        (batch, n_out); both None for a step without targets. ``learn`` defaults to cfg.learn.
        """
        st, p, counts = self.state, self._params, self._counts
        x = self._check_events(x)
        ystar, mask = self._check_targets(ystar, mask)
        learn = self.cfg.learn if learn is None else bool(learn)
        self.rows_written = self._no_rows_written()
        p[K.P_T] = self.t
        z_old, psi_old = st["z"], st["psi"]
        z, psi = np.empty_like(z_old), np.empty_like(psi_old)

        K.neuron_phase(self._W, x, z_old, st["v"], st["a"], st["ref"], z, psi, p, counts,
                       self._mode)
        st["z"], st["psi"] = z, psi
        if learn:
            pre_old = self._pre.copy()
            K.trace_phase(self._pre, x, z_old, st["zout"], z, p, counts, self._mode)
            if self.full:
                K.sweep_full(st["eps"], st["ebar"], psi_old, pre_old, psi, self._pre, p, counts,
                             self._mode)
        K.readout_phase(st["w_out"], z, st["y"], ystar, mask, st["err"], p, counts, self._mode)
        if learn and mask.any():
            self._learn(mask.any(axis=1))

        np.minimum(counts, self.cfg.counter_max, out=counts)
        self.t += 1
        return StepOutput(z.copy(), st["y"].copy())

    # -- phase 4: error trigger and weight writes (numpy) -----------------------------------

    def _round(self, x, s, mode, site, rows, cols):
        """R / Ru of spec 1.1 with rounding ``mode`` at this step."""
        return K.round_shift(x, s, ROUND_MODES[mode], self.cfg.seed, self.t, SITES[site],
                             rows, cols)

    def _sat(self, x, lo, hi, name):
        """Clamp ``x`` (batch, n) in place to [lo, hi], counting clamps into sat_<name>."""
        if x.min() >= lo and x.max() <= hi:
            return x
        self._counts[:, COUNTER_NAMES.index(f"sat_{name}")] += ((x < lo) | (x > hi)).sum(axis=1)
        np.clip(x, lo, hi, out=x)
        return x

    def _learn(self, has_target):
        """Phase 4 for the cores whose step carries a target (``has_target``, per core)."""
        c, st = self.cfg, self.state
        err = st["err"]
        feedback = np.swapaxes(st["w_out"], 1, 2) if c.feedback == "symmetric" else st["b"]
        signal = np.matmul(feedback, err[:, :, None])[:, :, 0]
        if c.homeo_gain:  # (only where a target is: a core without one keeps its state)
            homeo = c.homeo_gain * (st["zout"] - c.homeo_target)
            signal += np.where(has_target[:, None], homeo, 0)
        L = self._round(signal, c.l_shift, c.rounding, "L", np.arange(c.n_rec)[None, :], 0)
        L_out = self._round(err, c.err_to_acc_shift, c.rounding, "LOUT",
                            np.arange(c.n_out)[None, :], 0)
        q = self._trigger("acc", L, c.trigger, has_target)
        q_out = self._trigger("acc_out", L_out, c.trigger_out, has_target)
        self.rows_written = {"rec": q != 0, "out": q_out != 0}
        # The recurrent rows read w_out (feedback) above, so writing w_out after is safe.
        self._write_rec_rows(q)
        self._write_out_rows(q_out)

    def _no_rows_written(self):
        return {"rec": np.zeros((self.batch, self.cfg.n_rec), bool),
                "out": np.zeros((self.batch, self.cfg.n_out), bool)}

    def _trigger(self, name, signal, threshold, has_target):
        c, st = self.cfg, self.state
        acc = signal + st[name] if c.accumulate_error else signal.copy()
        acc = self._sat(acc, *_signed_range(c.acc_bits), name)
        q = np.sign(acc) * np.minimum(c.q_max, np.abs(acc) // threshold)
        q[~has_target] = 0
        st[name] = np.where(has_target[:, None], acc - q * threshold, st[name])
        return q

    def _write_rec_rows(self, q):
        c, st = self.cfg, self.state
        b_idx, j_idx = np.nonzero(q)
        if len(b_idx) == 0:
            return
        if self.full:
            ebar = st["ebar"][b_idx, j_idx]
        else:
            ebar = np.empty((len(b_idx), c.n_pre), np.int64)
            K.eligibility_rows(b_idx, j_idx, st["psi"], self._pre, self._params, ebar,
                               self._counts, self._mode)
        K.write_rows(self._W, b_idx, j_idx, q[b_idx, j_idx], ebar, c.eta, c.lr_shift,
                     self._params, SITES["W"], c.n_in, *self._w_range, self._counts, K.C_W,
                     self._update_mode)
        self._count_rows(b_idx, c.n_pre - 1)

    def _write_out_rows(self, q_out):
        c, st = self.cfg, self.state
        b_idx, k_idx = np.nonzero(q_out)
        if len(b_idx) == 0:
            return
        K.write_rows(st["w_out"], b_idx, k_idx, q_out[b_idx, k_idx], st["zout"][b_idx],
                     c.eta_out, c.lr_out_shift, self._params, SITES["WOUT"], -1,
                     *self._w_range, self._counts, K.C_W_OUT, self._update_mode)
        self._count_rows(b_idx, c.n_rec)

    def _count_rows(self, b_idx, writes_per_row):
        rows = np.bincount(b_idx, minlength=self.batch)
        self._counts[:, K.C_ROWS] += rows
        self._counts[:, K.C_WRITES] += rows * writes_per_row

    # -- input checks -----------------------------------------------------------------------

    def _check_events(self, x):
        c = self.cfg
        x = _as_int_array(x, "events")
        if x.shape == (c.n_in,) and self.batch == 1:
            x = x[None]
        if x.shape != (self.batch, c.n_in):
            raise ValueError(f"events must have shape {(self.batch, c.n_in)}, not {x.shape}")
        if ((x != 0) & (x != 1)).any():
            raise ValueError(f"events must be 0 or 1, not {x[(x != 0) & (x != 1)].flat[0]}")
        return x

    def _check_targets(self, ystar, mask):
        c, shape = self.cfg, (self.batch, self.cfg.n_out)
        if ystar is None and mask is None:
            return np.zeros(shape, np.int64), np.zeros(shape, bool)
        if ystar is None or mask is None:
            raise ValueError("targets and target mask must be given together")
        ystar = _as_int_array(ystar, "targets")
        mask = np.asarray(mask)
        if ystar.shape == (c.n_out,) and self.batch == 1:
            ystar, mask = ystar[None], mask[None]
        for name, arr in (("targets", ystar), ("target mask", mask)):
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, not {arr.shape}")
        if mask.dtype != bool:
            mask = _as_int_array(mask, "target mask")
            if ((mask != 0) & (mask != 1)).any():
                raise ValueError("target mask must be 0/1 or bool")
            mask = mask.astype(bool)
        lo, hi = _signed_range(c.y_bits)
        bad = mask & ((ystar < lo) | (ystar > hi))
        if bad.any():
            raise ValueError(f"targets must lie in [{lo}, {hi}] (y_bits={c.y_bits}), "
                             f"not {ystar[bad].flat[0]}")
        return np.where(mask, ystar, 0), mask

    # -- whole sequences ---------------------------------------------------------------------

    def run(self, inputs, ystar=None, mask=None, learn=None, record=False):
        """Run ``T`` steps; equal to calling :meth:`step` ``T`` times.

        ``inputs``: (T, batch, n_in); ``ystar``, ``mask``: (T, batch, n_out) or None.
        Returns a dict with ``z`` (T, batch, n_rec) and ``y`` (T, batch, n_out); with
        ``record`` (True, or a list of state/counter names) also every recorded variable
        after every step, stacked on a leading time axis.
        """
        inputs = _as_int_array(inputs, "inputs")
        if inputs.ndim == 2 and self.batch == 1:
            inputs = inputs[:, None]
            ystar = None if ystar is None else np.asarray(ystar)[:, None]
            mask = None if mask is None else np.asarray(mask)[:, None]
        if inputs.ndim != 3:
            raise ValueError(f"inputs must have shape (T, {self.batch}, {self.cfg.n_in}), "
                             f"not {inputs.shape}")
        T = inputs.shape[0]
        for name, arr in (("targets", ystar), ("target mask", mask)):
            if arr is not None and len(arr) != T:
                raise ValueError(f"{name} must have {T} steps like the inputs, not {len(arr)}")
        names = list(self.snapshot()) if record is True else list(record or [])
        trace = {name: [] for name in names}
        zs, ys = [], []
        for t in range(T):
            out = self.step(inputs[t], None if ystar is None else ystar[t],
                            None if mask is None else mask[t], learn)
            zs.append(out.z)
            ys.append(out.y)
            for name in names:
                trace[name].append(self._value(name))
        result = {"z": np.stack(zs) if zs else np.zeros((0, self.batch, self.cfg.n_rec), np.int64),
                  "y": np.stack(ys) if ys else np.zeros((0, self.batch, self.cfg.n_out), np.int64)}
        for name in names:
            result[name] = np.stack(trace[name]) if trace[name] else np.zeros(0)
        return result

    def _value(self, name):
        if name == "t":
            return np.int64(self.t)
        if name in self.counters:
            return self.counters[name].copy()
        if name not in self.state:
            raise ValueError(f"cannot record {name!r}: no such state variable or counter "
                             f"in this configuration")
        return self.state[name].copy()


def _as_int_array(value, name):
    arr = np.asarray(value)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) \
                and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise TypeError(f"{name} must be integers, not an array of {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def random_weights(cfg, seed, scale=0.5):
    """Random initial weights (a numpy Generator from ``seed``): Gaussian with standard
    deviation ``scale`` membrane units / sqrt(fan-in), rounded and clipped to ``w_bits``;
    ``w_rec`` has a zero diagonal. Returns ``(w_in, w_rec, w_out, b)``."""
    gen = np.random.default_rng(seed)
    lo, hi = _signed_range(cfg.w_bits)
    unit = 2.0**cfg.w_frac

    def draw(shape, fan_in):
        w = gen.normal(0.0, scale * unit / np.sqrt(fan_in), size=shape)
        return np.clip(np.round(w), lo, hi).astype(np.int64)

    w_in = draw((cfg.n_rec, cfg.n_in), cfg.n_in)
    w_rec = draw((cfg.n_rec, cfg.n_rec), cfg.n_rec)
    np.fill_diagonal(w_rec, 0)
    w_out = draw((cfg.n_out, cfg.n_rec), cfg.n_rec)
    b = draw((cfg.n_rec, cfg.n_out), cfg.n_out)
    return w_in, w_rec, w_out, b
