"""Real tier: lot sheets as labs type them (``../shared/cases/``), read to the clean values.

Each case is compared with the clean simulated sheet it was made from (``base-lots/lots.csv``),
so a test fails if any value is read differently, not only if reading raises.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.cli import app
from exostab.config import load_vocabulary
from exostab.errors import InputError
from exostab.io.readers import read_lot_sheet, read_lot_sheet_lenient

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"
runner = CliRunner()


def case(relative: str) -> Path:
    path = CASES / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared cases are not beside the repo)")
    return path


@pytest.fixture(scope="module")
def clean_sheet() -> pd.DataFrame:
    return read_lot_sheet(case("base-lots/lots.csv"), label="unstable")


def same_values(sheet: pd.DataFrame, clean: pd.DataFrame) -> None:
    """Demand the clean sheet's values for the lots and columns both sheets hold."""
    columns = [c for c in clean.columns if c in sheet.columns]
    assert len(columns) >= 12, sheet.columns
    pd.testing.assert_frame_equal(sheet[columns], clean.loc[sheet.index, columns])


def test_known_tissue_words_read_as_the_three_categories(clean_sheet: pd.DataFrame) -> None:
    path = case("known-tissue-words/lots_words_all80.csv")
    raw = pd.read_csv(path, dtype=str)["tissue_source"]
    assert {"adipose", "bone_marrow", "umbilical_cord"} <= set(raw)  # the words, not the codes
    sheet = read_lot_sheet(path, label="unstable", group="donor_id")
    assert len(sheet) == 80
    same_values(sheet, clean_sheet)


@pytest.mark.parametrize(
    "spelling, category",
    [
        ("bone marrow", "BM"),
        ("Bone marrow", "BM"),
        ("BM-MSC", "BM"),
        ("BMSC", "BM"),
        ("Wharton's jelly", "UC"),
        ("Wharton’s Jelly", "UC"),
        ("umbilical_cord", "UC"),
        ("adipose tissue", "AT"),
        ("AT ", "AT"),
        ("ASC", "AT"),
    ],
)
def test_tissue_spellings_map_to_one_category(spelling: str, category: str) -> None:
    assert load_vocabulary().canonical("tissue_source", spelling.strip()) == category


def test_unseen_category_is_kept_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "lots.csv"
    path.write_text(
        "lot_id,passage,tissue_source,medium\n"
        "L1,3,placenta,hPL\nL2,4,Placenta ,human platelet lysate\nL3,5,dental pulp,FBS\n"
    )
    sheet = read_lot_sheet(path)
    assert sheet["tissue_source"].tolist() == ["placenta", "Placenta", "dental pulp"]
    assert sheet["medium"].tolist() == ["hPL", "hPL", "FBS"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    assert "'placenta'" in warnings[0] and "'dental pulp'" in warnings[0]
    good, quarantine = read_lot_sheet_lenient(path)
    assert len(good) == 3 and quarantine.empty


def test_decimal_comma_sheet_reads_the_same_numbers(clean_sheet: pd.DataFrame) -> None:
    for name in ("lots_de.csv", "lots_de_all80.csv"):
        path = case(f"lotsheet-decimal-comma/{name}")
        assert ";" in path.read_text().splitlines()[0]
        sheet = read_lot_sheet(path, label="unstable", group="donor_id")
        assert sheet["donor_age"].notna().all()
        same_values(sheet, clean_sheet)


def test_excel_trailing_commas_and_blank_rows_are_ignored(clean_sheet: pd.DataFrame) -> None:
    for name in ("lots_excel.csv", "lots_excel_all80.csv"):
        path = case(f"excel-trailing-empties/{name}")
        lines = path.read_text().splitlines()
        assert lines[0].endswith(",") and set(lines[-1]) == {","}  # the case is what it says
        n_rows = sum(1 for line in lines[1:] if set(line) != {","})
        sheet = read_lot_sheet(path, label="unstable", group="donor_id")
        assert len(sheet) == n_rows
        assert not any(c == "" or c.startswith("Unnamed") for c in sheet.columns)
        same_values(sheet, clean_sheet)
        good, quarantine = read_lot_sheet_lenient(path)
        assert len(good) == n_rows and quarantine.empty


def test_value_under_an_unnamed_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lots.csv"
    path.write_text("lot_id,passage,\nL1,3,\nL2,4,oops\n")
    with pytest.raises(InputError, match="no header"):
        read_lot_sheet(path)


def test_blank_donor_is_one_message_naming_lot_and_column(tmp_path: Path) -> None:
    proteins = case("base-lots/proteinGroups.txt")
    lots = case("base-lots/lots_blank_donor.csv")
    with pytest.raises(InputError) as error:
        read_lot_sheet(lots, label="unstable", group="donor_id")
    assert "SIM-L0004" in str(error.value) and "donor_id" in str(error.value)
    result = runner.invoke(
        app,
        ["train", "--proteins", str(proteins), "--lots", str(lots),
         "--summary", str(tmp_path / "s.json")],
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "SIM-L0004" in result.output and "donor_id" in result.output
    assert not (tmp_path / "s.json").exists()


def test_text_cell_message_names_column_and_lot(tmp_path: Path) -> None:
    sheet = pd.read_csv(case("serve-text-cell/batch_lots.csv"), dtype=str)
    sheet.loc[1, "passage"] = "P3x"
    path = tmp_path / "lots.csv"
    sheet.to_csv(path, index=False)
    with pytest.raises(InputError) as error:
        read_lot_sheet(path)
    line = next(li for li in str(error.value).splitlines() if "P3x" in li)
    assert sheet.loc[1, "lot_id"] in line and "column 'passage'" in line


def test_passage_spellings_in_the_serve_case_batch_sheet(tmp_path: Path) -> None:
    good, quarantine = read_lot_sheet_lenient(case("serve-text-cell/batch_lots_P5_row2.csv"))
    assert quarantine.empty
    assert good["passage"].tolist() == [2, 5, 12]
    path = tmp_path / "lots.csv"
    path.write_text("lot_id,passage\nA,P5\nB,p5\nC,passage 5\nD,P 5\nE,Passage5\nF, 5 \n")
    assert read_lot_sheet(path)["passage"].tolist() == [5] * 6
