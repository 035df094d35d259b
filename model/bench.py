"""Speed of the golden model beside a float PyTorch e-prop and snnTorch, in one process.

:func:`run_golden_bench` times, on the same seeded random input and at each batch size:

* ``golden``: :class:`eligo.model.golden.GoldenModel` as configured (full per-synapse traces,
  learning on, targets on the last 10 % of steps so that the trigger and the weight writes run);
* ``torch-float``: the same network and the same work in float32 torch ops, no autograd:
  LIF/ALIF forward, presynaptic traces, ``eps_a``, the eligibility trace ``ebar`` of every
  synapse every step, the readout, the learning signal, the trigger and the weight writes;
* ``snntorch-fwd``: ``snntorch.RLeaky`` (recurrent LIF, ``all_to_all=True``) fed by a linear
  input layer, a linear readout into ``snntorch.Leaky``: forward only (snnTorch has no ALIF and
  no eligibility traces), so it is a lower bound on what a learning float model costs.

Throughput is also given as synapse updates per second, counting
``batch * n_rec * (n_in + n_rec)`` synapse updates per step for every implementation.
"""

import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from eligo.config import preset as _preset

from .golden import GoldenModel, random_weights

__all__ = ["run_golden_bench"]

GOAL = 0.5              # golden (learning) / snnTorch forward at batch 64, as a rate ratio
TARGET_FRACTION = 0.10  # targets on the last 10 % of the steps
INPUT_RATE = 0.075      # input spike probability per channel and step
EPOCH_TRIALS = 200
WARMUP_STEPS = 30


