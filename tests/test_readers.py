"""Readers: one contract test over every format, real engine outputs, malformed input."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exostab.errors import InputError
from exostab.io.naming import parse_protein_name
from exostab.io.readers import (
    FORMATS,
    READERS,
    ProteinMatrix,
    ReadOptions,
    detect_format,
    read_proteins,
)
from exostab.io.readers.parsing import peek
from exostab.io.runs import map_runs_to_lots

FIXTURES = Path(__file__).resolve().parents[2] / "shared/fixtures/proteomics-formats"
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"real proteomics outputs not found at {FIXTURES}"
)


def assert_valid_matrix(matrix: ProteinMatrix) -> None:
    """The contract every reader must meet."""
    values = matrix.intensities.to_numpy()
    assert (matrix.intensities.dtypes == "float64").all()
    finite = values[~np.isnan(values)]
    assert np.isfinite(finite).all()
    assert (finite > 0).all(), "zeros must become NaN, negatives are refused"
    assert matrix.intensities.index.is_unique
    assert matrix.intensities.columns.is_unique
    assert matrix.proteins.index.equals(matrix.intensities.columns)
    assert list(matrix.proteins.columns) == ["leading_accession", "gene", "description"]
    assert matrix.n_groups_before >= matrix.n_groups
    assert matrix.n_groups_before - matrix.n_dropped == matrix.n_groups


# --- tiny files of every format, written by the tests ----------------------------------------


def write_maxquant(path: Path) -> Path:
    path.write_text(
        "Protein IDs\tFasta headers\tLFQ intensity L1\tLFQ intensity L2\tIntensity L1\t"
        "Intensity L2\tReverse\tPotential contaminant\tOnly identified by site\n"
        "sp|P21926|CD9_HUMAN\tsp|P21926|CD9_HUMAN CD9 antigen OS=Homo sapiens GN=CD9 PE=1\t"
        "1000\t0\t900\t5\t\t\t\n"
        "P08962;P08962-2\t>CD63 x GN=CD63\t2000\t2500\t1\t1\t\t\t\n"
        "REV__P12345\t\t10\t10\t1\t1\t+\t\t\n"
        "CON__P02768\t\t10\t10\t1\t1\t\t+\t\n"
        "Q99999\t\t10\t10\t1\t1\t\t\t+\n"
    )
    return path


def write_diann(path: Path) -> Path:
    path.write_text(
        "Protein.Group\tProtein.Ids\tProtein.Names\tGenes\tFirst.Protein.Description\t"
        "D:\\ms\\L1.raw\t/data/ms/L2.d\n"
        "P21926\tP21926\tCD9_HUMAN\tCD9\tCD9 antigen\t1000.5\t\n"
        "P08962\tP08962\tCD63_HUMAN\tCD63\tCD63 antigen\t2000\t3000\n"
    )
    return path


def write_diann_long(path: Path) -> Path:
    pd.DataFrame(
        {
            "Run": ["L1", "L1", "L2", "L2", "L2"],
            "Protein.Group": ["P21926", "P21926", "P21926", "P08962", "P08962"],
            "Genes": ["CD9", "CD9", "CD9", "CD63", "CD63"],
            "PG.MaxLFQ": [100.0, 100.0, 150.0, 80.0, 80.0],
            "Precursor.Id": ["a", "b", "a", "c", "d"],
        }
    ).to_csv(path, sep="\t", index=False)
    return path


def write_spectronaut(path: Path) -> Path:
    path.write_text(
        "\tR.FileName\tPG.ProteinGroups\tPG.Genes\tPG.Quantity\tEG.IsDecoy\n"
        "0\tL1\tP21926\tCD9\t1234,5\tFalse\n"
        "1\tL1\tP21926\tCD9\t1234,5\tFalse\n"
        "2\tL2\tP21926\tCD9\t99,25\tFalse\n"
        "3\tL2\tP08962;P08962-2\tCD63\t55,09\tFalse\n"
        "4\tL2\tREV_X\tX\t9,5\tTrue\n"
    )
    return path


def write_spectronaut_pivot(path: Path) -> Path:
    path.write_text(
        "PG.ProteinGroups\tPG.Genes\tPG.ProteinDescriptions\t[1] L1.htrms.PG.Quantity\t"
        "[2] L2.raw.PG.Quantity\n"
        "P21926\tCD9\tCD9 antigen\t1234,5\tFiltered\n"
        "P08962;P08962-2\tCD63\tCD63 antigen\t55,09\t12\n"
        "CON__P02768\tALB\tAlbumin\t9\t9\n"
    )
    return path


def write_fragpipe(path: Path) -> Path:
    path.write_text(
        "Protein\tProtein ID\tGene\tDescription\tL1 Intensity\tL2 Intensity\t"
        "L1 MaxLFQ Intensity\tL2 MaxLFQ Intensity\n"
        "sp|P21926|CD9_HUMAN\tP21926\tCD9\tCD9 antigen\t5\t6\t100\t0\n"
        "contam_sp|P00761|TRYP_PIG\tP00761\t\tTrypsin\t5\t6\t100\t200\n"
        "sp|P08962|CD63_HUMAN\tP08962\tCD63\tCD63 antigen\t5\t6\t300\t400\n"
    )
    return path


def write_mztab(path: Path) -> Path:
    path.write_text(
        "MTD\tmzTab-version\t1.0.0\n"
        "MTD\tmzTab-mode\tSummary\n"
        "MTD\tmzTab-type\tQuantification\n"
        "MTD\tstudy_variable[1]-description\tL1\n"
        "MTD\tstudy_variable[2]-description\tL2\n"
        "\n"
        "PRH\taccession\tdescription\tprotein_abundance_study_variable[1]\t"
        "protein_abundance_study_variable[2]\n"
        "PRT\tP21926\tCD9 antigen GN=CD9\t100.5\t200\n"
        "PRT\tP08962\tCD63 antigen\tnull\t300\n"
    )
    return path


def write_alphapept(path: Path) -> Path:
    path.write_text(
        ",L1_LFQ,L2_LFQ,L1,L2\n"
        "sp|P21926|CD9_HUMAN,100.0,200.0,1,2\n"
        '"sp|P08962|CD63_HUMAN,sp|P08962-2|CD63_HUMAN",300.0,,3,\n'
        "REV__sp|P12345|X_HUMAN,5,5,5,5\n"
    )
    return path


def write_wide(path: Path) -> Path:
    path.write_text(
        "lot_id,CD9,CD63,SIMG00042,SIMG00001;SIMG00002\nL1,100,0,3e5,7\nL2,,250.5,1,2\n"
    )
    return path


def write_long(path: Path) -> Path:
    path.write_text(
        "lot_id,protein,intensity\nL1,CD9,100\nL1,CD63,\nL2,CD9,120\nL2,P08962,250\nL2,CD63,0\n"
    )
    return path


WRITERS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "maxquant": ("proteinGroups.txt", write_maxquant),
    "diann": ("report.pg_matrix.tsv", write_diann),
    "diann_long": ("report.tsv", write_diann_long),
    "spectronaut": ("report.tsv", write_spectronaut),
    "spectronaut_pivot": ("Report_pivot_PG.tsv", write_spectronaut_pivot),
    "fragpipe": ("combined_protein.tsv", write_fragpipe),
    "mztab": ("q.mzTab", write_mztab),
    "alphapept": ("results_proteins.csv", write_alphapept),
    "wide": ("wide.csv", write_wide),
    "long": ("long.csv", write_long),
}
# (runs, groups kept, groups dropped) of each tiny file, counted by hand from the writers above.
TINY_SHAPES = {
    "maxquant": (2, 2, 3),
    "diann": (2, 2, 0),
    "diann_long": (2, 2, 0),
    "spectronaut": (2, 2, 0),
    "spectronaut_pivot": (2, 2, 1),
    "fragpipe": (2, 2, 1),
    "mztab": (2, 2, 0),
    "alphapept": (2, 2, 1),
    "wide": (2, 4, 0),
    "long": (2, 3, 0),
}


def test_every_format_has_a_tiny_file() -> None:
    assert set(WRITERS) == set(FORMATS) == set(READERS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_reader_contract(fmt: str, tmp_path: Path) -> None:
    name, write = WRITERS[fmt]
    path = write(tmp_path / name)
    assert detect_format(path) == fmt
    matrix = read_proteins(path)
    assert matrix.format == fmt
    assert_valid_matrix(matrix)
    assert (matrix.n_runs, matrix.n_groups, matrix.n_dropped) == TINY_SHAPES[fmt]
    assert read_proteins(path, format=fmt).intensities.equals(matrix.intensities)


def test_maxquant_details(tmp_path: Path) -> None:
    matrix = read_proteins(write_maxquant(tmp_path / "pg.txt"))
    x = matrix.intensities
    assert list(x.index) == ["L1", "L2"]
    assert x.loc["L1", "sp|P21926|CD9_HUMAN"] == 1000.0  # LFQ preferred over Intensity
    assert math.isnan(x.loc["L2", "sp|P21926|CD9_HUMAN"])  # 0 -> NaN
    assert matrix.proteins.loc["sp|P21926|CD9_HUMAN", "leading_accession"] == "P21926"
    assert matrix.proteins.loc["sp|P21926|CD9_HUMAN", "gene"] == "CD9"  # from Fasta headers
    assert matrix.proteins.loc["P08962;P08962-2", "gene"] == "CD63"


def test_maxquant_falls_back_to_raw_intensity(tmp_path: Path) -> None:
    path = tmp_path / "pg.txt"
    path.write_text(
        "Protein IDs\tGene names\tIntensity S1\tIntensity S2\tContaminant\n"
        "P1\tA1\t5\t6\t\nP2\tB2\t7\t8\t+\n".replace("P1", "P21926").replace("P2\t", "P08962\t")
    )
    matrix = read_proteins(path)
    assert matrix.intensities.loc["S2", "P21926"] == 6.0
    assert matrix.n_dropped == 1  # older 'Contaminant' column honoured
    assert matrix.proteins.loc["P21926", "gene"] == "A1"


def test_diann_paths_are_stripped_to_stems(tmp_path: Path) -> None:
    matrix = read_proteins(write_diann(tmp_path / "pg.tsv"))
    assert list(matrix.intensities.index) == ["L1", "L2"]
    assert matrix.intensities.loc["L1", "P21926"] == 1000.5


def test_diann_long_parquet(tmp_path: Path) -> None:
    frame = pd.read_csv(write_diann_long(tmp_path / "r.tsv"), sep="\t")
    frame.to_parquet(tmp_path / "report.parquet")
    matrix = read_proteins(tmp_path / "report.parquet")
    assert matrix.format == "diann_long"
    assert matrix.intensities.loc["L2", "P21926"] == 150.0
    assert math.isnan(matrix.intensities.loc["L1", "P08962"])


def test_spectronaut_decimal_comma(tmp_path: Path) -> None:
    matrix = read_proteins(write_spectronaut(tmp_path / "s.tsv"))
    assert matrix.intensities.loc["L1", "P21926"] == 1234.5
    assert matrix.intensities.loc["L2", "P08962;P08962-2"] == 55.09
    assert "decimal separator: comma" in matrix.notes


def test_long_report_with_conflicting_values_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.tsv"
    path.write_text("R.FileName\tPG.ProteinGroups\tPG.Quantity\nL1\tP1\t10\nL1\tP1\t12\n")
    with pytest.raises(InputError, match="several different"):
        read_proteins(path)


def test_fragpipe_prefers_maxlfq_and_razor_last(tmp_path: Path) -> None:
    matrix = read_proteins(write_fragpipe(tmp_path / "c.tsv"))
    assert matrix.intensities.loc["L1", "sp|P21926|CD9_HUMAN"] == 100.0
    old = tmp_path / "old.tsv"
    old.write_text(
        "Protein Group\tProtein\tProtein ID\tGene Names\tS1 Razor Intensity\tS2 Razor Intensity\n"
        "1\tsp|P21926|CD9_HUMAN\tP21926\tCD9\t5\t0\n"
    )
    older = read_proteins(old)
    assert older.intensities.loc["S1", "sp|P21926|CD9_HUMAN"] == 5.0
    assert older.proteins["gene"].tolist() == ["CD9"]


def test_alphapept_prefers_lfq(tmp_path: Path) -> None:
    matrix = read_proteins(write_alphapept(tmp_path / "a.csv"))
    assert matrix.intensities.loc["L1", "sp|P21926|CD9_HUMAN"] == 100.0
    assert matrix.proteins["leading_accession"].tolist() == ["P21926", "P08962"]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".xlsx"])
def test_wide_table_in_every_container(suffix: str, tmp_path: Path) -> None:
    frame = pd.DataFrame({"lot_id": ["L1", "L2"], "CD9": [100.0, np.nan], "P08962": [0.0, 5.5]})
    path = tmp_path / f"wide{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_excel(path, index=False)
    matrix = read_proteins(path)
    assert matrix.format == "wide"
    assert_valid_matrix(matrix)
    assert matrix.intensities.loc["L1", "CD9"] == 100.0
    assert math.isnan(matrix.intensities.loc["L1", "P08962"])
    assert matrix.proteins.loc["CD9", "gene"] == "CD9"
    assert matrix.proteins.loc["P08962", "leading_accession"] == "P08962"


def test_log_scale_is_flagged_not_exponentiated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "log.csv"
    path.write_text("lot_id,CD9,CD63\nL1,20.5,18.25\nL2,21,\n")
    matrix = read_proteins(path)
    assert matrix.looks_log_scale
    assert matrix.intensities.loc["L1", "CD9"] == 20.5
    assert any("--scale log2" in problem for problem in matrix.problems)
    assert "look log2 already" in caplog.text


def test_raw_scale_is_not_flagged(tmp_path: Path) -> None:
    assert not read_proteins(write_wide(tmp_path / "w.csv")).looks_log_scale


# --- bad input: each gets an InputError naming the file ---------------------------------------

BAD_WIDE = {
    "empty.csv": ("", "is empty"),
    "garbage.csv": (b"\x00\x01\xff\xfe" * 50, "binary"),
    "semicolon_in_tab.csv": ("lot_id|CD9|CD63\nL1|1|2\n", "single column"),
    "dup_lots.csv": ("lot_id,CD9\nL1,1\nL1,2\n", "duplicate lot_id.*'L1'"),
    "dup_cols.csv": ("lot_id,CD9,CD9\nL1,1,2\n", "duplicate column.*'CD9'"),
    "text.csv": ("lot_id,CD9,CD63\nL1,1,abc\n", "text 'abc'.*'L1'.*'CD63'"),
    "negative.csv": ("lot_id,CD9,CD63\nL1,1,2\nL2,-5,2\n", "negative.*'L2'.*'CD9'"),
    "infinite.csv": ("lot_id,CD9,CD63\nL1,inf,2\n", "infinite.*'L1'.*'CD9'"),
    "truncated.csv": ("lot_id,CD9,CD63\nL1,1,2\nL2,3\n", "line 3 has 2 fields"),
    "too_many.csv": ("lot_id,CD9\nL1,1,2\nL2,3\n", "line 2 has 3 fields"),
    "unnamed_values.csv": ("lot_id,CD9,Unnamed: 3,12.5\nL1,1,2,3\n", "unnamed column 3.*no header"),
    "no_lot.csv": ("sample,CD9\nL1,1\n", "unknown format"),
    "no_proteins.csv": ("lot_id,passage\nL1,3\n", "no protein columns"),
}


@pytest.mark.parametrize("name", sorted(BAD_WIDE))
def test_bad_input_is_an_input_error(name: str, tmp_path: Path) -> None:
    content, message = BAD_WIDE[name]
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as error:
        read_proteins(path)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_format_name_and_missing_columns(tmp_path: Path) -> None:
    path = write_wide(tmp_path / "w.csv")
    with pytest.raises(InputError, match="unknown format 'excel'"):
        read_proteins(path, format="excel")
    with pytest.raises(InputError, match="missing required column"):
        read_proteins(path, format="diann_long")
    with pytest.raises(InputError, match="Protein IDs"):
        read_proteins(path, format="maxquant")


def test_truncated_vendor_file_is_refused(tmp_path: Path) -> None:
    text = write_maxquant(tmp_path / "pg.txt").read_text()
    cut = tmp_path / "cut.txt"
    cut.write_text(text[: text.index("CON__") + 8])
    with pytest.raises(InputError, match="truncated"):
        read_proteins(cut)


def test_corrupt_parquet_and_excel(tmp_path: Path) -> None:
    parquet = tmp_path / "x.parquet"
    parquet.write_bytes(b"PAR1" + b"\x00garbage" * 20)
    with pytest.raises(InputError, match="Parquet"):
        read_proteins(parquet)
    excel = tmp_path / "x.xlsx"
    excel.write_bytes(b"PK\x03\x04" + b"not a workbook" * 20)
    with pytest.raises(InputError, match="Excel"):
        read_proteins(excel)


cells = st.one_of(
    st.just("abc"),
    st.just("-3"),
    st.just("inf"),
    st.just("-inf"),
    st.text(alphabet="xyz!?#", min_size=1, max_size=4),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    row=st.integers(0, 2),
    col=st.integers(0, 2),
    bad=cells,
    sep=st.sampled_from([",", "\t"]),
)
def test_any_bad_cell_is_reported_with_lot_and_column(
    tmp_path: Path, row: int, col: int, bad: str, sep: str
) -> None:
    proteins = ["CD9", "CD63", "CD81"]
    values = [[str(10.0 + r + c) for c in range(3)] for r in range(3)]
    values[row][col] = bad
    lines = [sep.join(["lot_id", *proteins])]
    lines += [sep.join([f"L{r}", *values[r]]) for r in range(3)]
    path = tmp_path / "wide.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as error:
        read_proteins(path)
    assert f"'L{row}'" in str(error.value)
    assert f"'{proteins[col]}'" in str(error.value)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blob=st.binary(min_size=0, max_size=300))
def test_random_bytes_never_escape_as_other_errors(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "blob.tsv"
    path.write_bytes(blob)
    try:
        matrix = read_proteins(path)
    except InputError:
        return
    assert_valid_matrix(matrix)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fmt=st.sampled_from(FORMATS), keep=st.floats(0.05, 0.95))
def test_cut_files_fail_cleanly(tmp_path: Path, fmt: str, keep: float) -> None:
    name, write = WRITERS[fmt]
    path = write(tmp_path / name)
    raw = path.read_bytes()
    path.write_bytes(raw[: max(1, int(len(raw) * keep))])
    try:
        matrix = read_proteins(path)
    except InputError:
        return
    assert_valid_matrix(matrix)


def test_a_gzip_compressed_mztab_is_read_as_the_plain_file(tmp_path: Path) -> None:
    """Detected from its decompressed text, a .mzTab.gz was then handed to pyteomics as it
    is: "unreadable mzTab file ('utf-8' codec can't decode byte 0x8b ...)"."""
    import gzip

    plain = write_mztab(tmp_path / "q.mzTab")
    packed = tmp_path / "q.mzTab.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    matrix = read_proteins(packed)
    assert matrix.format == "mztab"
    assert matrix.intensities.equals(read_proteins(plain).intensities)


# --- a header without rows --------------------------------------------------------------------


def header_lines(fmt: str, tmp_path: Path) -> list[str]:
    """The header of a format's tiny file: mzTab's metadata and protein header (PRH), the
    first line of the others."""
    name, write = WRITERS[fmt]
    lines = write(tmp_path / name).read_text().splitlines()
    if fmt == "mztab":
        return [line for line in lines if not line.startswith("PRT")]
    return lines[:1]


PARQUET = ("diann_long", "wide", "long")  # the formats documented as Parquet too


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from(FORMATS),
    container=st.sampled_from(["text", "gzip", "parquet"]),
    line_end=st.sampled_from(["\n", "\r\n"]),
    blank_lines=st.integers(0, 2),
)
def test_a_header_without_rows_is_said_alike_by_every_reader(
    tmp_path: Path, fmt: str, container: str, line_end: str, blank_lines: int
) -> None:
    """Every reader says a header-only file holds no protein group (a wide table, whose rows
    are runs: no run), in the same words: a DIA-NN main report said "PG.MaxLFQ is empty: a
    first-pass report?", Spectronaut and long tables "holds no rows with both ...", mzTab "has
    no protein (PRT) rows"."""
    name, _ = WRITERS[fmt]
    lines = header_lines(fmt, tmp_path)
    if container == "parquet" and fmt in PARQUET:
        header = next(csv.reader(lines, delimiter="," if name.endswith(".csv") else "\t"))
        path = tmp_path / f"{Path(name).stem}.parquet"
        pd.DataFrame({column: pd.Series([], dtype=object) for column in header}).to_parquet(path)
    else:
        text = line_end.join(lines) + line_end * (1 + blank_lines)
        path = tmp_path / name
        path.write_bytes(text.encode())
        if container == "gzip":
            import gzip

            path = tmp_path / f"{name}.gz"
            path.write_bytes(gzip.compress(text.encode()))
    assert detect_format(path) == fmt
    with pytest.raises(InputError) as raised:
        read_proteins(path)
    what = "run" if fmt == "wide" else "protein group"
    assert str(raised.value) == f"{path}: holds no {what} (a header without rows?)"


