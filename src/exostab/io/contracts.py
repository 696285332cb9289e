"""Data contracts (pandera) for the lot sheet and the protein matrix, with readable failures.

Failures are collected lazily, grouped by lot and rendered as a short table (file, lot or row,
column, problem) inside one ``InputError``, so a user sees every problem at once without a flood.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from exostab.config import (
    DEFAULT_VOCABULARY,
    METADATA_COLUMNS,
    NUMERIC_METADATA,
    Vocabulary,
    load_vocabulary,
    spelling_key,
)
from exostab.errors import InputError, shown

if TYPE_CHECKING:  # readers import this module: a runtime import would be circular
    from exostab.io.protein_matrix import ProteinMatrix

logger = logging.getLogger(__name__)

LOT_ID = "lot_id"
PASSAGE = "passage"
TEXT_METADATA = tuple(c for c in METADATA_COLUMNS if c not in NUMERIC_METADATA)
MAX_SHOWN = 10
PROBLEM_COLUMNS = ("lot_id", "column", "problem")
# ``P5``, ``p5``, ``P 5``, ``passage 5``, ``pass. 5``: how passage is written on a bench.
# Passages are counted in passages (P0 = primary culture). MSC are expanded to about P15-P20
# at most: clinical MSC-EV production runs mostly at P3-P6, research up to P8-P12, and UC-MSC
# reach replicative arrest around P12-P15 (shared/docs/domain-research.md, section 5, "Passage /
# cumulative population doublings": Lei 2017; Yang 2018; Wagner 2008). 50 is clearly above any
# real culture, so a larger passage is a typing or unit error (population doublings, days).
MAX_PASSAGE = 50
_PASSAGE_WORD = re.compile(r"^(?:p|pass\.?|passage)\s*(\d+)$", re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")
# Dates of a time-ordered CV: ISO 8601 (``2023-05-09``, ``2023-05-09T10:30``, ``2023/05/09``) by
# default; ``dd/mm/yyyy`` (also ``.`` or ``-``) only with the day-first option. A date that
# reads either way (``09/05/2023``) is never guessed.
_ISO_DATE = re.compile(
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$"
)
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")
DAYFIRST_HINT = "--dayfirst (or cv.dayfirst: true)"


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


def _whole_number(series: pd.Series) -> pd.Series:
    return series.isna() | (series % 1 == 0)


def _not_blank(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().ne("")


def lot_sheet_schema(label: str | None = None, group: str | None = None) -> pa.DataFrameSchema:
    """Build the lot-sheet contract for a tidy frame: ``lot_id`` a column, numbers float64.

    ``passage`` is a whole number from 0 to ``MAX_PASSAGE`` (50): MSC are expanded to about
    P15-P20 at most (see ``MAX_PASSAGE`` and shared/docs/domain-research.md, section 5).

    Categories are not checked here: a value outside the vocabulary is kept (and warned about).

    Args:
        label: the label column, required 0/1 (training).
        group: the CV group column (``donor_id``), non-empty when present (training).
    """
    columns: dict[str, pa.Column] = {
        LOT_ID: pa.Column(
            None,
            nullable=False,
            unique=True,
            checks=pa.Check(_not_blank, error="empty lot_id"),
        ),
        PASSAGE: pa.Column(
            "float64",
            nullable=False,
            checks=[
                pa.Check.ge(0, error="passage must be >= 0"),
                pa.Check.le(
                    MAX_PASSAGE,
                    error=f"passage must be <= {MAX_PASSAGE}: no MSC culture is passaged that "
                    "far (population doublings or days entered as passage?)",
                ),
                pa.Check(_whole_number, error="passage must be a whole number"),
            ],
        ),
    }
    for name in NUMERIC_METADATA:
        if name != PASSAGE:
            columns[name] = pa.Column(
                "float64",
                nullable=True,
                required=False,
                checks=[
                    pa.Check.ge(0, error=f"{name} must be >= 0"),
                    pa.Check(lambda s: ~np.isinf(s), error=f"{name} must be finite"),
                ],
            )
    if group is not None and group != LOT_ID:
        columns[group] = pa.Column(None, nullable=False, required=False)
    if label is not None:
        columns[label] = pa.Column(
            "float64",
            nullable=False,
            checks=pa.Check.isin([0.0, 1.0], error=f"{label} must be 0 or 1"),
        )
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _problem(check: Any, failure: Any, column: str, group: str | None) -> str:
    check = str(check)
    if check == "not_nullable":
        if column == group:
            return f"empty {column} (training groups lots by it; fill it in or drop the lot)"
        return f"empty {column}"
    if check == "field_uniqueness":
        return "duplicate lot_id"
    return f"{check} (got {shown(cell_text(failure))})"


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
        return str(int(number)) if number.is_integer() else repr(number)
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


def unknown_categories(sheet: pd.DataFrame, vocabulary: Vocabulary) -> dict[str, list[str]]:
    """Values of vocabulary columns that the vocabulary does not know (first-seen order)."""
    unknown: dict[str, list[str]] = {}
    for column in vocabulary.columns:
        if column not in sheet:
            continue
        known = set(vocabulary.categories(column))
        values = [v for v in sheet[column].dropna().astype(str) if v not in known]
        if values:
            unknown[column] = list(dict.fromkeys(values))
    return unknown


def warn_unknown_categories(
    sheet: pd.DataFrame, vocabulary: Vocabulary, *, source: str
) -> dict[str, list[str]]:
    """Log one warning naming the values no vocabulary entry matches (they are kept)."""
    unknown = unknown_categories(sheet, vocabulary)
    if unknown:
        parts = [
            f"{column} {', '.join(map(repr, values[:MAX_SHOWN]))}"
            f"{f' (and {len(values) - MAX_SHOWN} more)' if len(values) > MAX_SHOWN else ''}"
            f" ({int(sheet[column].isin(values).sum())} lot(s))"
            for column, values in unknown.items()
        ]
        logger.warning(
            "%s: value(s) not in the vocabulary (%s), kept as written: %s. A category the model "
            "never saw in training is treated as missing; add spellings of known categories "
            "to the vocabulary file.",
            source,
            DEFAULT_VOCABULARY.name,
            "; ".join(parts),
        )
    return unknown


def _checked_rows(
    sheet: pd.DataFrame,
    *,
    label: str | None,
    group: str | None = None,
    vocabulary: Vocabulary,
    decimal_comma: bool = False,
    dates: tuple[str, ...] = (),
    dayfirst: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy a lot sheet (``lot_id`` a column) and list its problems.

    Returns:
        (tidy frame with a RangeIndex, problems: row, lot_id, column, problem).
    """
    sheet = sheet.reset_index(drop=True)
    numbers = [c for c in (*NUMERIC_METADATA, *([label] if label else [])) if c in sheet]
    tidy, problems = tidy_lot_sheet(
        sheet,
        numbers=numbers,
        vocabulary=vocabulary,
        decimal_comma=decimal_comma,
        dates=dates,
        dayfirst=dayfirst,
    )
    bad_cells = {(row, column) for row, column, _ in problems}
    try:
        lot_sheet_schema(label, group).validate(tidy, lazy=True)
    except SchemaErrors as errors:
        for case in errors.failure_cases.itertuples(index=False):
            row = getattr(case, "index", None)
            column = str(case.column)
            if row is None or pd.isna(row):
                continue
            if (int(row), column) in bad_cells and str(case.check) == "not_nullable":
                continue  # already reported as text in a number cell
            problems.append(
                (int(row), column, _problem(case.check, case.failure_case, column, group))
            )
    except SchemaError as error:  # pragma: no cover - lazy=True collects into SchemaErrors
        problems.append((0, "", str(error)))
    ids = tidy[LOT_ID] if LOT_ID in tidy else pd.Series(np.nan, index=tidy.index)
    rows = [
        {
            "row": row,
            "lot_id": ids.iloc[row] if present(ids.iloc[row]) else f"(row {row + 2})",
            "column": column,
            "problem": problem,
        }
        for row, column, problem in sorted(set(problems))
    ]
    return tidy, pd.DataFrame(rows, columns=["row", "lot_id", "column", "problem"])


