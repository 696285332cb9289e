"""Baselines validated through the same grouped folds as the model: does the model earn its keep?

Each baseline is an unfitted sklearn ``Pipeline`` over ``TrainingSet.X`` (metadata columns, then
raw protein intensities), so every data-dependent step (log, imputation, scaling, selection) is
refitted inside each fold exactly like the model:

- ``passage_only``: logistic regression on passage alone, the "just count passages" rule.
- ``lgbm_default``: LightGBM with its default parameters on log2 intensities (NaN kept).
- ``omiclearn``: the OmicLearn recipe: median impute, standard scale, ExtraTrees top-20
  selection, random forest.
- ``l2_logistic``: ridge logistic regression on every protein (median imputed, scaled).

The protein baselines see proteins only; the model adds passage and other metadata on top.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.feature_selection import SelectFromModel
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from exostab.dataset import TrainingSet
from exostab.model.evaluate import risk_metrics
from exostab.model.features import LogNormalizer

logger = logging.getLogger(__name__)

BASELINES: tuple[str, ...] = ("passage_only", "lgbm_default", "omiclearn", "l2_logistic")

# Ridge strength of l2_logistic on standardised proteins: with thousands of proteins and a few
# hundred lots, sklearn's C=1 interpolates the training lots and returns near-0/1 risks.
L2_C = 0.01
# OmicLearn's defaults: 100 trees for selection and for the classifier, top 20 features kept.
OMICLEARN_TREES = 100
OMICLEARN_TOP_K = 20


def drop_columns(frame: pd.DataFrame, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Return the frame without ``columns`` (the metadata, for protein-only baselines)."""
    dropped = set(columns)
    return frame[[c for c in frame.columns if c not in dropped]]


def _protein_steps(metadata: tuple[str, ...], scale: str = "raw") -> list[tuple[str, Any]]:
    """Log2 the raw intensities (NaN for not detected) and keep only the protein columns."""
    return [
        ("log2", LogNormalizer(metadata=metadata, normalisation="none", scale=scale)),
        ("proteins", FunctionTransformer(drop_columns, kw_args={"columns": tuple(metadata)})),
    ]


def build_baseline(
    name: str, *, metadata: tuple[str, ...], seed: int, scale: str = "raw"
) -> Pipeline:
    """Return the unfitted pipeline of one baseline; it takes ``TrainingSet.X`` as it is.

    Args:
        name: one of ``BASELINES``.
        metadata: the metadata columns of X (everything else is a protein).
        seed: random state of every stochastic step.
        scale: ``raw`` or ``log2``: the scale of the protein columns of X.

    Raises:
        ValueError: for a name not in ``BASELINES``.
    """
    if name == "passage_only":
        passage = ColumnTransformer(
            [("passage", SimpleImputer(strategy="median"), ["passage"])], remainder="drop"
        )
        return Pipeline(
            [
                ("passage", passage),
                ("scale", StandardScaler()),
                ("classifier", LogisticRegression(random_state=seed)),
            ]
        )
    if name == "lgbm_default":
        classifier = LGBMClassifier(
            deterministic=True, force_col_wise=True, verbose=-1, n_jobs=1, random_state=seed
        )
        return Pipeline([*_protein_steps(metadata, scale), ("classifier", classifier)])
    if name == "omiclearn":
        selector = SelectFromModel(
            ExtraTreesClassifier(n_estimators=OMICLEARN_TREES, random_state=seed, n_jobs=1),
            max_features=OMICLEARN_TOP_K,
            threshold=-np.inf,
        )
        forest = RandomForestClassifier(n_estimators=OMICLEARN_TREES, random_state=seed, n_jobs=1)
        return Pipeline(
            [
                *_protein_steps(metadata, scale),
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("select", selector),
                ("classifier", forest),
            ]
        )
    if name == "l2_logistic":
        return Pipeline(
            [
                *_protein_steps(metadata, scale),
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("classifier", LogisticRegression(C=L2_C, max_iter=2000, random_state=seed)),
            ]
        )
    raise ValueError(f"unknown baseline {name!r}; choose one of: {', '.join(BASELINES)}")


def baseline_risk(
    name: str,
    training: TrainingSet,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    seed: int,
) -> np.ndarray:
    """Fit one baseline on the ``train_idx`` lots and return its risk for the ``test_idx`` lots."""
    pipeline = build_baseline(name, metadata=training.metadata, seed=seed, scale=training.scale)
    y = training.y.to_numpy()
    pipeline.fit(training.X.iloc[train_idx], y[train_idx])
    return np.asarray(pipeline.predict_proba(training.X.iloc[test_idx])[:, 1], dtype=float)


def cross_validate_baselines(
    training: TrainingSet,
    folds: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    n_jobs: int = 2,
    names: tuple[str, ...] = BASELINES,
) -> dict[str, np.ndarray]:
    """Validate baselines through the given folds; return each one's out-of-fold risk.

    Args:
        training: the lots, labels and groups the model was validated on.
        folds: (train positions, test positions) pairs, the model's own ``FoldPlan.folds``.
        seed: random state of the baselines.
        names: which baselines (default: all of ``BASELINES``).

    Returns:
        baseline name → out-of-fold risk per lot (NaN for lots in no test fold).
    """
    # Baselines are independent: two worker processes halve the wall time on two cores.
    risks = Parallel(n_jobs=min(n_jobs, len(names)))(
        delayed(baseline_out_of_fold)(name, training, folds, seed) for name in names
    )
    results = dict(zip(names, risks, strict=True))
    log_baselines(results, training)
    return results


def log_baselines(results: dict[str, np.ndarray], training: TrainingSet) -> None:
    """Log each baseline's out-of-fold AUROC over the lots it scored."""
    y = training.y.to_numpy()
    for name, oof in results.items():
        covered = np.isfinite(oof)
        logger.info(
            "baseline %s: out-of-fold AUROC %.3f over %d lots",
            name,
            risk_metrics(y[covered], oof[covered])["roc_auc"],
            int(covered.sum()),
        )


def baseline_out_of_fold(
    name: str, training: TrainingSet, folds: list[tuple[np.ndarray, np.ndarray]], seed: int
) -> np.ndarray:
    """One baseline's out-of-fold risk per lot (NaN for lots in no test fold)."""
    oof = np.full(len(training.y), np.nan)
    for train_idx, test_idx in folds:
        oof[test_idx] = baseline_risk(name, training, train_idx, test_idx, seed)
    return oof
