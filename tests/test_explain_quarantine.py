"""`explain` leaves out a bad lot with its reason, as `score` quarantines it (data tier).

Each case breaks one lot of a SIMULATED batch in a way `score` quarantines (a lot twice in the
protein file, text or a negative value in an intensity cell, a failed run, an empty lot id, a
bad lot-sheet row). `explain` must explain the other lots and write the same quarantine rows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.cli import app

runner = CliRunner()

Breakage = Callable[[pd.DataFrame, pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]


def _duplicate_row(proteins: pd.DataFrame, lots: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    return pd.concat([proteins, proteins.iloc[[3]]], ignore_index=True), lots


def _text_cell(proteins: pd.DataFrame, lots: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    proteins = proteins.astype({"CD9": object})
    proteins.loc[3, "CD9"] = "n.d."
    return proteins, lots


def _negative_cell(proteins: pd.DataFrame, lots: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    proteins.loc[3, "CD63"] = -5.0
    return proteins, lots


def _failed_run(proteins: pd.DataFrame, lots: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    proteins.iloc[3, 1:] = 0.0
    return proteins, lots


def _empty_lot_id(proteins: pd.DataFrame, lots: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    proteins.loc[3, "lot_id"] = None
    return proteins, lots


def _bad_passage(proteins: pd.DataFrame, lots: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    lots = lots.astype({"passage": object})
    lots.loc[3, "passage"] = "P3x"
    return proteins, lots


CASES: dict[str, Breakage] = {
    "duplicate_row": _duplicate_row,
    "text_cell": _text_cell,
    "negative_cell": _negative_cell,
    "failed_run": _failed_run,
    "empty_lot_id": _empty_lot_id,
    "bad_passage": _bad_passage,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_explain_leaves_out_a_bad_lot_as_score_quarantines_it(
    simulated_model: dict[str, Path], tmp_path: Path, case: str
) -> None:
    data = simulated_model["data"]
    proteins = pd.read_csv(data / "proteins.csv", dtype={"lot_id": object})
    lots = pd.read_csv(data / "lots.csv", dtype={"lot_id": object})
    proteins, lots = CASES[case](proteins.copy(), lots.copy())
    proteins_path, lots_path = tmp_path / "proteins.csv", tmp_path / "lots.csv"
    proteins.to_csv(proteins_path, index=False)
    lots.to_csv(lots_path, index=False)
    model = str(simulated_model["model"])
    common = ["--model", model, "--proteins", str(proteins_path), "--lots", str(lots_path)]

    scored = runner.invoke(app, ["score", *common, "--out", str(tmp_path / "scores.csv")])
    assert scored.exit_code == 0, scored.output
    score_quarantine = pd.read_csv(tmp_path / "scores.quarantine.csv", dtype=str)
    assert len(score_quarantine) >= 1  # the case does break a lot

    out = tmp_path / "explain"
    explained = runner.invoke(app, ["explain", *common, "--out", str(out)])
    assert explained.exit_code == 0, explained.output
    quarantine = pd.read_csv(out / "quarantine.csv", dtype=str)
    key = ["lot_id", "reason"]
    assert (
        quarantine.sort_values(key)
        .reset_index(drop=True)
        .equals(score_quarantine.sort_values(key).reset_index(drop=True))
    ), (quarantine, score_quarantine)
    for reason in quarantine["reason"].unique():
        assert reason in explained.stdout  # the summary names why
    explained_lots = set(pd.read_parquet(out / "lot_shap.parquet")["lot_id"])
    scored_lots = set(pd.read_csv(tmp_path / "scores.csv", dtype={"lot_id": str})["lot_id"])
    assert explained_lots == scored_lots
    assert not explained_lots & set(quarantine["lot_id"])
    assert f"explained {len(scored_lots)} lots" in explained.stdout


def test_explain_stops_when_no_lot_is_usable(
    simulated_model: dict[str, Path], tmp_path: Path
) -> None:
    data = simulated_model["data"]
    proteins = pd.read_csv(data / "proteins.csv", dtype={"lot_id": object}).head(2)
    proteins = pd.concat([proteins, proteins], ignore_index=True)  # every lot twice
    proteins.to_csv(tmp_path / "proteins.csv", index=False)
    out = tmp_path / "explain"
    result = runner.invoke(
        app,
        [
            "explain", "--model", str(simulated_model["model"]),
            "--proteins", str(tmp_path / "proteins.csv"), "--lots", str(data / "lots.csv"),
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "no lot could be explained" in result.stderr
    assert (out / "quarantine.csv").exists()  # the reasons are kept even then
