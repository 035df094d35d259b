"""How much BPTT's gradient grows through time, by the height of the pseudo-derivative.

Every gradient path through a spike carries one factor ``psi <= gamma``. e-prop keeps only
the paths through each neuron's own state (:func:`eligo.model.reference.autograd_gradients`
with ``eprop_approximations``); full BPTT adds the paths through other neurons' recurrent
spikes, which carry one more ``psi`` per hop back in time. The ratio of the two gradients'
norms at the same weights and batch therefore tends to 1 as ``gamma`` falls, and explodes
once ``gamma`` times the recurrent gain passes 1: then BPTT's steps are dominated by the
distant past and it learns slowly or not at all (docs/results.md, randman with BPTT).

In the float tiers ``gamma`` only scales the surrogate in the backward pass: the forward
network is the same for every ``gamma``.

``python -m eligo.model.surrogate_gain`` prints the table in docs/results.md.
"""

import sys

import numpy as np

from eligo.config import preset

__all__ = ["through_time_gain", "randman_gains"]

GAMMAS = (13, 26, 51, 77)  # 0.05, 0.1, 0.2, 0.3 in psi integers (2**psi_bits = 256)


def through_time_gain(cfg, weights, x, ystar, mask, loss="ce"):
    """``{w_in, w_rec}``: the norm of the full BPTT gradient divided by that of e-prop's
    (float64, reset detached in both), for one batch (x (T, B, n_in), ystar and mask
    (T, B, n_out)) at ``weights`` (dict of real ``w_in``, ``w_rec``, ``w_out``)."""
    import torch

    from .reference import autograd_gradients
    norms = {}
    for approx in (False, True):
        grads = autograd_gradients(cfg, weights, x, ystar, mask, eprop_approximations=approx,
                                   dtype=torch.float64, loss=loss)
        norms[approx] = {name: float(grads[name].norm()) for name in ("w_in", "w_rec")}
    return {name: norms[False][name] / norms[True][name] for name in norms[False]}


def randman_gains(seeds=(1, 2), gammas=GAMMAS, batch=16, weight_scale=2.0):
    """``{(seed, gamma): through_time_gain}`` on the 10-class randman network of
    docs/results.md (20 inputs, 128 LIF, 10 readouts, cross-entropy), at the initial weights
    of ``eligo train --seed SEED --weight-scale 2`` and on its first mini-batch of ``batch``."""
    from .tasks import make_task
    from .train import ReferenceTier, TrainSettings
    gains = {}
    for seed in seeds:
        data = make_task("randman", batch, 0, seed)
        for gamma in gammas:
            cfg = preset("cue", n_in=20, n_out=10, n_rec=128, n_alif=0, gamma=gamma)
            tier = ReferenceTier(cfg, TrainSettings(task="randman", tier="reference", seed=seed,
                                                    weight_scale=weight_scale))
            _, x, ystar, mask = next(tier._batches(data.train, np.arange(batch), batch))
            gains[seed, gamma] = through_time_gain(cfg, tier._weights(), x, ystar, mask)
    return gains


def main():
    gains = randman_gains()
    seeds = sorted({seed for seed, _ in gains})
    print("| gamma | " + " | ".join(f"seed {s}: w_in | seed {s}: w_rec" for s in seeds) + " |")
    print("|" + " --- |" * (1 + 2 * len(seeds)))
    for gamma in GAMMAS:
        cells = [f"{gains[s, gamma][name]:.3g}" for s in seeds for name in ("w_in", "w_rec")]
        print(f"| {gamma} ({gamma / 256:.2f}) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
