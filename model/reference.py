"""The float reference: the network of docs/spec.md in real numbers, with PyTorch.

The same neurons, traces, readouts and learning rule as the golden model, driven by the same
:class:`~eligo.config.Config` read as real numbers (:func:`eligo.model.bridge.real_params`):
no quantization, no saturation, no rounding. Weights are in membrane units (a golden integer
``w`` is ``w / 2**w_frac``), targets and readouts are real, and the learning rates are float
arguments of their own (``lr``, ``lr_out``; :func:`eligo.model.bridge.learning_rates` gives the
values a configuration's ``eta``/``lr_shift`` stand for).

One step ``t`` (``z_old``, ``psi_old``, ``pre_old`` are the values of step ``t-1``)::

    I     = W_in x + W_rec z_old
    eps_a = psi_old pre_old + (rho - psi_old beta) eps_a        ALIF rows, "full" mode
    v     = alpha v + I - theta z_old                           reset "subtract"
    v     = (0 if z_old else alpha v) + I                       reset "zero"
    a     = rho a + z_old                                       ALIF (LIF: 0)
    A     = theta + beta_j a
    z     = (v > A) and not refractory
    psi   = 0 if refractory else gamma max(0, 1 - |v - A|)
    ref   = refractory if z else max(ref - 1, 0)
    pre   = alpha pre + (x, z_old)                              xbar, zbar
    e     = psi (pre - beta_j eps_a)
    ebar  = kappa ebar + e        ("factored": ebar = e, no eps_a)
    zout  = kappa zout + z
    y     = kappa y + W_out z
    err   = (y - ystar) mask                                    loss "mse"
    err   = (softmax(y) sum(ystar) - ystar) mask                loss "ce"
    L     = F err + homeo_gain (zout - homeo_target),   F = W_out^T ("symmetric") or B ("random")

and the weights move along ``-L_j ebar_ji`` (input/recurrent) and ``-err_k zout_j``
(readout), through the error trigger or directly (:meth:`Reference.step`). The homeostatic
term (the core's, off when ``homeo_gain`` is 0) is not a gradient of the loss: it holds each
neuron's filtered rate near a target on steps with a target (docs/spec.md, phase 4).

Two losses: ``"mse"``, ``0.5 sum_t sum_k mask (y - ystar)**2`` (the on-chip rule's), and
``"ce"``, the softmax cross-entropy ``-sum_t sum_k mask ystar log softmax(y)`` taken over the
readouts that carry a target at step ``t`` (e-prop's classification loss); ``err`` is the
derivative of the loss by ``y`` in both.

Optionally the firing-rate regularizer of the e-prop paper (Bellec et al. 2020) joins the loss
of a sample of ``T`` steps: ``rate_reg / 2 sum_j (f_j - rate_target)**2``, with
``f_j = (1/T) sum_t z_j`` the mean rate of neuron ``j`` in spikes per step. Its e-prop
direction is ``rate_reg (f_j - rate_target) (1/T) sum_t e_ji`` (the unfiltered eligibility
``e``), summed in per-sample mode only (``trigger=False, online=False``: the rates are
known at the end of the sample).

This module also holds the checks of that rule: :func:`eprop_gradients` (the e-prop direction
summed over a sequence with fixed weights) and :func:`autograd_gradients` (the gradient of the
same loss by backpropagation through time, with the pseudo-derivative ``psi`` as the spike's
derivative). With the e-prop approximations (reset term, recurrent spikes into other neurons'
state: stop-gradient) and symmetric feedback the two are equal; :func:`train_bptt` trains with
the full gradient (Adam), the accuracy ceiling for the on-chip rule.
"""

import torch

from .bridge import real_params
from .checks import check_rate_reg
from .names import EVENT_COUNTERS as COUNTER_NAMES
from .names import STATE_NAMES, WEIGHT_NAMES

__all__ = ["Reference", "SpikeFunction", "STATE_NAMES", "COUNTER_NAMES", "LOSSES",
           "neuron_update", "output_error", "eprop_gradients", "autograd_gradients",
           "sequence_loss", "train_bptt", "Adam"]

LOSSES = ("mse", "ce")


def _check_loss(loss):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}, not {loss!r}")
    return loss


def output_error(loss, y, ystar, mask):
    """``err``, the derivative of one step's loss by the readouts ``y`` (0 where ``mask`` is
    False); all three shaped (batch, n_out), ``mask`` boolean.

    ``"mse"``: ``y - ystar``. ``"ce"``: ``softmax(y) * sum(ystar) - ystar``, the softmax over
    the readouts with a target (the derivative of ``-sum ystar log softmax(y)``; with one-hot
    targets ``softmax(y) - ystar``).
    """
    if loss == "mse":
        return torch.where(mask, y - ystar, torch.zeros_like(ystar))
    logits = torch.where(mask, y, torch.full_like(y, -torch.inf))
    p = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # rows without a target: all -inf
    total = torch.where(mask, ystar, torch.zeros_like(ystar)).sum(dim=-1, keepdim=True)
    return torch.where(mask, p * total - ystar, torch.zeros_like(ystar))


