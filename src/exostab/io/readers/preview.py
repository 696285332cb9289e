"""What the format detectors see of a file: its kind, its whole header and its first lines."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from exostab.errors import InputError
from exostab.io.readers.encodings import decode, text_encoding
from exostab.io.readers.file_access import FileKind, file_kind, is_gzip, read_excel, read_head

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
