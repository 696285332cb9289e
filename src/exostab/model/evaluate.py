"""Pure metrics of risk predictions: discrimination, calibration, and bootstrap intervals."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece")


def expected_calibration_error(y: np.ndarray, risk: np.ndarray, n_bins: int = 10) -> float:
    """Return the expected calibration error over equal-width risk bins (weighted by lots)."""
    y = np.asarray(y, dtype=float)
    risk = np.asarray(risk, dtype=float)
    bins = np.clip((risk * n_bins).astype(int), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            total += in_bin.mean() * abs(risk[in_bin].mean() - y[in_bin].mean())
    return float(total)


def risk_metrics(y: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    """Return AUROC, PR-AUC, Brier, log loss and ECE; rank metrics are NaN for one class."""
    y = np.asarray(y, dtype=int)
    risk = np.clip(np.asarray(risk, dtype=float), 1e-6, 1 - 1e-6)
    two_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, risk)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, risk)) if two_classes else float("nan"),
        "brier": float(brier_score_loss(y, risk)),
        "log_loss": float(log_loss(y, risk, labels=[0, 1])),
        "ece": expected_calibration_error(y, risk),
    }


def rank_auroc(y: np.ndarray, risk: np.ndarray) -> float:
    """AUROC by the Mann-Whitney rank formula (ties averaged): fast enough to bootstrap."""
    positives = y == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(risk)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


FAST_METRICS = {
    "roc_auc": rank_auroc,
    "brier": lambda y, risk: float(np.mean((risk - y) ** 2)),
}


def bootstrap_interval(
    y: np.ndarray,
    risk: np.ndarray,
    metric: str,
    *,
    n_boot: int = 500,
    seed: int = 0,
    level: float = 0.95,
    groups: np.ndarray | None = None,
) -> tuple[float, float]:
    """Return a percentile bootstrap interval of ``roc_auc`` or ``brier``.

    With ``groups`` (donors) whole groups are resampled, so lots of one donor move together
    (they are not independent: resampling lots would make the interval too narrow); without,
    lots are resampled.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=int)
    risk = np.asarray(risk, dtype=float)
    compute = FAST_METRICS[metric]
    if groups is None:
        draws = list(rng.integers(0, len(y), (n_boot, len(y))))
    else:
        _, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        members = [np.flatnonzero(inverse == g) for g in range(int(inverse.max()) + 1)]
        draws = [
            np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
            for _ in range(n_boot)
        ]
    values = [compute(y[idx], risk[idx]) for idx in draws]
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    return float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail))


def paired_gain_draws(
    y: np.ndarray,
    risk: np.ndarray,
    reference: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, np.ndarray]:
    """Return the AUROC gain of ``risk`` over ``reference`` and its group-bootstrap draws.

    Groups (donors, plexes) are resampled with replacement, all lots of a drawn group together,
    and both AUROCs are computed on the same resample (paired). The standard deviation of the
    draws is the standard error of the gain (how much it would move with other groups).

    Args:
        y: 0/1 outcome per lot (n lots).
        risk, reference: scores per lot (n lots; any monotone scale: risk or log-odds).
        groups: group label per lot (n lots).
        n_boot: number of bootstrap draws.
        seed: random state of the draws.

    Returns:
        (gain on all lots, finite gains of the draws); NaN and an empty array when a class is
        missing.
    """
    y = np.asarray(y, dtype=int)
    gain = rank_auroc(y, risk) - rank_auroc(y, reference)
    if not np.isfinite(gain):
        return float("nan"), np.array([])
    rng = np.random.default_rng(seed)
    labels, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(labels))]
    gains = []
    for _ in range(n_boot):
        drawn = rng.integers(0, len(members), len(members))
        idx = np.concatenate([members[g] for g in drawn])
        value = rank_auroc(y[idx], risk[idx]) - rank_auroc(y[idx], reference[idx])
        if np.isfinite(value):
            gains.append(value)
    return float(gain), np.asarray(gains, dtype=float)


def paired_gain_interval(
    y: np.ndarray,
    risk: np.ndarray,
    reference: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Return the AUROC gain of ``risk`` over ``reference`` and its donor-bootstrap interval.

    Donors (``groups``) are resampled with replacement, all lots of a drawn donor together, and
    both AUROCs are computed on the same resample (paired), so the interval reflects how much
    the gain would move with another set of donors (draws of ``paired_gain_draws``).

    Returns:
        (gain on all lots, lower, upper); NaN when a class is missing.
    """
    gain, gains = paired_gain_draws(y, risk, reference, groups, n_boot=n_boot, seed=seed)
    if not np.isfinite(gain):
        return float("nan"), float("nan"), float("nan")
    if not gains.size:
        return float(gain), float("nan"), float("nan")
    tail = (1 - level) / 2
    return float(gain), float(np.quantile(gains, tail)), float(np.quantile(gains, 1 - tail))