def _step_loss(loss, y, ystar, mask):
    """One step's loss summed over the batch (differentiable), with :func:`output_error`'s
    conventions."""
    if loss == "mse":
        err = torch.where(mask, y - ystar, torch.zeros_like(y))
        return 0.5 * (err * err).sum()
    logits = torch.where(mask, y, torch.full_like(y, -torch.inf))
    logp = torch.log_softmax(logits, dim=-1)
    return -torch.where(mask, ystar * logp, torch.zeros_like(y)).sum()

# The counters are the golden model's without the saturation counters (nothing saturates).


# -- the neuron, shared by the reference and the autograd unrolling -----------------------------

class SpikeFunction(torch.autograd.Function):
    """``z = H(u)`` (strict: ``u > 0``), 0 while refractory; backward multiplies by ``psi``.

    ``u = v - A``; ``psi`` is the pseudo-derivative, already 0 for refractory neurons.
    """

    @staticmethod
    def forward(ctx, u, psi, refractory):
        ctx.save_for_backward(psi)
        return ((u > 0) & ~refractory).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (psi,) = ctx.saved_tensors
        return grad * psi, None, None


def neuron_update(rp, reset, refractory, alif, v, a, ref, z_old, I, *, differentiable=False,
                  detach_reset=True):
    """Phase 1 of the spec for one step in float; returns ``(v, a, ref, z, psi)``.

    ``rp``: real parameters (:func:`eligo.model.bridge.real_params`); ``alif``: 1.0 for ALIF
    neurons, 0.0 for LIF (shape ``n_rec``). With ``differentiable`` the spike is
    :class:`SpikeFunction`; ``detach_reset`` stops the gradient of the reset term
    (``theta z_old`` in "subtract" mode, ``alpha v z_old`` in "zero" mode) without changing
    any value. The forward values are the same, bit for bit, in every mode.
    """
    dv = rp.alpha * v
    if reset == "subtract":
        r = rp.theta * z_old
        v = dv + I - (r.detach() if detach_reset else r)
    else:
        kept = torch.where(z_old > 0, torch.zeros_like(dv), dv)
        if differentiable:
            # Both forms are exactly `kept`: dv + (0 - dv) = 0 and dv + (dv - dv) = dv.
            kept = dv + (kept - dv).detach() if detach_reset else (1 - z_old) * dv
        v = kept + I
    a = (rp.rho * a + z_old) * alif
    u = v - (rp.theta + rp.beta * alif * a)
    rf = ref > 0
    h = torch.clamp(1 - u.detach().abs(), min=0)
    psi = torch.where(rf, torch.zeros_like(h), rp.gamma * h)
    if differentiable:
        z = SpikeFunction.apply(u, psi, rf)
    else:
        z = ((u > 0) & ~rf).to(u.dtype)
    ref = torch.where(z > 0, torch.full_like(ref, refractory), torch.clamp(ref - 1, min=0))
    return v, a, ref, z, psi


# -- the reference ------------------------------------------------------------------------------