def lot_sheet_row_problems(
    sheet: pd.DataFrame,
    *,
    vocabulary: Vocabulary,
    label: str | None = None,
    decimal_comma: bool = False,
) -> tuple[pd.DataFrame, pd.Series]:
    """Tidy lot-sheet rows (a scoring request) and say per row what breaks the contract.

    The served model and batch scoring share this, so a cell is read and refused the same way
    in both (``P5`` is passage 5 in both, ``n.a.`` in ``donor_age`` is refused in both).

    Returns:
        (tidy rows with a RangeIndex, per row the problems joined by ``"; "`` or None).
    """
    tidy, rows = _checked_rows(
        _as_columns(sheet), label=label, vocabulary=vocabulary, decimal_comma=decimal_comma
    )
    reasons = pd.Series([None] * len(tidy), index=tidy.index, dtype=object)
    for row, problems in rows.groupby("row")["problem"]:
        reasons[int(str(row))] = "; ".join(dict.fromkeys(problems))
    return tidy, reasons


def present(value: Any) -> bool:
    """Tell whether a cell holds something: not None, NaN, empty or only spaces."""
    return not (value is None or (isinstance(value, float) and np.isnan(value))) and bool(
        str(value).strip()
    )


def require_lot_sheet_columns(
    sheet: pd.DataFrame, *, label: str | None, where: str | None = None
) -> None:
    """Raise an InputError when the sheet lacks ``lot_id``, ``passage`` or the label column."""
    required = [LOT_ID, PASSAGE, *([label] if label else [])]
    missing = [c for c in required if c not in sheet.columns]
    if missing:
        raise InputError(
            f"lot sheet is missing required column(s) {', '.join(map(repr, missing))}",
            where=where,
        )


