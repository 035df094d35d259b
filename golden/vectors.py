"""Golden vector files: the golden model's full state, step by step, for a few scenarios.

Each scenario is a small configuration (``preset("tiny")`` with changes), seeded random weights
and a seeded stimulus (input spikes, targets with masks, a per-step learn flag). Together the
scenarios exercise every convention option of :class:`eligo.config.Config` (see ``SCENARIOS``).
The files are what an RTL bench replays: load the initial weights, drive the inputs of every
step, and compare every state variable and counter after every step.

File format (``golden/vectors/<scenario>.txt``, ASCII, ``\\n`` line ends, one final newline)
---------------------------------------------------------------------------------------------

A header of ``# key: value`` lines, exactly these keys in exactly this order::

    # format: eligo-golden-vectors 1
    # scenario: <name>               (equal to the file name without .txt)
    # description: <free text>
    # model_version: <MODEL_VERSION of the generator>
    # seed: <stimulus seed>
    # steps: <T>
    # batch: 1
    # config: <json.dumps(cfg.to_dict(), sort_keys=True)>

then body lines ``NAME STEP V0 V1 ...``: a name, a decimal step index and the values of that
name as decimal integers (arrays flattened in C order; a scalar has one value, an empty array
none), all separated by single spaces. The lines come in a fixed order, which ``layout(cfg,
steps)`` gives:

* step ``-1``: the initial weights ``w_in`` (n_rec x n_in), ``w_rec`` (n_rec x n_rec, zero
  diagonal), ``w_out`` (n_out x n_rec), ``b`` (n_rec x n_out; all zero with symmetric
  feedback). Every other state variable, every counter and ``t`` start at 0.
* for each step ``s`` in ``0 .. T-1``: the inputs of step ``s`` -- ``x`` (n_in, 0/1),
  ``ystar`` (n_out, 0 where the mask is 0), ``mask`` (n_out, 0/1), ``learn`` (one value,
  0/1) -- then the state after step ``s`` (``GoldenModel.snapshot()``): the per-sample state
  variables in ``STATE_NAMES`` order (``eps`` and ``ebar`` only with ``trace_mode = "full"``),
  the weights ``w_in w_rec w_out b``, the counters in ``COUNTER_NAMES`` order, and ``t``
  (``s + 1``). Shapes are those of docs/spec.md section 2, without the batch axis.

A step with ``mask`` all 0 has no target: driving ``ystar``/``mask`` as given is the same as
driving no target. Nothing else is allowed (no blank lines, no comments in the body).
"""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from eligo.config import Config, preset
from eligo.model.golden import GoldenModel, random_weights
from eligo.model.names import COUNTER_NAMES, STATE_NAMES, WEIGHT_NAMES

__all__ = ["FORMAT", "MODEL_VERSION", "VECTOR_DIR", "SCENARIOS", "Scenario", "VectorFile",
           "VectorFileError", "Mismatch", "layout", "stimulus", "generate", "regen", "check",
           "parse", "replay"]

FORMAT = "eligo-golden-vectors 1"
# Bump whenever docs/spec.md (and with it the golden model) changes what is computed, then run
# `eligo golden regen`: files of another version are refused by parse().
MODEL_VERSION = 2
VECTOR_DIR = Path(__file__).resolve().parent / "vectors"

HEADER_KEYS = ("format", "scenario", "description", "model_version", "seed", "steps", "batch",
               "config")
INPUT_NAMES = ("x", "ystar", "mask", "learn")
SAMPLE_NAMES = tuple(n for n in STATE_NAMES if n not in WEIGHT_NAMES)
INIT_STEP = -1


class VectorFileError(ValueError):
    """A golden vector file is malformed; the message names the file and the line."""


