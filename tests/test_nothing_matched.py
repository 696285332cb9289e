"""When no run of a protein file matches a lot, train and score say why in one line, exit 2.

The kind of fault: the two files are each fine, but nothing pairs them (runs named by the
instrument, a lot sheet without ``ms_run``; a header-only protein file or lot sheet). The
message must name the file's runs as written and what the sheet offers to match them by,
never blame the wrong file, and never be a list of every lot.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from exostab.cli import app
from exostab.errors import InputError
from exostab.io.readers import read_lot_sheet
from exostab.io.runs import why_no_run_matched

runner = CliRunner()
CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"

names = st.text(
    alphabet=st.characters(min_codepoint=48, max_codepoint=122, categories=("L", "N")),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(
    runs=st.lists(names, min_size=1, max_size=30, unique=True),
    lots=st.lists(names, min_size=1, max_size=30, unique=True),
    with_ms_run=st.booleans(),
)
def test_the_reason_names_the_runs_and_what_the_sheet_matches_by(
    runs: list[str], lots: list[str], with_ms_run: bool
) -> None:
    """Any run names and lot ids: the first run is named, the count is right, and the advice
    follows the sheet (an ms_run column's entries, or the missing column); at most 3 of each."""
    sheet = pd.DataFrame({"lot_id": lots})
    if with_ms_run:
        sheet["ms_run"] = [f"{lot}_inj" for lot in lots]
    said = why_no_run_matched(runs, sheet)
    assert f"{len(runs)} run(s) are named {runs[0]}" in said
    if with_ms_run:
        assert f"ms_run column names {lots[0]}_inj" in said
    else:
        assert "none a lot id of the lot sheet" in said and "ms_run column" in said
    assert said.count(",") <= 8  # three runs, three lots or entries: never the whole list


def test_an_empty_side_is_named() -> None:
    sheet = pd.DataFrame({"lot_id": ["L1"]})
    assert "protein file holds no run" in why_no_run_matched([], sheet)
    assert "lot sheet holds no lot" in why_no_run_matched(["r1"], sheet.iloc[:0])


def test_a_header_only_lot_sheet_is_refused_on_reading(tmp_path: Path) -> None:
    sheet = tmp_path / "lots.csv"
    sheet.write_text("lot_id,donor_id,passage,unstable\n", encoding="utf-8")
    with pytest.raises(InputError, match="holds no lot") as caught:
        read_lot_sheet(sheet, label="unstable")
    assert caught.value.where == str(sheet)


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.skipif(not (CASES / "base-lots").is_dir(), reason="needs ../shared/cases")
def test_train_says_why_no_lot_has_a_profile(tmp_path: Path, tracking_store: str) -> None:
    """The reviewer's case: a MaxQuant file of SIM_run_* runs, a lot sheet without ms_run."""
    proteins = CASES / "base-lots" / "proteinGroups.txt"
    lots = CASES / "lotsheet-decimal-comma" / "lots_de_all80.csv"
    result = runner.invoke(app, ["train", "--proteins", str(proteins), "--lots", str(lots)])
    assert result.exit_code == 2, result.output
    line = one_line(result.output)
    assert line.startswith(f"error: {proteins}: no lot of the lot sheet has a protein profile")
    assert "SIM_run_0001" in line and "ms_run column" in line
    assert "77 more" in line and "SIM-L0010" not in line  # three named, not ten


def scored(model: Path, proteins: Path, lots: Path, out: Path) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["score", "--model", str(model), "--proteins", str(proteins), "--lots", str(lots),
         "--out", str(out)],
    )  # fmt: skip
    return result.exit_code, result.output


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_score_names_the_file_that_is_empty(
    simulated_model: dict[str, Path], tmp_path: Path, encoding: str
) -> None:
    """A header-only protein file is blamed as such (not the lot sheet), and the reverse. In
    UTF-16 (read by pandas, not pyarrow) the empty chunk used to end in a traceback."""
    data, model = simulated_model["data"], simulated_model["model"]
    header = (data / "proteins.csv").read_text(encoding="utf-8").splitlines()[0]
    empty_proteins = tmp_path / "proteins.csv"
    empty_proteins.write_text(header + "\n", encoding=encoding)
    code, output = scored(model, empty_proteins, data / "lots.csv", tmp_path / "a.csv")
    assert code == 2
    assert one_line(output) == (
        f"error: {empty_proteins}: no lot could be scored: the protein file holds no run "
        f"(a header without rows or sample columns?); each lot with its reason → "
        f"{tmp_path / 'a.quarantine.csv'}, no scores written"
    )
    empty_lots = tmp_path / "lots.csv"
    empty_lots.write_text(
        (data / "lots.csv").read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8"
    )
    code, output = scored(model, data / "proteins.csv", empty_lots, tmp_path / "b.csv")
    assert code == 2
    assert re.search(rf"^error: {re.escape(str(empty_lots))}: .*lot sheet holds no lot", output,
                     re.M), output  # fmt: skip