DIANN_REPORT = "Run\tProtein.Group\tGenes\tPG.MaxLFQ\tQ.Value\tPG.Q.Value\n"
# A DIA-NN main report with nothing to read, and what is said of it: only a header is said as
# every reader says it; rows with no MaxLFQ stay a first-pass report; rows the q-value filter,
# the decoy rule or a missing run leave out are each named for what they are.
EMPTY_REPORTS = {
    "header": (DIANN_REPORT, "holds no protein group (a header without rows?)"),
    "first pass": (
        DIANN_REPORT + "L1\tP21926\tCD9\t\t0.001\t0.001\nL2\tP21926\tCD9\t\t0.001\t0.001\n",
        "PG.MaxLFQ is empty: a first-pass report? use the final report of this DIA-NN run "
        "(only the last pass writes MaxLFQ)",
    ),
    "q-values": (
        DIANN_REPORT + "L1\tP21926\tCD9\t100\t0.2\t0.001\nL2\tP21926\tCD9\t120\t0.001\t0.5\n",
        "none of its 2 report rows passes the q-value filter (<= 0.01 on Q.Value, PG.Q.Value)",
    ),
    "decoys": (
        DIANN_REPORT + "L1\tREV_P21926\tCD9\t100\t0.001\t0.001\n",
        "none of its 1 protein groups is left once contaminants, decoys and site-only groups "
        "are dropped",
    ),
    "no run": (
        DIANN_REPORT + "\tP21926\tCD9\t100\t0.001\t0.001\n",
        "holds no rows with both 'Run' and 'Protein.Group'",
    ),
}


