"""Stream a wide protein table in chunks for batch scoring, quarantining bad rows.

Training refuses a malformed file outright; scoring must not lose a batch to one bad lot. Here a
row with a duplicate or empty lot id, text in an intensity cell, or a negative or infinite value
is set aside with its reason while the other rows are scored, and memory stays bounded by the
chunk size however long the file is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

from exostab.errors import InputError
from exostab.io.group_annotations import annotate_names, opaque_note
from exostab.io.naming import is_unnamed
from exostab.io.protein_matrix import ProteinMatrix, ReadOptions
from exostab.io.readers.messages import bad_cell_reason, invalid_value, listed, text_in_cell
from exostab.io.readers.number_cells import parse_cells, uses_decimal_comma
from exostab.io.readers.parsing import Preview, peek, unnamed, unnamed_label
from exostab.io.readers.scales import scale_problem
from exostab.io.readers.tables import cell_text, find_id_column, wide_layout
from exostab.io.spreadsheet_dates import restore_excel_symbols

logger = logging.getLogger(__name__)


# Why a run (a wide table's row) with no quantified protein is quarantined; the reason names the
# run as the protein file writes it (``failed_run_reason``), in ``score`` and ``monitor`` alike.
FAILED_RUN_REASON = "its run quantified no protein (failed run?)"


def failed_run_reason(run: str) -> str:
    """The quarantine reason of a run that quantified no protein, naming the run.

    The same words for a wide table's row and a search-engine file's failed run in ``score``
    (whose quarantine row names the lot, so only the reason names the run).
    """
    return f"{FAILED_RUN_REASON}: '{run}'"


# The cell texts pandas reads as missing, so both CSV readers agree on what is empty.
NA_TEXT = sorted(STR_NA_VALUES)


@dataclass(frozen=True)
class WideChunk:
    """One chunk of a wide table: the clean rows as a matrix, the refused rows with reasons."""

    matrix: ProteinMatrix
    refused: pd.DataFrame  # columns: lot_id, reason, failed_run (see ``check_rows``)


def _raw_chunks(
    path: Path, preview: Preview, id_column: str, proteins: list[str], rows: int
) -> Iterator[pd.DataFrame]:
    if preview.kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
    elif preview.kind == "excel":
        from exostab.io.readers.tables import read_raw

        frame = read_raw(path, preview)
        for start in range(0, len(frame), rows):
            yield frame.iloc[start : start + rows]
    else:
        yield from _csv_chunks(path, preview, id_column, proteins, rows)


def decimal_comma(preview: Preview, id_column: str) -> bool:
    """Tell whether a delimited table writes its numbers with a decimal comma (``2150733,5``).

    Only a table whose delimiter is not a comma can; the cells of the previewed rows (lot id
    left out) decide, by the same rule as the whole-file readers (``uses_decimal_comma``).
    """
    if preview.kind == "parquet" or preview.kind == "excel" or preview.delimiter in (None, ","):
        return False
    skip = preview.columns.index(id_column) if id_column in preview.columns else -1
    cells = [
        cell.strip().strip('"')
        for line in preview.lines[1:]
        for j, cell in enumerate(line.split(preview.delimiter))
        if j != skip
    ]
    return uses_decimal_comma(pd.Series([cell or None for cell in cells], dtype=object))


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
    if preview.encoding not in ("utf-8", "utf-8-sig"):  # pyarrow reads UTF-8 only
        yield from _pandas_csv_chunks(path, preview, id_column, rows)
        return
    comma = decimal_comma(preview, id_column)
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
                decimal_point="," if comma else ".",
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
            decimal="," if decimal_comma(preview, id_column) else ".",
            dtype={id_column: object},
            chunksize=rows,
            index_col=False,
            encoding=preview.encoding,
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

    if preview.encoding not in ("utf-8", "utf-8-sig"):
        return None
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
        from exostab.io.readers.parsing import read_parquet

        ids = read_parquet(path, columns=[id_column])[id_column]
    elif preview.kind == "excel":
        from exostab.io.readers.tables import read_raw

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
                    encoding=preview.encoding,
                )
            )[id_column]
        except (pd.errors.ParserError, ValueError, UnicodeError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else "parse error"
            raise InputError(f"cannot parse table ({message})", where=str(path)) from None
    return ids.map(cell_text).reset_index(drop=True)


@dataclass(frozen=True)
class StreamLayout:
    """The header of a wide table: which column names lots and which hold proteins."""

    preview: Preview
    columns: list[str]  # as in the file, a column with no name under its stand-in label
    id_column: str
    proteins: list[str]
    nameless: list[str]  # columns with no header name (refused if they hold a value)
    n_flagged: int  # decoy/contaminant columns dropped
    annotations: pd.DataFrame  # index group_id (the column names): leading_accession, gene, ...


def stream_layout(path: Path) -> StreamLayout:
    """Check a wide table's header as a whole.

    Raises:
        InputError: unreadable file, no lot id column, duplicate columns or no protein column:
            problems no row-level quarantine can fix.
    """
    path = Path(path)
    preview = peek(path)
    columns = [
        unnamed_label(position) if is_unnamed(name) else name
        for position, name in enumerate(preview.columns)
    ]
    nameless = [c for c in columns if unnamed(c)]
    named = [c for c in columns if not unnamed(c)]
    if find_id_column(named) is None:
        raise InputError("has no lot_id column", where=str(path))
    duplicated_columns = sorted({c for c in named if named.count(c) > 1})
    if duplicated_columns:
        raise InputError(f"duplicate column(s) {listed(duplicated_columns)}", where=str(path))
    layout = wide_layout(path, named)
    annotations, excel_note = restore_excel_symbols(annotate_names(layout.proteins))
    annotations.index.name = "group_id"
    if excel_note:
        logger.warning("%s: %s", path, excel_note)
    opaque_note(annotations, path)
    return StreamLayout(
        preview,
        columns,
        layout.id_column,
        layout.proteins,
        nameless,
        len(layout.flagged),
        annotations,
    )


def empty_id_label(row: int) -> str:
    """Name a row whose lot id is empty by its line in the file (the header is line 1)."""
    return f"(row {row}: empty lot_id)"


def check_rows(
    chunk: pd.DataFrame,
    id_column: str,
    proteins: list[str],
    duplicates: set[str],
    first_row: int,
    scale: str = "raw",
    decimal_comma: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw rows of a wide table into clean intensities and refused rows with reasons.

    Both scoring engines run this on their chunks (pandas) or Arrow batches (Spark).

    Args:
        chunk: raw rows: the lot id column and protein columns (numbers or text).
        id_column: the lot id column.
        proteins: the protein columns.
        duplicates: ids (lot ids or runs) found more than once in the whole file.
        first_row: file line of the chunk's first row (names rows with an empty lot id).
        scale: ``raw`` (a negative value refuses its row; 0 = not quantified) or ``log2``
            (any finite value is a value).
        decimal_comma: the file writes ``55,09`` (``decimal_comma``): a column the reader
            left as text (one odd cell such as ``1.234,5`` does) is read with the comma
            (``parse_cells``); its other cells are numbers.

    Returns:
        Clean rows (index ``run``; runs × proteins, 0 → NaN for raw intensities) and refused
        rows (``lot_id``, ``reason``, and ``failed_run``: True for a run refused only because
        it quantified no protein, ``failed_run_reason``). A row with neither a lot id nor any
        value is a blank line (Excel), in neither.
    """
    ids = chunk[id_column].map(cell_text)
    labels = [
        str(v) if isinstance(v, str) else empty_id_label(first_row + i) for i, v in enumerate(ids)
    ]
    counts = pd.Series(labels).value_counts()
    reasons: list[str | None] = [
        "empty lot_id in the protein file"
        if not isinstance(v, str)
        else f"duplicate {id_column} '{label}' in the protein file"  # lot_id or run
        if label in duplicates or counts[label] > 1
        else None
        for v, label in zip(ids, labels, strict=True)
    ]
    block = chunk[proteins]
    if all(pd.api.types.is_numeric_dtype(kind) for kind in block.dtypes):
        values, text = block.to_numpy(dtype=float), np.zeros(block.shape, dtype=bool)
    else:  # text kept by the reader: read cell by cell as the whole-file readers read it
        values, text = parse_cells(block, decimal_comma)
    # a cell holds something when it is a number (inf included) or text; blank text is empty
    blank = ids.isna().to_numpy() & ~(~np.isnan(values) | text).any(axis=1)
    for i in np.flatnonzero(text.any(axis=1)):
        if reasons[i] is None:
            j = int(np.flatnonzero(text[i])[0])
            reasons[i] = bad_cell_reason(text_in_cell(block.iat[int(i), j]), proteins[j])
    invalid = np.isinf(values) | ((values < 0) if scale == "raw" else False)
    for i in np.flatnonzero(invalid.any(axis=1)):
        if reasons[i] is None:
            j = int(np.flatnonzero(invalid[i])[0])
            reasons[i] = bad_cell_reason(invalid_value(scale), proteins[j])
    with np.errstate(invalid="ignore"):
        quantified = (np.isfinite(values) & ((values > 0) if scale == "raw" else True)).any(axis=1)
    failed = np.zeros(len(reasons), dtype=bool)
    for i in np.flatnonzero(~quantified & ~blank):
        if reasons[i] is None:
            reasons[i] = failed_run_reason(labels[i])
            failed[i] = True
    keep = np.array([reason is None for reason in reasons], dtype=bool)
    refused_rows = ~keep & ~blank
    refused = pd.DataFrame(
        {
            "lot_id": [lab for lab, bad in zip(labels, refused_rows, strict=True) if bad],
            "reason": [r for r, bad in zip(reasons, refused_rows, strict=True) if bad],
            "failed_run": failed[refused_rows],
        }
    )
    kept = values[keep]
    clean = pd.DataFrame(
        np.where(kept > 0, kept, np.nan) if scale == "raw" else kept,
        index=pd.Index([lab for lab, ok in zip(labels, keep, strict=True) if ok], name="run"),
        columns=pd.Index(proteins, name="group_id"),
    )
    return clean, refused


