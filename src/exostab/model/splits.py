"""Grouped cross-validation: no donor (or other group) on both sides of a fold."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from exostab.errors import InputError

logger = logging.getLogger(__name__)

Fold = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class FoldPlan:
    """The folds of one validation scheme and what is worth reporting about them."""

    folds: list[Fold]
    scheme: str
    single_class_folds: tuple[int, ...]
    n_merged: int = 0

    def title(self, group: str = "donor_id") -> str:
        """Name the scheme that ran, as ``train`` prints it (``Donor-grouped CV``, ...)."""
        who = group.removesuffix("_id").replace("_", " ") or group
        if self.scheme == "time_ordered":
            merged = f", {self.n_merged} early block(s) merged" if self.n_merged else ""
            return f"Time-ordered CV (forward-chaining, no {who} on both sides{merged})"
        if self.scheme == "leave_one_group_out":
            return f"Leave-one-{who}-out CV"
        return f"{who.capitalize()}-grouped CV"


def grouped_folds(
    y: pd.Series,
    groups: pd.Series,
    *,
    scheme: str,
    n_splits: int,
    seed: int,
    order: pd.Series | None = None,
) -> FoldPlan:
    """Split lots into folds that never share a group.

    ``group_kfold`` is stratified by label (as far as whole groups allow); ``leave_one_group_out``
    holds out one group at a time; ``time_ordered`` tests each block of lots (by ``order``) on a
    model trained only on earlier lots. Folds whose test part holds a single class are kept
    (they still contribute to pooled out-of-fold metrics) and reported. A fold whose training
    part holds a single class cannot fit a classifier: its test lots join the training part of
    the later folds (in ``time_ordered`` an early block of only stable lots is merged into the
    next), and the number of such folds is ``n_merged``.

    Raises:
        InputError: fewer than two groups, no time order, or no fold whose training part holds
            both classes (one line saying so).
    """
    y_values = np.asarray(y, dtype=int)
    group_values = np.asarray(groups.astype(str))
    n_groups = len(np.unique(group_values))
    if n_groups < 2:
        raise InputError(f"grouped validation needs at least two groups, found {n_groups}")
    if scheme == "time_ordered":
        if order is None:
            raise InputError("time-ordered validation needs cv.time_column in the lot sheet")
        folds = time_ordered_folds(np.asarray(order, dtype=float), group_values, n_splits)
    elif scheme == "leave_one_group_out":
        splitter = LeaveOneGroupOut()
        folds = list(splitter.split(y_values, y_values, group_values))
    else:
        k = min(n_splits, n_groups)
        sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        folds = list(sgkf.split(np.zeros(len(y_values)), y_values, group_values))
    usable = [(tr, te) for tr, te in folds if len(np.unique(y_values[tr])) == 2]
    n_merged = len(folds) - len(usable)
    if not usable:
        raise InputError(
            f"{scheme} validation cannot run: the training part of every fold holds one class "
            f"({len(folds)} fold(s)); use another cv.scheme or fewer cv.n_splits"
        )
    if n_merged:
        logger.warning(
            "%s validation: %d of %d fold(s) had training lots of one class only; their test "
            "lots are not tested and join the later folds' training (merged)",
            scheme,
            n_merged,
            len(folds),
        )
    folds = usable
    single = tuple(i for i, (_, test) in enumerate(folds) if len(np.unique(y_values[test])) < 2)
    return FoldPlan(folds=folds, scheme=scheme, single_class_folds=single, n_merged=n_merged)


def time_ordered_folds(order: np.ndarray, groups: np.ndarray, n_splits: int) -> list[Fold]:
    """Forward-chaining folds: block k+1 (in time) is tested on a model of blocks 0..k.

    Lots of a test donor are removed from that fold's training part, so no donor is on both
    sides; the lots of the first block are never tested.
    """
    ranks = np.argsort(np.argsort(order, kind="stable"), kind="stable")
    block = ranks * (n_splits + 1) // len(order)
    folds = []
    for k in range(1, n_splits + 1):
        test = np.flatnonzero(block == k)
        test_groups = set(groups[test])
        train = np.flatnonzero((block < k) & ~np.isin(groups, list(test_groups)))
        if len(test) and len(train):
            folds.append((train, test))
    if not folds:
        raise InputError("time-ordered validation left no fold with earlier training lots")
    return folds


def lot_level_folds(y: pd.Series, *, n_splits: int, seed: int) -> list[Fold]:
    """Naive stratified K-fold over lots, ignoring donors: only to show how much it flatters."""
    y_values = np.asarray(y, dtype=int)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y_values)), y_values))
