"""Lot sheets as labs keep them, second round: headers typed by people, merged XLSX cells,
day-first dates in a time-ordered CV, CV that cannot run, and two commands on one new store.

Cases from ``../shared/cases/`` (see CASES.md): ``xlsx-merged-donor-cells``,
``time-ordered-dayfirst-dates``, ``time-ordered-one-class-fold``, ``base-lots``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from exostab.cli import app
from exostab.config import DEFAULT_TRAIN_CONFIG, METADATA_COLUMNS
from exostab.errors import InputError
from exostab.io.lot_sheet_cells import canonical_headers, parse_date
from exostab.io.readers import read_lot_sheet, read_lot_sheet_lenient
from exostab.model.splits import grouped_folds

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"
runner = CliRunner()


def case(relative: str) -> Path:
    path = CASES / relative
    if not path.exists():
        pytest.skip(f"shared case {relative} not present ({CASES})")
    return path


@pytest.fixture(scope="module")
def base_sheet() -> pd.DataFrame:
    return read_lot_sheet(case("base-lots/lots.csv"), label="unstable", group="donor_id")


# --- headers typed by people -------------------------------------------------------------


def typed(name: str, draw: st.DrawFn) -> str:
    """Spell a column name as a person might: case, separators, a unit in brackets."""
    words = name.split("_")
    separator = draw(st.sampled_from([" ", "-", "_", "", "  "]))
    cased = [
        draw(st.sampled_from([word, word.upper(), word.capitalize(), word.title()]))
        for word in words
    ]
    header = separator.join(cased)
    if draw(st.booleans()):
        header = f" {header} "
    if name in ("donor_age", "storage_weeks") and draw(st.booleans()):
        header += draw(st.sampled_from([" (years)", " [weeks]", "(y)"]))
    return header


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_lot_sheet_headers_match_whatever_their_spelling(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``Tissue source``, ``Donor age``, ``Freeze-thaw cycles``, ``DONOR_ID``, ``Lot ID``..."""
    source = case("base-lots/lots.csv")
    sheet = pd.read_csv(source, dtype=str)
    spelled = {c: typed(c, data.draw) for c in sheet.columns if c in (*METADATA_COLUMNS, "lot_id")}
    spelled["unstable"] = data.draw(st.sampled_from(["unstable", "Unstable", "UNSTABLE"]))
    spelled["passage"] = data.draw(st.sampled_from(["passage", "Passage", "PASSAGE"]))
    path = tmp_path_factory.mktemp("headers") / "lots.csv"
    sheet.rename(columns=spelled).to_csv(path, index=False)
    read = read_lot_sheet(path, label="unstable", group="donor_id")
    expected = read_lot_sheet(source, label="unstable", group="donor_id")
    pd.testing.assert_frame_equal(read, expected)


def test_two_headers_meaning_one_column_are_refused_in_one_line() -> None:
    sheet = pd.DataFrame({"lot_id": ["A"], "Donor age": [3], "donor-age": [4], "passage": [2]})
    with pytest.raises(InputError, match="'Donor age', 'donor-age' all mean 'donor_age'"):
        canonical_headers(sheet)


def test_headers_the_model_does_not_use_are_left_as_written() -> None:
    sheet = pd.DataFrame({"Lot ID": ["A"], "Operator": ["JS"], "CD63": [1.0]})
    renamed, said = canonical_headers(sheet)
    assert renamed.columns.tolist() == ["lot_id", "Operator", "CD63"]
    assert said == {"Lot ID": "lot_id"}


# --- merged XLSX cells -------------------------------------------------------------------


