"""Lab files, second round (issue 20, reader half): runs ↔ lots, engine versions, contaminants,
Excel-mangled gene symbols.

Case files are read where they lie in ../shared/cases/ (never copied into the project); a test
skips with the reason when its folder is absent. Derived files (a report with a q-value changed,
a matrix in DIA-NN 1.9 layout) are written to pytest's temporary folders.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import re
import tempfile
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
from exostab.io.naming import strip_run_name
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


def error_line(result: Result) -> str:
    """The ``error:`` line of a refused command, as one line of words."""
    text = one_line(result)
    return text[text.index("error:") :]


@pytest.mark.slow
def test_score_and_inspect_tell_an_ambiguous_stem_alike_with_every_run_it_matches(
    store: dict, base_model: str
) -> None:
    """One matching rule: score says what inspect says, and counts all 4 runs named S01."""
    case = folder(CASES, "diann-same-run-stem-two-folders")
    matrix, lots = case / "report.pg_matrix.tsv", case / "lots_stem_only.csv"
    inspected = invoke("inspect", matrix, "--lots", lots)
    scored = invoke(
        "score", "--model", base_model, "--proteins", matrix, "--lots", lots,
        "--out", store["root"] / "stem_only.csv",
    )  # fmt: skip
    assert inspected.exit_code == scored.exit_code == 2, scored.output
    assert "Traceback" not in scored.output
    assert error_line(scored) == error_line(inspected)
    assert "'S01'" in error_line(scored) and "matches 4 run(s)" in error_line(scored)
    # every stem S01-S20 is named by 4 lots: all 80 lots are ambiguous, and both say so
    assert "one of 20 ambiguous names, 80 lots in all" in error_line(scored)
    for batch in ("B01", "B02", "B03", "B04"):
        assert f"D:\\MS\\{batch}\\S01.raw" in error_line(scored)


@pytest.fixture
def failed_run_settles_a_stem(tmp_path: Path) -> dict[str, Path]:
    """Batches B01 and B02 of the same-stem case: B01's lots named by full path, B02's by stem
    only, and B01\\S01 a failed run (no value). Its full path still claims it, so 'S01' is
    B02's run alone: nothing is ambiguous, whether or not the failed run is scored."""
    case = folder(CASES, "diann-same-run-stem-two-folders")
    table = pd.read_csv(case / "report.pg_matrix.tsv", sep="\t", dtype=str, keep_default_na=False)
    table = table[[c for c in table.columns if not c.startswith(("D:\\MS\\B03", "D:\\MS\\B04"))]]
    table["D:\\MS\\B01\\S01.raw"] = ""
    table.to_csv(tmp_path / "report.pg_matrix.tsv", sep="\t", index=False)
    sheet = pd.read_csv(case / "lots.csv", dtype=str, keep_default_na=False)
    sheet = sheet[sheet["ms_run"].str.contains(r"\\B0[12]\\")].copy()
    b02 = sheet["ms_run"].str.contains(r"\\B02\\")
    sheet.loc[b02, "ms_run"] = sheet.loc[b02, "ms_run"].str.extract(r"(S\d+)\.raw$")[0]
    sheet.to_csv(tmp_path / "lots.csv", index=False)
    return {"matrix": tmp_path / "report.pg_matrix.tsv", "lots": tmp_path / "lots.csv"}


def test_a_failed_run_still_settles_its_short_name_in_inspect_and_train(
    failed_run_settles_a_stem: dict[str, Path],
) -> None:
    matrix = read_proteins(failed_run_settles_a_stem["matrix"])
    sheet = read_lot_sheet(failed_run_settles_a_stem["lots"], label="unstable")
    assert matrix.failed_runs == ["D:\\MS\\B01\\S01.raw"]
    inspected = invoke(
        "inspect", failed_run_settles_a_stem["matrix"], "--lots", failed_run_settles_a_stem["lots"]
    )
    assert inspected.exit_code == 0, inspected.output
    training = build_training_set(matrix, sheet, TrainConfig.model_validate(TINY_CONFIG))
    failed_lot = sheet.index[sheet["ms_run"] == "D:\\MS\\B01\\S01.raw"][0]
    assert len(training.X) == len(sheet) - 1 and failed_lot not in training.X.index


