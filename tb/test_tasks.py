"""Seeded task generators (eligo.model.tasks): shapes, determinism, and each task's content."""

import dataclasses

import numpy as np
import pytest

from eligo.model.tasks import (TASK_NAMES, Split, TaskData, chance_level, make_task,
                               task_defaults)

SMALL = {"cue": {}, "randman": {}, "pattern": {"n_steps": 200}}


@pytest.fixture(scope="module")
def cue():
    return make_task("cue", 24, 8, seed=3)


@pytest.fixture(scope="module")
def randman():
    return make_task("randman", 400, 25, seed=5)


@pytest.fixture(scope="module")
def pattern():
    return make_task("pattern", 6, 3, seed=7, n_out=2)


# --- structure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TASK_NAMES)
def test_shapes_and_dtypes(name):
    data = make_task(name, 5, 3, seed=0, **SMALL[name])
    assert isinstance(data, TaskData) and data.name == name
    assert data.params == {**task_defaults(name), **SMALL[name]}
    for split, n in ((data.train, 5), (data.test, 3)):
        assert isinstance(split, Split) and len(split) == n
        assert split.x.dtype == np.uint8 and split.x.shape == (n, data.n_steps, data.n_in)
        assert set(np.unique(split.x)) <= {0, 1}
        assert split.target_mask.dtype == bool and split.target_mask.shape == (n, data.n_steps)
        assert split.target_mask.any(axis=1).all()
        for value in split.meta.values():
            assert value.shape[0] == n
        if split.kind == "classification":
            assert split.targets is None and split.labels.dtype == np.int64
            assert split.labels.shape == (n,)
            assert ((split.labels >= 0) & (split.labels < split.n_classes)).all()
        else:
            assert split.labels is None and split.n_classes is None
            assert split.targets.dtype == np.float64
            assert split.targets.shape == (n, data.n_steps, data.n_out)
    expected = {"cue": ("classification", 40, 2250, 2), "randman": ("classification", 20, 100, 10),
                "pattern": ("regression", 20, 200, 1)}[name]
    assert (data.kind, data.n_in, data.n_steps, data.n_out) == expected
    assert data.dt_ms == 1.0


def test_empty_splits_are_allowed():
    data = make_task("randman", 0, 0, seed=1)
    assert data.train.x.shape == (0, 100, 20) and data.test.labels.shape == (0,)


def test_split_validation_names_the_field():
    x = np.zeros((2, 5, 3), np.uint8)
    mask = np.ones((2, 5), bool)
    labels = np.zeros(2, np.int64)
    good = dict(x=x, labels=labels, targets=None, target_mask=mask, kind="classification",
                n_classes=2)
    Split(**good)
    bad = [({"x": x.astype(np.int64)}, "x"), ({"x": x[0]}, "x"), ({"x": x + 2}, "0 and 1"),
           ({"target_mask": mask[:, :4]}, "target_mask"), ({"labels": labels[:1]}, "labels"),
           ({"labels": labels + 5}, "labels"), ({"kind": "ranking"}, "kind"),
           ({"n_classes": 1}, "n_classes"), ({"targets": np.zeros((2, 5, 1))}, "targets"),
           ({"meta": {"side": np.zeros(3)}}, "side"),
           ({"kind": "regression", "labels": None, "n_classes": None,
             "targets": np.zeros((2, 4, 1))}, "targets")]
    for change, word in bad:
        with pytest.raises((TypeError, ValueError), match=word):
            Split(**{**good, **change})
    reg = Split(x=x, labels=None, targets=np.zeros((2, 5, 1)), target_mask=mask,
                kind="regression")
    with pytest.raises(ValueError, match="kind"):
        TaskData(train=Split(**good), test=reg, name="mixed", params={})


def test_splits_are_frozen(cue):
    with pytest.raises(dataclasses.FrozenInstanceError):
        cue.train.x = None


# --- seeds ---------------------------------------------------------------------------------------


def _arrays(split):
    out = [split.x, split.target_mask] + [v for v in (split.labels, split.targets) if v is not None]
    return out + [split.meta[k] for k in sorted(split.meta)]


