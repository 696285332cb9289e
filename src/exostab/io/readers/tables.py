"""Generic wide and long protein tables (CSV, TSV, Parquet, XLSX) and the lot sheet."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exostab.config import METADATA_COLUMNS, NUMERIC_METADATA, Vocabulary
from exostab.errors import InputError
from exostab.io.lot_sheet_cells import LOT_ID, header_key
from exostab.io.lot_sheet_contract import split_lot_sheet, validate_lot_sheet
from exostab.io.naming import decoy_or_contaminant, is_unnamed
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers.matrix_assembly import build_matrix, pivot_long
from exostab.io.readers.messages import header_only, listed, none_left
from exostab.io.readers.parsing import (
    EXCEL_NOT_AVAILABLE,
    Preview,
    drop_blank_rows_and_columns,
    encoding_name,
    peek,
    read_parquet,
    read_text,
    require_columns,
    unnamed,
    unnamed_label,
    with_excel_errors,
)

logger = logging.getLogger(__name__)

ID_COLUMNS = (LOT_ID, "run")
LONG_COLUMNS = ("protein", "intensity")
NOT_PROTEINS = frozenset((*METADATA_COLUMNS, *NUMERIC_METADATA, "label", "unstable"))


def find_id_column(columns: tuple[str, ...] | list[str]) -> str | None:
    """The header naming each row's lot (or run): ``lot_id`` or ``run`` as written, else a
    header that means ``lot_id`` as the lot sheet's headers are read (``LOT_ID``, ``Lot ID``:
    ``header_key``), so a protein table takes the lot-id spellings its lot sheet takes."""
    exact = next((c for c in ID_COLUMNS if c in columns), None)
    if exact is not None:
        return exact
    # Only the lot id by its spellings: a capitalised ``Run`` beside ``Protein`` and
    # ``Intensity`` is a long table exostab does not read, not a wide table keyed by run.
    return next((c for c in columns if header_key(c) == header_key(LOT_ID)), None)


def sniff_long(preview: Preview) -> bool:
    """Recognise a long table: ``lot_id`` (or ``run``), ``protein`` and ``intensity``."""
    return find_id_column(preview.columns) is not None and preview.has(*LONG_COLUMNS)


def sniff_wide(preview: Preview) -> bool:
    """Recognise a wide table: a ``lot_id`` (or ``run``) column plus protein columns."""
    return find_id_column(preview.columns) is not None and not preview.has(*LONG_COLUMNS)


def read_excel_merged(path: Path) -> pd.DataFrame:
    """Read the first worksheet's cells, a merged range's value on every cell it spans.

    Excel shows a merged range (one donor over several rows) as one value; openpyxl gives it
    to the top-left cell only and leaves the others empty. Each range is filled with its value
    and one note names the ranges (``B2:B8``).

    Returns:
        rows × columns of cells as stored (header row included), dtype object.

    Raises:
        InputError: an unreadable workbook.
    """
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, data_only=True)
    except Exception as error:  # openpyxl raises many types on bad workbooks
        raise InputError(f"unreadable Excel workbook ({error})", where=str(path)) from None
    sheet = workbook.worksheets[0]
    ranges = sorted(sheet.merged_cells.ranges, key=lambda m: (m.min_col, m.min_row))
    # An error cell's value is its error (``#DIV/0!``: text, refused as such); ``#N/A`` is
    # missing, as pandas reads it (``excel_error_cells``).
    cells = [
        [
            None if cell.data_type == "e" and cell.value == EXCEL_NOT_AVAILABLE else cell.value
            for cell in row
        ]
        for row in sheet.iter_rows()
    ]
    for merged in ranges:
        value = cells[merged.min_row - 1][merged.min_col - 1]
        for row in range(merged.min_row - 1, merged.max_row):
            for column in range(merged.min_col - 1, merged.max_col):
                cells[row][column] = value
    spanning = [m for m in ranges if m.max_row > max(m.min_row, 1)]
    if spanning:
        logger.warning(
            "%s: %d merged cell range(s) read as the value they show on every row they span (%s)",
            path,
            len(spanning),
            listed([m.coord for m in spanning]),
        )
    workbook.close()
    return pd.DataFrame(cells, dtype=object)


def read_raw(
    path: Path, preview: Preview, *, numeric: bool = False, fill_merged: bool = False
) -> pd.DataFrame:
    """Read a table keeping header names exactly as written (no de-duplication), cells as text.

    With ``numeric=True`` (wide tables) pandas parses number columns itself and only the id
    column and columns holding text stay as text: per-cell conversion of thousands of protein
    columns costs seconds. With ``fill_merged`` (a lot sheet) merged XLSX cells are read as
    the value they show on every row they span (``read_excel_merged``).

    Raises:
        InputError: duplicate column names, or a parse failure.
    """
    if preview.kind == "parquet":
        frame = read_parquet(path)
        header = list(frame.columns)
    elif preview.kind == "excel":
        if fill_merged:
            frame = read_excel_merged(path)
        else:
            try:
                frame = pd.read_excel(
                    path, sheet_name=0, header=None, dtype=object, engine="openpyxl"
                )
            except Exception as error:  # openpyxl raises many types on bad workbooks
                raise InputError(f"unreadable Excel workbook ({error})", where=str(path)) from None
            frame = with_excel_errors(frame, path, header_rows=0)
        if frame.empty:
            raise InputError("is empty", where=str(path))
        header = ["" if pd.isna(v) else str(v).strip() for v in frame.iloc[0]]
        frame = frame.iloc[1:].reset_index(drop=True)
    else:
        id_column = find_id_column(list(preview.columns))
        dtype: dict[str, Any] | type = (
            {id_column: object} if numeric and id_column is not None else object
        )
        frame = read_text(path, delimiter=preview.delimiter or ",", dtype=dtype)
        header = list(preview.columns)
        if len(header) != frame.shape[1]:  # pragma: no cover - guarded by the field count check
            raise InputError("header and rows disagree in width", where=str(path))
    frame, header = _without_empty_unnamed(frame, header)
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise InputError(f"duplicate column(s) {listed(duplicated)}", where=str(path))
    frame.columns = header
    return frame


def _blank(column: pd.Series) -> bool:
    text = column.astype("object")
    return bool(text.map(lambda v: v is None or pd.isna(v) or not str(v).strip()).all())


def _without_empty_unnamed(
    frame: pd.DataFrame, header: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Drop columns with no header name and no value (Excel's trailing commas).

    A column with no name that does hold values is kept under ``(unnamed column N)``, so the
    caller can name it in a message.
    """
    keep, names = [], []
    for position, name in enumerate(header):
        if is_unnamed(name):
            if _blank(frame.iloc[:, position]):
                continue
            name = unnamed_label(position)
        keep.append(position)
        names.append(name)
    if len(keep) < len(header):
        logger.info("ignored %d empty column(s) with no name", len(header) - len(keep))
    return frame.iloc[:, keep], names


