"""Calibration of the log-odds into risks, and the risk bands of the decision threshold.

Increasing calibrators (Platt, isotonic, none) that never reorder lots, chosen by grouped CV
Brier and cross-fitted so that no lot's risk uses a calibrator that saw it; ``RiskBands`` turns a
calibrated risk into ``low``/``review``/``high`` from the costs of the two errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression

from exostab.model.logistic import sigmoid

# Weight of the raw score inside the isotonic calibrator: it breaks the step function's ties
# so the calibrator is strictly increasing and never reorders (or merges) lots.
ISOTONIC_TIE_BREAK = 1e-3
# Fewest lots for ``auto`` to consider isotonic calibration; below, Platt's two parameters.
MIN_LOTS_ISOTONIC = 200
# Smallest Platt slope: a calibrator may shrink scores towards the base rate, never flip them.
MIN_PLATT_SLOPE = 1e-4


@dataclass(frozen=True)
class Calibrator:
    """Maps log-odds to a calibrated risk; strictly increasing, so it never reorders lots.

    ``method`` is ``platt`` (``params = {"a", "b"}``: sigmoid(a·x + b) with a > 0),
    ``isotonic`` (``params = {"x", "y"}``: increasing step function, linearly interpolated, ties
    broken by the raw score) or ``none``.
    """

    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def risk(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "platt":
            return sigmoid(self.params["a"] * raw + self.params["b"])
        if self.method == "isotonic":
            steps = np.interp(raw, self.params["x"], self.params["y"])
            return (1 - ISOTONIC_TIE_BREAK) * steps + ISOTONIC_TIE_BREAK * sigmoid(raw)
        return sigmoid(raw)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Calibrator:
        return cls(method=payload["method"], params=payload["params"])


def fit_calibrator_method(method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit one increasing calibration method on (log-odds, label) pairs.

    Platt's slope is bounded below by a small positive number: anti-informative scores are
    shrunk to the base rate but keep their order, so a bad model stays visibly bad.
    """
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=float)
    if method == "platt":

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            eta = theta[0] * raw + theta[1]
            residual = sigmoid(eta) - y
            value = np.sum(np.logaddexp(0.0, eta) - y * eta)
            return float(value), np.array([residual @ raw, residual.sum()])

        fitted = minimize(
            loss,
            np.array([1.0, 0.0]),
            jac=True,
            method="L-BFGS-B",
            bounds=[(MIN_PLATT_SLOPE, None), (None, None)],
        )
        return Calibrator("platt", {"a": float(fitted.x[0]), "b": float(fitted.x[1])})
    if method == "isotonic":
        # Bounded away from 0 and 1 by one lot's worth: a step of n lots never proves certainty.
        margin = 1.0 / (len(y) + 2)
        isotonic = IsotonicRegression(
            out_of_bounds="clip", y_min=margin, y_max=1.0 - margin, increasing=True
        ).fit(raw, y)
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

    Returns the calibrator fitted on all the given scores and the CV Brier of each candidate.
    """
    y = np.asarray(y, dtype=int)
    if method != "auto":
        return fit_calibrator_method(method, raw, y), {}
    brier: dict[str, float] = {}
    # Isotonic regression needs many lots: on 80 it made 3 steps, two of them 0 and 0.69.
    candidates = ("platt", "isotonic") if len(y) >= MIN_LOTS_ISOTONIC else ("platt",)
    for candidate in candidates:
        errors = []
        for train_idx, test_idx in folds:
            if len(np.unique(y[train_idx])) < 2 or not len(test_idx):
                continue
            fitted = fit_calibrator_method(candidate, raw[train_idx], y[train_idx])
            errors.append(np.mean((fitted.risk(raw[test_idx]) - y[test_idx]) ** 2))
        brier[candidate] = float(np.mean(errors)) if errors else float("inf")
    best = min(brier, key=lambda name: brier[name])
    return fit_calibrator_method(best, raw, y), brier


def cross_fitted_risk(
    method: str, raw: np.ndarray, y: np.ndarray, fold_of: np.ndarray
) -> np.ndarray:
    """Calibrate out-of-fold log-odds so that no lot's risk uses a calibrator that saw it.

    For each outer fold, the calibrator is chosen and fitted on the other folds' lots only.

    Args:
        method: ``auto``, ``platt``, ``isotonic`` or ``none``.
        raw: out-of-fold log-odds per lot (NaN for lots never tested).
        y: labels.
        fold_of: outer fold number of each lot's test (-1 when never tested).

    Returns:
        Calibrated risk per lot (NaN where ``raw`` is NaN).
    """
    y = np.asarray(y, dtype=int)
    risk = np.full(len(raw), np.nan)
    folds = sorted(int(f) for f in np.unique(fold_of) if f >= 0)
    for k in folds:
        test = np.flatnonzero(fold_of == k)
        others = np.flatnonzero((fold_of >= 0) & (fold_of != k))
        if len(np.unique(y[others])) < 2:
            risk[test] = sigmoid(raw[test])
            continue
        position = {lot: i for i, lot in enumerate(others)}
        inner = []
        for j in folds:
            if j == k:
                continue
            held = np.array([position[i] for i in np.flatnonzero(fold_of == j)], dtype=int)
            rest = np.array([position[i] for i in others if fold_of[i] != j], dtype=int)
            inner.append((rest, held))
        calibrator, _ = choose_calibrator(method, raw[others], y[others], inner)
        risk[test] = calibrator.risk(raw[test])
    return risk


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
