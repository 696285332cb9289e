"""A quarantine reason says what actually happened to the lot, naming the run and the lot.

Each case here is a tiny wide or long table scored through the CLI with the simulated model.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.cli import app
from exostab.io.readers.streaming import failed_run_reason

runner = CliRunner()


def score(model: Path, proteins: Path, lots: Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    args = ["score", "--model", model, "--proteins", proteins, "--lots", lots, "--out", out]
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"lot_id": str})
    quarantine = pd.read_csv(out.with_name(f"{out.stem}.quarantine.csv"), dtype=str)
    return scores, quarantine


def runs_table(
    data: Path, rows: list[tuple[str, str]], path: Path, layout: str = "wide", key: str = "run"
) -> Path:
    """The simulated lots' profiles as a table keyed by ``key``: one row per (name, the lot
    whose profile it holds), wide, or long (run, protein, intensity)."""
    proteins = pd.read_csv(data / "proteins.csv", dtype={"lot_id": str}).set_index("lot_id")
    names, lots = zip(*rows, strict=True)
    wide = proteins.loc[list(lots)].set_axis(list(names), axis=0).rename_axis(key)
    table = wide.copy().reset_index()
    if layout == "long":
        table = table.melt(id_vars=key, var_name="protein", value_name="intensity")
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("layout", ["wide", "long"])
def test_a_run_another_lot_took_by_its_full_path_is_not_said_to_be_missing(
    simulated_model: dict[str, Path], tmp_path: Path, layout: str
) -> None:
    """Lot A names B01/S01.raw, lot B names S01: A takes the run by its full path, and B is
    quarantined as "no protein profile" because its run is A's, not because the file lacks it
    (it said "ms_run 'S01' not in the protein file")."""
    data = simulated_model["data"]
    sheet = pd.read_csv(data / "lots.csv", dtype={"lot_id": str}).head(3)
    a, b, c = sheet["lot_id"]
    sheet["ms_run"] = ["B01/S01.raw", "S01", "B01/S02.raw"]
    sheet.to_csv(tmp_path / "lots.csv", index=False)
    proteins = runs_table(
        data, [("B01/S01.raw", a), ("B01/S02.raw", c)], tmp_path / f"{layout}.csv", layout
    )
    scores, quarantine = score(
        simulated_model["model"], proteins, tmp_path / "lots.csv", tmp_path / "scores.csv"
    )
    assert sorted(scores["lot_id"]) == sorted([a, c])
    assert quarantine.set_index("lot_id")["reason"].to_dict() == {
        b: f"no protein profile: ms_run 'S01' is in the protein file (as 'B01/S01.raw') "
        f"but taken by lot '{a}'"
    }


@pytest.mark.parametrize("id_column", ["run", "lot_id"])
def test_a_repeated_row_id_is_named_as_the_column_the_table_is_keyed_by(
    simulated_model: dict[str, Path], tmp_path: Path, id_column: str
) -> None:
    """A wide table keyed by run that repeats a run: each copy is quarantined as a duplicate
    run, named (it said "duplicate lot_id in the protein file", of a file with no lot_id); a
    table keyed by lot id names the repeated lot id."""
    data = simulated_model["data"]
    sheet = pd.read_csv(data / "lots.csv", dtype={"lot_id": str}).head(3)
    a, b, c = sheet["lot_id"]
    by_run = id_column == "run"
    names = ["B01/S01.raw", "B01/S02.raw", "B01/S02.raw", "B01/S03.raw"] if by_run else [a, b, b, c]
    proteins = runs_table(
        data, list(zip(names, [a, b, b, c], strict=True)), tmp_path / "wide.csv", key=id_column
    )
    if by_run:
        sheet["ms_run"] = ["B01/S01.raw", "S02", "B01/S03.raw"]
    sheet.to_csv(tmp_path / "lots.csv", index=False)
    scores, quarantine = score(
        simulated_model["model"], proteins, tmp_path / "lots.csv", tmp_path / "scores.csv"
    )
    assert sorted(scores["lot_id"]) == sorted([a, c])
    repeated = names[1]
    assert quarantine["lot_id"].tolist() == [b, b]
    assert (
        quarantine["reason"].tolist()
        == [f"duplicate {id_column} '{repeated}' in the protein file"] * 2
    )


def test_a_failed_run_reads_the_same_in_score_and_monitor(
    simulated_model: dict[str, Path], tmp_path: Path, tracking_store: str
) -> None:
    """A run that quantified no protein: score and monitor quarantine its lot in the same words
    (monitor rewrote them as "failed run: no protein quantified: …"), and monitor counts it."""
    data = simulated_model["data"]
    sheet = pd.read_csv(data / "lots.csv", dtype={"lot_id": str}).head(12)
    lots = list(sheet["lot_id"])
    proteins = runs_table(
        data, list(zip(lots, lots, strict=True)), tmp_path / "wide.csv", key="lot_id"
    )
    table = pd.read_csv(proteins, dtype={"lot_id": str})
    table.loc[1, table.columns[1:]] = None  # lot 1's run quantified nothing
    table.to_csv(proteins, index=False)
    sheet.to_csv(tmp_path / "lots.csv", index=False)
    expected = {lots[1]: failed_run_reason(lots[1])}
    _, quarantine = score(
        simulated_model["model"], proteins, tmp_path / "lots.csv", tmp_path / "scores.csv"
    )
    assert quarantine.set_index("lot_id")["reason"].to_dict() == expected
    out = tmp_path / "monitor"
    args = ["monitor", "--model", simulated_model["model"], "--proteins", proteins]
    result = runner.invoke(
        app, [str(arg) for arg in [*args, "--lots", tmp_path / "lots.csv", "--out", out]]
    )
    assert result.exit_code == 0, result.output
    monitored = pd.read_csv(out / "quarantine.csv", dtype={"lot_id": str})
    assert monitored.set_index("lot_id")["reason"].to_dict() == expected
    assert pd.read_csv(out / "windows.csv")["n_failed_runs"].sum() == 1