def _same(a, b):
    return all(np.array_equal(p, q) for p, q in zip(_arrays(a), _arrays(b), strict=True))


@pytest.mark.parametrize("name", TASK_NAMES)
def test_same_seed_same_data_other_seed_other_data(name):
    a = make_task(name, 4, 3, seed=11, **SMALL[name])
    b = make_task(name, 4, 3, seed=11, **SMALL[name])
    c = make_task(name, 4, 3, seed=12, **SMALL[name])
    assert _same(a.train, b.train) and _same(a.test, b.test)
    assert not np.array_equal(a.train.x, c.train.x)
    assert not _same(a.train, c.train) and not _same(a.test, c.test)
    assert not _same(a.train, a.test)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_split_sizes_do_not_change_the_other_split(name):
    a = make_task(name, 6, 2, seed=4, **SMALL[name])
    b = make_task(name, 6, 9, seed=4, **SMALL[name])
    c = make_task(name, 3, 2, seed=4, **SMALL[name])
    assert _same(a.train, b.train)
    assert _same(a.test, c.test)


# --- cue accumulation ----------------------------------------------------------------------------


def test_cue_labels_are_the_majority_side(cue):
    for split in (cue.train, cue.test):
        sides = split.meta["sides"]
        assert sides.shape == (len(split), 7) and set(np.unique(sides)) <= {0, 1}
        assert np.array_equal(split.meta["n_right"], sides.sum(axis=1))
        assert np.array_equal(split.labels, (sides.sum(axis=1) >= 4).astype(np.int64))
    assert 0 < cue.train.labels.mean() < 1


def test_cue_spikes_only_in_their_windows(cue):
    x, sides = cue.train.x, cue.train.meta["sides"]
    assert x.shape[1] == 2250 == 7 * 150 + 1050 + 150
    left, right, recall = x[:, :, 0:10], x[:, :, 10:20], x[:, :, 20:30]
    for i in range(len(x)):
        allowed = np.zeros((2, 2250), bool)           # left group, right group
        for k, side in enumerate(sides[i]):
            allowed[side, k * 150:k * 150 + 100] = True
        assert not left[i][~allowed[0]].any() and not right[i][~allowed[1]].any()
        for k, side in enumerate(sides[i]):           # each cue does fire on its side
            assert x[i, k * 150:k * 150 + 100, side * 10:side * 10 + 10].any()
    assert not x[:, 1050:, :20].any()                 # delay and recall: no cue spikes
    assert not recall[:, :2100].any() and recall[:, 2100:].any()
    mask = cue.train.target_mask
    assert mask[:, 2100:].all() and not mask[:, :2100].any()


def test_cue_rates_are_nominal(cue):
    x, sides = cue.train.x, cue.train.meta["sides"]
    noise = x[:, :, 30:].mean()
    recall = x[:, 2100:, 20:30].mean()
    on = [x[i, k * 150:k * 150 + 100, s * 10:s * 10 + 10].mean()
          for i in range(len(x)) for k, s in enumerate(sides[i])]
    assert noise == pytest.approx(0.010, rel=0.05)    # 21,600 samples-steps per channel x 10
    assert np.mean(on) == pytest.approx(0.040, rel=0.05)
    assert recall == pytest.approx(0.040, rel=0.1)


def test_cue_parameters_change_the_layout():
    data = make_task("cue", 3, 1, seed=0, n_cues=3, cue_steps=10, gap_steps=5, delay_steps=20,
                     recall_steps=7, cue_rate_hz=500.0, noise_rate_hz=0.0, dt_ms=2.0)
    x = data.train.x
    assert x.shape == (3, 3 * 15 + 20 + 7, 40)
    assert not x[:, :, 30:].any()                     # no noise
    assert x[:, -7:, 20:30].all()                     # p = 500 Hz * 2 ms = 1
    assert data.train.target_mask[:, -7:].all() and data.train.target_mask.sum() == 3 * 7


# --- random manifolds ---------------------------------------------------------------------------


