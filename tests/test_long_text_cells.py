"""score with text in one intensity cell of a long table or a file read whole: the run's lot is
quarantined with the reason, every other lot scored, as a wide table's row is.

Before, only a wide table (streamed) quarantined its row: a DIA-NN report, a Spectronaut report,
the generic long table and every search-engine matrix were refused as a file (exit 2), every lot
lost for one cell.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.cli import app

runner = CliRunner()
LOT, COLUMN = 2, 5  # the row and protein column of the wide table that get the text


def shaped(data: Path, shape: str, folder: Path) -> tuple[Path, str, str]:
    """The simulated lots in one shape, "n.d." in the cell of lot ``LOT`` and protein
    ``COLUMN``; returns the file, that lot, and the start of its quarantine reason."""
    wide = pd.read_csv(data / "proteins.csv", dtype=str, keep_default_na=False)
    lot, protein = wide.loc[LOT, "lot_id"], wide.columns[COLUMN]
    if shape in ("proteinGroups.txt", "report.pg_matrix.tsv"):  # runs named in ms_run
        run = pd.read_csv(data / "lots.csv", dtype=str).set_index("lot_id").loc[lot, "ms_run"]
        table = pd.read_csv(data / shape, sep="\t", dtype=str, keep_default_na=False)
        genes = "Gene names" if shape == "proteinGroups.txt" else "Genes"
        group_id = "Protein IDs" if shape == "proteinGroups.txt" else "Protein.Group"
        (column,) = [
            c for c in table.columns if c == f"LFQ intensity {run}" or c.endswith(f"\\{run}.raw")
        ]
        row = table.index[table[genes] == protein][0]
        table.loc[row, column] = "n.d."
        path = folder / shape
        table.to_csv(path, sep="\t", index=False)
        group = table.loc[row, group_id]
        return path, lot, f"run '{run}': text 'n.d.' in protein group '{group}' (column {column!r})"
    wide.loc[LOT, protein] = "n.d."
    long = wide.melt(id_vars="lot_id", var_name="protein", value_name="intensity")
    if shape == "wide.csv":
        path, reason = folder / shape, f"text 'n.d.' in protein column '{protein}'"
        wide.to_csv(path, index=False)
    elif shape in ("long.csv", "long.parquet"):
        path, reason = folder / shape, f"text 'n.d.' in protein '{protein}' (column 'intensity')"
        long = long.assign(intensity=long["intensity"].replace("", None))
        long.to_csv(path, index=False) if shape == "long.csv" else long.to_parquet(path)
    else:  # a DIA-NN or Spectronaut report, keyed by lot
        run, group, quantity = (
            ("Run", "Protein.Group", "PG.MaxLFQ")
            if shape == "diann_report.tsv"
            else ("R.FileName", "PG.ProteinGroups", "PG.Quantity")
        )
        path = folder / shape
        report = long.set_axis([run, group, quantity], axis=1)
        report.to_csv(path, sep="\t", index=False)
        reason = f"text 'n.d.' in protein group '{protein}' (column {quantity!r})"
    return path, lot, reason


def score(model: Path, proteins: Path, lots: Path, out: Path):
    result = runner.invoke(
        app,
        ["score", "--model", str(model), "--proteins", str(proteins), "--lots", str(lots),
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"lot_id": str}).set_index("lot_id").sort_index()
    return scores, pd.read_csv(out.with_name(f"{out.stem}.quarantine.csv"), dtype=str)


SHAPES = [
    "long.csv",
    "long.parquet",
    "diann_report.tsv",
    "spectronaut_report.tsv",
    "report.pg_matrix.tsv",
    "proteinGroups.txt",
]


@pytest.mark.parametrize("shape", SHAPES)
def test_text_in_one_cell_quarantines_its_lot_and_scores_the_others(
    simulated_model: dict[str, Path], tmp_path: Path, shape: str
) -> None:
    data, model = simulated_model["data"], simulated_model["model"]
    lots = data / "lots.csv"
    wide, _, _ = shaped(data, "wide.csv", tmp_path)
    wide_scores, _ = score(model, wide, lots, tmp_path / "wide_scores.csv")
    path, lot, reason = shaped(data, shape, tmp_path)
    scores, quarantine = score(model, path, lots, tmp_path / "scores.csv")
    assert quarantine.to_dict("records") == [{"lot_id": lot, "reason": reason}]
    assert lot not in scores.index and len(scores) == len(pd.read_csv(lots)) - 1
    if shape not in ("report.pg_matrix.tsv", "proteinGroups.txt"):  # the wide table's values
        pd.testing.assert_series_equal(scores["risk"], wide_scores["risk"])


@pytest.mark.parametrize("q_column", ["Q.Value", "PG.Q.Value", "Lib.PG.Q.Value"])
def test_text_in_a_diann_q_value_cell_quarantines_its_lot_and_scores_the_others(
    simulated_model: dict[str, Path], tmp_path: Path, q_column: str
) -> None:
    """A q-value the filter cannot read refuses its run, as text in its quantity does (before,
    one such cell refused the whole report at score)."""
    data, model = simulated_model["data"], simulated_model["model"]
    lots = data / "lots.csv"
    wide = pd.read_csv(data / "proteins.csv", dtype={"lot_id": str})
    wide_scores, _ = score(model, data / "proteins.csv", lots, tmp_path / "wide_scores.csv")
    long = wide.melt(id_vars="lot_id", var_name="Protein.Group", value_name="PG.MaxLFQ")
    report = long.rename(columns={"lot_id": "Run"}).assign(**{q_column: "0.001"})
    lot, protein = wide.loc[LOT, "lot_id"], wide.columns[COLUMN]
    cell = (report["Run"] == lot) & (report["Protein.Group"] == protein)
    report.loc[cell, q_column] = "n.d."
    path = tmp_path / "report.tsv"
    report.to_csv(path, sep="\t", index=False)
    scores, quarantine = score(model, path, lots, tmp_path / "scores.csv")
    reason = f"text 'n.d.' in protein group '{protein}' (column {q_column!r})"
    assert quarantine.to_dict("records") == [{"lot_id": lot, "reason": reason}]
    assert lot not in scores.index and len(scores) == len(wide) - 1
    pd.testing.assert_series_equal(scores["risk"], wide_scores["risk"].drop(lot))
    # inspect reads a file whole and refuses it for the cell, naming it, in one line
    inspected = runner.invoke(app, ["inspect", str(path)])
    assert inspected.exit_code == 2, inspected.output
    assert f"run '{lot}', protein group '{protein}'" in inspected.output
    assert "Traceback" not in inspected.output


def test_text_in_the_q_value_of_a_row_dropped_anyway_refuses_no_run(tmp_path: Path) -> None:
    """Review: a contaminant row, or a row with no protein group, holding text in Q.Value
    refused its run (and named the group 'nan'); the reader drops those rows anyway."""
    from exostab.io.readers import read_proteins

    report = pd.DataFrame(
        {
            "Run": ["R1", "R1", "R2", "R2", "R1", "R2", "R1"],
            "Protein.Group": ["P1", "P2", "P1", "P2", "CON__P02769", None, " "],
            "PG.MaxLFQ": [10.0, 20.0, 30.0, 40.0, 5.0, 6.0, 7.0],
            "Q.Value": ["0.001", "0.001", "0.001", "0.001", "n.d.", "n.d.", "n.d."],
        }
    )
    report.to_csv(tmp_path / "report.tsv", sep="\t", index=False)
    matrix = read_proteins(tmp_path / "report.tsv", quarantine_runs=True)
    assert matrix.refused_runs == ()
    assert matrix.intensities.loc["R2", "P2"] == 40.0