@pytest.mark.parametrize("case", sorted(EMPTY_REPORTS))
def test_a_diann_report_with_nothing_to_read_says_why_in_one_line(
    case: str, tmp_path: Path
) -> None:
    """The reviewer's case (review5 M1): a header-only report.tsv was called a first-pass
    report; a report whose rows the q-value filter or the decoy rule all left out was said to
    hold "no rows with both 'Run' and 'Protein.Group'"."""
    from typer.testing import CliRunner

    from exostab.cli import app

    content, said = EMPTY_REPORTS[case]
    path = tmp_path / "report.tsv"
    path.write_text(content)
    assert detect_format(path) == "diann_long"
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.strip() == f"error: {path}: {said}"


# --- real search-engine outputs ---------------------------------------------------------------

# (file, format, runs, groups kept, groups dropped). Numbers checked independently with pandas:
#   mq = pd.read_csv(f, sep="\t", low_memory=False)
#   flag = mq[["Reverse", "Potential contaminant", "Only identified by site"]].eq("+").any(axis=1)
#   member = mq["Protein IDs"].str.split(";").map(
#       lambda ms: any(m.startswith(("CON__", "REV__")) for m in ms))
#   (~(flag | member)).sum() -> 756 of 882 (10samples), 217 of 271 (small): MaxQuant leaves
#   groups such as 'sp|P05543|THBG_HUMAN;CON__Q9TT36' unflagged, the one rule drops them;
#   pd.read_csv(pg_matrix, sep="\t").shape -> (10, 25): 10 groups, 20 runs S1..S20;
#   fp = pd.read_csv(combined_protein.tsv, sep="\t"); fp["Protein"].str.startswith("contam_").sum()
#   -> 5 of 7687; 6 "<s> MaxLFQ Intensity" columns; the small FragPipe file: 10 groups, 20 runs;
#   s = pd.read_csv(spectronaut, sep="\t")
#   s["R.FileName"].nunique(), s["PG.ProteinGroups"].nunique() -> (1, 33) and (9, 3);
#   the SILAC mzTab has 5 PRT rows, 2 study variables;
#   ap = pd.read_csv(alphapept, index_col=0); ap.index.str.startswith("REV__").sum() -> 38 of 3781.
REAL = [
    ("maxquant/proteinGroups_10samples.txt", "maxquant", 10, 756, 126),
    ("maxquant/proteinGroups_small.txt", "maxquant", 2, 217, 54),
    ("diann/report.pg_matrix.tsv", "diann", 20, 10, 0),
    ("diann/report_final.pg_matrix.tsv", "diann", 20, 10, 0),
    ("fragpipe/combined_protein.tsv", "fragpipe", 6, 7682, 5),
    ("fragpipe/combined_proteins_small.tsv", "fragpipe", 20, 10, 0),
    ("spectronaut/results_non_european_comma.tsv", "spectronaut", 1, 33, 0),
    ("spectronaut/spectronaut_decimal_comma.tsv", "spectronaut", 9, 3, 0),
    ("mztab/SILAC_SQ.mzTab", "mztab", 2, 5, 0),
    ("alphapept/results_proteins.csv", "alphapept", 2, 3743, 38),
]