@pytest.mark.slow
def test_score_quarantines_the_failed_run_and_scores_the_lot_its_short_name_leaves(
    store: dict, base_model: str, failed_run_settles_a_stem: dict[str, Path]
) -> None:
    scores, quarantine, _ = score_cli(
        store, base_model, failed_run_settles_a_stem["matrix"],
        failed_run_settles_a_stem["lots"], "settled",
    )  # fmt: skip
    sheet = pd.read_csv(failed_run_settles_a_stem["lots"], dtype=str)
    assert len(scores) == len(sheet) - 1
    (reason,) = quarantine["reason"]
    assert "quantified no protein" in reason and "D:\\MS\\B01\\S01.raw" in reason
    assert sheet.set_index("ms_run").loc["S01", "lot_id"] in set(scores["lot_id"])


def wide_by_run(case: Path, folders: tuple[str, ...], path: Path) -> Path:
    """The same-stem case's DIA-NN matrix as a wide table keyed by run (its full path), with
    the runs of ``folders`` in that order of folders."""
    table = pd.read_csv(case / "report.pg_matrix.tsv", sep="\t")
    runs = [c for folder in folders for c in table.columns if c.startswith(f"D:\\MS\\{folder}\\")]
    wide = table.set_index("Protein.Group")[runs].T.rename_axis("run").reset_index()
    wide.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_a_streamed_run_never_takes_the_lot_of_a_run_in_a_later_chunk(
    store: dict, base_model: str, tmp_path: Path
) -> None:
    """B02's S01-S20 come first, in chunks of their own, and no lot names them; B01's lots name
    their runs by full path. Each B02 run is 'not in the lot sheet' and every lot is scored
    on its own B01 run, as when the file holds B01 alone (chunk by chunk, a B02 run took the
    B01 lot of its short name and the lot's own run came too late)."""
    case = folder(CASES, "diann-same-run-stem-two-folders")
    sheet = pd.read_csv(case / "lots.csv", dtype=str, keep_default_na=False)
    sheet[sheet["ms_run"].str.contains(r"\\B01\\")].to_csv(tmp_path / "lots.csv", index=False)
    results = {}
    for name, folders in (("alone", ("B01",)), ("after", ("B02", "B01"))):
        proteins = wide_by_run(case, folders, tmp_path / f"{name}.csv")
        out = store["root"] / f"streamed_{name}.csv"
        result = invoke(
            "score", "--model", base_model, "--proteins", proteins, "--lots", tmp_path / "lots.csv",
            "--out", out, "--chunk-size", 7,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        results[name] = (
            pd.read_csv(out, dtype={"lot_id": str}).set_index("lot_id")["risk"],
            pd.read_csv(out.with_name(f"streamed_{name}.quarantine.csv"), dtype=str),
        )
    alone, after = results["alone"][0], results["after"][0]
    assert len(alone) == 20 and results["alone"][1].empty
    pd.testing.assert_series_equal(after.sort_index(), alone.sort_index())
    quarantine = results["after"][1]
    assert sorted(quarantine["lot_id"]) == [f"D:\\MS\\B02\\S{i:02d}.raw" for i in range(1, 21)]
    assert quarantine["reason"].str.contains("not in the lot sheet").all()


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


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_folders=st.integers(1, 4),
    n_stems=st.integers(1, 4),
    by_stem=st.lists(st.booleans(), min_size=16, max_size=16),
    in_sheet=st.lists(st.booleans(), min_size=16, max_size=16),
    chunk=st.integers(1, 5),
    data=st.data(),
)
def test_score_streaming_chunk_by_chunk_never_gives_a_lot_another_lots_run(
    n_folders: int,
    n_stems: int,
    by_stem: list[bool],
    in_sheet: list[bool],
    chunk: int,
    data: st.DataObject,
) -> None:
    """score's path (a wide table keyed by run, streamed in chunks, runs in any order, some
    runs of no lot): a run is given to no lot but its own, or the file is refused."""
    from types import SimpleNamespace

    from exostab.scoring.batch import BatchScorer, checked_chunks

    runs = [f"D:\\ms\\B{f}\\S{s:02d}.raw" for f in range(n_folders) for s in range(n_stems)]
    owner = {run: f"LOT-{i}" for i, run in enumerate(runs) if in_sheet[i]}
    names = {
        run: re.split(r"\\", run)[-1].removesuffix(".raw") if by_stem[i] else run
        for i, run in enumerate(runs)
    }
    order = data.draw(st.permutations(runs))
    sheet = pd.DataFrame(
        {"ms_run": [names[run] for run in owner], "passage": 1},
        index=pd.Index(list(owner.values()), name="lot_id"),
    )
    scorer = BatchScorer(
        SimpleNamespace(scale="raw", read_options=ReadOptions()),  # type: ignore[arg-type]
        sheet,
        pd.DataFrame(columns=["lot_id", "reason"]),
    )
    with tempfile.TemporaryDirectory() as folder_:
        path = Path(folder_) / "wide.csv"
        values = [float(runs.index(run) + 1) for run in order]
        pd.DataFrame({"run": order, "P1": values, "P2": values}).to_csv(path, index=False)
        try:
            matched = {
                run: lot
                for matrix, _ in checked_chunks(scorer, path, rows=chunk)
                for run, lot in scorer.lots_of(list(matrix.intensities.index)).items()
            }
        except InputError as error:  # a refusal only where a short name is in the sheet
            assert any(by_stem[i] for i, run in enumerate(runs) if run in owner), error
            assert "S" in str(error) and "D:\\ms\\B" in str(error)
            return
    assert all(owner.get(run) == lot for run, lot in matched.items())  # never another's run
    assert set(matched) == set(owner)  # every lot got its run; runs of no lot got none


