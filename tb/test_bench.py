"""Smoke test of the speed benchmark (eligo.model.bench): it runs and reports sane numbers.

No timing thresholds: the benchmark measures, this test only checks that every row it
returns carries positive finite rates.
"""

import math

import pytest

from eligo.model.bench import run_golden_bench

pytest.importorskip("torch")
pytest.importorskip("snntorch")


def test_bench_tiny_rows_are_positive_and_finite():
    result = run_golden_bench("tiny", steps=20, batches=(1, 2), torch=True, snntorch=True,
                              out=lambda *a: None)
    rows = result["rows"]
    assert {(r["impl"], r["batch"]) for r in rows} == {
        (impl, b) for impl in ("golden", "torch-float", "snntorch-fwd") for b in (1, 2)}
    for row in rows:
        for key in ("seconds", "steps_per_s", "syn_updates_per_s", "ratio_golden_over"):
            value = row[key]
            assert math.isfinite(value) and value > 0, (row["impl"], row["batch"], key, value)
        assert row["syn_updates_per_s"] == pytest.approx(row["steps_per_s"] * row["batch"] * 60)
    assert result["epoch_estimate_s"] > 0 and math.isfinite(result["epoch_estimate_s"])
    assert result["headline"] is None  # no batch 64 here


def test_bench_skips_torch_rows_with_a_note():
    result = run_golden_bench("tiny", steps=5, batches=(1,), torch=False, snntorch=False,
                              out=lambda *a: None)
    assert [r["impl"] for r in result["rows"]] == ["golden"]
    assert any("torch=False" in n for n in result["notes"])
    assert any("snntorch=False" in n for n in result["notes"])


def test_epoch_bench_runs_real_trials():
    from eligo.model.bench import run_epoch_bench
    result = run_epoch_bench(trials=1, out=lambda *a: None)
    assert result["steps"] == 2250 and result["seconds"] > 0
    assert result["counters"]["spikes"] > 0
