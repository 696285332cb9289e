"""mzTab 1.0 quantification files (read with pyteomics); identification-only files refused."""

from __future__ import annotations

import io
import logging
import re
import warnings
from pathlib import Path

import pandas as pd

from exostab.errors import InputError
from exostab.io.naming import decoy_or_contaminant, genes_from_fasta
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers.matrix_assembly import build_matrix, drop_flagged
from exostab.io.readers.messages import header_only
from exostab.io.readers.parsing import Preview, open_file

logger = logging.getLogger(__name__)
_STUDY_VARIABLE = re.compile(r"^protein_abundance_study_variable\[(\d+)\]$")
_ASSAY = re.compile(r"^protein_abundance_assay\[(\d+)\]$")


def sniff(preview: Preview) -> bool:
    """Recognise mzTab by its ``MTD``/``COM`` line prefixes and ``mzTab-version``."""
    return (
        preview.kind == "text"
        and bool(preview.lines)
        and preview.lines[0].startswith(("MTD", "COM"))
        and any("mzTab-version" in line or "mzTab-type" in line for line in preview.lines)
    )


def open_text(path: Path, preview: Preview) -> io.TextIOWrapper:
    """Open an mzTab file as text in the encoding its preview found, decompressing a
    gzip-compressed one (``SILAC_SQ.mzTab.gz``) as every reader does."""
    return io.TextIOWrapper(open_file(path), encoding=preview.encoding)


def read(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read protein abundances per study variable (else per assay) from the PRT section.

    The file may be gzip-compressed.
    """
    try:
        from pyteomics import mztab

        with warnings.catch_warnings(), open_text(path, preview) as text:
            warnings.simplefilter("ignore")
            document = mztab.MzTab(text)
            proteins_table = document.protein_table
    except Exception as error:  # pyteomics raises many types on malformed files
        raise InputError(f"unreadable mzTab file ({error})", where=str(path)) from None
    kind = str(document.metadata.get("mzTab-type", "")).strip()
    if isinstance(proteins_table, pd.DataFrame) and len(proteins_table.columns):
        if proteins_table.empty:  # a PRH header line, no PRT row
            raise header_only(path)
    else:
        raise InputError(
            f"mzTab file (type {kind or 'unknown'}) has no protein (PRT) rows, so it holds no "
            "protein abundances",
            where=str(path),
        )
    columns = [str(c) for c in proteins_table.columns]
    study = [c for c in columns if _STUDY_VARIABLE.match(c)]
    assays = [c for c in columns if _ASSAY.match(c)]
    quantity = study or assays
    if not quantity:
        raise InputError(
            f"mzTab file of type {kind or 'unknown'} holds no protein abundances "
            "(no protein_abundance_study_variable or protein_abundance_assay columns); "
            "export a Quantification mzTab",
            where=str(path),
        )
    pattern = _STUDY_VARIABLE if study else _ASSAY
    label = "study_variable" if study else "assay"
    table = proteins_table.reset_index(drop=True)
    if "accession" not in table:
        raise InputError("mzTab PRT section has no 'accession' column", where=str(path))
    n_before = len(table)
    table, n_dropped, notes = drop_flagged(
        table, decoy_or_contaminant(table["accession"]), path, "decoy/contaminant groups"
    )
    by_group = table[quantity].set_axis(table["accession"].to_numpy(), axis=0)
    names = []
    for column in quantity:
        match = pattern.match(column)
        number = match.group(1) if match else column
        names.append(f"{label}[{number}]")
    by_group.columns = names
    descriptions = table["description"].tolist() if "description" in table else None
    described = [
        f"{name} = {document.metadata[f'{name}-description']}"
        for name in names
        if f"{name}-description" in document.metadata
    ]
    return build_matrix(
        fmt="mztab",
        path=path,
        by_group=by_group,
        genes=[genes_from_fasta(d) for d in descriptions] if descriptions else None,
        descriptions=descriptions,
        n_groups_before=n_before,
        n_dropped=n_dropped,
        notes=[f"quantity: protein_abundance_{label}", *described, *notes],
        file_columns=quantity,
        scale=scale,
    )
