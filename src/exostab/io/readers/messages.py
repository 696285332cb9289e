"""How readers name things in a message: a few items of a list, one cell of a table, a file
with nothing left to read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from exostab.errors import InputError, shown

MAX_LISTED = 5


def listed(items: Iterable[Any], limit: int = MAX_LISTED, quote: bool = True) -> str:
    """Render a few items for a message, with '(and N more)' when there are more.

    Each item is shortened for the terminal (see ``shown``) and quoted unless ``quote`` is
    False.
    """
    items = [str(item) for item in items]
    text = ", ".join((f"'{shown(item)}'" if quote else shown(item)) for item in items[:limit])
    return text + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def cell_name(
    row: Any,
    position: int,
    columns: Sequence[Any],
    row_name: str,
    run_name: str | None,
    file_columns: Sequence[str] | None = None,
) -> str:
    """Name a cell the way the user finds it: run or lot, protein, and the file's column."""
    column = columns[position]
    in_file = file_columns[position] if file_columns is not None else None
    shown_column = f" (column {in_file!r})" if in_file is not None and in_file != column else ""
    if run_name:
        return f"{run_name} {column!r}{shown_column}, {row_name} {row!r}"
    row_text = f"{row_name} {row!r}" if row_name else str(row)
    return f"{row_text}, column {in_file if in_file is not None else column!r}"


def text_in_cell(value: object) -> str:
    """A cell's text as a refusal names it: ``text 'n.d.'`` (its first 30 characters)."""
    return f"text {str(value)[:30]!r}"


def invalid_value(scale: str) -> str:
    """What a number a run cannot hold is called on a scale: a raw intensity is never negative
    or infinite; a log2 value is never infinite."""
    return "negative or infinite intensity" if scale == "raw" else "infinite value"


def bad_cell_reason(
    what: str, group: object, kind: str = "protein column", column: str | None = None
) -> str:
    """Why a run is refused for one bad cell, in the same words for every table shape.

    A wide table's row (``text 'n.d.' in protein column 'CD9'``), a long table's run (``text
    'n.d.' in protein group 'P02768' (column 'PG.MaxLFQ')``) and a search-engine matrix's run
    column (``... (column 'LFQ intensity S1')``). The run itself is named where the refusal is
    booked: as the quarantine row's lot, or before the reason (``naming_the_run``).

    Args:
        what: the cell's fault: ``text_in_cell(value)``, or ``invalid_value(scale)``.
        group: the protein (group) of the cell.
        kind: what names the protein in the file: ``protein column`` (a wide table), ``protein
            group``, ``protein`` (a generic long table).
        column: the file's column holding the cell, when the protein does not name it.
    """
    in_column = f" (column {column!r})" if column else ""
    return f"{what} in {kind} '{group}'{in_column}"


def header_only(path: Path, what: str = "protein group") -> InputError:
    """The refusal of a protein file with a header and no rows, worded alike by every reader.

    ``what`` is what a row of the file is: a protein group (matrices and long reports, whose
    header-only file holds no group and no run), or a ``run`` (a wide table: one row per run).
    """
    return InputError(f"holds no {what} (a header without rows?)", where=str(path))


def none_left(path: Path, n_groups_before: int, what: str = "protein group") -> InputError:
    """The refusal of a protein file whose ``n_groups_before`` (> 0) groups were all dropped
    (contaminants, decoys, site-only groups), worded alike by every reader."""
    return InputError(
        f"none of its {n_groups_before} {what}s is left once contaminants, decoys and "
        "site-only groups are dropped",
        where=str(path),
    )
