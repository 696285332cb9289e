"""DIA-NN: the ``report.pg_matrix.tsv`` matrix and the long ``report.tsv`` / ``report.parquet``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from exostab.errors import InputError
from exostab.io.naming import decoy_or_contaminant
from exostab.io.protein_matrix import ProteinMatrix, ReadOptions
from exostab.io.readers.matrix_assembly import (
    build_matrix,
    drop_flagged,
    pivot_long,
    renamed_runs,
    unique_runs,
    without_group_id,
)
from exostab.io.readers.messages import bad_cell_reason, header_only, none_left, text_in_cell
from exostab.io.readers.number_cells import cell_problem, parse_cells
from exostab.io.readers.parsing import Preview, read_table, require_columns

GROUP = "Protein.Group"
ANNOTATIONS = (
    "Protein.Group",
    "Protein.Ids",
    "Protein.Names",
    "Genes",
    "First.Protein.Description",
    "N.Sequences",
    "N.Proteotypic.Sequences",
)
LONG_RUN = "Run"
LONG_QUANTITY = "PG.MaxLFQ"
# The q-values DIA-NN documents for filtering its main report: precursor, protein group, and
# protein group in the library (match between runs).
Q_VALUES = ("Q.Value", "PG.Q.Value", "Lib.PG.Q.Value")
# Columns only a DIA-NN main report has (1.8 TSV, 1.9 and 2.x TSV or Parquet), beside Run.
LONG_MARKERS = (LONG_QUANTITY, "PG.Quantity", "Precursor.Id", "Precursor.Quantity", *Q_VALUES)
# Annotation columns of a pg_matrix: 1.8 writes Protein.Ids; 1.9 and 2.x drop it and add
# N.Sequences and N.Proteotypic.Sequences.
MATRIX_MARKERS = ANNOTATIONS[1:]


def first_pass(state: str) -> str:
    """The refusal of a first-pass main report, whose ``PG.MaxLFQ`` is ``state`` (``empty``
    or ``absent``): DIA-NN writes MaxLFQ quantities in the report of its last pass only."""
    return (
        f"PG.MaxLFQ is {state}: a first-pass report? use the final report of this DIA-NN run "
        "(only the last pass writes MaxLFQ)"
    )


def sniff_matrix(preview: Preview) -> bool:
    """Recognise a pg_matrix of DIA-NN 1.8 to 2.x: ``Protein.Group`` and a DIA-NN annotation
    column (``Protein.Ids`` in 1.8; ``Protein.Names``, ``Genes``, ``N.Sequences``... later), and
    no ``Run`` column."""
    return (
        preview.has(GROUP)
        and not preview.has(LONG_RUN)
        and any(column in preview.columns for column in MATRIX_MARKERS)
    )


def sniff_long(preview: Preview) -> bool:
    """Recognise a main report (1.8 to 2.x) by ``Run``, ``Protein.Group`` and a report column
    (``PG.MaxLFQ``, ``Precursor.Id``, a q-value...), also without ``PG.MaxLFQ`` (first pass)."""
    return preview.has(LONG_RUN, GROUP) and any(c in preview.columns for c in LONG_MARKERS)


def matrix_version(columns: list[str] | tuple[str, ...]) -> str:
    """Name the DIA-NN version a pg_matrix layout comes from (by its annotation columns)."""
    if "Protein.Ids" in columns:
        return "DIA-NN 1.8 layout (Protein.Ids)"
    if "N.Sequences" in columns:
        return "DIA-NN 1.9/2.x layout (N.Sequences, no Protein.Ids)"
    return "DIA-NN layout without Protein.Ids (1.9 or later)"


def read_matrix(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read a pg_matrix (DIA-NN 1.8 to 2.x); run columns that are file paths are stripped to
    the file stem (unless two runs then share a name)."""
    table = read_table(path, preview)
    require_columns(path, table.columns, (GROUP,))
    runs = [c for c in table.columns if c not in ANNOTATIONS]
    n_before = len(table)
    table, n_dropped, notes = drop_flagged(
        table, decoy_or_contaminant(table[GROUP]), path, "decoy/contaminant groups"
    )
    by_group = table[runs].set_axis(table[GROUP].to_numpy(), axis=0)
    by_group.columns = unique_runs(runs, path)
    file_columns = list(runs)
    return build_matrix(
        fmt="diann",
        path=path,
        by_group=by_group,
        genes=table["Genes"].tolist() if "Genes" in table else None,
        descriptions=(
            table["First.Protein.Description"].tolist()
            if "First.Protein.Description" in table
            else None
        ),
        n_groups_before=n_before,
        n_dropped=n_dropped,
        notes=[
            f"quantity: pg_matrix (MaxLFQ); {matrix_version(list(table.columns))}",
            *notes,
        ],
        file_columns=file_columns,
        scale=scale,
    )


