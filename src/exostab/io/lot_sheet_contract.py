"""The lot-sheet contract (pandera), with readable failures.

Failures are collected lazily, grouped by lot and rendered as a short table (file, lot or row,
column, problem) inside one ``InputError``, so a user sees every problem at once without a flood.
"""

from __future__ import annotations

import logging
from typing import Any

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
)
from exostab.errors import InputError, shown
from exostab.io.lot_sheet_cells import (
    LOT_ID,
    PASSAGE,
    canonical_headers,
    cell_text,
    present,
    tidy_lot_sheet,
)
from exostab.io.problem_table import MAX_SHOWN, PROBLEM_COLUMNS, render_problems
from exostab.io.runs import MS_RUN, channel_column

logger = logging.getLogger(__name__)

TEXT_METADATA = tuple(c for c in METADATA_COLUMNS if c not in NUMERIC_METADATA)
# Passages are counted in passages (P0 = primary culture). MSC are expanded to about P15-P20
# at most: clinical MSC-EV production runs mostly at P3-P6, research up to P8-P12, and UC-MSC
# reach replicative arrest around P12-P15 (shared/docs/domain-research.md, section 5, "Passage /
# cumulative population doublings": Lei 2017; Yang 2018; Wagner 2008). 50 is clearly above any
# real culture, so a larger passage is a typing or unit error (population doublings, days).
MAX_PASSAGE = 50


def _whole_number(series: pd.Series) -> pd.Series:
    return series.isna() | np.isinf(series) | (series % 1 == 0)


def _finite(series: pd.Series) -> pd.Series:
    return ~np.isinf(series)


def _at_least_0(series: pd.Series) -> pd.Series:
    """>= 0, or infinite (an infinite value is said once, as not finite)."""
    return series.isna() | np.isinf(series) | (series >= 0)


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
            # An infinite value (1e400 in a request) fails "finite" only, not every check.
            checks=[
                pa.Check(_finite, error="passage must be finite"),
                pa.Check(_at_least_0, error="passage must be >= 0"),
                pa.Check(
                    lambda s: np.isinf(s) | (s <= MAX_PASSAGE),
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
                    pa.Check(_at_least_0, error=f"{name} must be >= 0"),
                    pa.Check(_finite, error=f"{name} must be finite"),
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
    dates: tuple[str, ...] = (),
    dayfirst: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a raw lot sheet into good lots (typed) and quarantined rows (lot_id, reason).

    The quarantined rows carry their ``ms_run`` (and reporter channel) cells when the sheet
    has them, so their runs count as their lots' (``run_claims``), not as runs of no lot; and
    their ``dates`` cells, read as the good rows' (NaT when empty).

    Args:
        dates: date columns (``monitor``'s release date), read by the rule of training's time
            column (``parse_time_column``): ISO, or ``dd/mm/yyyy`` with ``dayfirst``. A date
            that is ambiguous or impossible is not one lot's fault but the rule's: it is
            refused as ``validate_lot_sheet`` refuses it, naming lot, row and value.
        dayfirst: read ``dd/mm/yyyy`` dates in ``dates``.

    Raises:
        InputError: a missing required column, or date cells not read by the rule.
    """
    vocabulary = vocabulary or load_vocabulary()
    sheet, _ = canonical_headers(
        _as_columns(sheet).reset_index(drop=True), (label, *dates), where=source
    )
    require_lot_sheet_columns(sheet, label=label, where=source)
    tidy, rows = _checked_rows(
        sheet,
        label=label,
        vocabulary=vocabulary,
        decimal_comma=decimal_comma,
        dates=tuple(c for c in dates if c in sheet.columns),
        dayfirst=dayfirst,
    )
    bad_dates = rows[rows["column"].isin(dates)]
    if not bad_dates.empty:
        n_lots = bad_dates["lot_id"].nunique()
        raise InputError(
            f"lot sheet has date(s) not read by the date rule ({len(bad_dates)} problem(s) in "
            f"{n_lots} lot(s)):\n" + render_problems(bad_dates, source=source),
            where=source,
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
    # The runs of a quarantined lot stay its own (``run_claims``): not runs "of no lot".
    for column in (MS_RUN, channel_column(tidy)):
        if column is not None and column in tidy.columns:
            quarantine[column] = tidy[column].iloc[bad_rows].astype("object").to_numpy()
    # A quarantined lot keeps its date (``monitor`` books it in its release window).
    for column in dates:
        if column in tidy.columns:
            quarantine[column] = tidy[column].iloc[bad_rows].to_numpy()
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
