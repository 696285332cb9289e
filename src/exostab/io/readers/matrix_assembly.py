"""From a reader's table to a ProteinMatrix: flagged groups dropped, long reports pivoted, run
names shortened, groups annotated, numbers checked and transposed to runs × groups."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exostab.errors import InputError
from exostab.io.group_annotations import identify_groups
from exostab.io.naming import strip_run_name
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers.messages import (
    bad_cell_reason,
    cell_name,
    header_only,
    invalid_value,
    listed,
    none_left,
    text_in_cell,
)
from exostab.io.readers.number_cells import cell_problem, parse_cells
from exostab.io.readers.parsing import blank_cells, require_columns
from exostab.io.readers.scales import LOG_SCALE_MAX, SCALES, scale_problem

logger = logging.getLogger(__name__)


def unique_runs(names: Sequence[str], path: Path) -> list[str]:
    """Strip folders and MS-file extensions from run names, unless that makes them clash."""
    stripped = [strip_run_name(name) for name in names]
    if len(set(stripped)) == len(stripped):
        return stripped
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if list(names).count(n) > 1})
        raise InputError(f"duplicate run name(s) {listed(duplicated)}", where=str(path))
    return list(names)


def without_group_id(ids: Iterable[Any]) -> np.ndarray:
    """Mask of the rows whose group id is missing or only spaces: no protein group, dropped by
    every reader (``build_matrix``)."""
    return np.array([pd.isna(g) or not str(g).strip() for g in ids], dtype=bool)


def build_matrix(
    *,
    fmt: str,
    path: Path,
    by_group: pd.DataFrame,
    n_groups_before: int,
    n_dropped: int = 0,
    notes: Sequence[str] = (),
    row_name: str = "protein group",
    run_name: str = "run",
    file_columns: Sequence[str] | None = None,
    scale: str = "raw",
    names_only: bool = False,
    genes: Sequence[Any] | pd.Series | None = None,
    descriptions: Sequence[Any] | pd.Series | None = None,
    accessions: Sequence[Any] | pd.Series | None = None,
    quantity: str | None = None,
    refused: Mapping[str, str] | None = None,
    refusal: str | None = None,
) -> ProteinMatrix:
    """Finish a reader: numbers checked, groups × runs transposed to runs × groups, notes logged.

    On the ``raw`` scale 0 means "not quantified" (NaN) and a negative value is refused; on the
    ``log2`` scale every finite number is a value (0 is a log2 ratio of 1). Values that
    contradict the declared scale, opaque protein names and runs that quantified nothing are
    warned about and noted for ``inspect``.

    Args:
        by_group: quantities with group ids as index and run names as columns (raw cells).
        names_only, genes, descriptions, accessions: what the file says about its groups,
            one value per row of ``by_group``; the groups are annotated from it once, here
            (``group_annotations.identify_groups``).
        file_columns: the file's header of each column of ``by_group``, for messages.
        scale: ``raw`` or ``log2``: how the file's values are declared.
        quantity: a long table's quantity column (``PG.MaxLFQ``), named in a refused run's
            reason (a matrix names its run's column, ``file_columns``).
        refused, refusal: runs a long table's reader refused already (run -> reason; their
            cells in ``by_group`` are empty) and its refusal of the file (see ``pivot_long``).

    A run (a column of ``by_group``) holding text, an infinite value or (raw scale) a negative
    value in a quantity cell is refused as that run (``ProteinMatrix.refused_runs``, the reason
    naming the protein and the cell's text: ``bad_cell_reason``); the other runs are read.
    ``ProteinMatrix.refusal`` keeps the refusal of the whole file, naming the first bad cell.

    Raises:
        InputError: no run or no protein group (a header without rows); every run refused (the
            refusal of the first bad cell, naming run, protein and column); duplicate group ids
            or runs.
    """
    if scale not in SCALES:
        raise InputError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if by_group.shape[1] == 0:
        if fmt == "wide":  # one row per run: no row, no run
            raise header_only(path, "run")
        raise InputError("holds no run (sample) quantity columns", where=str(path))
    blank = without_group_id(by_group.index)
    if blank.any():  # a row without a group id (Excel's trailing tabs) is no protein group
        n_valued = int((~blank_cells(by_group[blank])).any(axis=1).sum())
        note = f"dropped {int(blank.sum())} row(s) without a protein group id" + (
            f" ({n_valued} holding values)" if n_valued else ""
        )
        (logger.warning if n_valued else logger.info)("%s: %s", path, note)
        notes = [*notes, note]
        by_group = by_group[~blank]
        genes, descriptions, accessions = (
            None if column is None else [v for v, b in zip(column, blank, strict=True) if not b]
            for column in (genes, descriptions, accessions)
        )
    if by_group.shape[0] == 0:
        if n_groups_before:
            raise none_left(path, n_groups_before, row_name)
        raise header_only(path)
    group_index = pd.Index([str(g) for g in by_group.index], dtype="object", name="group_id")
    if group_index.has_duplicates:
        duplicated = group_index[group_index.duplicated()].unique()
        raise InputError(f"duplicate protein group id(s) {listed(duplicated)}", where=str(path))
    if pd.Index(by_group.columns).has_duplicates:
        duplicated = pd.Index(by_group.columns)[pd.Index(by_group.columns).duplicated()].unique()
        raise InputError(f"duplicate run column(s) {listed(duplicated)}", where=str(path))
    by_group = by_group.set_axis(group_index, axis=0)
    values, text = parse_cells(by_group)
    problem = cell_problem(
        by_group, values, text, row_name=row_name, run_name=run_name, file_columns=file_columns
    )
    with np.errstate(invalid="ignore"):
        negative = values < 0 if scale == "raw" else np.zeros(values.shape, dtype=bool)
    if problem is None and negative.any():
        row, col = np.argwhere(negative)[0]
        count = int(negative.sum())
        more = f" ({count - 1} more)" if count > 1 else ""
        cell = cell_name(
            group_index[row], int(col), list(by_group.columns), row_name, run_name, file_columns
        )
        problem = (
            f"a negative intensity ({values[row, col]:g}) at {cell}{more}; raw intensities "
            "are >= 0 (if the file holds log2 values or ratios, pass --scale log2)"
        )
    refusal = refusal or problem
    refused = {
        **dict(refused or {}),
        **bad_runs(
            by_group,
            values,
            text,
            text | np.isinf(values) | negative,
            kind="protein column" if fmt == "wide" else row_name,
            columns=None if fmt == "wide" else (file_columns or [quantity] * by_group.shape[1]),
            scale=scale,
        ),
    }
    if refused:
        keep = np.array([str(run) not in refused for run in by_group.columns], dtype=bool)
        if not keep.any():  # no run left to quarantine a lot for: the file is refused
            raise InputError(refusal or "every run was refused", where=str(path))
        refused_runs = tuple(
            (str(run), refused[str(run)]) for run in by_group.columns if str(run) in refused
        )
        logger.info("%s: refused %d run(s) for a bad cell", path, len(refused_runs))
        by_group, values = by_group.loc[:, keep], values[:, keep]
    else:
        refused_runs = ()
    if scale == "raw":
        values = np.where(values == 0.0, np.nan, values)
    intensities = pd.DataFrame(
        np.ascontiguousarray(values.T),
        index=pd.Index([str(c) for c in by_group.columns], dtype="object", name="run"),
        columns=group_index,
        dtype="float64",
    )
    finite = values[np.isfinite(values)]
    looks_log = bool(finite.size) and bool(finite.max() < LOG_SCALE_MAX)
    notes = list(notes)
    if scale == "log2":
        notes.append("scale: log2 (declared); values used as they are")
    problems = []
    problem = scale_problem(intensities, scale)
    if problem:
        problems.append(problem)
        logger.warning("%s: %s", path, problem)
    proteins, identity_notes = identify_groups(
        group_index,
        path,
        names_only=names_only,
        genes=genes,
        descriptions=descriptions,
        accessions=accessions,
    )
    notes.extend(identity_notes)
    matrix = ProteinMatrix(
        intensities=intensities,
        proteins=proteins,
        format=fmt,
        source=Path(path),
        n_groups_before=int(n_groups_before),
        n_dropped=int(n_dropped),
        looks_log_scale=looks_log,
        scale=scale,
        refused_runs=refused_runs,
        refusal=refusal,
    )
    failed = matrix.failed_runs
    if failed:
        note = f"{len(failed)} run(s) quantified no protein (failed run?): {listed(failed, 10)}"
        problems.append(note)
        # Said by the stage that acts on it (train leaves the run out, score quarantines its
        # lot, inspect shows the problem), not also here.
        logger.info("%s: %s", path, note)
    logger.info(
        "read %s as %s: %d runs × %d protein groups (%d dropped of %d)",
        path,
        fmt,
        intensities.shape[0],
        intensities.shape[1],
        n_dropped,
        n_groups_before,
    )
    return replace(matrix, notes=tuple(notes), problems=tuple(problems))


def bad_runs(
    by_group: pd.DataFrame,
    values: np.ndarray,
    text: np.ndarray,
    bad: np.ndarray,
    *,
    kind: str,
    columns: Sequence[str | None] | None,
    scale: str,
) -> dict[str, str]:
    """The runs (columns of ``by_group``) holding a bad cell, each with the reason of its first.

    Args:
        values, text: the cells as numbers and the cells holding text (``parse_cells``).
        bad: the cells a run cannot hold: text, infinite values, negative raw intensities.
        kind: what names a row's protein in the file (``protein column``, ``protein group``).
        columns: the file's column of each run's cells, named in the reason (None: not named).
        scale: ``raw`` or ``log2`` (what an invalid number is called, ``invalid_value``).

    Returns:
        run -> reason (``bad_cell_reason``): text first, as a wide table's row says it.
    """
    reasons: dict[str, str] = {}
    for j in np.flatnonzero(bad.any(axis=0)).tolist():
        with_text = np.flatnonzero(text[:, j]).tolist()
        if with_text:
            row, what = with_text[0], text_in_cell(by_group.iat[with_text[0], j])
        else:
            row, what = int(np.flatnonzero(bad[:, j])[0]), invalid_value(scale)
        column = columns[j] if columns is not None else None
        reasons[str(by_group.columns[j])] = bad_cell_reason(what, by_group.index[row], kind, column)
    return reasons


@dataclass(frozen=True)
class LongPivot:
    """A long report pivoted to groups × runs (``pivot_long``).

    Attributes:
        by_group: quantities, group ids as index and runs as columns, in file order; a refused
            run's column is empty.
        refused: run -> why it was refused (``bad_cell_reason``), for ``build_matrix``.
        refusal: the refusal of the whole file for its first bad cell (None when none).
    """

    by_group: pd.DataFrame
    refused: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None


def pivot_long(
    long: pd.DataFrame,
    *,
    path: Path,
    run: str,
    group: str,
    quantity: str,
    decimal_comma: bool | None = None,
    kind: str = "protein group",
    scale: str = "raw",
    refused: Mapping[str, str] | None = None,
    refusal: str | None = None,
) -> LongPivot:
    """Pivot a long report to groups × runs, demanding one quantity per run and group.

    Long reports repeat the group quantity on every precursor/fragment row; repeats must agree.
    A run with text or an infinite value in a quantity cell is refused as that run, as a wide
    table's row is: none of its rows is used (its column is empty) and the reason names the
    protein (``kind``: how the file calls it), the column and the text; the other runs are
    read. Negative raw values are ``build_matrix``'s to refuse.

    Args:
        refused, refusal: runs the reader refused already for a bad cell of another column
            (a DIA-NN q-value), with the whole file's refusal; their rows are not used either.

    Raises:
        InputError: no row with both a run and a group; several different values for one run
            and group.
    """
    require_columns(path, long.columns, (run, group, quantity))
    frame = long[[run, group, quantity]].copy()
    frame = frame[frame[group].notna() & frame[run].notna()]
    if frame.empty:
        raise InputError(f"holds no rows with both {run!r} and {group!r}", where=str(path))
    # Name a bad cell by its run and protein group, which is how a user finds it.
    cells = frame[[quantity]].set_axis(
        [f"run {r!r}, protein group {g!r}" for r, g in zip(frame[run], frame[group], strict=True)],
        axis=0,
    )
    values, text = parse_cells(cells, decimal_comma)
    own_refusal = cell_problem(cells, values, text, row_name="")
    frame[run] = frame[run].astype(str)
    frame[group] = frame[group].astype(str)
    refused = dict(refused or {})
    if own_refusal is not None:
        bad = (text | np.isinf(values))[:, 0]
        runs, groups = frame[run].tolist(), frame[group].tolist()
        for i in np.flatnonzero(bad).tolist():  # the first bad cell of each run
            if runs[i] not in refused:
                what = text_in_cell(cells.iat[i, 0]) if text[i, 0] else invalid_value(scale)
                refused[runs[i]] = bad_cell_reason(what, groups[i], kind, quantity)
    refusal = refusal or own_refusal
    if refused:
        values[frame[run].isin(refused).to_numpy(), 0] = np.nan  # no row of a refused run
    frame[quantity] = values[:, 0]
    spread = frame.groupby([group, run], sort=False)[quantity].agg(["min", "max"])
    conflicting = spread[(spread["max"] - spread["min"]).abs() > 1e-9 * spread["max"].abs()]
    if not conflicting.empty:
        group_id, run_name = conflicting.index[0]
        raise InputError(
            f"several different {quantity!r} values for run {run_name!r} and group "
            f"{group_id!r} ({len(conflicting)} such pairs); expected one value per run and group",
            where=str(path),
        )
    wide = spread["max"].unstack(run)
    runs_in_order = list(dict.fromkeys(frame[run]))
    groups_in_order = list(dict.fromkeys(frame[group]))
    by_group = wide.reindex(index=groups_in_order, columns=runs_in_order)
    return LongPivot(by_group, refused, refusal)


def renamed_runs(pivot: LongPivot, names: Sequence[str]) -> LongPivot:
    """The pivot with its runs renamed (``names``: one per column, as ``unique_runs`` gives
    them), its refused runs too."""
    new_name = dict(zip(map(str, pivot.by_group.columns), names, strict=True))
    return LongPivot(
        pivot.by_group.set_axis(list(names), axis=1),
        {new_name[run]: reason for run, reason in pivot.refused.items()},
        pivot.refusal,
    )


def drop_flagged(
    frame: pd.DataFrame, flagged: pd.Series, path: Path, what: str
) -> tuple[pd.DataFrame, int, list[str]]:
    """Drop flagged rows, returning the kept rows, the count and a note for ``inspect``."""
    n_flagged = int(flagged.sum())
    notes = [f"dropped {n_flagged} {what}"] if n_flagged else []
    if n_flagged:
        logger.info("%s: dropped %d %s", path, n_flagged, what)
    return frame.loc[~flagged.to_numpy()], n_flagged, notes
