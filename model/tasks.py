"""Seeded spiking benchmark tasks: cue accumulation, random manifolds, pattern generation.

Every task is generated from an integer seed with numpy alone; nothing is downloaded.

Conventions
-----------
* One time step is ``dt_ms`` milliseconds (1 ms by default). Rates are given in Hz; a channel
  with rate ``r`` spikes at a step with probability ``p = r * dt_ms / 1000`` (a Bernoulli
  approximation of a Poisson process; ``p`` must not exceed 1).
* Inputs are ``x[n, t, i]``, 1 when input channel ``i`` spikes at step ``t`` of sample ``n``
  (uint8, sample-major). The golden model takes time-major input ``(T, batch, n_in)``:
  ``split.x[a:b].transpose(1, 0, 2)``.
* ``target_mask[n, t]`` says at which steps the loss (or the readout's answer) applies.
* :func:`make_task` derives three independent streams from the seed with
  ``numpy.random.SeedSequence(seed).spawn(3)``: one for the task itself (what belongs to the
  task rather than to any sample: the random manifolds of ``randman``, the frozen input of
  ``pattern``), one for the training split and one for the test split. The same seed gives
  identical data; changing ``n_test`` never changes the training set (nor ``n_train`` the test
  set).

Tasks
-----
``cue``: evidence accumulation (Bellec et al. 2020, e-prop, Fig. 3). 40 input channels in four
    groups of 10: left cues (0-9), right cues (10-19), recall cue (20-29), background noise
    (30-39). ``n_cues`` = 7 cues, cue ``k`` occupies steps ``[k * 150, k * 150 + 100)`` (100
    steps of ``cue_rate_hz`` = 40 Hz on its side's group, then 50 steps of silence), then a delay
    of ``delay_steps`` = 1050 steps, then the recall window of ``recall_steps`` = 150 steps where
    the recall group fires at 40 Hz. The noise group fires at ``noise_rate_hz`` = 10 Hz
    throughout. Total 7 * 150 + 1050 + 150 = 2250 steps. Each cue's side is left or right with
    probability 1/2; the label is the majority side (0 left, 1 right; ``n_cues`` must be odd).
    ``target_mask`` is the recall window. ``meta["sides"]`` (N, n_cues) holds each cue's side,
    ``meta["n_right"]`` (N,) how many were right.

``randman``: random manifolds (Zenke & Vogels 2021). ``n_classes`` = 10 classes, ``n_in`` = 20
    channels, each channel spikes exactly once per sample; only spike timing carries
    information. Each class owns a smooth random map ``f_c: [0, 1]^dim -> [0, 1]^n_in``
    (``dim`` = 1): channel ``j`` is ``sum_k A_k sin(2 pi (w_k . u + phi_k))`` over
    ``k = 1 .. n_components`` (5) with ``A_k ~ U(0, 1) / k^alpha`` (``alpha`` = 2),
    ``w_k ~ k * U(0, 1)^dim`` and ``phi_k ~ U(0, 1)``, rescaled to ``[0, 1]`` by its minimum and
    maximum over ``[0, 1]^dim`` (estimated on a grid, then clipped). The maps come from the task
    stream, so train and test share them. A sample of class ``c`` draws ``u ~ U[0, 1]^dim`` from
    its split's stream; channel ``j`` spikes once, at step ``floor(f_c(u)_j * S)`` (at most
    ``S - 1``), where ``S = n_steps`` (100). Classes are balanced in each split (counts differ
    by at most one) and shuffled. ``target_mask`` is every step, or with ``answer_steps = k``
    only the last ``k`` steps; then the spikes are confined to the first ``S = n_steps - k``
    steps so that the answer window is free of input. ``meta["u"]`` (N, dim) holds the
    intrinsic coordinates.

``pattern``: pattern generation (Bellec et al. 2020, e-prop, Fig. 2), a regression. ``n_in`` =
    20 channels of frozen Poisson noise at ``rate_hz`` = 10 Hz for ``n_steps`` = 1000 steps: one
    fixed input pattern per task (from the task stream), the same for every sample of both
    splits unless ``new_input_per_sample`` (then each sample draws its own from its split's
    stream). ``n_out`` = 1 targets, each a sum of sines of frequencies ``freqs_hz`` = (1, 2, 3,
    5) Hz (time ``t * dt_ms``) with amplitudes ``~ U(amp_range)`` = U(0.5, 2) and phases
    ``~ U(0, 2 pi)``, divided by its largest magnitude over the sequence so that it lies in
    ``[-1, 1]`` and touches one of the bounds. Each sample is a different target pattern (from
    its split's stream): with the frozen input the samples are independent learning problems
    (one per core of a batch), as in the paper where a network learns one pattern.
    ``target_mask`` is all True. ``meta["amplitudes"]`` and ``meta["phases"]`` (N, n_out,
    len(freqs_hz)) hold the draws before rescaling.
"""

