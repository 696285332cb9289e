"""Monitor a deployed model against the lots released since training and their assay outcomes.

Three questions per model version and time window:

1. **Performance** on the lots whose potency assay is back: AUROC with a donor-bootstrap
   interval against the cross-validated interval of training; calibration observed vs predicted
   (overall and per risk band) with binomial intervals; the realised error rates of the band
   decisions (released-but-unstable: ``low`` band lots that failed; held-but-stable: ``high``
   band lots that passed).
2. **Drift** of the inputs against the reference stored in the model at training
   (``MonitorReference``): every metadata column (chi-square test of the categories,
   ``scipy.stats.chi2_contingency``; Kolmogorov-Smirnov for numbers, ``scipy.stats.ks_2samp``)
   and every protein the model reads (chi-square on its log2 values binned at the training
   deciles, not-detected as its own bin, so a change in detection counts too). The p-values of
   each family are corrected by Benjamini-Hochberg (``scipy.stats.false_discovery_control``;
   Benjamini & Hochberg 1995, J R Stat Soc B 57:289). A test counts only when its effect is
   also large (total variation distance or KS statistic): with hundreds of lots a
   statistically detectable but tiny shift is no reason to look. The model's driver proteins
   come first. Lots without an outcome count here.
3. **Accounting** over time: lots in = monitored + quarantined, failed MS runs, the domain
   score's trend.

The verdict (``Verdict``) applies the alarm rule of ``configs/monitor.yaml``. An alarm is a
reason to look, not proof that the model is wrong.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exostab.config import MonitorConfig
from exostab.errors import ExostabError
from exostab.model.bundle import ModelBundle
from exostab.model.evaluate import bootstrap_interval, rank_auroc

logger = logging.getLogger(__name__)

REFERENCE_VERSION = 1
N_BINS = 10
MAX_NUMBER_SAMPLE = 2000
NO_DATE = "no date"
ALL_LOTS = "all lots"
FAILED_RUN = "failed run"
# The domain is widened at training so that 1% of new-donor lots (out of fold) fall outside.
EXPECTED_OUTSIDE = 0.01
# A change of 0.3 in a protein's detected share weighs as a shift of one training SD.
DETECTION_UNIT = 0.3
N_BOOT = 1000


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


def band_error_rates(y: np.ndarray, bands: np.ndarray) -> tuple[float, float]:
    """Return (share unstable among ``low`` band lots, share stable among ``high`` band lots)."""
    low, high = bands == "low", bands == "high"
    released = float(np.mean(y[low])) if low.any() else float("nan")
    held = float(np.mean(1 - y[high])) if high.any() else float("nan")
    return released, held


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


# --------------------------------------------------------------------------------------------
# Reading the monitored lots
# --------------------------------------------------------------------------------------------


def read_outcomes(values: pd.Series) -> tuple[pd.Series, list[str]]:
    """Read assay outcomes: 1 unstable, 0 stable, empty = not back yet (NaN).

    ``1``/``0``, ``1.0``, ``true``/``false`` and ``yes``/``no`` are read; anything else is
    treated as not back and its lot named in the second return value.
    """
    words = {"1": 1.0, "0": 0.0, "true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0}
    outcome = pd.Series(np.nan, index=values.index, dtype=float)
    unreadable: list[str] = []
    for lot, cell in values.items():
        if cell is None or (isinstance(cell, float) and math.isnan(cell)):
            continue
        text = str(cell).strip().lower()
        if text.endswith(".0"):
            text = text[:-2]
        if not text or text in ("nan", "na", "n/a"):
            continue
        if text in words:
            outcome.loc[lot] = words[text]  # type: ignore[call-overload]
        else:
            unreadable.append(str(lot))
    return outcome, unreadable


WINDOWS = {"W": "week", "M": "month", "Q": "quarter", "Y": "year"}
DEFAULT_WINDOW = "M"
DEFAULT_DATE_COLUMN = "release_date"


def checked_window(window: str) -> str:
    """Read a time-window spelling: ``W``, ``M``, ``Q`` or ``Y`` (any case) → upper case.

    Raises:
        ExostabError: any other spelling, naming the four allowed.
    """
    spelled = str(window).strip().upper()
    if spelled not in WINDOWS:
        allowed = ", ".join(f"{key} ({name})" for key, name in WINDOWS.items())
        raise ExostabError(f"--window {window!r} is not a time window: use {allowed}")
    return spelled


def check_monitor_columns(
    sheet: pd.DataFrame,
    *,
    label: str,
    date_column: str | None,
    date_required: bool,
    where: str | None = None,
) -> None:
    """Refuse an outcome column (or a date column the user named) that the lot sheet lacks.

    Args:
        sheet: the lot sheet as read (its columns).
        label: the outcome column; required (its cells may all be empty: no assay back).
        date_column: the date column; None = no dates (one time window).
        date_required: the user named ``date_column`` (``--date-column``): it must be there.
            The default ``release_date`` may be absent (one time window, said in a note).
        where: the lot sheet's file, for the message.

    Raises:
        ExostabError: one line naming the missing column and the file.
    """
    if label not in sheet.columns:
        raise ExostabError(
            f"the lot sheet has no outcome column {label!r} (--label): add it, empty where the "
            "assay is not back, or name the outcome column with --label",
            where=where,
        )
    if date_required and date_column is not None and date_column not in sheet.columns:
        raise ExostabError(
            f"the lot sheet has no date column {date_column!r} (--date-column)", where=where
        )


def window_labels(dates: pd.Series, window: str) -> pd.Series:
    """Label each lot with its time window (a pandas period: ``W``, ``M``, ``Q``, ``Y``).

    A date that cannot be read labels its lot ``no date``.

    Raises:
        ExostabError: ``window`` is not one of ``W``, ``M``, ``Q``, ``Y``.
    """
    period = checked_window(window)
    parsed = pd.to_datetime(dates, errors="coerce", format="mixed")
    periods = parsed.dt.to_period(period)
    return periods.astype(str).where(parsed.notna(), NO_DATE)


# --------------------------------------------------------------------------------------------
# Performance
# --------------------------------------------------------------------------------------------


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


def performance(lots: pd.DataFrame, level: float, seed: int = 0) -> dict[str, Any]:
    """AUROC, calibration and band error rates of the lots with an outcome.

    Args:
        lots: one row per monitored lot: ``risk``, ``risk_band``, ``outcome`` (NaN = not
            back), ``donor_id`` (optional: the bootstrap resamples donors).
        level: interval level.
    """
    judged = lots[lots["outcome"].notna() & lots["risk"].notna()]
    y = judged["outcome"].to_numpy(dtype=int)
    risk = judged["risk"].to_numpy(dtype=float)
    n = len(judged)
    out: dict[str, Any] = {"n_with_outcome": n}
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
    for band in ("low", "review", "high", "not assessable"):
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


# --------------------------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------------------------


def total_variation(reference: np.ndarray, monitored: np.ndarray) -> float:
    """Half the L1 distance between two count vectors' shares (0 = same, 1 = disjoint)."""
    a, b = reference / max(reference.sum(), 1), monitored / max(monitored.sum(), 1)
    return float(0.5 * np.abs(a - b).sum())


