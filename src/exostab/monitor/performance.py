"""Performance of a deployed model on the lots whose potency assay is back.

Only on the lots the model judged: a lot it answered ``not assessable`` (too few of its
proteins measured, or far outside the training lots) has a risk the model does not stand by,
and is left out (and counted). AUROC with a donor-bootstrap interval (its standard error at
least Hanley & McNeil's), calibration observed vs predicted (overall and per risk band) with
Wilson intervals, the calibration-in-the-large bootstrap, and the realised error rates of the
band decisions (released-but-unstable: ``low`` band lots that failed; held-but-stable:
``high`` band lots that passed).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exostab.model.evaluate import bootstrap_interval, rank_auroc
from exostab.model.lot_answer import NOT_ASSESSABLE

N_BOOT = 1000


def band_error_rates(y: np.ndarray, bands: np.ndarray) -> tuple[float, float]:
    """Return (share unstable among ``low`` band lots, share stable among ``high`` band lots)."""
    low, high = bands == "low", bands == "high"
    released = float(np.mean(y[low])) if low.any() else float("nan")
    held = float(np.mean(1 - y[high])) if high.any() else float("nan")
    return released, held


def proportion_interval(k: int, n: int, level: float) -> tuple[float, float]:
    """Wilson interval of a proportion (``scipy.stats.binomtest``); NaNs when n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def in_the_large_draws(
    y: np.ndarray, risk: np.ndarray, groups: np.ndarray | None, seed: int
) -> np.ndarray:
    """Bootstrap draws of observed minus predicted (calibration-in-the-large), shares.

    Donors are resampled whole when known (their lots share donor effects, so resampling lots
    would make the spread too narrow); otherwise lots. Empty when fewer than 2 lots.
    """
    if len(y) < 2:
        return np.array([])
    rng = np.random.default_rng(seed)
    if groups is None or len(set(groups)) < 2:
        draws = [rng.integers(0, len(y), len(y)) for _ in range(N_BOOT)]
    else:
        _, inverse = np.unique(groups, return_inverse=True)
        members = [np.flatnonzero(inverse == g) for g in range(int(inverse.max()) + 1)]
        draws = [
            np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
            for _ in range(N_BOOT)
        ]
    return np.array([float(y[idx].mean() - risk[idx].mean()) for idx in draws])


def in_the_large_interval(
    y: np.ndarray, risk: np.ndarray, groups: np.ndarray | None, level: float, seed: int
) -> tuple[float, float]:
    """Bootstrap interval of observed minus predicted (``in_the_large_draws``)."""
    values = in_the_large_draws(y, risk, groups, seed)
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))


def hanley_mcneil(auroc: float, y: np.ndarray) -> float:
    """Standard error of an AUROC from its positives and negatives (Hanley & McNeil 1982)."""
    n1, n0 = int(np.sum(y == 1)), int(np.sum(y == 0))
    if n1 == 0 or n0 == 0 or not np.isfinite(auroc):
        return float("nan")
    q1, q2 = auroc / (2 - auroc), 2 * auroc**2 / (1 + auroc)
    variance = (auroc * (1 - auroc) + (n1 - 1) * (q1 - auroc**2) + (n0 - 1) * (q2 - auroc**2)) / (
        n1 * n0
    )
    return float(math.sqrt(max(variance, 0.0)))


def not_assessable(lots: pd.DataFrame) -> np.ndarray:
    """Per lot, True when the model answered it ``not assessable`` (its ``risk_band``)."""
    return lots["risk_band"].astype(str).to_numpy() == NOT_ASSESSABLE


def performance(lots: pd.DataFrame, level: float, seed: int = 0) -> dict[str, Any]:
    """AUROC, calibration and band error rates of the lots with an outcome the model judged.

    Args:
        lots: one row per monitored lot: ``risk``, ``risk_band``, ``outcome`` (NaN = not
            back), ``donor_id`` (optional: the bootstrap resamples donors).
        level: interval level.

    Returns:
        ``n_with_outcome`` (lots whose outcome is back), ``n_outcome_not_assessable`` (of
        those, answered ``not assessable``: left out of everything below), ``n_judged`` (the
        rest: what AUROC, calibration and band error rates are measured on), ``auroc`` with
        ``auroc_low``/``auroc_high``/``auroc_sd``, ``calibration`` (shares 0-1, per band too),
        ``released_unstable``, ``held_stable`` (shares; NaN where not measurable),
        ``n_released``, ``n_held``.
    """
    back = lots[lots["outcome"].notna() & lots["risk"].notna()]
    left_out = not_assessable(back)
    judged = back[~left_out]
    y = judged["outcome"].to_numpy(dtype=int)
    risk = judged["risk"].to_numpy(dtype=float)
    n = len(judged)
    out: dict[str, Any] = {
        "n_with_outcome": len(back),
        "n_outcome_not_assessable": int(left_out.sum()),
        "n_judged": n,
    }
    both = n > 1 and 0 < y.sum() < n
    out["auroc"] = rank_auroc(y, risk) if both else float("nan")
    groups = judged["donor_id"].astype(str).to_numpy() if "donor_id" in judged else None
    if groups is not None and len(set(groups)) < 5:
        groups = None  # too few donors to resample: lots
    low, high = (
        bootstrap_interval(y, risk, "roc_auc", level=level, seed=seed, groups=groups)
        if both
        else (float("nan"), float("nan"))
    )
    out["auroc_low"], out["auroc_high"] = low, high
    observed_low, observed_high = proportion_interval(int(y.sum()), n, level)
    out["calibration"] = {
        "observed": float(y.mean()) if n else float("nan"),
        "observed_low": observed_low,
        "observed_high": observed_high,
        "predicted": float(risk.mean()) if n else float("nan"),
        "bands": {},
    }
    draws = in_the_large_draws(y, risk, groups, seed)
    tail = (1 - level) / 2
    out["calibration"]["difference"] = float(y.mean() - risk.mean()) if n else float("nan")
    out["calibration"]["difference_low"] = (
        float(np.quantile(draws, tail)) if len(draws) else float("nan")
    )
    out["calibration"]["difference_high"] = (
        float(np.quantile(draws, 1 - tail)) if len(draws) else float("nan")
    )
    out["calibration"]["difference_sd"] = float(np.std(draws)) if len(draws) else float("nan")
    # The AUROC's standard error: from its bootstrap interval (normal approximation), at least
    # Hanley & McNeil's (1982, Radiology 143:29): a bootstrap over few donors is too narrow.
    out["auroc_sd"] = (
        max((high - low) / (2 * stats.norm.ppf(1 - tail)), hanley_mcneil(out["auroc"], y))
        if both
        else float("nan")
    )
    bands = judged["risk_band"].astype(str).to_numpy()
    for band in ("low", "review", "high"):
        members = bands == band
        k, m = int(y[members].sum()), int(members.sum())
        if m == 0:
            continue
        band_low, band_high = proportion_interval(k, m, level)
        out["calibration"]["bands"][band] = {
            "n": m,
            "observed": k / m,
            "observed_low": band_low,
            "observed_high": band_high,
            "predicted": float(risk[members].mean()),
        }
    released, held = band_error_rates(y, bands)
    out["released_unstable"], out["held_stable"] = released, held
    out["n_released"] = int((bands == "low").sum())
    out["n_held"] = int((bands == "high").sum())
    return out
