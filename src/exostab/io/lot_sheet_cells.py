"""How a lot sheet's headers and cells are read: headers as people type them, numbers, passages,
dates, lot ids, categories, and JSON values sent where text or a number belongs.

The lot-sheet contract (``lot_sheet_contract.py``) checks what these functions read.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pandas as pd

from exostab.config import (
    METADATA_COLUMNS,
    NUMERIC_METADATA,
    Vocabulary,
    spelling_key,
)
from exostab.errors import InputError, shown

logger = logging.getLogger(__name__)

LOT_ID = "lot_id"
PASSAGE = "passage"
# ``P5``, ``p5``, ``P 5``, ``passage 5``, ``pass. 5``: how passage is written on a bench.
_PASSAGE_WORD = re.compile(r"^(?:p|pass\.?|passage)\s*(\d+)$", re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")
# Dates of a time-ordered CV: ISO 8601 (``2023-05-09``, ``2023-05-09T10:30``, ``2023/05/09``) by
# default; ``dd/mm/yyyy`` (also ``.`` or ``-``) only with the day-first option. A date that
# reads either way (``09/05/2023``) is never guessed.
_ISO_DATE = re.compile(
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$"
)
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")
DAYFIRST_HINT = "--dayfirst (train: or cv.dayfirst: true)"


# A unit in brackets after a header (``Donor age (years)``, ``Storage [weeks]``) and ``/`` or ``.``
# (``Freeze/thaw cycles``, ``Lot no.``) do not change which column a header means.
_HEADER_UNIT = re.compile(r"\s*[(\[][^)\]]*[)\]]\s*$")
_HEADER_NOISE = re.compile(r"[/.#]+")
LOT_SHEET_COLUMNS = (LOT_ID, PASSAGE, *METADATA_COLUMNS, "label", "unstable")


def header_key(header: Any) -> str:
    """Reduce a lot-sheet header to what matching compares (``Freeze-thaw cycles``).

    Case, spaces, hyphens, underscores, apostrophes, ``/``, ``.``, ``#`` and a trailing unit in
    brackets are ignored: the rule the vocabulary applies to category spellings, plus units.
    """
    text = _HEADER_UNIT.sub("", str(header).strip())
    return spelling_key(_HEADER_NOISE.sub("", text))


def canonical_headers(
    sheet: pd.DataFrame, extra: tuple[str | None, ...] = (), *, where: str | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename lot-sheet headers typed by people to the column names exostab uses.

    ``Lot ID``, ``DONOR_ID``, ``Tissue source``, ``Donor age (years)``, ``Freeze-thaw cycles``
    are ``lot_id``, ``donor_id``, ``tissue_source``, ``donor_age``, ``freeze_thaw_cycles``
    (``header_key``). A header already spelled as exostab names it is kept; other columns
    (proteins, a lab's own columns) are left alone.

    Args:
        sheet: lots × columns as read.
        extra: more column names to match (the label, the CV group, the time column).

    Returns:
        (the sheet with matched headers renamed, header as written → column name)

    Raises:
        InputError: two headers mean the same column (``Donor age`` and ``donor-age``).
    """
    known = [c for c in dict.fromkeys((*LOT_SHEET_COLUMNS, *extra)) if c]
    by_key = {header_key(name): name for name in known}
    present_names = {str(c) for c in sheet.columns}
    rename: dict[str, str] = {}
    claimed: dict[str, list[str]] = {}
    for header in sheet.columns:
        if not isinstance(header, str):
            continue
        name = header if header in by_key.values() else by_key.get(header_key(header))
        if name is None:
            continue
        claimed.setdefault(name, []).append(header)
        if name != header and name not in present_names:
            rename[header] = name
    if twice := {name: headers for name, headers in claimed.items() if len(headers) > 1}:
        name, headers = next(iter(twice.items()))
        raise InputError(
            f"columns {', '.join(map(repr, headers))} all mean {name!r}: keep one",
            where=where,
        )
    if not rename:
        return sheet, {}
    logger.info(
        "lot-sheet header(s) read as: %s",
        ", ".join(f"{header!r} → {name}" for header, name in rename.items()),
    )
    return sheet.rename(columns=rename), rename


def cell_text(value: Any) -> str:
    """Write a cell's value for a message as a person typed it: ``-1``, not ``-1.0``.

    Number columns are read as float64, so a whole number comes back as ``-1.0``; it is
    written without the ``.0``. Other numbers keep their shortest exact form (``5.5``), text
    is quoted (``'x'``).
    """
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        # 1e308 is not written as its 309 digits; float64 holds 15 exact digits
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    return repr(value)


