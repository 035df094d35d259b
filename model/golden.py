"""The golden model: docs/spec.md as vectorized numpy integer code.

Every value is an int64 numpy array with a leading batch axis: ``batch`` independent cores with
one configuration (each has its own weights, state and counters). The configuration guarantees
that no intermediate needs more than 62 bits, so int64 arithmetic here is exact.
"""

import numpy as np

from .kernels import ROUND_MODES, SITES, eligibility_rows, round_shift, sweep_full

__all__ = ["GoldenModel", "StepOutput", "STATE_NAMES", "COUNTER_NAMES", "SAT_NAMES",
           "random_weights"]

SAT_NAMES = ("v", "a", "xbar", "zbar", "eps", "e", "ebar", "zout", "y", "err", "acc",
             "acc_out", "w", "w_out")
COUNTER_NAMES = ("spikes", "row_updates", "weight_writes") + tuple(f"sat_{n}" for n in SAT_NAMES)
# Per-sample state cleared by reset(); eps and ebar exist in "full" trace mode only.
SAMPLE_STATE = ("v", "a", "ref", "z", "psi", "xbar", "zbar", "eps", "ebar", "zout", "y", "err",
                "acc", "acc_out")
WEIGHT_NAMES = ("w_in", "w_rec", "w_out", "b")
STATE_NAMES = SAMPLE_STATE + WEIGHT_NAMES
COUNTER_MAX = 2**32 - 1


class StepOutput(tuple):
    """What the core streams out at the end of a step: spikes ``z`` and readouts ``y``."""
    __slots__ = ()

    def __new__(cls, z, y):
        return super().__new__(cls, (z, y))

    z = property(lambda self: self[0])
    y = property(lambda self: self[1])


