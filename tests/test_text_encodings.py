"""Unit tier: text encodings decided by the bytes, blank rows/columns, the vocabulary file."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exostab.config import load_vocabulary, spelling_key
from exostab.errors import ConfigError, InputError
from exostab.readers import read_lot_sheet
from exostab.readers.common import (
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
        ("utf-16-le", None),  # no BOM: not promised, refused as binary below
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


def test_utf16_without_bom_is_refused_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "lots.txt"
    path.write_bytes(SHEET.encode("utf-16-le"))
    with pytest.raises(InputError, match="binary"):
        read_lot_sheet(path)


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
    from exostab.readers import read_proteins

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