class Reference:
    """The float network of one eligo core, vectorized over a batch of cores.

    Parameters
    ----------
    cfg : eligo.config.Config
    batch : int
        Independent cores side by side (each with its own weights, state and counters).
    dtype, device : torch dtype and device of every state tensor.
    lr, lr_out : float
        Default learning rates of :meth:`step`, :meth:`run` and :meth:`apply_updates`.
    loss : {"mse", "ce"}
        The loss whose derivative ``err`` is (module docstring); "mse" is the on-chip rule's.
    shared_weights : bool
        One set of weights for every core of the batch (weight tensors with a batch axis of
        1): the per-sample e-prop directions of many samples with the same weights, about 1.5x
        faster at batch 64. Such a reference learns only into :attr:`grad` (``trigger=False,
        online=False``) and never applies it (``run(..., apply=False)``): the caller sums it
        over the batch.
    rate_reg, rate_target : float
        The firing-rate regularizer (module docstring), 0 (off) by default; ``rate_target`` in
        spikes per step (0.01: 10 Hz at 1 ms steps). Per-sample mode only: its direction joins
        :attr:`grad` over the steps since :meth:`clear_grad`, which must be one sample.

    Members
    -------
    state : dict of str to torch.Tensor
        The variables of docs/spec.md section 2 in real units, leading batch axis (``eps`` and
        ``ebar`` in "full" trace mode only; ``ref`` is an int64 tensor).
    counters : dict of str to torch.Tensor
        ``spikes``, ``row_updates``, ``weight_writes`` (int64, one per core).
    grad : dict
        ``w_in``, ``w_rec``, ``w_out``: the e-prop directions accumulated by steps with
        ``trigger=False, online=False``, waiting for :meth:`apply_updates` (with ``rate_reg``,
        plus the regularizer's, from the rates of the steps so far).
    t : int
        Steps taken (``reset()`` keeps it).
    """

    def __init__(self, cfg, batch=1, dtype=torch.float64, device="cpu", lr=1e-2, lr_out=1e-2,
                 loss="mse", shared_weights=False, rate_reg=0.0, rate_target=0.01):
        self.loss = _check_loss(loss)
        check_rate_reg(rate_reg, rate_target)
        self.rate_reg, self.rate_target = rate_reg, rate_target
        self.shared = bool(shared_weights)
        if isinstance(batch, bool) or not isinstance(batch, int):
            raise TypeError(f"batch must be an integer, not {batch!r}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch!r}")
        self.cfg, self.batch, self.dtype, self.device = cfg, batch, dtype, torch.device(device)
        self.lr, self.lr_out = lr, lr_out
        self.rp = real_params(cfg)
        self.full = cfg.trace_mode == "full"
        c, B, kw = cfg, batch, dict(dtype=dtype, device=self.device)
        self.alif = (torch.arange(c.n_rec, device=self.device) >= c.n_lif).to(dtype)
        self.beta_j = self.rp.beta * self.alif
        # Synapses that may be written: every one except the W_rec diagonal.
        self.writable = torch.ones(c.n_rec, c.n_pre, **kw)
        self._rows = torch.arange(c.n_rec, device=self.device)
        self.writable[self._rows, c.n_in + self._rows] = 0
        self.t = 0
        # W is w_in beside w_rec, pre is xbar then zbar: the public names are views of them.
        WB = 1 if self.shared else B
        self._W = torch.zeros(WB, c.n_rec, c.n_pre, **kw)
        self._pre = torch.zeros(B, c.n_pre, **kw)
        self.state = {"w_in": self._W[:, :, :c.n_in], "w_rec": self._W[:, :, c.n_in:],
                      "w_out": torch.zeros(WB, c.n_out, c.n_rec, **kw),
                      "b": torch.zeros(WB, c.n_rec, c.n_out, **kw)}
        self.reset()
        self.clear_counters()
        self.clear_grad()

    # -- state management ------------------------------------------------------------------

    def _zeros(self, *shape):
        return torch.zeros((self.batch,) + shape, dtype=self.dtype, device=self.device)

    def reset(self):
        """Clear the per-sample state; keep weights, counters, ``t`` and pending updates."""
        c = self.cfg
        st = self.state
        for name in ("v", "a", "z", "psi", "zout", "acc"):
            st[name] = self._zeros(c.n_rec)
        for name in ("y", "err", "acc_out"):
            st[name] = self._zeros(c.n_out)
        st["ref"] = torch.zeros(self.batch, c.n_rec, dtype=torch.int64, device=self.device)
        if self.full:
            st["eps"] = self._zeros(c.n_alif, c.n_pre)
            st["ebar"] = self._zeros(c.n_rec, c.n_pre)
        self._pre.zero_()
        st["xbar"] = self._pre[:, :c.n_in]
        st["zbar"] = self._pre[:, c.n_in:]

    def clear_counters(self):
        self._counts = torch.zeros(self.batch, len(COUNTER_NAMES), dtype=torch.int64,
                                   device=self.device)

    @property
    def counters(self):
        return {name: self._counts[:, i] for i, name in enumerate(COUNTER_NAMES)}

    def clear_grad(self):
        """Drop the accumulated, not yet applied e-prop directions."""
        c = self.cfg
        self._grad_W = self._zeros(c.n_rec, c.n_pre)
        self._grad_out = self._zeros(c.n_out, c.n_rec)
        self._pending = torch.zeros(self.batch, dtype=torch.bool, device=self.device)
        if self.rate_reg:
            # sum_t e_ji and sum_t z_j since the last clear, for the firing-rate regularizer.
            self._e_sum, self._z_sum, self._rate_steps = self._zeros(c.n_rec, c.n_pre), \
                self._zeros(c.n_rec), 0

    def _total_grad_W(self):
        """The input/recurrent directions, plus the rate term ``rate_reg (f_j - rate_target)
        (1/T) sum_t e_ji`` with ``f_j = (1/T) sum_t z_j`` over the ``T`` steps summed."""
        if not (self.rate_reg and self._rate_steps):
            return self._grad_W
        T = self._rate_steps
        scale = self.rate_reg / T * (self._z_sum / T - self.rate_target)
        return self._grad_W + scale[:, :, None] * self._e_sum * self.writable

    @property
    def grad(self):
        n_in, grad_W = self.cfg.n_in, self._total_grad_W()
        return {"w_in": grad_W[:, :, :n_in], "w_rec": grad_W[:, :, n_in:],
                "w_out": self._grad_out}

    def _tensor(self, value):
        if isinstance(value, torch.Tensor):
            return value.to(dtype=self.dtype, device=self.device)
        return torch.as_tensor(value, dtype=self.dtype, device=self.device)

    @torch.no_grad()
    def load_weights(self, w_in, w_rec, w_out, b=None, *, from_golden=False):
        """Load weights shaped per core or with a leading batch axis (broadcast to all).

        Float values in membrane units, or with ``from_golden`` the golden model's integers
        (divided by ``2**w_frac``). ``b`` (random feedback) is kept when None. Raises
        ``ValueError`` naming the matrix for a wrong shape, a non-finite value or a nonzero
        ``w_rec`` diagonal; nothing is loaded then.
        """
        c, WB = self.cfg, 1 if self.shared else self.batch
        given = {"w_in": (w_in, (c.n_rec, c.n_in)), "w_rec": (w_rec, (c.n_rec, c.n_rec)),
                 "w_out": (w_out, (c.n_out, c.n_rec))}
        if b is not None:
            given["b"] = (b, (c.n_rec, c.n_out))
        new = {}
        for name, (value, shape) in given.items():
            arr = self._tensor(value)
            if from_golden:
                arr = arr / 2.0**c.w_frac
            if tuple(arr.shape) not in (shape, (WB,) + shape):
                raise ValueError(f"{name} must have shape {shape} or {(WB,) + shape}, "
                                 f"not {tuple(arr.shape)}")
            if not torch.isfinite(arr).all():
                raise ValueError(f"{name} must be finite")
            new[name] = arr.expand((WB,) + shape)
        if torch.diagonal(new["w_rec"], dim1=-2, dim2=-1).any():
            raise ValueError("w_rec must have a zero diagonal (no self-connections)")
        for name, arr in new.items():
            self.state[name].copy_(arr)

    def weights(self):
        """A copy of the weights: dict of ``w_in``, ``w_rec``, ``w_out``, ``b``."""
        return {name: self.state[name].clone() for name in WEIGHT_NAMES}

    def snapshot(self):
        """A copy of every state variable and counter, plus ``t``."""
        snap = {name: arr.clone() for name, arr in self.state.items()}
        snap.update({name: arr.clone() for name, arr in self.counters.items()})
        snap["t"] = self.t
        return snap

    # -- one timestep ------------------------------------------------------------------------

    def _events(self, x, n, name):
        x = self._tensor(x)
        if tuple(x.shape) == (n,) and self.batch == 1:
            x = x[None]
        if tuple(x.shape) != (self.batch, n):
            raise ValueError(f"{name} must have shape {(self.batch, n)}, not {tuple(x.shape)}")
        return x

    def _eligibility(self, psi):
        """``e = psi (pre - beta_j eps_a)``, shape (batch, n_rec, n_pre)."""
        c = self.cfg
        e = psi[:, :, None] * self._pre[:, None, :]
        if self.full and c.n_alif:
            alif_pre = self._pre[:, None, :] - self.rp.beta * self.state["eps"]
            e[:, c.n_lif:] = psi[:, c.n_lif:, None] * alif_pre
        return e

    @torch.no_grad()
    def step(self, x, ystar=None, mask=None, learn=None, trigger=True, lr=None, lr_out=None,
             online=True):
        """Advance every core by one step; returns ``(z, y)``.

        ``x``: inputs (batch, n_in), spikes (0/1) or any real values. ``ystar``, ``mask``:
        real targets and which readouts carry one (batch, n_out), both None for a step
        without targets. ``learn`` (default ``cfg.learn``): update traces and, on steps with
        a target, learn. With ``trigger`` the learning signal goes through the error
        accumulators (``q_max``, ``trigger``, ``accumulate_error`` of the configuration) and
        only triggered rows are written, ``W[j] -= lr q trigger ebar[j]``; without it every
        row moves by ``-lr L_j ebar[j]`` on every target step (``online``) or the direction
        is accumulated into :attr:`grad` until :meth:`apply_updates` (not ``online``).
        Readout rows likewise with ``err``, ``zout``, ``trigger_out`` and ``lr_out``.
        """
        c, rp, st = self.cfg, self.rp, self.state
        x = self._events(x, c.n_in, "events")
        if (ystar is None) != (mask is None):
            raise ValueError("targets and target mask must be given together")
        if ystar is None:
            ystar = self._zeros(c.n_out)
            mask = torch.zeros(self.batch, c.n_out, dtype=torch.bool, device=self.device)
        else:
            ystar = self._events(ystar, c.n_out, "targets")
            mask = self._events(mask, c.n_out, "target mask") != 0
        learn = c.learn if learn is None else bool(learn)
        lr = self.lr if lr is None else lr
        lr_out = self.lr_out if lr_out is None else lr_out
        if learn and self.shared and (trigger or online):
            raise ValueError("a Reference with shared weights learns only into grad "
                             "(trigger=False, online=False)")
        if learn and self.rate_reg and (trigger or online):
            raise ValueError("the firing-rate regularizer is a term of per-sample e-prop "
                             "(trigger=False, online=False)")

        # Phase 1: synaptic input, ALIF eligibility with the old psi and pre, neurons.
        z_old, psi_old = st["z"], st["psi"]
        s = torch.cat([x, z_old], dim=-1)
        I = self._matvec(self._W, s)
        if learn and self.full and c.n_alif:
            # In place (the largest tensors of a step): (rho - psi beta) eps + psi pre.
            psi_a = psi_old[:, c.n_lif:, None]
            st["eps"].mul_(rp.rho - psi_a * rp.beta).addcmul_(psi_a, self._pre[:, None, :])
        v, a, ref, z, psi = neuron_update(rp, c.reset, c.refractory, self.alif, st["v"],
                                          st["a"], st["ref"], z_old, I)
        st.update(v=v, a=a, ref=ref, z=z, psi=psi)

        # Phase 2: presynaptic traces, eligibility, readout traces.
        if learn:
            self._pre.mul_(rp.alpha).add_(s)
            if self.full:
                # In place: kappa ebar + psi pre, and - psi beta eps on the ALIF rows.
                ebar, pre = st["ebar"].mul_(rp.kappa), self._pre[:, None, :]
                ebar.addcmul_(psi[:, :, None], pre)
                if c.n_alif:
                    psi_a = psi[:, c.n_lif:, None]
                    ebar[:, c.n_lif:].addcmul_(psi_a, st["eps"], value=-rp.beta)
            st["zout"] = rp.kappa * st["zout"] + z

        # Phase 3: readout and error.
        st["y"] = rp.kappa * st["y"] + self._matvec(st["w_out"], z)
        st["err"] = output_error(self.loss, st["y"], ystar, mask)

        # Phase 4: learning (on cores whose step carries a target; the rate term every step).
        if learn and self.rate_reg:
            self._sum_rate_terms(psi, z)
        if learn and mask.any():
            self._learn(mask.any(dim=1), trigger, lr, lr_out, online)

        # Phase 5.
        self._counts[:, 0] += z.sum(dim=1).to(torch.int64)
        self.t += 1
        return z.clone(), st["y"].clone()

    def _sum_rate_terms(self, psi, z):
        """Add this step's ``e = psi (pre - beta_j eps_a)`` and ``z`` to their sums."""
        c = self.cfg
        if self.full:  # in place, like ebar
            self._e_sum.addcmul_(psi[:, :, None], self._pre[:, None, :])
            if c.n_alif:
                self._e_sum[:, c.n_lif:].addcmul_(psi[:, c.n_lif:, None], self.state["eps"],
                                                  value=-self.rp.beta)
        else:
            self._e_sum.add_(self._eligibility(psi))
        self._z_sum.add_(z)
        self._rate_steps += 1
        self._pending[:] = True

    def _matvec(self, w, v):
        """``w v`` per core: w (batch or 1, m, n), v (batch, n)."""
        if self.shared:
            return torch.matmul(v, w[0].T)
        return torch.matmul(w, v[:, :, None])[:, :, 0]

    def _learn(self, has_target, trigger, lr, lr_out, online):
        c, rp, st = self.cfg, self.rp, self.state
        err = st["err"]
        feedback = st["w_out"].transpose(1, 2) if c.feedback == "symmetric" else st["b"]
        L = self._matvec(feedback, err)
        if rp.homeo_gain:  # the homeostatic term (docs/spec.md, phase 4)
            L = L + rp.homeo_gain * (st["zout"] - rp.homeo_target)
        ebar = st["ebar"] if self.full else self._eligibility(st["psi"])
        zout = st["zout"][:, None, :]
        if trigger:
            q = self._trigger("acc", L, rp.trigger, has_target)
            q_out = self._trigger("acc_out", err, rp.trigger_out, has_target)
            # Every update is computed from the weights at the start of the phase.
            dW = (q * rp.trigger)[:, :, None] * ebar * self.writable
            dW_out = (q_out * rp.trigger_out)[:, :, None] * zout
            self._W.sub_(lr * dW)
            st["w_out"].sub_(lr_out * dW_out)
            self._count_rows((q != 0).sum(dim=1), (q_out != 0).sum(dim=1))
            return
        if not online:
            # In place (no (batch, n_rec, n_pre) temporaries); the W_rec diagonal stays 0.
            L = torch.where(has_target[:, None], L, 0.0)
            self._grad_W.addcmul_(L[:, :, None], ebar)
            self._grad_W[:, self._rows, c.n_in + self._rows] = 0
            self._grad_out.addcmul_(torch.where(has_target[:, None], err, 0.0)[:, :, None], zout)
            self._pending |= has_target
            return
        g = torch.where(has_target[:, None, None], L[:, :, None] * ebar * self.writable, 0.0)
        g_out = torch.where(has_target[:, None, None], err[:, :, None] * zout, 0.0)
        self._W.sub_(lr * g)
        st["w_out"].sub_(lr_out * g_out)
        self._count_rows(has_target * c.n_rec, has_target * c.n_out)

    def _trigger(self, name, signal, threshold, has_target):
        c, st = self.cfg, self.state
        acc = signal + st[name] if c.accumulate_error else signal.clone()
        q = torch.sign(acc) * torch.clamp(torch.floor(acc.abs() / threshold), max=c.q_max)
        q = torch.where(has_target[:, None], q, torch.zeros_like(q))
        st[name] = torch.where(has_target[:, None], acc - q * threshold, st[name])
        return q

    def _count_rows(self, rows, rows_out):
        c = self.cfg
        rows, rows_out = rows.to(torch.int64), rows_out.to(torch.int64)
        self._counts[:, 1] += rows + rows_out
        self._counts[:, 2] += rows * (c.n_pre - 1) + rows_out * c.n_rec

    @torch.no_grad()
    def apply_updates(self, lr=None, lr_out=None):
        """Apply the accumulated directions (``W -= lr grad``), count every row of each core
        that had a target as written, and clear them."""
        c = self.cfg
        if self.shared:
            raise ValueError("a Reference with shared weights does not apply its grad: sum it "
                             "over the batch and load the new weights")
        lr = self.lr if lr is None else lr
        lr_out = self.lr_out if lr_out is None else lr_out
        self._W.sub_(lr * self._total_grad_W())
        self.state["w_out"].sub_(lr_out * self._grad_out)
        self._count_rows(self._pending * c.n_rec, self._pending * c.n_out)
        self.clear_grad()

    # -- whole sequences ---------------------------------------------------------------------

    def run(self, inputs, ystar=None, mask=None, learn=None, trigger=True, lr=None, lr_out=None,
            online=True, record=False, apply=True):
        """Run ``T`` steps; equal to calling :meth:`step` ``T`` times (then, when not
        ``online`` and ``apply``, :meth:`apply_updates`: the end of a sample).

        ``inputs``: (T, batch, n_in); ``ystar``, ``mask``: (T, batch, n_out) or None (with
        batch 1 the batch axis may be left out). Returns a dict with ``z`` (T, batch, n_rec)
        and ``y`` (T, batch, n_out); with ``record`` (True, or a list of state/counter names)
        also every recorded variable after every step, stacked on a leading time axis.
        """
        inputs = self._tensor(inputs)
        if inputs.ndim == 2 and self.batch == 1:
            inputs = inputs[:, None]
            ystar = None if ystar is None else self._tensor(ystar)[:, None]
            mask = None if mask is None else torch.as_tensor(mask)[:, None]
        if inputs.ndim != 3:
            raise ValueError(f"inputs must have shape (T, {self.batch}, {self.cfg.n_in}), "
                             f"not {tuple(inputs.shape)}")
        T = inputs.shape[0]
        for name, arr in (("targets", ystar), ("target mask", mask)):
            if arr is not None and len(arr) != T:
                raise ValueError(f"{name} must have {T} steps like the inputs, not {len(arr)}")
        learn = self.cfg.learn if learn is None else bool(learn)
        if self.shared and learn and apply and not (trigger or online):
            raise ValueError("a Reference with shared weights does not apply its grad: "
                             "run with apply=False")
        names = list(self.snapshot()) if record is True else list(record or [])
        for name in names:
            self._value(name)  # refuse an unknown name before running
        trace = {name: [] for name in names}
        zs, ys = [], []
        for t in range(T):
            z, y = self.step(inputs[t], None if ystar is None else ystar[t],
                             None if mask is None else mask[t], learn, trigger, lr, lr_out,
                             online)
            zs.append(z)
            ys.append(y)
            for name in names:
                trace[name].append(self._value(name))
        if learn and not trigger and not online and apply:
            self.apply_updates(lr, lr_out)
        result = {"z": torch.stack(zs) if zs else self._zeros(self.cfg.n_rec)[None][:0],
                  "y": torch.stack(ys) if ys else self._zeros(self.cfg.n_out)[None][:0]}
        for name in names:
            result[name] = torch.stack(trace[name]) if trace[name] else torch.zeros(0)
        return result

    def _value(self, name):
        if name == "t":
            return torch.tensor(self.t)
        if name in COUNTER_NAMES:
            return self.counters[name].clone()
        if name not in self.state:
            raise ValueError(f"cannot record {name!r}: no such state variable or counter "
                             f"in this configuration")
        return self.state[name].clone()


