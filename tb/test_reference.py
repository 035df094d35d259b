"""The float reference (eligo.model.reference).

The central check: on small random spiking networks the e-prop direction computed online from
the reference's traces equals the gradient that autograd computes through the unrolled
network with the e-prop approximations (reset term and recurrent spikes into other neurons'
state detached, pseudo-derivative psi as the spike's derivative), and the readout gradient
equals the full-BPTT one. The networks are checked to spike, with nonzero psi, and full BPTT is
checked to differ on w_rec, so that none of these equalities is vacuous.
"""

import math
import re
from pathlib import Path

import pytest
import torch

from eligo.config import Config
from eligo.model.bridge import learning_rates
from eligo.model.reference import (COUNTER_NAMES, Adam, Reference, autograd_gradients,
                                   eprop_gradients, output_error, sequence_loss,
                                   train_bptt)

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SEEDS = range(4)
F64 = torch.float64


def rel(a, b):
    """max |a - b| / max |b|."""
    return ((a - b).abs().max() / b.abs().max()).item()


def random_case(cfg, seed, T=50, rate=0.3):
    """Weights (membrane units), input spikes, targets and masks for a small network."""
    g = torch.Generator().manual_seed(seed)
    c = cfg
    randn = lambda *shape: torch.randn(*shape, generator=g, dtype=F64)
    w_rec = randn(c.n_rec, c.n_rec) * 0.5
    w_rec.fill_diagonal_(0)
    weights = {"w_in": randn(c.n_rec, c.n_in) * 0.6 + 0.25, "w_rec": w_rec,
               "w_out": randn(c.n_out, c.n_rec) * 0.5, "b": randn(c.n_rec, c.n_out) * 0.5}
    x = (torch.rand(T, 1, c.n_in, generator=g) < rate).to(F64)
    ystar = randn(T, 1, c.n_out)
    mask = torch.rand(T, 1, c.n_out, generator=g) < 0.5
    return weights, x, ystar, mask


