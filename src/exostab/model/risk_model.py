"""The risk model: a prior from passage and lot metadata, plus a protein part fitted from it.

The log-odds of a lot being unstable are::

    log-odds = prior(metadata) + protein part(proteins)

- The **prior** is an L2-regularised logistic regression on passage and the other metadata
  features (standardised numbers, one-hot categories). It is linear, so its terms are exact
  additive contributions and the risk is monotone in passage.
- The **protein part** is fitted *from* the prior (the prior's log-odds are its offset, LightGBM's
  ``init_score``), so it only learns what the prior cannot. It is one of:
  ``prior`` (no protein part: zero rounds), ``trees`` (LightGBM boosted from the prior, its
  contributions by TreeSHAP = LightGBM ``pred_contrib``), ``linear`` (a ridge logistic regression
  on standardised proteins with the prior as offset, exact linear contributions) or ``blend``
  (the mean of the two).

Every lot's attributions (prior terms + protein contributions + one base value) sum exactly to
its log-odds. The whole thing is the last step of one sklearn ``Pipeline`` after the feature
transformers (``features.py``), so grouped CV refits everything per fold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from exostab.config import Candidate, TrainConfig
from exostab.model.features import (
    DetectionFilter,
    LogNormalizer,
    MetadataEncoder,
    MissingPolicy,
    ModuleScores,
    ProteinScreen,
)

logger = logging.getLogger(__name__)

LEARNERS = ("prior", "trees", "linear", "blend")
EARLY_STOP_ROUNDS = 50


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Logistic function, elementwise (log-odds → probability)."""
    return np.asarray(expit(np.asarray(values, dtype=float)), dtype=float)


