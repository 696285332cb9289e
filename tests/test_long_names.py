"""Long or odd lot ids are shortened in terminal messages and kept whole in files (data tier).

Every message that names lots, runs or proteins renders them through ``errors.shown`` (via
``listed``, ``named``, the lot-sheet problem table and the CLI summaries).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from exostab.cli import app
from exostab.errors import MAX_SHOWN_CHARS, shown
from exostab.io.problem_table import render_problems
from exostab.io.readers.messages import listed
from exostab.io.runs import named

runner = CliRunner()
names = st.text(min_size=1, max_size=6000)


@given(names)
def test_shown_is_short_printable_and_faithful_when_short(name: str) -> None:
    text = shown(name)
    assert len(text) <= MAX_SHOWN_CHARS
    assert text.isprintable()  # a newline in a cell cannot break the terminal's lines
    if len(name) <= MAX_SHOWN_CHARS and name.isprintable():
        assert text == name
    if len(name) > MAX_SHOWN_CHARS:
        assert "…" in text
        assert text.startswith(name[:10]) or not name[:10].isprintable()


@given(st.lists(names, min_size=1, max_size=30))
def test_messages_listing_names_stay_short(items: list[str]) -> None:
    for message, shown_items in ((listed(items), 5), (named(items), 10)):
        # each item is at most MAX_SHOWN_CHARS (+ quotes and ", "), plus "(and N more)"
        assert len(message) <= min(len(items), shown_items) * (MAX_SHOWN_CHARS + 4) + 20
        assert "\n" not in message


@given(st.lists(names, min_size=1, max_size=12))
def test_lot_sheet_problem_table_stays_short(lot_ids: list[str]) -> None:
    problems = pd.DataFrame(
        {"lot_id": lot_ids, "column": "passage", "problem": "passage must be >= 0"}
    )
    table = render_problems(problems, source="lots.csv")
    assert all(len(line) <= 2 * MAX_SHOWN_CHARS + 60 for line in table.splitlines())


ODD_IDS = {
    "huge": "L" * 5000,
    "huge_with_spaces": "lot " * 1500,
    "newline_inside": "LOT\n" * 40 + "END",
    "markup_and_quotes": '[bold red]it\'s[/] "lot" ' * 20,
    "unicode": "λότ-μ😀" * 300,
}


def _longest_run_of(fragment: str, text: str) -> int:
    """The longest stretch of the id that appears verbatim in the text (0 when none)."""
    best, window = 0, 20
    while window <= len(fragment) and fragment[:window] in text:
        best, window = window, window * 2
    return best


@pytest.mark.parametrize("odd", sorted(ODD_IDS))
@pytest.mark.parametrize("command", ["score", "explain", "inspect", "train"])
def test_every_command_shortens_a_huge_lot_id_on_the_terminal_not_in_files(
    simulated_model: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    command: str,
    odd: str,
) -> None:
    """A run of a lot missing from the sheet and a sheet lot without a run, both with odd ids."""
    data = simulated_model["data"]
    odd_id = ODD_IDS[odd]
    proteins = pd.read_csv(data / "proteins.csv", dtype={"lot_id": object})
    lots = pd.read_csv(data / "lots.csv", dtype={"lot_id": object})
    proteins.loc[2, "lot_id"] = odd_id + "-run"
    lots.loc[3, "lot_id"] = odd_id + "-sheet"
    proteins.to_csv(tmp_path / "proteins.csv", index=False)
    lots.to_csv(tmp_path / "lots.csv", index=False)
    given_files = [
        "--proteins",
        str(tmp_path / "proteins.csv"),
        "--lots",
        str(tmp_path / "lots.csv"),
    ]
    model = ["--model", str(simulated_model["model"])]
    arguments = {
        "score": [*model, *given_files, "--out", str(tmp_path / "scores.csv")],
        "explain": [*model, *given_files, "--out", str(tmp_path / "explain")],
        "inspect": [str(tmp_path / "proteins.csv"), "--lots", str(tmp_path / "lots.csv")],
        "train": [*given_files, "--no-register"],
    }[command]
    result = runner.invoke(app, [command, *arguments])
    assert result.exit_code == (2 if command == "train" else 0), result.output
    said = result.output + "\n".join(caplog.messages)
    assert "…" in said  # the ids were named, shortened
    assert _longest_run_of(odd_id, said) < MAX_SHOWN_CHARS
    quarantine = {
        "score": tmp_path / "scores.quarantine.csv",
        "explain": tmp_path / "explain" / "quarantine.csv",
    }.get(command)
    if quarantine is not None:
        kept = set(pd.read_csv(quarantine, dtype=str, keep_default_na=False)["lot_id"])
        assert {odd_id + "-run", odd_id + "-sheet"} <= kept  # files keep the full ids


@given(st.text(min_size=200, max_size=3000).filter(lambda text: text.strip() != ""))
def test_a_huge_bad_cell_is_shortened_in_the_lot_sheet_message(cell: str) -> None:
    from exostab.io.lot_sheet_contract import _problem

    message = _problem("greater_than_or_equal_to(0)", cell, "passage", None)
    assert len(message) <= MAX_SHOWN_CHARS + 60
