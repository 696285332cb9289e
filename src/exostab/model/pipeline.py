"""The unfitted pipeline of one candidate: feature transformers, then the risk model.

``build_pipeline`` chains the transformers of ``features.py`` and ``PriorBoostedClassifier``
with the candidate's structural choices, so grouped CV refits every step per fold;
``log_odds`` reads a fitted pipeline's log-odds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from exostab.config import Candidate, TrainConfig
from exostab.model.booster import booster_params
from exostab.model.features import (
    DetectionFilter,
    LogNormalizer,
    MetadataEncoder,
    MissingPolicy,
    ModuleScores,
    ProteinScreen,
)
from exostab.model.risk_model import PriorBoostedClassifier


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