def small_cfg(seed, **fields):
    """n_in 3-5, n_rec 4-8, n_out 2-3, drawn from the seed."""
    g = torch.Generator().manual_seed(1000 + seed)
    pick = lambda lo, hi: int(torch.randint(lo, hi + 1, (), generator=g))
    n_rec = pick(4, 8)
    n_alif = fields.pop("n_alif")
    return Config(n_in=pick(3, 5), n_rec=n_rec, n_out=pick(2, 3),
                  n_alif=n_rec // 2 if n_alif else 0, **fields)


# -- e-prop equals autograd with the approximations ----------------------------------------------

@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("refractory", [0, 2])
@pytest.mark.parametrize("alif", [False, True], ids=["lif", "alif"])
def test_eprop_equals_autograd_with_approximations(alif, refractory, reset):
    for seed in SEEDS:
        cfg = small_cfg(seed, n_alif=alif, refractory=refractory, reset=reset)
        weights, x, ystar, mask = random_case(cfg, seed)
        ref = Reference(cfg)
        ref.load_weights(**weights)
        out = ref.run(x, ystar, mask, learn=False, record=["psi"])
        rate = out["z"].mean().item()
        assert 0.02 < rate < 0.9, f"seed {seed}: spike rate {rate}"
        assert (out["psi"] > 0).any() and (out["z"].sum(dim=0) > 0).sum() >= 2

        ep = eprop_gradients(cfg, weights, x, ystar, mask)
        ag = autograd_gradients(cfg, weights, x, ystar, mask, eprop_approximations=True)
        full = autograd_gradients(cfg, weights, x, ystar, mask, eprop_approximations=False)
        for name in ("w_in", "w_rec"):
            assert ep[name].abs().max() > 0
            assert rel(ep[name], ag[name]) <= 1e-6, (seed, name)
        assert torch.diagonal(ep["w_rec"]).abs().max() == 0
        assert torch.diagonal(ag["w_rec"]).abs().max() == 0
        assert rel(ep["w_out"], full["w_out"]) <= 1e-12
        assert rel(ep["w_out"], ag["w_out"]) <= 1e-12
        # Full BPTT sees the recurrent paths e-prop leaves out.
        assert rel(ep["w_rec"], full["w_rec"]) > 1e-3, seed


@pytest.mark.parametrize("alif", [False, True], ids=["lif", "alif"])
def test_eprop_equals_autograd_with_cross_entropy(alif):
    # Softmax cross-entropy over the readouts with a target at each step: err = dE/dy is
    # softmax(y) sum(y*) - y*, so e-prop still equals autograd with the approximations. Targets
    # one-hot on some steps and arbitrary (not summing to 1) on others; some steps have a
    # target on one readout only (its softmax is then 1).
    for seed in SEEDS:
        cfg = small_cfg(seed, n_alif=alif, refractory=1)
        weights, x, ystar, mask = random_case(cfg, seed)
        g = torch.Generator().manual_seed(seed)
        onehot = torch.nn.functional.one_hot(
            torch.randint(cfg.n_out, ystar.shape[:2], generator=g), cfg.n_out).to(F64)
        ystar = torch.where(torch.arange(len(x))[:, None, None] % 2 == 0, onehot, ystar.abs())
        ep = eprop_gradients(cfg, weights, x, ystar, mask, loss="ce")
        ag = autograd_gradients(cfg, weights, x, ystar, mask, loss="ce")
        mse = eprop_gradients(cfg, weights, x, ystar, mask)
        for name in ("w_in", "w_rec", "w_out"):
            assert ep[name].abs().max() > 0
            assert rel(ep[name], ag[name]) <= 1e-6, (seed, name)
            assert rel(ep[name], mse[name]) > 1e-2  # a different loss, not the same one
        assert torch.diagonal(ep["w_rec"]).abs().max() == 0


@pytest.mark.parametrize("alif", [False, True], ids=["lif", "alif"])
def test_rate_regularizer_eprop_equals_autograd(alif):
    # The firing-rate loss rate_reg/2 sum_j (f_j - f*)**2 of each sample, f_j its mean spikes
    # per step: e-prop's rate_reg (f_j - f*) (1/T) sum_t e_ji (unfiltered e) equals autograd's
    # gradient with the approximations, alone (no targets) and beside the cross-entropy. Two
    # samples per batch (rates per sample, not pooled); f* between the neurons' rates, so
    # that both signs of f_j - f* occur.
    for seed in SEEDS:
        cfg = small_cfg(seed, n_alif=alif, refractory=1)
        weights, x, ystar, mask = random_case(cfg, seed)
        x = torch.cat([x, random_case(cfg, seed + 10)[1]], dim=1)
        ystar, mask = (torch.cat([a, a.flip(0)], dim=1) for a in (ystar.abs(), mask))
        ref = Reference(cfg, batch=2)
        ref.load_weights(**weights)
        rates = ref.run(x, learn=False)["z"].mean(dim=0)
        target = rates.median().item()
        assert (rates > target).any() and (rates < target).any()
        kw = dict(rate_reg=40.0, rate_target=target)
        none = torch.zeros_like(mask)
        ep = eprop_gradients(cfg, weights, x, ystar, none, **kw)
        ag = autograd_gradients(cfg, weights, x, ystar, none, **kw)
        for name in ("w_in", "w_rec"):
            assert ep[name].abs().max() > 0
            assert rel(ep[name], ag[name]) <= 1e-6, (seed, name)
        assert ep["w_out"].abs().max() == 0 and ag["w_out"].abs().max() == 0
        ep = eprop_gradients(cfg, weights, x, ystar, mask, loss="ce", **kw)
        ag = autograd_gradients(cfg, weights, x, ystar, mask, loss="ce", **kw)
        task = eprop_gradients(cfg, weights, x, ystar, mask, loss="ce")
        for name in ("w_in", "w_rec", "w_out"):
            assert rel(ep[name], ag[name]) <= 1e-6, (seed, name)
        for name in ("w_in", "w_rec"):
            assert rel(ep[name], task[name]) > 1e-2  # the term is not negligible here
        assert torch.diagonal(ep["w_rec"]).abs().max() == 0


def test_rate_regularizer_in_per_sample_updates_only():
    cfg = small_cfg(2, n_alif=True)
    weights, x, ystar, mask = random_case(cfg, 2)
    ref = Reference(cfg, rate_reg=5.0, rate_target=0.1)
    ref.load_weights(**weights)
    ref.run(x, ystar, mask, trigger=False, online=False, lr=0.01, lr_out=0.003)
    grads = eprop_gradients(cfg, weights, x, ystar, mask, rate_reg=5.0, rate_target=0.1)
    for name, lr in (("w_in", 0.01), ("w_rec", 0.01), ("w_out", 0.003)):
        assert rel(ref.state[name][0], weights[name] - lr * grads[name]) <= 1e-12
    for kw in (dict(trigger=True), dict(trigger=False, online=True)):
        with pytest.raises(ValueError, match=r"^the firing-rate regularizer is a term of "
                                             r"per-sample e-prop \(trigger=False, "
                                             r"online=False\)$"):
            ref.step(x[0], **kw)


def test_homeostatic_term_joins_the_learning_signal():
    """docs/spec.md phase 4: L_j = sum_k F[j, k] err_k + homeo_gain (zout_j - homeo_target),
    accumulated by the cores with a target only (the trigger threshold is not reached)."""
    big = (1 << 23) - 1  # a threshold of 2048 in real units
    base = small_cfg(3, n_alif=True).replace(acc_bits=24, trigger=big, trigger_out=big)
    weights, x, ystar, _ = random_case(base, 3, T=30)
    mask = torch.zeros(2, base.n_out, dtype=torch.bool)
    mask[0, 0] = True  # core 0 has a target, core 1 none
    refs = {}
    for name, cfg in (("off", base), ("on", base.replace(homeo_gain=1000, homeo_target=40))):
        ref = Reference(cfg, batch=2)
        ref.load_weights(**weights)
        ref.run(x.expand(-1, 2, -1))  # no targets: the same state in both
        ref.step(x[0].expand(2, -1), ystar[0].expand(2, -1), mask)
        refs[name] = ref
    rp, zout = refs["on"].rp, refs["on"].state["zout"]
    assert zout[0].abs().max() > 0 and rp.homeo_gain == 1000 / 2**11
    acc_on, acc_off = refs["on"].state["acc"], refs["off"].state["acc"]
    assert refs["on"].counters["row_updates"].sum() == 0
    assert rel(acc_on[0] - acc_off[0], rp.homeo_gain * (zout[0] - rp.homeo_target)) <= 1e-12
    assert torch.equal(acc_on[1], torch.zeros_like(acc_on[1]))


@pytest.mark.parametrize("value", [-1.0, float("inf"), float("nan"), True])
def test_init_wrong_rate_reg(value):
    cfg = Config(n_in=2, n_rec=3, n_out=1)
    with pytest.raises(ValueError, match=r"^rate_reg must be a non-negative finite number, "
                                         rf"not {re.escape(repr(value))}$"):
        Reference(cfg, rate_reg=value)


@pytest.mark.parametrize("value", [-0.01, 1.5, "0.1"])
def test_init_wrong_rate_target(value):
    cfg = Config(n_in=2, n_rec=3, n_out=1)
    with pytest.raises(ValueError, match=r"^rate_target must be in \[0, 1\] \(spikes per "
                                         rf"step\), not {re.escape(repr(value))}$"):
        Reference(cfg, rate_reg=1.0, rate_target=value)


def test_cross_entropy_error_and_bad_loss():
    y = torch.tensor([[1.0, 2.0, 0.5], [0.3, 0.1, 0.2]], dtype=F64)
    ystar = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=F64)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    err = output_error("ce", y, ystar, mask)
    p = torch.softmax(y[0, :2], dim=0)
    assert torch.allclose(err[0], torch.stack([p[0], p[1] - 1, torch.tensor(0.0, dtype=F64)]))
    assert (err[1] == 0).all()  # no target: no error, no NaN from an empty softmax
    assert torch.equal(output_error("mse", y, ystar, mask)[0], torch.tensor([1.0, 1.0, 0.0],
                                                                              dtype=F64))
    cfg = Config(n_in=2, n_rec=3, n_out=1)
    with pytest.raises(ValueError, match=r"^loss must be one of 'mse', 'ce', not 'l1'$"):
        Reference(cfg, loss="l1")
    with pytest.raises(ValueError, match=r"^loss must be one of 'mse', 'ce', not 'l1'$"):
        autograd_gradients(cfg, {"w_in": torch.zeros(3, 2), "w_rec": torch.zeros(3, 3),
                                 "w_out": torch.zeros(1, 3)}, torch.zeros(5, 2), None, None,
                           loss="l1")


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_eprop_needs_the_reset_detached(reset):
    cfg = small_cfg(0, n_alif=True, reset=reset)
    weights, x, ystar, mask = random_case(cfg, 0)
    ep = eprop_gradients(cfg, weights, x, ystar, mask)
    ag = autograd_gradients(cfg, weights, x, ystar, mask, detach_reset=False)
    assert rel(ep["w_in"], ag["w_in"]) > 1e-2


