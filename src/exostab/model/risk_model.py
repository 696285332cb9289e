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
transformers (``features.py``; the pipeline is built in ``pipeline.py``), so grouped CV
refits everything per fold.
"""

from __future__ import annotations

from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from exostab.model.booster import train_booster
from exostab.model.logistic import fit_offset_logistic, sigmoid

LEARNERS = ("prior", "trees", "linear", "blend", "average")
# The learners fitting LightGBM trees, and those fitting the ridge part.
TREE_LEARNERS = ("trees", "blend", "average")
LINEAR_LEARNERS = ("linear", "blend", "average")


def part_weights(learner: str, blend_weight: float) -> tuple[float, float]:
    """(weight of the trees, weight of the linear part) in a learner's protein part.

    ``blend``: the mean of (prior + trees) and (prior + linear), ``w`` and ``1 - w``.
    ``average``: the equal-weight mean of the prior alone, prior + linear and the blend (issue
    19: average the structures rather than pick one): ``w / 3`` and ``(2 - w) / 3``, i.e.
    prior + ½ linear + ⅙ trees at ``w = 0.5``. ``trees``, ``linear``: 1; ``prior``: none.
    """
    if learner == "blend":
        return blend_weight, 1.0 - blend_weight
    if learner == "average":
        return blend_weight / 3.0, (2.0 - blend_weight) / 3.0
    return (1.0 if learner == "trees" else 0.0), (1.0 if learner == "linear" else 0.0)


class PriorBoostedClassifier(ClassifierMixin, BaseEstimator):
    """Prior on metadata + a protein part fitted from it; exact per-feature attributions.

    Takes the encoded frame of ``MetadataEncoder`` (lots × [metadata codes/numbers, protein
    log2 abundances, module scores]); ``metadata`` names the columns that go to the prior,
    ``categorical`` those of them that hold category codes. Fitted state is plain values plus
    a LightGBM text model, so it round-trips through JSON (``to_state`` / ``from_state``).

    Args:
        metadata: metadata columns (prior inputs).
        categorical: the metadata columns holding category codes (one-hot in the prior).
        learner: ``prior``, ``trees``, ``linear``, ``blend`` or ``average`` (``part_weights``).
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
        use_trees = self.learner in TREE_LEARNERS and self.n_rounds > 0
        use_linear = self.learner in LINEAR_LEARNERS
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
        if self.learner in ("blend", "average"):
            # Always the mean of its structures: trees without validated rounds are the prior
            # itself, so the linear part keeps its weight (``part_weights``).
            tree_weight, linear_weight = part_weights(self.learner, self.blend_weight)
            return (tree_weight if trees else 0.0), (linear_weight if linear else 0.0)
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