def contingency_p(
    reference: np.ndarray,
    monitored: np.ndarray,
    design_effect: float = 1.0,
    reference_design_effect: float = 1.0,
) -> float:
    """Chi-square test of homogeneity of two count vectors (bins empty in both dropped).

    Lots of one donor are not independent: each side's counts are divided by its design
    effect (Kish's 1 + (m - 1) ICC for m lots per donor), the first-order correction of Rao &
    Scott (1981, JASA 76:221), so the test counts effective lots.
    """
    table = np.vstack(
        [
            np.asarray(reference, dtype=float) / max(reference_design_effect, 1.0),
            np.asarray(monitored, dtype=float) / max(design_effect, 1.0),
        ]
    )
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table).pvalue)


def lots_per_donor(lots: pd.DataFrame) -> float:
    """Monitored lots per donor (1 when donors are unknown)."""
    if "donor_id" not in lots or not len(lots):
        return 1.0
    return len(lots) / max(lots["donor_id"].nunique(), 1)


def category_sentence(column: str, reference: dict[str, int], monitored: dict[str, int]) -> str:
    """Say how a category column moved: the level that gained most, the one that lost most.

    E.g. ``medium FBS in 70% of lots (training 30%), hPL in 10% (training 50%)``.
    """
    levels = list(dict.fromkeys([*reference, *monitored]))
    n_ref, n_new = max(sum(reference.values()), 1), max(sum(monitored.values()), 1)
    share = {lv: (reference.get(lv, 0) / n_ref, monitored.get(lv, 0) / n_new) for lv in levels}
    gained = max(levels, key=lambda lv: share[lv][1] - share[lv][0])
    lost = min(levels, key=lambda lv: share[lv][1] - share[lv][0])
    text = f"{column} {gained} in {share[gained][1]:.0%} of lots (training {share[gained][0]:.0%})"
    if lost != gained and share[lost][1] < share[lost][0]:
        text += f", {lost} in {share[lost][1]:.0%} (training {share[lost][0]:.0%})"
    return text


