"""Readers: one per proteomics output format behind one small registry.

Each reader turns one file into a ``ProteinMatrix`` (runs × protein groups, raw intensities
or, when the user declares them so, log2 values). ``read_proteins`` detects the format from the
file's content (header columns, first lines) unless ``format=`` names it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exostab.errors import InputError
from exostab.io.lot_sheet_contract import lot_sheet_problems
from exostab.io.protein_matrix import ANNOTATION_COLUMNS, ProteinMatrix, ReadOptions
from exostab.io.protein_matrix_contract import validate_protein_matrix
from exostab.io.readers import alphapept, diann, fragpipe, maxquant, mztab, spectronaut, tables
from exostab.io.readers.parsing import Preview, peek
from exostab.io.readers.scales import SCALES
from exostab.io.readers.tables import read_lot_sheet, read_lot_sheet_lenient

logger = logging.getLogger(__name__)

__all__ = [
    "ANNOTATION_COLUMNS",
    "FORMATS",
    "READERS",
    "SCALES",
    "ProteinMatrix",
    "ReadOptions",
    "Reader",
    "detect_format",
    "lot_sheet_problems",
    "read_lot_sheet",
    "read_lot_sheet_lenient",
    "read_proteins",
]


@dataclass(frozen=True)
class Reader:
    """A format: how to recognise it from a preview and how to read it."""

    name: str
    sniff: Callable[[Preview], bool]
    read: Callable[..., ProteinMatrix]  # (path, preview, scale[, options])
    description: str
    takes_options: bool = False  # read(..., options=ReadOptions) (q-value filter)


READERS: dict[str, Reader] = {
    reader.name: reader
    for reader in (
        Reader("maxquant", maxquant.sniff, maxquant.read, "MaxQuant proteinGroups.txt"),
        Reader(
            "diann",
            diann.sniff_matrix,
            diann.read_matrix,
            "DIA-NN report.pg_matrix.tsv (1.8 to 2.x)",
        ),
        Reader(
            "diann_long",
            diann.sniff_long,
            diann.read_long,
            "DIA-NN main report.tsv/.parquet (1.8 to 2.x)",
            takes_options=True,
        ),
        Reader("spectronaut", spectronaut.sniff, spectronaut.read, "Spectronaut long report"),
        Reader(
            "spectronaut_pivot",
            spectronaut.sniff_pivot,
            spectronaut.read_pivot,
            "Spectronaut protein pivot report (Report_pivot_PG)",
        ),
        Reader("fragpipe", fragpipe.sniff, fragpipe.read, "FragPipe combined_protein.tsv"),
        Reader("mztab", mztab.sniff, mztab.read, "mzTab 1.0 quantification"),
        Reader("alphapept", alphapept.sniff, alphapept.read, "AlphaPept results_proteins.csv"),
        Reader("wide", tables.sniff_wide, tables.read_wide, "wide table: lot_id + proteins"),
        Reader(
            "long", tables.sniff_long, tables.read_long, "long table: lot_id, protein, intensity"
        ),
    )
}
FORMATS: tuple[str, ...] = tuple(READERS)
# Specific formats first: generic tables match anything with a lot_id/run column.
DETECTION_ORDER = (
    "mztab",
    "maxquant",
    "diann_long",
    "diann",
    "spectronaut",
    "spectronaut_pivot",
    "fragpipe",
    "alphapept",
    "long",
    "wide",
)


def detect_format(path: Path, preview: Preview | None = None) -> str:
    """Name the format of a file from its content.

    Raises:
        InputError: the file is unreadable or matches no known format.
    """
    preview = preview or peek(Path(path))
    for name in DETECTION_ORDER:
        if READERS[name].sniff(preview):
            logger.info("%s: detected format %s", path, name)
            return name
    if preview.kind == "text" and len(preview.columns) <= 1:
        raise InputError(
            "unknown format: the header has a single column; is the delimiter right? "
            "(expected tab, comma or semicolon)",
            where=str(path),
        )
    shown = ", ".join(repr(c) for c in preview.columns[:4])
    raise InputError(
        f"unknown format (header starts {shown}); expected one of {', '.join(FORMATS)} "
        "(a wide table needs a 'lot_id' column)",
        where=str(path),
    )


def read_proteins(
    path: Path,
    format: str | None = None,
    scale: str = "raw",
    options: ReadOptions | None = None,
    *,
    quarantine_runs: bool = False,
) -> ProteinMatrix:
    """Read protein-group intensities of any supported format into a validated ProteinMatrix.

    After the reader's own rules (decoy and contaminant prefixes, engine flags), protein groups
    that the contaminant library names by accession are dropped and counted per source (see
    ``exostab.io.contaminants``).

    Args:
        path: the file to read (text may be gzip-compressed: ``report.tsv.gz``).
        format: one of ``FORMATS`` to skip detection; None detects it from the content.
        scale: ``raw`` (intensities; 0 = not quantified, negatives refused) or ``log2``
            (log2 intensities or ratios, as Perseus or CPTAC write them; any finite value).
        options: the q-value filter of long reports and the contaminant library
            (``ReadOptions``; its defaults when None).
        quarantine_runs: a run with a bad quantity cell (text, an infinite or a negative raw
            value) is returned in ``ProteinMatrix.refused_runs`` with its reason, and the other
            runs are read (``score``, which quarantines its lot); False refuses the file,
            naming the first bad cell (``train``, ``inspect``), as a wide table is refused.

    Raises:
        InputError: unknown format or scale name, unreadable file or a broken contract; a
            bad quantity cell (unless ``quarantine_runs``; with it, when every run has one).
        ConfigError: a contaminant library that cannot be read.
    """
    from exostab.io.contaminants import drop_library_contaminants, load_library

    path = Path(path)
    options = options or ReadOptions()
    if scale not in SCALES:
        raise InputError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if format is not None and format not in READERS:
        raise InputError(
            f"unknown format {format!r}; choose one of {', '.join(FORMATS)}", where=str(path)
        )
    library = load_library(options.contaminants)
    preview = peek(path)
    name = format or detect_format(path, preview)
    reader = READERS[name]
    extra = {"options": options} if reader.takes_options else {}
    matrix = reader.read(path, preview, scale, **extra)
    if matrix.refused_runs and not quarantine_runs:
        raise InputError(matrix.refusal or matrix.refused_runs[0][1], where=str(path))
    matrix = drop_library_contaminants(matrix, library)
    return validate_protein_matrix(matrix)
