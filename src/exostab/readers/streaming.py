"""Stream a wide protein table in chunks for batch scoring, quarantining bad rows.

Training refuses a malformed file outright; scoring must not lose a batch to one bad lot. Here a
row with a duplicate or empty lot id, text in an intensity cell, or a negative or infinite value
is set aside with its reason while the other rows are scored, and memory stays bounded by the
chunk size however long the file is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

from exostab.errors import InputError
from exostab.readers.base import ProteinMatrix
from exostab.readers.common import Preview, listed, name_annotations, peek
from exostab.readers.tables import ID_COLUMNS, NOT_PROTEINS, cell_text, find_id_column

logger = logging.getLogger(__name__)

# The cell texts pandas reads as missing, so both CSV readers agree on what is empty.
NA_TEXT = sorted(STR_NA_VALUES)


@dataclass(frozen=True)
class WideChunk:
    """One chunk of a wide table: the clean rows as a matrix, the refused rows with reasons."""

    matrix: ProteinMatrix
    refused: pd.DataFrame  # columns: lot_id, reason


def _raw_chunks(
    path: Path, preview: Preview, id_column: str, proteins: list[str], rows: int
) -> Iterator[pd.DataFrame]:
    if preview.kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
    elif preview.kind == "excel":
        from exostab.readers.tables import read_raw

        frame = read_raw(path, preview)
        for start in range(0, len(frame), rows):
            yield frame.iloc[start : start + rows]
    else:
        yield from _csv_chunks(path, preview, id_column, proteins, rows)


def _csv_chunks(
    path: Path, preview: Preview, id_column: str, proteins: list[str], rows: int
) -> Iterator[pd.DataFrame]:
    """Stream a delimited text table: pyarrow's reader first, pandas where pyarrow refuses.

    pyarrow parses the numbers on both cores and about twice as fast as pandas; it refuses
    what pandas would keep as text (``n.d.``, ``1,5``, a ragged row). From the first block it
    refuses, the rest of the file is read by pandas, which keeps the text for the row checks.
    Numbers pyarrow does parse come out bit-identical to pandas' (both round correctly).
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    done = 0
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(
                column_names=list(preview.columns),
                skip_rows=1,
                block_size=_block_size(preview, rows),
            ),
            parse_options=pa_csv.ParseOptions(delimiter=preview.delimiter or ","),
            convert_options=pa_csv.ConvertOptions(
                column_types={id_column: pa.string(), **dict.fromkeys(proteins, pa.float64())},
                include_columns=[id_column, *proteins],
                null_values=NA_TEXT,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        # Re-cut pyarrow's blocks (sized in bytes) into chunks of exactly ``rows`` lots, as
        # pandas gives them: the same lots go to the model together whichever reader ran.
        pending: list[pa.RecordBatch] = []
        n_pending = 0
        for batch in reader:
            pending.append(batch)
            n_pending += batch.num_rows
            while n_pending >= rows:
                table = pa.Table.from_batches(pending)
                chunk = table.slice(0, rows).to_pandas()
                pending, n_pending = table.slice(rows).to_batches(), n_pending - rows
                done += rows
                yield chunk
        if n_pending:
            yield pa.Table.from_batches(pending).to_pandas()
        return
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        logger.info("pyarrow stops at row %d of %s (%s); pandas reads on", done, path, error)
    yield from _pandas_csv_chunks(path, preview, id_column, rows, skip=done)


def _block_size(preview: Preview, rows: int) -> int:
    """Bytes pyarrow parses at a time: 4 MiB, or more when 4 rows would not fit.

    pyarrow's working memory is a multiple of the block (about 16× at 1,500 columns): 4 MiB
    keeps a 100,000-lot file at the memory of a 10,000-lot one and parses as fast as larger
    blocks. Chunks of ``rows`` lots are assembled from the blocks.
    """
    body = [len(line.encode()) + 1 for line in preview.lines[1:-1]]
    per_row = max(body) if body else 65_536
    return int(max(4 << 20, 4 * per_row))


def _pandas_csv_chunks(
    path: Path, preview: Preview, id_column: str, rows: int, skip: int = 0
) -> Iterator[pd.DataFrame]:
    try:
        reader = pd.read_csv(
            path,
            sep=preview.delimiter or ",",
            dtype={id_column: object},
            chunksize=rows,
            index_col=False,
            encoding="utf-8-sig",
            low_memory=False,
            skiprows=range(1, skip + 1) if skip else None,
        )
        for chunk in reader:
            chunk.columns = list(preview.columns)
            yield chunk
    except (pd.errors.ParserError, ValueError, UnicodeError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else "parse error"
        raise InputError(f"cannot parse table ({message})", where=str(path)) from None


def _csv_ids(path: Path, preview: Preview, id_column: str) -> pd.Series | None:
    """Read the lot id column of a text table with pyarrow; None when pyarrow cannot."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=list(preview.columns), skip_rows=1),
            parse_options=pa_csv.ParseOptions(delimiter=preview.delimiter or ","),
            convert_options=pa_csv.ConvertOptions(
                column_types={id_column: pa.string()},
                include_columns=[id_column],
                null_values=NA_TEXT,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return table.column(id_column).to_pandas()


def _duplicate_ids(path: Path, preview: Preview, id_column: str) -> set[str]:
    """Find lot ids that occur more than once anywhere in the file (one cheap pass)."""
    if preview.kind == "excel":
        return set()  # Excel is read whole; duplicates are found within the single chunk
    ids = lot_ids_in_file(path, preview, id_column).dropna().astype(str)
    return set(ids[ids.duplicated()])


def lot_ids_in_file(path: Path, preview: Preview, id_column: str) -> pd.Series:
    """Read the lot id column alone, in file order, as text (an empty id is NaN)."""
    ids: pd.Series | None
    if preview.kind == "parquet":
        from exostab.readers.common import read_parquet

        ids = read_parquet(path, columns=[id_column])[id_column]
    elif preview.kind == "excel":
        from exostab.readers.tables import read_raw

        ids = read_raw(path, preview)[id_column]
    else:
        ids = _csv_ids(path, preview, id_column)
    if ids is None:
        try:
            ids = pd.concat(
                pd.read_csv(
                    path,
                    sep=preview.delimiter or ",",
                    usecols=[id_column],
                    dtype=object,
                    chunksize=200_000,
                    encoding="utf-8-sig",
                )
            )[id_column]
        except (pd.errors.ParserError, ValueError, UnicodeError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else "parse error"
            raise InputError(f"cannot parse table ({message})", where=str(path)) from None
    return ids.map(cell_text).reset_index(drop=True)


@dataclass(frozen=True)
class WideLayout:
    """The header of a wide table: which column names lots and which hold proteins."""

    preview: Preview
    id_column: str
    proteins: list[str]
    annotations: pd.DataFrame  # index group_id (the column names): leading_accession, gene, ...


def wide_layout(path: Path) -> WideLayout:
    """Check a wide table's header as a whole.

    Raises:
        InputError: unreadable file, no lot id column, duplicate or unrecognised protein
            columns: problems no row-level quarantine can fix.
    """
    path = Path(path)
    preview = peek(path)
    columns = list(preview.columns)
    id_column = find_id_column(columns)
    if id_column is None:
        raise InputError("has no lot_id column", where=str(path))
    duplicated_columns = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated_columns:
        raise InputError(f"duplicate column(s) {listed(duplicated_columns)}", where=str(path))
    proteins = [
        c for c in columns if c != id_column and c not in NOT_PROTEINS and c not in ID_COLUMNS
    ]
    if not proteins:
        raise InputError("has no protein columns beside the lot id", where=str(path))
    annotations = name_annotations(path, proteins, "column(s)")
    annotations.index.name = "group_id"
    return WideLayout(preview, id_column, proteins, annotations)


def empty_id_label(row: int) -> str:
    """Name a row whose lot id is empty by its line in the file (the header is line 1)."""
    return f"(row {row}: empty lot_id)"


def check_rows(
    chunk: pd.DataFrame,
    id_column: str,
    proteins: list[str],
    duplicates: set[str],
    first_row: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw rows of a wide table into clean intensities and refused rows with reasons.

    Both scoring engines run this on their chunks (pandas) or Arrow batches (Spark).

    Args:
        chunk: raw rows: the lot id column and protein columns (numbers or text).
        id_column: the lot id column.
        proteins: the protein columns.
        duplicates: lot ids found more than once in the whole file.
        first_row: file line of the chunk's first row (names rows with an empty lot id).

    Returns:
        Clean rows (index ``run``; runs × proteins, raw intensities, 0 → NaN) and refused rows
        (``lot_id``, ``reason``).
    """
    ids = chunk[id_column].map(cell_text)
    labels = [
        str(v) if isinstance(v, str) else empty_id_label(first_row + i) for i, v in enumerate(ids)
    ]
    counts = pd.Series(labels).value_counts()
    reasons: list[str | None] = [
        "empty lot_id in the protein file"
        if not isinstance(v, str)
        else "duplicate lot_id in the protein file"
        if label in duplicates or counts[label] > 1
        else None
        for v, label in zip(ids, labels, strict=True)
    ]
    block = chunk[proteins]
    has_text = not all(pd.api.types.is_numeric_dtype(kind) for kind in block.dtypes)
    numbers = block.apply(pd.to_numeric, errors="coerce") if has_text else block
    values = numbers.to_numpy(dtype=float)
    if has_text:
        text = block.notna().to_numpy() & np.isnan(values)
        text &= block.astype(str).apply(lambda col: col.str.strip().ne("")).to_numpy()
        for i in np.flatnonzero(text.any(axis=1)):
            if reasons[i] is None:
                j = int(np.flatnonzero(text[i])[0])
                value = str(block.iat[int(i), j])[:30]
                reasons[i] = f"text {value!r} in protein column '{proteins[j]}'"
    invalid = (values < 0) | np.isinf(values)
    for i in np.flatnonzero(invalid.any(axis=1)):
        if reasons[i] is None:
            j = int(np.flatnonzero(invalid[i])[0])
            reasons[i] = f"negative or infinite intensity in protein column '{proteins[j]}'"
    keep = np.array([reason is None for reason in reasons], dtype=bool)
    refused = pd.DataFrame(
        {
            "lot_id": [lab for lab, ok in zip(labels, keep, strict=True) if not ok],
            "reason": [r for r in reasons if r is not None],
        }
    )
    clean = pd.DataFrame(
        np.where(values[keep] > 0, values[keep], np.nan),
        index=pd.Index([lab for lab, ok in zip(labels, keep, strict=True) if ok], name="run"),
        columns=pd.Index(proteins, name="group_id"),
    )
    return clean, refused


def iter_wide_lenient(path: Path, *, rows: int = 2000) -> Iterator[WideChunk]:
    """Yield the lots of a wide table chunk by chunk, clean rows apart from refused ones.

    Raises:
        InputError: problems of the file as a whole (see ``wide_layout``).
    """
    path = Path(path)
    layout = wide_layout(path)
    id_column, proteins = layout.id_column, layout.proteins
    duplicates = _duplicate_ids(path, layout.preview, id_column)
    n_clean = 0
    first_row = 2  # file row of the chunk's first lot (after the header)
    for chunk in _raw_chunks(path, layout.preview, id_column, proteins, rows):
        clean, refused = check_rows(chunk, id_column, proteins, duplicates, first_row)
        n_clean += len(clean)
        matrix = ProteinMatrix(
            intensities=clean,
            proteins=layout.annotations,
            format="wide",
            source=path,
            n_groups_before=len(proteins),
        )
        first_row += len(chunk)
        yield WideChunk(matrix=matrix, refused=refused)
    logger.info("streamed %d clean lots from %s", n_clean, path)
