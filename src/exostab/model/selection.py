"""Choices made by the data: the model's structure chosen by inner donor-grouped CV.

Called on an outer fold's training lots only, so the outer fold's test lots never influence
the choice (nested CV). A handful of candidates (``configs/train.yaml`` ``search.candidates``)
are compared on inner out-of-fold predictions by ``search.metric``: mean AUROC within inner folds
(the default: what the model is judged on) or log loss. The trees' number of rounds is chosen on
the same inner folds by LightGBM's validation log-loss curve (0 rounds = the prior alone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import lightgbm
import numpy as np
import pandas as pd

from exostab.config import MAX_SEED, Candidate, TrainConfig
from exostab.dataset import TrainingSet
from exostab.model.booster import booster_params, train_booster
from exostab.model.evaluate import rank_auroc
from exostab.model.pipeline import build_pipeline, prior_features
from exostab.model.risk_model import (
    LINEAR_LEARNERS,
    TREE_LEARNERS,
    PriorBoostedClassifier,
    part_weights,
)
from exostab.model.splits import FoldPlan, grouped_folds

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """The structure chosen for one set of training lots.

    Attributes:
        candidate: the chosen learner and preprocessing.
        n_rounds: boosting rounds of the trees (0 when the candidate has none).
        inner_loss: candidate label → pooled inner out-of-fold loss, 1 − AUROC or log loss as
            ``search.metric`` says (empty when the lots were too few for an inner CV).
        reason: why this candidate (shown in logs and the run).
    """

    candidate: Candidate
    n_rounds: int
    inner_loss: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    @property
    def label(self) -> str:
        rounds = f"/{self.n_rounds}r" if self.candidate.learner in TREE_LEARNERS else ""
        return self.candidate.label + rounds


def eligible_candidates(cfg: TrainConfig, n_lots: int) -> list[Candidate]:
    """Return the candidates the lots can support: no trees below ``search.min_lots_for_trees``.

    Below it a ``blend`` becomes its linear part (same prior and preprocessing) and ``trees``
    are left out: trees cannot be validated on so few lots (stack notes: an 18-sample EV study
    went from AUROC 0.50 with LightGBM to 0.86-0.89 with L2 logistic regression). A candidate
    with its own ``min_lots`` is left out below that number of lots.
    """
    candidates = [c for c in cfg.search.candidates if c.min_lots is None or n_lots >= c.min_lots]
    if not candidates:
        logger.warning(
            "%d training lots: every candidate of search.candidates asks for more (min_lots); "
            "the prior alone (passage + metadata) is fitted instead",
            n_lots,
        )
    if n_lots < cfg.search.min_lots_for_trees:
        linear = [
            c.model_copy(update={"learner": "linear"}) if c.learner == "blend" else c
            for c in candidates
            if c.learner != "trees"
        ]
        candidates = list(dict.fromkeys(linear))
    return candidates or [Candidate(learner="prior")]


def fallback_choice(candidates: list[Candidate], reason: str, max_rounds: int) -> Choice:
    """The choice when no inner CV is possible: the linear candidate (or a blend's linear part),
    else the first one.

    Trees then get a third of ``model.max_rounds``: nothing could choose their rounds.
    """
    linear = [c for c in candidates if c.learner == "linear"]
    blends = [
        c.model_copy(update={"learner": "linear"}) for c in candidates if c.learner == "blend"
    ]
    chosen = (linear or blends or candidates)[0]
    rounds = max_rounds // 3 if chosen.learner in TREE_LEARNERS else 0
    return Choice(candidate=chosen, n_rounds=rounds, reason=reason)


def _log_loss(y: np.ndarray, log_odds: np.ndarray) -> float:
    """Mean binary log loss of log-odds (computed stably)."""
    return float(np.mean(np.logaddexp(0.0, log_odds) - y * log_odds))


def _auroc_loss(y: np.ndarray, log_odds: np.ndarray, folds: list[np.ndarray]) -> float:
    """1 − the lot-weighted mean AUROC within inner folds (lower is better, like a loss).

    Within each fold, not pooled: pooled out-of-fold AUROC rewards a model for its folds'
    different intercepts (a constant prior scored 0.59 on 18 lots that way), which says
    nothing about ranking new lots. Folds with one class are left out.
    """
    values, weights = [], []
    for valid in folds:
        auroc = rank_auroc(y[valid], log_odds[valid])
        if np.isfinite(auroc):
            values.append(auroc)
            weights.append(len(valid))
    return 1.0 - float(np.average(values, weights=weights)) if values else 0.5


def _boosted(
    prior_oof: np.ndarray,
    parts: list[tuple[np.ndarray, lightgbm.Booster, np.ndarray]],
    rounds: int,
) -> np.ndarray:
    """Pooled inner out-of-fold log-odds of the trees after ``rounds`` rounds."""
    boosted = prior_oof.copy()
    for valid, booster, values in parts:
        boosted[valid] += np.asarray(booster.predict(values, raw_score=True, num_iteration=rounds))
    return boosted


def _candidate_losses(
    training: TrainingSet,
    rows: np.ndarray,
    X: pd.DataFrame,
    y: np.ndarray,
    plan: FoldPlan,
    candidates: list[Candidate],
    cfg: TrainConfig,
    panels: dict[str, list[str]],
) -> tuple[dict[str, float], dict[str, int]]:
    """Score every candidate on one inner fold plan of the lots ``rows``.

    Returns:
        (loss per candidate label, lower is better; boosting rounds per trees/blend label).
    """
    max_rounds = cfg.model.max_rounds
    by_log_loss = cfg.search.metric == "log_loss"
    valid_folds = [valid for _, valid in plan.folds]

    def loss(labels: np.ndarray, log_odds: np.ndarray) -> float:
        if by_log_loss:
            return _log_loss(labels, log_odds)
        return _auroc_loss(labels, log_odds, valid_folds)

    # Pooled inner out-of-fold log-odds, per candidate label (trees: per round).
    pooled: dict[str, np.ndarray] = {}
    rounds_of: dict[str, int] = {}
    by_preprocessing: dict[tuple[str, float, int | None], list[Candidate]] = {}
    for candidate in candidates:
        by_preprocessing.setdefault(candidate.preprocessing, []).append(candidate)

    # The feature steps do not depend on the prior: fit them once per preprocessing and fold.
    by_prior: list[tuple[list[Candidate], list[tuple[np.ndarray, pd.DataFrame, pd.DataFrame]]]]
    by_prior = []
    for same_steps in by_preprocessing.values():
        frames = []
        for train, valid in plan.folds:
            pipeline = build_pipeline(
                cfg,
                same_steps[0],
                metadata=training.metadata,
                categorical=training.categorical,
                n_lots=len(train),
                panels=panels,
            )
            features = pipeline[:-1].fit(X.iloc[train], y[train])
            frames.append(
                (train, features.transform(X.iloc[train]), features.transform(X.iloc[valid]))
            )
        priors: dict[str, list[Candidate]] = {}
        for candidate in same_steps:
            priors.setdefault(candidate.prior, []).append(candidate)
        by_prior += [(group, frames) for group in priors.values()]

    for group, frames in by_prior:
        group_prior = prior_features(group[0], training.metadata)
        prior_oof = np.full(len(rows), np.nan)
        needs_trees = any(c.learner in TREE_LEARNERS for c in group)
        linear_cs = sorted({c.linear_c for c in group if c.learner in LINEAR_LEARNERS})
        linear_oof = {c: np.full(len(rows), np.nan) for c in linear_cs}
        curve_sum = np.zeros(max_rounds)
        parts: list[tuple[np.ndarray, lightgbm.Booster, np.ndarray]] = []
        for (_, valid), (train, train_frame, valid_frame) in zip(plan.folds, frames, strict=True):
            prior = PriorBoostedClassifier(
                metadata=training.metadata,
                categorical=training.categorical,
                learner="prior",
                prior_features=group_prior,
                prior_c=cfg.model.prior_c,
                booster_params=booster_params(cfg, len(train)),
                trees_see_metadata=cfg.model.trees_see_metadata,
            ).fit(train_frame, y[train])
            offset_train = prior.decision_function(train_frame)
            offset_valid = prior.decision_function(valid_frame)
            prior_oof[valid] = offset_valid
            if needs_trees and prior.protein_features_:
                valid_values = prior.tree_values(valid_frame)
                booster = train_booster(
                    prior.tree_values(train_frame),
                    y[train],
                    offset_train,
                    prior.tree_features_,
                    prior.tree_params(),
                    max_rounds,
                    cfg.seed,
                    valid=(valid_values, y[valid], offset_valid),
                )
                curve_sum += len(valid) * booster.valid_curve  # type: ignore[attr-defined]
                parts.append((valid, booster, valid_values))
            for c in linear_cs:
                linear = PriorBoostedClassifier(
                    metadata=training.metadata,
                    categorical=training.categorical,
                    learner="linear",
                    prior_features=group_prior,
                    prior_c=cfg.model.prior_c,
                    linear_c=c,
                ).fit(train_frame, y[train])
                linear_oof[c][valid] = linear.decision_function(valid_frame)
        # Rounds by the pooled inner validation log loss (LightGBM's early-stopping curve),
        # whatever search.metric compares candidates by: AUROC ignores the scale of the trees'
        # log-odds, and an over-boosted, overconfident tree part would outweigh the ridge part
        # in the blend and shift from fold to fold.
        best_rounds = 0
        if parts:
            curve = curve_sum / len(rows)
            if curve.min() < _log_loss(y, prior_oof):
                best_rounds = int(np.argmin(curve)) + 1
        tree_oof = _boosted(prior_oof, parts, best_rounds) if best_rounds else prior_oof.copy()
        for candidate in group:
            if candidate.learner in TREE_LEARNERS:
                rounds_of[candidate.label] = best_rounds
            if candidate.learner == "prior":
                pooled[candidate.label] = prior_oof.copy()
            elif candidate.learner == "trees":
                pooled[candidate.label] = tree_oof
            elif candidate.learner == "linear":
                pooled[candidate.label] = linear_oof[candidate.linear_c]
            else:
                # blend, average: a mean of structures (``part_weights``); with no validated
                # rounds the trees are the prior itself, so only the linear part is added.
                tree_weight, linear_weight = part_weights(candidate.learner, cfg.model.blend_weight)
                pooled[candidate.label] = (
                    prior_oof
                    + tree_weight * (tree_oof - prior_oof)
                    + linear_weight * (linear_oof[candidate.linear_c] - prior_oof)
                )

    return {label: loss(y, oof) for label, oof in pooled.items()}, rounds_of


def choose_structure(
    training: TrainingSet,
    rows: np.ndarray,
    cfg: TrainConfig,
    panels: dict[str, list[str]],
) -> Choice:
    """Choose the candidate and its rounds by inner grouped CV on the lots ``rows`` only.

    Args:
        training: all lots; only ``rows`` are looked at.
        rows: positions of the lots to choose on (an outer fold's training lots).
        cfg: the training config (``search`` section).
        panels: module name → protein feature names.

    Returns:
        The chosen structure; the fallback (linear) when the lots cannot be split into inner
        folds that each hold both classes and at least two groups.
    """
    candidates = eligible_candidates(cfg, len(rows))
    if len(candidates) == 1 and candidates[0].learner not in TREE_LEARNERS:
        return Choice(candidate=candidates[0], n_rounds=0, reason="only candidate")
    if len(rows) < cfg.search.min_lots_for_trees and candidates[0].learner == "average":
        # too few lots to validate trees: the mean of the prior and prior + linear
        return Choice(candidate=candidates[0], n_rounds=0, reason="too few lots for trees")
    y = training.y.iloc[rows].to_numpy()
    groups = training.groups.iloc[rows]
    X = training.X.iloc[rows]
    n_groups = groups.nunique()
    if n_groups < 3:
        return fallback_choice(
            candidates, f"{n_groups} groups: too few for an inner CV", cfg.model.max_rounds
        )
    # Repeated inner CV (Krstajic et al. 2014, J Cheminform 6:10): each repeat splits the
    # donors differently and the candidates' losses are averaged, so the choice depends less on
    # one split. Repeat r uses fold seed cfg.seed + 1 + 10 r (repeat 0 is the single-split seed),
    # wrapped into the seeds numpy takes (a config seed may be up to 2**32 - 1).
    # A split met again is skipped: few donors have few ways to be split, and averaging one
    # split twice would weigh it double.
    per_repeat: list[tuple[dict[str, float], dict[str, int]]] = []
    seen: set[frozenset[tuple[int, ...]]] = set()
    for repeat in range(cfg.search.inner_repeats):
        plan = grouped_folds(
            training.y.iloc[rows],
            groups,
            scheme="group_kfold",
            n_splits=min(cfg.search.inner_splits, n_groups),
            seed=(cfg.seed + 1 + 10 * repeat) % (MAX_SEED + 1),
        )
        split = frozenset(tuple(sorted(test.tolist())) for _, test in plan.folds)
        if split in seen:
            continue
        seen.add(split)
        if any(len(np.unique(y[train])) < 2 for train, _ in plan.folds):
            continue
        per_repeat.append(_candidate_losses(training, rows, X, y, plan, candidates, cfg, panels))
    if not per_repeat:
        return fallback_choice(
            candidates, "an inner training fold holds one class", cfg.model.max_rounds
        )
    # A label counts only when every repeat scored it (a blend whose trees never beat the prior
    # in some repeat is not a choice); its rounds are the median over repeats.
    labels = [c.label for c in candidates if all(c.label in lo for lo, _ in per_repeat)]
    losses = {label: float(np.mean([lo[label] for lo, _ in per_repeat])) for label in labels}
    rounds_of = {
        label: int(np.median([ro[label] for _, ro in per_repeat]))
        for label in labels
        if all(label in ro for _, ro in per_repeat)
    }
    scored = [c for c in candidates if c.label in losses]
    best = min(scored, key=lambda c: (round(losses[c.label], 9), scored.index(c)))
    rounds = rounds_of.get(best.label, 0)
    if best.learner == "trees" and rounds == 0:
        # The validation curve never beat the prior: boosting would only add noise.
        best = next((c for c in candidates if c.learner == "prior"), best)
    logger.info(
        "inner CV over %d lots chose %s (%s)",
        len(rows),
        best.label,
        ", ".join(f"{k} {v:.3f}" for k, v in sorted(losses.items(), key=lambda kv: kv[1])),
    )
    return Choice(
        candidate=best,
        n_rounds=rounds,
        inner_loss=losses,
        reason=f"best inner grouped-CV {cfg.search.metric}"
        + (f", {len(per_repeat)} repeats" if len(per_repeat) > 1 else "")
        + (
            f" ({cfg.search.inner_repeats - len(seen)} repeated a donor split: skipped)"
            if len(seen) < cfg.search.inner_repeats
            else ""
        ),
    )


def choice_table(choices: list[tuple[str, Choice]]) -> pd.DataFrame:
    """Tabulate the choices (scope, chosen, rounds, inner log loss of every candidate)."""
    rows = []
    for scope, choice in choices:
        rows.append(
            {
                "scope": scope,
                "chosen": choice.label,
                "n_rounds": choice.n_rounds,
                "reason": choice.reason,
                **{f"inner_loss[{k}]": round(v, 5) for k, v in choice.inner_loss.items()},
            }
        )
    return pd.DataFrame(rows)