def test_randman_one_spike_per_channel_and_balanced(randman):
    for split in (randman.train, randman.test):
        assert (split.x.sum(axis=1) == 1).all()
        counts = np.bincount(split.labels, minlength=10)
        assert counts.max() - counts.min() <= 1
        assert split.target_mask.all()
    assert not np.array_equal(randman.train.labels[:20], np.arange(20) % 10)   # shuffled


def test_randman_manifolds_are_smooth_and_class_specific(randman):
    split = randman.train
    times = split.x.argmax(axis=1).astype(float)      # (N, n_in)
    u = split.meta["u"][:, 0]
    near, far = [], []
    for c in range(10):
        idx = np.flatnonzero(split.labels == c)
        order = idx[np.argsort(u[idx])]
        close = np.diff(u[order]) < 0.02
        assert close.sum() >= 10
        near.append(np.abs(np.diff(times[order], axis=0))[close].mean())
    # the same u on two classes: independent maps, far apart
    a = np.flatnonzero(split.labels == 0)
    b = np.flatnonzero(split.labels == 1)
    for i in a:
        j = b[np.argmin(np.abs(u[b] - u[i]))]
        if abs(u[j] - u[i]) < 0.02:
            far.append(np.abs(times[i] - times[j]).mean())
    assert np.mean(near) < 3.0, near                  # spike times move little with u
    assert np.mean(far) > 15.0, far
    # the same check fails for random spike times
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(times)
    idx = np.flatnonzero(split.labels == 0)
    order = idx[np.argsort(u[idx])]
    assert np.abs(np.diff(shuffled[order], axis=0)).mean() > 15.0


def test_randman_manifolds_belong_to_the_task_seed():
    a = make_task("randman", 200, 30, seed=2)
    b = make_task("randman", 50, 30, seed=2)
    assert _same(a.test, b.test)
    # train and test share the maps: a test sample near a train sample of its class is near it
    tr, te = a.train, a.test
    ttr, tte = tr.x.argmax(axis=1).astype(float), te.x.argmax(axis=1).astype(float)
    gaps = []
    for i in range(len(te)):
        same = np.flatnonzero(tr.labels == te.labels[i])
        j = same[np.argmin(np.abs(tr.meta["u"][same, 0] - te.meta["u"][i, 0]))]
        if abs(tr.meta["u"][j, 0] - te.meta["u"][i, 0]) < 0.01:
            gaps.append(np.abs(ttr[j] - tte[i]).mean())
    assert len(gaps) >= 3 and np.mean(gaps) < 3.0, gaps


def test_randman_answer_window_and_dimensions():
    data = make_task("randman", 20, 5, seed=9, answer_steps=10, n_steps=60, n_classes=3,
                     n_in=7, dim=3)
    x = data.train.x
    assert x.shape == (20, 60, 7) and (x.sum(axis=1) == 1).all()
    assert not x[:, 50:].any()                        # spikes before the answer window
    assert data.train.target_mask[:, 50:].all() and not data.train.target_mask[:, :50].any()
    assert data.train.meta["u"].shape == (20, 3) and data.n_classes == 3


# --- pattern generation -------------------------------------------------------------------------


def test_pattern_targets_in_range_and_input_frozen(pattern):
    for split in (pattern.train, pattern.test):
        y = split.targets
        assert np.abs(y).max() <= 1.0
        assert np.allclose(np.abs(y).max(axis=1), 1.0)   # scaled to touch the bound
        assert split.target_mask.all()
        assert (split.x == pattern.train.x[0]).all()     # one frozen input, both splits
    assert 0.005 < pattern.train.x.mean() < 0.015        # about 10 Hz
    assert not np.allclose(pattern.train.targets[0], pattern.train.targets[1])
    assert pattern.train.meta["amplitudes"].shape == (6, 2, 4)
    a = pattern.train.meta["amplitudes"]
    assert (a >= 0.5).all() and (a <= 2.0).all()


