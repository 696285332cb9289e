"""Shared reading steps: peek at a file, parse tables safely, turn quantities into a ProteinMatrix.

Every parse error of pandas, pyarrow or openpyxl is turned into an ``InputError`` naming the file,
so a user never sees a traceback for a bad file.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import gzip
import io
import logging
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal, cast

import numpy as np
import pandas as pd

from exostab.errors import InputError, shown
from exostab.io.identity import (
    FLAGGED_MEMBER,
    is_unnamed,
    leading_accession,
    opaque_note,
    parse_protein_name,
    restore_excel_symbols,
    strip_run_name,
)
from exostab.io.protein_matrix import ANNOTATION_COLUMNS, ProteinMatrix

logger = logging.getLogger(__name__)

LOG_SCALE_MAX = 50.0
SCALES = ("raw", "log2")
PREVIEW_BYTES = 65_536
PREVIEW_LINES = 50
MAX_LISTED = 5
TEXT_SUFFIXES = (".txt", ".tsv", ".csv", ".tab", ".mztab")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+(?:[eE][-+]?\d+)?\s*$")
_DECIMAL_POINT = re.compile(r"\d\.\d")

FileKind = Literal["text", "parquet", "excel"]


@dataclass(frozen=True)
class Preview:
    """What the format detectors see of a file: its kind, header columns and first lines."""

    path: Path
    kind: FileKind
    columns: tuple[str, ...]
    lines: tuple[str, ...]
    delimiter: str | None
    encoding: str = "utf-8"

    def has(self, *names: str) -> bool:
        """Tell whether every one of ``names`` is a header column."""
        return all(name in self.columns for name in names)

    def any_endswith(self, suffix: str) -> bool:
        """Tell whether some header column ends with ``suffix``."""
        return any(column.endswith(suffix) for column in self.columns)


def listed(items: Iterable[Any], limit: int = MAX_LISTED, quote: bool = True) -> str:
    """Render a few items for a message, with '(and N more)' when there are more.

    Each item is shortened for the terminal (see ``shown``) and quoted unless ``quote`` is
    False.
    """
    items = [str(item) for item in items]
    text = ", ".join((f"'{shown(item)}'" if quote else shown(item)) for item in items[:limit])
    return text + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def file_kind(path: Path, head: bytes) -> FileKind:
    """Classify a file as text, parquet or Excel from its first bytes, refusing binary garbage."""
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(ZIP_MAGIC):
        if path.suffix.lower() in EXCEL_SUFFIXES or path.suffix.lower() not in TEXT_SUFFIXES:
            return "excel"
        raise InputError("is a zip archive, not a table; unzip it first", where=str(path))
    if (
        b"\x00" in head
        and not head.startswith(
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
        )
        and utf16_without_bom(head, final=False) is None
    ):
        raise InputError(
            "is a binary file, not a table (expected CSV, TSV, Parquet or XLSX)", where=str(path)
        )
    return "text"


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ENCODING_NAMES = {
    "utf-8-sig": "UTF-8 with BOM",
    "utf-8": "UTF-8",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 LE (no BOM)",
    "utf-16-be": "UTF-16 BE (no BOM)",
    "utf-32": "UTF-32",
    "cp1252": "Windows-1252 (Latin-1)",
    "latin-1": "Latin-1",
}


UTF16_WITHOUT_BOM = ("utf-16-le", "utf-16-be")


def utf16_without_bom(raw: bytes, *, final: bool = True) -> str | None:
    """Recognise UTF-16 text written without a byte-order mark; None when it is not.

    A table is mostly ASCII (digits, separators, names), and each ASCII character in UTF-16 is
    one code unit whose high byte is zero: every other byte is NUL, the odd ones in
    little-endian, the even ones in big-endian. UTF-8 and Windows-1252 text holds no NUL at
    all. So the bytes are UTF-16 LE (or BE) when at least half of their code units read that
    way fall below U+0100, none is U+0000 (a binary file's zero runs), and they decode
    strictly (surrogates paired) to printable text, tabs and line ends.

    Args:
        raw: the file's bytes, or its first bytes.
        final: ``False`` when ``raw`` is only the start of a file (a cut character is fine).
    """
    usable = len(raw) - len(raw) % 2
    if usable < 4 or b"\x00" not in raw:
        return None
    for encoding, layout in (("utf-16-le", "<u2"), ("utf-16-be", ">u2")):
        units = np.frombuffer(raw[:usable], dtype=layout)
        if (units == 0).any() or (units < 0x100).mean() < 0.5:
            continue
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(raw, final=final)
        except UnicodeDecodeError:
            continue
        if all(c.isprintable() or c in "\t\r\n" for c in set(text)):
            return encoding
    return None


def text_encoding(raw: bytes, *, final: bool = True) -> str:
    """Decide the encoding of text from its bytes: a byte-order mark, else UTF-16 without one
    (its NUL bytes, see ``utf16_without_bom``), else UTF-8, else cp1252.

    Nothing is guessed from replacement characters: UTF-8 is chosen only when every byte
    decodes strictly. Windows-1252 (Excel's "CSV" on Western-European Windows) is a superset of
    printable Latin-1; its five unassigned bytes fall back to Latin-1.

    Args:
        raw: the file's bytes, or its first bytes.
        final: ``False`` when ``raw`` is only the start of a file, so a character cut at the end
            does not count against UTF-8.
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return encoding
    utf16 = utf16_without_bom(raw, final=final)
    if utf16 is not None:
        return utf16
    try:
        codecs.getincrementaldecoder("utf-8")().decode(raw, final=final)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        raw.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def encoding_name(encoding: str) -> str:
    """Name an encoding the way a spreadsheet's "save as" dialog does."""
    return _ENCODING_NAMES.get(encoding, encoding)


def decode(path: Path, raw: bytes, *, final: bool = True) -> str:
    """Decode text by its bytes (see ``text_encoding``): UTF-8 ± BOM, UTF-16 ± BOM, UTF-32 with
    BOM, cp1252.

    Raises:
        InputError: the bytes break the encoding their byte-order mark announces; the message
            names that encoding.
    """
    encoding = text_encoding(raw, final=final)
    try:
        return codecs.getincrementaldecoder(encoding)().decode(raw, final=final)
    except UnicodeDecodeError as error:
        raise InputError(
            f"starts with a {encoding_name(encoding)} byte-order mark but byte "
            f"{error.start} is not valid {encoding_name(encoding)} ({error.reason}); "
            "re-save the file as UTF-8",
            where=str(path),
        ) from None


def as_utf8(path: Path, raw: bytes) -> bytes:
    """Return a text file's bytes as UTF-8 (unchanged when they already are), decided by bytes."""
    encoding = text_encoding(raw)
    if encoding == "utf-8":
        return raw
    if encoding != "utf-8-sig":
        logger.info("%s: read as %s text", path, encoding_name(encoding))
    return decode(path, raw).encode("utf-8")


def sniff_delimiter(header: str) -> str:
    """Pick the delimiter of a header line: tab, then comma, then semicolon."""
    for delimiter in ("\t", ",", ";"):
        if delimiter in header:
            return delimiter
    return "\t"


def read_head(path: Path, *, min_lines: int = 2) -> bytes:
    """Read the start of a file: ``PREVIEW_BYTES``, more until ``min_lines`` lines are whole.

    A header has no length limit (a wide table of 11,000 proteins has a 69 KB header line), so
    reading goes on, block by block, until the header and a first row arrived or the file
    ended. Parquet and zip (Excel) files stop after the first block: their magic bytes suffice.

    Raises:
        InputError: the path is a folder or cannot be read.
    """
    blocks: list[bytes] = []
    n_lines = 0
    ended = False
    try:
        with open_file(path) as handle:
            while True:
                block = handle.read(PREVIEW_BYTES)
                if not block:
                    ended = True
                    break
                blocks.append(block)
                n_lines += block.count(b"\n")
                if n_lines >= min_lines or blocks[0].startswith((PARQUET_MAGIC, ZIP_MAGIC)):
                    break
    except IsADirectoryError:
        raise InputError("is a folder, not a file", where=str(path)) from None
    except (OSError, EOFError, zlib.error) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise InputError(f"cannot read ({reason})", where=str(path)) from None
    head = b"".join(blocks)
    return head if ended else whole_lines(head)


def is_gzip(path: Path) -> bool:
    """Tell whether a file is gzip-compressed (``report.tsv.gz``), by its magic bytes."""
    with Path(path).open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_file(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing it when it is gzip-compressed."""
    if is_gzip(path):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return Path(path).open("rb")


def read_bytes(path: Path) -> bytes:
    """Read a whole file's bytes (decompressed when gzip-compressed).

    Raises:
        InputError: the file cannot be read or its compressed stream is broken.
    """
    try:
        with open_file(path) as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise InputError(f"cannot read ({reason})", where=str(path)) from None


def whole_lines(head: bytes) -> bytes:
    """Cut the start of a text file after its last line end, so no character is cut in two."""
    if head.startswith((PARQUET_MAGIC, ZIP_MAGIC)):
        return head
    utf16 = utf16_without_bom(head, final=False)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or utf16:  # UTF-16: ends on an even byte
        little = head.startswith(b"\xff\xfe") or utf16 == "utf-16-le"
        newline = b"\n\x00" if little else b"\x00\n"
        end = head.rfind(newline)
        while end > 0 and end % 2:
            end = head.rfind(newline, 0, end)
        return head[: end + 2] if end >= 0 else head
    end = head.rfind(b"\n")
    return head[: end + 1] if end >= 0 else head


def peek(path: Path) -> Preview:
    """Read just enough of a file to detect its format (the whole header, however long).

    Raises:
        InputError: the file is missing, empty, binary garbage or not a table.
    """
    path = Path(path)
    head = read_head(path)
    if not head.strip():
        raise InputError("is empty", where=str(path))
    kind = file_kind(path, head)
    if kind == "parquet":
        try:
            import pyarrow.parquet as pq

            names = tuple(str(name) for name in pq.read_schema(path).names)
        except Exception as error:  # pyarrow raises several types for corrupt files
            raise InputError(f"unreadable Parquet file ({error})", where=str(path)) from None
        names = tuple(name for name in names if not name.startswith("__index_level_"))
        return Preview(path, kind, names, (), None)
    if kind == "excel":
        header = read_excel(path, nrows=5)
        return Preview(path, kind, tuple(str(c) for c in header.columns), (), None)
    # the whole file: no character cut at the end (a compressed file's size says nothing)
    final = len(head) >= path.stat().st_size and not is_gzip(path)
    encoding = text_encoding(head, final=final)
    text = decode(path, head, final=final)
    lines = tuple(line.rstrip("\r") for line in text.splitlines()[:PREVIEW_LINES] if line.strip())
    if not lines:
        raise InputError("is empty", where=str(path))
    if lines[0].startswith(("MTD\t", "COM\t", "MTD ", "COM ")):
        return Preview(path, kind, (), lines, "\t", encoding)
    delimiter = sniff_delimiter(lines[0])
    columns = tuple(next(csv.reader([lines[0]], delimiter=delimiter)))
    return Preview(path, kind, tuple(c.strip() for c in columns), lines, delimiter, encoding)


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


def read_excel(path: Path, *, nrows: int | None = None) -> pd.DataFrame:
    """Read the first sheet of an Excel workbook, turning failures into an InputError."""
    try:
        frame = pd.read_excel(path, sheet_name=0, nrows=nrows, engine="openpyxl")
    except Exception as error:  # openpyxl raises many types (zipfile, KeyError, XML) on bad files
        raise InputError(f"unreadable Excel workbook ({error})", where=str(path)) from None
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def read_parquet(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file, turning pyarrow failures into an InputError."""
    try:
        frame = pd.read_parquet(path, columns=list(columns) if columns is not None else None)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... on corrupt files
        raise InputError(f"unreadable Parquet file ({error})", where=str(path)) from None
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


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
            f"{_cell(label, position, columns, row_name, run_name, file_columns)}{more}",
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
            f"{_cell(block.index[row], int(col), columns, row_name, run_name, file_columns)}"
            f"{more}",
            where=str(path),
        )
    return pd.DataFrame(values, index=block.index, columns=block.columns, dtype="float64")


def _cell(
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


def scale_problem(intensities: pd.DataFrame, scale: str) -> str | None:
    """Say how the values contradict the declared scale (None when they fit it).

    Raw intensities of a mass spectrometer run into the thousands and more; log2 values of
    intensities stay below ~40 and log2 ratios around 0. A file whose every value is below 50
    looks log2 already; a value above 50 cannot be a log2 value.
    """
    values = intensities.to_numpy(dtype="float64")
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None
    if scale == "raw" and finite.max() < LOG_SCALE_MAX:
        return (
            f"every intensity is below {LOG_SCALE_MAX:g}: the values look log2 already; "
            "declare them with --scale log2 (they were NOT exponentiated)"
        )
    if scale == "log2" and finite.max() > LOG_SCALE_MAX:
        return (
            f"declared log2 but values reach {finite.max():.4g}: they look like raw "
            "intensities; drop --scale log2"
        )
    return None


def unique_runs(names: Sequence[str], path: Path) -> list[str]:
    """Strip folders and MS-file extensions from run names, unless that makes them clash."""
    stripped = [strip_run_name(name) for name in names]
    if len(set(stripped)) == len(stripped):
        return stripped
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if list(names).count(n) > 1})
        raise InputError(f"duplicate run name(s) {listed(duplicated)}", where=str(path))
    return list(names)


def annotate_groups(
    group_ids: pd.Index,
    *,
    genes: Sequence[Any] | pd.Series | None = None,
    descriptions: Sequence[Any] | pd.Series | None = None,
    accessions: Sequence[Any] | pd.Series | None = None,
) -> pd.DataFrame:
    """Build the ``proteins`` table: leading accession, gene and description per group id.

    A gene the engine did not report is taken from the group id when the id carries one
    (``GN=`` of a FASTA header, ``ACC~GENE``, ``ACC|GENE``).
    """
    given = _clean_text(genes) if genes is not None else [np.nan] * len(group_ids)
    from_ids = [
        parse_protein_name(group).gene if not isinstance(gene, str) else gene
        for gene, group in zip(given, group_ids, strict=True)
    ]
    if accessions is None:
        leading = [leading_accession(group) for group in group_ids]
    else:
        leading = [
            leading_accession(acc) if isinstance(acc, str) and acc else leading_accession(group)
            for acc, group in zip(accessions, group_ids, strict=True)
        ]
    proteins = pd.DataFrame(
        {
            "leading_accession": pd.Series(leading, index=group_ids, dtype="object"),
            "gene": pd.Series(from_ids, index=group_ids, dtype="object"),
            "description": pd.Series(
                _clean_text(descriptions)
                if descriptions is not None
                else [np.nan] * len(group_ids),
                index=group_ids,
                dtype="object",
            ),
        },
        index=group_ids,
    )
    proteins.index.name = "group_id"
    return proteins[list(ANNOTATION_COLUMNS)]


def _clean_text(values: Sequence[Any] | pd.Series) -> list[Any]:
    """Trimmed text, NaN for empty cells; a date cell (Excel made a gene symbol a date) as
    its ISO text, so ``restore_excel_symbols`` can read it back."""
    return [
        value.strip()
        if isinstance(value, str) and value.strip()
        else value.isoformat()
        if isinstance(value, datetime.date)
        else np.nan
        for value in list(values)
    ]


def build_matrix(
    *,
    fmt: str,
    path: Path,
    by_group: pd.DataFrame,
    proteins: pd.DataFrame,
    n_groups_before: int,
    n_dropped: int = 0,
    notes: Sequence[str] = (),
    row_name: str = "protein group",
    run_name: str = "run",
    file_columns: Sequence[str] | None = None,
    scale: str = "raw",
) -> ProteinMatrix:
    """Finish a reader: numbers checked, groups × runs transposed to runs × groups, notes logged.

    On the ``raw`` scale 0 means "not quantified" (NaN) and a negative value is refused; on the
    ``log2`` scale every finite number is a value (0 is a log2 ratio of 1). Values that
    contradict the declared scale, opaque protein names and runs that quantified nothing are
    warned about and noted for ``inspect``.

    Args:
        by_group: quantities with group ids as index and run names as columns (raw cells).
        proteins: annotations indexed by the same group ids.
        file_columns: the file's header of each column of ``by_group``, for messages.
        scale: ``raw`` or ``log2``: how the file's values are declared.

    Raises:
        InputError: text, an infinite value, or (raw scale) a negative value in a quantity
            cell, naming run, protein and column; duplicate group ids or runs.
    """
    if scale not in SCALES:
        raise InputError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if by_group.shape[1] == 0:
        raise InputError("holds no run (sample) quantity columns", where=str(path))
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
            cell = _cell(
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
    proteins, excel_note = restore_excel_symbols(proteins.set_axis(group_index, axis=0))
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
    if excel_note:
        notes.append(excel_note)
        logger.warning("%s: %s", path, excel_note)
    opaque = opaque_note(proteins, path)
    if opaque:
        notes.append(opaque)
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


def decoy_or_contaminant(group_ids: pd.Series) -> pd.Series:
    """Flag groups with a decoy or contaminant member: the one rule of every reader.

    ``CON__``, ``Cont_``, ``REV__``, ``DECOY_``, ``rev_`` or ``contam_`` at the start of any
    member (see ``identity.is_decoy_or_contaminant``).
    """
    text = group_ids.astype("object").fillna("").astype(str)
    return text.str.contains(FLAGGED_MEMBER).astype(bool)


def drop_flagged(
    frame: pd.DataFrame, flagged: pd.Series, path: Path, what: str
) -> tuple[pd.DataFrame, int, list[str]]:
    """Drop flagged rows, returning the kept rows, the count and a note for ``inspect``."""
    n_flagged = int(flagged.sum())
    notes = [f"dropped {n_flagged} {what}"] if n_flagged else []
    if n_flagged:
        logger.info("%s: dropped %d %s", path, n_flagged, what)
    return frame.loc[~flagged.to_numpy()], n_flagged, notes