SPELLINGS = ("{}", "D:\\ms\\B1\\{}.raw", "/data/{}.d", "{}.RAW")


@settings(max_examples=200, deadline=None)
@given(
    runs=st.lists(st.tuples(st.booleans(), st.sampled_from(SPELLINGS)), min_size=2, max_size=6),
    claims=st.lists(
        st.tuples(st.sampled_from(["none", "own", "other", "own+other"]), st.booleans()),
        min_size=6,
        max_size=6,
    ),
    data=st.data(),
)
def test_no_lot_takes_a_run_named_like_another_lot(
    runs: list[tuple[bool, str]], claims: list[tuple[str, bool]], data: st.DataObject
) -> None:
    """A file whose runs are named like lot ids (any spelling) or neutrally (S3), a sheet whose
    ms_run names a lot's own run, nothing, or a run named like another lot (a typo for a
    neighbour): each lot is measured on its own run, or the sheet is refused naming the run
    and both lots. A lot whose ms_run finds a run takes no other run by its lot id."""
    lots = [f"SIM-L{i:04d}" for i in range(len(runs))]
    file_runs = [
        spelling.format(lot if like_lot else f"S{i}")
        for i, (lot, (like_lot, spelling)) in enumerate(zip(lots, runs, strict=True))
    ]
    like_lot_runs = [i for i, (like_lot, _) in enumerate(runs) if like_lot]
    ms_runs, typos = [], []
    for i, (claim, by_stem) in enumerate(claims[: len(runs)]):
        names = []
        others = [j for j in like_lot_runs if j != i]
        if "own" in claim:
            names.append(i)
        if "other" in claim and others:
            names.append(data.draw(st.sampled_from(others)))  # a typo: a neighbour's lot id
            typos.append(names[-1])
        ms_runs.append(
            "; ".join(strip_run_name(file_runs[j]) if by_stem else file_runs[j] for j in names)
        )
    intensities = pd.DataFrame(
        {"P1": np.arange(1.0, len(runs) + 1)}, index=pd.Index(file_runs, name="run")
    )
    matrix = ProteinMatrix(
        intensities, pd.DataFrame(index=intensities.columns), "wide", Path("x"), 1
    )
    sheet = pd.DataFrame({"ms_run": ms_runs}, index=pd.Index(lots, name="lot_id"))
    # a run named like a lot that another lot's ms_run names and its own lot does not
    must_refuse = any("own" not in claims[j][0] for j in typos)
    try:
        result, mapping = map_runs_to_lots(matrix, sheet)
    except InputError as error:
        assert typos, error
        message = str(error)  # the run, and the lots (or the two lots naming it: refuse_shared)
        assert re.search(r"is ambiguous: it is named like lot|is named by \d lots", message)
        assert any(strip_run_name(run) in message for run in file_runs), message
        assert any(lot in message for lot in lots), message
        return
    assert not must_refuse
    own_value = {lot: float(i + 1) for i, lot in enumerate(lots)}
    assert result.intensities["P1"].to_dict() == {
        lot: own_value[lot] for lot in result.intensities.index
    }  # never another lot's run, never averaged with one
    assert set(mapping.replicates.values()) <= {1}
    for i, lot in enumerate(lots):  # a lot named in its own run, or whose ms_run names it
        if i in like_lot_runs or "own" in claims[i][0]:
            assert lot in result.intensities.index