def leaf_size(n_lots: int) -> int:
    """LightGBM ``min_child_samples`` scaled to the training lots: n/15, between 3 and 20.

    LightGBM's default of 20 never splits on 20 or fewer lots, so the model would be constant
    (stack notes: an 18-sample EV study went from AUROC 0.50 to 0.86 with a linear model).
    """
    return int(np.clip(n_lots // 15, 3, 20))


def fit_offset_logistic(
    Z: np.ndarray, y: np.ndarray, offset: np.ndarray, C: float
) -> tuple[float, np.ndarray]:
    """Fit ridge logistic regression with a fixed offset: log-odds = offset + b + Z·β.

    The loss is the summed log loss plus ‖β‖²/(2C), as in scikit-learn's ``LogisticRegression``
    (which has no offset, hence this small L-BFGS fit). The intercept b is not penalised. With
    more features than lots (proteomics: p ≫ n) it is solved in the lots' space: with the thin
    SVD Z = U·S·Vᵀ, the optimum has β = V·γ (representer theorem), ‖β‖ = ‖γ‖ and Z·β = U·S·γ,
    so only rank(Z) + 1 numbers are searched for the same optimum.

    Args:
        Z: lots × features, standardised, no NaN.
        y: 0/1 labels.
        offset: the prior's log-odds per lot.
        C: inverse regularisation strength.

    Returns:
        (intercept, coefficients).
    """
    n, p = Z.shape
    y = np.asarray(y, dtype=float)
    basis = None
    design = Z
    if p > n:
        # Z·Zᵀ = U·S²·Uᵀ (an n × n eigenproblem is far cheaper than the SVD of Z itself)
        eigenvalues, U = np.linalg.eigh(Z @ Z.T)
        keep = eigenvalues > 1e-10 * max(float(eigenvalues.max()), 1e-300)
        singular = np.sqrt(eigenvalues[keep])
        design = U[:, keep] * singular
        basis = (Z.T @ (U[:, keep] / singular)).T  # rows: the right singular vectors Vᵀ

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, w = theta[0], theta[1:]
        eta = offset + b + design @ w
        residual = sigmoid(eta) - y
        value = np.sum(np.logaddexp(0.0, eta) - y * eta) + w @ w / (2 * C)
        grad = np.concatenate([[residual.sum()], design.T @ residual + w / C])
        return float(value), grad

    fitted = minimize(
        loss,
        np.zeros(design.shape[1] + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000},
    )
    coef = basis.T @ fitted.x[1:] if basis is not None else fitted.x[1:]
    return float(fitted.x[0]), np.asarray(coef, dtype=float)


class PriorBoostedClassifier(ClassifierMixin, BaseEstimator):
    """Prior on metadata + a protein part fitted from it; exact per-feature attributions.

    Takes the encoded frame of ``MetadataEncoder`` (lots × [metadata codes/numbers, protein
    log2 abundances, module scores]); ``metadata`` names the columns that go to the prior,
    ``categorical`` those of them that hold category codes. Fitted state is plain values plus
    a LightGBM text model, so it round-trips through JSON (``to_state`` / ``from_state``).

    Args:
        metadata: metadata columns (prior inputs).
        categorical: the metadata columns holding category codes (one-hot in the prior).
        learner: ``prior``, ``trees``, ``linear`` or ``blend``.
        prior_features: the metadata columns the prior uses (default: all of ``metadata``);
            the others are left out of the model altogether (neither prior nor trees).
        n_rounds: boosting rounds of ``trees``/``blend`` (0 = no trees).
        prior_c: inverse L2 strength of the prior (standardised features).
        linear_c: inverse L2 strength of the linear protein part (standardised proteins).
        blend_weight: weight of the trees in ``blend`` (the linear part gets the rest).
        booster_params: LightGBM parameters of the trees.
        trees_see_metadata: the trees also split on the metadata (interactions and curvature
            the linear prior cannot express); passage is then constrained monotone in the
            direction of the prior's passage term, so more passages never lower the risk when
            the data say they raise it.
        seed: random state.
    """

    def __init__(
        self,
        metadata: tuple[str, ...] = (),
        categorical: tuple[str, ...] = (),
        learner: str = "trees",
        prior_features: tuple[str, ...] | None = None,
        n_rounds: int = 100,
        prior_c: float = 1.0,
        linear_c: float = 0.01,
        blend_weight: float = 0.5,
        booster_params: dict[str, Any] | None = None,
        trees_see_metadata: bool = True,
        seed: int = 7,
    ) -> None:
        self.metadata = metadata
        self.categorical = categorical
        self.learner = learner
        self.prior_features = prior_features
        self.n_rounds = n_rounds
        self.prior_c = prior_c
        self.linear_c = linear_c
        self.blend_weight = blend_weight
        self.booster_params = booster_params
        self.trees_see_metadata = trees_see_metadata
        self.seed = seed

    # ---- the prior ---------------------------------------------------------------------------
    def _unscaled_prior_design(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
        """Return the prior's design before scaling (lots × terms) and each term's column index."""
        blocks, owner = [], []
        for j, column in enumerate(self.prior_columns_):
            values = (
                frame[column].to_numpy(dtype=float)
                if column in frame
                else np.full(len(frame), np.nan)
            )
            if column in self.prior_levels_:
                for level in self.prior_levels_[column]:
                    blocks.append(np.where(values == level, 1.0, 0.0))
                    owner.append(j)
            else:
                blocks.append(np.where(np.isfinite(values), values, self.prior_fill_[column]))
                owner.append(j)
        design = np.column_stack(blocks) if blocks else np.zeros((len(frame), 0))
        return design, owner

    def _prior_design(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
        design, owner = self._unscaled_prior_design(frame)
        return (design - np.asarray(self.prior_means_)) / np.asarray(self.prior_scales_), owner

    def _fit_prior(self, frame: pd.DataFrame, y: np.ndarray) -> None:
        categorical = set(self.categorical)
        wanted = self.metadata if self.prior_features is None else self.prior_features
        self.prior_columns_ = [c for c in wanted if c in self.metadata and c in frame.columns]
        self.prior_levels_ = {
            c: sorted({float(v) for v in frame[c].dropna()})
            for c in self.prior_columns_
            if c in categorical
        }
        self.prior_fill_ = {
            c: float(np.nanmean(frame[c].to_numpy(float))) if frame[c].notna().any() else 0.0
            for c in self.prior_columns_
            if c not in categorical
        }
        raw, self.prior_owner_ = self._unscaled_prior_design(frame)
        scales = raw.std(axis=0)
        self.prior_means_ = raw.mean(axis=0).tolist()
        self.prior_scales_ = np.where(scales > 1e-12, scales, 1.0).tolist()
        design, _ = self._prior_design(frame)
        intercept, coef = fit_offset_logistic(design, y, np.zeros(len(y)), self.prior_c)
        self.prior_intercept_ = intercept
        self.prior_coef_ = coef.tolist()

    def prior_terms(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the prior's exact contribution of each metadata column (lots × metadata)."""
        design, owner = self._prior_design(frame)
        terms = np.zeros((len(frame), len(self.prior_columns_)))
        for k, j in enumerate(owner):
            terms[:, j] += design[:, k] * self.prior_coef_[k]
        return terms

    def prior_log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        return self.prior_terms(frame).sum(axis=1) + self.prior_intercept_

    # ---- the protein part --------------------------------------------------------------------
    def _protein_values(self, frame: pd.DataFrame) -> np.ndarray:
        return frame.reindex(columns=self.protein_features_).to_numpy(dtype=float)

    def tree_values(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the trees' inputs (lots × ``tree_features_``: proteins, then metadata)."""
        return frame.reindex(columns=self.tree_features_).to_numpy(dtype=float)

    def tree_params(self) -> dict[str, Any]:
        """LightGBM parameters with passage monotone in the direction of the prior's term."""
        passage = [
            k for k, j in enumerate(self.prior_owner_) if self.prior_columns_[j] == "passage"
        ]
        sign = int(np.sign(self.prior_coef_[passage[0]])) if passage else 0
        constraints = [sign if name == "passage" else 0 for name in self.tree_features_]
        params = dict(self.booster_params or {})
        if any(constraints):
            params["monotone_constraints"] = constraints
        return params

    def _standardised(self, values: np.ndarray) -> np.ndarray:
        filled = np.where(np.isnan(values), np.asarray(self.linear_fill_), values)
        return (filled - np.asarray(self.linear_means_)) / np.asarray(self.linear_scales_)

    def fit(self, X: pd.DataFrame, y: Any) -> PriorBoostedClassifier:
        """Fit the prior, then the protein part with the prior's log-odds as offset.

        Args:
            X: lots × encoded features (``MetadataEncoder`` output).
            y: 0/1 label per lot.

        Raises:
            ValueError: for an unknown learner.
        """
        if self.learner not in LEARNERS:
            raise ValueError(f"unknown learner {self.learner!r}; choose one of {LEARNERS}")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        labels = np.asarray(y, dtype=int)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        metadata = set(self.metadata)
        self.protein_features_ = [str(c) for c in frame.columns if c not in metadata]
        self._fit_prior(frame, labels)
        self.tree_features_ = self.protein_features_ + (
            list(self.prior_columns_) if self.trees_see_metadata else []
        )
        offset = self.prior_log_odds(frame)
        values = self._protein_values(frame)
        use_trees = self.learner in ("trees", "blend") and self.n_rounds > 0
        use_linear = self.learner in ("linear", "blend")
        self.booster_ = None
        self.linear_coef_: list[float] = []
        self.linear_intercept_ = 0.0
        self.linear_fill_: list[float] = []
        self.linear_means_: list[float] = []
        self.linear_scales_: list[float] = []
        if use_trees and self.protein_features_:
            self.booster_ = train_booster(
                self.tree_values(frame),
                labels,
                offset,
                self.tree_features_,
                self.tree_params(),
                self.n_rounds,
                self.seed,
            )
        if use_linear and self.protein_features_:
            with np.errstate(all="ignore"):
                fill = np.nanmedian(values, axis=0)
            fill = np.where(np.isfinite(fill), fill, 0.0)
            filled = np.where(np.isnan(values), fill, values)
            scales = filled.std(axis=0)
            self.linear_fill_ = fill.tolist()
            self.linear_means_ = filled.mean(axis=0).tolist()
            self.linear_scales_ = np.where(scales > 1e-12, scales, 1.0).tolist()
            intercept, coef = fit_offset_logistic(
                self._standardised(values), labels, offset, self.linear_c
            )
            self.linear_intercept_, self.linear_coef_ = intercept, coef.tolist()
        return self

    @property
    def weights(self) -> tuple[float, float]:
        """(weight of the trees, weight of the linear part) in the protein part."""
        check_is_fitted(self)
        trees = self.booster_ is not None
        linear = bool(self.linear_coef_)
        if self.learner == "blend":
            # Always the mean of (prior + trees) and (prior + linear): trees without validated
            # rounds are the prior itself, so the linear part keeps its blend weight.
            return (self.blend_weight if trees else 0.0), (
                1.0 - self.blend_weight if linear else 0.0
            )
        return (1.0 if trees else 0.0), (1.0 if linear else 0.0)

    @property
    def feature_names(self) -> list[str]:
        """Attribution columns: the prior's metadata columns, then the protein features."""
        check_is_fitted(self)
        return [*self.prior_columns_, *self.protein_features_]

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Return exact attributions: lots × (metadata terms, protein features, base value).

        Each row sums to the lot's log-odds: metadata terms (the prior's exact linear terms,
        plus the trees' TreeSHAP for metadata when they see it), protein contributions (TreeSHAP
        of the trees and/or exact linear terms, weighted as the blend is) and one base value
        (the prior's intercept plus the protein part's expected value).
        """
        check_is_fitted(self)
        frame = (
            X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=self.feature_names_in_)
        )
        n = len(frame)
        prior = self.prior_terms(frame)
        proteins = np.zeros((n, len(self.protein_features_)))
        base = np.full(n, self.prior_intercept_)
        w_trees, w_linear = self.weights
        values = self._protein_values(frame) if (w_trees or w_linear) else None
        if self.booster_ is not None and values is not None:
            tree = np.asarray(self.booster_.predict(self.tree_values(frame), pred_contrib=True))
            n_proteins = len(self.protein_features_)
            proteins += w_trees * tree[:, :n_proteins]
            prior = prior + w_trees * tree[:, n_proteins:-1]
            base += w_trees * tree[:, -1]
        if self.linear_coef_ and values is not None:
            proteins += w_linear * self._standardised(values) * np.asarray(self.linear_coef_)
            base += w_linear * self.linear_intercept_
        return np.column_stack([prior, proteins, base])

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Return the log-odds of each lot (the sum of its attributions)."""
        return self.contributions(X).sum(axis=1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = sigmoid(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)

    def to_state(self) -> dict[str, Any]:
        """Return parameters and fitted state as JSON-able values (the booster as text)."""
        check_is_fitted(self)
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.get_params().items()}
        state = {
            name: getattr(self, name)
            for name in (
                "prior_columns_",
                "prior_levels_",
                "prior_fill_",
                "prior_means_",
                "prior_scales_",
                "prior_intercept_",
                "prior_coef_",
                "protein_features_",
                "tree_features_",
                "prior_owner_",
                "linear_coef_",
                "linear_intercept_",
                "linear_fill_",
                "linear_means_",
                "linear_scales_",
            )
        }
        return {
            "params": params,
            "feature_names_in": [str(c) for c in self.feature_names_in_],
            "state": state,
            "booster": self.booster_.model_to_string() if self.booster_ is not None else None,
        }

    @classmethod
    def from_state(cls, payload: dict[str, Any]) -> PriorBoostedClassifier:
        params = dict(payload["params"])
        for key in ("metadata", "categorical"):
            params[key] = tuple(params[key])
        if params.get("prior_features") is not None:
            params["prior_features"] = tuple(params["prior_features"])
        model = cls(**params)
        model.classes_ = np.array([0, 1])
        model.feature_names_in_ = np.asarray(payload["feature_names_in"], dtype=object)
        model.n_features_in_ = len(payload["feature_names_in"])
        for name, value in payload["state"].items():
            setattr(model, name, value)
        text = payload.get("booster")
        model.booster_ = lightgbm.Booster(model_str=text) if text else None
        return model


def booster_params(cfg: TrainConfig, n_lots: int) -> dict[str, Any]:
    """LightGBM parameters for ``lightgbm.train``: the configured ones plus reproducibility."""
    m = cfg.model
    return {
        "objective": "binary",
        "learning_rate": m.learning_rate,
        "num_leaves": m.num_leaves,
        "min_child_samples": m.min_child_samples or leaf_size(n_lots),
        "subsample": m.subsample,
        "subsample_freq": m.subsample_freq,
        "colsample_bytree": m.colsample_bytree,
        "reg_lambda": m.reg_lambda,
        # 1-lot leaves are possible on tiny sets; LightGBM's own floor of hessian would block them.
        "min_sum_hessian_in_leaf": 1e-3,
        "deterministic": True,
        "force_col_wise": True,
        # One thread: on 100s of lots threading costs more than it saves.
        "num_threads": 1,
        "verbose": -1,
    }


def train_booster(
    values: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray,
    names: list[str],
    params: dict[str, Any],
    n_rounds: int,
    seed: int,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    early_stopping: bool = True,
) -> lightgbm.Booster:
    """Boost LightGBM from the prior (``init_score`` = prior log-odds); NaN = not detected.

    With ``valid`` = (values, labels, offset) the validation log loss of every round is kept in
    ``booster.valid_curve`` (used to choose the number of rounds).
    """
    dataset = lightgbm.Dataset(
        values, label=y, init_score=offset, feature_name=names, free_raw_data=True
    )
    callbacks = []
    record: dict[str, Any] = {}
    valid_sets = []
    if valid is not None:
        valid_values, valid_y, valid_offset = valid
        valid_sets = [
            lightgbm.Dataset(
                valid_values, label=valid_y, init_score=valid_offset, reference=dataset
            )
        ]
        callbacks.append(lightgbm.record_evaluation(record))
        # Stop once the validation loss has not improved for 50 rounds; the curve is padded
        # with its last value, so later rounds never look better than where it stopped.
        if early_stopping:
            callbacks.append(lightgbm.early_stopping(EARLY_STOP_ROUNDS, verbose=False))
    booster = lightgbm.train(
        {**params, "seed": seed, "metric": "binary_logloss"},
        dataset,
        num_boost_round=n_rounds,
        valid_sets=valid_sets,
        callbacks=callbacks,
    )
    if valid is not None:
        curve = np.asarray(record["valid_0"]["binary_logloss"], dtype=float)
        padded = np.concatenate([curve, np.full(n_rounds - len(curve), curve[-1])])
        booster.valid_curve = padded  # type: ignore[attr-defined]
    return booster


def prior_features(candidate: Candidate, metadata: tuple[str, ...]) -> tuple[str, ...]:
    """Return the metadata columns the candidate's prior uses (passage alone, or all)."""
    if candidate.prior == "passage":
        return tuple(c for c in metadata if c == "passage")
    return metadata


def build_pipeline(
    cfg: TrainConfig,
    candidate: Candidate,
    *,
    metadata: tuple[str, ...],
    categorical: tuple[str, ...],
    n_lots: int,
    panels: dict[str, list[str]] | None = None,
    n_rounds: int | None = None,
) -> Pipeline:
    """Return the unfitted pipeline of one candidate; every data-dependent step is per fold.

    Args:
        cfg: the training config (fixed feature and booster settings).
        candidate: the structural choices (learner, normalisation, detection, screen, ridge).
        metadata: metadata feature columns of X (everything else in X is a protein).
        categorical: the metadata columns holding categories.
        n_lots: training lots, to scale the leaf size.
        panels: module name → protein feature names, for module scores.
        n_rounds: boosting rounds (default: ``cfg.model.max_rounds``).
    """
    features = cfg.features
    steps: list[tuple[str, Any]] = [
        (
            "log2",
            LogNormalizer(
                metadata=metadata, normalisation=candidate.normalisation, scale=cfg.data.scale
            ),
        ),
        ("detected", DetectionFilter(metadata=metadata, min_rate=candidate.detection_min_rate)),
    ]
    if features.module_scores and panels:
        steps.append(("modules", ModuleScores(metadata=metadata, panels=panels)))
    if candidate.screen_top_k:
        adjust = "passage" if features.screen_adjust_passage else None
        screen = ProteinScreen(metadata=metadata, top_k=candidate.screen_top_k, adjust_for=adjust)
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
        (
            "model",
            PriorBoostedClassifier(
                metadata=metadata,
                categorical=categorical,
                learner=candidate.learner,
                prior_features=prior_features(candidate, metadata),
                n_rounds=cfg.model.max_rounds if n_rounds is None else n_rounds,
                prior_c=cfg.model.prior_c,
                linear_c=candidate.linear_c,
                blend_weight=cfg.model.blend_weight,
                booster_params=booster_params(cfg, n_lots),
                trees_see_metadata=cfg.model.trees_see_metadata,
                seed=cfg.seed,
            ),
        ),
    ]
    return Pipeline(steps)


def log_odds(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """Return the fitted pipeline's log-odds of each lot."""
    return np.asarray(pipeline.decision_function(X), dtype=float)


# ---- calibration ---------------------------------------------------------------------------

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
