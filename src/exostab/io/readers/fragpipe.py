"""FragPipe ``combined_protein.tsv``, across versions of its quantity columns."""

from __future__ import annotations

from pathlib import Path

from exostab.errors import InputError
from exostab.io.naming import decoy_or_contaminant
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers.matrix_assembly import build_matrix, drop_flagged
from exostab.io.readers.parsing import Preview, read_table

GROUP_COLUMNS = ("Protein", "Protein Group")
GENE_COLUMNS = ("Gene", "Gene Names")
MAXLFQ = " MaxLFQ Intensity"
RAZOR = " Razor Intensity"
PLAIN = " Intensity"
NOT_PLAIN = (MAXLFQ, RAZOR, " Unique Intensity", " Total Intensity")


def sniff(preview: Preview) -> bool:
    """Recognise FragPipe by ``Protein ID``, a group column and ``<s> ... Intensity`` columns."""
    return (
        preview.has("Protein ID")
        and any(preview.has(c) for c in GROUP_COLUMNS)
        and preview.any_endswith(PLAIN)
    )


def quantity_columns(columns: tuple[str, ...] | list[str]) -> tuple[str, list[str]]:
    """Pick ``MaxLFQ Intensity`` > ``Intensity`` > ``Razor Intensity`` columns (suffix, columns)."""
    maxlfq = [c for c in columns if c.endswith(MAXLFQ)]
    if maxlfq:
        return MAXLFQ, maxlfq
    plain = [
        c
        for c in columns
        if c.endswith(PLAIN) and not c.endswith(NOT_PLAIN) and not c.startswith("Combined")
    ]
    if plain:
        return PLAIN, plain
    return RAZOR, [c for c in columns if c.endswith(RAZOR)]


def read(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read per-sample intensities; group id from ``Protein`` (else ``Protein Group``)."""
    table = read_table(path, preview)
    suffix, quantity = quantity_columns(list(table.columns))
    if not quantity:
        raise InputError(
            "has no '<sample> MaxLFQ Intensity', '<sample> Intensity' or "
            "'<sample> Razor Intensity' columns",
            where=str(path),
        )
    # unique among the rows that have one (a row without an id is build_matrix's to drop)
    group = next((c for c in GROUP_COLUMNS if c in table and table[c].dropna().is_unique), None)
    if group is None:
        raise InputError("needs a unique 'Protein' or 'Protein Group' column", where=str(path))
    gene = next((c for c in GENE_COLUMNS if c in table), None)
    n_before = len(table)
    table, n_dropped, notes = drop_flagged(
        table, decoy_or_contaminant(table[group]), path, "decoy/contaminant groups"
    )
    by_group = table[quantity].set_axis(table[group].to_numpy(), axis=0)
    by_group.columns = [c[: -len(suffix)] for c in quantity]
    return build_matrix(
        fmt="fragpipe",
        path=path,
        by_group=by_group,
        genes=table[gene].tolist() if gene else None,
        descriptions=table["Description"].tolist() if "Description" in table else None,
        accessions=table["Protein ID"].tolist() if "Protein ID" in table else None,
        n_groups_before=n_before,
        n_dropped=n_dropped,
        notes=[f"quantity:{suffix} ({len(quantity)} samples)", *notes],
        file_columns=quantity,
        scale=scale,
    )