def test_a_typo_in_ms_run_naming_a_neighbours_lot_id_is_refused_by_inspect_and_train(
    tmp_path: Path,
) -> None:
    """A wide table keyed by lot id; SIM-L0001's ms_run says SIM-L0002 (a neighbour's id):
    never SIM-L0001 scored on SIM-L0002's row (or on both rows averaged)."""
    base = folder(CASES, "base-lots")
    sheet = pd.read_csv(base / "lots.csv", dtype=str, keep_default_na=False)
    sheet["ms_run"] = ""
    sheet.loc[0, "ms_run"] = "SIM-L0002"
    sheet.to_csv(tmp_path / "lots.csv", index=False)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    inspected = invoke("inspect", base / "proteins.csv", "--lots", tmp_path / "lots.csv")
    trained = invoke(
        "train", "--config", tmp_path / "tiny.yaml", "--proteins", base / "proteins.csv",
        "--lots", tmp_path / "lots.csv", "--no-register",
    )  # fmt: skip
    for result in (inspected, trained):
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        line = error_line(result)
        assert "run 'SIM-L0002' is ambiguous" in line, line
        assert "lot SIM-L0002 and lot SIM-L0001's ms_run" in line, line
    assert error_line(inspected) == error_line(trained)


@pytest.mark.slow
def test_score_refuses_a_typo_in_ms_run_naming_a_neighbours_lot_id_as_inspect_does(
    store: dict, base_model: str
) -> None:
    """The reviewer's case: score used to score SIM-L0001 on its row and SIM-L0002's averaged,
    and quarantine SIM-L0002 as "no protein profile" though the file has its row."""
    base = folder(CASES, "base-lots")
    sheet = pd.read_csv(base / "lots.csv", dtype=str, keep_default_na=False).head(8)
    sheet["ms_run"] = ""
    sheet.loc[0, "ms_run"] = "SIM-L0002"
    lots = store["root"] / "typo_lots.csv"
    sheet.drop(columns="unstable").to_csv(lots, index=False)
    inspected = invoke("inspect", base / "proteins.csv", "--lots", lots)
    out = store["root"] / "typo.csv"
    scored = invoke(
        "score", "--model", base_model, "--proteins", base / "proteins.csv", "--lots", lots,
        "--out", out,
    )  # fmt: skip
    assert inspected.exit_code == scored.exit_code == 2, scored.output
    assert "Traceback" not in scored.output and not out.exists()
    assert error_line(scored) == error_line(inspected)
    assert "lot SIM-L0002 and lot SIM-L0001's ms_run" in error_line(scored)


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


