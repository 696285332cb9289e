"""The training reference stored in the model bundle (``MonitorReference``).

Computed once at training (``attach_reference``, called where the bundle is built): the binned
log2 distribution of each protein the model reads, the categories or values of each metadata
column (also donor-weighted), the model's driver proteins and the cross-validated performance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from exostab.model.bundle import ModelBundle
from exostab.monitor.performance import band_error_rates, in_the_large_draws

REFERENCE_VERSION = 1
N_BINS = 10
MAX_NUMBER_SAMPLE = 2000


def log2_values(values: np.ndarray, scale: str) -> np.ndarray:
    """Return protein values on the log2 scale, NaN where not detected.

    Args:
        values: lots × proteins, raw intensities (0 or NaN = not quantified) or log2 values.
        scale: ``raw`` or ``log2``.
    """
    values = np.asarray(values, dtype=float)
    if scale == "log2":
        return np.where(np.isfinite(values), values, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log2(values), np.nan)


def binned_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count log2 values in the bins cut at ``edges``, not detected (NaN) in the last bin."""
    detected = values[np.isfinite(values)]
    counts = np.bincount(np.searchsorted(edges, detected, side="right"), minlength=len(edges) + 1)
    return np.append(counts, int(np.sum(~np.isfinite(values))))


@dataclass(frozen=True)
class MonitorReference:
    """What ``monitor`` compares new lots with, computed once at training.

    Compact on purpose (a few numbers per protein): the binned distribution of each protein
    the model reads, the categories or values of each metadata column, the model's drivers and
    the cross-validated performance.

    Attributes:
        n_lots: training lots.
        categories: metadata column → category → lots (missing as ``"(missing)"``).
        numbers: number metadata column → the training values (at most 2,000, a sample).
        proteins: protein feature → ``edges`` (log2 deciles of the detected values),
            ``counts`` (lots per bin, the last bin = not detected) and ``median`` (log2).
        drivers: protein feature → mean |attribution| (log-odds) on the training lots, largest
            first; proteins with no attribution are absent.
        performance: ``auroc``, ``auroc_low``, ``auroc_high`` (cross-validated, donor-bootstrap
            95% interval), ``prevalence``, ``mean_risk``, ``released_unstable``,
            ``held_stable`` (out-of-fold band decisions).
        by_group: per metadata column, its donor-weighted category counts (each donor weighs
            one), or for a number column ``{"values": [per-donor medians]}``; drift of the lot
            sheet is tested over donors when both sides know them.
    """

    n_lots: int
    categories: dict[str, dict[str, int]]
    numbers: dict[str, list[float]]
    proteins: dict[str, dict[str, Any]]
    drivers: dict[str, float]
    performance: dict[str, float]
    by_group: dict[str, Any] = field(default_factory=dict)
    version: int = REFERENCE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "n_lots": self.n_lots,
            "categories": self.categories,
            "numbers": self.numbers,
            "proteins": self.proteins,
            "drivers": self.drivers,
            "performance": self.performance,
            "by_group": self.by_group,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> MonitorReference:
        return cls(
            n_lots=int(payload["n_lots"]),
            categories=payload["categories"],
            numbers=payload["numbers"],
            proteins=payload["proteins"],
            drivers=payload["drivers"],
            performance=payload["performance"],
            by_group=payload.get("by_group", {}),
            version=int(payload.get("version", REFERENCE_VERSION)),
        )


def category_counts(values: pd.Series) -> dict[str, int]:
    """Count a metadata column's categories, missing cells as ``(missing)``."""
    text = values.astype(object).where(values.notna(), "(missing)").astype(str)
    return {str(k): int(v) for k, v in text.value_counts().items()}