def metadata_drift(
    reference: MonitorReference,
    sheet: pd.DataFrame,
    config: MonitorConfig,
    *,
    window: bool = False,
    lots_per_donor: float = 1.0,
) -> pd.DataFrame:
    """Test each metadata column of the reference on the monitored lots' sheet.

    Category columns are compared over donors (each donor weighs one) on both sides, since a
    donor's lots share its series and medium. In one time ``window`` the monitored lots are
    counted as lots: a window holds few lots per donor, and a change that starts on a date
    (a new medium) moves the lots of a donor, not the donor. Number columns are compared over
    donor medians on both sides.

    Returns:
        one row per column: ``column``, ``test`` (chi2 or ks), ``statistic``, ``p``, ``q``
        (BH-adjusted), ``effect`` (total variation distance or KS statistic), ``drifted``,
        ``description``.
    """
    rows = []
    donors = sheet.get("donor_id")
    by_donor = donors is not None and bool(reference.by_group)
    for column, lot_counts in reference.categories.items():
        if column not in sheet:
            continue
        counts: Mapping[str, float]
        monitored: Mapping[str, float]
        if by_donor and column in reference.by_group:
            counts = reference.by_group[column]
            monitored = (
                category_counts(sheet[column])
                if window
                else donor_weighted_counts(sheet[column], donors)  # type: ignore[arg-type]
            )
        else:
            counts, monitored = lot_counts, category_counts(sheet[column])
        levels = list(dict.fromkeys([*counts, *monitored]))
        a = np.array([counts.get(lv, 0) for lv in levels], dtype=float)
        b = np.array([monitored.get(lv, 0) for lv in levels], dtype=float)
        lot_new = category_counts(sheet[column])
        rows.append(
            {
                "column": column,
                "test": (
                    ("chi2, training over donors" if window else "chi2 over donors")
                    if by_donor and column in reference.by_group
                    else "chi2"
                ),
                "p": contingency_p(a, b, lots_per_donor if window else 1.0),
                "effect": total_variation(a, b),
                "description": category_sentence(column, lot_counts, lot_new),
            }
        )
    for column, values in reference.numbers.items():
        if column not in sheet:
            continue
        new = pd.to_numeric(sheet[column], errors="coerce").dropna().to_numpy(dtype=float)
        if len(new) == 0 or len(values) == 0:
            continue
        reference_values = np.asarray(values, dtype=float)
        tested, test = new, "ks"
        if by_donor and column in reference.by_group:
            reference_values = np.asarray(reference.by_group[column]["values"], dtype=float)
            tested, test = donor_medians(sheet[column], donors), "ks over donors"  # type: ignore[arg-type]
        result = stats.ks_2samp(reference_values, tested)
        unit = " (passages)" if column == "passage" else ""
        rows.append(
            {
                "column": column,
                "test": test,
                "p": float(result.pvalue),
                "effect": float(result.statistic),
                "description": (
                    f"{column} median {np.median(new):g}{unit} (training {np.median(values):g})"
                ),
            }
        )
    table = pd.DataFrame(rows, columns=["column", "test", "p", "effect", "description"])
    return flagged(table, config.fdr, config.min_metadata_effect)


def flagged(table: pd.DataFrame, fdr: float, min_effect: float) -> pd.DataFrame:
    """Add BH-adjusted ``q`` and ``drifted`` (q ≤ fdr and effect ≥ min_effect) to a test table."""
    table = table.copy()
    if table.empty:
        table["q"] = pd.Series(dtype=float)
        table["drifted"] = pd.Series(dtype=bool)
        return table
    table["q"] = stats.false_discovery_control(table["p"].clip(0, 1).to_numpy(), method="bh")
    table["drifted"] = (table["q"] <= fdr) & (table["effect"] >= min_effect)
    return table


def protein_drift(
    reference: MonitorReference,
    bundle: ModelBundle,
    table: pd.DataFrame,
    config: MonitorConfig,
    monitored_per_donor: float = 1.0,
) -> pd.DataFrame:
    """Test each protein of the reference on the monitored lots (drivers ranked first).

    Each protein's chi-square counts effective lots: its design effect 1 + (m - 1) ICC on each
    side, with m lots per donor (``monitored_per_donor``; the training's stored in the
    reference) and its within-donor ICC at training (1, the worst case, when not stored).

    Args:
        table: the monitored lots as scored (``lot_id``, metadata, proteins under input names
            on the model's scale); lots × columns.

    Returns:
        one row per protein: ``protein`` (readable name), ``feature``, ``driver`` (rank among
        the model's drivers, 0 = not a driver), ``weight`` (mean |attribution|), ``p``, ``q``,
        ``effect`` (median log2 shift in training SDs, or the change of the detected share in
        units of 0.3, whichever is larger), ``distance`` (total variation distance of the
        binned values), ``shift`` (median log2 change), ``detected`` and
        ``detected_training`` (shares), ``drifted``; drivers first, then by q.
    """
    inputs = {str(f): str(i) for f, i in bundle.proteins["input_name"].items()}
    training_per_donor = float(reference.by_group.get("lots_per_donor", 1.0))
    ranked = list(reference.drivers)[: config.n_drivers]
    rank = {feature: k + 1 for k, feature in enumerate(ranked)}
    rows = []
    for feature, ref in reference.proteins.items():
        column = inputs.get(feature)
        if column is None or column not in table:
            continue
        values = log2_values(
            pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float), bundle.scale
        )
        edges = np.asarray(ref["edges"], dtype=float)
        counts = np.asarray(ref["counts"], dtype=float)
        monitored = binned_counts(values, edges).astype(float)
        detected = values[np.isfinite(values)]
        median, spread = ref.get("median"), ref.get("sd")
        icc = float(ref.get("icc", 1.0))
        shift = (
            float(np.median(detected) - median)
            if len(detected) and median is not None
            else float("nan")
        )
        detected_share = float(len(detected) / max(len(values), 1))
        detected_training = float(1 - counts[-1] / max(counts.sum(), 1))
        rows.append(
            {
                "protein": bundle.display_name(feature),
                "feature": feature,
                "driver": rank.get(feature, 0),
                "weight": reference.drivers.get(feature, 0.0),
                "p": contingency_p(
                    counts,
                    monitored,
                    1 + (monitored_per_donor - 1) * icc,
                    1 + (training_per_donor - 1) * icc,
                ),
                "distance": total_variation(counts, monitored),
                "shift": shift,
                "detected": detected_share,
                "detected_training": detected_training,
                # In training SDs, or the change of the detected share over 0.3 (a protein
                # that stops being detected has no median to move).
                "effect": max(
                    abs(shift) / max(spread, 0.05) if np.isfinite(shift) and spread else 0.0,
                    abs(detected_share - detected_training) / DETECTION_UNIT,
                ),
            }
        )
    columns = [
        "protein",
        "feature",
        "driver",
        "weight",
        "p",
        "effect",
        "distance",
        "shift",
        "detected",
        "detected_training",
    ]
    table = pd.DataFrame(rows, columns=columns)
    # Drivers are their own family (weighted first): a shift in 20 drivers is not diluted by
    # thousands of other proteins.
    parts = [table[table["driver"] > 0], table[table["driver"] == 0]]
    drift = flagged(table, config.fdr, config.min_protein_effect)
    if any(len(part) for part in parts):
        drift = pd.concat(
            [flagged(part, config.fdr, config.min_protein_effect) for part in parts if len(part)]
        )
    if drift.empty:
        return drift
    drift["is_driver"] = drift["driver"] > 0
    drift = drift.sort_values(
        ["is_driver", "driver", "q"], ascending=[False, True, True], kind="stable"
    )
    return drift.drop(columns="is_driver").reset_index(drop=True)


