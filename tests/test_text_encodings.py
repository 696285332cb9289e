"""Unit tier: text encodings decided by the bytes, blank rows/columns, the vocabulary file."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exostab.config import load_vocabulary, spelling_key
from exostab.errors import ConfigError, InputError
from exostab.io.readers import read_lot_sheet
from exostab.io.readers.parsing import (
    PREVIEW_BYTES,
    decode,
    drop_blank_rows_and_columns,
    peek,
    text_encoding,
)

SHEET = (
    "lot_id\tpassage\tdonor_id\ttissue_source\nL1\t3\tMüller\tWharton’s jelly\nL2\tP7\tDø2\tBM\n"
)


@pytest.mark.parametrize(
    "encoding, expected",
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),
        ("utf-16-le", "utf-16-le"),  # no BOM: recognised by its NUL bytes
        ("utf-16-be", "utf-16-be"),
        ("cp1252", "cp1252"),
    ],
)
def test_encoding_is_decided_by_the_bytes(encoding: str, expected: str | None) -> None:
    raw = SHEET.encode(encoding)
    if expected is not None:
        assert text_encoding(raw) == expected
        assert decode(Path("x"), raw) == SHEET


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_lot_sheet_in_each_encoding_reads_the_same(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "lots.txt"
    path.write_bytes(SHEET.replace("\n", "\r\n").encode(encoding))
    sheet = read_lot_sheet(path)
    assert sheet["donor_id"].tolist() == ["Müller", "Dø2"]
    assert sheet["tissue_source"].tolist() == ["UC", "BM"]
    assert sheet["passage"].tolist() == [3, 7]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_read_not_called_binary(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "lots.txt"
    path.write_bytes(SHEET.replace("\n", "\r\n").encode(encoding))
    sheet = read_lot_sheet(path)
    assert sheet["donor_id"].tolist() == ["Müller", "Dø2"]
    assert sheet["passage"].tolist() == [3, 7]


def test_binary_with_nul_bytes_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "lots.csv"
    path.write_bytes(b"lot_id,passage\n" + bytes(range(256)) * 8)
    with pytest.raises(InputError, match="binary"):
        read_lot_sheet(path)


UTF16_WRITINGS = {
    "utf-16-le": lambda text: text.encode("utf-16-le"),
    "utf-16-be": lambda text: text.encode("utf-16-be"),
    "utf-16-le with BOM": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be with BOM": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
}
lot_ids = st.text(
    alphabet=st.sampled_from("ABCLMSxyz0123456789-_ .éüøµλΩ"), min_size=1, max_size=12
).filter(lambda text: text.strip() != "" and text == text.strip())


@given(
    ids=st.lists(lot_ids, min_size=1, max_size=8, unique=True),
    values=st.lists(st.floats(100.0, 1e11, allow_nan=False), min_size=16, max_size=16),
    writing=st.sampled_from(sorted(UTF16_WRITINGS)),
    delimiter=st.sampled_from([",", "\t", ";"]),
    newline=st.sampled_from(["\n", "\r\n"]),
)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_table_in_utf16_reads_as_its_utf8_twin(
    tmp_path: Path,
    ids: list[str],
    values: list[float],
    writing: str,
    delimiter: str,
    newline: str,
) -> None:
    """A wide protein table and a lot sheet, written as UTF-16 LE/BE with or without a BOM,
    read exactly as the same text in UTF-8 (whole-file readers and the streaming reader)."""
    from exostab.io.readers import read_proteins
    from exostab.io.readers.streaming import iter_wide_lenient

    proteins = pd.DataFrame(
        {"lot_id": ids, "CD9": values[: len(ids)], "CD63": values[8 : 8 + len(ids)]}
    )
    sheet = pd.DataFrame({"lot_id": ids, "passage": range(len(ids)), "donor_id": "Dø"})
    for name, table in (("proteins", proteins), ("lots", sheet)):
        text = table.to_csv(sep=delimiter, index=False, lineterminator=newline)
        (tmp_path / f"{name}_utf8.csv").write_bytes(text.encode("utf-8"))
        (tmp_path / f"{name}_utf16.csv").write_bytes(UTF16_WRITINGS[writing](text))
    twin = read_proteins(tmp_path / "proteins_utf8.csv").intensities
    pd.testing.assert_frame_equal(read_proteins(tmp_path / "proteins_utf16.csv").intensities, twin)
    streamed = [
        pd.concat(chunk.matrix.intensities for chunk in iter_wide_lenient(tmp_path / name))
        for name in ("proteins_utf16.csv", "proteins_utf8.csv")
    ]
    # the twin streams through pyarrow (UTF-8 only), UTF-16 through pandas: same cells
    pd.testing.assert_frame_equal(*streamed, check_index_type=False, check_column_type=False)
    pd.testing.assert_frame_equal(
        read_lot_sheet(tmp_path / "lots_utf16.csv"), read_lot_sheet(tmp_path / "lots_utf8.csv")
    )


@pytest.mark.parametrize(
    "raw, named",
    [
        (codecs.BOM_UTF8 + b"lot_id,passage\nL\xe91,3\n", "UTF-8 with BOM"),
        (codecs.BOM_UTF16_LE + "lot_id,passage\n".encode("utf-16-le") + b"\x00\xd8L\x00", "UTF-16"),
    ],
)
def test_bytes_that_break_their_bom_name_the_encoding(
    tmp_path: Path, raw: bytes, named: str
) -> None:
    path = tmp_path / "lots.csv"
    path.write_bytes(raw)
    with pytest.raises(InputError, match=named) as error:
        read_lot_sheet(path)
    assert "lots.csv" in str(error.value)


def test_cp1252_is_not_read_with_replacement_characters(tmp_path: Path) -> None:
    path = tmp_path / "proteins.csv"
    path.write_bytes("lot_id,CD9,CD63\nLé1,10,20\nL2,30,\n".encode("cp1252"))
    from exostab.io.readers import read_proteins

    matrix = read_proteins(path)
    assert list(matrix.intensities.index) == ["Lé1", "L2"]
    assert "\ufffd" not in "".join(matrix.intensities.index)


def test_a_character_cut_by_the_preview_does_not_make_utf8_cp1252(tmp_path: Path) -> None:
    rows = "".join(f"L{i},3,{'é' * 50}\n" for i in range(PREVIEW_BYTES // 100 + 10))
    for header in ("lot_id,passage,note\n", "lot_id,passage,notes\n"):
        raw = (header + rows).encode()
        try:
            raw[:PREVIEW_BYTES].decode("utf-8")
        except UnicodeDecodeError:
            break  # the preview ends inside a two-byte 'é': the case to test
    else:
        pytest.fail("could not place a character across the preview boundary")
    path = tmp_path / "lots.csv"
    path.write_bytes(raw)
    assert peek(path).encoding == "utf-8"
    assert read_lot_sheet(path).iloc[-1, -1] == "é" * 50


def test_blank_rows_and_unnamed_empty_columns_are_dropped() -> None:
    table = pd.DataFrame(
        [["L1", "3", None, ""], [None, "  ", np.nan, None], ["L2", "4", None, "x"]],
        columns=["lot_id", "passage", "Unnamed: 2", ""],
    )
    kept = drop_blank_rows_and_columns(table)
    assert list(kept.columns) == ["lot_id", "passage", ""]  # the unnamed column with a value stays
    assert list(kept.index) == [0, 2]  # row numbers still point at the file's lines


def test_spelling_key_ignores_case_spaces_hyphens_underscores_apostrophes() -> None:
    keys = {spelling_key(s) for s in ("Bone marrow", "bone_marrow", "BONE-MARROW", " bone marrow")}
    assert keys == {"bonemarrow"}
    assert spelling_key("Wharton's jelly") == spelling_key("Wharton’s Jelly") == "whartonsjelly"
    assert spelling_key("2D") != spelling_key("3D")


def test_vocabulary_refuses_one_spelling_under_two_categories(tmp_path: Path) -> None:
    path = tmp_path / "vocabulary.yaml"
    path.write_text("tissue_source:\n  BM: [bone marrow]\n  UC: [Bone-Marrow]\n")
    with pytest.raises(ConfigError, match="'BM' and 'UC'"):
        load_vocabulary(path)
    path.write_text("tissue_source: [BM, UC]\n")
    with pytest.raises(ConfigError, match=r"vocabulary\.yaml"):
        load_vocabulary(path)


def test_an_extended_vocabulary_maps_new_spellings(tmp_path: Path) -> None:
    path = tmp_path / "vocabulary.yaml"
    path.write_text("tissue_source:\n  BM: [bone marrow]\n  placenta: [placental, PL-MSC]\n")
    sheet_path = tmp_path / "lots.csv"
    sheet_path.write_text("lot_id,passage,tissue_source\nL1,3,PL-MSC\nL2,3,Bone Marrow\n")
    sheet = read_lot_sheet(sheet_path, vocabulary=load_vocabulary(path))
    assert sheet["tissue_source"].tolist() == ["placenta", "BM"]


LINE_ENDS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}
ENCODINGS = {
    "utf-8": lambda text: text.encode("utf-8"),
    "utf-8-sig": lambda text: text.encode("utf-8-sig"),
    "utf-16": lambda text: text.encode("utf-16"),
    "utf-16-le": lambda text: text.encode("utf-16-le"),
    "cp1252": lambda text: text.encode("cp1252"),
}


@given(
    ids=st.lists(lot_ids, min_size=1, max_size=8, unique=True),
    values=st.lists(st.floats(100.0, 1e11, allow_nan=False), min_size=16, max_size=16),
    ends=st.lists(st.sampled_from(sorted(LINE_ENDS)), min_size=10, max_size=10),
    encoding=st.sampled_from(sorted(ENCODINGS)),
    delimiter=st.sampled_from([",", "\t", ";"]),
)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_mix_of_line_ends_reads_as_lf(
    tmp_path: Path,
    ids: list[str],
    values: list[float],
    ends: list[str],
    encoding: str,
    delimiter: str,
) -> None:
    """CR (old Excel for Mac), LF and CRLF line ends, one per line in any mix and in any
    encoding, read exactly as the LF UTF-8 text: lot sheets (strict and lenient), wide protein
    tables whole and streamed, and a MaxQuant proteinGroups table."""
    from exostab.io.readers import read_proteins
    from exostab.io.readers.streaming import iter_wide_lenient
    from exostab.io.readers.tables import read_lot_sheet_lenient

    ids = [i.replace("µ", "u").replace("λ", "l").replace("Ω", "O") for i in ids]  # cp1252-safe
    if len(set(ids)) < len(ids):
        return
    proteins = pd.DataFrame(
        {"lot_id": ids, "CD9": values[: len(ids)], "CD63": values[8 : 8 + len(ids)]}
    )
    sheet = pd.DataFrame({"lot_id": ids, "passage": range(len(ids)), "donor_id": "Dø"})
    groups = pd.DataFrame(
        {
            "Protein IDs": ["P08962", "P21926"],
            "Majority protein IDs": ["P08962", "P21926"],
            "Gene names": ["CD63", "CD9"],
            **{f"LFQ intensity {i}": values[j : j + 2] for j, i in enumerate(ids)},
        }
    )

    def write(name: str, table: pd.DataFrame, *, mixed: bool) -> Path:
        lines = table.to_csv(sep=delimiter, index=False, lineterminator="\n").splitlines()
        if mixed:
            endings = [LINE_ENDS[end] for end in ends * 2]
            text = "".join(line + end for line, end in zip(lines, endings, strict=False))
            raw = ENCODINGS[encoding](text)
        else:
            raw = ("\n".join(lines) + "\n").encode("utf-8")
        suffix = "txt" if name == "groups" else "csv"
        path = tmp_path / f"{name}_{'mixed' if mixed else 'lf'}.{suffix}"
        path.write_bytes(raw)
        return path

    for name, table in (("proteins", proteins), ("lots", sheet), ("groups", groups)):
        if name == "groups" and delimiter != "\t":
            continue  # MaxQuant writes tabs
        mixed, lf = write(name, table, mixed=True), write(name, table, mixed=False)
        if name == "lots":
            pd.testing.assert_frame_equal(read_lot_sheet(mixed), read_lot_sheet(lf))
            for got, want in zip(
                read_lot_sheet_lenient(mixed), read_lot_sheet_lenient(lf), strict=True
            ):
                pd.testing.assert_frame_equal(got, want)
            continue
        pd.testing.assert_frame_equal(
            read_proteins(mixed).intensities, read_proteins(lf).intensities
        )
        if name == "proteins":
            streamed = [
                pd.concat(chunk.matrix.intensities for chunk in iter_wide_lenient(path))
                for path in (mixed, lf)
            ]
            pd.testing.assert_frame_equal(
                *streamed, check_index_type=False, check_column_type=False
            )


def test_a_cr_only_lot_sheet_longer_than_the_preview_is_read(tmp_path: Path) -> None:
    """Old Excel for Mac ends lines with CR alone: the preview still stops at whole lines."""
    rows = "".join(f"L{i},{i % 40},D{i % 7}\r" for i in range(PREVIEW_BYTES // 8))
    path = tmp_path / "lots.csv"
    path.write_bytes(("lot_id,passage,donor_id\r" + rows).encode())
    sheet = read_lot_sheet(path)
    assert len(sheet) == PREVIEW_BYTES // 8
    assert peek(path).columns == ("lot_id", "passage", "donor_id")