@needs_fixtures
@pytest.mark.parametrize(("name", "fmt", "runs", "groups", "dropped"), REAL)
def test_real_file(name: str, fmt: str, runs: int, groups: int, dropped: int) -> None:
    # The counts above are the prefix rule's; the contaminant library is checked apart.
    matrix = read_proteins(FIXTURES / name, options=ReadOptions(contaminants="none"))
    assert matrix.format == fmt
    assert (matrix.n_runs, matrix.n_groups, matrix.n_dropped) == (runs, groups, dropped)
    assert_valid_matrix(matrix)
    assert not matrix.looks_log_scale


@needs_fixtures
def test_real_maxquant_values_and_genes_from_fasta() -> None:
    path = FIXTURES / "maxquant/proteinGroups_10samples.txt"
    raw = pd.read_csv(path, sep="\t", low_memory=False).set_index("Protein IDs")
    matrix = read_proteins(path)
    group = "sp|A0A087WSY6|KVD15_HUMAN"
    expected = raw.loc[group, "LFQ intensity AC381"]
    got = matrix.intensities.loc["AC381", group]
    assert (math.isnan(got) and expected == 0) or got == expected
    lfq = raw.loc[
        matrix.intensities.columns, [f"LFQ intensity {r}" for r in matrix.intensities.index]
    ]
    assert int((lfq == 0).to_numpy().sum()) == int(matrix.intensities.isna().to_numpy().sum())
    assert matrix.proteins.loc[group, "gene"] == "IGKV3D-15"  # from GN= in Fasta headers
    # k["Fasta headers"].str.contains("GN=").sum() on the 756 kept rows -> 635
    assert int(matrix.proteins["gene"].notna().sum()) == 635