def _as_columns(sheet: pd.DataFrame) -> pd.DataFrame:
    if LOT_ID not in sheet.columns and sheet.index.name == LOT_ID:
        return sheet.reset_index()
    return sheet


def lot_sheet_problems(
    sheet: pd.DataFrame, *, label: str | None, vocabulary: Vocabulary | None = None
) -> pd.DataFrame:
    """List the problems of each bad lot (one row per lot: lot_id, column, problem).

    Batch scoring uses this to quarantine bad lots instead of failing the whole batch.
    Columns and problems of one lot are joined with ``"; "``.

    Raises:
        InputError: the sheet lacks ``lot_id``, ``passage`` or the ``label`` column.
    """
    sheet, _ = canonical_headers(_as_columns(sheet), (label,))
    require_lot_sheet_columns(sheet, label=label)
    _, rows = _checked_rows(sheet, label=label, vocabulary=vocabulary or load_vocabulary())
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in PROBLEM_COLUMNS})
    grouped = rows.groupby("lot_id", sort=False).agg(
        column=("column", lambda s: "; ".join(dict.fromkeys(s))),
        problem=("problem", lambda s: "; ".join(dict.fromkeys(s))),
    )
    return grouped.reset_index()[list(PROBLEM_COLUMNS)]


def render_problems(problems: pd.DataFrame, *, source: str, limit: int = MAX_SHOWN) -> str:
    """Render problems (columns lot_id, column, problem) as a short aligned table."""
    first = problems.head(limit)
    header = ("file", "lot/row", "column", "problem")
    has_row = "row" in first.columns
    body = [
        (
            Path(source).name,
            f"{shown(r.lot_id)} (row {int(str(r.row)) + 2})" if has_row else shown(r.lot_id),
            shown(r.column),
            str(r.problem),
        )
        for r in first.itertuples(index=False)
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in [header, *body]
    ]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    return "\n".join(lines)


