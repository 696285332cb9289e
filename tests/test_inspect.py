"""`exostab inspect`: what was read, as a table or JSON; bad files give exit 2 and one message."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from exostab.cli import app

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parents[2] / "shared/fixtures/proteomics-formats"

MAXQUANT = (
    "Protein IDs\tGene names\tLFQ intensity LOT-1.raw\tLFQ intensity LOT-2.raw\t"
    "Reverse\tPotential contaminant\n"
    "P21926\tCD9\t100\t0\t\t\n"
    "P08962\tCD63\t300\t400\t\t\n"
    "REV__P1\t\t1\t1\t+\t\n"
)
LOTS = "lot_id,passage,tissue_source\nLOT-1,3,BM\nLOT-2,5,UC\nLOT-3,seven,BM\n"


def test_inspect_json(tmp_path: Path) -> None:
    path = tmp_path / "proteinGroups.txt"
    path.write_text(MAXQUANT)
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["format"] == "maxquant"
    assert payload["n_runs"] == 2
    assert payload["n_protein_groups"] == 2
    assert payload["n_protein_groups_before"] == 3
    assert payload["n_dropped"] == 1
    assert payload["missing_fraction"] == 0.25
    assert payload["intensity_max"] == 400.0
    assert payload["looks_log_scale"] is False


def test_inspect_json_with_lots(tmp_path: Path) -> None:
    path = tmp_path / "proteinGroups.txt"
    path.write_text(MAXQUANT)
    lots = tmp_path / "lots.csv"
    lots.write_text(LOTS)
    result = runner.invoke(app, ["inspect", str(path), "--lots", str(lots), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["run_to_lot"] == {"LOT-1.raw": "LOT-1", "LOT-2.raw": "LOT-2"}
    assert payload["lots_without_run"] == []  # LOT-3 is quarantined (text passage)
    assert any("LOT-3" in problem for problem in payload["problems"])


def test_inspect_table(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("lot_id,CD9,CD63\nL1,20.1,18\nL2,21,\n")
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    for word in ("wide", "runs", "protein groups", "missing", "values look log2", "problem"):
        assert word in result.stdout


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"real outputs not found at {FIXTURES}")
def test_inspect_real_maxquant() -> None:
    path = FIXTURES / "maxquant/proteinGroups_10samples.txt"
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    # 756/126: groups with a CON__ member are dropped too (see test_readers.REAL)
    assert (payload["n_runs"], payload["n_protein_groups"], payload["n_dropped"]) == (10, 756, 126)


def assert_user_error(result: object, path: Path) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert "error:" in err
    assert path.name in err
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert len(err.strip().splitlines()) <= 16
    assert result.stdout == ""  # type: ignore[attr-defined]


BAD = {
    "empty.csv": b"",
    "garbage.tsv": bytes(range(256)) * 4,
    "one_column.csv": b"lot_id|CD9|CD63\nL1|1|2\n",  # semicolons are a valid delimiter
    "dup_lot.csv": b"lot_id,CD9\nL1,1\nL1,2\n",
    "dup_col.csv": b"lot_id,CD9,CD9\nL1,1,2\n",
    "text.csv": b"lot_id,CD9\nL1,abc\n",
    "negative.csv": b"lot_id,CD9\nL1,-1\n",
    "infinite.csv": b"lot_id,CD9\nL1,inf\n",
    "truncated.csv": b"lot_id,CD9,CD63\nL1,1,2\nL2,1\n",
    "unnamed.csv": b"lot_id,CD9,,12.5\nL1,1,2,3\n",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_inspect_bad_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(BAD[name])
    assert_user_error(runner.invoke(app, ["inspect", str(path)]), path)


def test_inspect_missing_file_and_bad_lot_sheet(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tsv"
    assert_user_error(runner.invoke(app, ["inspect", str(missing)]), missing)
    path = tmp_path / "proteinGroups.txt"
    path.write_text(MAXQUANT)
    lots = tmp_path / "lots.csv"
    lots.write_text("lot_id,tissue_source\nLOT-1,BM\n")  # no passage column: fatal
    result = runner.invoke(app, ["inspect", str(path), "--lots", str(lots)])
    assert_user_error(result, lots)
    assert "passage" in result.stderr


def test_inspect_unknown_format_option(tmp_path: Path) -> None:
    path = tmp_path / "proteinGroups.txt"
    path.write_text(MAXQUANT)
    result = runner.invoke(app, ["inspect", str(path), "--format", "excel"])
    assert_user_error(result, path)


malformed = st.one_of(
    st.binary(min_size=0, max_size=200),
    st.builds(
        lambda cell, sep: f"lot_id{sep}CD9{sep}CD63\nL1{sep}1{sep}{cell}\n".encode(),
        st.sampled_from(["x", "-2", "inf", "1e400", "'5'"]),
        st.sampled_from([",", "\t"]),
    ),
    st.builds(
        lambda n: ("lot_id,CD9,CD63\n" + "L1,1,2\n" * n).encode(),
        st.integers(min_value=2, max_value=5),
    ),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=malformed)
def test_inspect_never_shows_a_traceback(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code in (0, 2)
    if result.exit_code == 2:
        assert_user_error(result, path)


@pytest.mark.parametrize("as_json", [False, True])
def test_inspect_says_each_finding_once_in_its_category(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, as_json: bool
) -> None:
    """A scale contradiction and a failed run are problems, said once: not also a note, nor
    a logged warning beside the table; a plain remark stays a note."""
    path = tmp_path / "wide.csv"
    path.write_text("lot_id,CD9,CD63,CON__P02768\nL1,20.1,18,5\nL2,21,,6\nL3,0,0,0\n")
    with caplog.at_level(logging.WARNING):
        result = runner.invoke(app, ["inspect", str(path), *(["--json"] if as_json else [])])
    assert result.exit_code == 0, result.output
    findings = ("look log2 already", "quantified no protein")
    said = " ".join([*result.stdout.split(), *caplog.messages])  # rich wraps table cells
    for finding in findings:
        assert said.count(finding) == 1, (finding, said)
    if as_json:
        payload = json.loads(result.stdout)
        assert all(any(f in problem for problem in payload["problems"]) for f in findings)
        assert not any(f in note for note in payload["notes"] for f in findings)
        assert any("contaminant" in note or "decoy" in note for note in payload["notes"])
    else:
        problems = [line for line in result.stdout.splitlines() if "problem" in line]
        assert len(problems) == 2, result.stdout
        # the dropped contaminant is counted once, in the protein-groups row
        assert said.count("dropped") == 1, said
