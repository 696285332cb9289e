"""A run named ``<lot_id>.<number>`` (review: ``SIM-L0001.2`` holding another lot's values).

It was averaged into lot SIM-L0001 as a replicate although the lot sheet's ``ms_run`` names that
lot's runs, and nothing said so. Now a lot whose ``ms_run`` names its runs takes no run whose
name is its id cut at a dot (the run is of no lot, quarantined with its reason); a lot without
``ms_run`` entries still takes it, and the averaging is said (``inspect`` note, ``train``/
``score`` warning, the lot's ``warning`` column), in every table shape and both engines.

Case files are read where they lie in ../shared/cases/ (a test skips when absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.cli import app
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.runs import map_runs_to_lots
from exostab.scoring.spark import SparkBooks

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"
runner = CliRunner()


def base() -> Path:
    path = CASES / "base-lots"
    if not path.is_dir():
        pytest.skip(f"base-lots not found at {path}")
    return path


def _matrix(runs: list[str]) -> ProteinMatrix:
    values = [[float(10 * (i + 1)), float(i + 1)] for i in range(len(runs))]
    intensities = pd.DataFrame(values, index=pd.Index(runs, name="run"), columns=["CD9", "CD63"])
    proteins = pd.DataFrame(
        {"leading_accession": [np.nan] * 2, "gene": ["CD9", "CD63"], "description": [np.nan] * 2},
        index=intensities.columns,
    )
    return ProteinMatrix(intensities, proteins, "wide", Path("x.csv"), n_groups_before=2)


def _sheet(ms_run: list[str] | None) -> pd.DataFrame:
    index = pd.Index(["LOT-1", "LOT-2"], name="lot_id")
    columns = {"passage": [3, 4]} | ({"ms_run": ms_run} if ms_run is not None else {})
    return pd.DataFrame(columns, index=index)


@pytest.mark.parametrize(
    "runs, ms_run",
    [
        (["run_1", "LOT-1.2", "run_2"], ["run_1", "run_2"]),  # search-engine runs named in ms_run
        (["LOT-1", "LOT-1.2", "LOT-2"], ["raw_1", "raw_2"]),  # wide table keyed by lot_id
        (["LOT-1", "LOT-1.rep2", "LOT-2"], ["raw_1", ""]),
    ],
)
def test_a_dot_numbered_run_is_no_lot_whose_ms_run_names_its_runs(
    runs: list[str], ms_run: list[str]
) -> None:
    lots, mapping = map_runs_to_lots(_matrix(runs), _sheet(ms_run))
    extra = runs[1]
    assert extra not in mapping.run_to_lot
    assert mapping.runs_without_lot == (extra,)
    assert mapping.replicates["LOT-1"] == 1
    assert lots.intensities.loc["LOT-1", "CD9"] == 10.0  # its own run's value, nothing averaged
    assert mapping.named_replicates == {}


def test_without_ms_run_a_dot_numbered_run_is_averaged_and_said() -> None:
    lots, mapping = map_runs_to_lots(_matrix(["LOT-1", "LOT-1.2", "LOT-2"]), _sheet(None))
    assert mapping.run_to_lot["LOT-1.2"] == "LOT-1"
    assert lots.intensities.loc["LOT-1", "CD9"] == pytest.approx(np.sqrt(10.0 * 20.0))
    assert mapping.named_replicates == {"LOT-1": ("LOT-1", "LOT-1.2")}
    note = mapping.replicate_note()
    assert note is not None and "LOT-1 (LOT-1, LOT-1.2)" in note
    # runs a lot's ms_run names are averaged as the sheet says: nothing to add
    _, named = map_runs_to_lots(_matrix(["a", "b", "LOT-2"]), _sheet(["a;b", ""]))
    assert named.replicates["LOT-1"] == 2 and named.named_replicates == {}


def test_the_spark_engine_claims_runs_by_the_same_rule(simulated_model: dict[str, Path]) -> None:
    from exostab.model.bundle import ModelBundle

    bundle = ModelBundle.load(simulated_model["model"] / "artifacts" / "bundle")

    def _spark_books(sheet: pd.DataFrame) -> SparkBooks:
        quarantine = pd.DataFrame(columns=["lot_id", "reason"])
        return SparkBooks(bundle=bundle, sheet=sheet, sheet_quarantine=quarantine)

    runs = ["LOT-1", "LOT-1.2", "LOT-2"]
    books = _spark_books(_sheet(["raw_1", "raw_2"]))
    books.match_file(runs)
    claimed, quarantine = books.claim_runs(runs, Path("x.csv"))
    assert claimed == {"LOT-1": "LOT-1", "LOT-2": "LOT-2"}
    assert list(quarantine["lot_id"]) == ["LOT-1.2"]
    assert "named like lot LOT-1" in quarantine["reason"].iloc[0]
    assert not books.lot_warnings

    books = _spark_books(_sheet(None))
    books.match_file(runs)
    claimed, quarantine = books.claim_runs(runs, Path("x.csv"))
    assert claimed["LOT-1.2"] == "LOT-1" and quarantine.empty
    assert books.lot_warnings["LOT-1"] == (
        "averaged 2 runs as replicates by their names (no ms_run names this lot's runs): "
        "LOT-1, LOT-1.2"
    )


# --- the reviewer's files, every shape: inspect ---------------------------------------------


def dotted_wide(tmp_path: Path) -> Path:
    wide = pd.read_csv(base() / "proteins.csv", dtype={"lot_id": str})
    extra = wide.iloc[[1]].assign(lot_id="SIM-L0001.2")  # another lot's values
    path = tmp_path / "p_dotsuffix.csv"
    pd.concat([wide, extra]).to_csv(path, index=False)
    return path


def dotted_long(tmp_path: Path) -> Path:
    wide = pd.read_csv(dotted_wide(tmp_path), dtype={"lot_id": str})
    long = wide.melt(id_vars="lot_id", var_name="protein", value_name="intensity").dropna()
    path = tmp_path / "long_dotsuffix.csv"
    long.to_csv(path, index=False)
    return path


def dotted_maxquant(tmp_path: Path) -> Path:
    table = pd.read_csv(base() / "proteinGroups.txt", sep="\t", dtype=str, keep_default_na=False)
    table["LFQ intensity SIM-L0001.2"] = table["LFQ intensity SIM_run_0002"]
    path = tmp_path / "proteinGroups.txt"
    table.to_csv(path, sep="\t", index=False)
    return path


SHAPES = {"wide": dotted_wide, "long": dotted_long, "maxquant": dotted_maxquant}


@pytest.mark.parametrize("shape", SHAPES)
def test_inspect_names_the_dot_numbered_run_as_no_lots(shape: str, tmp_path: Path) -> None:
    proteins = SHAPES[shape](tmp_path)
    result = runner.invoke(
        app, ["inspect", str(proteins), "--lots", str(base() / "lots.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert "SIM-L0001.2" not in payload["run_to_lot"]
    assert payload["runs_without_lot"] == ["SIM-L0001.2"]
    assert set(payload["replicates"].values()) == {1}
    problems = " ".join(payload["problems"])
    assert "SIM-L0001.2 (lot SIM-L0001)" in problems


def test_inspect_notes_lots_averaged_by_their_names(tmp_path: Path) -> None:
    sheet = pd.read_csv(base() / "lots.csv", dtype=str).drop(columns="ms_run")
    sheet.to_csv(tmp_path / "lots.csv", index=False)
    result = runner.invoke(
        app, ["inspect", str(dotted_wide(tmp_path)), "--lots", str(tmp_path / "lots.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["run_to_lot"]["SIM-L0001.2"] == "SIM-L0001"
    assert payload["named_replicates"] == {"SIM-L0001": ["SIM-L0001", "SIM-L0001.2"]}
    assert any("SIM-L0001 (SIM-L0001, SIM-L0001.2)" in note for note in payload["notes"])