def finish_lot_sheet(tidy: pd.DataFrame, *, label: str | None) -> pd.DataFrame:
    """Type problem-free tidy rows: index lot_id (str), passage int64, numbers float64."""
    sheet = tidy.copy()
    sheet[LOT_ID] = sheet[LOT_ID].map(_text).astype("object")
    sheet[PASSAGE] = sheet[PASSAGE].astype("int64")
    if label is not None:
        sheet[label] = sheet[label].astype("int64")
    for name in TEXT_METADATA:
        if name in sheet:
            sheet[name] = sheet[name].map(_text).astype("object")
    return sheet.set_index(LOT_ID)


def _text(value: Any) -> Any:
    """Render a cell as text: integral floats without ``.0`` (Excel ids), missing stays NaN."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text if text else np.nan


def validate_lot_sheet(
    sheet: pd.DataFrame,
    *,
    label: str | None = None,
    group: str | None = None,
    source: str = "lot sheet",
    vocabulary: Vocabulary | None = None,
    decimal_comma: bool = False,
    dates: tuple[str, ...] = (),
    dayfirst: bool = False,
) -> pd.DataFrame:
    """Check a raw lot sheet against the contract and return it typed and indexed by lot_id.

    Args:
        label: the label column (required, 0/1).
        group: the CV group column: an empty cell in it is a problem (training).
        vocabulary: category spellings (default ``configs/vocabulary.yaml``).
        decimal_comma: read ``44,0`` as 44.0 (a ``;`` separated sheet).
        dates: time columns (``cv.time_column``): numbers, or dates by ``parse_date``; a date
            that is ambiguous or impossible is a problem naming lot, row and value.
        dayfirst: read ``dd/mm/yyyy`` dates in ``dates``.

    Raises:
        InputError: listing (a short table of) every problem, grouped by lot.
    """
    vocabulary = vocabulary or load_vocabulary()
    sheet, _ = canonical_headers(_as_columns(sheet), (label, group, *dates), where=source)
    require_lot_sheet_columns(sheet, label=label, where=source)
    tidy, rows = _checked_rows(
        sheet,
        label=label,
        group=group,
        vocabulary=vocabulary,
        decimal_comma=decimal_comma,
        dates=tuple(c for c in dates if c in sheet.columns),
        dayfirst=dayfirst,
    )
    if not rows.empty:
        n_lots = rows["lot_id"].nunique()
        raise InputError(
            f"lot sheet breaks the contract ({len(rows)} problem(s) in {n_lots} lot(s)):\n"
            + render_problems(rows, source=source),
            where=source,
        )
    warn_unknown_categories(tidy, vocabulary, source=source)
    return finish_lot_sheet(tidy, label=label)


def split_lot_sheet(
    sheet: pd.DataFrame,
    *,
    label: str | None = None,
    source: str = "lot sheet",
    vocabulary: Vocabulary | None = None,
    decimal_comma: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a raw lot sheet into good lots (typed) and quarantined rows (lot_id, reason)."""
    vocabulary = vocabulary or load_vocabulary()
    sheet, _ = canonical_headers(_as_columns(sheet).reset_index(drop=True), (label,), where=source)
    require_lot_sheet_columns(sheet, label=label, where=source)
    tidy, rows = _checked_rows(
        sheet, label=label, vocabulary=vocabulary, decimal_comma=decimal_comma
    )
    bad_rows = sorted(set(rows["row"].astype(int)))
    reasons = rows.groupby("row")["problem"].agg(lambda s: "; ".join(dict.fromkeys(s)))
    quarantine = pd.DataFrame(
        {
            "lot_id": [rows.loc[rows["row"] == r, "lot_id"].iloc[0] for r in bad_rows],
            "reason": [reasons[r] for r in bad_rows],
        },
        columns=["lot_id", "reason"],
    ).astype("object")
    good = tidy.drop(index=bad_rows)
    warn_unknown_categories(good, vocabulary, source=source)
    if bad_rows:
        logger.warning(
            "%s: quarantined %d of %d lot-sheet rows (reasons in the quarantine file)",
            source,
            len(bad_rows),
            len(sheet),
        )
    return finish_lot_sheet(good, label=label), quarantine