def test_random_feedback_differs_from_autograd():
    for seed in SEEDS:
        cfg = small_cfg(seed, n_alif=True, feedback="random")
        weights, x, ystar, mask = random_case(cfg, seed)
        ep = eprop_gradients(cfg, weights, x, ystar, mask)
        ag = autograd_gradients(cfg, weights, x, ystar, mask)
        assert rel(ep["w_in"], ag["w_in"]) > 1e-2
        assert rel(ep["w_rec"], ag["w_rec"]) > 1e-2
        assert rel(ep["w_out"], ag["w_out"]) <= 1e-12  # the readout rule has no feedback


def test_batched_gradients_are_sums_over_the_batch():
    cfg = small_cfg(0, n_alif=True, refractory=1)
    weights, x, ystar, mask = random_case(cfg, 0)
    _, x2, ystar2, mask2 = random_case(cfg, 1)
    xb, yb, mb = (torch.cat(pair, dim=1) for pair in ((x, x2), (ystar, ystar2), (mask, mask2)))
    for fn in (eprop_gradients, autograd_gradients):
        both = fn(cfg, weights, xb, yb, mb)
        one, two = fn(cfg, weights, x, ystar, mask), fn(cfg, weights, x2, ystar2, mask2)
        for name in both:
            assert rel(both[name], one[name] + two[name]) <= 1e-12


