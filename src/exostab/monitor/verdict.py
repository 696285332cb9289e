"""The alarm rule of ``configs/monitor.yaml`` and its verdict.

The rule's checks per scope (all lots, or one time window: AUROC, calibration, lot sheet,
driver proteins, other proteins, domain, not assessable), Holm's correction over all checks,
the alarm's reasons and the one printed verdict line. An alarm is a reason to look, not proof
that the model is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from exostab.config import MonitorConfig
from exostab.model.bundle import ModelBundle
from exostab.model.lot_answer import MIN_COVERAGE
from exostab.monitor.drift import protein_phrase
from exostab.monitor.performance import not_assessable
from exostab.monitor.reference import MonitorReference

ALL_LOTS = "all lots"
# The domain is widened at training so that 1% of new-donor lots (out of fold) fall outside.
EXPECTED_OUTSIDE = 0.01
# A stable stream's lots the model cannot judge: at most those outside the domain (a lot
# FAR_OUTSIDE times beyond its limits is outside it too), and a good run measures most of the
# model's proteins.
EXPECTED_NOT_ASSESSABLE = EXPECTED_OUTSIDE


def placed(lots: pd.DataFrame) -> np.ndarray:
    """Per lot, True when it measured enough of the model's proteins for its domain score to
    place it (``coverage`` >= ``MIN_COVERAGE``): the domain statistics fill an unmeasured
    protein with its training median, so a lot that measured few looks typical."""
    return lots["coverage"].to_numpy(dtype=float) >= MIN_COVERAGE


def outside_domain(lots: pd.DataFrame) -> np.ndarray:
    """Per lot, True when it is placed (``placed``) and outside the training domain
    (``in_domain`` False: domain score above 1). A lot not placed is never outside."""
    return placed(lots) & ~lots["in_domain"].astype(bool).to_numpy()


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
            ``other proteins``, ``domain`` or ``not assessable``.
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


COMPONENTS = (
    "auroc",
    "calibration",
    "lot sheet",
    "driver proteins",
    "other proteins",
    "domain",
    "not assessable",
)


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
        found: ``performance`` of the scope's lots; lots: the scope's monitored lots
            (``risk_band``, ``coverage``, ``in_domain``, ``domain_score``, ``lot_id``);
        metadata, proteins: the scope's drift tables (None without reference);
        explain_domain: given the scope's lots outside the domain, the text naming what put
            them there (``domain_contributors``); asked only when the domain check is material.

    Returns:
        the checks that could be computed (a p-value); performance needs ``min_outcomes``
        outcomes on lots the model judged (``not assessable`` ones are left out); the domain
        check counts the lots placed (``placed``), the not-assessable check all.
    """
    checks: list[Check] = []
    where = "" if scope == ALL_LOTS else f" in {scope}"
    n = int(found["n_judged"])
    left_out = int(found["n_outcome_not_assessable"])
    with_outcome = f"{n} lots with an outcome" + (
        f"; {left_out} not assessable left out" if left_out else ""
    )
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
                    f"{found['auroc_high']:.2f}, {with_outcome}) below the CV AUROC "
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
    fit = placed(lots)
    if fit.any():
        out = outside_domain(lots)
        outside, n_placed = int(out.sum()), int(fit.sum())
        share = outside / n_placed
        material = share > config.max_outside_domain
        unplaced = (
            f"; {len(lots) - n_placed} lot(s) measuring under {MIN_COVERAGE:.0%} of the "
            "model's proteins not counted"
            if n_placed < len(lots)
            else ""
        )
        checks.append(
            Check(
                scope,
                "domain",
                float(stats.binomtest(outside, n_placed, EXPECTED_OUTSIDE, "greater").pvalue),
                material,
                f"{share:.0%} of lots{where} outside the training domain (expected about "
                f"{EXPECTED_OUTSIDE:.0%}{unplaced})"
                + (explain_domain(lots[out]) if material and explain_domain is not None else ""),
            )
        )
    if len(lots):
        checks.append(not_assessable_check(scope, lots, config))
    return checks


def not_assessable_check(scope: str, lots: pd.DataFrame, config: MonitorConfig) -> Check:
    """The share of a scope's lots the model answered ``not assessable``, against 1%.

    One-sided binomial test above ``EXPECTED_NOT_ASSESSABLE``; material above
    ``config.max_not_assessable``. The text says why the lots could not be judged: too few of
    the model's proteins measured, or (the others) far outside the training domain (a domain
    score above ``lot_answer.FAR_OUTSIDE``, 3).

    Args:
        lots: the scope's monitored lots (``risk_band``, ``coverage``), at least one.
    """
    where = "" if scope == ALL_LOTS else f" in {scope}"
    unjudged = not_assessable(lots)
    k, n = int(unjudged.sum()), len(lots)
    few = int((unjudged & ~placed(lots)).sum())
    causes = [
        f"{count} {cause}"
        for count, cause in (
            (few, f"measured fewer than {MIN_COVERAGE:.0%} of its proteins"),
            (k - few, "far outside the training domain"),
        )
        if count
    ]
    return Check(
        scope,
        "not assessable",
        float(stats.binomtest(k, n, EXPECTED_NOT_ASSESSABLE, "greater").pvalue),
        k / n > config.max_not_assessable,
        f"the model could not judge {k / n:.0%} of lots{where} ({k} of {n} not assessable"
        + (f": {', '.join(causes)}" if causes else "")
        + ")",
    )


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
    n_outcome_not_assessable: int = 0,
) -> str:
    """The one printed verdict line, naming the cause, and what could not be judged.

    It claims no more than was checked: with no outcome back, performance was not assessed
    (and the line says so, alarm or not); with fewer than ``min_outcomes`` on lots the model
    judged it was not judged; without the model's training reference, drift and the AUROC
    comparison were not tested. Outcomes of lots answered ``not assessable`` are said to be
    left out of performance.

    Args:
        n_lots: monitored lots; n_outcome: of those, with an outcome back.
        judged: the components checked on all lots (``auroc``, ``calibration``, ...);
            None = every component.
        has_reference: the model stores its training reference (drift can be tested).
        n_outcome_not_assessable: lots with an outcome answered ``not assessable`` (left out
            of performance).
    """
    judged = set(COMPONENTS) if judged is None else judged
    left_out = n_outcome_not_assessable
    where = f"model version {bundle.model_version}, {n_lots} lots, {n_outcome} with an outcome" + (
        f", {left_out} of them not assessable and left out of performance" if left_out else ""
    )
    unjudged: list[str] = []
    if n_outcome == 0:
        unjudged.append("performance not assessed (no outcomes back)")
    elif not judged & {"auroc", "calibration"}:
        n_judged = n_outcome - left_out
        why = (
            f"{n_judged} outcomes{' on lots the model judged' if left_out else ''}, fewer "
            f"than {min_outcomes}"
            if n_judged < min_outcomes
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
