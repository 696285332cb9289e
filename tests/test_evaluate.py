"""Unit tier: metrics against hand-computed values and sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from exostab.evaluate import (
    bootstrap_interval,
    expected_calibration_error,
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