# -- scenarios -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Scenario:
    """A named configuration plus the recipe of its seeded stimulus and weights.

    ``changes`` are applied to ``preset(base)``. The stimulus (``stimulus()``) draws, from
    ``numpy.random.default_rng(seed)``: input spikes with probability ``p_in``; target windows
    (the last ``target_len`` steps of every ``target_period``) carrying one target per window and
    readout, uniform in ``+-target_amp`` readout units, each readout masked in with
    probability ``mask_p``. Learning is off in the ``learn_off`` step ranges ``(start, stop)``.
    Weights are ``random_weights(cfg, seed + 1, weight_scale)`` (``b`` zeroed unless feedback
    is random).
    """
    name: str
    description: str
    changes: dict
    seed: int
    steps: int
    base: str = "tiny"
    p_in: float = 0.3
    weight_scale: float = 1.0
    target_period: int = 20
    target_len: int = 6
    target_amp: float = 1.0
    mask_p: float = 1.0
    learn_off: tuple = ()

    def config(self):
        return preset(self.base, **self.changes)


# Small widths everywhere: every saturating variable clamps within a few steps.
_NARROW = dict(
    w_bits=4, w_frac=2, v_bits=8, v_frac=4, a_bits=4, a_frac=2, trace_bits=4, trace_frac=2,
    psi_bits=4, e_bits=4, e_frac=2, eps_bits=4, y_bits=6, y_frac=3, err_bits=4, acc_bits=5,
    acc_frac=3, decay_bits=6, alpha=60, rho=63, kappa=60, theta=16, beta=8, gamma=15,
    eta=4, lr_shift=1, eta_out=2, lr_out_shift=1, trigger=12, trigger_out=12)

_SMALL = dict(n_in=3, n_rec=4, n_out=2)

_SCENARIO_LIST = [
    Scenario(
        "defaults",
        "tiny preset conventions: subtract reset, zero/stochastic rounding, full traces, "
        "symmetric feedback, accumulated error, no refractory period, ternary updates",
        dict(_SMALL, n_alif=2, trigger=1024, trigger_out=1024, seed=11),
        seed=101, steps=60, weight_scale=1.0, p_in=0.35),
    Scenario(
        "zero_reset_floor",
        "reset to zero, floor rounding of datapath and updates, refractory period 2, "
        "random feedback, learning off for the first 30 steps",
        dict(_SMALL, n_alif=2, reset="zero", rounding="floor", update_rounding="floor",
             refractory=2, feedback="random", trigger=1024, trigger_out=1024, lr_shift=2,
             seed=0x5EED),
        seed=202, steps=60, weight_scale=1.0, p_in=0.35, learn_off=((0, 20),)),
    Scenario(
        "stochastic_factored_lif",
        "LIF only, factored traces, stochastic datapath rounding, zero-rounded updates, "
        "per-step error (no accumulation), q_max 3, readouts masked in at random",
        dict(_SMALL, n_alif=0, trace_mode="factored", rounding="stochastic",
             update_rounding="zero", accumulate_error=False, q_max=3, trigger=256,
             trigger_out=256, lr_shift=2, seed=0xDEADBEEF),
        seed=303, steps=60, weight_scale=1.0, p_in=0.35, target_amp=2.0, mask_p=0.7),
    Scenario(
        "lif_full_random",
        "LIF only, full traces, random feedback, q_max 2, refractory period 3, "
        "learning off in the middle (steps 25-39)",
        dict(_SMALL, n_alif=0, feedback="random", q_max=2, refractory=3, trigger=512,
             trigger_out=512, lr_shift=3, seed=7),
        seed=404, steps=60, weight_scale=1.0, p_in=0.35, target_amp=2.0,
        learn_off=((25, 40),)),
    Scenario(
        "alif_factored_zero",
        "mixed ALIF with factored traces, reset to zero, floor-rounded updates, "
        "stochastic datapath, q_max 2",
        dict(_SMALL, n_alif=3, trace_mode="factored", reset="zero", rounding="stochastic",
             update_rounding="floor", q_max=2, trigger=1024, trigger_out=1024, seed=99),
        seed=512, steps=60, weight_scale=1.0, p_in=0.35, target_amp=1.5),
    Scenario(
        "all_alif_stochastic",
        "every neuron ALIF, stochastic rounding everywhere, no error accumulation, "
        "q_max 7, refractory period 1, learning off at the end",
        dict(_SMALL, n_alif=4, rounding="stochastic", update_rounding="stochastic",
             accumulate_error=False, q_max=7, refractory=1, trigger=256, trigger_out=256,
             beta=2048, lr_shift=3, seed=2024),
        seed=606, steps=60, weight_scale=1.0, p_in=0.35, target_amp=2.0,
        learn_off=((50, 60),)),
    Scenario(
        "homeostasis",
        "mixed ALIF, full traces, the homeostatic term in the learning signal (each neuron's "
        "zout held towards one spike's worth), floor-rounded datapath",
        dict(_SMALL, n_alif=2, rounding="floor", trigger=1024, trigger_out=1024,
             homeo_gain=200, homeo_target=128, seed=31),
        seed=909, steps=60, weight_scale=1.0, p_in=0.35),
    Scenario(
        "saturate_full",
        "narrow widths and large weights, full traces: every saturation counter counts",
        dict(_NARROW, n_in=3, n_rec=4, n_out=2, n_alif=2, seed=3),
        seed=707, steps=60, weight_scale=3.0, p_in=0.6, target_period=10, target_len=5,
        target_amp=3.5),
    Scenario(
        "saturate_factored",
        "narrow widths and large weights, factored traces (eligibility saturates), "
        "reset to zero, floor rounding, random feedback, q_max 2",
        dict(_NARROW, n_in=3, n_rec=4, n_out=2, n_alif=1, trace_mode="factored",
             reset="zero", rounding="floor", update_rounding="zero", feedback="random",
             q_max=2, seed=4),
        seed=808, steps=60, weight_scale=3.0, p_in=0.5, target_period=10, target_len=5,
        target_amp=3.5),
]

