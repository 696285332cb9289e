"""Streaming a wide table: pyarrow's CSV path keeps exactly the pandas path's rows and reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exostab.io.readers import streaming
from exostab.io.readers.streaming import iter_wide_lenient

CELLS = st.one_of(
    st.floats(min_value=0.5, max_value=1e9, allow_nan=False).map(lambda v: f"{v:.6g}"),
    st.sampled_from(["", "NA", "NaN", "n.d.", "-5", "inf", "1,5", " 12.5", "0", "None"]),
)


def read_all(path: Path, rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate the clean intensities and the refused rows of every chunk."""
    chunks = list(iter_wide_lenient(path, rows=rows))
    clean = pd.concat([chunk.matrix.intensities for chunk in chunks])
    refused = pd.concat([chunk.refused for chunk in chunks], ignore_index=True)
    return clean, refused


def pandas_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route the text path through pandas alone (the reference the pyarrow path must match)."""
    monkeypatch.setattr(
        streaming,
        "_csv_chunks",
        lambda path, preview, id_column, proteins, rows: streaming._pandas_csv_chunks(
            path, preview, id_column, rows
        ),
    )
    monkeypatch.setattr(streaming, "_csv_ids", lambda path, preview, id_column: None)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cells=st.lists(st.lists(CELLS, min_size=3, max_size=3), min_size=1, max_size=30),
    ids=st.lists(st.sampled_from(["L1", "L2", "L3", "", "NA", "L4", "L5", "L6"]), min_size=30),
    rows=st.integers(1, 8),
)
@example(cells=[["1", "", ""], ["", "NA", ""]], ids=["L1", "NA"] + ["L2"] * 28, rows=1)
def test_pyarrow_and_pandas_paths_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cells, ids, rows
) -> None:
    lines = ["lot_id,P1,P2,P3"] + [
        ",".join([ids[i], *(f'"{c}"' if "," in c else c for c in row)])
        for i, row in enumerate(cells)
    ]
    path = tmp_path / "proteins.csv"
    path.write_text("\n".join(lines) + "\n")
    fast_clean, fast_refused = read_all(path, rows)
    with monkeypatch.context() as patch:
        pandas_only(patch)
        slow_clean, slow_refused = read_all(path, rows)
    pd.testing.assert_frame_equal(fast_clean, slow_clean)
    pd.testing.assert_frame_equal(fast_refused, slow_refused)
    # Every row is kept or refused, except a blank line (no lot id and no cell: Excel's rows of
    # separators), which is in neither by design.
    missing = set(streaming.NA_TEXT)
    blank = sum(
        ids[i].strip() in missing and all(c.strip() in missing for c in row)
        for i, row in enumerate(cells)
    )
    assert len(fast_clean) + len(fast_refused) == len(cells) - blank


def test_text_after_the_first_block_falls_back_without_losing_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(1e5, 1e7, (3000, 40)).round(1).astype(object)
    values[2500, 7] = "n.d."  # far past pyarrow's first block
    table = pd.DataFrame(values, columns=[f"P{j}" for j in range(40)])
    table.insert(0, "lot_id", [f"L{i:05d}" for i in range(3000)])
    path = tmp_path / "proteins.csv"
    table.to_csv(path, index=False)
    monkeypatch.setattr(streaming, "_block_size", lambda preview, rows: 1 << 16)
    clean, refused = read_all(path, 500)
    assert len(clean) == 2999 and list(refused["lot_id"]) == ["L02500"]
    assert "'n.d.'" in refused["reason"].iloc[0] and "'P7'" in refused["reason"].iloc[0]
    assert clean.index.is_unique and clean.index[-1] == "L02999"
    np.testing.assert_array_equal(
        clean.loc["L00003"].to_numpy(), table.iloc[3, 1:].to_numpy(dtype=float)
    )


def test_empty_lot_ids_are_named_by_their_file_row(tmp_path: Path) -> None:
    path = tmp_path / "proteins.csv"
    path.write_text("lot_id,P1\nL1,5\n,6\nL3,7\nL4,8\n,9\n")
    _, refused = read_all(path, 2)
    assert list(refused["lot_id"]) == ["(row 3: empty lot_id)", "(row 6: empty lot_id)"]


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.lists(st.floats(min_value=1.0, max_value=1e10, allow_nan=False), min_size=3, max_size=3),
        min_size=1,
        max_size=12,
    ),
    delimiter=st.sampled_from([";", "\t"]),
    rows=st.integers(1, 5),
)
def test_a_decimal_comma_table_streams_as_its_decimal_point_twin(values, delimiter, rows) -> None:
    """European exports (``;`` or tab, ``2150733947,5``) score as train reads them."""
    import tempfile

    ids = [f"L{i}" for i in range(len(values))]
    point = pd.DataFrame(values, columns=["P1", "P2", "P3"], index=pd.Index(ids, name="lot_id"))
    with tempfile.TemporaryDirectory() as folder:
        dotted, comma = Path(folder) / "point.csv", Path(folder) / "comma.csv"
        point.to_csv(dotted, float_format="%.4f")
        point.to_csv(comma, sep=delimiter, decimal=",", float_format="%.4f")
        expected, _ = read_all(dotted, rows)
        got, refused = read_all(comma, rows)
    assert refused.empty
    pd.testing.assert_frame_equal(got, expected)