@needs_fixtures
def test_real_spectronaut_decimal_comma_value() -> None:
    matrix = read_proteins(FIXTURES / "spectronaut/spectronaut_decimal_comma.tsv")
    run = "20221015_EV_TP_40SPD_LITDIA_MS1_Rapid_MS2_Rapid_57w_100ng_03"
    assert matrix.intensities.loc[run, "A0A0B4J2D5;P0DPI2"] == pytest.approx(64.80009460449219)


@needs_fixtures
def test_real_identification_mztab_is_refused() -> None:
    with pytest.raises(InputError, match="holds no protein abundances"):
        read_proteins(FIXTURES / "mztab/identification_only.mztab")


@needs_fixtures
@pytest.mark.parametrize(("name", "fmt"), [(name, fmt) for name, fmt, *_ in REAL])
def test_real_file_detection(name: str, fmt: str) -> None:
    assert detect_format(FIXTURES / name, peek(FIXTURES / name)) == fmt


# --- runs -> lots ------------------------------------------------------------------------------


def _matrix(runs: list[str], values: list[list[float]]) -> ProteinMatrix:
    intensities = pd.DataFrame(
        values, index=pd.Index(runs, name="run"), columns=["CD9", "CD63"], dtype="float64"
    )
    proteins = pd.DataFrame(
        {"leading_accession": [np.nan] * 2, "gene": ["CD9", "CD63"], "description": [np.nan] * 2},
        index=intensities.columns,
    )
    return ProteinMatrix(intensities, proteins, "wide", Path("x.csv"), n_groups_before=2)


def test_runs_map_by_ms_run_then_lot_id_and_average_in_log2() -> None:
    matrix = _matrix(
        ["D:\\ms\\LOT-1.raw", "/data/LOT-1_rep2.d", "LOT-2", "run_9.mzML", "stray"],
        [[100.0, np.nan], [400.0, 50.0], [7.0, 8.0], [1.0, 2.0], [3.0, 3.0]],
    )
    sheet = pd.DataFrame(
        {"passage": [3, 4, 5, 6], "ms_run": ["", "", "D:\\other\\run_9.raw;run_9.mzML", ""]},
        index=pd.Index(["LOT-1", "LOT-2", "LOT-3", "LOT-4"], name="lot_id"),
    )
    sheet.loc["LOT-1", "ms_run"] = "LOT-1_rep2"
    lots, mapping = map_runs_to_lots(matrix, sheet)
    assert mapping.run_to_lot == {
        "D:\\ms\\LOT-1.raw": "LOT-1",
        "/data/LOT-1_rep2.d": "LOT-1",
        "LOT-2": "LOT-2",
        "run_9.mzML": "LOT-3",
    }
    assert mapping.replicates == {"LOT-1": 2, "LOT-2": 1, "LOT-3": 1}
    assert mapping.runs_without_lot == ("stray",)
    assert mapping.lots_without_run == ("LOT-4",)
    x = lots.intensities
    assert x.index.name == "lot_id"
    assert list(x.index) == ["LOT-1", "LOT-2", "LOT-3"]
    assert x.loc["LOT-1", "CD9"] == pytest.approx(200.0)  # 2 ** mean(log2 100, log2 400)
    assert x.loc["LOT-1", "CD63"] == 50.0  # NaN-aware: the one replicate that saw it
    assert x.loc["LOT-2", "CD9"] == 7.0
    assert (x.dtypes == "float64").all()


