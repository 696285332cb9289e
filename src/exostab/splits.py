"""Grouped cross-validation: no donor (or other group) on both sides of a fold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

from exostab.errors import InputError

Fold = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class FoldPlan:
    """The folds of one validation scheme and what is worth reporting about them."""

    folds: list[Fold]
    scheme: str
    single_class_folds: tuple[int, ...]


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
    (they still contribute to pooled out-of-fold metrics) and reported.
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
    single = tuple(i for i, (_, test) in enumerate(folds) if len(np.unique(y_values[test])) < 2)
    return FoldPlan(folds=folds, scheme=scheme, single_class_folds=single)


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