def test_merged_donor_cells_are_read_on_every_row_they_span(
    base_sheet: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """Case ``xlsx-merged-donor-cells``: donor_id, tissue_source and donor_age merged per donor.

    Before: only each range's first row had the value (train refused 70 "empty donor_id",
    score dropped tissue and age for 70 lots).
    """
    path = case("xlsx-merged-donor-cells/lots_merged.xlsx")
    with caplog.at_level(logging.WARNING):
        read = read_lot_sheet(path, label="unstable", group="donor_id")
    columns = ["donor_id", "tissue_source", "donor_age", "passage", "unstable"]
    pd.testing.assert_frame_equal(read[columns], base_sheet.loc[read.index, columns])
    assert len(read) == len(base_sheet) == 80
    note = next(r.getMessage() for r in caplog.records if "merged cell" in r.getMessage())
    assert "30 merged cell range(s)" in note and "B2:B" in note
    lenient, quarantined = read_lot_sheet_lenient(path)
    assert quarantined.empty
    assert lenient[["tissue_source", "donor_age"]].notna().all().all()


def test_merged_cells_across_columns_and_a_header_row(tmp_path: Path) -> None:
    """A range over two columns, and one spanning the header only, read as shown."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    rows = [
        ["lot_id", "passage", "Tissue source", "medium"],
        ["L1", 3, "UC", "hPL"],
        ["L2", 4, None, None],
        ["L3", 5, "BM", "FBS"],
    ]
    for row in rows:
        sheet.append(row)
    sheet.merge_cells("C2:D3")  # 'UC' shown over tissue and medium of L1 and L2
    book.save(tmp_path / "lots.xlsx")
    read = read_lot_sheet(tmp_path / "lots.xlsx")
    assert read["tissue_source"].tolist() == ["UC", "UC", "BM"]
    assert read["medium"].tolist() == ["UC", "UC", "FBS"]


# --- dates of a time-ordered CV -----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(day=st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_dates_follow_one_stated_rule(day: dt.date) -> None:
    iso, _ = parse_date(day.isoformat())
    assert iso == pd.Timestamp(day)
    assert parse_date(day.isoformat(), dayfirst=True)[0] == pd.Timestamp(day)
    for separator in "/.-":
        written = f"{day.day:02d}{separator}{day.month:02d}{separator}{day.year}"
        assert parse_date(written, dayfirst=True)[0] == pd.Timestamp(day)
        stamp, problem = parse_date(written)  # never guessed month-first
        assert stamp is None and problem is not None and written in problem
        assert "--dayfirst" in problem


@pytest.mark.parametrize(
    ("text", "dayfirst", "words"),
    [
        ("31/02/2023", True, "impossible date '31/02/2023'"),
        ("2023-02-30", False, "impossible date '2023-02-30'"),
        ("23/06/2023", False, "not ISO yyyy-mm-dd (not read by guessing)"),
        ("09/05/2023", False, "day-first or month-first cannot be told"),
        ("May 9th", True, "not a date: 'May 9th'"),
    ],
)
def test_an_ambiguous_or_impossible_date_is_named(text: str, dayfirst: bool, words: str) -> None:
    stamp, problem = parse_date(text, dayfirst=dayfirst)
    assert stamp is None and problem is not None and words in problem


def test_dayfirst_files_read_day_first_and_only_with_the_option() -> None:
    """Case ``time-ordered-dayfirst-dates``: ISO, dd/mm/yyyy, and dd/mm/yyyy with a day 23.

    Before: dd/mm read month-first without a word; day 23 gave an error naming no lot.
    """
    folder = "time-ordered-dayfirst-dates"
    iso = read_lot_sheet(case(f"{folder}/lots_iso.csv"), dates=("production_date",))
    assert pd.api.types.is_datetime64_any_dtype(iso["production_date"])
    for name in ("lots_ddmmyyyy.csv", "lots_ddmmyyyy_day23.csv"):
        path = case(f"{folder}/{name}")
        dayfirst = read_lot_sheet(path, dates=("production_date",), dayfirst=True)
        written = pd.read_csv(path, dtype=str).set_index("lot_id")["production_date"]
        expected = pd.to_datetime(written, format="%d/%m/%Y")  # an independent reading
        assert (dayfirst["production_date"] == expected.loc[dayfirst.index]).all()
        with pytest.raises(InputError) as error:  # without the option: refused, not guessed
            read_lot_sheet(path, dates=("production_date",))
        first = next(line for line in str(error.value).splitlines() if "(row 2)" in line)
        assert "SIM-L0001" in first and "production_date" in first
        assert repr(written.iloc[0]) in first and "--dayfirst" in first


def test_the_day_23_lot_is_named_with_row_and_value(tmp_path: Path) -> None:
    """One day-first date in an ISO sheet: the error names that lot, its row and its value."""
    folder = "time-ordered-dayfirst-dates"
    iso = pd.read_csv(case(f"{folder}/lots_iso.csv"), dtype=str)
    day23 = pd.read_csv(case(f"{folder}/lots_ddmmyyyy_day23.csv"), dtype=str)
    row = int(np.flatnonzero(day23["production_date"].str.startswith("23/"))[0])
    mixed = iso.assign(production_date=iso["production_date"].where(iso.index != row, "23/06/2023"))
    mixed.to_csv(tmp_path / "lots.csv", index=False)
    with pytest.raises(InputError) as error:
        read_lot_sheet(tmp_path / "lots.csv", dates=("production_date",))
    assert "1 problem(s) in 1 lot(s)" in str(error.value)
    lot = iso.loc[row, "lot_id"]
    assert f"{lot} (row {row + 2})" in str(error.value) and "'23/06/2023'" in str(error.value)


def time_config(tmp_path: Path, **cv: object) -> Path:
    """``train_time.yaml`` of the time-ordered cases, rebuilt from today's configs/train.yaml."""
    config = yaml.safe_load(DEFAULT_TRAIN_CONFIG.read_text())
    config["search"]["inner_repeats"] = 1
    config["cv"].update(
        scheme="time_ordered", time_column="production_date", naive_gap=False, baselines=False
    )
    config["cv"].update(cv)
    config["gate"]["n_bootstrap"] = 200
    path = tmp_path / "train_time.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_refuses_a_day_first_sheet_without_the_option(tmp_path: Path) -> None:
    folder = "time-ordered-dayfirst-dates"
    result = runner.invoke(
        app,
        ["train", "--proteins", str(case("base-lots/proteinGroups.txt")),
         "--lots", str(case(f"{folder}/lots_ddmmyyyy_day23.csv")),
         "--config", str(time_config(tmp_path))],
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "SIM-L0001 (row 2)" in result.output and "'09/05/2023'" in result.output
    assert "--dayfirst" in result.output


# --- CV that cannot run -------------------------------------------------------------------


def test_a_time_block_of_one_class_is_merged_into_the_next() -> None:
    y = pd.Series([0] * 20 + [0, 1] * 20)  # the first block (12 lots) holds only stable lots
    groups = pd.Series([f"D{i // 5}" for i in range(len(y))])
    order = pd.Series(np.arange(len(y), dtype=float))
    plan = grouped_folds(y, groups, scheme="time_ordered", n_splits=4, seed=0, order=order)
    assert plan.n_merged >= 1
    assert all(len(np.unique(y.to_numpy()[train])) == 2 for train, _ in plan.folds)
    assert f"{plan.n_merged} early block(s) merged" in plan.title()
    assert plan.title().startswith("Time-ordered CV")


def test_cv_with_no_fold_of_both_classes_is_refused_in_one_line() -> None:
    y = pd.Series([0] * 30 + [1] * 2)  # unstable lots only in the last block
    groups = pd.Series([f"D{i // 4}" for i in range(len(y))])
    order = pd.Series(np.arange(len(y), dtype=float))
    with pytest.raises(InputError, match="training part of every fold holds one class") as error:
        grouped_folds(y, groups, scheme="time_ordered", n_splits=3, seed=0, order=order)
    assert "\n" not in str(error.value)


def test_scheme_titles_name_the_scheme_that_ran() -> None:
    y = pd.Series([0, 1] * 12)
    groups = pd.Series([f"D{i % 6}" for i in range(24)])
    kfold = grouped_folds(y, groups, scheme="group_kfold", n_splits=3, seed=0)
    logo = grouped_folds(y, groups, scheme="leave_one_group_out", n_splits=3, seed=0)
    assert kfold.title() == "Donor-grouped CV"
    assert logo.title() == "Leave-one-donor-out CV"
    assert kfold.title("batch") == "Batch-grouped CV"


def test_time_ordered_train_with_a_one_class_early_block(tmp_path: Path) -> None:
    """Case ``time-ordered-one-class-fold`` (dd/mm/yyyy dates, read with ``--dayfirst``).

    Before: an sklearn traceback (exit 1), and the summary said "Donor-grouped CV".
    """
    folder = "time-ordered-one-class-fold"
    result = runner.invoke(
        app,
        ["train", "--proteins", str(case("base-lots/proteinGroups.txt")),
         "--lots", str(case(f"{folder}/lots_random_dates_ddmmyyyy.csv")),
         "--config", str(time_config(tmp_path)), "--dayfirst", "--no-register",
         "--summary", str(tmp_path / "summary.json")],
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "Time-ordered CV" in result.output and "Donor-grouped" not in result.output
    assert "merged" in result.output
    summary = pd.read_json(tmp_path / "summary.json", typ="series")
    assert summary["cv_scheme"] == "time_ordered" and summary["cv_merged_folds"] >= 1


def test_the_config_key_reads_day_first_dates(tmp_path: Path) -> None:
    """Case ``time-ordered-dayfirst-dates`` with ``cv.dayfirst: true`` (no flag)."""
    folder = "time-ordered-dayfirst-dates"
    result = runner.invoke(
        app,
        ["train", "--proteins", str(case("base-lots/proteinGroups.txt")),
         "--lots", str(case(f"{folder}/lots_ddmmyyyy_day23.csv")),
         "--config", str(time_config(tmp_path, dayfirst=True)), "--no-register",
         "--summary", str(tmp_path / "summary.json")],
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Time-ordered CV" in result.output
    summary = pd.read_json(tmp_path / "summary.json", typ="series")
    assert summary["cv_scheme"] == "time_ordered" and summary["n_lots"] == 80


# --- two commands on one new store -------------------------------------------------------


def test_two_trains_at_once_on_a_new_store_both_register(tmp_path: Path) -> None:
    """Before: the second died with ``table alembic_version already exists`` (a traceback)."""
    config = tmp_path / "fast.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "search": {"inner_repeats": 1, "candidates": [{"learner": "prior"}]},
                "cv": {"n_splits": 3, "naive_gap": False, "baselines": False},
                "gate": {"n_bootstrap": 100},
                "explain": {"n_dependence": 0, "n_waterfall": 0},
            }
        )
    )
    store = tmp_path / "mlruns" / "mlflow.db"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
    }
    command = [
        str(Path(sys.executable).parent / "exostab"), "train",
        "--proteins", str(case("base-lots/proteinGroups.txt")),
        "--lots", str(case("base-lots/lots.csv")), "--config", str(config),
    ]  # fmt: skip
    trains = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [train.communicate(timeout=900)[0].decode() for train in trains]
    for train, output in zip(trains, outputs, strict=True):
        assert train.returncode == 0, output[-3000:]
        assert "Traceback" not in output
    versions = sorted(
        line.split("models:/exostab/")[1].split(" ")[0]
        for output in outputs
        for line in output.splitlines()
        if "registered models:/exostab/" in line
    )
    assert versions == ["1", "2"]