import dataclasses
import math
import numbers

import numpy as np

__all__ = ["Split", "TaskData", "make_task", "chance_level", "task_defaults", "TASK_NAMES"]

KINDS = ("classification", "regression")

# cue accumulation layout
CUE_GROUP = 10                  # channels per group: left, right, recall, noise
CUE_N_IN = 4 * CUE_GROUP
CUE_TOTAL_STEPS = 2250          # the default trial length
_CUE_DELAY = CUE_TOTAL_STEPS - 7 * (100 + 50) - 150   # 1050: makes the default total 2250

_RANDMAN_GRID_POINTS = 4096     # points on which a manifold's min and max are estimated


# ---------------------------------------------------------------------------------------------
# data structures


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """One split (train or test) of a task: N samples of T steps.

    Attributes
    ----------
    x : ndarray, uint8, (N, T, n_in)
        Input spikes, 0 or 1.
    labels : ndarray, int64, (N,), or None
        Class of each sample (classification), in ``[0, n_classes)``; None for regression.
    targets : ndarray, float64, (N, T, n_out), or None
        Target of each readout at each step (regression); None for classification.
    target_mask : ndarray, bool, (N, T)
        Steps where the loss / target applies.
    kind : {"classification", "regression"}
    n_classes : int or None
        Number of classes (classification), None for regression.
    meta : dict of str to ndarray
        Per-sample extra information; every value has N rows (first axis).

    Raises
    ------
    TypeError, ValueError
        On a wrong type, dtype or shape, naming the field.
    """

    x: np.ndarray
    labels: np.ndarray | None
    targets: np.ndarray | None
    target_mask: np.ndarray
    kind: str
    n_classes: int | None = None
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Split.kind must be one of {KINDS}, not {self.kind!r}")
        x = _check_array("x", self.x, np.uint8, 3)
        n, t, _ = x.shape
        if x.size and x.max() > 1:
            raise ValueError("Split.x must hold only 0 and 1 (spikes)")
        mask = _check_array("target_mask", self.target_mask, np.bool_, 2)
        if mask.shape != (n, t):
            raise ValueError(f"Split.target_mask must have shape (N, T) = {(n, t)}, "
                             f"not {mask.shape}")
        if self.kind == "classification":
            if self.targets is not None:
                raise ValueError("Split.targets must be None for a classification split")
            if (not isinstance(self.n_classes, numbers.Integral) or isinstance(self.n_classes, bool)
                    or self.n_classes < 2):
                raise ValueError(f"Split.n_classes must be an int >= 2 for a classification "
                                 f"split, not {self.n_classes!r}")
            labels = _check_array("labels", self.labels, np.int64, 1)
            if labels.shape != (n,):
                raise ValueError(f"Split.labels must have shape (N,) = {(n,)}, "
                                 f"not {labels.shape}")
            if n and (labels.min() < 0 or labels.max() >= self.n_classes):
                raise ValueError(f"Split.labels must lie in [0, {self.n_classes})")
        else:
            if self.labels is not None:
                raise ValueError("Split.labels must be None for a regression split")
            if self.n_classes is not None:
                raise ValueError("Split.n_classes must be None for a regression split")
            targets = _check_array("targets", self.targets, np.float64, 3)
            if targets.shape[:2] != (n, t):
                raise ValueError(f"Split.targets must have shape (N, T, n_out) with (N, T) = "
                                 f"{(n, t)}, not {targets.shape}")
        if not isinstance(self.meta, dict):
            raise TypeError(f"Split.meta must be a dict, not {type(self.meta).__name__}")
        for key, value in self.meta.items():
            if not isinstance(value, np.ndarray) or value.ndim < 1 or value.shape[0] != n:
                shape = getattr(value, "shape", type(value).__name__)
                raise ValueError(f"Split.meta[{key!r}] must be an array with N = {n} rows, "
                                 f"not {shape}")

    def __len__(self):
        return self.x.shape[0]

    @property
    def n_steps(self):
        """T, steps per sample."""
        return self.x.shape[1]

    @property
    def n_in(self):
        """Input channels."""
        return self.x.shape[2]

    @property
    def n_out(self):
        """Readouts a network needs: ``n_classes``, or the targets' last axis."""
        return self.n_classes if self.kind == "classification" else self.targets.shape[2]


