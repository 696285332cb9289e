"""AlphaPept ``results_proteins.csv``: index = protein, ``<s>_LFQ`` preferred over raw."""

from __future__ import annotations

import csv
from pathlib import Path

from exostab.io.naming import decoy_or_contaminant, naming_scheme
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers.matrix_assembly import build_matrix, drop_flagged
from exostab.io.readers.parsing import Preview, read_table

LFQ = "_LFQ"


def sniff(preview: Preview) -> bool:
    """Recognise an unnamed protein index column followed by sample (``_LFQ``) columns."""
    if preview.kind != "text" or not preview.columns or preview.columns[0] != "":
        return False
    if preview.any_endswith(LFQ):
        return True
    if len(preview.lines) < 2:
        return False
    first = next(csv.reader([preview.lines[1]], delimiter=preview.delimiter or ","))[0]
    member = first.split(",")[0].split(";")[0]
    return naming_scheme(member) in ("uniprot", "fasta_header", "protein_group")


def read(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read LFQ columns (else raw intensities) of an AlphaPept protein table."""
    table = read_table(path, preview)
    index_column = table.columns[0]
    samples = [c for c in table.columns[1:] if c.endswith(LFQ)]
    suffix = LFQ if samples else ""
    samples = samples or list(table.columns[1:])
    n_before = len(table)
    ids = table[index_column].astype(str)
    table, n_dropped, notes = drop_flagged(
        table, decoy_or_contaminant(ids), path, "decoy/contaminant groups"
    )
    by_group = table[samples].set_axis(table[index_column].to_numpy(), axis=0)
    by_group.columns = [c[: -len(suffix)] if suffix else c for c in samples]
    return build_matrix(
        fmt="alphapept",
        path=path,
        by_group=by_group,
        n_groups_before=n_before,
        n_dropped=n_dropped,
        notes=[f"quantity: {'LFQ' if suffix else 'raw intensity'}", *notes],
        file_columns=samples,
        scale=scale,
    )