def renumbered_tmt(
    case: Path, folder_: Path, file_shift: int, sheet_shift: int
) -> tuple[Path, Path]:
    """The TMT case with its file's reporter channels and its sheet's tmt_channel shifted."""
    raw = (case / "proteinGroups_tmt.txt").read_text()
    header, body = raw.split("\n", 1)
    header = re.sub(
        r"(Reporter intensity(?: corrected| count)?) (\d+)",
        lambda m: f"{m.group(1)} {int(m.group(2)) + file_shift}",
        header,
    )
    proteins = folder_ / "proteinGroups.txt"
    proteins.write_text(header + "\n" + body)
    sheet = pd.read_csv(case / "lots_plex.csv")
    sheet["tmt_channel"] += sheet_shift
    lots = folder_ / "lots.csv"
    sheet.to_csv(lots, index=False)
    return proteins, lots


@pytest.mark.parametrize(
    ("file_shift", "sheet_shift", "said"),
    [(-1, 0, "numbered from 0 in the protein file (0..9) and from 1 in the lot sheet (1..10)"),
     (0, -1, "numbered from 1 in the protein file (1..10) and from 0 in the lot sheet (0..9)")],
)  # fmt: skip
def test_tmt_channels_numbered_from_0_on_one_side_only_are_refused(
    tmp_path: Path, file_shift: int, sheet_shift: int, said: str
) -> None:
    """Some MaxQuant exports number reporter channels from 0: matched as written, every lot
    took its neighbour's channel (72 of 80 lots scored on another lot's data, no warning)."""
    case = folder(CASES, "maxquant-tmt-reporter-columns")
    proteins, lots = renumbered_tmt(case, tmp_path, file_shift, sheet_shift)
    result = invoke("inspect", proteins, "--lots", lots)
    assert result.exit_code == 2, result.output
    assert said in one_line(result) and "plex 'PLEX1'" in one_line(result)
    with pytest.raises(InputError, match="neighbour's channel"):
        map_runs_to_lots(read_proteins(proteins), read_lot_sheet(lots))


def test_a_sheet_naming_neither_end_of_a_plex_numbered_from_0_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Review: without its channel-10 lots the sheet cannot show the shift (channel 10 might be
    a pooled reference of a 0-based sheet), so it is not refused; it is said."""
    case = folder(CASES, "maxquant-tmt-reporter-columns")
    proteins, lots = renumbered_tmt(case, tmp_path, -1, 0)
    sheet = pd.read_csv(lots)
    sheet[sheet["tmt_channel"] != 10].to_csv(lots, index=False)
    with caplog.at_level(logging.WARNING):
        map_runs_to_lots(read_proteins(proteins), read_lot_sheet(lots))
    warned = [r.getMessage() for r in caplog.records if "names no channel 0" in r.getMessage()]
    assert len(warned) == 1  # one line for every plex (review: it was one per plex)
    assert "reporter channels of plex 'PLEX1', plex 'PLEX2'" in warned[0]


def test_tmt_channels_numbered_from_0_on_both_sides_match(tmp_path: Path) -> None:
    case = folder(CASES, "maxquant-tmt-reporter-columns")
    proteins, lots = renumbered_tmt(case, tmp_path, -1, -1)
    matched, _ = map_runs_to_lots(read_proteins(proteins), read_lot_sheet(lots))
    same_values(matched.intensities, base_lots().intensities)


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
    assert "Blank_01 (no lot)" in caplog.text and "lot none" not in caplog.text  # a failed blank
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


FIRST_PASS_REPORTS = {
    "report-first-pass_empty_maxlfq.tsv.gz": "empty",
    "report-first-pass_no_maxlfq_col.tsv.gz": "absent",
}


def first_pass_error(result: Result, path: Path) -> None:
    """One short error: where (the file), what (PG.MaxLFQ empty or absent), what to do."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    state = FIRST_PASS_REPORTS[path.name]
    assert error_line(result) == (
        f"error: {path}: PG.MaxLFQ is {state}: a first-pass report? use the final report of "
        "this DIA-NN run (only the last pass writes MaxLFQ)"
    )