def test_score_says_why_no_run_matched(simulated_model: dict[str, Path], tmp_path: Path) -> None:
    """Runs named by the instrument and a sheet that lost its ms_run column: every lot is
    quarantined (none lost), and the one error line says why."""
    data, model = simulated_model["data"], simulated_model["model"]
    sheet = pd.read_csv(data / "lots.csv")
    assert "ms_run" in sheet  # the simulator names each lot's runs
    lots = tmp_path / "lots.csv"
    sheet.drop(columns="ms_run").to_csv(lots, index=False)
    out = tmp_path / "scores.csv"
    code, output = scored(model, data / "proteinGroups.txt", lots, out)
    assert code == 2
    line = one_line(output)
    assert line.startswith(f"error: {data / 'proteinGroups.txt'}: no lot could be scored: ")
    first_run = pd.read_csv(data / "proteinGroups.txt", sep="\t", nrows=0).columns
    assert "ms_run column" in line and "none a lot id" in line, line
    assert any(column.endswith(line.split("are named ")[1].split(",")[0]) for column in first_run)
    quarantine = pd.read_csv(tmp_path / "scores.quarantine.csv")
    assert set(sheet["lot_id"]) <= set(quarantine["lot_id"])


def header_only_proteins(data: Path, folder: Path) -> tuple[Path, Path]:
    """A wide protein table cut to its header, and the lot sheet as it is."""
    header = (data / "proteins.csv").read_text(encoding="utf-8").splitlines()[0]
    proteins = folder / "proteins.csv"
    proteins.write_text(header + "\n", encoding="utf-8")
    return proteins, data / "lots.csv"


def lots_named_otherwise(data: Path, folder: Path) -> tuple[Path, Path]:
    """The MaxQuant file, and a lot sheet whose lot ids no run matches (no ms_run column)."""
    sheet = pd.read_csv(data / "lots.csv")
    lots = folder / "lots.csv"
    sheet.drop(columns="ms_run").assign(lot_id="X-" + sheet["lot_id"]).to_csv(lots, index=False)
    return data / "proteinGroups.txt", lots


def every_lot_refused(data: Path, folder: Path) -> tuple[Path, Path]:
    """The wide table, and a lot sheet whose every passage is out of range."""
    lots = folder / "lots.csv"
    pd.read_csv(data / "lots.csv").assign(passage=999).to_csv(lots, index=False)
    return data / "proteins.csv", lots


def every_row_text(data: Path, folder: Path) -> tuple[Path, Path]:
    """A wide table whose every row holds text in a cell, and the lot sheet as it is."""
    proteins = folder / "proteins.csv"
    table = pd.read_csv(data / "proteins.csv", dtype=str)
    table.iloc[:, 1] = "n.d."
    table.to_csv(proteins, index=False)
    return proteins, data / "lots.csv"


# case: (files, what the error says, which file it names: 0 the protein file, 1 the lot sheet)
NOTHING_SCORED = {
    "header-only protein table": (header_only_proteins, "the protein file holds no run", 0),
    "no lot matches": (lots_named_otherwise, "the protein file's 60 run(s) are named", 0),
    "every lot refused": (every_lot_refused, "all 60 quarantined (first: ", 1),
    "every protein row refused": (every_row_text, "all 60 quarantined (first: ", 0),
}