def _inputs(cfg, steps, batch, seed):
    """Seeded input spikes (T, B, n_in) and targets/mask (T, B, n_out) on the last 10 %."""
    gen = np.random.default_rng(seed)
    x = (gen.random((steps, batch, cfg.n_in)) < INPUT_RATE).astype(np.int64)
    one = 1 << cfg.y_frac
    ystar = np.zeros((steps, batch, cfg.n_out), np.int64)
    mask = np.zeros((steps, batch, cfg.n_out), bool)
    first = steps - max(1, int(round(steps * TARGET_FRACTION)))
    ystar[first:] = gen.choice([-one // 2, one // 2], size=(batch, cfg.n_out))[None]
    mask[first:] = True
    return x, ystar, mask


# -- golden ------------------------------------------------------------------------------------

def _golden_model(cfg, batch, seed):
    model = GoldenModel(cfg, batch)
    model.load_weights(*random_weights(cfg, seed))
    return model


def _time_golden(cfg, x, ystar, mask, seed):
    batch = x.shape[1]
    warm = min(WARMUP_STEPS, len(x))
    w_model = _golden_model(cfg, batch, seed)
    w_model.run(x[:warm], np.ones_like(ystar[:warm]), np.ones_like(mask[:warm]), learn=True)
    model = _golden_model(cfg, batch, seed)
    t0 = time.perf_counter()
    model.run(x, ystar, mask, learn=True)
    seconds = time.perf_counter() - t0
    c = model.counters
    return seconds, {"spikes_per_neuron_step": float(c["spikes"].sum())
                     / (len(x) * batch * cfg.n_rec),
                     "row_updates": int(c["row_updates"].sum())}


# -- float torch e-prop ------------------------------------------------------------------------

class _FloatEprop:
    """The golden network in float32 torch ops: forward, eligibility, learning; no autograd.

    Each batch element is an independent core with its own weights, as in the golden model.
    Units: membrane and weights in membrane units, traces in spikes, readouts in y units.
    """

    def __init__(self, torch, cfg, batch, seed):
        self.torch, self.cfg, self.B = torch, cfg, batch
        c, f32 = cfg, torch.float32
        D = 2.0**c.decay_bits
        self.alpha, self.rho, self.kappa = c.alpha / D, c.rho / D, c.kappa / D
        self.theta = c.theta / 2.0**c.v_frac
        self.beta = c.beta / 2.0**c.v_frac
        self.gamma = c.gamma / 2.0**c.psi_bits
        self.unit = 1.0                                    # triangle half-width: one membrane unit
        self.trig = c.trigger / 2.0**c.acc_frac
        self.trig_out = c.trigger_out / 2.0**c.acc_frac
        # W -= eta * q * ebar_int >> lr_shift, in float weight units:
        self.lr = c.eta * 2.0**(c.e_frac - c.lr_shift - c.w_frac)
        self.lr_out = c.eta_out * 2.0**(c.trace_frac - c.lr_out_shift - c.w_frac)
        self.n_lif = c.n_rec - c.n_alif
        w_in, w_rec, w_out, _b = random_weights(cfg, seed)
        wf = 2.0**c.w_frac
        W = np.concatenate([w_in, w_rec], axis=1) / wf
        self.W = torch.tensor(W, dtype=f32).expand(batch, -1, -1).contiguous()
        self.W_out = torch.tensor(w_out / wf, dtype=f32).expand(batch, -1, -1).contiguous()
        keep = torch.ones(c.n_rec, c.n_pre, dtype=f32)
        keep[torch.arange(c.n_rec), c.n_in + torch.arange(c.n_rec)] = 0.0
        self.keep = keep                                   # no write on the w_rec diagonal
        self.beta_j = torch.zeros(c.n_rec, dtype=f32)
        self.beta_j[self.n_lif:] = self.beta
        self.is_alif = torch.zeros(c.n_rec, dtype=f32)
        self.is_alif[self.n_lif:] = 1.0
        z = lambda *s: torch.zeros(batch, *s, dtype=f32)
        self.v, self.a, self.z, self.psi = z(c.n_rec), z(c.n_rec), z(c.n_rec), z(c.n_rec)
        self.pre = z(c.n_pre)                              # xbar beside zbar
        self.eps = z(c.n_alif, c.n_pre)
        self.ebar = z(c.n_rec, c.n_pre)
        self.zout, self.y = z(c.n_rec), z(c.n_out)
        self.acc, self.acc_out = z(c.n_rec), z(c.n_out)
        self.row_updates = 0
        self.spikes = torch.zeros((), dtype=f32)

    def step(self, x, ystar, mask, learn_step):
        torch, c = self.torch, self.cfg
        n_in, n_lif = c.n_in, self.n_lif
        z_old = self.z
        # Phase 1: synaptic input, eps_a (old psi, old pre), neurons.
        s = torch.cat([x, z_old], dim=1)
        I = torch.bmm(self.W, s.unsqueeze(2)).squeeze(2)
        if c.n_alif:
            psi_a = self.psi[:, n_lif:]
            G = self.rho - psi_a * self.beta
            self.eps.mul_(G.unsqueeze(2)).add_(psi_a.unsqueeze(2) * self.pre.unsqueeze(1))
        v = self.v.mul_(self.alpha).add_(I)
        if c.reset == "subtract":
            v.sub_(z_old * self.theta)
        else:
            v.mul_(1.0 - z_old)
        self.a.mul_(self.rho).add_(z_old * self.is_alif)
        A = self.a * self.beta_j + self.theta
        self.z = (v > A).to(v.dtype)
        self.psi = (1.0 - (v - A).abs_() / self.unit).clamp_(min=0.0).mul_(self.gamma)
        # Phase 2: traces and eligibility, every synapse.
        self.pre.mul_(self.alpha)
        self.pre[:, :n_in].add_(x)
        self.pre[:, n_in:].add_(z_old)
        e = self.psi.unsqueeze(2) * self.pre.unsqueeze(1)
        if c.n_alif:
            e[:, n_lif:].sub_((self.psi[:, n_lif:] * self.beta).unsqueeze(2) * self.eps)
        self.ebar.mul_(self.kappa).add_(e)
        self.zout.mul_(self.kappa).add_(self.z)
        self.spikes += self.z.sum()
        # Phase 3: readout and error.
        self.y.mul_(self.kappa).add_(torch.bmm(self.W_out, self.z.unsqueeze(2)).squeeze(2))
        if not learn_step:
            return
        err = (self.y - ystar) * mask
        # Phase 4: learning signal, trigger, weight writes (rows with q == 0 get a zero update).
        L = torch.bmm(self.W_out.transpose(1, 2), err.unsqueeze(2)).squeeze(2)
        q = self._trigger(self.acc, L, self.trig)
        q_out = self._trigger(self.acc_out, err, self.trig_out)
        self.W.sub_((self.lr * q).unsqueeze(2) * self.ebar * self.keep)
        self.W_out.sub_((self.lr_out * q_out).unsqueeze(2) * self.zout.unsqueeze(1))
        self.row_updates += int(torch.count_nonzero(q)) + int(torch.count_nonzero(q_out))

    def _trigger(self, acc, signal, threshold):
        q_max = self.cfg.q_max
        acc.add_(signal)
        q = self.torch.trunc(acc / threshold).clamp_(-q_max, q_max)
        acc.sub_(q * threshold)
        return q

    def run(self, x, ystar, mask, first_target):
        for t in range(x.shape[0]):
            self.step(x[t], ystar[t], mask[t], t >= first_target)


def _float_tensors(torch, cfg, x, ystar, mask):
    f32 = torch.float32
    return (torch.tensor(x, dtype=f32), torch.tensor(ystar / 2.0**cfg.y_frac, dtype=f32),
            torch.tensor(mask, dtype=f32))


def _time_float(torch, cfg, x, ystar, mask, seed):
    batch, steps = x.shape[1], x.shape[0]
    xt, yt, mt = _float_tensors(torch, cfg, x, ystar, mask)
    first = int(np.argmax(mask.any(axis=(1, 2)))) if mask.any() else steps
    warm = min(WARMUP_STEPS, steps)
    with torch.inference_mode():
        _FloatEprop(torch, cfg, batch, seed).run(xt[:warm], yt[:warm], torch.ones_like(mt[:warm]),
                                                 0)
        net = _FloatEprop(torch, cfg, batch, seed)
        t0 = time.perf_counter()
        net.run(xt, yt, mt, first)
        seconds = time.perf_counter() - t0
    return seconds, {"spikes_per_neuron_step": float(net.spikes) / (steps * batch * cfg.n_rec),
                     "row_updates": net.row_updates}


# -- snnTorch forward --------------------------------------------------------------------------

def _snn_net(torch, snn, cfg):
    nn = torch.nn
    D = 2.0**cfg.decay_bits
    torch.manual_seed(cfg.seed)
    fc_in = nn.Linear(cfg.n_in, cfg.n_rec)
    rlif = snn.RLeaky(beta=cfg.alpha / D, linear_features=cfg.n_rec, all_to_all=True,
                      threshold=1.0, reset_mechanism="subtract")
    fc_out = nn.Linear(cfg.n_rec, cfg.n_out)
    lif_out = snn.Leaky(beta=cfg.kappa / D, threshold=1e9, reset_mechanism="none")
    return fc_in, rlif, fc_out, lif_out


def _snn_run(torch, net, x):
    fc_in, rlif, fc_out, lif_out = net
    B = x.shape[1]
    spk = torch.zeros(B, fc_in.out_features)
    mem = torch.zeros_like(spk)
    mem_out = torch.zeros(B, fc_out.out_features)
    for t in range(x.shape[0]):
        spk, mem = rlif(fc_in(x[t]), spk, mem)
        _, mem_out = lif_out(fc_out(spk), mem_out)
    return mem_out


def _time_snn(torch, snn, cfg, x):
    xt = torch.tensor(x, dtype=torch.float32)
    warm = min(WARMUP_STEPS, x.shape[0])
    with torch.inference_mode():
        net = _snn_net(torch, snn, cfg)
        _snn_run(torch, net, xt[:warm])
        net = _snn_net(torch, snn, cfg)
        t0 = time.perf_counter()
        _snn_run(torch, net, xt)
        seconds = time.perf_counter() - t0
    return seconds, {}


# -- the benchmark -----------------------------------------------------------------------------

def _import_torch():
    try:
        import torch
    except ImportError as exc:
        return None, f"torch is not installed ({exc}); install it with `pip install -e .[dev]`"
    return torch, None


def _import_snntorch():
    try:
        import snntorch
    except ImportError as exc:
        return None, (f"snntorch is not installed ({exc}); install it with "
                      f"`pip install -e .[dev]`")
    return snntorch, None


def run_golden_bench(preset="cue", steps=2250, batches=(1, 64), torch=True, snntorch=True,
                     out=print, threads=None, seed=1):
    """Time golden (learning) vs float torch e-prop vs snnTorch forward; print and return.

    Parameters
    ----------
    preset : str
        Configuration preset (:func:`eligo.config.preset`).
    steps : int
        Steps per timed run, for every implementation and batch size.
    batches : sequence of int
        Batch sizes (independent cores for the golden model and the float run).
    torch, snntorch : bool
        Whether to time the float torch run and the snnTorch forward run.
    out : callable
        Receives each printed line.
    threads : int or None
        ``torch.set_num_threads`` for the torch rows; None keeps torch's default.
    seed : int
        Seed of the inputs, targets and weights.

    Returns
    -------
    dict
        JSON-ready: ``rows`` (one per implementation and batch, with ``seconds``,
        ``steps_per_s``, ``syn_updates_per_s`` and ``ratio_golden_over``), ``headline``,
        ``epoch_estimate_s``, ``notes`` and the setup.
    """
    cfg = _preset(preset)
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps!r}")
    batches = [int(b) for b in batches]
    if not batches or min(batches) < 1:
        raise ValueError(f"batches must be positive integers, not {batches!r}")
    notes = []
    torch_mod = snn_mod = None
    if torch or snntorch:
        torch_mod, why = _import_torch()
        if why:
            notes.append(why + ": float torch and snnTorch rows skipped")
    if torch and torch_mod is None:
        torch = False
    elif not torch:
        notes.append("float torch rows skipped (torch=False)")
    if snntorch and torch_mod is not None:
        snn_mod, why = _import_snntorch()
        if why:
            notes.append(why + ": snnTorch rows skipped")
            snntorch = False
    elif snntorch:
        snntorch = False
    else:
        notes.append("snnTorch rows skipped (snntorch=False)")
    if torch_mod is not None and threads is not None:
        torch_mod.set_num_threads(int(threads))
    n_threads = torch_mod.get_num_threads() if torch_mod is not None else None

    syn_per_step = cfg.n_rec * cfg.n_pre
    out(f"eligo golden bench: preset {preset!r} (n_in={cfg.n_in}, n_rec={cfg.n_rec} with "
        f"n_alif={cfg.n_alif}, n_out={cfg.n_out}, trace_mode={cfg.trace_mode}), "
        f"{steps} steps, input rate {INPUT_RATE:.1%}, targets on the last "
        f"{TARGET_FRACTION:.0%} of steps, torch threads {n_threads}")
    out(f"synapse-updates per step = batch * n_rec * (n_in + n_rec) = batch * {syn_per_step}")

    rows, golden_rate = [], {}
    impls = [("golden", "golden (int, learning)")]
    if torch:
        impls.append(("torch-float", "torch float32 e-prop (learning)"))
    if snntorch:
        impls.append(("snntorch-fwd", "snnTorch forward only"))
    for batch in batches:
        x, ystar, mask = _inputs(cfg, steps, batch, seed)
        for impl, _label in impls:
            if impl == "golden":
                seconds, extra = _time_golden(cfg, x, ystar, mask, seed)
            elif impl == "torch-float":
                seconds, extra = _time_float(torch_mod, cfg, x, ystar, mask, seed)
            else:
                seconds, extra = _time_snn(torch_mod, snn_mod, cfg, x)
            seconds = max(seconds, 1e-12)
            rate = steps / seconds
            if impl == "golden":
                golden_rate[batch] = rate
            rows.append({"impl": impl, "batch": batch, "steps": steps, "seconds": seconds,
                         "steps_per_s": rate, "syn_updates_per_s": rate * batch * syn_per_step,
                         **extra})
    for row in rows:
        row["ratio_golden_over"] = golden_rate[row["batch"]] / row["steps_per_s"]

    labels = dict(impls)
    out("")
    out(f"{'implementation':34s} {'batch':>5s} {'s/run':>9s} {'steps/s':>10s} "
        f"{'syn-upd/s':>10s} {'golden/x':>9s}")
    for row in rows:
        out(f"{labels[row['impl']]:34s} {row['batch']:5d} {row['seconds']:9.3f} "
            f"{row['steps_per_s']:10.1f} {row['syn_updates_per_s']:10.3g} "
            f"{row['ratio_golden_over']:9.3f}")
    out("(golden/x = golden steps/s over x steps/s at the same batch; > 1: golden is faster)")
    if snntorch:
        out("note: snnTorch has no ALIF and no eligibility traces, so its rows are forward "
            "only: golden WITH learning against snnTorch WITHOUT it. The like-for-like float "
            "comparison is the torch float32 e-prop row.")

    headline = None
    snn64 = [r for r in rows if r["impl"] == "snntorch-fwd" and r["batch"] == 64]
    if snn64:
        ratio = snn64[0]["ratio_golden_over"]
        headline = {"batch": 64, "ratio": ratio, "goal": GOAL, "met": ratio >= GOAL}
        out(f"headline: golden (learning) / snnTorch forward at batch 64 = {ratio:.3f} "
            f"(goal >= {GOAL}: {'met' if ratio >= GOAL else 'NOT met'})")
    else:
        notes.append("no headline: it needs snnTorch and batch 64")

    epoch = None
    if 1 in golden_rate:
        epoch = EPOCH_TRIALS * steps / golden_rate[1]
        out(f"estimate: one epoch of {EPOCH_TRIALS} trials x {steps} steps at batch 1 "
            f"(golden, learning) = {epoch:.1f} s ({epoch / 60:.1f} min)")
    else:
        notes.append("no epoch estimate: it needs batch 1")
    for note in notes:
        out(f"note: {note}")

    return {"preset": preset, "steps": steps, "batches": batches, "input_rate": INPUT_RATE,
            "target_fraction": TARGET_FRACTION, "torch_threads": n_threads,
            "syn_updates_per_step": f"batch * n_rec * (n_in + n_rec) = batch * {syn_per_step}",
            "rows": rows, "headline": headline, "epoch_trials": EPOCH_TRIALS,
            "epoch_estimate_s": epoch, "notes": notes}


def run_epoch_bench(trials=EPOCH_TRIALS, seed=1, out=print):
    """Time one real training epoch of the golden model: ``trials`` cue-accumulation trials
    (``eligo.model.tasks``, 2250 steps each) one after the other at batch 1, full per-synapse
    traces and learning on, resetting the neuron state between trials.

    Returns a dict with ``seconds``, ``trials``, ``steps`` and the counters.
    """
    from .tasks import make_task
    from .train import _golden_targets

    cfg = _preset("cue")
    split = make_task("cue", trials, 1, seed).train
    model = GoldenModel(cfg)
    model.load_weights(*random_weights(cfg, seed, scale=1.0))
    ystar, mask = _golden_targets(cfg, split, 0)
    model.run(split.x[0][:50, None], ystar[:50, None], mask[:50, None])  # compile/load kernels
    model.reset()
    model.clear_counters()
    out(f"golden epoch: {trials} cue trials x {split.n_steps} steps, batch 1, preset 'cue' "
        f"(full traces), learning on")
    start = time.perf_counter()
    for n in range(trials):
        ystar, mask = _golden_targets(cfg, split, n)
        model.reset()
        model.run(split.x[n][:, None], ystar[:, None], mask[:, None])
        if (n + 1) % max(trials // 10, 1) == 0 or n + 1 == trials:
            out(f"  {n + 1}/{trials} trials, {time.perf_counter() - start:.1f} s")
    seconds = time.perf_counter() - start
    counters = {name: int(value[0]) for name, value in model.counters.items()}
    steps = trials * split.n_steps
    out(f"epoch: {seconds:.1f} s ({steps / seconds:.0f} steps/s); goal: under 60 s")
    out(f"spikes per step {counters['spikes'] / steps:.2f}, row updates "
        f"{counters['row_updates']}, weight writes {counters['weight_writes']}")
    return {"seconds": seconds, "trials": trials, "steps": steps, "counters": counters}