def protein_phrase(row: Any) -> str:
    """``IL6 +1.20 log2`` (median shift), or ``IL6 detected 40% (training 90%)``."""
    if abs(row.detected - row.detected_training) >= 0.2 or not np.isfinite(row.shift):
        return f"{row.protein} detected {row.detected:.0%} (training {row.detected_training:.0%})"
    return f"{row.protein} {row.shift:+.2f} log2"


def domain_contributors(
    bundle: ModelBundle, table: pd.DataFrame, lots: pd.DataFrame, limit: int = 3
) -> str:
    """Name the features that put a scope's lots outside the training domain.

    The contribution analysis of ``DomainModel.contributors`` (per-feature SPE or T²
    contributions of the lots past the domain limits, against the training lots' own) on the
    lots whose domain score is above 1 (a lot outside only for its low coverage has nothing to
    decompose). Proteins by their readable name, metadata by its column.

    Args:
        bundle: the deployed model.
        table: the monitored lots as scored (``lot_id``, metadata, proteins under input names).
        lots: the scope's monitored lots (``lot_id``, ``domain_score``).

    Returns:
        e.g. ``, mostly through ANXA1, LTBP1, LGALS1 (SPE contributions 23×, 22×, 20× their
        training mean)``, at most ``limit`` features; ``, no single feature stands out in the
        SPE contributions``; or ``""`` when no lot is past the limits.
    """
    outside = set(lots.loc[lots["domain_score"].to_numpy(dtype=float) > 1.0, "lot_id"].astype(str))
    rows = table[table["lot_id"].astype(str).isin(outside)]
    if rows.empty:
        return ""
    features = bundle.transform(bundle.model_inputs(rows.set_index("lot_id", drop=False)))
    statistic, found = bundle.domain.contributors(features)
    named = found[found["stands_out"]].head(limit)
    if named.empty:
        return f", no single feature stands out in the {statistic} contributions"
    return (
        ", mostly through "
        + ", ".join(bundle.display_name(str(c)) for c in named["column"])
        + f" ({statistic} contributions "
        + ", ".join(f"{r:.0f}×" for r in named["ratio"])
        + " their training mean)"
    )