def test_a_run_cut_at_a_dot_is_the_longest_lot_id_followed_by_replicate_numbers_only() -> None:
    """review7 H1: a run was cut at its first dot, so ``L1.2.rep2`` joined lot L1 (not L1.2)
    and a QC run ``1.5ug_HeLa_QC`` joined lot ``1``, silently averaged into their values."""
    runs = ["L1.raw", "L1.2.raw", "L1.2.rep2.raw", "1.5ug_HeLa_QC.raw", "1.raw", "LOT.1", "LOT.2"]
    matrix = _matrix(runs, [[float(i + 1), 1.0] for i in range(len(runs))])
    sheet = pd.DataFrame(
        {"passage": 3, "ms_run": ""}, index=pd.Index(["L1", "L1.2", "1", "LOT"], name="lot_id")
    )
    _, mapping = map_runs_to_lots(matrix, sheet)
    assert mapping.run_to_lot == {
        "L1.raw": "L1",
        "L1.2.raw": "L1.2",
        "L1.2.rep2.raw": "L1.2",
        "1.raw": "1",
        "LOT.1": "LOT",
        "LOT.2": "LOT",
    }
    assert mapping.runs_without_lot == ("1.5ug_HeLa_QC.raw",)


def test_runs_a_lots_ms_run_names_exactly_are_its_own_whatever_their_dots() -> None:
    """review7 H2: ``L1.2.rep1.raw``, named exactly by L1.2's ms_run, was refused as "named
    like lot L1" (its name cut at the first dot): a correct sheet could not be written."""
    runs = ["L1_a.raw", "L1.2.rep1.raw", "L1.2.rep2.raw", "L3.raw"]
    matrix = _matrix(runs, [[float(i + 1), 1.0] for i in range(len(runs))])
    sheet = pd.DataFrame(
        {"passage": 3, "ms_run": ["L1_a.raw", "L1.2.rep1.raw;L1.2.rep2.raw", ""]},
        index=pd.Index(["L1", "L1.2", "L3"], name="lot_id"),
    )
    _, mapping = map_runs_to_lots(matrix, sheet)
    assert mapping.run_to_lot == {
        "L1_a.raw": "L1",
        "L1.2.rep1.raw": "L1.2",
        "L1.2.rep2.raw": "L1.2",
        "L3.raw": "L3",
    }


TEXT_FIXTURES = [name for name, fmt, *_ in REAL if fmt != "mztab"]


@needs_fixtures
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(TEXT_FIXTURES), pick=st.integers(min_value=0))
def test_a_column_named_twice_is_refused_by_name(name: str, pick: int, tmp_path: Path) -> None:
    """pandas renames a second copy (``A`` → ``A.1``); every reader must refuse it instead."""
    path = FIXTURES / name
    text = path.read_bytes().decode("utf-8-sig")
    lines = text.splitlines()
    delimiter = "," if path.suffix == ".csv" else "\t"
    header = next(csv.reader([lines[0]], delimiter=delimiter))
    column = pick % len(header)
    if not header[column].strip():
        return  # an unnamed column: nothing to duplicate by name
    rows = list(csv.reader(lines, delimiter=delimiter))
    doubled = tmp_path / path.name
    with doubled.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        for row in rows:
            writer.writerow([*row, row[column] if column < len(row) else ""])
    with pytest.raises(InputError, match="duplicate column") as raised:
        read_proteins(doubled)
    assert header[column].strip()[:20] in str(raised.value)


@needs_fixtures
@pytest.mark.parametrize("name", [name for name, *_ in REAL])
def test_real_file_contaminant_library_drops_only_library_accessions(name: str) -> None:
    """Real searches without a contaminant FASTA keep keratins and FBS proteins unprefixed
    (FragPipe, AlphaPept, Spectronaut fixtures): the library drops exactly the groups with a
    member it names, and counts them."""
    library_file = (
        Path(__file__).resolve().parents[1]
        / "src" / "exostab" / "contaminant_library" / "frankenfield2022.tsv"
    )  # fmt: skip
    accessions = set(pd.read_csv(library_file, sep="\t", comment="#")["Uniprot ID"])
    plain = read_proteins(FIXTURES / name, options=ReadOptions(contaminants="none"))
    matrix = read_proteins(FIXTURES / name)
    dropped = set(plain.intensities.columns) - set(matrix.intensities.columns)
    assert matrix.n_dropped == plain.n_dropped + len(dropped)
    for group in dropped:
        members = parse_protein_name(group).accessions
        assert {m.split("-")[0] for m in members} & accessions, group
    for group in matrix.intensities.columns:
        assert not {m.split("-")[0] for m in parse_protein_name(group).accessions} & accessions
    if dropped:
        assert any(f"dropped {len(dropped)} contaminant groups" in n for n in matrix.notes)


# --- a bad cell refuses its run, not the file ---------------------------------------------------

