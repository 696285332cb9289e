"""Train: grouped CV → out-of-fold risk → calibration → final fit on all lots → TrainResult."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from exostab.baselines import cross_validate_baselines
from exostab.config import TrainConfig
from exostab.dataset import TrainingSet, panel_features
from exostab.domain import DomainModel, fit_domain
from exostab.evaluate import bootstrap_interval, risk_metrics
from exostab.model import (
    Calibrator,
    RiskBands,
    build_pipeline,
    choose_calibrator,
    raw_score,
    sigmoid,
)
from exostab.splits import FoldPlan, grouped_folds, lot_level_folds
from exostab.tune import Trial, tune

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


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
    metrics: dict[str, float]
    fold_metrics: list[dict[str, float]]
    plan: FoldPlan
    calibration_brier: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    trials: list[Trial] = field(default_factory=list)
    final_config: TrainConfig | None = None
    seconds: float = 0.0

    @property
    def n_features_used(self) -> int:
        return int(self.pipeline[-1].n_features_in_)

    @property
    def feature_names(self) -> list[str]:
        return [str(c) for c in self.pipeline[-1].feature_name_]


def preprocess(pipeline: Pipeline, X: pd.DataFrame) -> pd.DataFrame:
    """Run every step but the final estimator: the features LightGBM sees."""
    return pipeline[:-1].transform(X)


def cross_validate(
    cfg: TrainConfig,
    training: TrainingSet,
    folds: list[tuple[np.ndarray, np.ndarray]],
    panels: dict[str, list[str]],
    progress: Progress | None = None,
    trials: list[Trial] | None = None,
) -> tuple[np.ndarray, list[dict[str, float]], np.ndarray]:
    """Fit a fresh pipeline per fold; return out-of-fold log-odds, fold metrics, domain scores.

    The domain score of each held-out lot is measured against its fold's training lots, so
    its distribution is what lots of new donors look like (in-sample scores are too small).

    With tuning on, each fold's settings are searched on that fold's training lots only
    (nested CV) and the trials are appended to ``trials``.
    """
    oof = np.full(len(training.X), np.nan)
    domain_scores = np.full(len(training.X), np.nan)
    fold_metrics = []
    y = training.y.to_numpy()
    for i, (train_idx, test_idx) in enumerate(folds):
        fold_cfg = cfg
        if cfg.tuning.trials and trials is not None:
            fold_cfg, fold_trials = tune(training, train_idx, cfg, panels, scope=f"fold{i}")
            trials.extend(fold_trials)
        pipeline = build_pipeline(
            fold_cfg, metadata=training.metadata, categorical=training.categorical, panels=panels
        )
        pipeline.fit(training.X.iloc[train_idx], y[train_idx])
        oof[test_idx] = raw_score(pipeline, training.X.iloc[test_idx])
        fold_domain = fit_domain(preprocess(pipeline, training.X.iloc[train_idx]))
        domain_scores[test_idx] = fold_domain.score(preprocess(pipeline, training.X.iloc[test_idx]))
        fold_metrics.append(
            {
                "fold": i,
                "n_test": len(test_idx),
                **risk_metrics(y[test_idx], sigmoid(oof[test_idx])),
            }
        )
        if progress:
            progress(f"fold {i + 1}/{len(folds)}")
    return oof, fold_metrics, domain_scores


def train_model(
    training: TrainingSet,
    cfg: TrainConfig,
    panels: dict[str, list[str]] | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Validate by grouped CV, calibrate on out-of-fold scores, then fit on all lots.

    Args:
        training: the lots, labels and groups.
        cfg: the training config.
        panels: module name → gene symbols (configs/panels.yaml), mapped to features here.
        progress: called with a short message after each fit.
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
    trials: list[Trial] = []
    oof_raw, fold_metrics, oof_domain = cross_validate(
        cfg, training, plan.folds, feature_panels, progress, trials
    )
    # Every lot is tested once, except the first block of time-ordered validation.
    tested = np.flatnonzero(np.isfinite(oof_raw))
    position = np.full(len(y), -1)
    position[tested] = np.arange(len(tested))
    tested_folds = [
        (position[np.intersect1d(train_idx, tested)], position[test_idx])
        for train_idx, test_idx in plan.folds
    ]
    calibrator, calibration_brier = choose_calibrator(
        cfg.calibration.method, oof_raw[tested], y[tested], tested_folds
    )
    oof_risk = calibrator.risk(oof_raw)
    y_tested, risk_tested = y[tested], oof_risk[tested]
    metrics = {f"cv_{k}": v for k, v in risk_metrics(y_tested, risk_tested).items()}
    metrics["cv_roc_auc_uncalibrated"] = risk_metrics(y_tested, sigmoid(oof_raw[tested]))["roc_auc"]
    metrics["cv_n_tested"] = float(len(tested))
    intervals = {
        f"cv_{m}": bootstrap_interval(y_tested, risk_tested, m, seed=cfg.seed)
        for m in ("roc_auc", "brier")
    }

    if cfg.cv.baselines:
        for name, scores in cross_validate_baselines(training, plan.folds, cfg.seed).items():
            for metric in ("roc_auc", "pr_auc", "brier", "ece"):
                metrics[f"baseline_{name}_cv_{metric}"] = scores[metric]
            metrics[f"beats_{name}"] = float(metrics["cv_roc_auc"] > scores["roc_auc"])
        if progress:
            progress("baselines through the same folds")
    if cfg.cv.naive_gap:
        # Lot-level folds put lots of one donor on both sides: the gap shows how much that flatters.
        naive_raw, _, _ = cross_validate(
            cfg,
            training,
            lot_level_folds(training.y, n_splits=cfg.cv.n_splits, seed=cfg.seed),
            feature_panels,
        )
        metrics["naive_cv_roc_auc"] = risk_metrics(y, sigmoid(naive_raw))["roc_auc"]
        metrics["naive_cv_gap"] = metrics["naive_cv_roc_auc"] - metrics["cv_roc_auc_uncalibrated"]
    final_cfg = cfg
    if cfg.tuning.trials:
        final_cfg, final_trials = tune(
            training, np.arange(len(y)), cfg, feature_panels, scope="final"
        )
        trials.extend(final_trials)
    final = build_pipeline(
        final_cfg,
        metadata=training.metadata,
        categorical=training.categorical,
        panels=feature_panels,
    )
    final.fit(training.X, y)
    if progress:
        progress("final fit on all lots")
    # Widen the in-sample limits so that 1% of new-donor lots (out of fold) fall outside.
    domain = fit_domain(preprocess(final, training.X)).widened(
        float(np.nanquantile(oof_domain, 0.99))
    )
    bands = RiskBands.from_costs(
        cfg.decision.cost_release_unstable,
        cfg.decision.cost_reject_stable,
        cfg.decision.low_band_factor,
    )
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
        metrics=metrics,
        fold_metrics=fold_metrics,
        plan=plan,
        calibration_brier=calibration_brier,
        intervals=intervals,
        trials=trials,
        final_config=final_cfg,
        seconds=seconds,
    )


def summary_metrics(result: TrainResult) -> dict[str, Any]:
    """Flatten the metrics worth logging (pooled, per fold, intervals) into one mapping."""
    flat: dict[str, Any] = dict(result.metrics)
    for fold in result.fold_metrics:
        for key, value in fold.items():
            if key not in ("fold", "n_test"):
                flat[f"fold{fold['fold']}_{key}"] = value
    for name, (low, high) in result.intervals.items():
        flat[f"{name}_ci_low"], flat[f"{name}_ci_high"] = low, high
    flat["n_features_used"] = result.n_features_used
    flat["n_single_class_folds"] = len(result.plan.single_class_folds)
    flat["train_seconds"] = result.seconds
    return flat