# -- the reference's state and updates ----------------------------------------------------------

CONFIGS = [
    {},
    {"trace_mode": "factored", "feedback": "random"},
    {"reset": "zero", "refractory": 2, "accumulate_error": False},
    {"q_max": 3, "n_alif": 0, "trigger": 256},
]


@pytest.mark.parametrize("fields", CONFIGS, ids=lambda f: ",".join(f) or "default")
def test_run_records_finite_states(fields):
    cfg = Config(n_in=4, n_rec=6, n_out=2, **fields)
    weights, x, ystar, mask = random_case(cfg, 3, T=40)
    ref = Reference(cfg, batch=2)
    ref.load_weights(**weights)
    xs, ys, ms = (torch.cat([a, a.flip(0)], dim=1) for a in (x, ystar, mask))
    out = ref.run(xs, ys, ms, lr=0.01, lr_out=0.01, record=True)
    names = {"v", "a", "ref", "z", "psi", "xbar", "zbar", "zout", "y", "err", "acc", "acc_out",
             "w_in", "w_rec", "w_out", "b", "t", *COUNTER_NAMES}
    if cfg.trace_mode == "full":
        names |= {"eps", "ebar"}
    assert names <= set(out)
    for name, trace in out.items():
        assert trace.shape[0] == 40
        assert torch.isfinite(trace.to(F64)).all(), name
    assert out["ebar" if "ebar" in out else "psi"].abs().max() > 0
    assert (torch.diagonal(out["w_rec"], dim1=-2, dim2=-1) == 0).all()
    assert (out["a"][..., :cfg.n_lif] == 0).all()
    assert (out["ref"] <= cfg.refractory).all()
    assert out["row_updates"][-1].min() > 0
    assert (out["spikes"][-1] == out["z"].sum(dim=(0, 2)).to(torch.int64)).all()
    with pytest.raises(ValueError, match="cannot record"):
        ref.run(xs[:1], record=["nope"])