# -- gradients of a sequence's loss ---------------------------------------------------------------

def _weights(weights, dtype, device):
    """(w_in, w_rec, w_out, b) as float tensors from a dict or a tuple."""
    if isinstance(weights, dict):
        weights = tuple(weights.get(name) for name in WEIGHT_NAMES)
    weights = tuple(weights) + (None,) * (4 - len(weights))
    return tuple(None if w is None else torch.as_tensor(w).to(dtype=dtype, device=device)
                 for w in weights)


def _sequence(cfg, x, ystar, mask, dtype, device):
    """Inputs (T, B, n_in), targets (T, B, n_out) and boolean masks, batch axis added."""
    x = torch.as_tensor(x).to(dtype=dtype, device=device)
    single = x.ndim == 2
    if single:
        x = x[:, None]
    T, B = x.shape[:2]
    if ystar is None:
        ystar = torch.zeros(T, B, cfg.n_out, dtype=dtype, device=device)
        mask = torch.zeros(T, B, cfg.n_out, dtype=torch.bool, device=device)
    else:
        ystar = torch.as_tensor(ystar).to(dtype=dtype, device=device)
        mask = torch.ones_like(ystar, dtype=torch.bool) if mask is None else \
            torch.as_tensor(mask).to(device=device) != 0
        if single:
            ystar, mask = ystar[:, None], mask[:, None]
    return x, ystar, mask