def iter_wide_lenient(
    path: Path,
    *,
    rows: int = 2000,
    scale: str = "raw",
    contaminants: ReadOptions | None = None,
    on_ids: Callable[[list[str]], None] | None = None,
) -> Iterator[WideChunk]:
    """Yield the lots of a wide table chunk by chunk, clean rows apart from refused ones.

    Args:
        path: the wide table.
        rows: lots per chunk.
        scale: ``raw`` or ``log2`` (see ``check_rows``).
        contaminants: reading options whose contaminant library drops protein columns by
            accession (``exostab.io.contaminants``; the default library when None).
        on_ids: called once, before the first chunk, with every non-empty lot id (run) of the
            file in file order, as the chunks name them (``score`` matches them to lots at
            once); what it raises propagates.

    Raises:
        InputError: problems of the file as a whole (see ``stream_layout``; also a column with
            values but no name), which no row-level quarantine can fix.
    """
    from exostab.io.contaminants import drop_library_contaminants, load_library

    path = Path(path)
    layout = stream_layout(path)
    library = load_library((contaminants or ReadOptions()).contaminants)
    id_column, proteins = layout.id_column, layout.proteins
    if on_ids is None:
        duplicates = _duplicate_ids(path, layout.preview, id_column)
    else:
        ids = lot_ids_in_file(path, layout.preview, id_column).dropna().astype(str)
        duplicates = set(ids[ids.duplicated()])
        on_ids(ids.tolist())
    n_clean = 0
    scale_checked = False
    comma = decimal_comma(layout.preview, id_column)
    first_row = 2  # file row of the chunk's first lot (after the header)
    for chunk in _raw_chunks(path, layout.preview, id_column, proteins, rows):
        if chunk.empty:  # a header without rows (pandas' path yields it, pyarrow's does not)
            continue
        if len(chunk.columns) == len(layout.columns):
            chunk.columns = layout.columns
        for column in layout.nameless:
            if column in chunk and chunk[column].map(cell_text).notna().any():
                raise InputError(
                    f"{column} holds values but has no header name: name or delete it",
                    where=str(path),
                )
        clean, refused = check_rows(
            chunk, id_column, proteins, duplicates, first_row, scale, decimal_comma=comma
        )
        n_clean += len(clean)
        if not scale_checked and np.isfinite(clean.to_numpy()).any():
            scale_checked = True
            problem = scale_problem(clean, scale)
            if problem:
                logger.warning("%s: %s", path, problem)
        matrix = ProteinMatrix(
            intensities=clean,
            proteins=layout.annotations,
            format="wide",
            source=path,
            n_groups_before=len(proteins) + layout.n_flagged,
            n_dropped=layout.n_flagged,
            scale=scale,
        )
        if first_row == 2:
            matrix = drop_library_contaminants(matrix, library)
            kept_columns = list(matrix.intensities.columns)
        else:  # the same columns as the first chunk, said once
            matrix = replace(
                matrix,
                intensities=matrix.intensities[kept_columns],
                proteins=matrix.proteins.loc[kept_columns],
                n_dropped=matrix.n_dropped + len(proteins) - len(kept_columns),
            )
        first_row += len(chunk)
        yield WideChunk(matrix=matrix, refused=refused)
    logger.info("streamed %d clean lots from %s", n_clean, path)
