"""How contract breaches are shown: a short aligned table (file, lot or row, column, problem)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from exostab.errors import shown

MAX_SHOWN = 10
PROBLEM_COLUMNS = ("lot_id", "column", "problem")


def render_problems(problems: pd.DataFrame, *, source: str, limit: int = MAX_SHOWN) -> str:
    """Render problems (columns lot_id, column, problem) as a short aligned table."""
    first = problems.head(limit)
    header = ("file", "lot/row", "column", "problem")
    has_row = "row" in first.columns

    def lot_or_row(r: object) -> str:
        lot = shown(r.lot_id)  # type: ignore[attr-defined]
        if not has_row:
            return lot
        row = f"(row {int(str(r.row)) + 2})"  # type: ignore[attr-defined]
        return row if lot == row else f"{lot} {row}"  # a lot without id is named by its row

    body = [
        (
            Path(source).name,
            lot_or_row(r),
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