@dataclass(frozen=True)
class QValueFilter:
    """What the q-value filter (``filter_q_values``) kept and refused.

    Attributes:
        table: the kept report rows (every row of a refused run is kept, to be named).
        note: what was filtered (None when the report holds no q-value column).
        refused: run -> why it was refused: text in one of its q-value cells
            (``bad_cell_reason``), as ``pivot_long`` refuses a run for text in its quantity.
        refusal: the whole file's refusal for its first such cell (None when none).
    """

    table: pd.DataFrame
    note: str | None = None
    refused: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None


def filter_q_values(table: pd.DataFrame, path: Path, q_value: float) -> QValueFilter:
    """Keep the report rows whose every documented q-value (``Q_VALUES``) is <= ``q_value``.

    Q-value columns the report does not hold are skipped; an empty q-value cell does not drop
    its row. A run with text in a q-value cell cannot be filtered: it is refused as that run
    (its rows kept for ``pivot_long`` to leave out and name), as a run with text in its
    quantity is. Source of the rule: DIA-NN's README (main report: filter on Q.Value,
    PG.Q.Value and, with match between runs, Lib.PG.Q.Value; 0.01 by default).
    """
    present = [column for column in Q_VALUES if column in table.columns]
    if not present or q_value >= 1.0:
        return QValueFilter(table)
    pairs = zip(table[LONG_RUN], table[GROUP], strict=True)
    cells = table[present].set_axis([f"run {r!r}, protein group {g!r}" for r, g in pairs], axis=0)
    values, text = parse_cells(cells)
    # a row the reader drops anyway (no group id, a decoy or contaminant) refuses no run
    groups = table[GROUP]
    dropped = without_group_id(groups) | decoy_or_contaminant(groups.astype(str)).to_numpy()
    text &= ~dropped[:, None]
    refused: dict[str, str] = {}
    for row, position in zip(*np.nonzero(text), strict=True):  # row by row, first cell first
        run = str(table[LONG_RUN].iat[row])
        if run not in refused:
            what = text_in_cell(cells.iat[row, position])
            refused[run] = bad_cell_reason(
                what, table[GROUP].iat[row], "protein group", present[position]
            )
    in_refused_run = table[LONG_RUN].astype(str).isin(refused).to_numpy()
    keep = ~(values > q_value).any(axis=1) | in_refused_run
    note = (
        f"q-value filter <= {q_value:g} on {', '.join(present)}: kept "
        f"{int((keep & ~in_refused_run).sum())} of {len(table)} report rows"
    )
    refusal = cell_problem(cells, values, text, row_name="") if refused else None
    return QValueFilter(table.loc[keep], note, refused, refusal)


