"""From a reader's table to a ProteinMatrix: flagged groups dropped, long reports pivoted, run
names shortened, groups annotated, numbers checked and transposed to runs × groups."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exostab.errors import InputError
from exostab.io.group_annotations import identify_groups
from exostab.io.naming import strip_run_name
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers.messages import cell_name, header_only, listed, none_left
from exostab.io.readers.number_cells import to_float
from exostab.io.readers.parsing import require_columns
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

    Raises:
        InputError: no run or no protein group (a header without rows); text, an infinite
            value, or (raw scale) a negative value in a quantity cell, naming run, protein and
            column; duplicate group ids or runs.
    """
    if scale not in SCALES:
        raise InputError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if by_group.shape[1] == 0:
        if fmt == "wide":  # one row per run: no row, no run
            raise header_only(path, "run")
        raise InputError("holds no run (sample) quantity columns", where=str(path))
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
    values = to_float(
        by_group, path, row_name=row_name, run_name=run_name, file_columns=file_columns
    ).to_numpy()
    if scale == "raw":
        negative = values < 0
        if negative.any():
            row, col = np.argwhere(negative)[0]
            count = int(negative.sum())
            more = f" ({count - 1} more)" if count > 1 else ""
            cell = cell_name(
                group_index[row], int(col), list(by_group.columns), row_name, run_name, file_columns
            )
            raise InputError(
                f"a negative intensity ({values[row, col]:g}) at {cell}{more}; raw intensities "
                "are >= 0 (if the file holds log2 values or ratios, pass --scale log2)",
                where=str(path),
            )
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


def pivot_long(
    long: pd.DataFrame,
    *,
    path: Path,
    run: str,
    group: str,
    quantity: str,
    decimal_comma: bool | None = None,
) -> pd.DataFrame:
    """Pivot a long report to groups × runs, demanding one quantity per run and group.

    Long reports repeat the group quantity on every precursor/fragment row; repeats must agree.
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
    frame[quantity] = to_float(cells, path, row_name="", decimal_comma=decimal_comma)[
        quantity
    ].to_numpy()
    frame[run] = frame[run].astype(str)
    frame[group] = frame[group].astype(str)
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
    return wide.reindex(index=groups_in_order, columns=runs_in_order)


def drop_flagged(
    frame: pd.DataFrame, flagged: pd.Series, path: Path, what: str
) -> tuple[pd.DataFrame, int, list[str]]:
    """Drop flagged rows, returning the kept rows, the count and a note for ``inspect``."""
    n_flagged = int(flagged.sum())
    notes = [f"dropped {n_flagged} {what}"] if n_flagged else []
    if n_flagged:
        logger.info("%s: dropped %d %s", path, n_flagged, what)
    return frame.loc[~flagged.to_numpy()], n_flagged, notes