def eprop_gradients(cfg, weights, x, ystar, mask, dtype=torch.float64, device="cpu",
                    loss="mse", rate_reg=0.0, rate_target=0.01):
    """The e-prop direction summed over a sequence, with fixed weights.

    For the loss ``E`` (``"mse"``: ``0.5 sum_t sum_k mask (y - ystar)**2``; ``"ce"``: the
    softmax cross-entropy of the module docstring), ``err = dE/dy``: ``w_in``/``w_rec``:
    ``sum_t L_j(t) ebar_ji(t)`` (``w_rec`` diagonal 0), ``w_out``: ``sum_t err_k(t) zout_j(t)``,
    from the traces of :class:`Reference` (so the configuration's feedback and trace mode
    apply: "random" uses ``b``, "factored" drops ``eps_a`` and the ``kappa`` filter).
    ``weights``: dict or tuple ``(w_in, w_rec, w_out[, b])`` in membrane units, shared by the
    batch; ``x``: (T, n_in) or (T, B, n_in); gradients are summed over the batch. With
    ``rate_reg`` the firing-rate regularizer's direction (module docstring) is added, each
    sequence of the batch being one sample.
    """
    w_in, w_rec, w_out, b = _weights(weights, dtype, device)
    x, ystar, mask = _sequence(cfg, x, ystar, mask, dtype, device)
    ref = Reference(cfg, batch=x.shape[1], dtype=dtype, device=device, loss=loss,
                    shared_weights=True, rate_reg=rate_reg, rate_target=rate_target)
    ref.load_weights(w_in, w_rec, w_out, b)
    for t in range(x.shape[0]):
        ref.step(x[t], ystar[t], mask[t], learn=True, trigger=False, online=False)
    return {name: g.sum(dim=0) for name, g in ref.grad.items()}