# Each tiny file with "n.d." in one cell of its second run: (text replaced, its replacement, the
# protein group of the cell as the matrix names it).
TEXT_IN_SECOND_RUN = {
    "maxquant": ("\t2000\t2500\t", "\t2000\tn.d.\t", "P08962;P08962-2"),
    "diann": ("\t2000\t3000\n", "\t2000\tn.d.\n", "P08962"),
    "diann_long": ("\t150.0\t", "\tn.d.\t", "P21926"),
    "spectronaut": ("\t99,25\t", "\tn.d.\t", "P21926"),
    "spectronaut_pivot": ("\t55,09\t12\n", "\t55,09\tn.d.\n", "P08962;P08962-2"),
    "fragpipe": ("\t300\t400\n", "\t300\tn.d.\n", "sp|P08962|CD63_HUMAN"),
    "mztab": ("\tnull\t300\n", "\tnull\tn.d.\n", "P08962"),
    "alphapept": ("100.0,200.0,1,2", "100.0,n.d.,1,2", "sp|P21926|CD9_HUMAN"),
    "wide": ("L2,,250.5,1,2", "L2,,n.d.,1,2", "CD63"),
    "long": ("L2,P08962,250", "L2,P08962,n.d.", "P08962"),
}


def test_every_format_has_a_text_cell_case() -> None:
    assert set(TEXT_IN_SECOND_RUN) == set(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_in_one_cell_refuses_its_run_not_the_file(fmt: str, tmp_path: Path) -> None:
    """A long table (DIA-NN report, Spectronaut, the generic long table) or a search-engine
    matrix with text in one intensity cell was refused whole: every lot lost for one cell, where
    a wide table's scoring quarantines the row. Read for scoring (``quarantine_runs``), the run
    is refused with a reason naming the protein group and the text, its values in no other
    run, and the other run is read as from the clean file. Read strictly (train, inspect), the
    file is refused naming the cell, as before."""
    name, write = WRITERS[fmt]
    clean = read_proteins(write(tmp_path / name), format=fmt)
    good, bad = (str(run) for run in clean.intensities.index[:2])
    old, new, group = TEXT_IN_SECOND_RUN[fmt]
    path = tmp_path / f"bad_{name}"
    text = (tmp_path / name).read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    with pytest.raises(InputError, match=r"text 'n\.d\.' in a number cell") as error:
        read_proteins(path, format=fmt)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    matrix = read_proteins(path, format=fmt, quarantine_runs=True)
    assert_valid_matrix(matrix)
    assert list(matrix.intensities.index) == [good]
    pd.testing.assert_series_equal(matrix.intensities.loc[good], clean.intensities.loc[good])
    ((run, reason),) = matrix.refused_runs
    assert run == bad
    assert reason.startswith(f"text 'n.d.' in protein{' column' if fmt == 'wide' else ''} ")
    assert f"'{group}'" in reason
    assert matrix.refusal == str(error.value).removeprefix(f"{path}: ")


def test_a_file_whose_every_run_holds_text_is_still_refused_in_one_line(tmp_path: Path) -> None:
    """Nothing left to read: the file's refusal stays, naming the first bad cell."""
    path = tmp_path / "long.csv"
    path.write_text("lot_id,protein,intensity\nL1,CD9,n.d.\nL1,CD63,5\nL2,CD9,<LOD\nL2,CD63,6\n")
    with pytest.raises(InputError) as error:
        read_proteins(path, quarantine_runs=True)
    assert str(error.value) == (
        f"{path}: text 'n.d.' in a number cell at run 'L1', protein group 'CD9', column "
        "'intensity' (1 more)"
    )


GROUPS = ("CD9", "CD63", "CD81", "TSG101")
# Tokens a lab writes in an intensity cell: text and impossible numbers refuse their run;
# what pandas reads as missing ("#N/A", as every reader and the streamed wide table do) is
# an empty cell.
REFUSED_TOKENS = ("n.d.", "<LOD", "1.234,5", "abc", "N/D?", "inf", "-5")
MISSING_TOKENS = ("#N/A",)


def bad_cell_table(
    shape: str, runs: list[str], cells: dict[tuple[int, int], str], order: list[int], path: Path
) -> Path:
    """Write runs × GROUPS cells (text as given; "" empty) in one table shape, the long
    shapes' rows in ``order``."""
    n_groups = len(cells) // len(runs)
    if shape == "wide":
        frame = pd.DataFrame(
            [[run, *(cells[i, j] for j in range(n_groups))] for i, run in enumerate(runs)],
            columns=["lot_id", *GROUPS[:n_groups]],
        )
        frame.to_csv(path, index=False)
        return path
    columns = {
        "long": ("lot_id", "protein", "intensity"),
        "diann_long": ("Run", "Protein.Group", "PG.MaxLFQ"),
        "spectronaut": ("R.FileName", "PG.ProteinGroups", "PG.Quantity"),
    }[shape]
    rows = [(runs[i], GROUPS[j], cells[i, j]) for i, j in sorted(cells)]
    frame = pd.DataFrame([rows[k] for k in order], columns=list(columns))
    frame.to_csv(path, index=False, sep="," if shape == "long" else "\t")
    return path


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.sampled_from(["long", "diann_long", "spectronaut", "wide"]),
    n_runs=st.integers(1, 5),
    n_groups=st.integers(1, len(GROUPS)),
    data=st.data(),
)
def test_every_run_is_read_with_its_own_numbers_or_refused_naming_its_cell(
    tmp_path: Path, shape: str, n_runs: int, n_groups: int, data: st.DataObject
) -> None:
    """Text tokens in random cells of random runs, long table rows in any order: every run is
    read, its values the table's numbers for that run (never another run's), or refused with a
    reason naming a protein whose cell in that run is bad and the cell's text; a file whose
    every run is refused is refused as a file, naming a cell."""
    runs = [f"R{i + 1}" for i in range(n_runs)]
    cell = st.one_of(
        st.floats(100.0, 1e9).map(lambda v: f"{v:.2f}"),
        st.just(""),
        st.sampled_from(REFUSED_TOKENS + MISSING_TOKENS),
    )
    cells = {
        (i, j): data.draw(cell, label=f"{runs[i]} {GROUPS[j]}")
        for i in range(n_runs)
        for j in range(n_groups)
    }
    order = data.draw(st.permutations(range(n_runs * n_groups)), label="row order")
    path = bad_cell_table(shape, runs, cells, order, tmp_path / f"{shape}.csv")
    bad = {
        run: [(GROUPS[j], cells[i, j]) for j in range(n_groups) if cells[i, j] in REFUSED_TOKENS]
        for i, run in enumerate(runs)
    }
    # DIA-NN's first-pass report: no quantity > 0 and no text in PG.MaxLFQ
    first_pass = shape == "diann_long" and set(cells.values()) <= {"", "-5", *MISSING_TOKENS}
    if all(bad.values()) or first_pass:  # every run refused: the file is
        with pytest.raises(InputError) as error:
            read_proteins(path, format=shape, quarantine_runs=True)
        assert "\n" not in str(error.value)
        return
    matrix = read_proteins(path, format=shape, quarantine_runs=True)
    refused = dict(matrix.refused_runs)
    assert set(refused) == {run for run, found in bad.items() if found}
    assert set(matrix.intensities.index) == {run for run, found in bad.items() if not found}
    for run, reason in refused.items():
        assert any(
            f"'{group}'" in reason
            and (
                f"text {token!r}" in reason
                if token not in ("inf", "-5")
                else "negative or infinite intensity" in reason
            )
            for group, token in bad[run]
        ), (run, reason, bad[run])
    for i, run in enumerate(runs):
        if run in refused:
            continue
        for j in range(n_groups):
            written = cells[i, j]
            expected = float(written) if written not in (*MISSING_TOKENS, "") else np.nan
            got = matrix.intensities.loc[run, GROUPS[j]]
            assert (np.isnan(got) and np.isnan(expected)) or got == expected, (run, GROUPS[j])


