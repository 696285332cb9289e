"""Spectronaut long report: pivot ``R.FileName`` × ``PG.ProteinGroups`` on ``PG.Quantity``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from exostab.readers.base import ProteinMatrix
from exostab.readers.common import Preview, read_table, require_columns, uses_decimal_comma
from exostab.readers.diann import from_long

RUN = "R.FileName"
GROUP = "PG.ProteinGroups"
QUANTITY = "PG.Quantity"
DECOY = "EG.IsDecoy"
MISSING = ("Filtered", "NaN", "nan", "")


def sniff(preview: Preview) -> bool:
    """Recognise a Spectronaut report by ``R.FileName``, ``PG.ProteinGroups``, ``PG.Quantity``."""
    return preview.has(RUN, GROUP, QUANTITY)


def read(path: Path, preview: Preview) -> ProteinMatrix:
    """Read one ``PG.Quantity`` per run and group; the decimal separator is detected."""
    wanted = [RUN, GROUP, QUANTITY, "PG.Genes", "PG.ProteinDescriptions", DECOY]
    usecols = [c for c in wanted if c in preview.columns] if preview.columns else None
    table = read_table(
        path, preview, usecols=usecols, dtype={QUANTITY: "object"}, na_values=MISSING
    )
    require_columns(path, table.columns, (RUN, GROUP, QUANTITY))
    if DECOY in table:
        table = table[~table[DECOY].astype(str).str.strip().str.lower().eq("true").to_numpy()]
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
    )
    note = "decimal separator: comma" if comma else "decimal separator: point"
    return replace(matrix, notes=(*matrix.notes, note))
