"""``eligo demo``: the three tiers at work, in about half a minute.

1. The golden (bit-exact integer) model learns a two-class spike-timing task online, with
   8-bit weights and its error-triggered update unit; test accuracy and weight writes saved.
2. The Amaranth RTL core runs in the simulator beside the golden model, learning on, and every
   state variable is compared after every step; mismatches (zero) and cycles per step.
Exit status 1 if the RTL and the golden model differ anywhere.
"""

import time

import numpy as np

# Settings that learn 2-class randman on the golden tier (docs/results.md).
LEARN_SETTINGS = dict(task="randman", tier="golden", preset="cue", epochs=2, n_train=200,
                      n_test=200, task_params={"n_classes": 2},
                      config_changes={"n_in": 20, "trigger": 8192, "lr_shift": 9,
                                      "lr_out_shift": 11})
RTL_STEPS = 30


def _learning(seed, out):
    from eligo.model.train import TrainSettings, train
    out("1. golden model, online learning with the error trigger (2-class randman, 20 inputs,"
        " 100 neurons of which 50 ALIF, 8-bit weights)")
    report = train(TrainSettings(seed=seed, **LEARN_SETTINGS), out=lambda line: out("   " + line))
    final = report["final"]
    out(f"   -> test accuracy {final['test_accuracy']:.3f} (chance {report['chance']:.2f}); "
        f"{final['weight_writes_per_sample']:.0f} weight writes per sample, "
        f"{final['writes_saved_factor']:.1f}x fewer than updating every row at every target "
        f"step")


def _rtl(seed, out):
    from eligo.config import Config
    from eligo.model.golden import GoldenModel, random_weights
    from eligo.rtl.core import PHASES
    from eligo.tb.core_harness import run_lockstep
    cfg = Config(n_in=4, n_rec=6, n_alif=3, n_out=2, update_rounding="zero", trigger=700,
                 trigger_out=900, eta=8, eta_out=4)
    out(f"2. RTL core (Amaranth simulator) beside the golden model: n_in={cfg.n_in}, "
        f"n_rec={cfg.n_rec} ({cfg.n_alif} ALIF), n_out={cfg.n_out}, {RTL_STEPS} steps, "
        f"learning on, targets on half the steps; every state variable compared every step")
    rng = np.random.default_rng(seed)
    weights = random_weights(cfg, seed, scale=2.0)
    golden = GoldenModel(cfg)
    golden.load_weights(*weights)
    ylim = (1 << (cfg.y_bits - 1)) - 1
    steps = []
    for t in range(RTL_STEPS):
        x = (rng.random(cfg.n_in) < 0.5).astype(np.int64)
        mask = np.full(cfg.n_out, t % 2 == 1)
        ystar = rng.integers(-ylim // 3, ylim // 3 + 1, cfg.n_out)
        steps.append((x, ystar, mask, True))
    start = time.perf_counter()
    result = run_lockstep(cfg, weights, steps, golden,
                          progress=lambda n: n % 10 == 0 and out(f"   {n}/{RTL_STEPS} steps, "
                                                                  f"{time.perf_counter() - start:.1f} s"))
    cycles = sum(result["cycles"].values()) / max(result["steps"], 1)
    counters = {k: int(v[0]) for k, v in golden.counters.items()}
    out(f"   -> {result['steps']} steps compared, "
        + ("0 mismatches" if result["mismatch"] is None else
           "MISMATCH at step {}: {} {} core {} golden {}".format(*result["mismatch"])))
    out(f"   {cycles:.0f} cycles per step on average ("
        + ", ".join(f"{p} {result['cycles'][p] / result['steps']:.0f}" for p in PHASES)
        + f"); {counters['row_updates']} row updates, {counters['weight_writes']} weight writes")
    return result["mismatch"] is None


def run(seed=1, out=print):
    start = time.perf_counter()
    _learning(seed, out)
    ok = _rtl(seed, out)
    out(f"demo done in {time.perf_counter() - start:.0f} s")
    return 0 if ok else 1