def sequence_loss(cfg, params, x, ystar, mask, eprop_approximations=False, detach_reset=True,
                  loss="mse", rate_reg=0.0, rate_target=0.01):
    """The loss (``"mse"``: ``0.5 sum mask (y - ystar)**2``; ``"ce"``: the softmax
    cross-entropy of the module docstring) of the network unrolled with autograd.

    ``params``: (w_in, w_rec, w_out) tensors (the w_rec diagonal is masked to 0); ``x``,
    ``ystar``, ``mask``: (T, B, ...). Returns ``(loss, y, z)`` with y (T, B, n_out) and
    z (T, B, n_rec). The spike is :class:`SpikeFunction`. ``eprop_approximations``: the
    recurrent input uses ``z_old.detach()``, so gradients flow only through each neuron's own
    state (membrane, ALIF adaptation ``a = rho a + z_old`` with its own undetached spike) and
    the readouts (which see ``z`` undetached); otherwise full BPTT through the surrogate.
    ``detach_reset`` (both modes): stop-gradient on the reset term, ``theta z_old`` or, in
    "zero" mode, ``alpha v z_old``; e-prop's traces assume it. ``rate_reg``: plus the
    firing-rate regularizer of each sequence (module docstring).
    """
    _check_loss(loss)
    check_rate_reg(rate_reg, rate_target)
    w_in, w_rec, w_out = params
    rp = real_params(cfg)
    T, B = x.shape[:2]
    kw = dict(dtype=w_in.dtype, device=w_in.device)
    alif = (torch.arange(cfg.n_rec, device=w_in.device) >= cfg.n_lif).to(w_in.dtype)
    off_diag = 1 - torch.eye(cfg.n_rec, **kw)
    W = torch.cat([w_in, w_rec * off_diag], dim=1).expand(B, cfg.n_rec, cfg.n_pre)
    w_out = w_out.expand(B, cfg.n_out, cfg.n_rec)
    v, a, z = (torch.zeros(B, cfg.n_rec, **kw) for _ in range(3))
    ref = torch.zeros(B, cfg.n_rec, dtype=torch.int64, device=w_in.device)
    y = torch.zeros(B, cfg.n_out, **kw)
    total = torch.zeros((), **kw)
    ys, zs = [], []
    for t in range(T):
        z_syn = z.detach() if eprop_approximations else z
        s = torch.cat([x[t], z_syn], dim=-1)
        I = torch.matmul(W, s[:, :, None])[:, :, 0]
        v, a, ref, z, _ = neuron_update(rp, cfg.reset, cfg.refractory, alif, v, a, ref, z, I,
                                        differentiable=True,
                                        detach_reset=detach_reset)
        y = rp.kappa * y + torch.matmul(w_out, z[:, :, None])[:, :, 0]
        total = total + _step_loss(loss, y, ystar[t], mask[t])
        ys.append(y)
        zs.append(z)
    if rate_reg and T:
        rates = torch.stack(zs).mean(dim=0)
        total = total + 0.5 * rate_reg * ((rates - rate_target) ** 2).sum()
    return total, torch.stack(ys), torch.stack(zs)