SCENARIOS = {sc.name: sc for sc in _SCENARIO_LIST}


def _scenario(name):
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


# -- layout ----------------------------------------------------------------------------------------

def _shapes(cfg):
    """Shape (without the batch axis) of every name that a file holds, in file order."""
    n_in, n_rec, n_out, n_pre = cfg.n_in, cfg.n_rec, cfg.n_out, cfg.n_pre
    vec = {"v": n_rec, "a": n_rec, "ref": n_rec, "z": n_rec, "psi": n_rec, "xbar": n_in,
           "zbar": n_rec, "zout": n_rec, "y": n_out, "err": n_out, "acc": n_rec,
           "acc_out": n_out}
    mats = {"eps": (cfg.n_alif, n_pre), "ebar": (n_rec, n_pre), "w_in": (n_rec, n_in),
            "w_rec": (n_rec, n_rec), "w_out": (n_out, n_rec), "b": (n_rec, n_out)}
    shapes = {"x": (n_in,), "ystar": (n_out,), "mask": (n_out,), "learn": ()}
    for name in SAMPLE_NAMES:
        if name in ("eps", "ebar") and cfg.trace_mode != "full":
            continue
        shapes[name] = (vec[name],) if name in vec else mats[name]
    for name in WEIGHT_NAMES:
        shapes[name] = mats[name]
    for name in COUNTER_NAMES + ("t",):
        shapes[name] = ()
    return shapes


def _state_names(cfg):
    return [n for n in _shapes(cfg) if n not in INPUT_NAMES]


def layout(cfg, steps):
    """The body lines of a file, in order: ``[(name, step, shape), ...]``."""
    shapes = _shapes(cfg)
    lines = [(name, INIT_STEP, shapes[name]) for name in WEIGHT_NAMES]
    per_step = list(INPUT_NAMES) + _state_names(cfg)
    for s in range(steps):
        lines.extend((name, s, shapes[name]) for name in per_step)
    return lines


