"""Parsing a whole table safely: field counts, duplicate headers, blank rows and columns.

Every parse error of pandas, pyarrow or openpyxl is turned into an ``InputError`` naming the
file, so a user never sees a traceback for a bad file.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exostab.errors import InputError
from exostab.io.naming import is_unnamed
from exostab.io.readers.encodings import as_utf8, decode
from exostab.io.readers.file_access import read_bytes, read_excel, read_parquet
from exostab.io.readers.messages import listed
from exostab.io.readers.preview import Preview, peek

logger = logging.getLogger(__name__)


def check_field_counts(path: Path, raw: bytes, delimiter: str, *, strict: bool = True) -> None:
    """Refuse truncated rows: fewer (or more) fields than the header.

    Args:
        strict: every row must have the header's width (generic tables, lot sheets). Search
            engines trim trailing empty fields, so for their files (``strict=False``) only a last
            line that is both short and not newline-terminated (a cut-off file) is refused; rows
            with too many fields are refused by the parser itself.
    """
    if not strict:
        lines = [line for line in raw.split(b"\n") if line.strip(b"\r ")]
        if len(lines) < 2 or raw.endswith(b"\n"):
            return
        reader = csv.reader([decode(path, lines[0]), decode(path, lines[-1])], delimiter=delimiter)
        expected, last = (len(row) for row in reader)
        if last < expected:
            raise InputError(
                f"the last line has {last} fields but the header has {expected} "
                "(the file looks truncated)",
                where=str(path),
            )
        return
    if b'"' in raw:
        reader = csv.reader(io.StringIO(decode(path, raw)), delimiter=delimiter)
        counts = [
            (number, len(row), not any(cell.strip() for cell in row))
            for number, row in enumerate(reader, start=1)
            if row
        ]
    else:
        sep = delimiter.encode()
        counts = [
            (number, line.count(sep) + 1, not line.replace(sep, b"").strip(b"\r "))
            for number, line in enumerate(raw.split(b"\n"), start=1)
            if line.strip(b"\r ")
        ]
    if not counts:
        raise InputError("is empty", where=str(path))
    expected = counts[0][1]
    # A row of only delimiters (Excel's blank rows) may be shorter: it is dropped after parsing.
    bad = [
        (number, count)
        for number, count, blank in counts
        if count > expected or (count < expected and not blank)
    ]
    if bad:
        number, count = bad[0]
        more = f" ({len(bad) - 1} more rows like it)" if len(bad) > 1 else ""
        raise InputError(
            f"line {number} has {count} fields but the header has {expected} "
            f"(truncated or malformed row){more}",
            where=str(path),
        )


def read_text(
    path: Path,
    *,
    delimiter: str,
    usecols: Sequence[str] | None = None,
    dtype: dict[str, Any] | type | None = None,
    na_values: Sequence[str] = (),
    strict_width: bool = True,
) -> pd.DataFrame:
    """Read a delimited text table, turning every parse failure into an InputError."""
    raw = as_utf8(path, read_bytes(path))
    check_field_counts(path, raw, delimiter, strict=strict_width)
    first_line = raw.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    refuse_duplicate_header(
        path, next(csv.reader([decode(path, first_line)], delimiter=delimiter), [])
    )
    try:
        frame = pd.read_csv(
            io.BytesIO(raw),
            sep=delimiter,
            usecols=list(usecols) if usecols is not None else None,
            dtype=dtype,  # type: ignore[arg-type]
            na_values=list(na_values) or None,
            low_memory=False,
            index_col=False,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot parse table ({message})", where=str(path)) from None
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def blank_cells(table: pd.DataFrame) -> np.ndarray:
    """Mask (rows × columns) of cells that hold nothing: missing, or text of only spaces."""
    blank = np.array(
        table.isna().to_numpy(), dtype=bool
    )  # a copy: pandas may hand a read-only view
    for position in range(table.shape[1]):  # only text columns can hold "   "
        column = table.iloc[:, position]
        if not pd.api.types.is_numeric_dtype(column):
            blank[:, position] |= column.astype("string").str.strip().eq("").fillna(False)
    return blank


UNNAMED_PREFIX = "(unnamed column "


def unnamed_label(position: int) -> str:
    """Stand-in name of a column with no header name (1-based position in the file)."""
    return f"{UNNAMED_PREFIX}{position + 1})"


def unnamed(column: object) -> bool:
    """Tell whether a header cell is empty: blank, pandas' ``Unnamed: N`` or our stand-in."""
    return is_unnamed(column) or str(column).startswith(UNNAMED_PREFIX)


def drop_blank_rows_and_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Drop fully blank rows and unnamed columns with no value (what Excel adds to a CSV).

    Excel writes a trailing delimiter on every line when a sheet once had a wider used range, and
    rows of only delimiters below the data. A named column stays even when empty (it may be a
    metadata column with no values yet); an unnamed column with a value stays too, so the
    caller's header check can refuse it.

    Returns:
        The same table without those rows and columns, index unchanged (row numbers in
        messages still point at the file's lines).
    """
    blank = blank_cells(table)
    empty_unnamed = {
        position
        for position, column in enumerate(table.columns)
        if unnamed(column) and bool(blank[:, position].all())
    }
    keep_columns = [i for i in range(table.shape[1]) if i not in empty_unnamed]
    blank_rows = blank.all(axis=1)
    if empty_unnamed or blank_rows.any():
        logger.info(
            "dropped %d blank row(s) and %d empty unnamed column(s)",
            int(blank_rows.sum()),
            len(empty_unnamed),
        )
    return table.iloc[np.flatnonzero(~blank_rows), keep_columns]


def refuse_duplicate_header(path: Path, header: Iterable[str]) -> None:
    """Raise an InputError when the header names a column twice.

    pandas renames the second copy (``A.raw`` → ``A.raw.1``), which would turn a duplicated run
    into a run of its own, or a duplicated annotation into a silent choice between two columns.

    Raises:
        InputError: naming the duplicated column(s) and the file.
    """
    names = [str(name).strip() for name in header]
    named = [name for name in names if name and not unnamed(name)]
    duplicated = sorted({name for name in named if named.count(name) > 1})
    if duplicated:
        raise InputError(
            f"duplicate column(s) {listed(duplicated)} in the header "
            "(which copy holds the values is ambiguous)",
            where=str(path),
        )


def read_table(path: Path, preview: Preview | None = None, **text_options: Any) -> pd.DataFrame:
    """Read a whole search-engine table of any supported kind (text, Parquet, Excel).

    Text options other than ``usecols`` apply to delimited text only; trailing empty fields
    may be trimmed (see ``check_field_counts``).
    """
    preview = preview or peek(path)
    text_options.setdefault("strict_width", False)
    if preview.kind == "parquet":
        return read_parquet(path, text_options.get("usecols"))
    if preview.kind == "excel":
        refuse_duplicate_header(path, preview.columns)
        frame = read_excel(path)
        usecols = text_options.get("usecols")
        return frame[list(usecols)] if usecols is not None else frame
    return read_text(path, delimiter=preview.delimiter or "\t", **text_options)


def require_columns(path: Path, columns: Iterable[str], required: Sequence[str]) -> None:
    """Raise an InputError listing the required columns a table lacks."""
    present = set(columns)
    missing = [name for name in required if name not in present]
    if missing:
        raise InputError(f"missing required column(s) {listed(missing)}", where=str(path))
