"""Reading the monitored lot sheet: assay outcomes, its columns, dates into time windows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from exostab.errors import ExostabError
from exostab.io.lot_sheet_cells import cell_text, parse_time_column

NO_DATE = "no date"


def read_outcomes(values: pd.Series) -> tuple[pd.Series, list[str]]:
    """Read assay outcomes: 1 unstable, 0 stable, empty = not back yet (NaN).

    Numbers equal to 1 or 0 (``1``, ``1.0``, ``0.00``: as ``train`` reads its label) and
    ``true``/``false``, ``yes``/``no`` are read; anything else is treated as not back and its
    lot named in the second return value.
    """
    words = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0}
    outcome = pd.Series(np.nan, index=values.index, dtype=float)
    unreadable: list[str] = []
    for lot, cell in values.items():
        if cell is None or (isinstance(cell, float) and math.isnan(cell)):
            continue
        text = str(cell).strip().lower()
        if not text or text in ("nan", "na", "n/a"):
            continue
        number = outcome_number(text)
        if number in (0.0, 1.0):
            outcome.loc[lot] = number  # type: ignore[call-overload]
        elif text in words:
            outcome.loc[lot] = words[text]  # type: ignore[call-overload]
        else:
            unreadable.append(str(lot))
    return outcome, unreadable


def outcome_number(text: str) -> float | None:
    """A cell's number (``0,00`` with a decimal comma too), or None when it is not one."""
    try:
        return float(text.replace(",", ".") if text.count(",") == 1 else text)
    except ValueError:
        return None


WINDOWS = {"W": "week", "M": "month", "Q": "quarter", "Y": "year"}
DEFAULT_WINDOW = "M"
DEFAULT_DATE_COLUMN = "release_date"


def checked_window(window: str) -> str:
    """Read a time-window spelling: ``W``, ``M``, ``Q`` or ``Y`` (any case) → upper case.

    Raises:
        ExostabError: any other spelling, naming the four allowed.
    """
    spelled = str(window).strip().upper()
    if spelled not in WINDOWS:
        allowed = ", ".join(f"{key} ({name})" for key, name in WINDOWS.items())
        raise ExostabError(f"--window {window!r} is not a time window: use {allowed}")
    return spelled


def refuse_lot_id_options(label: str, date_column: str | None, where: str | None) -> None:
    """Refuse ``--label lot_id`` or ``--date-column lot_id`` before the sheet is read.

    Raises:
        ExostabError: the option names the lot id column.
    """
    for option, column in (("--label", label), ("--date-column", date_column)):
        if column == "lot_id":
            what = "an outcome" if option == "--label" else "a date"
            raise ExostabError(
                f"{option} 'lot_id' names the lot id column, not {what}", where=where
            )


def check_monitor_columns(
    sheet: pd.DataFrame,
    *,
    label: str,
    date_column: str | None,
    date_required: bool,
    where: str | None = None,
) -> None:
    """Refuse an outcome column (or a date column the user named) that the lot sheet lacks,
    or an outcome column that holds no outcome.

    Args:
        sheet: the lot sheet as read (its columns).
        label: the outcome column; required (its cells may all be empty: no assay back).
        date_column: the date column; None = no dates (one time window).
        date_required: the user named ``date_column`` (``--date-column``): it must be there.
            The default ``release_date`` may be absent (one time window, said in a note).
        where: the lot sheet's file, for the message.

    Raises:
        ExostabError: one line naming the file and the missing column, an option naming the
            lot id column, or an outcome column holding a number other than 0/1 or mostly
            text (a wrong ``--label``: ``passage``, ``donor_age``).
    """
    refuse_lot_id_options(label, date_column, where)
    if label not in sheet.columns:
        raise ExostabError(
            f"the lot sheet has no outcome column {label!r} (--label): add it, empty where the "
            "assay is not back, or name the outcome column with --label",
            where=where,
        )
    if date_required and date_column is not None and date_column not in sheet.columns:
        raise ExostabError(
            f"the lot sheet has no date column {date_column!r} (--date-column)", where=where
        )
    outcome, unreadable = read_outcomes(sheet[label])
    cells = sheet.loc[unreadable, label].astype(str).str.strip().str.lower()
    numbers = [text for text in cells if outcome_number(text) is not None]
    # a number other than 0/1 (an age of 30, 3 freeze-thaw cycles) is no assay outcome; text
    # (pending, n.d.) may stand for "not back" as long as most cells are outcomes
    if numbers or len(unreadable) > outcome.notna().sum():
        values = sheet.loc[unreadable, label]
        if numbers:  # named as the sheet writes them (30, not 30.0)
            values = values[[outcome_number(t) is not None for t in cells]]
        examples = ", ".join(dict.fromkeys(cell_text(v) for v in values.head(20)))
        raise ExostabError(
            f"the outcome column {label!r} is not an outcome: {len(unreadable)} of its "
            f"{len(unreadable) + int(outcome.notna().sum())} filled cells are not 0/1 (such as "
            f"{examples[:80]}): is --label the assay outcome (1 unstable, 0 stable, empty = not "
            "back)?",
            where=where,
        )


def window_labels(dates: pd.Series, window: str, *, dayfirst: bool = False) -> pd.Series:
    """Label each lot with its time window (a pandas period: ``W``, ``M``, ``Q``, ``Y``).

    Dates are read by training's rule (``parse_time_column``): ISO ``yyyy-mm-dd``, or
    ``dd/mm/yyyy`` with ``dayfirst``; never guessed. Dates the lot-sheet reader already read
    (datetime64) are taken as they are. An empty cell, or a column of numbers (no calendar),
    labels its lot ``no date``.

    Raises:
        ExostabError: ``window`` is not one of ``W``, ``M``, ``Q``, ``Y``; a date that is
            ambiguous (``09/05/2027`` without ``dayfirst``), impossible or not a date, naming
            the lot and the value.
    """
    period = checked_window(window)
    if pd.api.types.is_datetime64_any_dtype(dates):
        parsed = dates
    else:
        read, problems = parse_time_column(dates, dayfirst=dayfirst)
        if problems:
            shown = "; ".join(f"lot {dates.index[row]}: {problem}" for row, problem in problems[:3])
            more = f" ({len(problems) - 3} more)" if len(problems) > 3 else ""
            raise ExostabError(f"{len(problems)} release date(s) not read: {shown}{more}")
        if not pd.api.types.is_datetime64_any_dtype(read):
            read = pd.Series(pd.NaT, index=dates.index, dtype="datetime64[ns]")
        parsed = read
    periods = parsed.dt.to_period(period)
    return periods.astype(str).where(parsed.notna(), NO_DATE)