@pytest.mark.parametrize("mode", ["trigger", "online", "per_sample"])
def test_chunked_stepping_equals_one_run(mode):
    cfg = Config(n_in=4, n_rec=6, n_out=2, refractory=1)
    weights, x, ystar, mask = random_case(cfg, 5, T=45)
    kw = dict(trigger=mode == "trigger", online=mode != "per_sample", lr=0.05, lr_out=0.02)
    whole, parts = Reference(cfg), Reference(cfg)
    for r in (whole, parts):
        r.load_weights(**weights)
    a = whole.run(x, ystar, mask, record=True, **kw)
    pieces = [parts.run(x[:10], ystar[:10], mask[:10], record=True, apply=False, **kw)]
    for t in range(10, 20):
        z, y = parts.step(x[t], ystar[t], mask[t], **kw)
        pieces.append({"z": z[None], "y": y[None]})
    pieces.append(parts.run(x[20:], ystar[20:], mask[20:], record=True, **kw))
    assert torch.equal(a["z"], torch.cat([p["z"] for p in pieces]))
    assert torch.equal(a["y"], torch.cat([p["y"] for p in pieces]))
    sa, sb = whole.snapshot(), parts.snapshot()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(torch.as_tensor(sa[name]), torch.as_tensor(sb[name])), name
    assert sa["row_updates"].item() > 0


def test_per_sample_update_is_the_eprop_gradient():
    cfg = small_cfg(2, n_alif=True)
    weights, x, ystar, mask = random_case(cfg, 2)
    ref = Reference(cfg)
    ref.load_weights(**weights)
    ref.run(x, ystar, mask, trigger=False, online=False, lr=0.01, lr_out=0.003)
    grads = eprop_gradients(cfg, weights, x, ystar, mask)
    for name, lr in (("w_in", 0.01), ("w_rec", 0.01), ("w_out", 0.003)):
        assert rel(ref.state[name][0], weights[name] - lr * grads[name]) <= 1e-12
    rows = cfg.n_rec + cfg.n_out
    assert ref.counters["row_updates"].item() == rows
    assert ref.counters["weight_writes"].item() == \
        cfg.n_rec * (cfg.n_pre - 1) + cfg.n_out * cfg.n_rec


def test_shared_weights_learn_only_into_grad():
    cfg = small_cfg(1, n_alif=True, refractory=1)
    weights, x, ystar, mask = random_case(cfg, 1)
    _, x2, ystar2, mask2 = random_case(cfg, 2)
    xb, yb, mb = (torch.cat(pair, dim=1) for pair in ((x, x2), (ystar, ystar2), (mask, mask2)))
    shared, cores = Reference(cfg, batch=2, shared_weights=True), Reference(cfg, batch=2)
    for ref in (shared, cores):
        ref.load_weights(**weights)
        ref.run(xb, yb, mb, trigger=False, online=False, apply=False)
    assert shared.state["w_in"].shape == (1, cfg.n_rec, cfg.n_in)
    for name in ("w_in", "w_rec", "w_out"):
        assert rel(shared.grad[name], cores.grad[name]) <= 1e-12
    with pytest.raises(ValueError, match=r"^a Reference with shared weights learns only into "
                                         r"grad \(trigger=False, online=False\)$"):
        shared.step(xb[0], yb[0], mb[0])
    with pytest.raises(ValueError, match=r"^a Reference with shared weights does not apply its "
                                         r"grad: run with apply=False$"):
        shared.run(xb, yb, mb, trigger=False, online=False)
    with pytest.raises(ValueError, match=r"^a Reference with shared weights does not apply"):
        shared.apply_updates()
    with pytest.raises(ValueError, match=r"^w_out must have shape \(\d, \d\) or "
                                         r"\(1, \d, \d\), not \(2, \d, \d\)$"):
        shared.load_weights(weights["w_in"], weights["w_rec"], torch.zeros(2, cfg.n_out,
                                                                           cfg.n_rec))