def _signed_range(bits):
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _unsigned_range(bits):
    return 0, (1 << bits) - 1


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
        The 32-bit saturating counters, one value per batch element.
    t : int
        The step index (feeds the random source; ``reset()`` keeps it).
    """

    def __init__(self, cfg, batch=1):
        if isinstance(batch, bool) or not isinstance(batch, int):
            raise TypeError(f"batch must be an integer, not {batch!r}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch!r}")
        self.cfg = cfg
        self.batch = batch
        self.full = cfg.trace_mode == "full"
        c = cfg
        self._alif = np.arange(c.n_rec - c.n_alif, c.n_rec)
        self._beta_j = np.where(np.arange(c.n_rec) >= c.n_rec - c.n_alif, c.beta, 0)
        self._cols = np.arange(c.n_pre)[None, :]
        self._w_range = _signed_range(c.w_bits)
        self.t = 0
        B = batch
        # W is w_in beside w_rec; the public w_in/w_rec are views of it.
        self._W = np.zeros((B, c.n_rec, c.n_pre), np.int64)
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
                  "psi": (c.n_rec,), "xbar": (c.n_in,), "zbar": (c.n_rec,),
                  "zout": (c.n_rec,), "y": (c.n_out,), "err": (c.n_out,), "acc": (c.n_rec,),
                  "acc_out": (c.n_out,)}
        if self.full:
            shapes["eps"] = (c.n_alif, c.n_pre)
            shapes["ebar"] = (c.n_rec, c.n_pre)
        for name, shape in shapes.items():
            self.state[name] = np.zeros((B,) + shape, np.int64)

    def clear_counters(self):
        self.counters = {name: np.zeros(self.batch, np.int64) for name in COUNTER_NAMES}

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

    # -- arithmetic primitives (spec section 1) --------------------------------------------

    def _round(self, x, s, mode, site, rows, cols):
        """R / Ru: shift right by ``s`` with rounding ``mode``; ``s <= 0`` shifts left."""
        return round_shift(x, s, ROUND_MODES[mode], self.cfg.seed, self.t, SITES[site],
                           rows, cols)

    def _r(self, x, s, site, rows=0, cols=0):
        return self._round(x, s, self.cfg.rounding, site, rows, cols)

    def _sat(self, x, lo, hi, name, batch_index=None):
        """Clamp ``x`` in place to [lo, hi], counting the clamped values into sat_<name>."""
        if x.size == 0 or (x.min() >= lo and x.max() <= hi):
            return x
        clamped = (x < lo) | (x > hi)
        if batch_index is None:
            counts = clamped.reshape(self.batch, -1).sum(axis=1)
        else:
            counts = np.bincount(batch_index, weights=clamped.reshape(len(batch_index), -1)
                                 .sum(axis=1), minlength=self.batch).astype(np.int64)
        self._count(f"sat_{name}", counts)
        np.clip(x, lo, hi, out=x)
        return x

    def _count(self, name, amount):
        total = self.counters[name] + amount
        np.minimum(total, COUNTER_MAX, out=total)
        self.counters[name] = total

    # -- one timestep (spec section 3) -----------------------------------------------------

    def step(self, x, ystar=None, mask=None, learn=None):
        """Advance every core by one step; returns the streamed outputs ``(z, y)``.

        ``x``: input spikes, shape (batch, n_in), values 0 or 1. ``ystar`` and ``mask``:
        targets (within the ``y_bits`` range) and which readouts carry one, shape
        (batch, n_out); both None for a step without targets. ``learn`` defaults to cfg.learn.
        """
        c, st = self.cfg, self.state
        x = self._check_events(x)
        ystar, mask = self._check_targets(ystar, mask)
        learn = c.learn if learn is None else bool(learn)
        D = c.decay_bits
        z_old, pre_old, psi_old = st["z"], self._pre(), st["psi"]

        # Phase 1: synaptic input and neurons. (Phase 1's eps_a update depends only on step
        # t-1's values, so the synapse sweep of phase 2 does it: one pass over the memory.)
        s = np.concatenate([x, z_old], axis=1)
        I = np.matmul(self._W, s[:, :, None])[:, :, 0]
        self._update_neurons(I, z_old)

        # Phase 2: traces and eligibility.
        if learn:
            spike = 1 << c.trace_frac
            t_hi = _unsigned_range(c.trace_bits)[1]
            xbar = self._r(st["xbar"] * c.alpha, D, "PRE", 0, np.arange(c.n_in)) + x * spike
            st["xbar"] = self._sat(xbar, 0, t_hi, "xbar")
            zbar = (self._r(st["zbar"] * c.alpha, D, "PRE", 0, c.n_in + np.arange(c.n_rec))
                    + z_old * spike)
            st["zbar"] = self._sat(zbar, 0, t_hi, "zbar")
            if self.full:
                self._sweep(psi_old, pre_old)
            zout = self._r(st["zout"] * c.kappa, D, "ZOUT", 0, np.arange(c.n_rec)) \
                + st["z"] * spike
            st["zout"] = self._sat(zout, 0, t_hi, "zout")

        # Phase 3: readout and error.
        y_in = np.matmul(st["w_out"], st["z"][:, :, None])[:, :, 0] << c.out_shift
        y = self._r(st["y"] * c.kappa, D, "Y", np.arange(c.n_out)[None, :], 0) + y_in
        st["y"] = self._sat(y, *_signed_range(c.y_bits), "y")
        err = np.where(mask, st["y"] - ystar, 0)
        st["err"] = self._sat(err, *_signed_range(c.err_bits), "err")

        # Phase 4: error trigger and weight writes.
        if learn and mask.any():
            self._learn(mask.any(axis=1))

        self._count("spikes", st["z"].sum(axis=1))
        self.t += 1
        return StepOutput(st["z"].copy(), st["y"].copy())

    def _pre(self):
        return np.concatenate([self.state["xbar"], self.state["zbar"]], axis=1)

    def _kernel_params(self):
        c = self.cfg
        return np.array([ROUND_MODES[c.rounding], c.seed, self.t, c.decay_bits, c.psi_bits,
                         c.eps_shift, c.v_frac, c.e_shift, c.beta, c.kappa,
                         *_signed_range(c.eps_bits), *_signed_range(c.e_bits)], np.int64)

    def _sweep(self, psi_old, pre_old):
        """Full mode: eps_a (phase 1), e and ebar (phase 2) for every synapse, in place."""
        c, st = self.cfg, self.state
        psi_a = psi_old[:, self._alif]
        g = c.rho - self._r(psi_a * c.beta, c.g_shift, "G", self._alif[None, :], 0)
        counts = np.zeros((self.batch, 3), np.int64)
        sweep_full(st["eps"], st["ebar"], psi_old, pre_old, g, st["psi"], self._pre(),
                   c.n_rec - c.n_alif, self._kernel_params(), counts)
        for k, name in enumerate(("eps", "e", "ebar")):
            if counts[:, k].any():
                self._count(f"sat_{name}", counts[:, k])

    def _update_neurons(self, I, z_old):
        c, st = self.cfg, self.state
        D = c.decay_bits
        rows = np.arange(c.n_rec)[None, :]
        dv = self._r(st["v"] * c.alpha, D, "V", rows, 0)
        drive = I << c.syn_shift
        if c.reset == "subtract":
            v = dv + drive - z_old * c.theta
        else:
            v = np.where(z_old != 0, 0, dv) + drive
        v = self._sat(v, *_signed_range(c.v_bits), "v")
        if c.n_alif:
            a = self._r(st["a"] * c.rho, D, "A", rows, 0) + (z_old << c.a_frac)
            a[:, :c.n_lif] = 0
            a = self._sat(a, *_unsigned_range(c.a_bits), "a")
        else:
            a = st["a"]
        threshold = c.theta * (1 << c.a_frac) + self._beta_j * a
        v_scaled = v << c.a_frac
        refractory = st["ref"] > 0
        z = ((v_scaled > threshold) & ~refractory).astype(np.int64)
        unit = 1 << (c.v_frac + c.a_frac)
        h = np.maximum(unit - np.abs(v_scaled - threshold), 0)
        psi = self._r(c.gamma * h, c.psi_shift, "PSI", rows, 0)
        psi[refractory] = 0
        st["ref"] = np.where(z != 0, c.refractory, np.maximum(st["ref"] - 1, 0))
        st["v"], st["a"], st["z"], st["psi"] = v, a, z, psi

    def _learn(self, has_target):
        """Phase 4 for the cores whose step carries a target (``has_target``, per core)."""
        c, st = self.cfg, self.state
        err = st["err"]
        feedback = np.swapaxes(st["w_out"], 1, 2) if c.feedback == "symmetric" else st["b"]
        L = self._r(np.matmul(feedback, err[:, :, None])[:, :, 0],
                    c.l_shift, "L", np.arange(c.n_rec)[None, :], 0)
        L_out = self._r(err, c.err_to_acc_shift, "LOUT", np.arange(c.n_out)[None, :], 0)
        acc_range = _signed_range(c.acc_bits)
        q = self._trigger("acc", L, c.trigger, acc_range, has_target)
        q_out = self._trigger("acc_out", L_out, c.trigger_out, acc_range, has_target)
        # Readout weights first is safe: the recurrent update above already read w_out.
        self._write_rec_rows(q)
        self._write_out_rows(q_out)

    def _trigger(self, name, signal, threshold, acc_range, has_target):
        c, st = self.cfg, self.state
        acc = signal + st[name] if c.accumulate_error else signal.copy()
        acc = self._sat(acc, *acc_range, name)
        q = np.sign(acc) * np.minimum(c.q_max, np.abs(acc) // threshold)
        q[~has_target] = 0
        st[name] = np.where(has_target[:, None], acc - q * threshold, st[name])
        return q

    def _write_rec_rows(self, q):
        c, st = self.cfg, self.state
        b_idx, j_idx = np.nonzero(q)
        if len(b_idx) == 0:
            return
        rows = j_idx[:, None]
        if self.full:
            ebar = st["ebar"][b_idx, j_idx]
        else:
            # Factored: e of the written synapses only (not the diagonal), from this step's
            # psi and pre.
            ebar = np.empty((len(b_idx), c.n_pre), np.int64)
            clamps = np.zeros(len(b_idx), np.int64)
            eligibility_rows(st["psi"][b_idx, j_idx], self._pre()[b_idx], j_idx,
                             c.n_in + j_idx, self._kernel_params(), ebar, clamps)
            self._count("sat_e", np.bincount(b_idx, weights=clamps, minlength=self.batch)
                        .astype(np.int64))
        qv = q[b_idx, j_idx][:, None]
        dw = self._round(c.eta * qv * ebar, c.lr_shift, c.update_rounding, "W", rows, self._cols)
        old = self._W[b_idx, j_idx]
        new = self._sat_rows(old - dw, *self._w_range, "w", b_idx, keep=(j_idx, old))
        self._W[b_idx, j_idx] = new
        self._count_rows(b_idx, c.n_pre - 1)

    def _write_out_rows(self, q_out):
        c, st = self.cfg, self.state
        b_idx, k_idx = np.nonzero(q_out)
        if len(b_idx) == 0:
            return
        qv = q_out[b_idx, k_idx][:, None]
        dw = self._round(c.eta_out * qv * st["zout"][b_idx], c.lr_out_shift, c.update_rounding,
                         "WOUT", k_idx[:, None], np.arange(c.n_rec)[None, :])
        new = self._sat_rows(st["w_out"][b_idx, k_idx] - dw, *self._w_range, "w_out", b_idx)
        st["w_out"][b_idx, k_idx] = new
        self._count_rows(b_idx, c.n_rec)

    def _sat_rows(self, rows, lo, hi, name, b_idx, keep=None):
        """Saturate gathered rows (one per triggered row), counting per batch element.

        ``keep=(j_idx, old)`` leaves the diagonal synapse of each recurrent row unwritten.
        """
        if keep is not None:
            j_idx, old = keep
            diag = self.cfg.n_in + j_idx
            rows[np.arange(len(j_idx)), diag] = old[np.arange(len(j_idx)), diag]
        return self._sat(rows, lo, hi, name, batch_index=b_idx)

    def _count_rows(self, b_idx, writes_per_row):
        rows = np.bincount(b_idx, minlength=self.batch).astype(np.int64)
        self._count("row_updates", rows)
        self._count("weight_writes", rows * writes_per_row)

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
