"""Data contracts (pandera) for the lot sheet and the protein matrix, with readable failures.

Failures are collected lazily, grouped by lot and rendered as a short table (file, lot or row,
column, problem) inside one ``InputError``, so a user sees every problem at once without a flood.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from exostab.config import METADATA_COLUMNS, NUMERIC_METADATA
from exostab.errors import InputError
from exostab.readers.base import ProteinMatrix

logger = logging.getLogger(__name__)

LOT_ID = "lot_id"
PASSAGE = "passage"
KNOWN_CATEGORIES: dict[str, tuple[str, ...]] = {
    "tissue_source": ("BM", "UC", "AT"),
    "medium": ("hPL", "FBS", "serum_free"),
}
TEXT_METADATA = tuple(c for c in METADATA_COLUMNS if c not in NUMERIC_METADATA)
MAX_SHOWN = 10
PROBLEM_COLUMNS = ("lot_id", "column", "problem")


def _whole_number(series: pd.Series) -> pd.Series:
    return series.isna() | (series % 1 == 0)


def _not_blank(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().ne("")


def lot_sheet_schema(label: str | None = None) -> pa.DataFrameSchema:
    """Build the lot-sheet contract for a frame with ``lot_id`` as a column and numbers as float."""
    columns: dict[str, pa.Column] = {
        LOT_ID: pa.Column(
            None,
            nullable=False,
            unique=True,
            checks=pa.Check(_not_blank, error="empty lot_id"),
        ),
        PASSAGE: pa.Column(
            "float64",
            nullable=False,
            checks=[
                pa.Check.ge(0, error="passage must be >= 0"),
                pa.Check(_whole_number, error="passage must be a whole number"),
            ],
        ),
    }
    for name in NUMERIC_METADATA:
        if name != PASSAGE:
            columns[name] = pa.Column(
                "float64",
                nullable=True,
                required=False,
                checks=[
                    pa.Check.ge(0, error=f"{name} must be >= 0"),
                    pa.Check(lambda s: ~np.isinf(s), error=f"{name} must be finite"),
                ],
            )
    for name, allowed in KNOWN_CATEGORIES.items():
        columns[name] = pa.Column(
            None,
            nullable=True,
            required=False,
            checks=pa.Check.isin(
                list(allowed), error=f"unknown {name} (expected {', '.join(allowed)})"
            ),
        )
    if label is not None:
        columns[label] = pa.Column(
            "float64",
            nullable=False,
            checks=pa.Check.isin([0.0, 1.0], error=f"{label} must be 0 or 1"),
        )
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _problem(check: Any, failure: Any, column: str) -> str:
    check = str(check)
    if check == "not_nullable":
        return f"missing {column}"
    if check == "field_uniqueness":
        return f"duplicate lot_id {failure!r}"
    if check.startswith("isin"):
        return f"{column} must be one of the allowed values, got {failure!r}"
    return f"{check} (got {failure!r})"


def _coerce_numbers(
    sheet: pd.DataFrame, names: list[str]
) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Turn numeric columns to float64, returning (frame, [(row, column, problem)]) for text."""
    sheet = sheet.copy()
    problems: list[tuple[int, str, str]] = []
    for name in names:
        if name not in sheet:
            continue
        raw = sheet[name]
        if pd.api.types.is_bool_dtype(raw):
            sheet[name] = raw.astype("float64")
            continue
        text = raw.astype("object")
        text = text.map(lambda v: v.strip() if isinstance(v, str) else v)
        text = text.map(lambda v: np.nan if isinstance(v, str) and not v else v)
        lowered = text.map(lambda v: v.lower() if isinstance(v, str) else v)
        text = text.where(~lowered.isin(["true", "false"]), lowered.eq("true").astype(float))
        number = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = number.isna() & text.notna()
        problems.extend((int(row), name, f"not a number: {text[row]!r}") for row in bad[bad].index)
        sheet[name] = number
    return sheet, problems


