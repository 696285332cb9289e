"""Quantity cells to float64: a decimal comma detected, text and infinite values refused,
naming the cell."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exostab.errors import InputError
from exostab.io.readers.messages import cell_name

_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+(?:[eE][-+]?\d+)?\s*$")

_DECIMAL_POINT = re.compile(r"\d\.\d")


def uses_decimal_comma(values: pd.Series) -> bool:
    """Tell whether text numbers use a decimal comma (``55,09``) rather than a point."""
    text = values.dropna().astype(str).head(2_000)
    if text.empty:
        return False
    return bool(text.str.match(_DECIMAL_COMMA).any()) and not bool(
        text.str.contains(_DECIMAL_POINT).any()
    )


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
    columns = list(block.columns)
    converted: dict[str, pd.Series] = {}
    text_cells: list[tuple[Any, int, Any]] = []
    for position in range(len(columns)):
        series = block.iloc[:, position]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            text = series.astype("object")
            comma = uses_decimal_comma(text) if decimal_comma is None else decimal_comma
            if comma:
                text = text.map(lambda v: v.replace(",", ".") if isinstance(v, str) else v)
            if pd.api.types.is_bool_dtype(series):
                number = pd.Series(np.nan, index=series.index)
            else:
                number = pd.to_numeric(text, errors="coerce")
            stripped = text.map(lambda v: v.strip() if isinstance(v, str) else v)
            bad = number.isna() & stripped.notna() & stripped.ne("")
            positions = np.flatnonzero(bad.to_numpy())[:3]
            text_cells.extend((series.index[i], position, series.iloc[i]) for i in positions)
            converted[str(position)] = number.astype("float64")
        else:
            converted[str(position)] = series.astype("float64")
    if text_cells:
        label, position, value = text_cells[0]
        more = f" ({len(text_cells) - 1} more)" if len(text_cells) > 1 else ""
        raise InputError(
            f"text {str(value)[:30]!r} in a number cell at "
            f"{cell_name(label, position, columns, row_name, run_name, file_columns)}{more}",
            where=str(path),
        )
    values = (
        np.column_stack([converted[str(i)].to_numpy() for i in range(len(columns))])
        if columns
        else np.empty((len(block), 0))
    )
    infinite = np.isinf(values)
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        count = int(infinite.sum())
        more = f" ({count - 1} more)" if count > 1 else ""
        raise InputError(
            f"an infinite intensity ({values[row, col]:g}) at "
            f"{cell_name(block.index[row], int(col), columns, row_name, run_name, file_columns)}"
            f"{more}",
            where=str(path),
        )
    return pd.DataFrame(values, index=block.index, columns=block.columns, dtype="float64")
