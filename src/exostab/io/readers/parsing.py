"""Shared parsing of every reader: a file's bytes, text encoding, kind and preview, and whole
tables parsed safely.

Text is decoded by its bytes (a byte-order mark, UTF-16 without one, UTF-8, else Windows-1252),
gzip-compressed files are read through, and every parse error of pandas, pyarrow or openpyxl is
turned into an ``InputError`` naming the file, so a user never sees a traceback for a bad file.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import logging
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, cast

import numpy as np
import pandas as pd

from exostab.errors import InputError
from exostab.io.naming import is_unnamed
from exostab.io.readers.messages import listed

logger = logging.getLogger(__name__)


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


def lf_line_ends(raw: bytes) -> bytes:
    """Turn every line end of UTF-8 text into LF: CRLF (Windows) and a lone CR (old Excel for
    Mac's "CSV (Macintosh)"), in any mix, so every text reader sees one kind of line."""
    if b"\r" not in raw:
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def as_utf8(path: Path, raw: bytes) -> bytes:
    """Return a text file's bytes as UTF-8 (unchanged when they already are), decided by bytes."""
    encoding = text_encoding(raw)
    if encoding == "utf-8":
        return raw
    if encoding != "utf-8-sig":
        logger.info("%s: read as %s text", path, encoding_name(encoding))
    return decode(path, raw).encode("utf-8")


PREVIEW_BYTES = 65_536

TEXT_SUFFIXES = (".txt", ".tsv", ".csv", ".tab", ".mztab")

EXCEL_SUFFIXES = (".xlsx", ".xlsm")

PARQUET_MAGIC = b"PAR1"

GZIP_MAGIC = b"\x1f\x8b"

ZIP_MAGIC = b"PK\x03\x04"

FileKind = Literal["text", "parquet", "excel"]


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
                n_lines += max(block.count(b"\n"), block.count(b"\r"))  # LF, CRLF or CR
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
        ends = []
        for character in (b"\n", b"\r"):  # a line may end in LF, CRLF or a lone CR
            newline = character + b"\x00" if little else b"\x00" + character
            end = head.rfind(newline)
            while end > 0 and end % 2:
                end = head.rfind(newline, 0, end)
            ends.append(end)
        end = max(ends)
        return head[: end + 2] if end >= 0 else head
    end = max(head.rfind(b"\n"), head.rfind(b"\r"))
    return head[: end + 1] if end >= 0 else head


# Excel's "not available" (=NA()), read as missing as pandas reads the text "#N/A" in a CSV.
EXCEL_NOT_AVAILABLE = "#N/A"


def excel_error_cells(path: Path) -> list[tuple[int, int, str]]:
    """The error cells of a workbook's first sheet (``#DIV/0!``, ``#VALUE!``, ``#REF!``…) other
    than ``#N/A``: (row, column, error), 0-based, row 0 the sheet's first row as pandas reads it.

    pandas reads every error cell as missing; a formula that failed is not a protein that was
    not detected, so the readers put the error back as the cell's text, to be refused as text
    is in a CSV (where pandas reads ``#DIV/0!`` as text and ``#N/A`` as missing). A formula
    with no saved value is left missing, as pandas reads it: Excel saves a formula's empty
    text result (``=IFERROR(x, "")``) much as a script saves a formula it never calculated.

    Raises:
        InputError: an unreadable workbook.
    """
    import openpyxl

    if not _may_hold_errors(path):
        return []
    try:  # read-only, cached values: the rows pandas' openpyxl engine reads, in its order
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as error:  # openpyxl raises many types (zipfile, KeyError, XML) on bad files
        raise InputError(f"unreadable Excel workbook ({error})", where=str(path)) from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # as pandas does: a stale <dimension> would hide cells
        return [
            (row, column, str(cell.value))
            for row, cells in enumerate(sheet.rows)
            for column, cell in enumerate(cells)
            if cell.data_type == "e" and str(cell.value) != EXCEL_NOT_AVAILABLE
        ]
    finally:
        workbook.close()


def _may_hold_errors(path: Path) -> bool:
    """Whether any worksheet of the workbook stores an error cell (``t="e"`` in its XML): a
    byte search that spares the cell-by-cell scan of the common workbook without one."""
    error_type = re.compile(rb"""\st=["']e["']""")
    try:
        with zipfile.ZipFile(path) as archive:
            return any(
                error_type.search(archive.read(name)) is not None
                for name in archive.namelist()
                if name.startswith("xl/worksheets/") and name.endswith(".xml")
            )
    except (zipfile.BadZipFile, OSError, KeyError):
        return True  # let openpyxl say what is wrong


def with_excel_errors(frame: pd.DataFrame, path: Path, header_rows: int) -> pd.DataFrame:
    """``frame`` (as ``pd.read_excel`` read the first sheet, ``header_rows`` rows above its
    first row) with each error cell (``excel_error_cells``) holding its error as text."""
    errors = [
        (row - header_rows, column, error)
        for row, column, error in excel_error_cells(path)
        if header_rows <= row < len(frame) + header_rows and column < frame.shape[1]
    ]
    if not errors:
        return frame
    missing = frame.isna().to_numpy()
    frame = frame.copy()
    for position in sorted({column for _, column, _ in errors}):
        if pd.api.types.is_numeric_dtype(frame.dtypes.iloc[position]):
            frame.isetitem(position, frame.iloc[:, position].to_numpy(dtype=object))
    for row, column, error in errors:
        if missing[row, column]:  # pandas left it missing: the error cell
            frame.iat[row, column] = error
    return frame


def read_excel(path: Path, *, nrows: int | None = None) -> pd.DataFrame:
    """Read the first sheet of an Excel workbook, turning failures into an InputError.

    Error cells other than ``#N/A`` hold their error as text (``with_excel_errors``) unless
    ``nrows`` is given (a preview of the header).
    """
    try:
        frame = pd.read_excel(path, sheet_name=0, nrows=nrows, engine="openpyxl")
    except Exception as error:  # openpyxl raises many types (zipfile, KeyError, XML) on bad files
        raise InputError(f"unreadable Excel workbook ({error})", where=str(path)) from None
    if nrows is None:
        frame = with_excel_errors(frame, path, header_rows=1)
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


PREVIEW_LINES = 50


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


def sniff_delimiter(header: str) -> str:
    """Pick the delimiter of a header line: tab, then comma, then semicolon."""
    for delimiter in ("\t", ",", ";"):
        if delimiter in header:
            return delimiter
    return "\t"


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
    raw = lf_line_ends(as_utf8(path, read_bytes(path)))
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