def reference_from_training(training: Any, result: Any, bundle: ModelBundle) -> MonitorReference:
    """Compute the monitoring reference from a training run.

    Args:
        training: the ``TrainingSet`` (lots × metadata + protein features, labels).
        result: its ``TrainResult`` (out-of-fold risk, CV metrics and intervals).
        bundle: the bundle built from it (its proteins, bands and attributions).
    """
    X = training.X
    categories = {
        column: category_counts(X[column])
        for column in training.metadata
        if column in training.categorical
    }
    # Lots of one donor (and of one expansion series) are not independent draws of the lot
    # sheet: columns are tested over donors, each donor weighing one.
    by_group: dict[str, Any] = {
        column: donor_weighted_counts(X[column], training.groups)
        for column in training.metadata
        if column in training.categorical
    }
    for column in training.metadata:
        if column not in training.categorical:
            medians = donor_medians(X[column], training.groups)
            by_group[column] = {"values": [round(float(v), 4) for v in medians]}
    numbers = {}
    for column in training.metadata:
        if column in training.categorical:
            continue
        values = pd.to_numeric(X[column], errors="coerce").dropna().to_numpy(dtype=float)
        if len(values) > MAX_NUMBER_SAMPLE:
            values = np.random.default_rng(0).choice(values, MAX_NUMBER_SAMPLE, replace=False)
        numbers[column] = [round(float(v), 4) for v in values]
    proteins: dict[str, dict[str, Any]] = {}
    features = [f for f in map(str, bundle.proteins.index) if f in X.columns]
    block = log2_values(X[features].to_numpy(dtype=float), training.scale)
    donor_codes = np.unique(training.groups.astype(str).to_numpy(), return_inverse=True)[1]
    proteins_lots_per_donor = len(X) / max(int(donor_codes.max()) + 1, 1) if len(X) else 1.0
    for j, feature in enumerate(features):
        values = block[:, j]
        detected = values[np.isfinite(values)]
        if len(detected) < N_BINS:
            edges = np.array([])
        else:
            edges = np.unique(np.quantile(detected, np.arange(1, N_BINS) / N_BINS))
        proteins[feature] = {
            "edges": [round(float(e), 4) for e in edges],
            "counts": binned_counts(values, edges).tolist(),
            "median": round(float(np.median(detected)), 4) if len(detected) else None,
            "sd": round(float(np.std(detected)), 4) if len(detected) > 1 else None,
            "icc": round(donor_icc(values, donor_codes), 4),
        }
    drivers = driver_strength(bundle, X)
    y = training.y.to_numpy(dtype=int)
    oof = result.oof_risk.to_numpy(dtype=float)
    tested = np.isfinite(oof)
    released, held = band_error_rates(y[tested], bundle.bands.band(oof[tested]))
    low, high = result.intervals.get("cv_roc_auc", (float("nan"), float("nan")))
    groups = training.groups.astype(str).to_numpy()[tested]
    draws = in_the_large_draws(y[tested], oof[tested], groups, seed=0)
    performance = {
        "auroc": float(result.metrics.get("cv_roc_auc", float("nan"))),
        "auroc_low": float(low),
        "auroc_high": float(high),
        "prevalence": float(np.mean(y[tested])) if tested.any() else float("nan"),
        "mean_risk": float(np.mean(oof[tested])) if tested.any() else float("nan"),
        "released_unstable": released,
        "held_stable": held,
        # Out-of-fold observed minus predicted and its donor-bootstrap SD: what a stable
        # stream's calibration-in-the-large is compared with.
        "in_the_large": float(np.mean(y[tested]) - np.mean(oof[tested]))
        if tested.any()
        else float("nan"),
        "in_the_large_sd": float(np.std(draws)) if len(draws) else float("nan"),
    }
    by_group["lots_per_donor"] = round(float(proteins_lots_per_donor), 4)
    return MonitorReference(
        n_lots=len(X),
        categories=categories,
        numbers=numbers,
        proteins=proteins,
        drivers=drivers,
        performance=performance,
        by_group=by_group,
    )


def donor_icc(values: np.ndarray, donors: np.ndarray) -> float:
    """Intraclass correlation of a protein's detected log2 values within donors (one-way
    ANOVA estimator); 1 (the worst case) when it cannot be estimated.

    It sets the design effect 1 + (m - 1) ICC of m lots per donor (Kish 1965).
    """
    finite = np.isfinite(values)
    codes, y = donors[finite], values[finite]
    groups = np.unique(codes)
    if len(groups) < 3 or len(y) <= len(groups):
        return 1.0
    sizes = np.array([np.sum(codes == g) for g in groups], dtype=float)
    means = np.array([y[codes == g].mean() for g in groups])
    between = float(np.sum(sizes * (means - y.mean()) ** 2) / (len(groups) - 1))
    within = float(np.sum((y - means[np.searchsorted(groups, codes)]) ** 2)) / (
        len(y) - len(groups)
    )
    k0 = (len(y) - np.sum(sizes**2) / len(y)) / (len(groups) - 1)
    denominator = between + (k0 - 1) * within
    if denominator <= 0:
        return 1.0
    return float(np.clip((between - within) / denominator, 0.0, 1.0))


def donor_weighted_counts(values: pd.Series, donors: pd.Series) -> dict[str, float]:
    """Count categories with each donor weighing one (split over its lots' categories)."""
    text = values.astype(object).where(values.notna(), "(missing)").astype(str)
    frame = pd.DataFrame({"level": text.to_numpy(), "donor": donors.astype(str).to_numpy()})
    shares = frame.groupby("donor")["level"].value_counts(normalize=True)
    totals = shares.groupby(level="level").sum()
    return {str(k): round(float(v), 6) for k, v in totals.items()}


def donor_medians(values: pd.Series, donors: pd.Series) -> np.ndarray:
    """The median of a number column per donor (donors without a value left out)."""
    numbers = pd.to_numeric(values, errors="coerce")
    frame = pd.DataFrame({"value": numbers.to_numpy(), "donor": donors.astype(str).to_numpy()})
    return frame.groupby("donor")["value"].median().dropna().to_numpy(dtype=float)


def driver_strength(bundle: ModelBundle, X: pd.DataFrame) -> dict[str, float]:
    """Return each protein's mean |attribution| (log-odds) on lots X, largest first.

    Args:
        X: lots × the pipeline's input features (metadata, proteins under feature names).
    """
    _, contributions = bundle.raw_and_contributions(bundle.transform(X))
    strength = np.abs(contributions[:, :-1]).mean(axis=0)
    known = set(map(str, bundle.proteins.index))
    pairs = [
        (name, float(s))
        for name, s in zip(bundle.feature_names, strength, strict=True)
        if name in known and s > 0
    ]
    return {name: round(s, 6) for name, s in sorted(pairs, key=lambda p: -p[1])}


def attach_reference(bundle: ModelBundle, training: Any, result: Any) -> ModelBundle:
    """Return the bundle with its monitoring reference (called where the bundle is built)."""
    reference = reference_from_training(training, result, bundle)
    return replace(bundle, monitor_reference=reference.to_dict())


def bundle_reference(bundle: ModelBundle) -> MonitorReference | None:
    """The bundle's monitoring reference, None for models trained before it was stored."""
    payload = bundle.monitor_reference
    return MonitorReference.from_dict(payload) if payload else None