@dataclasses.dataclass(frozen=True, eq=False)
class TaskData:
    """A generated task: its training and test splits, its name and its parameters.

    ``params`` holds every parameter of the generator, defaults filled in, plus nothing else.
    Both splits must agree on kind, steps, input channels and outputs.
    """

    train: Split
    test: Split
    name: str
    params: dict

    def __post_init__(self):
        for which in ("train", "test"):
            if not isinstance(getattr(self, which), Split):
                raise TypeError(f"TaskData.{which} must be a Split, "
                                f"not {type(getattr(self, which)).__name__}")
        if not isinstance(self.name, str):
            raise TypeError(f"TaskData.name must be a str, not {type(self.name).__name__}")
        if not isinstance(self.params, dict):
            raise TypeError(f"TaskData.params must be a dict, not {type(self.params).__name__}")
        for attr in ("kind", "n_steps", "n_in", "n_out", "n_classes"):
            a, b = getattr(self.train, attr), getattr(self.test, attr)
            if a != b:
                raise ValueError(f"TaskData: train and test differ in {attr} ({a!r} vs {b!r})")

    kind = property(lambda self: self.train.kind, doc="'classification' or 'regression'")
    n_steps = property(lambda self: self.train.n_steps, doc="T, steps per sample")
    n_in = property(lambda self: self.train.n_in, doc="input channels")
    n_out = property(lambda self: self.train.n_out, doc="readouts a network needs")
    n_classes = property(lambda self: self.train.n_classes, doc="classes, or None")
    dt_ms = property(lambda self: self.params["dt_ms"], doc="milliseconds per step")

    def check_network(self, cfg, label="the configuration"):
        """Raise ValueError unless a network of ``cfg`` (named ``label`` in the message) can
        take this task: the same input channels, and the same readouts (regression) or at
        least one per class."""
        if self.n_in != cfg.n_in or self.kind == "regression" and self.n_out != cfg.n_out:
            raise ValueError(f"task {self.name!r} has n_in={self.n_in}, n_out={self.n_out}; "
                             f"{label} has n_in={cfg.n_in}, n_out={cfg.n_out}")
        if self.kind == "classification" and cfg.n_out < self.n_classes:
            raise ValueError(f"task {self.name!r} has {self.n_classes} classes but {label} "
                             f"only n_out={cfg.n_out} readouts")


def _check_array(name, value, dtype, ndim):
    if not isinstance(value, np.ndarray):
        raise TypeError(f"Split.{name} must be a numpy array, not {type(value).__name__}")
    if value.dtype != dtype:
        raise TypeError(f"Split.{name} must have dtype {np.dtype(dtype)}, not {value.dtype}")
    if value.ndim != ndim:
        raise ValueError(f"Split.{name} must have {ndim} dimensions, not shape {value.shape}")
    return value


# ---------------------------------------------------------------------------------------------
# parameters