# --------------------------------------------------------------------------------------------
# The whole check and its verdict
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorResult:
    """Everything ``monitor`` found (written to DIR/monitor.json, tables and the page).

    Attributes:
        lots: one row per monitored lot: ``lot_id``, ``window``, ``risk``, ``risk_band``,
            ``outcome`` (NaN = not back), ``domain_score``, ``in_domain``.
        quarantine: lots left out with their reason and window.
        windows: per time window: lots in, monitored, quarantined, failed runs, outcomes,
            AUROC, observed vs predicted, band error rates, median domain score.
        overall: performance over all lots with an outcome (``performance``).
        metadata: metadata drift table; proteins: protein drift table (None without reference).
        reference: the stored reference (None for older models).
        alarm, reasons, verdict: the verdict.
        notes: what could not be judged and why.
    """

    lots: pd.DataFrame
    quarantine: pd.DataFrame
    windows: pd.DataFrame
    overall: dict[str, Any]
    metadata: pd.DataFrame | None
    proteins: pd.DataFrame | None
    reference: MonitorReference | None
    alarm: bool
    reasons: list[str]
    verdict: str
    notes: list[str] = field(default_factory=list)
    model_version: str = ""
    n_outcome_unreadable: int = 0
    checks: list[Check] = field(default_factory=list)

    @property
    def n_lots(self) -> int:
        return len(self.lots) + len(self.quarantine)

    def summary(self) -> dict[str, Any]:
        """The machine-readable verdict (``DIR/monitor.json``)."""
        overall = self.overall
        drifted_proteins = (
            self.proteins.loc[self.proteins["drifted"], "protein"].tolist()
            if self.proteins is not None and not self.proteins.empty
            else []
        )
        drifted_columns = (
            self.metadata.loc[self.metadata["drifted"], "column"].tolist()
            if self.metadata is not None and not self.metadata.empty
            else []
        )
        return json_ready(
            {
                "alarm": self.alarm,
                "reasons": self.reasons,
                "verdict": self.verdict,
                "model_version": self.model_version,
                "n_lots": self.n_lots,
                "n_monitored": len(self.lots),
                "n_quarantined": len(self.quarantine),
                "n_with_outcome": int(overall["n_with_outcome"]),
                "n_outcome_unreadable": self.n_outcome_unreadable,
                "auroc": overall["auroc"],
                "auroc_interval": [overall["auroc_low"], overall["auroc_high"]],
                "cv_auroc_interval": (
                    [
                        self.reference.performance["auroc_low"],
                        self.reference.performance["auroc_high"],
                    ]
                    if self.reference
                    else None
                ),
                "calibration": overall["calibration"],
                "released_unstable": overall["released_unstable"],
                "held_stable": overall["held_stable"],
                "drifted_columns": drifted_columns,
                "drifted_proteins": drifted_proteins,
                "windows": self.windows.to_dict(orient="records"),
                "checks": [
                    {
                        "scope": c.scope,
                        "component": c.component,
                        "p": c.p,
                        "p_holm": c.p_holm,
                        "material": c.material,
                        "failed": c.failed,
                    }
                    for c in self.checks
                ],
                "notes": self.notes,
            }
        )


