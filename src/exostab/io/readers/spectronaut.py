"""Spectronaut reports: the long report and the protein pivot report, on ``PG.Quantity``.

The long report has one row per run (``R.FileName``) and group (``PG.ProteinGroups``); the pivot
report (``Report_pivot_PG``) has one row per group and one ``[n] <run>.PG.Quantity`` column per
run. Both write ``Filtered`` (or ``NaN``) where a group was not quantified.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from exostab.io.naming import decoy_or_contaminant, strip_run_name
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers.diann import from_long
from exostab.io.readers.matrix_assembly import (
    build_matrix,
    drop_flagged,
    unique_runs,
)
from exostab.io.readers.messages import header_only, none_left
from exostab.io.readers.number_cells import uses_decimal_comma
from exostab.io.readers.parsing import Preview, read_table, require_columns

RUN = "R.FileName"
GROUP = "PG.ProteinGroups"
QUANTITY = "PG.Quantity"
DECOY = "EG.IsDecoy"
MISSING = ("Filtered", "NaN", "nan", "")
_PIVOT_QUANTITY = re.compile(r"^(?:\[\d+\]\s*)?(?P<run>.+?)\.PG\.Quantity$")


def sniff(preview: Preview) -> bool:
    """Recognise a Spectronaut report by ``R.FileName``, ``PG.ProteinGroups``, ``PG.Quantity``."""
    return preview.has(RUN, GROUP, QUANTITY)


def sniff_pivot(preview: Preview) -> bool:
    """Recognise a pivot report: ``PG.ProteinGroups`` and ``<run>.PG.Quantity`` columns."""
    return (
        preview.has(GROUP)
        and not preview.has(RUN)
        and any(_PIVOT_QUANTITY.match(column) for column in preview.columns)
    )


def read(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read one ``PG.Quantity`` per run and group; the decimal separator is detected."""
    wanted = [RUN, GROUP, QUANTITY, "PG.Genes", "PG.ProteinDescriptions", DECOY]
    usecols = [c for c in wanted if c in preview.columns] if preview.columns else None
    table = read_table(
        path, preview, usecols=usecols, dtype={QUANTITY: "object"}, na_values=MISSING
    )
    require_columns(path, table.columns, (RUN, GROUP, QUANTITY))
    if table.empty:
        raise header_only(path)
    if DECOY in table:
        decoy = table[DECOY].astype(str).str.strip().str.lower().eq("true").to_numpy()
        if decoy.all():
            raise none_left(path, int(table[GROUP].dropna().nunique()))
        table = table[~decoy]
    comma = uses_decimal_comma(table[QUANTITY]) if table[QUANTITY].dtype == object else False
    matrix = from_long(
        table,
        path=path,
        fmt="spectronaut",
        run=RUN,
        group=GROUP,
        quantity=QUANTITY,
        gene="PG.Genes",
        description="PG.ProteinDescriptions",
        decimal_comma=comma,
        scale=scale,
    )
    note = "decimal separator: comma" if comma else "decimal separator: point"
    return replace(matrix, notes=(*matrix.notes, note))


def pivot_run_name(column: str) -> str:
    """Name a run from its pivot column: ``[1] LOT_07.htrms.PG.Quantity`` -> ``LOT_07``."""
    match = _PIVOT_QUANTITY.match(column)
    return strip_run_name(match.group("run") if match else column)


def read_pivot(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read a protein pivot report: one ``[n] <run>.PG.Quantity`` column per run."""
    quantity = [c for c in preview.columns if _PIVOT_QUANTITY.match(c)]
    annotations = [c for c in (GROUP, "PG.Genes", "PG.ProteinDescriptions") if c in preview.columns]
    table = read_table(
        path,
        preview,
        usecols=[*annotations, *quantity],
        dtype={c: "object" for c in [*annotations, *quantity]},
        na_values=MISSING,
    )
    require_columns(path, table.columns, (GROUP,))
    n_before = len(table)  # a row without a group id is build_matrix's to drop and say
    table, n_dropped, notes = drop_flagged(
        table, decoy_or_contaminant(table[GROUP].fillna("")), path, "decoy/contaminant groups"
    )
    runs = unique_runs([pivot_run_name(c) for c in quantity], path)
    comma = any(uses_decimal_comma(table[c]) for c in quantity[:5])
    block = table[quantity]
    if comma:
        block = block.apply(
            lambda column: column.map(lambda v: v.replace(",", ".") if isinstance(v, str) else v)
        )
    by_group = block.set_axis(table[GROUP].to_numpy(), axis=0)
    by_group.columns = runs
    separator = "comma" if comma else "point"
    return build_matrix(
        fmt="spectronaut_pivot",
        path=path,
        by_group=by_group,
        genes=table["PG.Genes"].tolist() if "PG.Genes" in table else None,
        descriptions=(
            table["PG.ProteinDescriptions"].tolist() if "PG.ProteinDescriptions" in table else None
        ),
        n_groups_before=n_before,
        n_dropped=n_dropped,
        notes=[
            f"quantity: {QUANTITY} ({len(quantity)} runs, pivot report)",
            *notes,
            f"decimal separator: {separator}",
        ],
        file_columns=quantity,
        scale=scale,
    )