def test_load_weights():
    cfg = Config(n_in=2, n_rec=3, n_out=1)
    ref = Reference(cfg, batch=2)
    w_rec = torch.tensor([[0, 64, -32], [16, 0, 0], [0, 0, 0]])
    ref.load_weights(torch.full((3, 2), 32), w_rec, torch.ones(2, 1, 3), from_golden=True)
    assert ref.state["w_in"].shape == (2, 3, 2) and (ref.state["w_in"] == 0.5).all()
    assert torch.equal(ref.state["w_rec"][1], w_rec.to(F64) / 64)
    assert (ref.state["w_out"] == 1 / 64).all()
    with pytest.raises(ValueError, match="w_rec must have a zero diagonal"):
        ref.load_weights(torch.zeros(3, 2), torch.eye(3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="w_out must have shape"):
        ref.load_weights(torch.zeros(3, 2), torch.zeros(3, 3), torch.zeros(3, 1))
    assert (ref.state["w_out"] == 1 / 64).all()  # nothing loaded after a refusal


def test_tracks_the_spec_worked_example():
    """The float reference follows the golden model's worked example (docs/spec.md 5) within
    the rounding of the integer formats; the spikes and row writes are the same."""
    text = (REPO / "docs" / "spec.md").read_text()
    block = text.split("<!-- generated: example")[1].split("<!-- end generated: example")[0]
    rows = [line for line in block.splitlines() if re.match(r"\|\s*\d", line)]
    head = next(line for line in block.splitlines() if line.startswith("| step"))
    cols = [c.strip().strip("`") for c in head.strip("|").split("|")]
    table = {c: [int(r.strip("|").split("|")[i]) for r in rows] for i, c in enumerate(cols)}
    cfg = Config(n_in=1, n_rec=1, n_alif=1, n_out=1, update_rounding="floor", beta=2048,
                 trigger=1024, trigger_out=1024)
    assert len(rows) == 6 and table["x"] == [1, 1, 1, 0, 1, 0]
    lr, lr_out = learning_rates(cfg)
    ref = Reference(cfg)
    ref.load_weights([[48]], [[0]], [[40]], from_golden=True)
    mask = torch.zeros(6, 1, dtype=torch.bool)
    mask[5] = True
    out = ref.run(torch.tensor(table["x"])[:, None], torch.zeros(6, 1), mask, lr=lr,
                  lr_out=lr_out, record=True)
    fracs = {"v": cfg.v_frac, "a": cfg.a_frac, "psi": cfg.psi_bits, "xbar": cfg.trace_frac,
             "zbar": cfg.trace_frac, "eps": cfg.trace_frac, "ebar": cfg.e_frac,
             "zout": cfg.trace_frac, "y": cfg.y_frac, "err": cfg.y_frac, "acc": cfg.acc_frac,
             "acc_out": cfg.acc_frac, "w_in": cfg.w_frac, "w_out": cfg.w_frac}
    for name, frac in fracs.items():
        got = out[name].reshape(6, -1)[:, 0]
        want = torch.tensor(table[name], dtype=F64) / 2**frac
        assert ((got - want).abs() <= 0.03 + 0.03 * want.abs()).all(), (name, got, want)
    assert out["z"].flatten().tolist() == table["z"]
    assert out["row_updates"].flatten().tolist() == table["row_updates"]


# -- learning on a toy regression ---------------------------------------------------------------

def toy_problem():
    d = Config.decay_int
    cfg = Config(n_in=5, n_rec=8, n_out=1, n_alif=4, alpha=d(10, 12), kappa=d(10, 12),
                 trigger=512, trigger_out=512)
    g = torch.Generator().manual_seed(0)
    T = 40
    x = (torch.rand(T, 1, 5, generator=g) < 0.3).to(F64)
    ystar = (0.5 + 0.5 * torch.sin(2 * math.pi * torch.arange(T) / 20)).to(F64)[:, None, None]
    mask = torch.ones(T, 1, 1, dtype=torch.bool)
    w_rec = torch.randn(8, 8, generator=g, dtype=F64) * 0.3
    w_rec.fill_diagonal_(0)
    weights = {"w_in": torch.randn(8, 5, generator=g, dtype=F64) * 0.6 + 0.2, "w_rec": w_rec,
               "w_out": torch.randn(1, 8, generator=g, dtype=F64) * 0.1}
    return cfg, weights, x, ystar, mask


def train_eprop(trigger, epochs=10):
    cfg, weights, x, ystar, mask = toy_problem()
    ref = Reference(cfg)
    ref.load_weights(**weights)

    def loss():
        ref.reset()
        y = ref.run(x, ystar, mask, learn=False)["y"]
        return 0.5 * ((y - ystar) ** 2).sum().item()

    losses = [loss()]
    for _ in range(epochs):
        ref.reset()
        ref.run(x, ystar, mask, trigger=trigger, lr=0.01, lr_out=0.001)
        losses.append(loss())
    return losses, ref.counters


def test_eprop_training_reduces_the_loss():
    losses, counters = train_eprop(trigger=False)
    assert max(losses[-3:]) < 0.6 * losses[0], losses
    cfg, T = toy_problem()[0], 40
    every_row = 10 * T * (cfg.n_rec * (cfg.n_pre - 1) + cfg.n_out * cfg.n_rec)
    assert counters["weight_writes"].item() == every_row
    assert counters["row_updates"].item() == 10 * T * (cfg.n_rec + cfg.n_out)

    trig_losses, trig_counters = train_eprop(trigger=True)
    assert max(trig_losses[-3:]) < 0.6 * trig_losses[0], trig_losses
    assert 0 < trig_counters["weight_writes"].item() < 0.3 * every_row


def test_bptt_split_over_calls_with_one_adam_equals_one_call():
    # eligo train's bptt tier calls train_bptt once per epoch with the same Adam
    cfg, weights, x, ystar, mask = toy_problem()
    whole, whole_losses = train_bptt(cfg, weights, [(x, ystar, mask)], lr=0.02, epochs=3)
    adam = Adam([torch.zeros_like(weights[name]) for name in ("w_in", "w_rec", "w_out")], 0.02)
    split, split_losses = weights, []
    for _ in range(3):
        split, losses = train_bptt(cfg, split, [(x, ystar, mask)], epochs=1, adam=adam)
        split_losses += losses
    assert adam.k == 3 and split_losses == whole_losses
    assert all(torch.equal(whole[name], split[name]) for name in whole)
    fresh, _ = train_bptt(cfg, split, [(x, ystar, mask)], lr=0.02, epochs=1)
    assert not torch.equal(fresh["w_in"], train_bptt(cfg, split, [(x, ystar, mask)],
                                                     epochs=1, adam=adam)[0]["w_in"])
    # stats counts the spikes of each batch as trained: here one batch, before its step
    stats = {}
    train_bptt(cfg, weights, [(x, ystar, mask)], lr=0.02, epochs=1, stats=stats)
    params = [weights[name] for name in ("w_in", "w_rec", "w_out")]
    z = sequence_loss(cfg, params, x, ystar, mask, detach_reset=True)[2]
    assert stats == {"spikes": int(z.sum().item())} and stats["spikes"] > 0
    with pytest.raises(ValueError, match="adam's moments are not shaped like"):
        train_bptt(cfg, weights, [(x, ystar, mask)], epochs=1,
                   adam=Adam([torch.zeros(2, 2)] * 3, 0.02))


def test_bptt_training_reduces_the_loss():
    cfg, weights, x, ystar, mask = toy_problem()
    trained, losses = train_bptt(cfg, weights, [(x, ystar, mask)], lr=0.02, epochs=12)
    assert losses[-1] < 0.6 * losses[0], losses
    assert torch.diagonal(trained["w_rec"]).abs().max() == 0
    after = autograd_gradients(cfg, trained, x, ystar, mask)  # a valid set of weights
    assert all(torch.isfinite(g).all() for g in after.values())


def test_through_time_gain_tends_to_one_and_grows_with_gamma():
    # Each recurrent hop back in time adds a factor psi <= gamma to BPTT's extra paths, so
    # with a tiny gamma BPTT's gradient is e-prop's; at gamma 0.3 the randman network of
    # docs/results.md amplifies it many times over (the reason its BPTT runs use 0.1).
    from eligo.model.surrogate_gain import randman_gains
    gains = randman_gains(seeds=(1,), gammas=(1, 26, 77), batch=4)
    for name in ("w_in", "w_rec"):
        assert abs(gains[1, 1][name] - 1) < 0.02, gains
        assert gains[1, 1][name] < gains[1, 26][name] < gains[1, 77][name], gains
        assert gains[1, 77][name] > 10, gains
