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

from exostab.errors import InputError
from exostab.identity import annotate_names, is_unnamed, opaque_note
from exostab.readers.base import ProteinMatrix
from exostab.readers.common import Preview, listed, peek, scale_problem, unnamed
from exostab.readers.tables import (
    cell_text,
    find_id_column,
    unnamed_label,
    wide_layout,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WideChunk:
    """One chunk of a wide table: the clean rows as a matrix, the refused rows with reasons."""

    matrix: ProteinMatrix
    refused: pd.DataFrame  # columns: lot_id, reason


def _raw_chunks(path: Path, preview: Preview, id_column: str, rows: int) -> Iterator[pd.DataFrame]:
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
        try:
            reader = pd.read_csv(
                path,
                sep=preview.delimiter or ",",
                dtype={id_column: object},
                chunksize=rows,
                index_col=False,
                encoding=preview.encoding,
                low_memory=False,
            )
            for chunk in reader:
                chunk.columns = list(preview.columns)
                yield chunk
        except (pd.errors.ParserError, ValueError, UnicodeError) as error:
            message = str(error).strip().splitlines()[0] if str(error).strip() else "parse error"
            raise InputError(f"cannot parse table ({message})", where=str(path)) from None


def _duplicate_ids(path: Path, preview: Preview, id_column: str) -> set[str]:
    """Find lot ids that occur more than once anywhere in the file (one cheap pass)."""
    if preview.kind == "parquet":
        from exostab.readers.common import read_parquet

        ids = read_parquet(path, columns=[id_column])[id_column]
    elif preview.kind == "excel":
        return set()  # Excel is read whole; duplicates are found within the single chunk
    else:
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
    ids = ids.map(cell_text).dropna().astype(str)
    return set(ids[ids.duplicated()])


def iter_wide_lenient(path: Path, *, rows: int = 2000, scale: str = "raw") -> Iterator[WideChunk]:
    """Yield the lots of a wide table chunk by chunk, clean rows apart from refused ones.

    Args:
        path: the wide table.
        rows: lots per chunk.
        scale: ``raw`` (a negative value refuses its row; 0 = not quantified) or ``log2``
            (any finite value is a value).

    Raises:
        InputError: problems of the file as a whole (unreadable, no lot id column, duplicate
            columns, a column with values but no name), which no row-level quarantine can fix.
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
    id_column, proteins = layout.id_column, layout.proteins
    annotations = annotate_names(proteins)
    annotations.index.name = "group_id"
    opaque_note(annotations, path)
    duplicates = _duplicate_ids(path, preview, id_column)
    n_clean = 0
    scale_checked = False
    for offset, chunk in enumerate(_raw_chunks(path, preview, id_column, rows)):
        chunk.columns = columns
        for column in nameless:
            if (
                not chunk[column].isna().all()
                and chunk[column].astype(str).str.strip().ne("").any()
            ):
                raise InputError(
                    f"{column} holds values but has no header name: name or delete it",
                    where=str(path),
                )
        ids = chunk[id_column].map(cell_text)
        block = chunk[proteins]
        has_text = not all(pd.api.types.is_numeric_dtype(kind) for kind in block.dtypes)
        numbers = block.apply(pd.to_numeric, errors="coerce") if has_text else block
        values = numbers.to_numpy(dtype=float)
        # A row with neither a lot id nor any value is a blank line (Excel), not a lot.
        filled = block.notna().to_numpy()
        if has_text:
            filled &= block.astype(str).apply(lambda col: col.str.strip().ne("")).to_numpy()
        blank = ids.isna().to_numpy() & ~filled.any(axis=1)
        first_row = offset * rows + 2  # file row of the chunk's first lot (after the header)
        labels = [
            str(v) if isinstance(v, str) else f"(row {first_row + i}: empty lot_id)"
            for i, v in enumerate(ids)
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
        if has_text:
            text = block.notna().to_numpy() & np.isnan(values)
            text &= block.astype(str).apply(lambda col: col.str.strip().ne("")).to_numpy()
            for i in np.flatnonzero(text.any(axis=1)):
                if reasons[i] is None:
                    j = int(np.flatnonzero(text[i])[0])
                    value = str(block.iat[int(i), j])[:30]
                    reasons[i] = f"text {value!r} in protein column '{proteins[j]}'"
        invalid = np.isinf(values) | ((values < 0) if scale == "raw" else False)
        for i in np.flatnonzero(invalid.any(axis=1)):
            if reasons[i] is None:
                j = int(np.flatnonzero(invalid[i])[0])
                what = "negative or infinite intensity" if scale == "raw" else "infinite value"
                reasons[i] = f"{what} in protein column '{proteins[j]}'"
        keep = np.array([reason is None for reason in reasons], dtype=bool)
        refused_rows = ~keep & ~blank
        refused = pd.DataFrame(
            {
                "lot_id": [lab for lab, bad in zip(labels, refused_rows, strict=True) if bad],
                "reason": [r for r, bad in zip(reasons, refused_rows, strict=True) if bad],
            }
        )
        clean = values[keep]
        if scale == "raw":
            clean = np.where(clean > 0, clean, np.nan)
        index = pd.Index([lab for lab, ok in zip(labels, keep, strict=True) if ok], name="run")
        n_clean += len(index)
        intensities = pd.DataFrame(clean, index=index, columns=pd.Index(proteins, name="group_id"))
        if not scale_checked and np.isfinite(clean).any():
            scale_checked = True
            problem = scale_problem(intensities, scale)
            if problem:
                logger.warning("%s: %s", path, problem)
        matrix = ProteinMatrix(
            intensities=intensities,
            proteins=annotations,
            format="wide",
            source=path,
            n_groups_before=len(proteins) + len(layout.flagged),
            n_dropped=len(layout.flagged),
            scale=scale,
        )
        yield WideChunk(matrix=matrix, refused=refused)
    logger.info("streamed %d clean lots from %s", n_clean, path)
