"""Generic wide and long protein tables (CSV, TSV, Parquet, XLSX) and the lot sheet."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exostab.config import METADATA_COLUMNS, NUMERIC_METADATA, Vocabulary
from exostab.errors import InputError
from exostab.readers.base import ProteinMatrix
from exostab.readers.common import (
    Preview,
    build_matrix,
    drop_blank_rows_and_columns,
    encoding_name,
    listed,
    name_annotations,
    peek,
    pivot_long,
    read_parquet,
    read_text,
    require_columns,
    unnamed,
)
from exostab.schemas import LOT_ID, split_lot_sheet, validate_lot_sheet

logger = logging.getLogger(__name__)

ID_COLUMNS = (LOT_ID, "run")
LONG_COLUMNS = ("protein", "intensity")
NOT_PROTEINS = frozenset((*METADATA_COLUMNS, *NUMERIC_METADATA, "label", "unstable"))


def find_id_column(columns: tuple[str, ...] | list[str]) -> str | None:
    return next((c for c in ID_COLUMNS if c in columns), None)


def sniff_long(preview: Preview) -> bool:
    """Recognise a long table: ``lot_id`` (or ``run``), ``protein`` and ``intensity``."""
    return find_id_column(preview.columns) is not None and preview.has(*LONG_COLUMNS)


def sniff_wide(preview: Preview) -> bool:
    """Recognise a wide table: a ``lot_id`` (or ``run``) column plus protein columns."""
    return find_id_column(preview.columns) is not None and not preview.has(*LONG_COLUMNS)


def read_raw(path: Path, preview: Preview, *, numeric: bool = False) -> pd.DataFrame:
    """Read a table keeping header names exactly as written (no de-duplication), cells as text.

    With ``numeric=True`` (wide tables) pandas parses number columns itself and only the id
    column and columns holding text stay as text: per-cell conversion of thousands of protein
    columns costs seconds.

    Raises:
        InputError: duplicate column names, or a parse failure.
    """
    if preview.kind == "parquet":
        frame = read_parquet(path)
        header = list(frame.columns)
    elif preview.kind == "excel":
        try:
            frame = pd.read_excel(path, sheet_name=0, header=None, dtype=object, engine="openpyxl")
        except Exception as error:  # openpyxl raises many types on bad workbooks
            raise InputError(f"unreadable Excel workbook ({error})", where=str(path)) from None
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
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise InputError(f"duplicate column(s) {listed(duplicated)}", where=str(path))
    frame.columns = header
    return frame


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


def read_wide(path: Path, preview: Preview) -> ProteinMatrix:
    """Read a wide table: one row per lot (``lot_id`` or ``run``), one column per protein."""
    frame = read_raw(path, preview, numeric=True)
    id_column = find_id_column(list(frame.columns))
    if id_column is None:
        require_columns(path, frame.columns, (LOT_ID,))
        raise AssertionError  # pragma: no cover - require_columns raised
    if frame.shape[1] < 2:
        raise InputError(
            "has only one column: is the delimiter right? (expected lot_id + protein columns)",
            where=str(path),
        )
    skipped = [
        c for c in frame.columns if c in NOT_PROTEINS or (c in ID_COLUMNS and c != id_column)
    ]
    proteins = [c for c in frame.columns if c != id_column and c not in skipped]
    if not proteins:
        raise InputError("has no protein columns beside the lot id", where=str(path))
    annotations = name_annotations(path, proteins, "column(s)")
    runs = _lot_ids(frame, id_column, path)
    block = frame[proteins].set_axis(runs, axis=0)
    notes = [f"ignored metadata column(s) {listed(skipped)}"] if skipped else []
    return build_matrix(
        fmt="wide",
        path=path,
        by_group=block.T,
        proteins=annotations,
        n_groups_before=len(proteins),
        notes=notes,
        row_name="protein",
        run_name=id_column.replace("_id", ""),
    )


def read_long(path: Path, preview: Preview) -> ProteinMatrix:
    """Read a long table: ``lot_id`` (or ``run``), ``protein``, ``intensity`` per row."""
    frame = read_raw(path, preview)
    id_column = find_id_column(list(frame.columns))
    require_columns(path, frame.columns, (id_column or LOT_ID, *LONG_COLUMNS))
    assert id_column is not None
    frame = frame.assign(**{id_column: frame[id_column].map(cell_text)})
    missing_id = frame[id_column].isna()
    if missing_id.any():
        rows = [int(i) + 2 for i in frame.index[missing_id]]
        raise InputError(f"empty {id_column} in row(s) {listed(rows)}", where=str(path))
    frame = frame.assign(protein=frame["protein"].map(cell_text))
    by_group = pivot_long(frame, path=path, run=id_column, group="protein", quantity="intensity")
    annotations = name_annotations(path, [str(p) for p in by_group.index], "protein(s)")
    return build_matrix(
        fmt="long",
        path=path,
        by_group=by_group,
        proteins=annotations,
        n_groups_before=len(by_group),
        row_name="protein",
        run_name=id_column.replace("_id", ""),
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
        return drop_blank_rows_and_columns(read_raw(path, preview)), False
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
) -> pd.DataFrame:
    """Read and validate a lot sheet (CSV, TSV, Parquet or XLSX) as people type it.

    Text cells are trimmed, blank rows and unnamed empty columns ignored, category spellings
    mapped through the vocabulary (values it does not know are kept, with one warning),
    ``P5`` read as passage 5, and ``44,0`` as 44.0 in a ``;`` or tab separated sheet.

    Args:
        label: the label column (required, 0/1).
        group: the CV group column (``donor_id`` for training): an empty cell is a problem.
        vocabulary: category spellings (default ``configs/vocabulary.yaml``).

    Returns:
        A frame indexed by unique ``lot_id`` (str) with ``passage`` int64 >= 0, numeric metadata
        float64, other known metadata as text, unknown columns kept; ``label`` (when given) int64
        in {0, 1}.

    Raises:
        InputError: unreadable file, missing ``lot_id``/``passage``/label column, or a table of
            contract breaches grouped by lot.
    """
    sheet, decimal_comma = _read_sheet(path)
    validated = validate_lot_sheet(
        sheet,
        label=label,
        group=group,
        source=str(path),
        vocabulary=vocabulary,
        decimal_comma=decimal_comma,
    )
    logger.info("read lot sheet %s: %d lots", path, len(validated))
    return validated


def read_lot_sheet_lenient(
    path: Path, *, label: str | None = None, vocabulary: Vocabulary | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a lot sheet, quarantining bad rows instead of failing (used by batch scoring).

    Cells are read as in ``read_lot_sheet``. Duplicate lot ids, text in a number column or an
    invalid passage put the row in quarantine; a missing ``lot_id`` or ``passage`` column is
    still fatal. A category outside the vocabulary is kept (the model treats a category it
    never saw as missing and says so in its ``warning`` column).

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
    )