def autograd_gradients(cfg, weights, x, ystar, mask, eprop_approximations=True,
                       detach_reset=True, dtype=torch.float64, device="cpu", loss="mse",
                       rate_reg=0.0, rate_target=0.01):
    """The gradient of the loss of :func:`eprop_gradients` by autograd through the unrolled
    network (:func:`sequence_loss`): dict of ``w_in``, ``w_rec`` (diagonal 0), ``w_out``.

    With ``eprop_approximations`` (recurrent spikes detached as inputs of other neurons) and
    ``detach_reset`` it equals :func:`eprop_gradients` with symmetric feedback and "full"
    traces; without the approximations it is full BPTT with the pseudo-derivative (the reset
    term still detached unless ``detach_reset`` is False).
    """
    w_in, w_rec, w_out, _ = _weights(weights, dtype, device)
    x, ystar, mask = _sequence(cfg, x, ystar, mask, dtype, device)
    params = [w.detach().clone().requires_grad_(True) for w in (w_in, w_rec, w_out)]
    with torch.enable_grad():
        value, _, _ = sequence_loss(cfg, params, x, ystar, mask, eprop_approximations,
                                    detach_reset, loss, rate_reg, rate_target)
        grads = torch.autograd.grad(value, params, allow_unused=True)
    return {name: torch.zeros_like(p) if g is None else g
            for name, p, g in zip(("w_in", "w_rec", "w_out"), params, grads)}


