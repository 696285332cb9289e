"""Train: nested grouped CV → cross-fitted calibration → gate → final fit → TrainResult.

1. Outer donor-grouped folds. In each, the model's structure (learner, normalisation, detection
   threshold, screen, boosting rounds) is chosen by inner grouped CV on that fold's training lots
   only (``selection.py``), then fitted and scored on the fold's test lots.
2. The out-of-fold log-odds are calibrated *cross-fitted*: a lot's risk comes from a calibrator
   fitted on the other folds' lots. The CV metrics use those risks, so they are what a new donor
   would see.
3. Passage alone goes through the same folds. The gain in AUROC over it, with a donor-bootstrap
   interval, is the gate: a model becomes champion only when the interval excludes 0, and a
   model whose risks are (nearly) constant is not registered at all.
4. The final model: the structure chosen on all lots, fitted on all lots; its calibrator is fitted
   on all out-of-fold log-odds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.pipeline import Pipeline

from exostab.config import TrainConfig
from exostab.dataset import TrainingSet, panel_features
from exostab.model.baselines import BASELINES, baseline_out_of_fold, log_baselines
from exostab.model.bundle_proteins import domain_features
from exostab.model.calibration import Calibrator, RiskBands, choose_calibrator, cross_fitted_risk
from exostab.model.domain import DomainModel, fit_domain
from exostab.model.evaluate import (
    bootstrap_interval,
    paired_gain_interval,
    rank_auroc,
    risk_metrics,
)
from exostab.model.logistic import sigmoid
from exostab.model.pipeline import build_pipeline, log_odds
from exostab.model.selection import Choice, choose_structure
from exostab.model.splits import FoldPlan, grouped_folds, lot_level_folds

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Verdict:
    """Whether the model earns its place: the gate on the gain over passage alone.

    Attributes:
        gain: CV AUROC of the model minus that of passage alone (same folds, same lots).
        gain_low, gain_high: 95% donor-bootstrap interval of the gain.
        constant: the model's risks are (nearly) constant: it is not registered at all.
        too_few: the lots or donors are fewer than a grouped CV can support.
        champion_eligible: the model may become champion (gain interval above 0, not constant,
            CV AUROC at least ``gate.min_cv_roc_auc``).
        lines: what ``train`` prints, one line each.
    """

    gain: float
    gain_low: float
    gain_high: float
    constant: bool
    too_few: bool
    champion_eligible: bool
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainResult:
    """Everything a training run produced: the fitted model and its honest validation."""

    pipeline: Pipeline
    calibrator: Calibrator
    bands: RiskBands
    domain: DomainModel
    proteins: pd.DataFrame
    metadata: tuple[str, ...]
    categorical: tuple[str, ...]
    oof_risk: pd.Series
    oof_log_odds: pd.Series
    metrics: dict[str, float]
    fold_metrics: list[dict[str, Any]]
    plan: FoldPlan
    choice: Choice
    fold_choices: list[Choice]
    driver_stability: pd.Series
    verdict: Verdict
    calibration_brier: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    seconds: float = 0.0
    baseline_oof: dict[str, pd.Series] = field(default_factory=dict)

    @property
    def model(self) -> Any:
        """The fitted ``PriorBoostedClassifier`` (the pipeline's last step)."""
        return self.pipeline[-1]

    @property
    def n_features_used(self) -> int:
        """Metadata columns of the prior, plus the protein features when a protein part exists."""
        model = self.model
        has_proteins = any(model.weights)
        return len(model.feature_names if has_proteins else model.prior_columns_)


def preprocess(pipeline: Pipeline, X: pd.DataFrame) -> pd.DataFrame:
    """Run every step but the final estimator: the features the model sees."""
    return pipeline[:-1].transform(X)


def top_proteins(pipeline: Pipeline, X: pd.DataFrame, k: int) -> list[str]:
    """Return the k protein features with the largest mean |attribution| over the lots X."""
    model = pipeline[-1]
    contributions = model.contributions(preprocess(pipeline, X))
    n_prior = len(model.prior_columns_)
    strength = np.abs(contributions[:, n_prior:-1]).mean(axis=0)
    order = np.argsort(-strength, kind="stable")
    return [model.protein_features_[j] for j in order[:k] if strength[j] > 0]


def _fit_fold(
    cfg: TrainConfig,
    training: TrainingSet,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    panels: dict[str, list[str]],
    choose: bool,
    fixed: Choice | None,
) -> tuple[Choice, np.ndarray, np.ndarray, list[str]]:
    """Fit one outer fold: choose (or take) the structure, fit, score the test lots."""
    choice = choose_structure(training, train_idx, cfg, panels) if choose else fixed
    assert choice is not None
    pipeline = build_pipeline(
        cfg,
        choice.candidate,
        metadata=training.metadata,
        categorical=training.categorical,
        n_lots=len(train_idx),
        panels=panels,
        n_rounds=choice.n_rounds,
    )
    y = training.y.to_numpy()
    X_train, X_test = training.X.iloc[train_idx], training.X.iloc[test_idx]
    pipeline.fit(X_train, y[train_idx])
    scores = log_odds(pipeline, X_test)
    # The domain sees what the model uses: scoring reads only those proteins (bundle.py).
    domain_fit = fit_domain(domain_features(pipeline, preprocess(pipeline, X_train)))
    domain = domain_fit.score(preprocess(pipeline, X_test))
    top = top_proteins(pipeline, X_train, cfg.explain.stability_k) if choose else []
    return choice, scores, domain, top


def _tagged(place: int, job: tuple[Any, tuple[Any, ...], dict[str, Any]]) -> tuple[int, Any]:
    """Run one ``joblib.delayed`` call; return its place in the submitted list with its result."""
    function, args, kwargs = job
    return place, function(*args, **kwargs)


def cross_validate(
    cfg: TrainConfig,
    training: TrainingSet,
    folds: list[tuple[np.ndarray, np.ndarray]],
    panels: dict[str, list[str]],
    progress: Progress | None = None,
    fixed: Choice | None = None,
    alongside: Sequence[Any] = (),
) -> tuple[np.ndarray, np.ndarray, list[Choice], list[list[str]], list[Any]]:
    """Fit a fresh pipeline per fold; return out-of-fold log-odds and domain scores.

    Each fold's structure is chosen on that fold's training lots only (nested CV), unless
    ``fixed`` is given. The domain score of each held-out lot is measured against its fold's
    training lots, so its distribution is what lots of new donors look like.

    Args:
        alongside: other independent jobs (``joblib.delayed`` calls) run in the same worker
            pool, first: with five folds on two workers, the last fold leaves a worker idle.

    Returns:
        (out-of-fold log-odds, domain scores, each fold's choice, each fold's top proteins,
        the results of ``alongside`` in its order).
    """
    oof = np.full(len(training.X), np.nan)
    domain_scores = np.full(len(training.X), np.nan)
    choices: list[Choice] = []
    tops: list[list[str]] = []
    fold_jobs = [
        delayed(_fit_fold)(cfg, training, train, test, panels, fixed is None, fixed)
        for train, test in folds
    ]
    # Folds are independent: two worker processes halve the wall time on two cores. Results
    # come back as they finish (tagged with their place), so progress reports each fold when
    # it is done, not after the longer ``alongside`` jobs submitted before it.
    every = [*alongside, *fold_jobs]
    finished: dict[int, Any] = {}
    jobs = Parallel(n_jobs=min(2, len(every)), return_as="generator_unordered")(
        delayed(_tagged)(k, job) for k, job in enumerate(every)
    )
    n_done = 0
    for k, result in jobs:
        finished[k] = result
        fold = k - len(alongside)
        if fold >= 0:
            n_done += 1
            if progress:
                progress(
                    f"fold {fold + 1} of {len(folds)} done ({n_done}/{len(folds)}): "
                    f"{result[0].label}"
                )
    others = [finished[k] for k in range(len(alongside))]
    for k, (_, test_idx) in enumerate(folds):
        choice, scores, domain, top = finished[len(alongside) + k]
        oof[test_idx] = scores
        domain_scores[test_idx] = domain
        choices.append(choice)
        tops.append(top)
    return oof, domain_scores, choices, tops, others


def fold_numbers(folds: list[tuple[np.ndarray, np.ndarray]], n_lots: int) -> np.ndarray:
    """Return, per lot, the outer fold that tested it (-1 for lots never tested)."""
    fold_of = np.full(n_lots, -1)
    for k, (_, test) in enumerate(folds):
        fold_of[test] = k
    return fold_of


def judge(
    cfg: TrainConfig,
    training: TrainingSet,
    y: np.ndarray,
    oof_log_odds: np.ndarray,
    passage_risk: np.ndarray,
    final_risk: np.ndarray,
    choice: Choice,
) -> Verdict:
    """Decide whether the model earns its place (see ``Verdict``), with the lines to print."""
    tested = np.isfinite(oof_log_odds) & np.isfinite(passage_risk)
    groups = training.groups.to_numpy()[tested]
    gain, low, high = paired_gain_interval(
        y[tested],
        oof_log_odds[tested],
        passage_risk[tested],
        groups,
        n_boot=cfg.gate.n_bootstrap,
        seed=cfg.seed,
    )
    spread = float(np.nanmax(final_risk) - np.nanmin(final_risk)) if len(final_risk) else 0.0
    constant = spread < cfg.gate.min_risk_spread
    n_lots, n_donors = len(y), int(training.groups.nunique())
    too_few = n_lots < cfg.search.min_lots or n_donors < cfg.search.min_donors
    auroc = rank_auroc(y[tested], oof_log_odds[tested])
    eligible = (
        not constant and np.isfinite(low) and low > 0 and bool(auroc >= cfg.gate.min_cv_roc_auc)
    )
    lines = []
    if too_few:
        lines.append(
            f"warning: {n_lots} lots of {n_donors} donors are too few for a grouped CV to "
            f"validate a protein model (want ≥ {cfg.search.min_lots} lots and "
            f"≥ {cfg.search.min_donors} donors); trained what they support "
            f"({choice.label}); treat every number below as unreliable"
        )
    if np.isfinite(gain):
        lines.append(
            f"proteins and metadata {'add' if gain >= 0 else 'lose'} {abs(gain):.3f} AUROC "
            f"against passage alone (gain 95% CI {low:+.3f} to {high:+.3f}, donor bootstrap)"
        )
    if constant:
        lines.append(
            f"the model's risks are nearly constant (spread {spread:.3f} < "
            f"{cfg.gate.min_risk_spread}): not registered"
        )
    elif eligible:
        lines.append("verdict: may become champion (gain interval above 0)")
    else:
        reason = (
            f"CV AUROC {auroc:.3f} below the gate {cfg.gate.min_cv_roc_auc}"
            if not auroc >= cfg.gate.min_cv_roc_auc
            else "the gain over passage alone is not clearly above 0"
        )
        lines.append(f"verdict: not champion ({reason})")
    return Verdict(
        gain=gain,
        gain_low=low,
        gain_high=high,
        constant=constant,
        too_few=too_few,
        champion_eligible=eligible,
        lines=tuple(lines),
    )


def train_model(
    training: TrainingSet,
    cfg: TrainConfig,
    panels: dict[str, list[str]] | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Validate by nested grouped CV, calibrate cross-fitted, judge, then fit on all lots.

    Args:
        training: the lots, labels and groups.
        cfg: the training config.
        panels: module name → gene symbols (configs/panels.yaml), mapped to features here.
        progress: called with a short message after each fit.

    Raises:
        InputError: when the groups cannot be split (fewer than two groups).
    """
    started = time.perf_counter()
    feature_panels = panel_features(panels or {}, training.proteins)
    plan = grouped_folds(
        training.y,
        training.groups,
        scheme=cfg.cv.scheme,
        n_splits=cfg.cv.n_splits,
        seed=cfg.seed,
        order=training.order,
    )
    if plan.single_class_folds:
        logger.warning(
            "%d of %d folds hold a single class in their test lots (no AUROC for them); "
            "pooled out-of-fold metrics still use every lot",
            len(plan.single_class_folds),
            len(plan.folds),
        )
    y = training.y.to_numpy()
    # The final model's structure (chosen on all lots, the longest job, so first) and the
    # baselines depend on no fold: they run in the folds' worker pool, in the slots the folds
    # leave idle, instead of in turns of their own after them.
    names = BASELINES if cfg.cv.baselines else ("passage_only",)
    alongside = [
        delayed(choose_structure)(training, np.arange(len(training.y)), cfg, feature_panels),
        *(delayed(baseline_out_of_fold)(name, training, plan.folds, cfg.seed) for name in names),
    ]
    oof_raw, oof_domain, fold_choices, tops, (choice, *baseline_risks) = cross_validate(
        cfg, training, plan.folds, feature_panels, progress, alongside=alongside
    )
    fold_of = fold_numbers(plan.folds, len(y))
    tested = np.flatnonzero(fold_of >= 0)
    oof_risk = cross_fitted_risk(cfg.calibration.method, oof_raw, y, fold_of)
    y_tested, risk_tested = y[tested], oof_risk[tested]
    metrics = {f"cv_{k}": v for k, v in risk_metrics(y_tested, risk_tested).items()}
    # Rank metrics from the out-of-fold log-odds: at release one increasing calibrator maps
    # them, so the ranking a new donor's lots get is that of the log-odds. Per-fold calibrators
    # would only add their own noise to the ranking. Brier, log loss and ECE stay cross-fitted.
    ranked = risk_metrics(y_tested, sigmoid(oof_raw[tested]))
    metrics["cv_roc_auc"], metrics["cv_pr_auc"] = ranked["roc_auc"], ranked["pr_auc"]
    metrics["cv_n_tested"] = float(len(tested))
    donors = training.groups.to_numpy()[tested]
    intervals = {
        "cv_roc_auc": bootstrap_interval(
            y_tested, oof_raw[tested], "roc_auc", seed=cfg.seed, groups=donors
        ),
        "cv_brier": bootstrap_interval(
            y_tested, risk_tested, "brier", seed=cfg.seed, groups=donors
        ),
    }
    fold_metrics: list[dict[str, Any]] = []
    for k, (_, test_idx) in enumerate(plan.folds):
        fold_metrics.append(
            {
                "fold": k,
                "n_test": len(test_idx),
                "chosen": fold_choices[k].label,
                **risk_metrics(y[test_idx], oof_risk[test_idx]),
            }
        )

    baseline_oof = dict(zip(names, baseline_risks, strict=True))
    log_baselines(baseline_oof, training)
    for name, scores in baseline_oof.items():
        covered = np.isfinite(scores)
        for metric, value in risk_metrics(y[covered], scores[covered]).items():
            if metric in ("roc_auc", "pr_auc", "brier", "ece"):
                metrics[f"baseline_{name}_cv_{metric}"] = value
        metrics[f"beats_{name}"] = float(
            metrics["cv_roc_auc"] > metrics[f"baseline_{name}_cv_roc_auc"]
        )
    if progress:
        progress("baselines through the same folds")

    if cfg.cv.naive_gap:
        # Lot-level folds put lots of one donor on both sides: the gap shows how much that
        # flatters. The structure is fixed (the final choice) to keep this cheap.
        naive_raw, _, _, _, _ = cross_validate(
            cfg,
            training,
            lot_level_folds(training.y, n_splits=cfg.cv.n_splits, seed=cfg.seed),
            feature_panels,
            fixed=choice,
        )
        metrics["naive_cv_roc_auc"] = rank_auroc(y, naive_raw)
        metrics["naive_cv_gap"] = metrics["naive_cv_roc_auc"] - metrics["cv_roc_auc"]
    final = build_pipeline(
        cfg,
        choice.candidate,
        metadata=training.metadata,
        categorical=training.categorical,
        n_lots=len(y),
        panels=feature_panels,
        n_rounds=choice.n_rounds,
    )
    final.fit(training.X, y)
    if progress:
        progress(f"final fit on all lots: {choice.label}")
    position = np.full(len(y), -1)
    position[tested] = np.arange(len(tested))
    calibration_folds = [
        (position[np.intersect1d(train_idx, tested)], position[test_idx])
        for train_idx, test_idx in plan.folds
    ]
    calibrator, calibration_brier = choose_calibrator(
        cfg.calibration.method, oof_raw[tested], y[tested], calibration_folds
    )
    final_risk = calibrator.risk(log_odds(final, training.X))
    verdict = judge(cfg, training, y, oof_raw, baseline_oof["passage_only"], final_risk, choice)
    metrics["gain_over_passage"] = verdict.gain
    metrics["gain_over_passage_ci_low"] = verdict.gain_low
    metrics["gain_over_passage_ci_high"] = verdict.gain_high
    metrics["champion_eligible"] = float(verdict.champion_eligible)
    # Widen the in-sample limits so that 1% of new-donor lots (out of fold) fall outside.
    domain = fit_domain(domain_features(final, preprocess(final, training.X))).widened(
        float(np.nanquantile(oof_domain, 0.99)) if np.isfinite(oof_domain).any() else 1.0
    )
    bands = RiskBands.from_costs(
        cfg.decision.cost_release_unstable,
        cfg.decision.cost_reject_stable,
        cfg.decision.low_band_factor,
    )
    counts = pd.Series([p for top in tops for p in top], dtype=object).value_counts()
    stability = (counts / max(len(tops), 1)).rename("top_k_frequency")
    seconds = time.perf_counter() - started
    logger.info("trained in %.1f s: cv_roc_auc %.3f", seconds, metrics["cv_roc_auc"])
    return TrainResult(
        pipeline=final,
        calibrator=calibrator,
        bands=bands,
        domain=domain,
        proteins=training.proteins,
        metadata=training.metadata,
        categorical=training.categorical,
        oof_risk=pd.Series(oof_risk, index=training.X.index, name="oof_risk"),
        oof_log_odds=pd.Series(oof_raw, index=training.X.index, name="oof_log_odds"),
        metrics=metrics,
        fold_metrics=fold_metrics,
        plan=plan,
        choice=choice,
        fold_choices=fold_choices,
        driver_stability=stability,
        verdict=verdict,
        calibration_brier=calibration_brier,
        intervals=intervals,
        seconds=seconds,
        baseline_oof={
            name: pd.Series(scores, index=training.X.index, name=name)
            for name, scores in baseline_oof.items()
        },
    )


def headline_metrics(result: TrainResult) -> dict[str, float]:
    """The few metrics worth a chart in the mlflow UI (per-fold numbers go to a table)."""
    m = result.metrics
    keys = (
        "cv_roc_auc",
        "cv_pr_auc",
        "cv_brier",
        "cv_ece",
        "cv_log_loss",
        "gain_over_passage",
        "gain_over_passage_ci_low",
        "gain_over_passage_ci_high",
        "champion_eligible",
        "naive_cv_gap",
    )
    flat = {k: m[k] for k in keys if k in m}
    flat.update({k: v for k, v in m.items() if k.startswith(("baseline_", "beats_"))})
    for name, (low, high) in result.intervals.items():
        flat[f"{name}_ci_low"], flat[f"{name}_ci_high"] = low, high
    flat["n_features_used"] = result.n_features_used
    flat["n_single_class_folds"] = len(result.plan.single_class_folds)
    flat["train_seconds"] = result.seconds
    return flat