@pytest.mark.parametrize("name", sorted(FIRST_PASS_REPORTS))
@pytest.mark.parametrize("command", ["inspect", "train"])
def test_diann_first_pass_report_is_one_clear_error(name: str, command: str) -> None:
    case = folder(CASES, "diann-first-pass-no-maxlfq")
    args = [case / name] if command == "inspect" else ["--proteins", case / name]
    first_pass_error(invoke(command, *args, "--lots", case / "lots.csv"), case / name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIRST_PASS_REPORTS))
def test_score_refuses_a_diann_first_pass_report_in_the_same_words(
    store: dict, base_model: str, name: str
) -> None:
    case = folder(CASES, "diann-first-pass-no-maxlfq")
    result = invoke(
        "score", "--model", base_model, "--proteins", case / name, "--lots", case / "lots.csv",
        "--out", store["root"] / "first_pass.csv",
    )  # fmt: skip
    first_pass_error(result, case / name)
    assert not (store["root"] / "first_pass.csv").exists()


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


@pytest.mark.slow
def test_score_quarantines_the_lot_of_a_diann_run_with_text_in_a_cell(
    store: dict, base_model: str, tmp_path: Path
) -> None:
    """One "n.d." in PG.MaxLFQ of one run of the final DIA-NN report (TSV or Parquet): score
    refused the file (exit 2: "text 'n.d.' in a number cell at run 'SIM_run_0001', ...") and
    lost all 80 lots, where a wide table quarantines the one row. Now that run's lot is
    quarantined with a reason naming the run, the protein group and the text, and the 79 others
    are scored as from the clean report. With text in every run the file is still refused, in
    one line."""
    case = folder(CASES, "diann-first-pass-no-maxlfq")
    lots = case / "lots.csv"
    report = pd.read_csv(case / "report_final.tsv.gz", sep="\t")
    run, group = report.loc[0, "Run"], report.loc[0, "Protein.Group"]
    lot = pd.read_csv(lots, dtype=str).set_index("ms_run").loc[run, "lot_id"]
    quantity = [None if pd.isna(v) else repr(float(v)) for v in report["PG.MaxLFQ"]]
    quantity[0] = "n.d."  # one precursor row of the group: one cell of the run
    report["PG.MaxLFQ"] = pd.Series(quantity, dtype=object)
    tsv, parquet = tmp_path / "report.tsv", tmp_path / "report.parquet"
    report.to_csv(tsv, sep="\t", index=False)
    report.to_parquet(parquet)  # DIA-NN 1.9/2.x write Parquet
    clean, _, _ = score_cli(store, base_model, case / "report_final.tsv.gz", lots, "diann_clean")
    for path in (tsv, parquet):
        scores, quarantine, _ = score_cli(store, base_model, path, lots, f"diann_{path.suffix[1:]}")
        assert quarantine.to_dict("records") == [
            {
                "lot_id": lot,
                "reason": f"run '{run}': text 'n.d.' in protein group '{group}' "
                "(column 'PG.MaxLFQ')",
            }
        ]
        others = clean.set_index("lot_id").drop(index=lot)
        pd.testing.assert_series_equal(
            scores.set_index("lot_id")["risk"].sort_index(), others["risk"].sort_index()
        )
    report["PG.MaxLFQ"] = "n.d."
    report.to_csv(tsv, sep="\t", index=False)
    out = store["root"] / "diann_all_text.csv"
    result = invoke("score", "--model", base_model, "--proteins", tsv, "--lots", lots, "--out", out)
    assert result.exit_code == 2, result.output
    assert error_line(result).startswith(
        f"error: {tsv}: text 'n.d.' in a number cell at run '{run}', protein group '{group}'"
    )
    assert not out.exists()


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


