"""DIA-NN: the ``report.pg_matrix.tsv`` matrix and the long ``report.tsv`` / ``report.parquet``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from exostab.readers.base import ProteinMatrix
from exostab.readers.common import (
    Preview,
    annotate_groups,
    build_matrix,
    decoy_or_contaminant,
    drop_flagged,
    pivot_long,
    read_table,
    require_columns,
    unique_runs,
)

GROUP = "Protein.Group"
ANNOTATIONS = (
    "Protein.Group",
    "Protein.Ids",
    "Protein.Names",
    "Genes",
    "First.Protein.Description",
    "N.Sequences",
    "N.Proteotypic.Sequences",
)
LONG_RUN = "Run"
LONG_QUANTITY = "PG.MaxLFQ"


def sniff_matrix(preview: Preview) -> bool:
    """Recognise a pg_matrix: ``Protein.Group`` and ``Protein.Ids`` but no ``Run`` column."""
    return preview.has(GROUP, "Protein.Ids") and not preview.has(LONG_RUN)


def sniff_long(preview: Preview) -> bool:
    """Recognise a long report by ``Run``, ``Protein.Group`` and ``PG.MaxLFQ``."""
    return preview.has(LONG_RUN, GROUP, LONG_QUANTITY)


def read_matrix(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read a pg_matrix; run columns that are file paths are stripped to the file stem."""
    table = read_table(path, preview)
    require_columns(path, table.columns, (GROUP,))
    runs = [c for c in table.columns if c not in ANNOTATIONS]
    n_before = len(table)
    table, n_dropped, notes = drop_flagged(
        table, decoy_or_contaminant(table[GROUP]), path, "decoy/contaminant groups"
    )
    by_group = table[runs].set_axis(table[GROUP].astype(str).to_numpy(), axis=0)
    by_group.columns = unique_runs(runs, path)
    file_columns = list(runs)
    proteins = annotate_groups(
        by_group.index,
        genes=table["Genes"].tolist() if "Genes" in table else None,
        descriptions=(
            table["First.Protein.Description"].tolist()
            if "First.Protein.Description" in table
            else None
        ),
    )
    return build_matrix(
        fmt="diann",
        path=path,
        by_group=by_group,
        proteins=proteins,
        n_groups_before=n_before,
        n_dropped=n_dropped,
        notes=["quantity: pg_matrix (MaxLFQ)", *notes],
        file_columns=file_columns,
        scale=scale,
    )


def read_long(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read a long report: one ``PG.MaxLFQ`` per ``Run`` and ``Protein.Group``."""
    wanted = [LONG_RUN, GROUP, LONG_QUANTITY, "Genes", "First.Protein.Description"]
    usecols = [c for c in wanted if c in preview.columns] if preview.columns else None
    table = read_table(path, preview, usecols=usecols)
    require_columns(path, table.columns, (LONG_RUN, GROUP, LONG_QUANTITY))
    return from_long(
        table,
        path=path,
        fmt="diann_long",
        run=LONG_RUN,
        group=GROUP,
        quantity=LONG_QUANTITY,
        gene="Genes",
        description="First.Protein.Description",
        scale=scale,
    )


def from_long(
    table: pd.DataFrame,
    *,
    path: Path,
    fmt: str,
    run: str,
    group: str,
    quantity: str,
    gene: str | None = None,
    description: str | None = None,
    decimal_comma: bool | None = None,
    scale: str = "raw",
) -> ProteinMatrix:
    """Pivot any long report to a ProteinMatrix (shared by DIA-NN and Spectronaut)."""
    table = table[table[group].notna()]
    groups = table[group].astype(str)
    n_before = int(groups.nunique())
    flagged_groups = set(groups[decoy_or_contaminant(groups).to_numpy()])
    notes = [f"quantity: {quantity}"]
    if flagged_groups:
        table = table[~groups.isin(flagged_groups).to_numpy()]
        notes.append(f"dropped {len(flagged_groups)} decoy/contaminant groups")
    by_group = pivot_long(
        table, path=path, run=run, group=group, quantity=quantity, decimal_comma=decimal_comma
    )
    by_group.columns = unique_runs([str(c) for c in by_group.columns], path)
    first = table.assign(**{group: table[group].astype(str)}).groupby(group, sort=False).first()
    proteins = annotate_groups(
        by_group.index,
        genes=first[gene].reindex(by_group.index).tolist() if gene and gene in first else None,
        descriptions=(
            first[description].reindex(by_group.index).tolist()
            if description and description in first
            else None
        ),
    )
    return build_matrix(
        fmt=fmt,
        path=path,
        by_group=by_group,
        proteins=proteins,
        n_groups_before=n_before,
        n_dropped=len(flagged_groups),
        notes=notes,
        scale=scale,
    )
