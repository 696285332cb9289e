"""How a scoring request's cells are read before the lot-sheet rules: JSON values marked or
refused, numbers sent for categories read as their text, protein cells parsed as floats in one
block. ``ModelBundle.read_rows`` calls these for batch and HTTP input alike."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from exostab.io.lot_sheet_cells import LOT_ID, JsonValue, json_kind
from exostab.model.features import dtype_mask


def as_numbers(block: pd.DataFrame) -> np.ndarray:
    """Return a block of cells as floats, text becoming NaN.

    Number columns convert as one block; the others (text, or cells of mixed kinds as an HTTP
    request may send them) are parsed in one ``to_numeric`` call over all their cells, not
    column by column (3,000 calls cost ~0.3 s a request).
    """
    values = np.full(block.shape, np.nan)
    numeric = dtype_mask(block, pd.api.types.is_numeric_dtype)
    if numeric.any():
        values[:, numeric] = block.iloc[:, np.flatnonzero(numeric)].to_numpy(dtype=float)
    other = np.flatnonzero(~numeric)
    if len(other):
        cells = pd.Series(block.iloc[:, other].to_numpy(dtype=object).ravel())
        parsed = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
        values[:, other] = parsed.reshape(len(block), len(other))
    return values


def json_cells_marked(
    table: pd.DataFrame, text_columns: Collection[str], counted_columns: Collection[str]
) -> pd.DataFrame:
    """Return the table with the JSON values of its number columns marked (``JsonValue``).

    pandas would read ``true``/``false`` as 1 and 0 (a passage of ``true`` would be passage 1,
    an intensity of ``true`` 1.0). An array or an object in any number column, and ``true`` or
    ``false`` in a counted one (passage, ages, cycles, weeks, the proteins), become a
    ``JsonValue``: refused and named as sent. In other number columns (yes/no flags of the lot
    sheet) ``true``/``false`` become the text ``True``/``False``, which the lot-sheet reader
    takes as 1/0. A table without such cells comes back as it is (not copied); otherwise a copy.

    Args:
        table: rows × columns, any cell types.
        text_columns: ``lot_id`` and the categories (``text_cell_problems`` reads them).
        counted_columns: the number columns where a yes/no value is no number.
    """
    skip, counted = set(text_columns), set(counted_columns)
    columns = table.columns
    held = dtype_mask(table, pd.api.types.is_bool_dtype) | dtype_mask(
        table, pd.api.types.is_object_dtype
    )
    positions = [int(j) for j in np.flatnonzero(held) if str(columns[int(j)]) not in skip]
    if not positions:
        return table
    cells = table.iloc[:, positions].to_numpy(dtype=object)
    kinds = np.frompyfunc(json_kind, 1, 1)(cells)
    changed: dict[str, pd.Series] = {}
    for k in np.flatnonzero(pd.notna(kinds).any(axis=0)).tolist():
        column = columns[positions[k]]
        marked = [
            cell
            if kind is None
            else str(bool(cell))
            if column not in counted and isinstance(cell, (bool, np.bool_))
            else JsonValue(kind)
            for cell, kind in zip(cells[:, k], kinds[:, k], strict=True)
        ]
        changed[column] = pd.Series(marked, index=table.index, dtype=object)
    return table.assign(**changed) if changed else table


def category_text(value: Any) -> Any:
    """Read a number sent for a category as a lot-sheet file reads it: ``3`` and ``3.0`` are
    the text ``'3'``, ``2.5`` is ``'2.5'``; text and missing cells stay as they are."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    ):
        if not np.isfinite(value):
            return np.nan
        number = float(value)
        return str(int(number)) if number.is_integer() else str(value)
    return value


def text_cell_problems(
    table: pd.DataFrame, columns: Collection[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Refuse cells of text columns (``lot_id``, categories) that are not text or a number.

    Over HTTP a cell arrives as any JSON value. A number in a category column is a code and
    is read as its text (``category_text``), as a lot sheet file gives it; a number
    ``lot_id`` is read by the lot-sheet rules (``1`` is ``'1'``). JSON ``true``/``false``, an
    array or an object is none of these: pandas would make ``true`` the text ``'True'`` (a
    ``tissue_source`` the model never saw, treated as missing), so the lot is refused with
    the column named. A refused category cell becomes missing; a refused ``lot_id`` becomes
    a placeholder that keeps the row apart from the others (``predict`` answers it with
    ``lot_id`` null: it names no lot).

    Args:
        table: rows × columns with a RangeIndex, any cell types.
        columns: the columns that hold text.

    Returns:
        (the table, a copy when a cell changed; rows × the text columns it has: the problem
        of each cell or None)
    """
    held = [column for column in columns if column in table.columns]
    problems = pd.DataFrame(None, index=table.index, columns=held, dtype=object)
    changed: dict[str, pd.Series] = {}
    for column in held:
        cells = table[column].tolist()
        fixed = list(cells) if column == LOT_ID else [category_text(cell) for cell in cells]
        dirty = any(a is not b for a, b in zip(fixed, cells, strict=True))
        for row, cell in enumerate(cells):
            kind = json_kind(cell)
            if kind is None:
                continue
            dirty = True
            if column == LOT_ID:
                fixed[row] = f"(request row {row + 1})"
                problems.at[row, LOT_ID] = (
                    f"lot_id is {kind}, not a lot id: send it as text (this answer is for row "
                    f"{row + 1} of the request, counted from 1)"
                )
            else:
                fixed[row] = np.nan
                problems.at[row, column] = f"{column} is {kind}, not a category: send it as text"
        if dirty:
            changed[column] = pd.Series(fixed, index=table.index, dtype=object)
    return (table.assign(**changed) if changed else table), problems
