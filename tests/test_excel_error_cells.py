"""Excel error cells (``#DIV/0!``, ``#VALUE!``, ``#REF!``…) are what the cell says, not missing.

pandas reads every error cell of a workbook as missing, so a formula that failed in one
intensity cell was scored as a protein that was not detected, while the same export as CSV
(where ``#DIV/0!`` is text) quarantined the lot. Now an error cell is text in every reader of a
workbook (a protein table, a lot sheet, merged cells or not), refused as text is; ``#N/A``
(Excel's "not available") stays missing, as pandas reads it in a CSV.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from exostab.cli import app
from exostab.errors import InputError
from exostab.io.readers import read_lot_sheet, read_proteins

runner = CliRunner()
# openpyxl's list of Excel's error values, "#N/A" aside
ERRORS = [e for e in openpyxl.cell.cell.ERROR_CODES if e != "#N/A"]


def workbook(table: pd.DataFrame, path: Path, cells: dict[tuple[int, int], str]) -> Path:
    """Write ``table`` as a workbook, each ``(row, column)`` of ``cells`` (0-based, in the
    table's rows below the header) an error cell; openpyxl stores an error code as one."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(table.columns))
    for row in table.itertuples(index=False):
        sheet.append([None if pd.isna(v) else v for v in row])
    for (row, column), error in cells.items():
        cell = sheet.cell(row=row + 2, column=column + 1, value=error)
        assert cell.data_type == "e"
    book.save(path)
    return path


def small_table(n_lots: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lot_id": [f"L{i}" for i in range(n_lots)],
            **{f"P{j}": [1000.0 + 10 * i + j for i in range(n_lots)] for j in range(4)},
        }
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    error=st.sampled_from(ERRORS),
    n_lots=st.integers(2, 6),
    data=st.data(),
)
def test_an_error_cell_in_a_protein_workbook_is_refused_as_text_naming_it(
    tmp_path: Path, error: str, n_lots: int, data: st.DataObject
) -> None:
    row = data.draw(st.integers(0, n_lots - 1))
    column = data.draw(st.integers(1, 4))
    table = small_table(n_lots)
    path = workbook(table, tmp_path / "proteins.xlsx", {(row, column): error})
    with pytest.raises(InputError) as refused:
        read_proteins(path)
    assert f"text {error!r}" in str(refused.value)
    assert f"L{row}" in str(refused.value) and f"P{column - 1}" in str(refused.value)
    # the same table as CSV says the same
    csv = tmp_path / "proteins.csv"
    table.to_csv(csv, index=False)
    text = pd.read_csv(csv, dtype=str)
    text.iat[row, column] = error
    text.to_csv(csv, index=False)
    with pytest.raises(InputError) as refused_csv:
        read_proteins(csv)
    assert str(refused_csv.value).replace(str(csv), "") == str(refused.value).replace(str(path), "")


def test_not_available_in_a_protein_workbook_is_missing(tmp_path: Path) -> None:
    path = workbook(small_table(3), tmp_path / "proteins.xlsx", {(1, 2): "#N/A"})
    matrix = read_proteins(path)
    assert pd.isna(matrix.intensities.loc["L1", "P1"])
    assert matrix.intensities.loc["L2", "P1"] == 1021.0


@pytest.mark.parametrize("error", ["#DIV/0!", "#N/A"])
def test_score_quarantines_the_lot_of_an_error_cell_and_reads_not_available_as_missing(
    simulated_model: dict[str, Path], tmp_path: Path, error: str
) -> None:
    data, model = simulated_model["data"], simulated_model["model"]
    wide = pd.read_csv(data / "proteins.csv", dtype={"lot_id": str})
    lot, protein = wide.loc[2, "lot_id"], wide.columns[5]
    path = workbook(wide, tmp_path / "proteins.xlsx", {(2, 5): error})
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app,
        ["score", "--model", str(model), "--proteins", str(path), "--lots",
         str(data / "lots.csv"), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"lot_id": str})
    quarantine = pd.read_csv(out.with_name("scores.quarantine.csv"), dtype=str)
    if error == "#N/A":
        assert quarantine.empty and len(scores) == len(wide)
    else:
        assert quarantine.to_dict("records") == [
            {"lot_id": lot, "reason": f"text {error!r} in protein column {protein!r}"}
        ]
        assert len(scores) == len(wide) - 1 and lot not in set(scores["lot_id"])


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        ("#VALUE!", "not a number in column 'passage': '#VALUE!'"),
        ("#N/A", "empty passage"),  # as an empty cell of a CSV sheet is said
    ],
)
def test_an_error_cell_in_a_lot_sheet_workbook_is_text_and_not_available_is_empty(
    simulated_model: dict[str, Path], tmp_path: Path, error: str, problem: str
) -> None:
    lots = pd.read_csv(simulated_model["data"] / "lots.csv", dtype={"lot_id": str})
    column = list(lots.columns).index("passage")
    path = workbook(lots, tmp_path / "lots.xlsx", {(3, column): error})
    with pytest.raises(InputError) as refused:
        read_lot_sheet(path)
    assert problem in str(refused.value) and lots.loc[3, "lot_id"] in str(refused.value)


@pytest.mark.parametrize("flag", [True, False])
def test_a_yes_no_cell_in_a_protein_workbook_is_text_not_one_or_zero(
    tmp_path: Path, flag: bool
) -> None:
    """An XLSX TRUE among intensities was read as 1.0 (FALSE as 0: not detected), where the
    same TRUE in a CSV is text, refused."""
    table = small_table(3).astype({"P2": object})
    table.loc[1, "P2"] = flag
    path = tmp_path / "proteins.xlsx"
    workbook(table, path, {})
    with pytest.raises(InputError, match=f"text '{flag}' in a number cell"):
        read_proteins(path)


def test_a_formula_without_a_saved_value_is_text_and_one_with_a_value_is_its_value(
    tmp_path: Path,
) -> None:
    """A workbook written by a script holds formulas Excel never calculated: pandas read them
    as missing (an undetected protein). Excel's own saves keep the value, which is read."""
    table = small_table(3).astype({"P2": object})
    table.loc[1, "P2"] = "=B3*2"  # openpyxl stores a text starting with "=" as a formula
    path = workbook(table, tmp_path / "proteins.xlsx", {})
    with pytest.raises(InputError, match=r"text '=B3\*2' in a number cell at .*'L1'"):
        read_proteins(path)
    calculated = tmp_path / "calculated.xlsx"  # as Excel saves it: the formula and its value
    with zipfile.ZipFile(path) as written, zipfile.ZipFile(calculated, "w") as saved:
        for item in written.infolist():
            xml = written.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                assert b"<f>B3*2</f><v" in xml
                xml = re.sub(rb"<f>B3\*2</f><v\s*/>", b"<f>B3*2</f><v>2022</v>", xml)
            saved.writestr(item, xml)
    assert read_proteins(calculated).intensities.loc["L1", "P2"] == 2022.0


def test_a_formula_without_a_saved_value_in_a_lot_sheet_is_named(
    simulated_model: dict[str, Path], tmp_path: Path
) -> None:
    lots = pd.read_csv(simulated_model["data"] / "lots.csv", dtype={"lot_id": str})
    lots = lots.astype({"passage": object})
    lots.loc[3, "passage"] = "=2+3"
    path = workbook(lots, tmp_path / "lots.xlsx", {})
    with pytest.raises(InputError, match=r"not a number in column 'passage': '=2\+3'"):
        read_lot_sheet(path)