# name -> (default, kind, low, high); kind "int", "float", "bool", "int?" (int or None),
# "floats" (non-empty tuple of floats), "range" (pair lo <= hi). Bounds are inclusive.
_PARAMS = {
    "cue": {
        "n_cues": (7, "int", 1, 1001),
        "cue_steps": (100, "int", 1, None),
        "gap_steps": (50, "int", 0, None),
        "delay_steps": (_CUE_DELAY, "int", 0, None),
        "recall_steps": (150, "int", 1, None),
        "cue_rate_hz": (40.0, "float", 0.0, None),
        "noise_rate_hz": (10.0, "float", 0.0, None),
        "dt_ms": (1.0, "float", 0.0, None),
    },
    "randman": {
        "n_classes": (10, "int", 2, None),
        "n_in": (20, "int", 1, None),
        "dim": (1, "int", 1, 16),
        "alpha": (2.0, "float", 0.0, None),
        "n_components": (5, "int", 1, 1000),
        "n_steps": (100, "int", 1, None),
        "answer_steps": (None, "int?", 1, None),
        "dt_ms": (1.0, "float", 0.0, None),
    },
    "pattern": {
        "n_in": (20, "int", 1, None),
        "n_out": (1, "int", 1, None),
        "n_steps": (1000, "int", 1, None),
        "rate_hz": (10.0, "float", 0.0, None),
        "freqs_hz": ((1.0, 2.0, 3.0, 5.0), "floats", 0.0, None),
        "amp_range": ((0.5, 2.0), "range", 0.0, None),
        "new_input_per_sample": (False, "bool", None, None),
        "dt_ms": (1.0, "float", 0.0, None),
    },
}

TASK_NAMES = tuple(_PARAMS)


def task_defaults(name):
    """The default parameters of task ``name`` as a dict."""
    _check_name(name)
    return {key: spec[0] for key, spec in _PARAMS[name].items()}


def _check_name(name):
    if name not in _PARAMS:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(TASK_NAMES)}")


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _resolve_params(name, given):
    _check_name(name)
    spec = _PARAMS[name]
    unknown = [k for k in given if k not in spec]
    if unknown:
        raise ValueError(f"unknown parameter{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))} for task {name!r}; "
                         f"allowed: {', '.join(spec)}")
    out = {}
    for key, (default, kind, low, high) in spec.items():
        v = given.get(key, default)
        where = f"task {name!r}: parameter {key!r}"
        if kind == "bool":
            if not isinstance(v, (bool, np.bool_)):
                raise ValueError(f"{where} must be True or False, not {v!r}")
            v = bool(v)
        elif kind in ("int", "int?"):
            if v is None and kind == "int?":
                out[key] = None
                continue
            if not _is_int(v):
                raise ValueError(f"{where} must be an int{' or None' if kind == 'int?' else ''}"
                                 f", not {v!r}")
            v = int(v)
            if v < low or (high is not None and v > high):
                bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
                raise ValueError(f"{where} must be {bound}, not {v}")
        elif kind == "float":
            if not _is_real(v):
                raise ValueError(f"{where} must be a finite number, not {v!r}")
            v = float(v)
            if v < low or (key == "dt_ms" and v <= 0):
                raise ValueError(f"{where} must be {'> 0' if key == 'dt_ms' else f'>= {low}'}, "
                                 f"not {v}")
        elif kind in ("floats", "range"):
            try:
                v = tuple(v)
            except TypeError:
                raise ValueError(f"{where} must be a sequence of numbers, not {v!r}") from None
            if not v or not all(_is_real(f) and f > low for f in v):
                raise ValueError(f"{where} must be a non-empty sequence of finite numbers > "
                                 f"{low}, not {v!r}")
            v = tuple(float(f) for f in v)
            if kind == "range" and (len(v) != 2 or v[0] > v[1]):
                raise ValueError(f"{where} must be a pair (low, high) with low <= high, "
                                 f"not {v!r}")
        out[key] = v
    # cross-field checks
    where = f"task {name!r}: parameter"
    for key in ("cue_rate_hz", "noise_rate_hz", "rate_hz"):
        if key in out and out[key] * out["dt_ms"] / 1000 > 1:
            raise ValueError(f"{where} {key!r} = {out[key]} Hz is above one spike per step of "
                             f"{out['dt_ms']} ms")
    if name == "cue" and out["n_cues"] % 2 == 0:
        raise ValueError(f"{where} 'n_cues' must be odd (no ties), not {out['n_cues']}")
    if name == "randman" and out["answer_steps"] is not None \
            and out["answer_steps"] >= out["n_steps"]:
        raise ValueError(f"{where} 'answer_steps' = {out['answer_steps']} must be below "
                         f"n_steps = {out['n_steps']} (the spikes come before the answer window)")
    if name == "pattern":
        nyquist = 500.0 / out["dt_ms"]
        bad = [f for f in out["freqs_hz"] if f >= nyquist]
        if bad:
            raise ValueError(f"{where} 'freqs_hz' {bad} must be below the Nyquist frequency "
                             f"{nyquist} Hz of dt_ms = {out['dt_ms']}")
    return out