# --- model columns: found under any spelling, or their absence named ----------------------


def test_a_missing_model_column_is_named_on_every_lot(simulated_model: dict[str, Path]) -> None:
    """Typed headers give the same risks; a column the model uses but the input lacks is
    named in every lot's warning (batch and HTTP share ``ModelBundle.predict``)."""
    from exostab.model.bundle import ModelBundle

    bundle = ModelBundle.load(simulated_model["model"] / "artifacts" / "bundle")
    data = simulated_model["data"]
    table = pd.read_csv(data / "lots.csv").merge(pd.read_csv(data / "proteins.csv")).head(8)
    assert "tissue_source" in bundle.metadata
    plain = bundle.predict(table)
    typed_headers = table.rename(
        columns={"lot_id": "Lot ID", "tissue_source": "Tissue source", "passage": "PASSAGE"}
    )
    pd.testing.assert_series_equal(bundle.predict(typed_headers)["risk"], plain["risk"])
    assert plain["warning"].isna().all() or not plain["warning"].str.contains("not in").any()
    without = bundle.predict(table.drop(columns="tissue_source"))
    note = "model column(s) not in the input, treated as missing: tissue_source"
    assert without["warning"].str.startswith(note).all()
    assert without["risk"].notna().all()


@pytest.mark.parametrize("engine", ["pandas", "pandas-streamed-chunks"])
def test_score_says_on_the_console_which_model_columns_the_lot_sheet_lacks(
    simulated_model: dict[str, Path],
    tmp_path: Path,
    engine: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The manual shows a console warning; `score` (which reads through ``score_batch``) only
    wrote it in each lot's warning column: only ``explain`` (``score_file``) said it."""
    data = simulated_model["data"]
    without = pd.read_csv(data / "lots.csv").drop(columns="tissue_source")
    chunk = ["--chunk-size", "7"] if engine.endswith("chunks") else []
    for sheet, said_once in (
        (without, "the lot sheet lacks the model's metadata column(s) tissue_source"),
        # a column present but empty in every row is said too (review)
        (without.assign(tissue_source=""), "the lot sheet's metadata column(s) tissue_source "
         "hold no value"),
    ):  # fmt: skip
        sheet.to_csv(tmp_path / "lots.csv", index=False)
        caplog.clear()
        result = runner.invoke(
            app,
            ["score", "--model", str(simulated_model["model"]), "--proteins",
             str(data / "proteins.csv"), "--lots", str(tmp_path / "lots.csv"),
             "--out", str(tmp_path / "scores.csv"), *chunk],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert sum(message.startswith(said_once) for message in said) == 1


@pytest.mark.parametrize("header", ["LOT_ID", "Lot ID", "lot-id", "Lot_Id"])
def test_a_protein_table_takes_the_lot_id_spellings_its_lot_sheet_takes(
    simulated_model: dict[str, Path], tmp_path: Path, header: str
) -> None:
    """A wide protein table headed ``LOT_ID`` was an "unknown format", while the lot sheet read
    the same header as lot_id."""
    data = simulated_model["data"]
    text = (data / "proteins.csv").read_text()
    assert text.startswith("lot_id,")
    (tmp_path / "proteins.csv").write_text(header + text.removeprefix("lot_id"))
    risks = {}
    for name, proteins in (("plain", data / "proteins.csv"), ("typed", tmp_path / "proteins.csv")):
        out = tmp_path / f"{name}.csv"
        result = runner.invoke(
            app,
            ["score", "--model", str(simulated_model["model"]), "--proteins", str(proteins),
             "--lots", str(data / "lots.csv"), "--out", str(out), "--chunk-size", "9"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        risks[name] = pd.read_csv(out, dtype={"lot_id": str}).set_index("lot_id")["risk"]
    assert len(risks["typed"]) == len(pd.read_csv(data / "lots.csv"))
    pd.testing.assert_series_equal(risks["typed"], risks["plain"])


def test_lot_sheet_columns_in_a_protein_table_are_no_proteins_under_any_spelling(
    simulated_model: dict[str, Path], tmp_path: Path
) -> None:
    """Review: once ``Lot ID`` was taken, ``Passage`` and ``Storage weeks`` beside it were read
    as proteins; and a long table headed ``Run, Protein, Intensity`` was taken for a wide table
    keyed by run ("duplicate Run(s)")."""
    from exostab.io.readers import read_proteins

    wide = pd.read_csv(simulated_model["data"] / "proteins.csv", dtype={"lot_id": str})
    spelled = wide.rename(columns={"lot_id": "Lot ID"})
    spelled.insert(1, "Passage", 3)
    spelled.insert(2, "Storage weeks", 12.5)
    spelled.to_csv(tmp_path / "spelled.csv", index=False)
    matrix = read_proteins(tmp_path / "spelled.csv")
    assert list(matrix.intensities.columns) == list(read_proteins(
        simulated_model["data"] / "proteins.csv").intensities.columns)  # fmt: skip
    assert any("Passage" in note and "Storage weeks" in note for note in matrix.notes)
    long = wide.melt(id_vars="lot_id", var_name="Protein", value_name="Intensity")
    long.rename(columns={"lot_id": "Run"}).to_csv(tmp_path / "long.csv", index=False)
    with pytest.raises(InputError, match="unknown format"):
        read_proteins(tmp_path / "long.csv")