@pytest.mark.parametrize("out_name", ["scores.csv", "scores.parquet"])
@pytest.mark.parametrize("case", sorted(NOTHING_SCORED))
def test_score_that_scores_nothing_writes_the_quarantine_and_no_scores(
    simulated_model: dict[str, Path], tmp_path: Path, case: str, out_name: str
) -> None:
    """review5 M2, review4 M9: nothing scored printed the success summary, left a 0-byte or
    header-only scores file beside the quarantine, then one error line; with --report it ended
    in a traceback (no lot to draw) and lost the quarantine. Now: only the quarantine (every
    lot with its reason), no scores or report (an earlier one of those names removed, so no
    old scores sit beside this quarantine), no summary, one error line saying where, exit 2."""
    data, model = simulated_model["data"], simulated_model["model"]
    make, why, named = NOTHING_SCORED[case]
    proteins, lots = make(data, tmp_path)
    out, report = tmp_path / "out" / out_name, tmp_path / "out" / "report.html"
    out.parent.mkdir()
    out.write_text("an earlier run's scores\n")
    quarantine = tmp_path / "out" / "scores.quarantine.csv"
    result = runner.invoke(
        app,
        ["score", "--model", str(model), "--proteins", str(proteins), "--lots", str(lots),
         "--out", str(out), "--report", str(report)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""  # no "0 scored ... scores →" summary that reads as done
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert why in errors[0]
    assert errors[0].startswith(f"error: {(proteins, lots)[named]}: ")  # the file at fault
    assert errors[0].endswith(
        f"; each lot with its reason → {quarantine}, no scores or report written "
        f"(the earlier {out_name} removed)"
    )
    assert sorted(p.name for p in out.parent.iterdir()) == ["scores.quarantine.csv"]
    held = pd.read_csv(quarantine, dtype=str)
    assert list(held.columns) == ["lot_id", "reason"] and held["reason"].notna().all()
    assert set(pd.read_csv(lots, dtype=str)["lot_id"]) <= set(held["lot_id"])


@pytest.mark.skipif(not (CASES / "base-lots").is_dir(), reason="needs ../shared/cases")
def test_inspect_says_it_once_and_takes_proteins_as_an_option() -> None:
    """inspect names the same reason as one problem (not also 80 lots without a run), and
    reads the protein file as --proteins as well as FILE, as score and train name it."""
    import json

    proteins = CASES / "base-lots" / "proteinGroups.txt"
    lots = CASES / "lotsheet-decimal-comma" / "lots_de_all80.csv"
    answers = [
        runner.invoke(app, ["inspect", *where, "--lots", str(lots), "--json"])
        for where in ([str(proteins)], ["--proteins", str(proteins)])
    ]
    assert [a.exit_code for a in answers] == [0, 0]
    assert answers[0].stdout == answers[1].stdout
    problems = json.loads(answers[0].stdout)["problems"]
    assert [p for p in problems if "run" in p] == [
        "no run matches a lot: " + why_no_run_matched(
            [f"SIM_run_{i:04d}" for i in range(1, 81)], pd.read_csv(lots, sep=";")
        )
    ]  # fmt: skip
    both = runner.invoke(app, ["inspect", str(proteins), "--proteins", str(lots)])
    assert both.exit_code == 2 and "two protein files given" in both.output
    neither = runner.invoke(app, ["inspect"])
    assert neither.exit_code == 2 and "give the protein file" in neither.output


@pytest.mark.skipif(not (CASES / "base-lots").is_dir(), reason="needs ../shared/cases")
@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("proteinGroups.txt", "holds no protein group (a header without rows?)"),
        ("proteins.csv", "holds no run (a header without rows?)"),
    ],
)
def test_a_header_only_protein_file_is_named_as_such_by_every_reader_path(
    tmp_path: Path, source: str, said: str
) -> None:
    """A MaxQuant header gave a failed-run warning for every sample and "training needs both
    classes ... found only []"; a wide header said it "holds no run (sample) quantity columns"."""
    from exostab.io.readers import read_proteins

    header = tmp_path / source
    header.write_text(
        (CASES / "base-lots" / source).read_text(encoding="utf-8").splitlines()[0] + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=re.escape(said)) as caught:
        read_proteins(header)
    assert caught.value.where == str(header)
    result = runner.invoke(
        app, ["train", "--proteins", str(header), "--lots", str(CASES / "base-lots" / "lots.csv")]
    )
    assert result.exit_code == 2 and one_line(result.output) == f"error: {header}: {said}"