def test_pattern_spectrum_is_at_the_nominal_frequencies(pattern):
    y = pattern.train.targets                         # 1000 steps of 1 ms: bin k is k Hz
    power = np.abs(np.fft.rfft(y, axis=1)) ** 2
    share = power[:, [1, 2, 3, 5]].sum(axis=1) / power.sum(axis=1)
    assert share.min() > 0.999
    assert (power[:, [1, 2, 3, 5]].min(axis=1) > 0.01 * power.max(axis=1)).all()


def test_pattern_new_input_per_sample():
    data = make_task("pattern", 3, 2, seed=1, new_input_per_sample=True, n_steps=300,
                     rate_hz=50.0)
    assert not np.array_equal(data.train.x[0], data.train.x[1])
    assert not np.array_equal(data.train.x[0], data.test.x[0])


def test_chance_level(cue, randman, pattern):
    assert chance_level(cue) == 0.5 and chance_level(randman) == pytest.approx(0.1)
    expected = (pattern.test.targets ** 2).mean()
    assert chance_level(pattern) == pytest.approx(expected)
    assert 0.1 < chance_level(pattern) < 0.5


# --- errors -------------------------------------------------------------------------------------


def test_unknown_task_names_it_and_lists_the_allowed():
    with pytest.raises(ValueError, match=r"'mnist'.*cue, randman, pattern"):
        make_task("mnist", 1, 1, seed=0)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_unknown_parameter_names_it_and_lists_the_allowed(name):
    with pytest.raises(ValueError, match=r"'n_cuez'.*allowed: .*dt_ms"):
        make_task(name, 1, 1, seed=0, n_cuez=3)


@pytest.mark.parametrize("name, params, word", [
    ("cue", {"n_cues": 6}, "n_cues"),
    ("cue", {"n_cues": 7.0}, "n_cues"),
    ("cue", {"cue_steps": 0}, "cue_steps"),
    ("cue", {"cue_rate_hz": 2000.0}, "cue_rate_hz"),
    ("cue", {"dt_ms": 0}, "dt_ms"),
    ("cue", {"noise_rate_hz": -1.0}, "noise_rate_hz"),
    ("randman", {"n_classes": 1}, "n_classes"),
    ("randman", {"answer_steps": 100}, "answer_steps"),
    ("randman", {"dim": 0}, "dim"),
    ("randman", {"alpha": float("nan")}, "alpha"),
    ("pattern", {"freqs_hz": (1.0, 600.0)}, "freqs_hz"),
    ("pattern", {"freqs_hz": ()}, "freqs_hz"),
    ("pattern", {"amp_range": (2.0, 1.0)}, "amp_range"),
    ("pattern", {"new_input_per_sample": 1}, "new_input_per_sample"),
])
def test_bad_parameter_values_name_the_parameter(name, params, word):
    with pytest.raises(ValueError, match=word):
        make_task(name, 1, 1, seed=0, **params)


@pytest.mark.parametrize("kwargs, word", [({"n_train": -1}, "n_train"), ({"n_test": 1.5}, "n_test"),
                                          ({"seed": -3}, "seed"), ({"seed": "0"}, "seed")])
def test_bad_sizes_and_seeds(kwargs, word):
    args = {"n_train": 1, "n_test": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=word):
        make_task("randman", **args)


def test_check_network_names_what_does_not_fit():
    from eligo.config import preset
    cue = preset("cue")
    randman = make_task("randman", 1, 0, 0)  # 20 inputs, 10 classes
    randman.check_network(cue.replace(n_in=20, n_out=10))
    randman.check_network(cue.replace(n_in=20, n_out=12))  # spare readouts are fine
    with pytest.raises(ValueError, match=r"^task 'randman' has 10 classes but the "
                                         r"configuration only n_out=2 readouts$"):
        randman.check_network(cue.replace(n_in=20))
    with pytest.raises(ValueError, match=r"^task 'randman' has n_in=20, n_out=10; "
                                         r"my core has n_in=40, n_out=2$"):
        randman.check_network(cue, "my core")
    pattern = make_task("pattern", 1, 0, 0)
    with pytest.raises(ValueError, match=r"^task 'pattern' has n_in=\d+, n_out=1; "):
        pattern.check_network(cue.replace(n_in=pattern.n_in, n_out=2))
