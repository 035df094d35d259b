"""Training a network on a task with one tier, with progress, a JSON report and a plot.

Tiers: ``golden`` (the bit-exact integer model learning online with its error trigger, as on
chip); ``reference`` (float e-prop: online at batch 1 like the chip by default, or with
``batch`` the per-sample e-prop directions summed over mini-batches and applied with Adam, as
in the e-prop paper) and ``bptt`` (float backpropagation through time, Adam). Classification
answers with the readout whose mean over the target window is largest; its targets are 1.0 on
the label's readout and 0.0 on the others inside the target window (the loss is the squared
error, or with ``loss="ce"`` in the float tiers the softmax cross-entropy over the readouts).
Regression reports the mean squared error over the target window. Same seed, same result.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from eligo.config import preset as get_preset

from .bridge import quantize_targets
from .checks import check_rate_reg
from .golden import GoldenModel, random_weights
from .tasks import chance_level, make_task

__all__ = ["TrainSettings", "train", "TIERS", "Progress"]


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    task: str = "cue"
    tier: str = "golden"
    preset: str = "cue"
    epochs: int = 1
    n_train: int = 200
    n_test: int = 100
    seed: int = 1
    weight_scale: float = 1.0
    bptt_lr: float = 1e-3
    # reference tier: no error trigger, every row moves by -lr L_j ebar_j at every target step
    # (the rule whose writes the trigger saves; the golden core has no such mode)
    every_step: bool = False
    # float tiers: mini-batch size. reference: None trains online (one sample at a time, the
    # weights move during the sample); N sums the per-sample e-prop directions of N samples
    # (weights fixed during the batch) and takes one Adam step of rate eprop_lr. bptt: None is
    # its default of 16.
    batch: int | None = None
    eprop_lr: float = 1e-3
    eprop_lr_decay: float = 1.0  # factor on eprop_lr after every epoch (1: constant)
    bptt_lr_decay: float = 1.0  # factor on bptt_lr after every epoch (1: constant)
    loss: str = "mse"  # float tiers: "mse" or "ce" (softmax cross-entropy, classification)
    # reference with batch, bptt: the firing-rate regularizer rate_reg/2 sum_j (f_j - f*)**2
    # of every sample (f_j: neuron j's spikes per step, f* = rate_target); 0: off
    rate_reg: float = 0.0
    rate_target: float = 0.01
    task_params: dict = dataclasses.field(default_factory=dict)
    config_changes: dict = dataclasses.field(default_factory=dict)
    # golden: {epoch: {runtime field: value}}, written before that epoch (2 or later) as a
    # host writes the core's parameter registers between samples, e.g. a smaller eta
    epoch_params: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(map(repr, TIERS))}, "
                             f"not {self.tier!r}")
        for name in ("epochs", "n_train", "n_test"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.every_step and self.tier != "reference":
            raise ValueError(f"every_step is a mode of the reference tier, not of {self.tier!r}")
        if self.batch is not None:
            if self.tier == "golden":
                raise ValueError("batch is a setting of the float tiers (reference, bptt), "
                                 "not of 'golden': the golden core learns online")
            if isinstance(self.batch, bool) or not isinstance(self.batch, int) \
                    or self.batch < 1:
                raise ValueError(f"batch must be a positive integer, not {self.batch!r}")
            if self.every_step:
                raise ValueError("every_step is a mode of online training; it cannot be "
                                 "combined with batch")
        for name in ("bptt_lr", "eprop_lr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        for name in ("eprop_lr_decay", "bptt_lr_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], not {value!r}")
        if self.eprop_lr_decay != 1 and (self.tier != "reference" or self.batch is None):
            raise ValueError("eprop_lr_decay is a setting of the reference tier with batch")
        if self.bptt_lr_decay != 1 and self.tier != "bptt":
            raise ValueError(f"bptt_lr_decay is a setting of the bptt tier, not of "
                             f"{self.tier!r}")
        check_rate_reg(self.rate_reg, self.rate_target)
        if self.rate_reg and not (self.tier == "bptt"
                                  or self.tier == "reference" and self.batch is not None):
            raise ValueError("rate_reg is a setting of the bptt tier and of the reference "
                             "tier with batch")
        if self.loss not in ("mse", "ce"):
            raise ValueError(f"loss must be one of 'mse', 'ce', not {self.loss!r}")
        self._check_epoch_params()
        if self.loss != "mse" and self.tier == "golden":
            raise ValueError(f"loss {self.loss!r} is a setting of the float tiers, not of "
                             f"'golden' (the core's error is y - y*)")

    def _check_epoch_params(self):
        if not self.epoch_params:
            return
        # the registers the core's host may write (lr_shift is an elaboration constant there)
        from eligo.rtl.regmap import RUNTIME_PARAMS
        if self.tier != "golden":
            raise ValueError(f"epoch_params is a setting of the golden tier, not of "
                             f"{self.tier!r}")
        for epoch, changes in self.epoch_params.items():
            if isinstance(epoch, bool) or not isinstance(epoch, int) \
                    or not 2 <= epoch <= self.epochs:
                raise ValueError(f"epoch_params: epoch must be an integer from 2 to epochs "
                                 f"({self.epochs}), not {epoch!r}")
            for name in changes:
                if name not in RUNTIME_PARAMS:
                    raise ValueError(f"epoch_params: {name!r} is not a runtime register of the "
                                     f"core; one of {', '.join(RUNTIME_PARAMS)}")

    def check_epoch_values(self, cfg):
        """Refuse, before training, an ``epoch_params`` value the configuration refuses:
        each epoch's writes applied in order onto ``cfg``, the run's first configuration."""
        for epoch in sorted(self.epoch_params):
            try:
                cfg = cfg.replace(**self.epoch_params[epoch])
            except ValueError as exc:
                raise ValueError(f"epoch_params at epoch {epoch}: {exc}") from None


class Progress:
    """A one-line progress bar with rate and time left, on a terminal or as plain lines."""

    def __init__(self, total, label, stream=None, width=30):
        self.total, self.label, self.width = total, label, width
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.start = time.perf_counter()
        self.done = 0
        self._last_line = -1.0

    def update(self, n=1, note=""):
        self.done += n
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        fill = int(self.width * self.done / self.total)
        line = (f"{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {self.done}/{self.total}"
                f" {elapsed:.0f}s elapsed, {left:.0f}s left {note}")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
        elif self.done == self.total or elapsed - self._last_line >= 10:
            self.stream.write(line + "\n")
            self._last_line = elapsed
        self.stream.flush()


def _golden_targets(cfg, split, index):
    """Integer targets and mask of one sample, (T, n_out) each."""
    mask = np.repeat(split.target_mask[index][:, None], cfg.n_out, axis=1)
    if split.kind == "classification":
        ystar = np.zeros(mask.shape)
        ystar[:, split.labels[index]] = 1.0
    else:
        ystar = split.targets[index]
    return quantize_targets(cfg, ystar), mask


def _score(split, y_real, indices):
    """Accuracy (classification) or mean squared error (regression) of readouts y_real
    (N, T, n_out) for the samples ``indices`` of ``split``."""
    mask = split.target_mask[indices]
    if split.kind == "classification":
        mean = (y_real * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)[:, None]
        return float(np.mean(mean.argmax(axis=1) == split.labels[indices]))
    err = (y_real - split.targets[indices]) ** 2 * mask[:, :, None]
    return float(err.sum() / max(mask.sum() * y_real.shape[2], 1))


class GoldenTier:
    """The integer core learning online, one sample after the other (as on chip)."""

    def __init__(self, cfg, settings):
        self.cfg = cfg
        self.model = GoldenModel(cfg)
        self.model.load_weights(*random_weights(cfg, settings.seed, scale=settings.weight_scale))

    def set_params(self, **changes):
        """Write runtime parameters between samples (as the host does on chip)."""
        self.model.set_params(**changes)
        self.cfg = self.model.cfg

    def train_epoch(self, split, order, bar):
        # The core's counters saturate at cfg.counter_max (a long run passes 2**32 writes):
        # read and clear them after every sample, as a host does, and sum in Python integers.
        # A counter that saturates within one sample has lost counts: refuse it.
        totals = dict.fromkeys(("row_updates", "weight_writes", "spikes"), 0)
        for index in order:
            ystar, mask = _golden_targets(self.cfg, split, index)
            self.model.reset()
            self.model.clear_counters()
            self.model.run(split.x[index][:, None], ystar[:, None], mask[:, None], learn=True)
            for name in totals:
                count = int(self.model.counters[name][0])
                if count >= self.cfg.counter_max:
                    raise ValueError(
                        f"counter {name} saturated at {count} (2**counter_bits - 1, "
                        f"counter_bits = {self.cfg.counter_bits}) within one training "
                        f"sample, so its total would be wrong; train with a wider "
                        f"counter_bits")
                totals[name] += count
            bar.update()
        return totals

    def evaluate(self, split, indices=None, chunk=64):
        """Readouts (N, T, n_out) of the samples ``indices`` (all by default), learning off,
        many cores at once."""
        indices = np.arange(len(split)) if indices is None else np.asarray(indices)
        ys = []
        weights = {k: self.model.state[k][0] for k in ("w_in", "w_rec", "w_out", "b")}
        for start in range(0, len(indices), chunk):
            x = split.x[indices[start:start + chunk]].transpose(1, 0, 2)
            tester = GoldenModel(self.cfg, batch=x.shape[1])
            tester.load_weights(**weights)
            ys.append(tester.run(x, learn=False)["y"].transpose(1, 0, 2))
        return np.concatenate(ys) / 2**self.cfg.y_frac


def _real_targets(split, indices):
    """Real targets (N, T, n_out) and mask of samples: one-hot 1.0/0.0 for classes."""
    mask = split.target_mask[indices]
    if split.kind == "classification":
        ystar = np.zeros(mask.shape + (split.n_classes,))
        ystar[np.arange(len(indices)), :, split.labels[indices]] = 1.0
    else:
        ystar = split.targets[indices]
    return ystar, mask


class ReferenceTier:
    """The float network learning online with e-prop and the same error trigger (or, with
    ``every_step``, without it: every row at every target step); with ``batch``, per-sample
    e-prop over mini-batches with Adam (:meth:`train_epoch`)."""

    def __init__(self, cfg, settings):
        import torch
        self.trigger = not settings.every_step
        from .bridge import learning_rates
        from .reference import Adam, Reference
        self.torch, self.Reference, self.cfg = torch, Reference, cfg
        self.loss = settings.loss
        self.lr, self.lr_out = learning_rates(cfg)
        self.model = Reference(cfg, dtype=torch.float32, lr=self.lr, lr_out=self.lr_out,
                               loss=self.loss)
        self.model.load_weights(*random_weights(cfg, settings.seed, scale=settings.weight_scale),
                                from_golden=True)
        self.batch, self.eprop_lr = settings.batch, settings.eprop_lr
        self.eprop_lr_decay = settings.eprop_lr_decay
        self.rate = dict(rate_reg=settings.rate_reg, rate_target=settings.rate_target)
        self.Adam, self.adam = Adam, None

    def _pad(self, ystar):
        """Targets for every readout (classes use the first n_classes readouts)."""
        full = np.zeros(ystar.shape[:-1] + (self.cfg.n_out,))
        full[..., :ystar.shape[-1]] = ystar
        return full

    def train_epoch(self, split, order, bar):
        if self.batch is not None:
            return self._train_batched(split, order, bar)
        before = {k: int(v[0]) for k, v in self.model.counters.items()}
        for index in order:
            ystar, mask = _real_targets(split, np.array([index]))
            self.model.reset()
            self.model.run(split.x[index][:, None], self._pad(ystar)[0][:, None],
                           np.repeat(mask[0][:, None, None], self.cfg.n_out, axis=2),
                           learn=True, trigger=self.trigger)
            bar.update()
        after = {k: int(v[0]) for k, v in self.model.counters.items()}
        return {k: after[k] - before[k] for k in ("row_updates", "weight_writes", "spikes")}

    def _batches(self, split, order, size):
        """(indices, x, ystar, mask) of consecutive mini-batches of ``order``, time-major:
        x (T, B, n_in), ystar and mask (T, B, n_out)."""
        for start in range(0, len(order), size):
            indices = order[start:start + size]
            ystar, mask = _real_targets(split, indices)
            mask = np.repeat(mask[:, :, None], self.cfg.n_out, axis=2)
            yield (indices, split.x[indices].transpose(1, 0, 2),
                   self._pad(ystar).transpose(1, 0, 2), mask.transpose(1, 0, 2))

    def _train_batched(self, split, order, bar):
        """Per-sample e-prop: each mini-batch runs with the weights fixed, one core per
        sample, accumulating ``sum_t L_j ebar_ji`` and ``sum_t err_k zout_j`` (the
        reference's ``online=False`` mode, :func:`eligo.model.reference.eprop_gradients`);
        the directions summed over the batch are one Adam step (its rate times
        ``eprop_lr_decay`` after every epoch); with ``rate_reg`` the firing-rate
        regularizer's direction is added per sample. Every weight is written once
        per mini-batch, so no row writes are counted (as for bptt); spikes are."""
        torch, spikes, n_in = self.torch, 0, self.cfg.n_in
        if self.adam is None:
            # One Adam over (W_in beside W_rec, W_out), kept across epochs. The W_rec diagonal
            # has a zero direction, so Adam never moves it.
            w = self._weights()
            self.params = [torch.cat([w["w_in"], w["w_rec"]], dim=1), w["w_out"].clone()]
            self.adam = self.Adam(self.params, self.eprop_lr)
        else:
            self.adam.lr *= self.eprop_lr_decay
        for _, x, ystar, mask in self._batches(split, order, self.batch):
            runner = self.Reference(self.cfg, batch=x.shape[1], dtype=torch.float32,
                                    loss=self.loss, shared_weights=True, **self.rate)
            runner.load_weights(**self._weights())
            runner.run(x, ystar, mask, learn=True, trigger=False, online=False, apply=False)
            grad = runner.grad
            self.adam.zero_grad()
            self.params[0].grad = torch.cat([grad["w_in"], grad["w_rec"]], dim=2).sum(dim=0)
            self.params[1].grad = grad["w_out"].sum(dim=0)
            self.adam.step()
            self.model.load_weights(self.params[0][:, :n_in], self.params[0][:, n_in:],
                                    self.params[1])
            spikes += int(runner.counters["spikes"].sum())
            bar.update(x.shape[1])
        return {"spikes": spikes}

    def _weights(self):
        return {k: v[0] for k, v in self.model.weights().items()}

    def evaluate(self, split, indices=None, chunk=64):
        indices = np.arange(len(split)) if indices is None else np.asarray(indices)
        weights = self._weights()
        ys = []
        for start in range(0, len(indices), chunk):
            x = split.x[indices[start:start + chunk]].transpose(1, 0, 2)
            tester = self.Reference(self.cfg, batch=x.shape[1], dtype=self.torch.float32)
            tester.load_weights(**weights)
            ys.append(tester.run(x, learn=False)["y"].numpy().transpose(1, 0, 2))
        return np.concatenate(ys)


class BpttTier(ReferenceTier):
    """The accuracy ceiling: the float network trained by backpropagation through time
    (surrogate gradient psi, Adam, mini-batches of ``batch``, 16 by default; one Adam kept
    across epochs, its rate times ``bptt_lr_decay`` after every epoch). The configuration's
    ``gamma`` is the surrogate's height here and touches no forward value; each recurrent hop
    back in time multiplies by it, so too high a value makes the gradient explode
    (:mod:`eligo.model.surrogate_gain`)."""

    batch_size = 16

    def __init__(self, cfg, settings):
        super().__init__(cfg, settings)
        from .reference import train_bptt
        self.train_bptt = train_bptt
        self.weights = self._weights()
        self.bptt_lr = settings.bptt_lr
        self.batch_size = settings.batch or self.batch_size
        # Kept across epochs, as one would train with torch.optim (a fresh Adam every epoch
        # takes near sign-sized steps at each epoch's start, a schedule nobody asked for).
        self.adam = self.Adam([self.torch.zeros(np.shape(self.weights[name]))
                               for name in ("w_in", "w_rec", "w_out")], self.bptt_lr)
        self.lr_decay = settings.bptt_lr_decay
        self.epochs_trained = 0

    def train_epoch(self, split, order, bar):
        if self.epochs_trained:
            self.adam.lr *= self.lr_decay
        self.epochs_trained += 1
        batches = [b[1:] for b in self._batches(split, order, self.batch_size)]
        stats = {"spikes": 0}
        self.weights, _ = self.train_bptt(self.cfg, self.weights, batches, epochs=1,
                                          dtype=self.torch.float32, loss=self.loss,
                                          adam=self.adam, stats=stats, **self.rate)
        bar.update(len(order))
        return stats  # spikes while training; BPTT has no row writes to count

    def _weights(self):
        return getattr(self, "weights", None) or super()._weights()


def _rows_every_step(cfg, split, order):
    """Weight writes that a rule updating every row at every target step would make."""
    steps = int(split.target_mask[order].sum())
    return steps * (cfg.n_rec * (cfg.n_pre - 1) + cfg.n_out * cfg.n_rec)


TIERS = {"golden": GoldenTier, "reference": ReferenceTier, "bptt": BpttTier}


def train(settings, out=print, progress_stream=None, out_dir=None):
    """Train and evaluate; returns the report dict (also written as JSON and a PNG plot to
    ``out_dir`` when given)."""
    cfg = get_preset(settings.preset, **settings.config_changes)
    settings.check_epoch_values(cfg)
    data = make_task(settings.task, settings.n_train, settings.n_test, settings.seed,
                     **settings.task_params)
    data.check_network(cfg, f"preset {settings.preset!r}")
    tier = TIERS[settings.tier](cfg, settings)
    rng = np.random.default_rng(settings.seed)
    metric = "accuracy" if data.kind == "classification" else "mse"
    mode = ""
    if settings.tier == "reference" and settings.batch is not None:
        mode = (f" (per-sample e-prop, mini-batches of {settings.batch}, Adam "
                f"{settings.eprop_lr:g}")
        if settings.eprop_lr_decay != 1:
            mode += f" x {settings.eprop_lr_decay:g} per epoch"
        mode += ")"
    elif settings.tier == "bptt":
        mode = f" (mini-batches of {tier.batch_size}, Adam {settings.bptt_lr:g}"
        if settings.bptt_lr_decay != 1:
            mode += f" x {settings.bptt_lr_decay:g} per epoch"
        mode += ")"
    if settings.loss != "mse":
        mode += f", loss {settings.loss}"
    if settings.rate_reg:
        mode += (f", rate regularizer {settings.rate_reg:g} towards {settings.rate_target:g} "
                 f"spikes per neuron and step")
    out(f"training {settings.tier}{mode} on {settings.task} ({len(data.train)} train, "
        f"{len(data.test)} test, {data.n_steps} steps each), preset {settings.preset}, "
        f"{settings.epochs} epochs; chance {metric}: {chance_level(data):.3f}")
    history = []
    start = time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        changes = settings.epoch_params.get(epoch)
        if changes:
            tier.set_params(**changes)
            written = ", ".join(f"{name}={value}" for name, value in changes.items())
            out(f"epoch {epoch}: the host writes {written}")
        bar = Progress(len(data.train), f"epoch {epoch}/{settings.epochs}", progress_stream)
        order = rng.permutation(len(data.train))
        epoch_start = time.perf_counter()
        totals = tier.train_epoch(data.train, order, bar)
        every_step = _rows_every_step(cfg, data.train, order)
        # Scores with learning off (online learning inside the target window would otherwise
        # steer the answer it is scored on); train on at most n_test samples to save time.
        probe = np.arange(min(len(data.train), len(data.test)))
        train_score = _score(data.train, tier.evaluate(data.train, probe), probe)
        test_score = _score(data.test, tier.evaluate(data.test), np.arange(len(data.test)))
        n = len(data.train)
        record = {"epoch": epoch, f"train_{metric}": train_score, f"test_{metric}": test_score,
                  "weight_writes_per_sample": None, "row_updates_per_sample": None,
                  "writes_saved_factor": None, "spikes_per_step": None}
        line = f"epoch {epoch}: train {metric} {train_score:.3f}, test {metric} {test_score:.3f}"
        if totals is not None and "weight_writes" in totals:
            record.update({
                "weight_writes_per_sample": totals["weight_writes"] / n,
                "row_updates_per_sample": totals["row_updates"] / n,
                "writes_saved_factor": every_step / totals["weight_writes"]
                if totals["weight_writes"] else None})
            line += f", {record['weight_writes_per_sample']:.0f} writes/sample"
            if record["writes_saved_factor"]:
                line += (f" ({record['writes_saved_factor']:.1f}x fewer than every row every "
                         f"target step)")
        if totals is not None:
            record["spikes_per_step"] = totals["spikes"] / (n * data.n_steps)
            line += f", {record['spikes_per_step']:.2f} spikes/step"
        record["epoch_seconds"] = time.perf_counter() - epoch_start
        history.append(record)
        out(f"{line}, {record['epoch_seconds']:.1f} s")
    report = {"settings": dataclasses.asdict(settings), "config": cfg.to_dict(),
              "metric": metric, "chance": chance_level(data), "history": history,
              "final": history[-1], "seconds": time.perf_counter() - start}
    if out_dir is not None:
        _save(report, Path(out_dir), out)
    return report


def _save(report, out_dir, out):
    out_dir.mkdir(parents=True, exist_ok=True)
    s = report["settings"]
    stem = f"{s['task']}_{s['tier']}_seed{s['seed']}"
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    out(f"wrote {json_path}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    metric = report["metric"]
    epochs = [r["epoch"] for r in report["history"]]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for split in ("train", "test"):
        ax.plot(epochs, [r[f"{split}_{metric}"] for r in report["history"]], "o-", label=split)
    ax.axhline(report["chance"], color="grey", ls=":", label="chance")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    ax.set_title(f"{s['task']}, {s['tier']} tier")
    ax.legend()
    fig.tight_layout()
    png_path = out_dir / f"{stem}.png"
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    out(f"wrote {png_path}")
