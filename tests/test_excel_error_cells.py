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
from collections.abc import Callable
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


def rewritten(path: Path, edit: Callable[[bytes], bytes]) -> Path:
    """The workbook with its worksheets' XML edited (as Excel or a stale writer saves it)."""
    out = path.with_name(f"edited_{path.name}")
    with zipfile.ZipFile(path) as written, zipfile.ZipFile(out, "w") as saved:
        for item in written.infolist():
            xml = written.read(item.filename)
            saved.writestr(item, edit(xml) if item.filename.startswith("xl/worksheets/") else xml)
    return out


def test_a_formula_excel_calculated_to_empty_text_is_missing_not_refused(tmp_path: Path) -> None:
    """``=IFERROR(x, "")`` as Excel saves it (``t="str"``, an empty value): a blank cell, as
    pandas reads it. A review found an earlier version refusing it as formula text."""
    table = small_table(3).astype({"P2": object})
    table.loc[1, "P2"] = "=B3*2"
    path = workbook(table, tmp_path / "proteins.xlsx", {})
    excel = rewritten(
        path,
        lambda xml: re.sub(
            rb'<c r="D3"[^>]*>.*?</c>', b'<c r="D3" t="str"><f>IFERROR(1/0,"")</f><v></v></c>', xml
        ),
    )
    assert pd.isna(read_proteins(excel).intensities.loc["L1", "P2"])


def test_a_stale_sheet_dimension_does_not_hide_an_error_cell(tmp_path: Path) -> None:
    """A workbook whose ``<dimension>`` says A1 (a stale writer): pandas reads every cell, and
    so must the error scan."""
    path = workbook(small_table(4), tmp_path / "proteins.xlsx", {(3, 2): "#DIV/0!"})
    stale = rewritten(
        path, lambda xml: re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1" />', xml)
    )
    with zipfile.ZipFile(stale) as archive:
        assert b'<dimension ref="A1" />' in archive.read("xl/worksheets/sheet1.xml")
    with pytest.raises(InputError, match=r"text '#DIV/0!' in a number cell at .*'L3'"):
        read_proteins(stale)