def _lot_ids(frame: pd.DataFrame, column: str, path: Path) -> pd.Index:
    ids = frame[column].map(cell_text)
    empty = ids.isna()
    if empty.any():
        rows = [int(i) + 2 for i in ids.index[empty]]
        raise InputError(f"empty {column} in row(s) {listed(rows)}", where=str(path))
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise InputError(f"duplicate {column}(s) {listed(duplicated)}", where=str(path))
    return pd.Index(ids.astype(str).to_list(), dtype="object", name="run")


def cell_text(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or np.nan


@dataclass(frozen=True)
class WideLayout:
    """What each column of a wide table is.

    Attributes:
        id_column: ``lot_id`` (or ``run``).
        proteins: protein columns kept, in file order.
        metadata: lot-sheet columns ignored (passage, donor_id, ...).
        flagged: protein columns dropped by the decoy/contaminant rule.
    """

    id_column: str
    proteins: list[str]
    metadata: list[str]
    flagged: list[str]

    def notes(self) -> list[str]:
        notes = [f"ignored metadata column(s) {listed(self.metadata)}"] if self.metadata else []
        if self.flagged:
            notes.append(
                f"dropped {len(self.flagged)} decoy/contaminant group(s): {listed(self.flagged)}"
            )
        return notes


def wide_layout(path: Path, columns: list[str]) -> WideLayout:
    """Sort the columns of a wide table into lot id, proteins, metadata and flagged groups.

    Raises:
        InputError: no lot id column, a column with values but no name, or no protein column.
    """
    id_column = find_id_column(columns)
    if id_column is None:
        require_columns(path, columns, (LOT_ID,))
        raise AssertionError  # pragma: no cover - require_columns raised
    if len(columns) < 2:
        raise InputError(
            "has only one column: is the delimiter right? (expected lot_id + protein columns)",
            where=str(path),
        )
    nameless = [c for c in columns if unnamed(c)]
    if nameless:
        raise InputError(
            f"{listed(nameless)} hold values but have no header name: name or delete them",
            where=str(path),
        )
    # Lot-sheet columns are no proteins under any spelling the lot sheet takes (``Passage``).
    not_proteins = {header_key(name) for name in (*NOT_PROTEINS, *ID_COLUMNS)}
    metadata = [c for c in columns if c != id_column and header_key(c) in not_proteins]
    candidates = [c for c in columns if c != id_column and c not in metadata]
    flagged_mask = decoy_or_contaminant(pd.Series(candidates, dtype="object")).to_numpy()
    flagged = [c for c, bad in zip(candidates, flagged_mask, strict=True) if bad]
    proteins = [c for c, bad in zip(candidates, flagged_mask, strict=True) if not bad]
    if not proteins:
        what = "only decoy/contaminant columns" if flagged else "no protein columns"
        raise InputError(f"has {what} beside the lot id", where=str(path))
    if flagged:
        logger.info("%s: dropped %d decoy/contaminant column(s)", path, len(flagged))
    return WideLayout(id_column, proteins, metadata, flagged)


def _without_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows with no value in any cell (Excel's rows of commas)."""
    # A copy: pandas 3 may hand a read-only view, and the mask is changed in place below.
    filled = np.array(frame.notna().to_numpy(), dtype=bool)
    for j, kind in enumerate(frame.dtypes):
        if not pd.api.types.is_numeric_dtype(kind):
            column = frame.iloc[:, j]
            filled[:, j] &= column.astype(str).str.strip().ne("").to_numpy()
    blank = ~filled.any(axis=1)
    if blank.any():
        logger.info("ignored %d blank row(s)", int(blank.sum()))
    return frame.iloc[np.flatnonzero(~blank)]


def read_wide(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read a wide table: one row per lot (``lot_id`` or ``run``), one column per protein.

    Every non-empty column name is a protein (see ``naming.parse_protein_name``); columns
    with a decoy/contaminant member are dropped and counted; blank rows and nameless empty
    columns are ignored.
    """
    frame = read_raw(path, preview, numeric=True)
    layout = wide_layout(path, list(frame.columns))
    frame = _without_blank_rows(frame)
    runs = _lot_ids(frame, layout.id_column, path)
    block = frame[layout.proteins].set_axis(runs, axis=0)
    return build_matrix(
        fmt="wide",
        path=path,
        by_group=block.T,
        names_only=True,
        n_groups_before=len(layout.proteins) + len(layout.flagged),
        n_dropped=len(layout.flagged),
        notes=layout.notes(),
        row_name="column",
        run_name=layout.id_column.replace("_id", ""),
        scale=scale,
    )


def read_long(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read a long table: ``lot_id`` (or ``run``), ``protein``, ``intensity`` per row.

    A run (lot) with a bad intensity cell is refused as that run, as a wide table's row is
    (``pivot_long``, ``build_matrix``); the other runs are read.
    """
    frame = read_raw(path, preview)
    id_column = find_id_column(list(frame.columns))
    require_columns(path, frame.columns, (id_column or LOT_ID, *LONG_COLUMNS))
    assert id_column is not None
    frame = _without_blank_rows(frame)
    if frame.empty:
        raise header_only(path)
    frame = frame.assign(**{id_column: frame[id_column].map(cell_text)})
    missing_id = frame[id_column].isna()
    if missing_id.any():
        rows = [int(i) + 2 for i in frame.index[missing_id]]
        raise InputError(f"empty {id_column} in row(s) {listed(rows)}", where=str(path))
    frame = frame.assign(protein=frame["protein"].map(cell_text))
    groups = frame["protein"].dropna().astype(str)
    n_before = int(groups.nunique())
    flagged = set(groups[decoy_or_contaminant(groups).to_numpy()])
    notes = [f"dropped {len(flagged)} decoy/contaminant group(s)"] if flagged else []
    frame = frame[~frame["protein"].isin(flagged).to_numpy()]
    if flagged and frame["protein"].notna().sum() == 0:
        raise none_left(path, n_before)
    pivot = pivot_long(
        frame,
        path=path,
        run=id_column,
        group="protein",
        quantity="intensity",
        kind="protein",
        scale=scale,
    )
    return build_matrix(
        fmt="long",
        path=path,
        by_group=pivot.by_group,
        quantity="intensity",
        refused=pivot.refused,
        refusal=pivot.refusal,
        names_only=True,
        n_groups_before=n_before,
        n_dropped=len(flagged),
        notes=notes,
        row_name="protein",
        run_name=id_column.replace("_id", ""),
        scale=scale,
    )


def _read_sheet(path: Path) -> tuple[pd.DataFrame, bool]:
    """Read a lot sheet's cells as text (numbers typed only in Parquet/XLSX), blanks dropped.

    Returns:
        (rows × columns, whether numbers may use a decimal comma: a ``;`` or tab separated
        text sheet, where a comma cannot be a field separator).
    """
    path = Path(path)
    preview = peek(path)
    if preview.kind == "parquet":
        return drop_blank_rows_and_columns(read_parquet(path)), False
    if preview.kind == "excel":
        return drop_blank_rows_and_columns(read_raw(path, preview, fill_merged=True)), False
    if len(preview.columns) < 2:
        raise InputError(
            "lot sheet has only one column: is the delimiter right? "
            "(expected lot_id, passage, ...)",
            where=str(path),
        )
    sheet = drop_blank_rows_and_columns(read_raw(path, preview))
    unnamed_columns = [i + 1 for i, c in enumerate(sheet.columns) if unnamed(c)]
    if unnamed_columns:
        raise InputError(
            f"lot sheet has value(s) under a column with no header (column(s) "
            f"{listed(unnamed_columns)}): name the column or delete its values",
            where=str(path),
        )
    if preview.encoding not in ("utf-8", "utf-8-sig"):
        logger.info("%s: lot sheet read as %s text", path, encoding_name(preview.encoding))
    return sheet, preview.delimiter in (";", "\t")


def read_lot_sheet(
    path: Path,
    *,
    label: str | None = None,
    group: str | None = None,
    vocabulary: Vocabulary | None = None,
    dates: tuple[str, ...] = (),
    dayfirst: bool = False,
) -> pd.DataFrame:
    """Read and validate a lot sheet (CSV, TSV, Parquet or XLSX) as people type it.

    Text cells are trimmed, blank rows and unnamed empty columns ignored, category spellings
    mapped through the vocabulary (values it does not know are kept, with one warning),
    ``P5`` read as passage 5, and ``44,0`` as 44.0 in a ``;`` or tab separated sheet.

    Args:
        label: the label column (required, 0/1).
        group: the CV group column (``donor_id`` for training): an empty cell is a problem.
        vocabulary: category spellings (default ``configs/vocabulary.yaml``).
        dates: time columns (``cv.time_column``): ISO dates, or ``dd/mm/yyyy`` with
            ``dayfirst``; an ambiguous or impossible date is a problem naming lot, row, value.
        dayfirst: read ``dd/mm/yyyy`` in ``dates``.

    Returns:
        A frame indexed by unique ``lot_id`` (str) with ``passage`` int64 >= 0, numeric metadata
        float64, other known metadata as text, unknown columns kept; ``label`` (when given) int64
        in {0, 1}.

    Raises:
        InputError: unreadable file, no lot in it, missing ``lot_id``/``passage``/label column,
            or a table of contract breaches grouped by lot.
    """
    sheet, decimal_comma = _read_sheet(path)
    validated = validate_lot_sheet(
        sheet,
        label=label,
        group=group,
        source=str(path),
        vocabulary=vocabulary,
        decimal_comma=decimal_comma,
        dates=dates,
        dayfirst=dayfirst,
    )
    if validated.empty:
        raise InputError("the lot sheet holds no lot (a header without rows?)", where=str(path))
    logger.info("read lot sheet %s: %d lots", path, len(validated))
    return validated


def read_lot_sheet_lenient(
    path: Path,
    *,
    label: str | None = None,
    vocabulary: Vocabulary | None = None,
    dates: tuple[str, ...] = (),
    dayfirst: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a lot sheet, quarantining bad rows instead of failing (used by batch scoring).

    Cells are read as in ``read_lot_sheet``. Duplicate lot ids, text in a number column or an
    invalid passage put the row in quarantine; a missing ``lot_id`` or ``passage`` column is
    still fatal. A category outside the vocabulary is kept (the model treats a category it
    never saw as missing and says so in its ``warning`` column). Date columns (``dates``) are
    read as in ``read_lot_sheet``; an ambiguous or impossible date is fatal (the rule is
    wrong, not the lot), naming lot, row and value.

    Returns:
        (good lots typed as in ``read_lot_sheet``, quarantined rows with ``lot_id`` and ``reason``)
    """
    sheet, decimal_comma = _read_sheet(path)
    return split_lot_sheet(
        sheet,
        label=label,
        source=str(path),
        vocabulary=vocabulary,
        decimal_comma=decimal_comma,
        dates=dates,
        dayfirst=dayfirst,
    )