ODD_CELLS = {
    "comma": ["1.234,5", "n.d.", "<LOD", "12.5", "1.234"],
    "point": ["1,234", "n.d.", "55,09", "2,871,852"],
}


@given(
    convention=st.sampled_from(["comma", "point"]),
    values=st.lists(st.floats(0.01, 1e10), min_size=12, max_size=200),
    odd=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 4)), max_size=3),
    zeros=st.integers(0, 2_500),
)
def test_one_odd_cell_does_not_flip_the_decimal_separator(
    convention: str, values: list[float], odd: list[tuple[int, int]], zeros: int
) -> None:
    """Up to three odd cells (a thousands-dotted number in a decimal-comma column, a comma
    number in a decimal-point one, text), after any number of zeros (failed runs first), leave
    the column's convention as it is: the odd cells are read as text, to be refused with their
    run, and every other cell as its own number (the detection had flipped on one ``1.234,5``,
    refusing every run of a decimal-comma file, and a ``1.234`` was read as 1.234)."""
    from exostab.io.readers.number_cells import parse_cells, uses_decimal_comma

    cells = [f"{v:.2f}".replace(".", ",") if convention == "comma" else f"{v:.2f}" for v in values]
    expected = [float(f"{v:.2f}") for v in values]
    tokens = ODD_CELLS[convention]
    for position, which in odd:
        at = position % (len(cells) + 1)
        cells.insert(at, tokens[which % len(tokens)])
        expected.insert(at, math.nan)
    column = pd.Series(["0"] * zeros + cells, dtype=object)
    assert uses_decimal_comma(column) == (convention == "comma")
    values_read, text = parse_cells(column.to_frame())
    assert text[zeros:, 0].tolist() == [math.isnan(e) for e in expected]
    np.testing.assert_array_equal(values_read[zeros:, 0], expected)


@pytest.mark.parametrize("n_whole", [1, 50])
def test_a_thousands_comma_among_whole_numbers_is_not_a_decimal(n_whole: int) -> None:
    """``1,234`` among whole-number intensities is not 1.234 (a value 1,000 times too small):
    with more whole numbers than such cells, the column is not read with a decimal comma."""
    from exostab.io.readers.number_cells import uses_decimal_comma

    cells = [str(1000 * (i + 1)) for i in range(n_whole)] + ["1,234"]
    assert uses_decimal_comma(pd.Series(cells, dtype=object)) is False


def test_comma_decimals_zeros_and_thousands_groups() -> None:
    """Which comma numbers are decimals: zeros say nothing, a group never starts with 0, and
    two groups are always thousands."""
    from exostab.io.readers.number_cells import uses_decimal_comma

    # decimals that cannot be thousands groups, or more of them than whole numbers: a comma
    assert uses_decimal_comma(pd.Series(["0", "55,09", "12,5"], dtype=object)) is True
    assert uses_decimal_comma(pd.Series(["7", "12,345", "23,456"], dtype=object)) is True
    # zeros (not detected) say nothing; 0,523 cannot be a thousands group
    assert uses_decimal_comma(pd.Series(["0", "0", "0", "31,482"], dtype=object)) is True
    assert uses_decimal_comma(pd.Series(["5", "6", "0,523"], dtype=object)) is True
    # two groups (2,871,852) only ever separate thousands: an Excel #,##0 export
    excel = pd.Series(["11,989", "523", "2,871,852", "40,118"], dtype=object)
    assert uses_decimal_comma(excel) is False


def test_a_decimal_comma_wide_table_refuses_only_the_row_of_an_odd_cell(tmp_path: Path) -> None:
    """A streamed decimal-comma table with one ``1.234,5`` and one ``1.234``: those two rows
    are refused, every other row read with its own values (the odd cell had turned its whole
    column to text, refusing every row)."""
    from exostab.io.readers.streaming import iter_wide_lenient

    rng = np.random.default_rng(0)
    values = rng.uniform(1e5, 1e9, size=(30, 4)).round(1)
    rows = [
        [f"L{i:02d}", *(f"{v:.1f}".replace(".", ",") for v in row)] for i, row in enumerate(values)
    ]
    rows[4][2] = "1.234,5"
    rows[9][3] = "1.234"
    path = tmp_path / "proteins.tsv"
    lines = ["lot_id\tCD9\tCD63\tCD81\tTSG101", *("\t".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    clean, refused = [], []
    for chunk in iter_wide_lenient(path, rows=7):
        clean.append(chunk.matrix.intensities)
        refused.append(chunk.refused)
    read = pd.concat(clean)
    quarantined = pd.concat(refused)
    assert sorted(quarantined["lot_id"]) == ["L04", "L09"]
    assert "text '1.234,5' in protein column 'CD63'" in set(quarantined["reason"])
    keep = [i for i in range(30) if i not in (4, 9)]
    np.testing.assert_allclose(read.loc[[f"L{i:02d}" for i in keep]].to_numpy(), values[keep])
