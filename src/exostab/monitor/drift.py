"""Drift of the monitored lots' inputs against the training reference.

Every metadata column (chi-square test of the categories, ``scipy.stats.chi2_contingency``;
Kolmogorov-Smirnov for numbers, ``scipy.stats.ks_2samp``) and every protein the model reads
(chi-square on its log2 values binned at the training deciles, not-detected as its own bin, so a
change in detection counts too). The p-values of each family are corrected by
Benjamini-Hochberg (``scipy.stats.false_discovery_control``; Benjamini & Hochberg 1995, J R Stat
Soc B 57:289). A test counts only when its effect is also large (total variation distance or KS
statistic). The model's driver proteins come first. Also the features that put lots outside
the training domain (``domain_contributors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exostab.config import MonitorConfig
from exostab.model.bundle import ModelBundle
from exostab.monitor.reference import (
    MonitorReference,
    binned_counts,
    category_counts,
    donor_medians,
    donor_weighted_counts,
    log2_values,
)

# A change of 0.3 in a protein's detected share weighs as a shift of one training SD.
DETECTION_UNIT = 0.3


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