def tidy_text(value: Any) -> Any:
    """Trim a text cell; an empty or all-space cell becomes NaN; other values stay."""
    if isinstance(value, str):
        text = value.strip()
        return text if text else np.nan
    return value


def parse_number(value: Any, *, column: str, decimal_comma: bool = False) -> float | None:
    """Read one lot-sheet number cell; None when it is text that is not a number.

    ``passage`` also reads ``P5``, ``p5``, ``P 5`` and ``passage 5``. With ``decimal_comma`` (a
    ``;`` or tab separated sheet from a European spreadsheet) ``44,0`` reads as 44.0. A yes/no
    cell (``True``, JSON ``true``) is 1/0 for a flag column but not a number for passage, ages,
    cycles or weeks (``NUMERIC_METADATA``): a passage of ``true`` is refused, not passage 1.
    """
    count = column in NUMERIC_METADATA
    if isinstance(value, JsonValue):
        return None
    if value is None or isinstance(value, bool | np.bool_):
        return None if (value is None or count) else float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value).strip()
    if not text:
        return np.nan
    if text.lower() in ("true", "false"):
        return None if count else float(text.lower() == "true")
    if column == PASSAGE:
        spelled = _PASSAGE_WORD.match(text)
        if spelled:
            return float(spelled.group(1))
    if decimal_comma and _DECIMAL_COMMA.match(text):
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return None


def parse_date(value: Any, *, dayfirst: bool = False) -> tuple[pd.Timestamp | None, str | None]:
    """Read one date cell of a time column by one stated rule.

    ISO 8601 (``yyyy-mm-dd``, optionally with a time) is always read. ``dd/mm/yyyy`` (or with
    ``.``/``-``) is read only with ``dayfirst``; without it such a cell is refused, never guessed
    month-first. A date cell of a spreadsheet (XLSX) is read as it is.

    Returns:
        (the timestamp or None, the problem or None): an empty cell gives (None, None).
    """
    if _missing(value):
        return None, None
    if isinstance(value, pd.Timestamp | np.datetime64) or hasattr(value, "isoformat"):
        try:
            return pd.Timestamp(value), None
        except (ValueError, TypeError):
            return None, f"not a date: {shown(str(value))!r}"
    text = str(value).strip()
    iso = _ISO_DATE.match(text)
    try:
        if iso:
            year, month, day = (int(iso.group(i)) for i in (1, 2, 3))
            hour, minute, second = (int(iso.group(i) or 0) for i in (4, 5, 6))
            return pd.Timestamp(year, month, day, hour, minute, second), None
        dmy = _DAY_MONTH_YEAR.match(text)
        if dmy and dayfirst:
            day, month, year = (int(dmy.group(i)) for i in (1, 2, 3))
            return pd.Timestamp(year, month, day), None
    except ValueError:
        rule = "dd/mm/yyyy" if not iso else "yyyy-mm-dd"
        return None, f"impossible date {text!r} (read as {rule})"
    if dmy:
        first, second = int(dmy.group(1)), int(dmy.group(2))
        how = (
            "day-first or month-first cannot be told"
            if first <= 12 and second <= 12
            else "not read by guessing"
        )
        return None, (
            f"date {text!r} is not ISO yyyy-mm-dd ({how}): write yyyy-mm-dd, "
            f"or pass {DAYFIRST_HINT} for dd/mm/yyyy"
        )
    return None, f"not a date: {shown(text)!r} (expected yyyy-mm-dd)"


def parse_time_column(
    column: pd.Series, *, dayfirst: bool = False
) -> tuple[pd.Series, list[tuple[int, str]]]:
    """Read a time column (``cv.time_column``): all numbers, or all dates by ``parse_date``.

    Returns:
        (float64 numbers or datetime64 dates, [(row position, problem)]); a bad cell is NaN/NaT.
    """
    numbers = pd.to_numeric(column, errors="coerce")
    if column.notna().any() and numbers.notna().sum() == column.notna().sum():
        return numbers.astype("float64"), []
    parsed: list[Any] = []
    problems: list[tuple[int, str]] = []
    for row, value in enumerate(column):
        stamp, problem = parse_date(value, dayfirst=dayfirst)
        parsed.append(stamp)
        if problem:
            problems.append((row, problem))
    return pd.Series(pd.to_datetime(parsed), index=column.index), problems