def json_ready(value: Any) -> Any:
    """Turn NaN into None and numpy scalars into Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def window_table(lots: pd.DataFrame, quarantine: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per time window: the books (in = monitored + quarantined), performance, domain trend."""
    rows = []
    windows = sorted(
        set(lots["window"]) | set(quarantine["window"]), key=lambda w: (w == NO_DATE, w)
    )
    for window in windows:
        members = lots[lots["window"] == window]
        held = quarantine[quarantine["window"] == window]
        found = performance(members, level)
        rows.append(
            {
                "window": window,
                "n_in": len(members) + len(held),
                "n_monitored": len(members),
                "n_quarantined": len(held),
                "n_failed_runs": int(held["reason"].astype(str).str.contains(FAILED_RUN).sum()),
                "n_with_outcome": found["n_with_outcome"],
                "auroc": found["auroc"],
                "auroc_low": found["auroc_low"],
                "auroc_high": found["auroc_high"],
                "observed": found["calibration"]["observed"],
                "observed_low": found["calibration"]["observed_low"],
                "observed_high": found["calibration"]["observed_high"],
                "predicted": found["calibration"]["predicted"],
                "released_unstable": found["released_unstable"],
                "held_stable": found["held_stable"],
                "domain_score_median": float(members["domain_score"].median())
                if len(members)
                else float("nan"),
                "outside_domain": float((~members["in_domain"].astype(bool)).mean())
                if len(members)
                else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def monitor_lots(
    bundle: ModelBundle,
    scored: Any,
    sheet: pd.DataFrame,
    sheet_quarantine: pd.DataFrame,
    *,
    config: MonitorConfig,
    label: str = "unstable",
    date_column: str | None = DEFAULT_DATE_COLUMN,
    window: str = DEFAULT_WINDOW,
    window_given: bool = False,
    seed: int = 0,
) -> MonitorResult:
    """Check a model on released lots: performance, drift, accounting, verdict.

    Args:
        bundle: the deployed model.
        scored: the lots as ``score_file`` scored them (``ScoredFile``).
        sheet: the lot sheet's valid rows (index ``lot_id``), with the ``label`` column
            (empty where the assay is not back) and the ``date_column``.
        sheet_quarantine: the lot-sheet rows refused on reading (``lot_id``, ``reason``).
        config: the alarm rule.
        label: the outcome column (1 = unstable); it must be in the sheet, its cells may be
            empty (no assay back: performance is then not assessed, and the verdict says so).
        date_column: release or manufacturing date column; None or absent = one window
            (absent is said in a note; ``check_monitor_columns`` refuses a named one).
        window: the time windows: ``W``, ``M``, ``Q`` or ``Y``.
        window_given: the user chose ``window``: a note says so when no date can use it.
        seed: bootstrap seed.

    Returns:
        the result; every lot in the sheet is monitored or quarantined (in = monitored +
        quarantined).

    Raises:
        ExostabError: no ``label`` column in the sheet; ``window`` not W, M, Q or Y.
    """
    window = checked_window(window)
    check_monitor_columns(sheet, label=label, date_column=date_column, date_required=False)
    notes: list[str] = []
    reference = bundle_reference(bundle)
    if reference is None:
        notes.append(
            "the model stores no training reference (trained before monitoring existed): "
            "drift is not tested and AUROC is not compared with the CV interval; retrain to add it"
        )
    outcome, unreadable = read_outcomes(sheet[label])
    if unreadable:
        notes.append(
            f"{len(unreadable)} outcome(s) in {label!r} not read as 0/1 (treated as not back): "
            + ", ".join(unreadable[:5])
        )
    dated = date_column is not None and date_column in sheet
    given = f"--window {window} is not used: " if window_given else ""
    if date_column is None:
        if window_given:
            notes.append(f"{given}no date column, all lots in one time window")
    elif not dated:
        notes.append(f"{given}the lot sheet has no {date_column!r} column: one time window")
    windows = (
        window_labels(sheet[date_column], window)
        if dated
        else pd.Series("all", index=sheet.index, dtype=object)
    )
    if dated and len(windows):
        undated = int((windows == NO_DATE).sum())
        if undated == len(windows):
            notes.append(
                f"{given}no date in {date_column!r} could be read: all lots in the window "
                f"{NO_DATE!r}"
            )
        elif undated:
            notes.append(f"{undated} lot(s) with no readable date in {date_column!r}: window "
                         f"{NO_DATE!r}")  # fmt: skip
    scores = scored.scores.set_index("lot_id")
    ids = scores.index.astype(str)
    lots = pd.DataFrame(
        {
            "lot_id": ids,
            "window": windows.reindex(ids).fillna(NO_DATE).to_numpy(),
            "risk": scores["risk"].to_numpy(dtype=float),
            "risk_band": scores["risk_band"].astype(str).to_numpy(),
            "outcome": outcome.reindex(ids).to_numpy(dtype=float),
            "domain_score": scores["domain_score"].to_numpy(dtype=float),
            "in_domain": scores["in_domain"].astype(bool).to_numpy(),
        }
    )
    if "donor_id" in sheet:
        lots["donor_id"] = sheet["donor_id"].reindex(ids).astype(str).to_numpy()
    quarantine = scored.quarantine[["lot_id", "reason"]].copy()
    quarantine["reason"] = (
        quarantine["reason"]
        .astype(str)
        .str.replace(
            "its run quantified no protein (failed run?)", f"{FAILED_RUN}: no protein quantified"
        )
    )
    quarantine["window"] = (
        windows.reindex(quarantine["lot_id"].astype(str)).fillna(NO_DATE).to_numpy()
    )
    if len(lots) + len(quarantine) != len(sheet) + len(sheet_quarantine) + scored.scorer.n_extra:
        raise RuntimeError("monitor lost a lot: monitored + quarantined != lots in")
    level = config.confidence
    overall = performance(lots, level, seed=seed)
    table = window_table(lots, quarantine, level)
    monitored_sheet = sheet.reindex(ids)
    metadata = protein_table = None
    if reference is not None and len(lots):
        metadata = metadata_drift(reference, monitored_sheet, config)
        protein_table = protein_drift(reference, bundle, scored.table, config, lots_per_donor(lots))

    def explain_domain(members: pd.DataFrame) -> str:
        return domain_contributors(bundle, scored.table, members)

    checks = scope_checks(
        ALL_LOTS, overall, lots, metadata, protein_table, reference, config, explain_domain
    )
    # Each window on its own too: a drift in the later months is diluted over all lots.
    labels = sorted(set(lots["window"]))
    for label_ in labels if len(labels) > 1 else []:
        members = lots[lots["window"] == label_]
        if len(members) < config.min_window_lots:
            continue
        window_metadata = window_proteins = None
        if reference is not None:
            member_ids = set(members["lot_id"])
            window_metadata = metadata_drift(
                reference,
                monitored_sheet.loc[members["lot_id"]],
                config,
                window=True,
                lots_per_donor=lots_per_donor(members),
            )
            window_proteins = protein_drift(
                reference,
                bundle,
                scored.table[scored.table["lot_id"].astype(str).isin(member_ids)],
                config,
                lots_per_donor(members),
            )
        checks += scope_checks(
            label_,
            performance(members, level, seed=seed),
            members,
            window_metadata,
            window_proteins,
            reference,
            config,
            explain_domain,
        )
    checks = judge(checks, config.alpha)
    if not any(c.component in ("auroc", "calibration") for c in checks):
        notes.append(
            f"{int(overall['n_with_outcome'])} lot(s) with an outcome, fewer than "
            f"{config.min_outcomes}: performance not judged"
        )
    metadata = mark_named(metadata, "column", checks, ("lot sheet",))
    protein_table = mark_named(
        protein_table, "protein", checks, ("driver proteins", "other proteins")
    )
    reasons = alarm_reasons(checks)
    return MonitorResult(
        lots=lots,
        quarantine=quarantine,
        windows=table,
        overall=overall,
        metadata=metadata,
        proteins=protein_table,
        reference=reference,
        alarm=bool(reasons),
        reasons=reasons,
        verdict=verdict_line(
            reasons,
            len(lots),
            int(overall["n_with_outcome"]),
            bundle,
            judged={c.component for c in checks if c.scope == ALL_LOTS},
            has_reference=reference is not None,
            min_outcomes=config.min_outcomes,
        ),
        notes=notes,
        model_version=bundle.model_version,
        n_outcome_unreadable=len(unreadable),
        checks=checks,
    )


def mark_named(
    table: pd.DataFrame | None, key: str, checks: list[Check], components: tuple[str, ...]
) -> pd.DataFrame | None:
    """Set ``drifted`` to what the failed checks name, and ``windows`` to where they named it.

    The all-lots drift table keeps its tests (p, q, effect); ``drifted`` is what the verdict
    says, so a protein named only in one window is drifted there.
    """
    if table is None or table.empty:
        return table
    where: dict[str, list[str]] = {}
    for check in checks:
        if check.failed and check.component in components:
            for item in check.items:
                where.setdefault(item, []).append(check.scope)
    table = table.copy()
    table["drifted"] = table[key].isin(list(where))
    table["windows"] = table[key].map(lambda item: ", ".join(where.get(item, [])))
    return table


@dataclass(frozen=True)
class Check:
    """One check of the alarm rule on one scope (all lots, or one time window).

    Attributes:
        scope: ``all lots`` or a window label (``2027-03``).
        component: ``auroc``, ``calibration``, ``lot sheet``, ``driver proteins``,
            ``other proteins`` or ``domain``.
        p: the check's p-value (for a family of columns or proteins: its smallest
            Benjamini-Hochberg q, i.e. the Simes test of the family).
        material: the effect is large enough to matter (the rule's minimum effects).
        text: what failed, for the verdict; items: the columns or proteins it names.
        p_holm: p after Holm's correction over all checks; failed: p_holm <= alpha and material.
    """

    scope: str
    component: str
    p: float
    material: bool
    text: str
    items: tuple[str, ...] = ()
    p_holm: float = float("nan")
    failed: bool = False


COMPONENTS = ("auroc", "calibration", "lot sheet", "driver proteins", "other proteins", "domain")


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979, Scand J Stat 6:65-70).

    Hand-written (four lines) rather than adding statsmodels for ``multipletests``; scipy has
    Benjamini-Hochberg (``false_discovery_control``) but not Holm.
    """
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def family_p(table: pd.DataFrame | None) -> float:
    """The p-value of a family of drift tests: its smallest BH q (the Simes global test)."""
    if table is None or table.empty:
        return float("nan")
    return float(table["q"].min())


def scope_checks(
    scope: str,
    found: dict[str, Any],
    lots: pd.DataFrame,
    metadata: pd.DataFrame | None,
    proteins: pd.DataFrame | None,
    reference: MonitorReference | None,
    config: MonitorConfig,
    explain_domain: Callable[[pd.DataFrame], str] | None = None,
) -> list[Check]:
    """The rule's checks on one scope (all lots, or the lots of one window).

    Args:
        found: ``performance`` of the scope's lots; lots: the scope's monitored lots;
        metadata, proteins: the scope's drift tables (None without reference);
        explain_domain: given the scope's lots, the text naming what put them outside the
            domain (``domain_contributors``); asked only when the domain check is material.

    Returns:
        the checks that could be computed (a p-value); performance needs ``min_outcomes``.
    """
    checks: list[Check] = []
    where = "" if scope == ALL_LOTS else f" in {scope}"
    n = int(found["n_with_outcome"])
    if n >= config.min_outcomes and reference is not None:
        cv = reference.performance
        cv_sd = (cv["auroc_high"] - cv["auroc_low"]) / (2 * stats.norm.ppf(0.975))
        sd = math.hypot(found.get("auroc_sd", float("nan")), cv_sd)
        if np.isfinite(found["auroc"]) and np.isfinite(sd) and sd > 0:
            drop = cv["auroc"] - found["auroc"]
            checks.append(
                Check(
                    scope,
                    "auroc",
                    float(stats.norm.sf(drop / sd)),
                    drop >= config.min_auroc_drop,
                    f"AUROC{where} {found['auroc']:.2f} ({found['auroc_low']:.2f}-"
                    f"{found['auroc_high']:.2f}, {n} lots with an outcome) below the CV AUROC "
                    f"{cv['auroc']:.2f} ({cv['auroc_low']:.2f}-{cv['auroc_high']:.2f})",
                )
            )
    if n >= config.min_outcomes:
        calibration = found["calibration"]
        expected = reference.performance.get("in_the_large", 0.0) if reference else 0.0
        expected_sd = reference.performance.get("in_the_large_sd", 0.0) if reference else 0.0
        expected = expected if np.isfinite(expected) else 0.0
        expected_sd = expected_sd if np.isfinite(expected_sd) else 0.0
        sd = math.hypot(calibration["difference_sd"], expected_sd)
        if np.isfinite(calibration["difference"]) and np.isfinite(sd) and sd > 0:
            gap = calibration["difference"] - expected
            checks.append(
                Check(
                    scope,
                    "calibration",
                    float(2 * stats.norm.sf(abs(gap) / sd)),
                    abs(gap) >= config.min_calibration_gap,
                    f"calibration{where}: {calibration['observed']:.0%} of {n} lots unstable, "
                    f"the model predicted {calibration['predicted']:.0%} (observed minus "
                    f"predicted {calibration['difference']:+.0%}, in CV {expected:+.0%})",
                )
            )
    if metadata is not None and not metadata.empty:
        named = metadata[metadata["drifted"]]
        checks.append(
            Check(
                scope,
                "lot sheet",
                family_p(metadata),
                not named.empty,
                "; ".join(f"{row.description}{where}" for row in named.itertuples()),
                tuple(named["column"]),
            )
        )
    if proteins is not None and not proteins.empty:
        for component, members in (
            ("driver proteins", proteins[proteins["driver"] > 0]),
            ("other proteins", proteins[proteins["driver"] == 0]),
        ):
            if members.empty:
                continue
            named = members[members["drifted"]]
            if component == "driver proteins":
                material = len(named) >= config.min_driver_proteins
                label = f"{len(named)} driver protein(s) shifted{where}: "
            else:
                material = len(named) >= max(1.0, config.min_other_share * len(members))
                label = (
                    f"{len(named)} other protein(s) shifted{where} "
                    f"({len(named) / len(members):.0%}): "
                )
            checks.append(
                Check(
                    scope,
                    component,
                    family_p(members),
                    material,
                    label
                    + ", ".join(protein_phrase(r) for r in named.head(5).itertuples())
                    + ("…" if len(named) > 5 else ""),
                    tuple(named["protein"]),
                )
            )
    if len(lots):
        outside = int((~lots["in_domain"].astype(bool)).sum())
        share = outside / len(lots)
        material = share > config.max_outside_domain
        checks.append(
            Check(
                scope,
                "domain",
                float(stats.binomtest(outside, len(lots), EXPECTED_OUTSIDE, "greater").pvalue),
                material,
                f"{share:.0%} of lots{where} outside the training domain (expected about "
                f"{EXPECTED_OUTSIDE:.0%})"
                + (explain_domain(lots) if material and explain_domain is not None else ""),
            )
        )
    return checks


def judge(checks: list[Check], alpha: float) -> list[Check]:
    """Holm over all checks at ``alpha``; a check fails when significant and material."""
    if not checks:
        return []
    adjusted = holm(np.array([c.p for c in checks]))
    return [
        replace(c, p_holm=float(q), failed=bool(q <= alpha and c.material))
        for c, q in zip(checks, adjusted, strict=True)
    ]


def alarm_reasons(checks: list[Check]) -> list[str]:
    """One reason per failed component: its most significant check, and where else it failed."""
    reasons = []
    for component in COMPONENTS:
        failed = sorted(
            (c for c in checks if c.failed and c.component == component),
            key=lambda c: (c.p_holm, c.scope != ALL_LOTS, c.scope),
        )
        if not failed:
            continue
        top, others = failed[0], sorted(c.scope for c in failed[1:])
        also = f"; also in {', '.join(others)}" if others else ""
        reasons.append(f"{top.text} (Holm p={top.p_holm:.1g}{also})")
    return reasons


def verdict_line(
    reasons: list[str],
    n_lots: int,
    n_outcome: int,
    bundle: ModelBundle,
    *,
    judged: set[str] | None = None,
    has_reference: bool = True,
    min_outcomes: int = 20,
) -> str:
    """The one printed verdict line, naming the cause, and what could not be judged.

    It claims no more than was checked: with no outcome back, performance was not assessed
    (and the line says so, alarm or not); with fewer than ``min_outcomes`` it was not judged;
    without the model's training reference, drift and the AUROC comparison were not tested.

    Args:
        judged: the components checked on all lots (``auroc``, ``calibration``, ...);
            None = every component.
        has_reference: the model stores its training reference (drift can be tested).
    """
    judged = set(COMPONENTS) if judged is None else judged
    where = f"model version {bundle.model_version}, {n_lots} lots, {n_outcome} with an outcome"
    unjudged: list[str] = []
    if n_outcome == 0:
        unjudged.append("performance not assessed (no outcomes back)")
    elif not judged & {"auroc", "calibration"}:
        why = (
            f"{n_outcome} outcomes, fewer than {min_outcomes}"
            if n_outcome < min_outcomes
            else "its tests could not be computed"
        )
        unjudged.append(f"performance not judged ({why})")
    if not has_reference:
        what = "AUROC comparison and drift" if "calibration" in judged else "drift"
        unjudged.append(f"{what} not tested (the model stores no training reference)")
    if reasons:
        return f"ALARM ({where}): " + "; ".join(reasons + unjudged)
    claimed = []
    if {"auroc", "calibration"} <= judged:
        claimed.append("performance")
    elif "calibration" in judged:
        claimed.append("calibration")
    if has_reference:
        claimed.append("inputs")
        within = f"{' and '.join(claimed)} within the training reference"
    elif claimed:  # calibration, against no reference: observed as predicted
        within = "observed instability as predicted"
    else:
        within = "nothing tested against the training reference"
    return f"no alarm ({where}): " + "; ".join([within, *unjudged])