# ---------------------------------------------------------------------------------------------
# generators


def make_task(name, n_train, n_test, seed, **params):
    """Generate task ``name`` ("cue", "randman" or "pattern") from ``seed``.

    Parameters
    ----------
    name : str
    n_train, n_test : int
        Samples in each split (0 allowed).
    seed : int
        Non-negative; the same seed and parameters give identical data.
    **params
        Task parameters (see the module docstring and :func:`task_defaults`).

    Returns
    -------
    TaskData

    Raises
    ------
    ValueError
        An unknown task or parameter (naming it and listing the allowed ones), or a bad value.
    """
    p = _resolve_params(name, params)
    for key, n in (("n_train", n_train), ("n_test", n_test)):
        if not _is_int(n) or n < 0:
            raise ValueError(f"{key} must be an int >= 0, not {n!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, not {seed!r}")
    task_ss, train_ss, test_ss = np.random.SeedSequence(int(seed)).spawn(3)
    gen = _GENERATORS[name]
    shared = _SHARED[name](p, np.random.default_rng(task_ss))
    train = gen(p, shared, int(n_train), np.random.default_rng(train_ss))
    test = gen(p, shared, int(n_test), np.random.default_rng(test_ss))
    return TaskData(train=train, test=test, name=name, params=p)


def chance_level(data):
    """Chance performance on ``data`` (a TaskData).

    Classification: the accuracy of guessing, ``1 / n_classes``. Regression: the mean squared
    error of predicting 0 on the test set, over the masked steps and every output.
    """
    if data.kind == "classification":
        return 1.0 / data.n_classes
    test = data.test
    if not test.target_mask.any():
        raise ValueError("chance_level: the test set has no masked steps (is it empty?)")
    return float(np.mean(test.targets[test.target_mask] ** 2))


def _no_shared(p, rng):
    return None


# --- cue accumulation -------------------------------------------------------------------------


def _cue_layout(p):
    period = p["cue_steps"] + p["gap_steps"]
    recall_start = p["n_cues"] * period + p["delay_steps"]
    return period, recall_start, recall_start + p["recall_steps"]


def _cue_split(p, shared, n, rng):
    period, recall_start, total = _cue_layout(p)
    dt = p["dt_ms"]
    p_cue = p["cue_rate_hz"] * dt / 1000
    p_noise = p["noise_rate_hz"] * dt / 1000
    g = CUE_GROUP
    base = np.zeros((total, CUE_N_IN))
    base[recall_start:, 2 * g:3 * g] = p_cue
    base[:, 3 * g:] = p_noise
    x = np.zeros((n, total, CUE_N_IN), np.uint8)
    sides = np.zeros((n, p["n_cues"]), np.int64)
    for i in range(n):
        sides[i] = rng.integers(0, 2, size=p["n_cues"])
        prob = base.copy()
        for k, side in enumerate(sides[i]):
            prob[k * period:k * period + p["cue_steps"], side * g:(side + 1) * g] = p_cue
        x[i] = rng.random(prob.shape) < prob
    n_right = sides.sum(axis=1)
    labels = (2 * n_right > p["n_cues"]).astype(np.int64)
    mask = np.zeros((n, total), bool)
    mask[:, recall_start:] = True
    return Split(x=x, labels=labels, targets=None, target_mask=mask, kind="classification",
                 n_classes=2, meta={"sides": sides, "n_right": n_right})


# --- random manifolds -------------------------------------------------------------------------


def _randman_eval_raw(amp, freq, phase, u):
    """Raw manifold values at points ``u`` (M, dim) for maps with amp/phase (..., n_in, K) and
    freq (..., n_in, K, dim): (..., n_in, M)."""
    arg = freq @ u.T + phase[..., None]                        # (..., n_in, K, M)
    return np.einsum("...k,...km->...m", amp, np.sin(2 * np.pi * arg))


