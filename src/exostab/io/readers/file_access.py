"""Opening a file of any kind: gzip-compressed or not, its first bytes, its kind (text,
Parquet, Excel), whole Parquet and Excel tables. Every failure is an ``InputError`` naming the
file, so a user never sees a traceback for a bad file."""

from __future__ import annotations

import codecs
import gzip
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Literal, cast

import pandas as pd

from exostab.errors import InputError
from exostab.io.readers.encodings import utf16_without_bom

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
