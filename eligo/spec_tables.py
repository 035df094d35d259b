"""The generated parts of docs/spec.md: the table of formats and defaults, and the worked
example. ``python -m eligo.spec_tables`` rewrites them in place; a test checks that the file
holds exactly what this module renders, so the spec cannot drift from the code.
"""

import sys
from pathlib import Path

import numpy as np

from eligo.config import Config, FIELD_GROUPS

SPEC_PATH = Path(__file__).resolve().parent.parent / "docs" / "spec.md"
REGMAP_PATH = SPEC_PATH.parent / "regmap.md"


def _markers(key):
    return (f"<!-- generated: {key} (python -m eligo.spec_tables) -->",
            f"<!-- end generated: {key} -->")


MARKERS = {key: _markers(key) for key in ("defaults", "example", "regmap_tiny",
                                          "regmap_cue")}


def _formats(cfg):
    """(variable, signed, total bits, fraction bits) of every state variable."""
    return [
        ("w_in, w_rec, w_out, b", True, cfg.w_bits, cfg.w_frac),
        ("v", True, cfg.v_bits, cfg.v_frac),
        ("a", False, cfg.a_bits, cfg.a_frac),
        ("psi", False, cfg.psi_bits, cfg.psi_bits),
        ("xbar, zbar, zout", False, cfg.trace_bits, cfg.trace_frac),
        ("eps", True, cfg.eps_bits, cfg.trace_frac),
        ("e, ebar", True, cfg.e_bits, cfg.e_frac),
        ("y, targets", True, cfg.y_bits, cfg.y_frac),
        ("err", True, cfg.err_bits, cfg.y_frac),
        ("acc, acc_out", True, cfg.acc_bits, cfg.acc_frac),
        ("alpha, rho, kappa", False, cfg.decay_bits, cfg.decay_bits),
    ]


def _real(value, frac):
    return f"{value / 2**frac:.6g}"