class JsonValue:
    """A JSON ``true``/``false``, array or object sent where a number belongs (over HTTP).

    It is kept as this marker, not as pandas' text ``'True'``, so the message names what was
    sent (``the JSON value true``), as it does for text columns; it never reads as a number.
    """

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __str__(self) -> str:
        return self.kind

    def __repr__(self) -> str:
        return self.kind


def json_kind(value: Any) -> str | None:
    """Name a cell that no text or number column can read: JSON ``true``/``false``, an array
    or an object (None for text, numbers and missing cells)."""
    if isinstance(value, JsonValue):
        return value.kind
    if isinstance(value, (bool, np.bool_)):
        return f"the JSON value {str(bool(value)).lower()}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "a JSON array"
    if isinstance(value, dict):
        return "a JSON object"
    return None


def not_a_number(column: str, value: Any) -> str:
    """The message for text in a number column (the lot is named beside it)."""
    kind = json_kind(value)
    if kind is not None:
        return f"{column} is {kind}, not a number: send a number"
    return f"not a number in column '{column}': {str(value)[:40]!r}"


def tidy_lot_sheet(
    sheet: pd.DataFrame,
    *,
    numbers: list[str],
    vocabulary: Vocabulary,
    decimal_comma: bool = False,
    dates: tuple[str, ...] = (),
    dayfirst: bool = False,
) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Trim text, read numbers, map category spellings; report text in number columns.

    Args:
        sheet: lot-sheet rows with a RangeIndex (rows × columns, cells as read).
        numbers: the columns that hold numbers.
        vocabulary: category spellings of text columns.
        decimal_comma: read ``44,0`` as 44.0.
        dates: time columns (``cv.time_column``), read by ``parse_time_column``.
        dayfirst: read ``dd/mm/yyyy`` in the time columns.

    Returns:
        (tidy frame, [(row position, column, problem)]): number columns float64 (a bad cell
        NaN), text columns trimmed with categories under their vocabulary name.
    """
    tidy: dict[str, pd.Series] = {}
    problems: list[tuple[int, str, str]] = []
    for position, name in enumerate(sheet.columns):
        column = sheet.iloc[:, position]
        if name in dates:
            tidy[name], bad = parse_time_column(column.map(tidy_text), dayfirst=dayfirst)
            problems += [(row, name, problem) for row, problem in bad]
            continue
        if name in numbers:
            if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
                tidy[name] = column.astype("float64")
                continue
            parsed = [
                parse_number(value, column=name, decimal_comma=decimal_comma)
                if not _missing(value)
                else np.nan
                for value in column
            ]
            for row, (value, number) in enumerate(zip(column, parsed, strict=True)):
                if number is None:
                    problems.append((row, name, not_a_number(name, value)))
            tidy[name] = pd.Series(
                [np.nan if n is None else n for n in parsed], index=sheet.index, dtype="float64"
            )
        elif name == LOT_ID:
            # A lot id is text, compared as the answers name it. A number sent for it (JSON
            # over HTTP, a number cell of a spreadsheet) is named by its value, whatever the
            # other rows hold: pandas makes 240101 a float when another row's id is missing.
            tidy[name] = column.astype("object").map(lot_id_text).map(tidy_text).astype("object")
        elif column.dtype == object or pd.api.types.is_string_dtype(column):
            cells = column.astype("object")
            text = cells.map(tidy_text)
            if name in vocabulary.spellings:
                text = text.map(
                    lambda v, n=name: (vocabulary.canonical(n, v) or v) if isinstance(v, str) else v
                )
            tidy[name] = text.astype("object")
        else:
            tidy[name] = column
    return pd.DataFrame(tidy, index=sheet.index), problems


def lot_id_text(value: Any) -> Any:
    """Name a lot id as text: ``240101`` and ``240101.0`` are ``'240101'``, ``2.5`` is ``'2.5'``.

    JSON numbers ``1`` and ``1.0`` are one number, and pandas turns a column of whole numbers
    with one gap into floats, so a number id is named by its value: the answer never depends
    on the other rows. Ids of more than 15 digits do not survive as numbers (float64 holds 15
    significant digits): send them as text. Text, missing cells and other values stay.
    """
    if isinstance(value, bool | np.bool_ | JsonValue):
        return value
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return np.nan if np.isnan(value) else str(value)
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def present(value: Any) -> bool:
    """Tell whether a cell holds something: not None, NaN, empty or only spaces."""
    return not (value is None or (isinstance(value, float) and np.isnan(value))) and bool(
        str(value).strip()
    )