# --- a lot quarantined for a bad cell keeps its run -----------------------------------------------

BAD_CELLS = {
    "passage 60": ("passage", "60"),
    "passage 4.5": ("passage", "4.5"),
    "donor_age -3": ("donor_age", "-3"),
    "empty passage": ("passage", ""),
    "duplicate lot_id": ("lot_id", None),  # the row takes the previous row's lot id
}


@functools.cache
def base_lots_read() -> ProteinMatrix:
    return read_proteins(folder(CASES, "base-lots") / "proteinGroups.txt")


def sheet_with_bad_cells(path: Path, bad: dict[int, str]) -> Path:
    """base-lots' lot sheet with the given rows (0-based, >= 1) spoiled as ``BAD_CELLS`` say."""
    sheet = pd.read_csv(folder(CASES, "base-lots") / "lots.csv", dtype=str, keep_default_na=False)
    for row, kind in bad.items():
        column, value = BAD_CELLS[kind]
        sheet.loc[row, column] = sheet.loc[row - 1, "lot_id"] if value is None else value
    sheet.to_csv(path, index=False)
    return path


@given(
    bad=st.dictionaries(
        st.integers(1, 79), st.sampled_from(sorted(BAD_CELLS)), min_size=1, max_size=6
    )
)
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_lot_quarantined_for_a_bad_cell_keeps_its_run(
    store: dict, base_model: str, bad: dict[int, str]
) -> None:
    """Whatever cell quarantines a lot (or a duplicated lot id), the lot's run is its own:
    never a run "of no lot in the sheet" in score's books or inspect's report."""
    from exostab.io.inspection import inspection
    from exostab.io.readers import read_lot_sheet_lenient
    from exostab.scoring.batch import score_file
    from exostab.store.model_uri import resolve_model

    proteins = folder(CASES, "base-lots") / "proteinGroups.txt"
    with tempfile.TemporaryDirectory() as tmp:
        lots = sheet_with_bad_cells(Path(tmp) / "lots.csv", bad)
        bundle = resolve_model(base_model)[0]
        sheet, refused = read_lot_sheet_lenient(lots, vocabulary=bundle.vocabulary)
        assert len(refused), "every spoiled row is quarantined"
        scored = score_file(bundle, proteins, sheet, refused)
        assert scored.scorer.n_extra == 0, scored.scorer.accounting()
        assert "of no lot in the sheet" not in scored.scorer.accounting()
        reasons = scored.quarantine["reason"].astype(str)
        assert not reasons.str.contains("is not in the lot sheet").any(), scored.quarantine
        assert len(scored.scores) + len(scored.quarantine) == 80  # each row counted once
        payload, _ = inspection(proteins, base_lots_read(), (sheet, refused))
        assert payload["runs_without_lot"] == []
        assert payload["lots_without_run"] == []


