"""A quarantine reason says what actually happened to the lot, naming the run and the lot.

Each case here is a tiny wide or long table scored through the CLI with the simulated model.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.cli import app

runner = CliRunner()


def score(model: Path, proteins: Path, lots: Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    args = ["score", "--model", model, "--proteins", proteins, "--lots", lots, "--out", out]
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"lot_id": str})
    quarantine = pd.read_csv(out.with_name(f"{out.stem}.quarantine.csv"), dtype=str)
    return scores, quarantine


def runs_table(data: Path, runs: dict[str, str], path: Path, layout: str) -> Path:
    """The simulated lots' profiles as a table of runs (run name -> the lot whose profile it
    holds), wide (one row per run) or long (run, protein, intensity)."""
    proteins = pd.read_csv(data / "proteins.csv", dtype={"lot_id": str}).set_index("lot_id")
    wide = proteins.loc[list(runs.values())].set_axis(list(runs), axis=0).rename_axis("run")
    table = wide.copy().reset_index()
    if layout == "long":
        table = table.melt(id_vars="run", var_name="protein", value_name="intensity")
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
        data, {"B01/S01.raw": a, "B01/S02.raw": c}, tmp_path / f"{layout}.csv", layout
    )
    scores, quarantine = score(
        simulated_model["model"], proteins, tmp_path / "lots.csv", tmp_path / "scores.csv"
    )
    assert sorted(scores["lot_id"]) == sorted([a, c])
    assert quarantine.set_index("lot_id")["reason"].to_dict() == {
        b: f"no protein profile: ms_run 'S01' is in the protein file (as 'B01/S01.raw') "
        f"but taken by lot '{a}'"
    }
