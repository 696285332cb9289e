"""Hyper-parameter search with Optuna inside donor-grouped CV (nested when called per fold)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from exostab.config import TrainConfig
from exostab.dataset import TrainingSet
from exostab.evaluate import rank_auroc
from exostab.model import build_pipeline, raw_score
from exostab.splits import grouped_folds

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trial:
    """One Optuna trial: where it ran (outer fold or ``final``), its settings and inner AUROC."""

    scope: str
    number: int
    params: dict[str, Any]
    value: float


def search_space(trial: Any) -> dict[str, Any]:
    """The tuned settings (dotted config keys) and their ranges."""
    return {
        "model.learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
        "model.num_leaves": trial.suggest_int("num_leaves", 2, 15),
        "model.min_child_samples": trial.suggest_int("min_child_samples", 5, 40),
        "model.colsample_bytree": trial.suggest_float("colsample_bytree", 0.2, 0.9),
        "model.reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "features.screen_top_k": trial.suggest_categorical("screen_top_k", [50, 100, 200, 400]),
        "features.missing": trial.suggest_categorical("missing", ["native", "floor"]),
    }


def with_settings(cfg: TrainConfig, settings: dict[str, Any]) -> TrainConfig:
    """Return ``cfg`` with dotted keys replaced (validated again)."""
    raw = cfg.model_dump()
    for dotted, value in settings.items():
        section, key = dotted.split(".")
        raw[section][key] = value
    return TrainConfig.model_validate(raw)


def tune(
    training: TrainingSet,
    rows: np.ndarray,
    cfg: TrainConfig,
    panels: dict[str, list[str]],
    *,
    scope: str,
) -> tuple[TrainConfig, list[Trial]]:
    """Search settings on the lots ``rows`` by inner grouped CV; return the best config.

    Only ``rows`` are seen, so calling this on an outer fold's training lots keeps that fold's
    test lots out of the search (nested CV).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    y = training.y.iloc[rows]
    X = training.X.iloc[rows]
    plan = grouped_folds(
        y,
        training.groups.iloc[rows],
        scheme="group_kfold",
        n_splits=cfg.tuning.inner_splits,
        seed=cfg.seed + 1,
    )
    y_values = y.to_numpy()

    def objective(trial: Any) -> float:
        candidate = with_settings(cfg, search_space(trial))
        oof = np.full(len(rows), np.nan)
        for train_idx, test_idx in plan.folds:
            pipeline = build_pipeline(
                candidate,
                metadata=training.metadata,
                categorical=training.categorical,
                panels=panels,
            )
            pipeline.fit(X.iloc[train_idx], y_values[train_idx])
            oof[test_idx] = raw_score(pipeline, X.iloc[test_idx])
        return rank_auroc(y_values, oof)

    sampler = optuna.samplers.TPESampler(seed=cfg.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(
        objective, n_trials=cfg.tuning.trials, timeout=cfg.tuning.timeout_seconds or None
    )
    trials = [
        Trial(scope=scope, number=t.number, params=dict(t.params), value=float(t.value))
        for t in study.trials
        if t.value is not None
    ]
    best = with_settings(cfg, search_space(optuna.trial.FixedTrial(study.best_params)))
    logger.info("%s: best inner AUROC %.3f with %s", scope, study.best_value, study.best_params)
    return best, trials