# --- rows without a protein group id -----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "group"),
    [(("cases", "base-lots", "proteinGroups.txt"), "Protein IDs"),
     (("fixtures/proteomics-formats", "diann", "report.pg_matrix.tsv"), "Protein.Group"),
     (("fixtures/proteomics-formats", "fragpipe", "combined_protein.tsv"), "Protein"),
     (("cases", "spectronaut-pivot", "Report_pivot_PG.tsv"), "PG.ProteinGroups")],
)  # fmt: skip
def test_a_row_without_a_protein_group_id_is_dropped_and_said_never_named_nan(
    tmp_path: Path, source: tuple[str, str, str], group: str
) -> None:
    """A row with an empty group id was the protein group 'nan' (two: "duplicate protein group
    id(s) 'nan'", a name the file never wrote); a row of only tabs was one more group."""
    path = folder(SHARED / source[0], source[1]) / source[2]
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    valued, empty = table.iloc[[0]].assign(**{group: ""}), table.iloc[[1]].map(lambda _: "")
    edited = pd.concat([table, valued, valued, empty], ignore_index=True)
    edited.to_csv(tmp_path / source[2], sep="\t", index=False)
    before, after = read_proteins(path), read_proteins(tmp_path / source[2])
    assert list(after.intensities.columns) == list(before.intensities.columns)
    assert "nan" not in after.intensities.columns
    assert "dropped 3 row(s) without a protein group id (2 holding values)" in after.notes


# --- a run named <lot_id>.<number> (review: silently averaged into the lot) ---------------------


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["wide", "maxquant"])
def test_score_never_averages_a_dot_numbered_run_into_a_lot_whose_ms_run_names_its_runs(
    store: dict, base_model: str, shape: str, tmp_path: Path
) -> None:
    """``SIM-L0001.2`` holding SIM-L0002's values moved SIM-L0001's risk, with no word."""
    base = folder(CASES, "base-lots")
    if shape == "wide":
        wide = pd.read_csv(base / "proteins.csv", dtype={"lot_id": str})
        extra = wide.iloc[[1]].assign(lot_id="SIM-L0001.2")
        proteins = tmp_path / "p_dotsuffix.csv"
        pd.concat([wide, extra]).to_csv(proteins, index=False)
    else:
        table = pd.read_csv(base / "proteinGroups.txt", sep="\t", dtype=str, keep_default_na=False)
        table["LFQ intensity SIM-L0001.2"] = table["LFQ intensity SIM_run_0051"]
        proteins = tmp_path / "proteinGroups.txt"
        table.to_csv(proteins, sep="\t", index=False)
    clean, _, _ = score_cli(store, base_model, base / "proteinGroups.txt", base / "lots.csv", "c")
    scores, quarantine, _ = score_cli(store, base_model, proteins, base / "lots.csv", "dot")
    assert len(scores) == 80
    risk = scores.set_index("lot_id")["risk"]
    assert risk["SIM-L0001"] == pytest.approx(clean.set_index("lot_id")["risk"]["SIM-L0001"])
    assert scores.set_index("lot_id")["warning"].isna().all()
    reason = quarantine.set_index("lot_id")["reason"]["SIM-L0001.2"]
    assert "named like lot SIM-L0001" in reason and "ms_run names its runs" in reason


@pytest.mark.slow
def test_score_says_a_lot_was_averaged_from_runs_named_like_it(
    store: dict, base_model: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = folder(CASES, "base-lots")
    wide = pd.read_csv(base / "proteins.csv", dtype={"lot_id": str})
    proteins = tmp_path / "p_dotsuffix.csv"
    pd.concat([wide, wide.iloc[[1]].assign(lot_id="SIM-L0001.2")]).to_csv(proteins, index=False)
    lots = tmp_path / "lots.csv"
    pd.read_csv(base / "lots.csv", dtype=str).drop(columns="ms_run").to_csv(lots, index=False)
    with caplog.at_level(logging.WARNING):
        scores, _, _ = score_cli(store, base_model, proteins, lots, "dot_no_ms_run")
    warned = scores.set_index("lot_id")["warning"].fillna("")
    assert warned["SIM-L0001"] == (
        "averaged 2 runs as replicates by their names (no ms_run names this lot's runs): "
        "SIM-L0001, SIM-L0001.2"
    )
    assert sum(bool(w) for w in warned) == 1
    assert "SIM-L0001 (SIM-L0001, SIM-L0001.2)" in caplog.text
