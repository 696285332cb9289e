"""The risk model: one sklearn Pipeline (feature transformers + LightGBM) and its calibration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from exostab.config import TrainConfig
from exostab.features import (
    DetectionFilter,
    LogNormalizer,
    MetadataEncoder,
    MissingPolicy,
    ModuleScores,
    ProteinScreen,
)


def lgbm_params(cfg: TrainConfig) -> dict[str, Any]:
    """LightGBM parameters: the configured ones plus the switches that make fits reproducible."""
    params = cfg.model.model_dump()
    return {
        **params,
        "random_state": cfg.seed,
        "deterministic": True,
        "force_col_wise": True,
        # One thread: on 100s of lots threading costs more than it saves, and OpenMP threads
        # spin badly when CV folds share two cores with other work.
        "n_jobs": 1,
        "verbose": -1,
    }


def build_pipeline(
    cfg: TrainConfig,
    *,
    metadata: tuple[str, ...],
    categorical: tuple[str, ...],
    panels: dict[str, list[str]] | None = None,
) -> Pipeline:
    """Return the unfitted pipeline; every data-dependent step is fitted on the training fold.

    Args:
        cfg: the training config.
        metadata: metadata feature columns of X (everything else in X is a protein).
        categorical: the metadata columns holding categories.
        panels: module name → protein feature names, for module scores.
    """
    features = cfg.features
    steps: list[tuple[str, Any]] = [
        (
            "log2",
            LogNormalizer(
                metadata=metadata, normalisation=features.normalisation, scale=cfg.data.scale
            ),
        ),
        ("detected", DetectionFilter(metadata=metadata, min_rate=features.detection_min_rate)),
    ]
    if features.module_scores and panels:
        steps.append(("modules", ModuleScores(metadata=metadata, panels=panels)))
    if features.screen_top_k:
        adjust = "passage" if features.screen_adjust_passage else None
        screen = ProteinScreen(metadata=metadata, top_k=features.screen_top_k, adjust_for=adjust)
        steps.append(("screen", screen))
    steps += [
        (
            "missing",
            MissingPolicy(
                metadata=metadata,
                strategy=features.missing,
                indicators=features.missing_indicators,
            ),
        ),
        ("metadata", MetadataEncoder(metadata=metadata, categorical=categorical)),
        ("lgbm", LGBMClassifier(**lgbm_params(cfg))),
    ]
    return Pipeline(steps)


def raw_score(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """Return the model's log-odds (LightGBM raw score) for each lot."""
    return np.asarray(pipeline.predict(X, raw_score=True), dtype=float)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


@dataclass(frozen=True)
class Calibrator:
    """Maps LightGBM log-odds to a calibrated risk; fitted on out-of-fold scores.

    ``method`` is ``platt`` (logistic on the log-odds: ``params = {"a", "b"}``), ``isotonic``
    (``params = {"x", "y"}`` step function, linearly interpolated) or ``none``.
    """

    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def risk(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "platt":
            return sigmoid(self.params["a"] * raw + self.params["b"])
        if self.method == "isotonic":
            return np.interp(raw, self.params["x"], self.params["y"])
        return sigmoid(raw)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Calibrator:
        return cls(method=payload["method"], params=payload["params"])


def fit_calibrator_method(method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit one calibration method on (raw score, label) pairs."""
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    if method == "platt":
        logistic = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
        return Calibrator(
            "platt", {"a": float(logistic.coef_[0, 0]), "b": float(logistic.intercept_[0])}
        )
    if method == "isotonic":
        isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return Calibrator(
            "isotonic",
            {
                "x": [float(v) for v in isotonic.X_thresholds_],
                "y": [float(v) for v in isotonic.y_thresholds_],
            },
        )
    return Calibrator("none")


def choose_calibrator(
    method: str, raw: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[Calibrator, dict[str, float]]:
    """Fit the configured calibrator; with ``auto``, pick Platt or isotonic by grouped CV Brier.

    Returns the calibrator fitted on all out-of-fold scores and the CV Brier of each candidate.
    """
    y = np.asarray(y, dtype=int)
    if method != "auto":
        return fit_calibrator_method(method, raw, y), {}
    brier: dict[str, float] = {}
    for candidate in ("platt", "isotonic"):
        errors = []
        for train_idx, test_idx in folds:
            if len(np.unique(y[train_idx])) < 2:
                continue
            fitted = fit_calibrator_method(candidate, raw[train_idx], y[train_idx])
            errors.append(np.mean((fitted.risk(raw[test_idx]) - y[test_idx]) ** 2))
        brier[candidate] = float(np.mean(errors)) if errors else float("inf")
    best = min(brier, key=lambda name: brier[name])
    return fit_calibrator_method(best, raw, y), brier


@dataclass(frozen=True)
class RiskBands:
    """Risk bands from a cost-weighted decision threshold.

    Releasing an unstable lot costs ``cost_release``, rejecting a good one ``cost_reject``; with
    calibrated risk p the expected-cost decision is to hold the lot when
    p ≥ cost_reject / (cost_reject + cost_release). Below ``low_factor`` × that it is ``low``.
    """

    threshold: float
    low: float

    @classmethod
    def from_costs(cls, cost_release: float, cost_reject: float, low_factor: float) -> RiskBands:
        threshold = cost_reject / (cost_reject + cost_release)
        return cls(threshold=threshold, low=threshold * low_factor)

    def band(self, risk: np.ndarray) -> np.ndarray:
        risk = np.asarray(risk, dtype=float)
        return np.where(risk >= self.threshold, "high", np.where(risk >= self.low, "review", "low"))

    def to_dict(self) -> dict[str, float]:
        return {"threshold": self.threshold, "low": self.low}
