"""Contracts: the lot sheet (strict and lenient) and the protein matrix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exostab.errors import InputError
from exostab.io.problem_table import render_problems
from exostab.io.protein_matrix_contract import validate_protein_matrix
from exostab.io.readers import (
    ProteinMatrix,
    lot_sheet_problems,
    read_lot_sheet,
    read_lot_sheet_lenient,
)

GOOD = (
    "lot_id,passage,donor_id,tissue_source,donor_age,medium,freeze_thaw_cycles,storage_weeks,"
    "unstable,extra\n"
    "L1,3,D1,BM,34,hPL,0,4,0,x\n"
    "L2,7,D1,BM,34,FBS,1,,1,y\n"
    "L3,10,D2,UC,0,serum_free,2,12.5,1,\n"
)


def write(tmp_path: Path, text: str, name: str = "lots.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_sheet_types(tmp_path: Path) -> None:
    sheet = read_lot_sheet(write(tmp_path, GOOD), label="unstable")
    assert sheet.index.name == "lot_id"
    assert list(sheet.index) == ["L1", "L2", "L3"]
    assert sheet["passage"].dtype == "int64"
    assert sheet["unstable"].dtype == "int64"
    for column in ("donor_age", "freeze_thaw_cycles", "storage_weeks"):
        assert sheet[column].dtype == "float64"
    assert sheet.loc["L3", "storage_weeks"] == 12.5
    assert np.isnan(sheet.loc["L2", "storage_weeks"])
    assert sheet.loc["L1", "donor_id"] == "D1"
    assert "extra" in sheet.columns  # unknown columns kept


@pytest.mark.parametrize("suffix", [".tsv", ".parquet", ".xlsx"])
def test_other_containers(tmp_path: Path, suffix: str) -> None:
    frame = pd.read_csv(write(tmp_path, GOOD), dtype=str)
    path = tmp_path / f"lots{suffix}"
    if suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        numeric = frame.assign(passage=frame["passage"].astype(int), donor_id=[11, 11, 12])
        numeric.to_excel(path, index=False)
    sheet = read_lot_sheet(path, label="unstable")
    assert sheet["passage"].tolist() == [3, 7, 10]
    assert sheet["unstable"].tolist() == [0, 1, 1]
    if suffix == ".xlsx":
        assert sheet.loc["L1", "donor_id"] == "11"  # an Excel number id read as text, no '.0'


BAD_ROWS = {
    "duplicate": ("L1,3,D1,BM,34,hPL,0,4,0,x\n", "L1", "duplicate lot_id"),
    "text_passage": (
        "L9,three,D1,BM,34,hPL,0,4,0,x\n",
        "L9",
        "not a number in column 'passage': 'three'",
    ),
    "negative_passage": ("L9,-1,D1,BM,34,hPL,0,4,0,x\n", "L9", "passage must be >= 0"),
    "implausible_passage": ("L9,4000,D1,BM,34,hPL,0,4,0,x\n", "L9", r"passage must be <= 50"),
    "fraction_passage": ("L9,2.5,D1,BM,34,hPL,0,4,0,x\n", "L9", "whole number"),
    "missing_passage": ("L9,,D1,BM,34,hPL,0,4,0,x\n", "L9", "empty passage"),
    "bad_label": ("L9,3,D1,BM,34,hPL,0,4,2,x\n", "L9", "unstable must be 0 or 1"),
    "text_age": ("L9,3,D1,BM,old,hPL,0,4,0,x\n", "L9", "not a number in column 'donor_age': 'old'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_each_problem_is_reported_and_quarantined(tmp_path: Path, case: str) -> None:
    row, lot, message = BAD_ROWS[case]
    path = write(tmp_path, GOOD + row)
    with pytest.raises(InputError, match=message) as error:
        read_lot_sheet(path, label="unstable")
    text = str(error.value)
    assert "lots.csv" in text and lot in text
    assert len(text.splitlines()) <= 13
    problems = lot_sheet_problems(pd.read_csv(path, dtype=str), label="unstable")
    assert list(problems.columns) == ["lot_id", "column", "problem"]
    assert problems["lot_id"].tolist() == [lot]
    good, quarantine = read_lot_sheet_lenient(path, label="unstable")
    assert list(quarantine.columns) == ["lot_id", "reason"]
    assert set(quarantine["lot_id"]) == {lot}
    assert lot not in good.index
    expected_good = {"L2", "L3"} if case == "duplicate" else {"L1", "L2", "L3"}
    assert set(good.index) == expected_good
    assert good["passage"].dtype == "int64"


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("L9,-1,D1,BM,34,hPL,0,4,0,x\n", "passage must be >= 0 (got -1)"),
        ("L9,4000,D1,BM,34,hPL,0,4,0,x\n", "(got 4000)"),
        ("L9,2.5,D1,BM,34,hPL,0,4,0,x\n", "passage must be a whole number (got 2.5)"),
        ("L9,3,D1,BM,-2,hPL,0,4,0,x\n", "donor_age must be >= 0 (got -2)"),
        ("L9,3,D1,BM,34,hPL,0,4,2,x\n", "unstable must be 0 or 1 (got 2)"),
    ],
)
def test_a_refused_number_is_named_as_it_was_written(tmp_path: Path, row: str, said: str) -> None:
    """A whole number is read as float64 but named as typed: -1, not -1.0."""
    path = write(tmp_path, GOOD + row)
    _, quarantine = read_lot_sheet_lenient(path, label="unstable")
    assert quarantine["lot_id"].tolist() == ["L9"]
    assert said in quarantine["reason"].iloc[0]
    with pytest.raises(InputError) as error:
        read_lot_sheet(path, label="unstable")
    assert said in str(error.value)


def test_duplicate_ids_quarantine_every_copy(tmp_path: Path) -> None:
    _, quarantine = read_lot_sheet_lenient(write(tmp_path, GOOD + "L1,4,D1,BM,34,hPL,0,4,0,x\n"))
    assert quarantine["lot_id"].tolist() == ["L1", "L1"]


@pytest.mark.parametrize("missing", ["lot_id", "passage"])
def test_missing_key_columns_are_fatal_even_when_lenient(tmp_path: Path, missing: str) -> None:
    frame = pd.read_csv(write(tmp_path, GOOD), dtype=str).drop(columns=[missing])
    path = tmp_path / "cut.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=f"missing required column.*'{missing}'"):
        read_lot_sheet(path)
    with pytest.raises(InputError, match=missing):
        read_lot_sheet_lenient(path)


def test_missing_label_column(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'stable'"):
        read_lot_sheet(write(tmp_path, GOOD), label="stable")


def test_many_problems_are_summarised(tmp_path: Path) -> None:
    rows = "".join(f"B{i},x,D1,BM,34,hPL,0,4,0,x\n" for i in range(25))
    with pytest.raises(InputError) as error:
        read_lot_sheet(write(tmp_path, GOOD + rows))
    text = str(error.value)
    assert "and 15 more" in text
    assert "25 problem(s) in 25 lot(s)" in text


def test_render_problems_limits_lines() -> None:
    problems = pd.DataFrame({"lot_id": list("abcdefghijkl"), "column": "c", "problem": "p"})
    text = render_problems(problems, source="/x/lots.csv", limit=10)
    assert text.splitlines()[0].startswith("file")
    assert text.splitlines()[-1] == "... and 2 more"
    assert len(text.splitlines()) == 12


def test_a_lot_without_id_is_named_by_its_row_once(tmp_path: Path) -> None:
    """An empty lot_id was shown as "(row 2) (row 2)"; a lot with an id keeps both."""
    sheet = tmp_path / "lots.csv"
    sheet.write_text("lot_id,donor_id,passage,unstable\n,D1,3,0\nL2,D1,-4,1\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_lot_sheet(sheet, label="unstable")
    rows = [line.split() for line in str(caught.value).splitlines()[2:]]
    assert rows[0][:4] == ["lots.csv", "(row", "2)", "lot_id"], rows
    assert rows[1][:4] == ["lots.csv", "L2", "(row", "3)"], rows


lot_sheet_corruptions = st.sampled_from(
    [
        ("passage", "abc"),
        ("passage", "-4"),
        ("passage", "1.5"),
        ("passage", ""),
        ("lot_id", "L1"),
        ("freeze_thaw_cycles", "-1"),
        ("lot_id", "   "),
        ("donor_age", "n/a?"),
        ("unstable", "yes"),
    ]
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(corruption=lot_sheet_corruptions, row=st.integers(1, 2))
def test_any_corruption_is_an_input_error(
    tmp_path: Path, corruption: tuple[str, str], row: int
) -> None:
    column, value = corruption
    frame = pd.read_csv(write(tmp_path, GOOD), dtype=str)
    frame.loc[row, column] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"bad\.csv"):
        read_lot_sheet(path, label="unstable")
    good, quarantine = read_lot_sheet_lenient(path, label="unstable")
    assert len(good) + len(quarantine) == len(frame)
    assert len(quarantine) >= 1


def _matrix(values: np.ndarray) -> ProteinMatrix:
    intensities = pd.DataFrame(
        values, index=pd.Index(["L1", "L2"], name="run"), columns=["CD9", "CD63", "CD81"]
    )
    proteins = pd.DataFrame(
        {"leading_accession": np.nan, "gene": intensities.columns, "description": np.nan},
        index=intensities.columns,
    )
    return ProteinMatrix(intensities, proteins, "wide", Path("m.csv"), n_groups_before=3)


def test_protein_matrix_contract_groups_by_lot() -> None:
    good = _matrix(np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]]))
    assert validate_protein_matrix(good) is good
    bad = _matrix(np.array([[1.0, -2.0, np.inf], [0.0, 5.0, 6.0]]))
    with pytest.raises(InputError) as error:
        validate_protein_matrix(bad)
    lines = str(error.value).splitlines()
    assert any("L1" in line and "CD63, CD81" in line for line in lines)
    assert any("L2" in line and "CD9" in line for line in lines)
    mismatched = replace(good, proteins=good.proteins.iloc[:2])
    with pytest.raises(InputError, match="annotations"):
        validate_protein_matrix(mismatched)


@given(passage=st.integers(min_value=0, max_value=10_000))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_passage_bound_refuses_train_quarantines_score_and_http(
    tmp_path: Path, simulated_model: dict[str, Path], passage: int
) -> None:
    """Passages 0-50 are read; above MAX_PASSAGE training refuses the sheet naming lot, row,
    column and bound, scoring quarantines the lot, and the model answers it with an error."""
    from exostab.io.lot_sheet_contract import MAX_PASSAGE
    from exostab.model.bundle import ModelBundle

    path = write(tmp_path, GOOD + f"L9,{passage},D1,BM,34,hPL,0,4,0,x\n")
    good, quarantine = read_lot_sheet_lenient(path, label="unstable")
    bundle = ModelBundle.load(simulated_model["model"] / "artifacts" / "bundle")
    answer = bundle.predict(pd.DataFrame({"lot_id": ["L9"], "passage": [passage], "CD9": [1e9]}))
    if passage <= MAX_PASSAGE:
        assert good.loc["L9", "passage"] == passage
        read_lot_sheet(path, label="unstable")
        assert answer["error"].isna().all()
        return
    message = f"passage must be <= {MAX_PASSAGE}"
    assert quarantine["lot_id"].tolist() == ["L9"]
    assert quarantine["reason"].str.startswith(message).all()
    with pytest.raises(InputError, match=message) as error:
        read_lot_sheet(path, label="unstable")
    row = next(line for line in str(error.value).splitlines() if line.startswith("lots.csv"))
    assert "L9 (row 5)" in row and "passage" in row and f"(got {passage})" in row
    assert answer["error"].str.startswith(message).all()


def test_mixed_json_lot_ids_are_compared_as_the_text_they_are_answered_by() -> None:
    """An HTTP request's ids 1 (number), 1.0 and "1" are all answered '1': all duplicates.

    Compared as Python values, 1 == 1.0 flagged the first two while the third, answered under
    the same id '1' as the first, was scored: two answers for '1', one an error, one a risk.
    """
    from exostab.config import load_vocabulary
    from exostab.io.lot_sheet_contract import lot_sheet_row_problems

    sheet = pd.DataFrame({"lot_id": [1, 1.0, "1", " 2 "], "passage": [3, 3, 3, 3]}, dtype=object)
    tidy, reasons = lot_sheet_row_problems(sheet, vocabulary=load_vocabulary())
    # a number id is named by its value (JSON 1 and 1.0 are one number; pandas makes 1 a
    # float when a neighbour's id is missing), so all three are '1'
    assert tidy["lot_id"].tolist() == ["1", "1", "1", "2"]
    assert reasons.tolist() == ["duplicate lot_id"] * 3 + [None]