# -- stimulus and simulation -----------------------------------------------------------------------

def stimulus(scenario, cfg=None):
    """Weights and inputs of a scenario: ``(weights, inputs)``, both dicts of int64 arrays.

    ``weights``: ``w_in w_rec w_out b``. ``inputs``: ``x`` (T, n_in), ``ystar`` and ``mask``
    (T, n_out), ``learn`` (T,).
    """
    sc = _scenario(scenario) if isinstance(scenario, str) else scenario
    cfg = cfg or sc.config()
    T = sc.steps
    gen = np.random.default_rng(sc.seed)
    x = (gen.random((T, cfg.n_in)) < sc.p_in).astype(np.int64)
    steps = np.arange(T)
    window = steps % sc.target_period >= sc.target_period - sc.target_len
    n_windows = -(-T // sc.target_period)
    amp = int(round(sc.target_amp * 2**cfg.y_frac))
    lo, hi = -(1 << (cfg.y_bits - 1)), (1 << (cfg.y_bits - 1)) - 1
    targets = np.clip(gen.integers(-amp, amp + 1, size=(n_windows, cfg.n_out)), lo, hi)
    ystar = targets[steps // sc.target_period]
    mask = window[:, None] & (gen.random((T, cfg.n_out)) < sc.mask_p)
    ystar = np.where(mask, ystar, 0).astype(np.int64)
    learn = np.ones(T, np.int64)
    for start, stop in sc.learn_off:
        learn[start:stop] = 0
    w_in, w_rec, w_out, b = random_weights(cfg, sc.seed + 1, sc.weight_scale)
    if cfg.feedback != "random":
        b = np.zeros_like(b)
    weights = {"w_in": w_in, "w_rec": w_rec, "w_out": w_out, "b": b}
    inputs = {"x": x, "ystar": ystar, "mask": mask.astype(np.int64), "learn": learn}
    return weights, inputs


def _simulate(cfg, weights, inputs):
    """Run the golden model (batch 1); yields ``(step, snapshot without the batch axis)``."""
    model = GoldenModel(cfg, 1)
    model.load_weights(weights["w_in"], weights["w_rec"], weights["w_out"], weights["b"])
    names = _state_names(cfg)
    shapes = _shapes(cfg)
    for s in range(len(inputs["x"])):
        model.step(inputs["x"][s][None], inputs["ystar"][s][None],
                   inputs["mask"][s][None].astype(bool), learn=bool(inputs["learn"][s]))
        snap = model.snapshot()
        if set(snap) != set(names):
            raise RuntimeError(
                "the golden model's snapshot() names changed (got "
                f"{sorted(set(snap) ^ set(names))} extra/missing): update golden/vectors.py, "
                "bump MODEL_VERSION and regenerate")
        state = {}
        for name in names:
            value = np.asarray(snap[name])
            value = value[0] if value.ndim else value
            if value.shape != shapes[name]:
                raise RuntimeError(f"golden model {name} has shape {value.shape}, the vector "
                                   f"format expects {shapes[name]}")
            state[name] = value
        yield s, state


def _line(name, step, values):
    vals = np.asarray(values).ravel().tolist()
    return " ".join([name, str(step)] + [str(int(v)) for v in vals])


def _header(sc, cfg):
    return {"format": FORMAT, "scenario": sc.name, "description": sc.description,
            "model_version": str(MODEL_VERSION), "seed": str(sc.seed), "steps": str(sc.steps),
            "batch": "1", "config": json.dumps(cfg.to_dict(), sort_keys=True)}


def generate(name):
    """The text of the vector file of scenario ``name``."""
    sc = _scenario(name)
    cfg = sc.config()
    weights, inputs = stimulus(sc, cfg)
    out = [f"# {key}: {value}" for key, value in _header(sc, cfg).items()]
    out.extend(_line(n, INIT_STEP, weights[n]) for n in WEIGHT_NAMES)
    for s, state in _simulate(cfg, weights, inputs):
        out.extend(_line(n, s, inputs[n][s]) for n in INPUT_NAMES)
        out.extend(_line(n, s, v) for n, v in state.items())
    return "\n".join(out) + "\n"


# -- regen and check -------------------------------------------------------------------------------

def _is_vector_file(path):
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.readline().rstrip("\n") == f"# format: {FORMAT}"
    except OSError:
        return False


def regen(directory=None):
    """Write every scenario's file into ``directory`` (default: the package's vectors folder).

    Vector files of scenarios that no longer exist are removed. Returns ``[(path, action)]``
    with action ``"created"``, ``"updated"``, ``"unchanged"`` or ``"removed"``.
    """
    directory = Path(directory) if directory is not None else VECTOR_DIR
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for name in SCENARIOS:
        path = directory / f"{name}.txt"
        text = generate(name)
        old = path.read_text(encoding="ascii") if path.exists() else None
        if old != text:
            path.write_text(text, encoding="ascii", newline="\n")
        done.append((path, "created" if old is None else "unchanged" if old == text
                     else "updated"))
    for path in sorted(directory.glob("*.txt")):
        if path.stem not in SCENARIOS and _is_vector_file(path):
            path.unlink()
            done.append((path, "removed"))
    return done


def _clip(text, n=100):
    return text if len(text) <= n else text[:n] + "..."


def _first_difference(expected, found):
    """``"LINE: what"`` for the first line where ``found`` differs from ``expected``, or None."""
    if expected == found:
        return None
    exp, fnd = expected.split("\n"), found.split("\n")
    # a final newline leaves an empty last item: drop it, remember whether it was there
    exp_nl, fnd_nl = exp[-1] == "", fnd[-1] == ""
    exp, fnd = exp[:-1] if exp_nl else exp, fnd[:-1] if fnd_nl else fnd
    for i, (e, f) in enumerate(zip(exp, fnd)):
        if e == f:
            continue
        lineno = i + 1
        et, ft = e.split(" "), f.split(" ")
        if not e.startswith("#") and et[:2] == ft[:2] and len(et) == len(ft):
            k = next(k for k in range(2, len(et)) if et[k] != ft[k])
            return (f"{lineno}: '{et[0]} {et[1]}' value {k - 2}: expected {et[k]}, "
                    f"found {ft[k]}")
        return f"{lineno}: expected {_clip(e)!r}, found {_clip(f)!r}"
    if len(fnd) < len(exp):
        return (f"{len(fnd) + 1}: file ends after line {len(fnd)} (truncated?); expected "
                f"{_clip(exp[len(fnd)])!r}")
    if len(fnd) > len(exp):
        return f"{len(exp) + 1}: unexpected extra line {_clip(fnd[len(exp)])!r}"
    return f"{len(fnd)}: {'no' if exp_nl else 'unexpected'} newline at the end of the file"


def check(directory=None):
    """Regenerate every scenario in memory and compare it with ``directory``'s files.

    Returns a list of problems (empty when everything matches): missing files, extra vector
    files, and for each differing file its first differing line as ``path:LINE: ...``.
    """
    directory = Path(directory) if directory is not None else VECTOR_DIR
    if not directory.is_dir():
        return [f"{directory}: no such directory (run `eligo golden regen`)"]
    problems = []
    for name in SCENARIOS:
        path = directory / f"{name}.txt"
        if not path.exists():
            problems.append(f"{path}: missing (run `eligo golden regen`)")
            continue
        try:
            found = path.read_bytes().decode("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read: {exc}")
            continue
        diff = _first_difference(generate(name), found)
        if diff:
            problems.append(f"{path}:{diff}")
    for path in sorted(directory.glob("*.txt")):
        if path.stem not in SCENARIOS:
            problems.append(f"{path}: extra file, no scenario named {path.stem!r}")
    return problems


# -- parse and replay ------------------------------------------------------------------------------

@dataclasses.dataclass
class VectorFile:
    """A parsed vector file. Arrays have no batch axis; per-step arrays lead with time.

    ``weights``: initial ``w_in w_rec w_out b``. ``inputs``: ``x`` (T, n_in), ``ystar``,
    ``mask`` (T, n_out), ``learn`` (T,). ``states``: every state name, counter and ``t``,
    shaped (T, ...) -- the values after each step.
    """
    path: Path
    scenario: str
    description: str
    model_version: int
    seed: int
    steps: int
    batch: int
    config: Config
    weights: dict
    inputs: dict
    states: dict


_HEADER_RE = re.compile(r"# ([A-Za-z_][A-Za-z0-9_]*): (.*)")
_BODY_RE = re.compile(r"[a-z_]+ -?[0-9]+( -?[0-9]+)*")
_INT_RE = re.compile(r"-?[0-9]+")
_NAME_RE = re.compile(r"[A-Za-z0-9_]+")


def parse(path):
    """Read and validate a vector file; returns a :class:`VectorFile`.

    Raises :class:`VectorFileError` naming the file and line for anything malformed: a bad or
    missing header line, an unknown or misplaced key, a wrong format or model version, a
    scenario that does not match the file name, a bad configuration, a body line with the wrong
    name, step, a non-integer or a wrong count of values, out-of-range inputs, a truncated file
    or extra lines.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise VectorFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise VectorFileError(f"{path}:{line}: non-ASCII byte") from None

    def fail(lineno, msg):
        raise VectorFileError(f"{path}:{lineno}: {msg}")

    lines = text.split("\n")
    if lines[-1] != "":
        fail(len(lines), "no newline at the end of the file (truncated?)")
    lines.pop()

    # header
    header = {}
    for i, key in enumerate(HEADER_KEYS):
        lineno = i + 1
        if i >= len(lines):
            fail(lineno, f"file ends inside the header; expected '# {key}: ...'")
        m = _HEADER_RE.fullmatch(lines[i])
        if not m:
            fail(lineno, f"bad header line {_clip(lines[i], 60)!r}; expected '# {key}: ...'")
        found, value = m.groups()
        if found not in HEADER_KEYS:
            fail(lineno, f"unknown header key {found!r} (known: {', '.join(HEADER_KEYS)})")
        if found != key:
            fail(lineno, f"header key {found!r} out of place; expected {key!r} "
                         f"(order: {', '.join(HEADER_KEYS)})")
        header[key] = (lineno, value)

    def int_field(key, low):
        lineno, value = header[key]
        if not _INT_RE.fullmatch(value) or int(value) < low:
            fail(lineno, f"{key} must be an integer >= {low}, not {value!r}")
        return int(value)

    lineno, fmt = header["format"]
    if fmt != FORMAT:
        fail(lineno, f"format must be {FORMAT!r}, not {fmt!r}")
    lineno, scenario = header["scenario"]
    if not _NAME_RE.fullmatch(scenario):
        fail(lineno, f"scenario must be a name of letters, digits and _, not {scenario!r}")
    if path.suffix == ".txt" and scenario != path.stem:
        fail(lineno, f"scenario {scenario!r} does not match the file name {path.name!r}")
    version = int_field("model_version", 0)
    if version != MODEL_VERSION:
        fail(header["model_version"][0],
             f"model_version {version} is not this generator's ({MODEL_VERSION}): "
             "regenerate with `eligo golden regen`")
    seed = int_field("seed", 0)
    steps = int_field("steps", 1)
    batch = int_field("batch", 1)
    if batch != 1:
        fail(header["batch"][0], f"batch must be 1, not {batch}")
    lineno, cfg_text = header["config"]
    try:
        cfg = Config.from_dict(json.loads(cfg_text))
    except json.JSONDecodeError as exc:
        fail(lineno, f"config is not valid JSON: {exc}")
    except (TypeError, ValueError) as exc:
        fail(lineno, f"bad config: {exc}")

    # body
    expected = layout(cfg, steps)
    body = lines[len(HEADER_KEYS):]
    base = len(HEADER_KEYS) + 1
    values = {}
    for idx, (name, step, shape) in enumerate(expected):
        lineno = base + idx
        if idx >= len(body):
            fail(lineno, f"file ends early (truncated?); expected '{name} {step} ...'")
        line = body[idx]
        tokens = line.split(" ")
        if len(tokens) < 2 or tokens[0] != name or tokens[1] != str(step):
            fail(lineno, f"expected '{name} {step} ...', found {_clip(line, 60)!r}")
        if not _BODY_RE.fullmatch(line):
            bad = next((t for t in tokens[2:] if not _INT_RE.fullmatch(t)), "")
            what = f"non-integer value {bad!r}" if bad else "stray whitespace"
            fail(lineno, f"{what} in '{name} {step}'")
        count = int(np.prod(shape, dtype=np.int64))
        if len(tokens) - 2 != count:
            fail(lineno, f"'{name} {step}' has {len(tokens) - 2} values; expected {count} "
                         f"(shape {shape})")
        arr = np.array([int(t) for t in tokens[2:]], dtype=np.int64).reshape(shape)
        if name in ("x", "mask", "learn") and ((arr != 0) & (arr != 1)).any():
            fail(lineno, f"'{name} {step}' values must be 0 or 1")
        if name == "ystar":
            lo, hi = -(1 << (cfg.y_bits - 1)), (1 << (cfg.y_bits - 1)) - 1
            if ((arr < lo) | (arr > hi)).any():
                fail(lineno, f"'ystar {step}' values must lie in [{lo}, {hi}] "
                             f"(y_bits={cfg.y_bits})")
        values.setdefault(name, []).append(arr)
    if len(body) > len(expected):
        fail(base + len(expected), f"unexpected extra line {_clip(body[len(expected)], 60)!r} "
                                   f"after the last step")

    # each weight's first line is the initial value (step -1), the others the state per step
    weights = {n: values[n][0] for n in WEIGHT_NAMES}
    for n in WEIGHT_NAMES:
        values[n] = values[n][1:]
    inputs = {n: np.stack(values[n]) for n in INPUT_NAMES}
    states = {n: np.stack(values[n]) for n in _state_names(cfg)}
    return VectorFile(path=path, scenario=scenario, description=header["description"][1],
                      model_version=version, seed=seed, steps=steps, batch=batch, config=cfg,
                      weights=weights, inputs=inputs, states=states)


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """The first difference between a replay and a file: ``expected`` is the file's value."""
    path: Path
    step: int
    name: str
    index: tuple
    expected: int
    found: int

    def __str__(self):
        idx = "[" + ", ".join(map(str, self.index)) + "]" if self.index else ""
        return (f"{self.path}: step {self.step}: {self.name}{idx} expected {self.expected}, "
                f"found {self.found}")


def replay(path):
    """Rebuild the model from a file's header and weights, drive its inputs and compare.

    Returns the first :class:`Mismatch` (in step order, then file line order, then C order
    within a line), or None when every stored value matches. ``path`` may also be a parsed
    :class:`VectorFile`.
    """
    vf = path if isinstance(path, VectorFile) else parse(path)
    for s, state in _simulate(vf.config, vf.weights, vf.inputs):
        for name, value in state.items():
            stored = vf.states[name][s]
            if not np.array_equal(value, stored):
                index = tuple(int(i) for i in np.argwhere(value != stored)[0])
                return Mismatch(vf.path, s, name, index, int(stored[index]), int(value[index]))
    return None
