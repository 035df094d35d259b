"""The golden model converges to the float reference as bit widths grow (issue: the bridge
between tiers). See docs/convergence.md for the measured table."""

import pytest

torch = pytest.importorskip("torch")

from eligo.model.convergence import VARIABLES, distances  # noqa: E402


@pytest.mark.parametrize("rounding", ["zero", "floor"])
def test_distance_falls_with_every_added_bit(rounding):
    torch.set_num_threads(1)
    d = distances(extra_bits=range(9), rounding=rounding, batch=128)
    for name in VARIABLES:
        series = [d[k][name] for k in sorted(d)]
        assert all(b < a for a, b in zip(series, series[1:])), (name, series)
        assert series[0] / series[-1] > 30, (name, series)
