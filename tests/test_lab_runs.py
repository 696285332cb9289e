"""Lab files, second round (issue 20, reader half): runs ↔ lots, engine versions, contaminants,
Excel-mangled gene symbols.

Case files are read where they lie in ../shared/cases/ (never copied into the project); a test
skips with the reason when its folder is absent. Derived files (a report with a q-value changed,
a matrix in DIA-NN 1.9 layout) are written to pytest's temporary folders.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from exostab.cli import app
from exostab.config import TrainConfig
from exostab.dataset import build_training_set
from exostab.errors import InputError
from exostab.io.contaminants import load_library
from exostab.io.feature_names import match_features
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers import ReadOptions, detect_format, read_lot_sheet, read_proteins
from exostab.io.readers.diann import MATRIX_MARKERS
from exostab.io.readers.maxquant import reporter_columns
from exostab.io.runs import map_runs_to_lots
from exostab.io.spreadsheet_dates import excel_date_symbols

SHARED = Path(__file__).resolve().parents[2] / "shared"
CASES = SHARED / "cases"
FORMATS = SHARED / "fixtures" / "proteomics-formats"
runner = CliRunner()
TINY_CONFIG = {
    "data": {"metadata_features": ["passage"]},
    "search": {"candidates": [{"learner": "linear", "linear_c": 0.1}]},
    "cv": {"n_splits": 3, "naive_gap": False, "baselines": False},
    "explain": {"n_dependence": 0, "n_waterfall": 0},
}


def folder(root: Path, name: str) -> Path:
    path = root / name
    if not path.is_dir():
        pytest.skip(f"{name} not found at {path}")
    return path


def invoke(*args: object) -> Result:
    return runner.invoke(app, [str(arg) for arg in args])


def one_line(result: Result) -> str:
    return " ".join(result.output.split())


def base_lots() -> ProteinMatrix:
    """The 80 simulated lots of base-lots/ keyed by lot: what every case derives from."""
    base = folder(CASES, "base-lots")
    lots, _ = map_runs_to_lots(
        read_proteins(base / "proteinGroups.txt"), read_lot_sheet(base / "lots.csv")
    )
    return lots


def same_values(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """The same lots and protein groups hold the same intensities (NaN where NaN)."""
    common = left.columns.intersection(right.columns)
    assert len(common) > 300
    a = left.loc[right.index, common].to_numpy()
    b = right[common].to_numpy()
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-9)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("lab_runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
        config = root / "tiny.yaml"
        config.write_text(yaml.safe_dump(TINY_CONFIG))
        yield {"root": root, "config": config}


@pytest.fixture(scope="module")
def base_model(store: dict) -> str:
    """A tiny model trained through the CLI on base-lots/ (MaxQuant, 80 SIMULATED lots)."""
    base = folder(CASES, "base-lots")
    summary = store["root"] / "base.json"
    result = invoke(
        "train", "--config", store["config"], "--proteins", base / "proteinGroups.txt",
        "--lots", base / "lots.csv", "--no-register", "--summary", summary,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return str(json.loads(summary.read_text())["model_uri"])


def score_cli(store: dict, model: str, proteins: Path, lots: Path, name: str):
    out = store["root"] / f"{name}.csv"
    result = invoke("score", "--model", model, "--proteins", proteins, "--lots", lots, "--out", out)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"lot_id": str})
    quarantine = pd.read_csv(out.with_name(f"{name}.quarantine.csv"), dtype={"lot_id": str})
    return scores, quarantine, result


# --- one run name in several batch folders ----------------------------------------------------


def test_same_stem_in_four_folders_full_paths_give_each_lot_its_own_run() -> None:
    case = folder(CASES, "diann-same-run-stem-two-folders")
    matrix = read_proteins(case / "report.pg_matrix.tsv")
    sheet = read_lot_sheet(case / "lots.csv")
    lots, mapping = map_runs_to_lots(matrix, sheet)
    assert len(lots.intensities) == len(sheet) == 80
    assert set(mapping.replicates.values()) == {1}  # nothing averaged as "replicates"
    for lot, run in sheet["ms_run"].items():
        assert mapping.run_to_lot[run] == lot  # the very run the sheet names
    same_values(lots.intensities, base_lots().intensities)


def test_a_wide_table_keyed_by_lot_id_misses_no_run_its_ms_run_names() -> None:
    """Lots found by their lot id do not use ms_run: naming its runs missing would be false."""
    base = folder(CASES, "base-lots")
    matrix = read_proteins(base / "proteins.csv")
    sheet = read_lot_sheet(base / "lots.csv")
    sheet = sheet.assign(ms_run=[f"RUN_{i:04d}" for i in range(len(sheet))])
    lots, mapping = map_runs_to_lots(matrix, sheet)
    assert len(lots.intensities) == len(sheet)
    assert mapping.missing_runs == {}
    assert mapping.missing_note() is None


def test_same_stem_named_by_stem_only_is_refused_naming_the_name_and_its_runs() -> None:
    case = folder(CASES, "diann-same-run-stem-two-folders")
    for command in ("inspect", "train"):
        args = (
            [case / "report.pg_matrix.tsv", "--lots", case / "lots_stem_only.csv"]
            if command == "inspect"
            else [
                "--proteins",
                case / "report.pg_matrix.tsv",
                "--lots",
                case / "lots_stem_only.csv",
            ]
        )
        result = invoke(command, *args)
        assert result.exit_code == 2, result.output
        message = one_line(result)
        assert "Traceback" not in result.output
        assert "'S01'" in message and "SIM-L0001" in message
        for batch in ("B01", "B02", "B03", "B04"):
            assert f"D:\\MS\\{batch}\\S01.raw" in message


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_folders=st.integers(1, 4),
    n_stems=st.integers(1, 5),
    by_stem=st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_no_lot_is_ever_matched_to_another_lots_run(
    n_folders: int, n_stems: int, by_stem: list[bool]
) -> None:
    """Runs named alike in several folders: each lot gets its own run, or a refusal names them.

    Every lot's run holds the lot's own number, so a lot scored on another lot's run shows.
    """
    runs = [f"D:\\ms\\B{f}\\S{s:02d}.raw" for f in range(n_folders) for s in range(n_stems)]
    lots = [f"LOT-{i}" for i in range(len(runs))]
    names = [
        re.split(r"\\", run)[-1].removesuffix(".raw") if short else run
        for run, short in zip(runs, by_stem, strict=False)
    ]
    intensities = pd.DataFrame(
        {"P1": np.arange(1.0, len(runs) + 1)}, index=pd.Index(runs, name="run")
    )
    matrix = ProteinMatrix(
        intensities, pd.DataFrame(index=intensities.columns), "diann", Path("x"), 1
    )
    sheet = pd.DataFrame({"ms_run": names}, index=pd.Index(lots, name="lot_id"))
    short_shared = any(short and n_folders > 1 for short in by_stem[: len(runs)])
    try:
        result, mapping = map_runs_to_lots(matrix, sheet)
    except InputError as error:  # a refusal only where a short name is really shared
        assert short_shared, error
        assert "S" in str(error) and "D:\\ms\\B" in str(error)
        return
    # resolved: a short name is left with one run once the full paths took theirs
    own = {lot: float(i + 1) for i, lot in enumerate(lots)}
    assert result.intensities["P1"].to_dict() == own
    assert set(mapping.replicates.values()) == {1}


# --- MaxQuant TMT ------------------------------------------------------------------------------


def test_tmt_reporter_channels_are_the_lots_never_the_pooled_plex() -> None:
    case = folder(CASES, "maxquant-tmt-reporter-columns")
    matrix = read_proteins(case / "proteinGroups_tmt.txt")
    assert matrix.n_runs == 80  # 8 plexes × 10 channels, not the 8 pooled 'Intensity PLEXn'
    assert "PLEX1 channel 1" in matrix.intensities.index
    assert not any(run.startswith(("PLEX", "Intensity")) and " channel " not in run
                   for run in matrix.intensities.index)  # fmt: skip
    assert "Reporter intensity corrected" in matrix.notes[0]
    lots, mapping = map_runs_to_lots(matrix, read_lot_sheet(case / "lots_plex.csv"))
    assert len(lots.intensities) == 80 and set(mapping.replicates.values()) == {1}
    same_values(lots.intensities, base_lots().intensities)


def test_tmt_lot_sheet_without_channels_is_refused_naming_the_plex(tmp_path: Path) -> None:
    case = folder(CASES, "maxquant-tmt-reporter-columns")
    sheet = pd.read_csv(case / "lots_plex.csv").drop(columns="tmt_channel")
    sheet.to_csv(tmp_path / "lots.csv", index=False)
    result = invoke("inspect", case / "proteinGroups_tmt.txt", "--lots", tmp_path / "lots.csv")
    assert result.exit_code == 2, result.output
    message = one_line(result)
    assert "PLEX1 channel 1" in message and "tmt_channel" in message


@given(
    channels=st.integers(1, 18),
    plexes=st.lists(st.sampled_from(["PLEX1", "A", "batch 2", "TMT_3"]), max_size=3, unique=True),
    corrected=st.booleans(),
    totals=st.booleans(),
)
def test_reporter_columns_one_run_per_channel_and_plex(
    channels: int, plexes: list[str], corrected: bool, totals: bool
) -> None:
    """Any MaxQuant reporter layout: one run per channel and plex, counts and totals not read."""
    kinds = ["Reporter intensity ", "Reporter intensity count "]
    if corrected:
        kinds.append("Reporter intensity corrected ")
    columns = [
        f"{kind}{n}{' ' + plex if plex else ''}"
        for kind in kinds
        for plex in [*plexes, *([""] if totals or not plexes else [])]
        for n in range(1, channels + 1)
    ]
    chosen = reporter_columns(columns)
    assert len(chosen) == channels * max(len(plexes), 1)
    assert len(set(chosen.values())) == len(chosen)
    assert not any("count" in column for column in chosen)
    assert all(("corrected" in column) == corrected for column in chosen)


# --- a missing injection, QC and blank runs ------------------------------------------------------


def test_inspect_names_the_missing_injection_and_lists_qc_runs() -> None:
    case = folder(CASES, "replicate-run-missing-and-qc-runs")
    result = invoke(
        "inspect", case / "proteinGroups_reps_qc.txt",
        "--lots", case / "lots_two_injections.csv", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["missing_runs"]["SIM-L0001"] == ["SIM_run_0001_rep2"]
    assert len(payload["missing_runs"]) == 5
    assert set(payload["runs_without_lot"]) == {"HeLa_QC_01", "Blank_01"}
    problems = " ".join(payload["problems"])
    assert "SIM_run_0001_rep2" in problems and "HeLa_QC_01" in problems


def test_train_leaves_out_qc_runs_and_names_the_missing_injection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = folder(CASES, "replicate-run-missing-and-qc-runs")
    sheet = read_lot_sheet(case / "lots_two_injections.csv", label="unstable")
    with caplog.at_level(logging.WARNING):
        training = build_training_set(
            read_proteins(case / "proteinGroups_reps_qc.txt"),
            sheet,
            TrainConfig.model_validate(TINY_CONFIG),
        )
    assert len(training.X) == len(sheet) == 80
    assert "HeLa_QC_01" in caplog.text and "Blank_01" in caplog.text
    assert "SIM_run_0001_rep2" in caplog.text and "SIM-L0001" in caplog.text
    assert training.fingerprint["lots_missing_a_run"] == 5


@pytest.mark.slow
def test_score_warns_each_lot_missing_an_injection_and_books_every_lot(
    store: dict, base_model: str
) -> None:
    case = folder(CASES, "replicate-run-missing-and-qc-runs")
    lots = case / "lots_two_injections.csv"
    scores, quarantine, _ = score_cli(
        store, base_model, case / "proteinGroups_reps_qc.txt", lots, "reps"
    )
    sheet = pd.read_csv(lots, dtype={"lot_id": str})
    lot_rows = quarantine[quarantine["lot_id"].isin(sheet["lot_id"])]
    assert len(scores) + len(lot_rows) == len(sheet)  # in = scored + quarantined
    warned = scores.set_index("lot_id")["warning"].fillna("")
    assert "SIM_run_0001_rep2" in warned["SIM-L0001"]
    assert sum("not in the protein file" in w for w in warned) == 5
    assert {"HeLa_QC_01", "Blank_01"} <= set(quarantine["lot_id"])  # listed, not scored


@pytest.mark.slow
def test_score_names_model_proteins_missing_from_the_file(
    store: dict, base_model: str, tmp_path: Path
) -> None:
    base = folder(CASES, "base-lots")
    wide = pd.read_csv(base / "proteins.csv")
    gone = [c for c in wide.columns if c != "lot_id"][:2]
    wide.drop(columns=gone).to_csv(tmp_path / "fewer.csv", index=False)
    scores, quarantine, _ = score_cli(
        store, base_model, tmp_path / "fewer.csv", base / "lots.csv", "fewer"
    )
    assert len(scores) + len(quarantine) == 80
    for warning in scores["warning"]:
        assert "absent from the protein file" in warning
        assert all(name in warning for name in gone)


# --- DIA-NN versions, first pass, q-values --------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["report-first-pass_empty_maxlfq.tsv.gz", "report-first-pass_no_maxlfq_col.tsv.gz"]
)
@pytest.mark.parametrize("command", ["inspect", "train"])
def test_diann_first_pass_report_is_one_clear_error(name: str, command: str) -> None:
    case = folder(CASES, "diann-first-pass-no-maxlfq")
    args = [case / name] if command == "inspect" else ["--proteins", case / name]
    result = invoke(command, *args, "--lots", case / "lots.csv")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "PG.MaxLFQ is empty: a first-pass report? use the final report" in one_line(result)


def test_diann_final_report_gz_reads_filters_and_trains() -> None:
    case = folder(CASES, "diann-first-pass-no-maxlfq")
    matrix = read_proteins(case / "report_final.tsv.gz")
    assert matrix.format == "diann_long"
    assert any(
        note.startswith("q-value filter <= 0.01 on Q.Value, PG.Q.Value") for note in matrix.notes
    )
    sheet = read_lot_sheet(case / "lots.csv", label="unstable")
    training = build_training_set(matrix, sheet, TrainConfig.model_validate(TINY_CONFIG))
    assert len(training.X) == 80 and sorted(training.y.unique()) == [0, 1]
    lots, _ = map_runs_to_lots(matrix, sheet)
    same_values(lots.intensities, base_lots().intensities)


def test_diann_q_value_filter_drops_rows_above_the_threshold(tmp_path: Path) -> None:
    case = folder(CASES, "diann-first-pass-no-maxlfq")
    report = pd.read_csv(case / "report_final.tsv.gz", sep="\t")
    run, group = report.loc[0, "Run"], report.loc[0, "Protein.Group"]
    pair = (report["Run"] == run) & (report["Protein.Group"] == group)
    report.loc[pair, "PG.Q.Value"] = 0.05  # this group fails protein FDR in this run
    report["Lib.PG.Q.Value"] = 0.001
    report.to_parquet(tmp_path / "report.parquet")  # DIA-NN 1.9/2.x write Parquet
    matrix = read_proteins(tmp_path / "report.parquet")
    assert matrix.format == "diann_long"
    assert np.isnan(matrix.intensities.loc[run, group])
    assert "Lib.PG.Q.Value" in " ".join(matrix.notes)
    loose = read_proteins(tmp_path / "report.parquet", options=ReadOptions(q_value=0.1))
    assert loose.intensities.loc[run, group] == report.loc[pair, "PG.MaxLFQ"].iloc[0]


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(markers=st.sets(st.sampled_from(MATRIX_MARKERS), min_size=1))
def test_diann_matrix_of_any_version_is_detected(tmp_path: Path, markers: set[str]) -> None:
    """1.8 (Protein.Ids) and 1.9/2.x (no Protein.Ids; N.Sequences...) pg_matrix layouts."""
    source = FORMATS / "diann" / "report.pg_matrix.tsv"
    if not source.exists():
        pytest.skip(f"{source} not found")
    table = pd.read_csv(source, sep="\t")
    for column in MATRIX_MARKERS:
        if column in table and column not in markers:
            table = table.drop(columns=column)
        elif column not in table and column in markers:
            table.insert(1, column, 3)
    path = tmp_path / "report.pg_matrix.tsv"
    table.to_csv(path, sep="\t", index=False)
    assert detect_format(path) == "diann"
    original = read_proteins(source)
    assert read_proteins(path).intensities.equals(original.intensities)


# --- contaminant library ----------------------------------------------------------------------


BOVINE = ("P02769", "P02070")  # bovine serum albumin, bovine hemoglobin beta (FBS)
KERATIN = "P35908"  # human keratin 2 (skin and hair)


def test_builtin_library_ships_with_its_sources() -> None:
    library = load_library("builtin")
    assert len(library.sources) == 381
    assert library.sources["P02769"] == "bovine serum (FBS)"
    assert library.sources[KERATIN].startswith("keratin")
    assert "P02768" not in library.sources  # human albumin: only with builtin+hpl
    assert load_library("builtin+hpl").sources["P02768"] == "human plasma (hPL)"


@pytest.mark.parametrize("layout", ["maxquant", "diann", "wide"])
def test_contaminants_are_dropped_by_accession_in_every_reader(tmp_path: Path, layout: str) -> None:
    """Searched without a contaminant FASTA: no CON__ prefix, yet FBS and keratin are dropped."""
    base = folder(CASES, "base-lots")
    table = pd.read_csv(base / "proteinGroups.txt", sep="\t", dtype=str)
    table = table[table["Potential contaminant"].isna() & table["Reverse"].isna()].head(40)
    table = table.reset_index(drop=True)
    for row, accession in enumerate([*BOVINE, f"{KERATIN};Q00000", "P02768"]):
        table.loc[row, "Protein IDs"] = accession
    lfq = [c for c in table.columns if c.startswith("LFQ intensity ")]
    if layout == "maxquant":
        path = tmp_path / "proteinGroups.txt"
        table.to_csv(path, sep="\t", index=False)
    elif layout == "diann":
        path = tmp_path / "report.pg_matrix.tsv"
        matrix = table[["Protein IDs", "Gene names", *lfq]].set_axis(
            ["Protein.Group", "Genes", *(c.removeprefix("LFQ intensity ") for c in lfq)], axis=1
        )
        matrix.to_csv(path, sep="\t", index=False)
    else:
        path = tmp_path / "proteins.csv"
        wide = table.set_index("Protein IDs")[lfq].T
        wide.insert(0, "lot_id", [c.removeprefix("LFQ intensity ") for c in lfq])
        wide.to_csv(path, index=False)
    matrix = read_proteins(path)
    assert matrix.n_groups == 40 - 3
    assert not {*BOVINE, f"{KERATIN};Q00000"} & set(matrix.intensities.columns)
    assert "P02768" in matrix.intensities.columns  # human albumin kept by default
    note = next(n for n in matrix.notes if "contaminant groups (library builtin)" in n)
    assert "dropped 3 contaminant groups" in note
    assert "2 bovine serum (FBS)" in note and "1 keratin (human skin, hair)" in note
    assert read_proteins(path, options=ReadOptions(contaminants="none")).n_groups == 40
    assert read_proteins(path, options=ReadOptions(contaminants="builtin+hpl")).n_groups == 36
    own = tmp_path / "our_contaminants.csv"
    own.write_text("accession,Source of Contamination\nP02768,our hPL\n")
    mine = read_proteins(path, options=ReadOptions(contaminants=str(own)))
    assert mine.n_groups == 39 and any("1 our hPL" in n for n in mine.notes)


def test_inspect_counts_removals_per_source_and_a_missing_library_is_one_line(
    tmp_path: Path,
) -> None:
    case = folder(CASES, "mq-cont-prefix")
    result = invoke("inspect", case / "proteinGroups.txt", "--contaminants", tmp_path / "nope")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "contaminant library" in one_line(result)
    base = read_proteins(folder(CASES, "base-lots") / "proteinGroups.txt")
    assert base.n_groups == 399  # the simulated set holds no library protein beyond CON__


# --- names that spreadsheets turned into dates -------------------------------------------------

SYMBOL_DATES = [
    *((f"SEPTIN{n}", n, "Sep") for n in range(1, 15)),
    *((f"MARCHF{n}", n, "Mar") for n in range(3, 12)),
    ("DELEC1", 1, "Dec"),
]


@given(
    case=st.sampled_from(SYMBOL_DATES),
    spelling=st.sampled_from(["{d}-{m}", "{d:02d}-{m}", "{m}-{d:02d}", "{m} {d}", "iso", "isot"]),
    year=st.integers(1995, 2030),
)
def test_every_spelling_of_a_mangled_symbol_reads_back(
    case: tuple[str, int, str], spelling: str, year: int
) -> None:
    symbol, day, month = case
    number = {"Sep": 9, "Mar": 3, "Dec": 12}[month]
    if spelling == "iso":
        text = f"{year}-{number:02d}-{day:02d}"
    elif spelling == "isot":
        text = datetime.datetime(year, number, day).isoformat()
    else:
        text = spelling.format(d=day, m=month)
    assert excel_date_symbols(text) == (symbol,)


@given(symbol=st.from_regex(r"[A-Z][A-Z0-9]{1,6}", fullmatch=True))
def test_real_symbols_are_never_read_as_dates(symbol: str) -> None:
    assert excel_date_symbols(symbol) == ()


def test_mangled_headers_and_gene_cells_map_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wide = pd.DataFrame(
        {"lot_id": ["L1", "L2"], "CD9": [5.0e6, 6.0e6], "7-Sep": [1.0e6, 2.0e6],
         "11-Mar": [3.0e6, 4.0e6], "1-Mar": [7.0e6, 8.0e6]}
    )  # fmt: skip
    wide.to_csv(tmp_path / "genes.csv", index=False)
    with caplog.at_level(logging.WARNING):
        matrix = read_proteins(tmp_path / "genes.csv")
    genes = matrix.proteins["gene"].to_dict()
    assert genes["7-Sep"] == "SEPTIN7" and genes["11-Mar"] == "MARCHF11"
    assert genes["1-Mar"] != "MARCHF1"  # MARCHF1 or MTARC1: left as it is, named
    assert "'7-Sep' -> SEPTIN7" in caplog.text and "MTARC1" in caplog.text
    # a model trained on the old symbols finds them
    model = pd.DataFrame(
        {"group_id": ["SEPT7", "MARCH11", "CD9"], "leading_accession": np.nan,
         "gene": ["SEPT7", "MARCH11", "CD9"]},
        index=pd.Index(["SEPT7", "MARCH11", "CD9"], name="feature"),
    )  # fmt: skip
    found = match_features(model, matrix.proteins)
    assert found.to_dict() == {"SEPT7": "7-Sep", "MARCH11": "11-Mar", "CD9": "CD9"}


def test_real_excel_dates_in_xlsx_headers_and_gene_cells(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["lot_id", "CD9", datetime.datetime(2024, 9, 2), datetime.datetime(2024, 12, 1)])
    sheet.append(["L1", 5.0e6, 1.0e6, 2.0e6])
    sheet.append(["L2", 6.0e6, 3.0e6, 4.0e6])
    book.save(tmp_path / "genes.xlsx")
    matrix = read_proteins(tmp_path / "genes.xlsx")
    assert sorted(matrix.proteins["gene"].dropna()) == ["CD9", "DELEC1", "SEPTIN2"]
    base = folder(CASES, "base-lots")
    table = pd.read_csv(base / "proteinGroups.txt", sep="\t", dtype=str).head(20)
    table = table.assign(**{"Gene names": table["Gene names"].astype(object)})
    table.loc[0, "Gene names"] = "2-Sep"
    table.to_csv(tmp_path / "proteinGroups.txt", sep="\t", index=False)
    maxquant = read_proteins(tmp_path / "proteinGroups.txt")
    assert maxquant.proteins.loc[table.loc[0, "Protein IDs"], "gene"] == "SEPTIN2"
    assert any("SEPTIN2" in note for note in maxquant.notes)
