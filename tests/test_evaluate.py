"""Unit tier: metrics against hand-computed values and sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from exostab.model.evaluate import (
    bootstrap_interval,
    expected_calibration_error,
    paired_gain_draws,
    paired_gain_interval,
    rank_auroc,
    risk_metrics,
)


def test_ece_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    risk = np.array([0.05, 0.05, 0.95, 0.55])
    # bins: [0.0,0.1): mean risk 0.05 vs 0 -> 0.05 (weight 0.5); 0.9 bin: 0.95 vs 1 -> 0.05;
    # 0.5 bin: 0.55 vs 1 -> 0.45 (weights 0.25 each)
    assert expected_calibration_error(y, risk) == pytest.approx(
        0.5 * 0.05 + 0.25 * 0.05 + 0.25 * 0.45
    )


def test_rank_auroc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    risk = np.round(rng.random(200), 1)
    assert rank_auroc(y, risk) == pytest.approx(roc_auc_score(y, risk))


def test_rank_metrics_are_nan_for_one_class() -> None:
    metrics = risk_metrics(np.zeros(5, dtype=int), np.full(5, 0.2))
    assert np.isnan(metrics["roc_auc"]) and metrics["brier"] == pytest.approx(0.04)


def test_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    risk = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    low, high = bootstrap_interval(y, risk, "roc_auc", seed=0)
    assert low < rank_auroc(y, risk) < high
    assert high - low < 0.2


def test_paired_gain_draws_are_zero_for_the_same_scores() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    risk = rng.random(120)
    gain, draws = paired_gain_draws(y, risk, risk, np.arange(120) % 12, n_boot=50)
    assert gain == 0.0 and draws.size == 50 and np.all(draws == 0.0)


def test_paired_gain_draws_give_the_interval_and_a_standard_error() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    groups = np.arange(400) % 40
    better = y + rng.normal(0, 0.8, 400)
    worse = y + rng.normal(0, 2.0, 400)
    gain, draws = paired_gain_draws(y, better, worse, groups, n_boot=300, seed=5)
    assert gain == pytest.approx(rank_auroc(y, better) - rank_auroc(y, worse))
    assert 0 < draws.std(ddof=1) < gain  # a clear gain: positive, more than 1 SE from 0
    _, low, high = paired_gain_interval(y, better, worse, groups, n_boot=300, seed=5)
    assert (low, high) == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])))


def test_paired_gain_draws_are_empty_for_one_class() -> None:
    gain, draws = paired_gain_draws(
        np.zeros(6, dtype=int), np.arange(6.0), np.ones(6), np.arange(6)
    )
    assert np.isnan(gain) and draws.size == 0