def read_long(
    path: Path, preview: Preview, scale: str = "raw", options: ReadOptions | None = None
) -> ProteinMatrix:
    """Read a main report (1.8 TSV; 1.9/2.x TSV or Parquet): one ``PG.MaxLFQ`` per ``Run``
    and ``Protein.Group``, after the q-value filter (``ReadOptions.q_value``, 0.01).

    Raises:
        InputError: a header without rows (said as every reader says it, ``header_only``);
            a first-pass report (``PG.MaxLFQ`` absent, or empty in every row); no row passing
            the q-value filter; or a bad cell.
    """
    options = options or ReadOptions()
    wanted = [LONG_RUN, GROUP, LONG_QUANTITY, "Genes", "First.Protein.Description", *Q_VALUES]
    usecols = [c for c in wanted if c in preview.columns] if preview.columns else None
    table = read_table(path, preview, usecols=usecols)
    if {LONG_RUN, GROUP} <= set(table.columns):
        if table.empty:  # before the first-pass test: a header has no quantity to judge
            raise header_only(path)
        if LONG_QUANTITY not in table.columns:
            raise InputError(first_pass("absent"), where=str(path))
    require_columns(path, table.columns, (LONG_RUN, GROUP, LONG_QUANTITY))
    quantity = pd.to_numeric(table[LONG_QUANTITY], errors="coerce")
    if not (quantity > 0).any() and not table[LONG_QUANTITY].map(_is_text).any():
        raise InputError(first_pass("empty"), where=str(path))
    n_rows = len(table)
    kept = filter_q_values(table, path, options.q_value)
    table = kept.table
    if table.empty:
        filtered = ", ".join(c for c in Q_VALUES if c in table.columns)
        raise InputError(
            f"none of its {n_rows} report rows passes the q-value filter (<= "
            f"{options.q_value:g} on {filtered})",
            where=str(path),
        )
    matrix = from_long(
        table,
        path=path,
        fmt="diann_long",
        run=LONG_RUN,
        group=GROUP,
        quantity=LONG_QUANTITY,
        gene="Genes",
        description="First.Protein.Description",
        scale=scale,
        refused=kept.refused,
        refusal=kept.refusal,
    )
    return replace(matrix, notes=(*matrix.notes, kept.note)) if kept.note else matrix


def _is_text(value: object) -> bool:
    """A cell holding text that is not a number (its run refused later, naming the cell)."""
    if not isinstance(value, str) or not value.strip():
        return False
    return bool(pd.isna(pd.to_numeric(value.replace(",", "."), errors="coerce")))


def from_long(
    table: pd.DataFrame,
    *,
    path: Path,
    fmt: str,
    run: str,
    group: str,
    quantity: str,
    gene: str | None = None,
    description: str | None = None,
    decimal_comma: bool | None = None,
    scale: str = "raw",
    refused: dict[str, str] | None = None,
    refusal: str | None = None,
) -> ProteinMatrix:
    """Pivot any long report to a ProteinMatrix (shared by DIA-NN and Spectronaut).

    The caller refuses a report without rows (``header_only``) before its own filters.

    A run with a bad cell (text, an infinite or negative raw value) is refused as that run
    (``ProteinMatrix.refused_runs``), its other rows unused; the other runs are read.
    ``refused`` and ``refusal``: runs the caller refused already (``QValueFilter``).

    Raises:
        InputError: every group a decoy or contaminant (``none_left``), no row with both a
            run and a group, or every run refused for a bad cell (see ``pivot_long`` and
            ``build_matrix``).
    """
    table = table[table[group].notna()]
    groups = table[group].astype(str)
    n_before = int(groups.nunique())
    flagged_groups = set(groups[decoy_or_contaminant(groups).to_numpy()])
    notes = [f"quantity: {quantity}"]
    if flagged_groups:
        table = table[~groups.isin(flagged_groups).to_numpy()]
        notes.append(f"dropped {len(flagged_groups)} decoy/contaminant groups")
        if table.empty:
            raise none_left(path, n_before)
    pivot = pivot_long(
        table,
        path=path,
        run=run,
        group=group,
        quantity=quantity,
        decimal_comma=decimal_comma,
        scale=scale,
        refused=refused,
        refusal=refusal,
    )
    pivot = renamed_runs(pivot, unique_runs([str(c) for c in pivot.by_group.columns], path))
    by_group = pivot.by_group
    first = table.assign(**{group: table[group].astype(str)}).groupby(group, sort=False).first()
    return build_matrix(
        fmt=fmt,
        path=path,
        by_group=by_group,
        genes=first[gene].reindex(by_group.index).tolist() if gene and gene in first else None,
        descriptions=(
            first[description].reindex(by_group.index).tolist()
            if description and description in first
            else None
        ),
        n_groups_before=n_before,
        n_dropped=len(flagged_groups),
        notes=notes,
        scale=scale,
        quantity=quantity,
        refused=pivot.refused,
        refusal=pivot.refusal,
    )