def _bad_cells(block: pd.DataFrame, scale: str = "raw") -> np.ndarray:
    """Mask of cells that are neither NaN nor a finite number (> 0 on the raw scale)."""
    values = block.to_numpy(dtype="float64", na_value=np.nan)
    valid = np.isfinite(values) & ((values > 0) if scale == "raw" else True)
    return ~(np.isnan(values) | valid)


def _value_check(scale: str) -> pa.Check:
    if scale == "raw":
        return pa.Check(
            lambda block: not _bad_cells(block).any(),
            name="finite_positive",
            error="intensity must be finite and > 0 (NaN = missing)",
        )
    return pa.Check(
        lambda block: not _bad_cells(block, "log2").any(),
        name="finite_log2",
        error="log2 value must be finite (NaN = missing)",
    )


# One scalar check over the whole block: per-cell checks cost seconds at 500 × 5,000.
PROTEIN_MATRIX_SCHEMA = pa.DataFrameSchema(
    checks=[
        _value_check("raw"),
        pa.Check(
            lambda block: bool((block.dtypes == "float64").all()),
            name="float64",
            error="intensities must be float64",
        ),
        pa.Check(
            lambda block: bool(block.columns.is_unique),
            name="unique_groups",
            error="duplicate protein group columns",
        ),
    ],
    index=pa.Index(None, unique=True, nullable=False),
)
PROTEIN_MATRIX_SCHEMAS = {
    "raw": PROTEIN_MATRIX_SCHEMA,
    "log2": pa.DataFrameSchema(
        checks=[_value_check("log2"), *PROTEIN_MATRIX_SCHEMA.checks[1:]],
        index=PROTEIN_MATRIX_SCHEMA.index,
    ),
}


def protein_matrix_problems(matrix: ProteinMatrix) -> pd.DataFrame:
    """List contract breaches of a ProteinMatrix (lot_id/run, column, problem), one per run."""
    problems: list[dict[str, Any]] = []
    block = matrix.intensities
    try:
        PROTEIN_MATRIX_SCHEMAS[matrix.scale].validate(block, lazy=True)
    except SchemaErrors as errors:
        checks = set(errors.failure_cases["check"].astype(str))
        if any("finite" in c for c in checks):
            bad = _bad_cells(block, matrix.scale)
            runs, groups = list(block.index), list(block.columns)
            for row in np.flatnonzero(bad.any(axis=1)).tolist():
                columns = [str(groups[j]) for j in np.flatnonzero(bad[row]).tolist()]
                shown = ", ".join(columns[:3]) + (
                    f" (+{len(columns) - 3})" if len(columns) > 3 else ""
                )
                problems.append(
                    {
                        "lot_id": str(runs[row]),
                        "column": shown,
                        "problem": "intensity must be finite and > 0 (NaN = missing)"
                        if matrix.scale == "raw"
                        else "log2 value must be finite (NaN = missing)",
                    }
                )
        for check in sorted(c for c in checks if "finite" not in c):
            problems.append({"lot_id": "(all)", "column": "(index/columns)", "problem": check})
    if not matrix.proteins.index.equals(block.columns):
        problems.append(
            {
                "lot_id": "(all)",
                "column": "proteins",
                "problem": "protein annotations do not match the intensity columns",
            }
        )
    return pd.DataFrame(problems, columns=list(PROBLEM_COLUMNS))


def validate_protein_matrix(matrix: ProteinMatrix) -> ProteinMatrix:
    """Check the protein-matrix contract on the whole block at once.

    Raises:
        InputError: with a short table of the failing runs/lots and proteins.
    """
    problems = protein_matrix_problems(matrix)
    if not problems.empty:
        raise InputError(
            "protein matrix breaks the contract:\n"
            + render_problems(problems, source=str(matrix.source)),
            where=str(matrix.source),
        )
    return matrix