def _problem_rows(sheet: pd.DataFrame, *, label: str | None) -> pd.DataFrame:
    """Every problem of a lot sheet (with ``lot_id`` as a column): row, lot_id, column, problem."""
    sheet = sheet.reset_index(drop=True)
    numbers = [c for c in (*NUMERIC_METADATA, *([label] if label else [])) if c in sheet]
    coerced, problems = _coerce_numbers(sheet, numbers)
    for name in KNOWN_CATEGORIES:
        if name in coerced:
            coerced[name] = coerced[name].astype("object").where(coerced[name].notna(), None)
    bad_cells = {(row, column) for row, column, _ in problems}
    try:
        lot_sheet_schema(label).validate(coerced, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        for case in cases.itertuples(index=False):
            row = getattr(case, "index", None)
            column = str(case.column)
            if row is None or pd.isna(row):
                continue
            if (int(row), column) in bad_cells and str(case.check) == "not_nullable":
                continue  # already reported as text in a number cell
            problems.append((int(row), column, _problem(case.check, case.failure_case, column)))
    except SchemaError as error:  # pragma: no cover - lazy=True collects into SchemaErrors
        problems.append((0, "", str(error)))
    ids = sheet[LOT_ID] if LOT_ID in sheet else pd.Series(np.nan, index=sheet.index)
    rows = [
        {
            "row": row,
            "lot_id": ids.iloc[row] if _present(ids.iloc[row]) else f"(row {row + 2})",
            "column": column,
            "problem": problem,
        }
        for row, column, problem in sorted(set(problems))
    ]
    return pd.DataFrame(rows, columns=["row", "lot_id", "column", "problem"])


def _present(value: Any) -> bool:
    return not (value is None or (isinstance(value, float) and np.isnan(value))) and bool(
        str(value).strip()
    )


def require_lot_sheet_columns(
    sheet: pd.DataFrame, *, label: str | None, where: str | None = None
) -> None:
    """Raise an InputError when the sheet lacks ``lot_id``, ``passage`` or the label column."""
    required = [LOT_ID, PASSAGE, *([label] if label else [])]
    missing = [c for c in required if c not in sheet.columns]
    if missing:
        raise InputError(
            f"lot sheet is missing required column(s) {', '.join(map(repr, missing))}",
            where=where,
        )


def _as_columns(sheet: pd.DataFrame) -> pd.DataFrame:
    if LOT_ID not in sheet.columns and sheet.index.name == LOT_ID:
        return sheet.reset_index()
    return sheet


def lot_sheet_problems(sheet: pd.DataFrame, *, label: str | None) -> pd.DataFrame:
    """List the problems of each bad lot (one row per lot: lot_id, column, problem).

    Batch scoring uses this to quarantine bad lots instead of failing the whole batch.
    Columns and problems of one lot are joined with ``"; "``.

    Raises:
        InputError: the sheet lacks ``lot_id``, ``passage`` or the ``label`` column.
    """
    sheet = _as_columns(sheet)
    require_lot_sheet_columns(sheet, label=label)
    rows = _problem_rows(sheet, label=label)
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in PROBLEM_COLUMNS})
    grouped = rows.groupby("lot_id", sort=False).agg(
        column=("column", lambda s: "; ".join(dict.fromkeys(s))),
        problem=("problem", lambda s: "; ".join(dict.fromkeys(s))),
    )
    return grouped.reset_index()[list(PROBLEM_COLUMNS)]


def render_problems(problems: pd.DataFrame, *, source: str, limit: int = MAX_SHOWN) -> str:
    """Render problems (columns lot_id, column, problem) as a short aligned table."""
    shown = problems.head(limit)
    header = ("file", "lot/row", "column", "problem")
    has_row = "row" in shown.columns
    body = [
        (
            Path(source).name,
            f"{r.lot_id} (row {int(str(r.row)) + 2})" if has_row else str(r.lot_id),
            str(r.column),
            str(r.problem),
        )
        for r in shown.itertuples(index=False)
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in [header, *body]
    ]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    return "\n".join(lines)


def finish_lot_sheet(sheet: pd.DataFrame, *, label: str | None) -> pd.DataFrame:
    """Type a problem-free lot sheet: index lot_id (str), passage int64, numbers float64."""
    sheet = sheet.reset_index(drop=True).copy()
    numbers = [c for c in (*NUMERIC_METADATA, *([label] if label else [])) if c in sheet]
    sheet, _ = _coerce_numbers(sheet, numbers)
    sheet[LOT_ID] = sheet[LOT_ID].map(_text).astype("object")
    sheet[PASSAGE] = sheet[PASSAGE].astype("int64")
    if label is not None:
        sheet[label] = sheet[label].astype("int64")
    for name in TEXT_METADATA:
        if name in sheet:
            sheet[name] = sheet[name].map(_text).astype("object")
    return sheet.set_index(LOT_ID)


