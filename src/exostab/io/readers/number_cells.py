"""Quantity cells to float64: a decimal comma detected, text and infinite values refused,
naming the cell."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from exostab.errors import InputError
from exostab.io.readers.messages import cell_name

_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+(?:[eE][-+]?\d+)?\s*$")

_DECIMAL_POINT = re.compile(r"^\s*[-+]?\d*\.\d+(?:[eE][-+]?\d+)?\s*$")
# ``1,234`` could be a thousands group; ``0,523`` cannot (a group never starts the number with 0)
_THOUSANDS_ONLY = re.compile(r"^\s*[-+]?[1-9]\d{0,2}(?:,\d{3})+\s*$")
# ``2,871,852``: two groups, never a decimal comma
_THOUSANDS_GROUPS = re.compile(r"^\s*[-+]?[1-9]\d{0,2}(?:,\d{3}){2,}(?:\.\d+)?\s*$")
_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")
# a zero in any notation (``0``, ``0,0``, ``0.00``): says nothing about the separator
_ZERO = re.compile(r"^\s*[-+]?0+(?:[.,]0*)?\s*$")


def uses_decimal_comma(values: pd.Series) -> bool:
    """Tell whether text numbers use a decimal comma (``55,09``) rather than a point.

    By majority over the first 2,000 non-empty cells other than zeros (a failed run of zeros
    says nothing), so that one odd cell (``1.234,5``, ``n.d.``) neither turns the detection
    off for a decimal-comma column nor on for a decimal-point one; the odd cell is then text,
    and refused as such. Comma numbers that could all be thousands groups (``1,234``) are not
    taken for decimals when whole numbers are at least as many, and one number with two comma
    groups (``2,871,852``, an Excel ``#,##0`` export) says the commas separate thousands:
    reading ``1,234`` as 1.234 would score a lot on a value 1,000 times too small.
    """
    text = values.dropna().astype(str)
    text = text[text.str.strip().ne("") & ~text.str.match(_ZERO)].head(2_000)
    if text.empty or bool(text.str.match(_THOUSANDS_GROUPS).any()):
        return False
    comma = text.str.match(_DECIMAL_COMMA)
    n_comma = int(comma.sum())
    if n_comma == 0 or n_comma <= int(text.str.match(_DECIMAL_POINT).sum()):
        return False
    ambiguous = bool(text[comma].str.match(_THOUSANDS_ONLY).all())
    return not (ambiguous and int(text.str.match(_INTEGER).sum()) >= n_comma)


def _comma_to_point(cell: object) -> object:
    """A cell of a decimal-comma column as a decimal-point text: ``55,09`` → ``55.09``.

    A cell holding a point (``1.234``: a thousands dot; ``1.234,5``) is no number in such a
    column: it becomes ``""``, which ``pd.to_numeric`` reads as missing and the callers flag as
    text from the original cell, so it is refused, never read 1,000 times too small.
    """
    if not isinstance(cell, str):
        return cell
    return "" if "." in cell else cell.replace(",", ".")


def parse_cells(
    block: pd.DataFrame, decimal_comma: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read a block of quantity cells as numbers, marking the cells that hold text.

    Args:
        decimal_comma: numbers are written ``55,09``; None detects it column by column
            (``uses_decimal_comma``).

    Returns:
        The values (rows × columns, float64; NaN where a cell is empty or holds text) and the
        mask of cells holding text that is not a number (a yes/no cell counts as text).
    """
    n_rows, n_columns = block.shape
    values = np.full((n_rows, n_columns), np.nan)
    text = np.zeros((n_rows, n_columns), dtype=bool)
    for position in range(n_columns):
        series = block.iloc[:, position]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            cells = series.astype("object")
            comma = uses_decimal_comma(cells) if decimal_comma is None else decimal_comma
            if pd.api.types.is_bool_dtype(series):
                number = pd.Series(np.nan, index=series.index)
            else:
                number = pd.to_numeric(
                    cells.map(_comma_to_point) if comma else cells, errors="coerce"
                )
                # a yes/no cell among numbers (an XLSX TRUE) is no number: pandas reads it 1
                number = number.mask(cells.map(lambda v: isinstance(v, (bool, np.bool_))))
            stripped = cells.map(lambda v: v.strip() if isinstance(v, str) else v)
            text[:, position] = (number.isna() & stripped.notna() & stripped.ne("")).to_numpy()
            values[:, position] = number.astype("float64").to_numpy()
        else:
            values[:, position] = series.astype("float64").to_numpy()
    return values, text


def cell_problem(
    block: pd.DataFrame,
    values: np.ndarray,
    text: np.ndarray,
    *,
    row_name: str = "row",
    run_name: str | None = None,
    file_columns: Sequence[str] | None = None,
) -> str | None:
    """The refusal of a block's first bad cell (text, else an infinite value), naming it; None
    when every cell is a number or empty (``values``, ``text``: see ``parse_cells``)."""
    columns = list(block.columns)
    # The first cells of text, up to three per column, column by column.
    text_cells = [
        (block.index[row], position, block.iat[row, position])
        for position in range(len(columns))
        for row in np.flatnonzero(text[:, position])[:3]
    ]
    if text_cells:
        label, position, value = text_cells[0]
        more = f" ({len(text_cells) - 1} more)" if len(text_cells) > 1 else ""
        return (
            f"text {str(value)[:30]!r} in a number cell at "
            f"{cell_name(label, position, columns, row_name, run_name, file_columns)}{more}"
        )
    infinite = np.isinf(values)
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        count = int(infinite.sum())
        more = f" ({count - 1} more)" if count > 1 else ""
        return (
            f"an infinite intensity ({values[row, col]:g}) at "
            f"{cell_name(block.index[row], int(col), columns, row_name, run_name, file_columns)}"
            f"{more}"
        )
    return None


def to_float(
    block: pd.DataFrame,
    path: Path,
    *,
    row_name: str = "row",
    run_name: str | None = None,
    decimal_comma: bool | None = None,
    file_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Convert a block of quantity cells to float64, refusing text and infinite values.

    Empty cells become NaN; zeros and negative numbers are kept as written (what they mean
    depends on the scale, see ``build_matrix``).

    Args:
        row_name: what a row is (``protein group``); ``""`` when the row labels say it all.
        run_name: when given, the columns are runs/lots and messages name them first
            (``at lot 'L1', column 'CD9'``).
        file_columns: the file's header name of each column of ``block`` (``LFQ intensity
            S1`` for the run ``S1``), named in messages when it differs.

    Raises:
        InputError: naming the file, the row and column of the first bad cells.
    """
    values, text = parse_cells(block, decimal_comma)
    problem = cell_problem(
        block, values, text, row_name=row_name, run_name=run_name, file_columns=file_columns
    )
    if problem:
        raise InputError(problem, where=str(path))
    return pd.DataFrame(values, index=block.index, columns=block.columns, dtype="float64")