class Adam:
    """Adam (Kingma and Ba 2015) with the usual defaults, written out: torch.optim's first
    construction costs seconds of imports, far more than training the small networks here."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.k = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        (b1, b2), self.k = self.betas, self.k + 1
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            step = (m / (1 - b1**self.k)) / ((v / (1 - b2**self.k)).sqrt() + self.eps)
            p.sub_(self.lr * step)


def train_bptt(cfg, weights, batches, lr=1e-2, epochs=10, eprop_approximations=False,
               detach_reset=True, dtype=torch.float64, device="cpu", loss="mse",
               rate_reg=0.0, rate_target=0.01, adam=None, stats=None):
    """Adam on the loss of :func:`sequence_loss` (full BPTT by default, with the firing-rate
    regularizer when ``rate_reg``): the accuracy ceiling.

    ``adam``: an :class:`Adam` over tensors shaped like ``w_in``, ``w_rec``, ``w_out`` to go
    on with (its moments and step count carry over into this call and are updated by it), so
    that training split over several calls, as ``eligo train`` does epoch by epoch, equals one
    call; ``lr`` is then unused. Default: a fresh Adam of rate ``lr``. ``stats``: a dict
    whose ``"spikes"`` entry (created at 0) gains the spikes of every batch as trained.

    ``batches``: a list of ``(x, ystar, mask)`` with x (T, B, n_in) (or (T, n_in)), visited in
    order every epoch, one Adam step each. Returns ``(weights, losses)``: the trained weights
    (dict of ``w_in``, ``w_rec`` with a zero diagonal, ``w_out``, detached) and the mean loss
    over the batches of each epoch (each batch's loss taken just before its Adam step).
    """
    w_in, w_rec, w_out, _ = _weights(weights, dtype, device)
    params = [w.detach().clone().requires_grad_(True) for w in (w_in, w_rec, w_out)]
    data = [_sequence(cfg, x, ystar, mask, dtype, device) for x, ystar, mask in batches]
    if adam is None:
        opt = Adam(params, lr)
    else:
        if [a.shape for a in adam.m] != [p.shape for p in params]:
            raise ValueError("adam's moments are not shaped like w_in, w_rec, w_out")
        opt, opt.params = adam, params
    losses = []
    with torch.enable_grad():
        for _ in range(epochs):
            total = 0.0
            for x, ystar, mask in data:
                opt.zero_grad()
                value, _, z = sequence_loss(cfg, params, x, ystar, mask,
                                            eprop_approximations, detach_reset, loss,
                                            rate_reg, rate_target)
                if stats is not None:
                    stats["spikes"] = stats.get("spikes", 0) + int(z.detach().sum().item())
                value.backward()
                opt.step()
                total += value.item()
            losses.append(total / max(len(data), 1))
    with torch.no_grad():
        params[1].fill_diagonal_(0)
    return {name: p.detach() for name, p in zip(("w_in", "w_rec", "w_out"), params)}, losses