def _text(value: Any) -> Any:
    """Render a cell as text: integral floats without ``.0`` (Excel ids), missing stays NaN."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text if text else np.nan


def validate_lot_sheet(
    sheet: pd.DataFrame, *, label: str | None = None, source: str = "lot sheet"
) -> pd.DataFrame:
    """Check a raw lot sheet against the contract and return it typed and indexed by lot_id.

    Raises:
        InputError: listing (a short table of) every problem, grouped by lot.
    """
    sheet = _as_columns(sheet)
    require_lot_sheet_columns(sheet, label=label, where=source)
    rows = _problem_rows(sheet, label=label)
    if not rows.empty:
        n_lots = rows["lot_id"].nunique()
        raise InputError(
            f"lot sheet breaks the contract ({len(rows)} problem(s) in {n_lots} lot(s)):\n"
            + render_problems(rows, source=source),
            where=source,
        )
    return finish_lot_sheet(sheet, label=label)


def split_lot_sheet(
    sheet: pd.DataFrame, *, label: str | None = None, source: str = "lot sheet"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a raw lot sheet into good lots (typed) and quarantined rows (lot_id, reason)."""
    sheet = _as_columns(sheet).reset_index(drop=True)
    require_lot_sheet_columns(sheet, label=label, where=source)
    rows = _problem_rows(sheet, label=label)
    bad_rows = sorted(set(rows["row"].astype(int)))
    reasons = rows.groupby("row")["problem"].agg(lambda s: "; ".join(dict.fromkeys(s)))
    quarantine = pd.DataFrame(
        {
            "lot_id": [rows.loc[rows["row"] == r, "lot_id"].iloc[0] for r in bad_rows],
            "reason": [reasons[r] for r in bad_rows],
        },
        columns=["lot_id", "reason"],
    ).astype("object")
    good = finish_lot_sheet(sheet.drop(index=bad_rows), label=label)
    if bad_rows:
        logger.warning(
            "%s: quarantined %d of %d lot-sheet rows (see the quarantine table)",
            source,
            len(bad_rows),
            len(sheet),
        )
    return good, quarantine


def _bad_cells(block: pd.DataFrame, scale: str = "raw") -> np.ndarray:
    """Mask of cells that are neither NaN nor a finite number (> 0 on the raw scale)."""
    values = block.to_numpy(dtype="float64", na_value=np.nan)
    valid = np.isfinite(values) & ((values > 0) if scale == "raw" else True)
    return ~(np.isnan(values) | valid)


def _value_check(scale: str) -> pa.Check:
    if scale == "raw":
        return pa.Check(
            lambda block: not _bad_cells(block).any(),
            name="finite_positive",
            error="intensity must be finite and > 0 (NaN = missing)",
        )
    return pa.Check(
        lambda block: not _bad_cells(block, "log2").any(),
        name="finite_log2",
        error="log2 value must be finite (NaN = missing)",
    )


# One scalar check over the whole block: per-cell checks cost seconds at 500 × 5,000.
PROTEIN_MATRIX_SCHEMA = pa.DataFrameSchema(
    checks=[
        _value_check("raw"),
        pa.Check(
            lambda block: bool((block.dtypes == "float64").all()),
            name="float64",
            error="intensities must be float64",
        ),
        pa.Check(
            lambda block: bool(block.columns.is_unique),
            name="unique_groups",
            error="duplicate protein group columns",
        ),
    ],
    index=pa.Index(None, unique=True, nullable=False),
)
PROTEIN_MATRIX_SCHEMAS = {
    "raw": PROTEIN_MATRIX_SCHEMA,
    "log2": pa.DataFrameSchema(
        checks=[_value_check("log2"), *PROTEIN_MATRIX_SCHEMA.checks[1:]],
        index=PROTEIN_MATRIX_SCHEMA.index,
    ),
}


def protein_matrix_problems(matrix: ProteinMatrix) -> pd.DataFrame:
    """List contract breaches of a ProteinMatrix (lot_id/run, column, problem), one per run."""
    problems: list[dict[str, Any]] = []
    block = matrix.intensities
    try:
        PROTEIN_MATRIX_SCHEMAS[matrix.scale].validate(block, lazy=True)
    except SchemaErrors as errors:
        checks = set(errors.failure_cases["check"].astype(str))
        if any("finite" in c for c in checks):
            bad = _bad_cells(block, matrix.scale)
            runs, groups = list(block.index), list(block.columns)
            for row in np.flatnonzero(bad.any(axis=1)).tolist():
                columns = [str(groups[j]) for j in np.flatnonzero(bad[row]).tolist()]
                shown = ", ".join(columns[:3]) + (
                    f" (+{len(columns) - 3})" if len(columns) > 3 else ""
                )
                problems.append(
                    {
                        "lot_id": str(runs[row]),
                        "column": shown,
                        "problem": "intensity must be finite and > 0 (NaN = missing)"
                        if matrix.scale == "raw"
                        else "log2 value must be finite (NaN = missing)",
                    }
                )
        for check in sorted(c for c in checks if "finite" not in c):
            problems.append({"lot_id": "(all)", "column": "(index/columns)", "problem": check})
    if not matrix.proteins.index.equals(block.columns):
        problems.append(
            {
                "lot_id": "(all)",
                "column": "proteins",
                "problem": "protein annotations do not match the intensity columns",
            }
        )
    return pd.DataFrame(problems, columns=list(PROBLEM_COLUMNS))


def validate_protein_matrix(matrix: ProteinMatrix) -> ProteinMatrix:
    """Check the protein-matrix contract on the whole block at once.

    Raises:
        InputError: with a short table of the failing runs/lots and proteins.
    """
    problems = protein_matrix_problems(matrix)
    if not problems.empty:
        raise InputError(
            "protein matrix breaks the contract:\n"
            + render_problems(problems, source=str(matrix.source)),
            where=str(matrix.source),
        )
    return matrix
