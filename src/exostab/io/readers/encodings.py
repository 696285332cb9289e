"""Text encodings of table files, decided from their bytes: a byte-order mark, UTF-16 without
one, UTF-8, else Windows-1252; strict decoding, a broken file refused naming its encoding."""

from __future__ import annotations

import codecs
import logging
from pathlib import Path

import numpy as np

from exostab.errors import InputError

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


def as_utf8(path: Path, raw: bytes) -> bytes:
    """Return a text file's bytes as UTF-8 (unchanged when they already are), decided by bytes."""
    encoding = text_encoding(raw)
    if encoding == "utf-8":
        return raw
    if encoding != "utf-8-sig":
        logger.info("%s: read as %s text", path, encoding_name(encoding))
    return decode(path, raw).encode("utf-8")