def render_defaults(cfg=None):
    cfg = cfg or Config()
    lines = ["Formats of the default configuration (`Config()`, also the `tiny` preset). "
             "`psi` never exceeds `gamma`; the decay factors are at most `2**D - 1`.", "",
             "| variable | signed | bits | fraction bits | integer range | real range |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, signed, bits, frac in _formats(cfg):
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        lines.append(f"| `{name}` | {'yes' if signed else 'no'} | {bits} | {frac} | "
                     f"[{lo}, {hi}] | [{_real(lo, frac)}, {_real(hi, frac)}] |")
    lines += ["", "Derived shifts (docs/spec.md section 3; negative means an exact left shift):",
              "", "| shift | formula | default |", "| --- | --- | --- |"]
    derived = [("syn_shift", "v_frac - w_frac"), ("out_shift", "y_frac - w_frac"),
               ("psi_shift", "v_frac + a_frac"), ("g_shift", "psi_bits + v_frac - D"),
               ("eps_shift", "D + psi_bits"),
               ("e_shift", "psi_bits + trace_frac + v_frac - e_frac"),
               ("l_shift", "w_frac + y_frac - acc_frac"),
               ("err_to_acc_shift", "y_frac - acc_frac")]
    lines += [f"| `{name}` | `{formula}` | {getattr(cfg, name)} |" for name, formula in derived]
    lines += ["", "Every field and its default (the presets change some of them; "
              "`eligo config show PRESET` prints one):", "",
              "| group | field | default | as a real number |", "| --- | --- | --- | --- |"]
    reals = {"alpha": cfg.decay_float("alpha"), "rho": cfg.decay_float("rho"),
             "kappa": cfg.decay_float("kappa"), "theta": cfg.theta / 2**cfg.v_frac,
             "beta": cfg.beta / 2**cfg.v_frac, "gamma": cfg.gamma / 2**cfg.psi_bits,
             "trigger": cfg.trigger / 2**cfg.acc_frac,
             "trigger_out": cfg.trigger_out / 2**cfg.acc_frac}
    for name, group in FIELD_GROUPS.items():
        real = f"{reals[name]:.6g}" if name in reals else ""
        lines.append(f"| {group} | `{name}` | `{getattr(cfg, name)!r}` | {real} |")
    return "\n".join(lines)


EXAMPLE_CONFIG = dict(n_in=1, n_rec=1, n_alif=1, n_out=1, update_rounding="floor",
                      beta=2048, trigger=1024, trigger_out=1024)
EXAMPLE_WEIGHTS = ([[48]], [[0]], [[40]])
EXAMPLE_INPUT = [1, 1, 1, 0, 1, 0]
EXAMPLE_TARGET_STEP, EXAMPLE_TARGET = 5, 0


def example_trace():
    """Run the worked example through the golden model; returns the config and records."""
    from eligo.model.golden import GoldenModel
    cfg = Config(**EXAMPLE_CONFIG)
    model = GoldenModel(cfg)
    model.load_weights(*EXAMPLE_WEIGHTS)
    steps = len(EXAMPLE_INPUT)
    x = np.array(EXAMPLE_INPUT).reshape(steps, 1)
    ystar = np.zeros((steps, 1), np.int64)
    mask = np.zeros((steps, 1), bool)
    ystar[EXAMPLE_TARGET_STEP], mask[EXAMPLE_TARGET_STEP] = EXAMPLE_TARGET, True
    names = ["v", "a", "z", "psi", "xbar", "zbar", "eps", "ebar", "zout", "y", "err", "acc",
             "acc_out", "w_in", "w_out", "row_updates"]
    return cfg, model.run(x, ystar, mask, record=names)


def render_example():
    cfg, rec = example_trace()
    first = lambda name, t: int(np.asarray(rec[name][t]).reshape(-1)[0])
    cols = ["v", "a", "z", "psi", "xbar", "zbar", "eps", "ebar", "zout", "y", "err", "acc",
            "acc_out", "w_in", "w_out", "row_updates"]
    lines = [
        "One ALIF neuron (`Config(" + ", ".join(f"{k}={v!r}" for k, v in EXAMPLE_CONFIG.items())
        + ")`, every other field at its default), one input with weight "
        f"`w_in = {EXAMPLE_WEIGHTS[0][0][0]}` (0.75), one readout with `w_out = "
        f"{EXAMPLE_WEIGHTS[2][0][0]}`. Input spikes `x = {EXAMPLE_INPUT}`; a target "
        f"`ystar = {EXAMPLE_TARGET}` at step {EXAMPLE_TARGET_STEP} only. State after each "
        "step (`eps` and `ebar` are the input synapse's; the recurrent synapse is the "
        "diagonal):", "",
        "| step | x | " + " | ".join(cols) + " |", "|" + " --- |" * (len(cols) + 2)]
    for t in range(len(EXAMPLE_INPUT)):
        lines.append(f"| {t} | {EXAMPLE_INPUT[t]} | "
                     + " | ".join(str(first(c, t)) for c in cols) + " |")
    lines += ["", "Step 0 by hand (`v`, `a`, `psi` start at 0; `D = 12`):", "", "```"]
    c = cfg
    I = EXAMPLE_WEIGHTS[0][0][0]
    v0 = I << c.syn_shift
    A = c.theta << c.a_frac
    h = max(0, (1 << (c.v_frac + c.a_frac)) - abs((v0 << c.a_frac) - A))
    psi = (c.gamma * h) >> c.psi_shift
    xbar = 1 << c.trace_frac
    e = (psi * ((xbar << c.v_frac) - c.beta * 0)) >> c.e_shift
    y = 0
    lines += [
        f"I    = w_in * x = {I}",
        f"v    = sat(R(0 * alpha, 12) + (I << (v_frac - w_frac))) = {I} << {c.syn_shift} = {v0}",
        "a    = R(0 * rho, 12) + z_old * 2**a_frac = 0",
        f"Aq   = theta * 2**a_frac + beta * a = {c.theta} * {1 << c.a_frac} = {A}",
        f"z    = (v * 2**a_frac > Aq) = ({v0 << c.a_frac} > {A}) = {int((v0 << c.a_frac) > A)}",
        f"h    = max(0, 2**(v_frac + a_frac) - |v * 2**a_frac - Aq|) = {h}",
        f"psi  = R(gamma * h, v_frac + a_frac) = ({c.gamma} * {h}) >> {c.psi_shift} = {psi}",
        f"xbar = R(0 * alpha, 12) + x * 2**trace_frac = {xbar}",
        "eps  = R(psi_old * pre_old * 2**D + G * 0 * 2**psi_bits, D + psi_bits) = 0",
        f"e    = R(psi * (xbar * 2**v_frac - beta * eps), e_shift) = "
        f"({psi} * {xbar << c.v_frac}) >> {c.e_shift} = {e}",
        f"ebar = sat(R(0 * kappa, 12) + e) = {e}",
        f"y    = R(0 * kappa, 12) + (w_out * z) << (y_frac - w_frac) = {y}",
        "```"]
    expected = {"v": v0, "psi": psi, "xbar": xbar, "ebar": e, "y": y, "z": 0}
    for name, value in expected.items():
        if first(name, 0) != value:
            raise AssertionError(f"worked example: hand-computed {name} = {value} but the "
                                 f"golden model has {first(name, 0)}")
    return "\n".join(lines)


def render_regmap(name):
    """The register and window tables of the preset ``name`` (docs/regmap.md)."""
    from eligo.config import preset
    from eligo.rtl.regmap import register_map
    return register_map(preset(name)).markdown().rstrip("\n")


SPEC_SECTIONS = {"defaults": render_defaults, "example": render_example}
REGMAP_SECTIONS = {"regmap_tiny": lambda: render_regmap("tiny"),
                   "regmap_cue": lambda: render_regmap("cue")}


def render(text, sections=None):
    for key, make in (sections or SPEC_SECTIONS).items():
        body = make()
        start, end = MARKERS[key]
        if start not in text or end not in text:
            raise ValueError(f"the document lacks the markers of the generated {key} section")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body}\n{end}{tail}"
    return text


def main():
    for path, sections in ((SPEC_PATH, SPEC_SECTIONS), (REGMAP_PATH, REGMAP_SECTIONS)):
        text = path.read_text()
        new = render(text, sections)
        if new != text:
            path.write_text(new)
            print(f"updated {path}")
        else:
            print(f"{path} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