def _randman_shared(p, rng):
    c, j, k, d = p["n_classes"], p["n_in"], p["n_components"], p["dim"]
    order = np.arange(1, k + 1, dtype=float)
    amp = rng.random((c, j, k)) / order ** p["alpha"]
    freq = rng.random((c, j, k, d)) * order[:, None]
    phase = rng.random((c, j, k))
    # min and max of each channel over [0, 1]^dim: on a grid for dim <= 3, else on random points
    if d <= 3:
        m = int(round(_RANDMAN_GRID_POINTS ** (1 / d)))
        axes = np.meshgrid(*[np.linspace(0, 1, m)] * d, indexing="ij")
        grid = np.stack([a.ravel() for a in axes], axis=1)
    else:
        grid = rng.random((_RANDMAN_GRID_POINTS, d))
    values = _randman_eval_raw(amp, freq, phase, grid)            # (c, j, M)
    low, high = values.min(axis=2), values.max(axis=2)          # (c, j)
    return amp, freq, phase, low, high


def _randman_split(p, shared, n, rng):
    amp, freq, phase, low, high = shared
    c, j, d = p["n_classes"], p["n_in"], p["dim"]
    labels = rng.permutation(np.arange(n) % c).astype(np.int64)
    u = rng.random((n, d))
    arg = np.einsum("njkd,nd->njk", freq[labels], u) + phase[labels]
    raw = np.einsum("njk,njk->nj", amp[labels], np.sin(2 * np.pi * arg))    # (n, j)
    span = high[labels] - low[labels]
    value = np.where(span > 0, (raw - low[labels]) / np.where(span > 0, span, 1.0), 0.5)
    value = np.clip(value, 0.0, 1.0)
    answer = p["answer_steps"] or 0
    spike_steps = p["n_steps"] - answer
    times = np.minimum((value * spike_steps).astype(np.int64), spike_steps - 1)   # (n, j)
    x = np.zeros((n, p["n_steps"], j), np.uint8)
    x[np.arange(n)[:, None], times, np.arange(j)[None, :]] = 1
    mask = np.zeros((n, p["n_steps"]), bool)
    mask[:, p["n_steps"] - answer if answer else 0:] = True
    return Split(x=x, labels=labels, targets=None, target_mask=mask, kind="classification",
                 n_classes=c, meta={"u": u})


# --- pattern generation -----------------------------------------------------------------------


def _pattern_input(p, rng, shape):
    return (rng.random(shape) < p["rate_hz"] * p["dt_ms"] / 1000).astype(np.uint8)


def _pattern_shared(p, rng):
    return _pattern_input(p, rng, (p["n_steps"], p["n_in"]))


def _pattern_split(p, frozen, n, rng):
    t_s = np.arange(p["n_steps"]) * p["dt_ms"] / 1000                     # seconds
    freqs = np.asarray(p["freqs_hz"])
    shape = (n, p["n_out"], len(freqs))
    amps = rng.uniform(*p["amp_range"], size=shape)
    phases = rng.uniform(0, 2 * np.pi, size=shape)
    # (n, T, n_out): sum over frequencies
    waves = np.sin(2 * np.pi * freqs[None, None, None, :] * t_s[None, :, None, None]
                   + phases[:, None, :, :])
    targets = np.einsum("ntof,nof->nto", waves, amps)
    peak = np.abs(targets).max(axis=1, keepdims=True)
    targets = targets / np.where(peak > 0, peak, 1.0)
    if p["new_input_per_sample"]:
        x = _pattern_input(p, rng, (n, p["n_steps"], p["n_in"]))
    else:
        x = np.repeat(frozen[None], n, axis=0)
    mask = np.ones((n, p["n_steps"]), bool)
    return Split(x=x, labels=None, targets=targets.astype(np.float64), target_mask=mask,
                 kind="regression", meta={"amplitudes": amps, "phases": phases})


_GENERATORS = {"cue": _cue_split, "randman": _randman_split, "pattern": _pattern_split}
_SHARED = {"cue": _no_shared, "randman": _randman_shared, "pattern": _pattern_shared}
