"""Gene symbols a spreadsheet turned into dates (``SEPT7`` -> ``7-Sep``), read back as symbols.

Also the current HGNC name of a symbol renamed to end that mangling (``current_symbol``), which
feature matching uses.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from exostab.io.naming import MAX_EXAMPLES, has_text

# Gene symbols that spreadsheets turn into dates (Zeeberg et al. 2004, BMC Bioinformatics 5:80;
# Ziemann et al. 2016, Genome Biol 17:177), and the HGNC renames of 2020 that end it (Bruford et
# al. 2020, Nat Genet 52:754): SEPT1-14 -> SEPTIN1-14, MARCH1-11 -> MARCHF1-11, MARC1/2 ->
# MTARC1/2, DEC1 -> DELEC1, SEP15 -> SELENOF.
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip


_DATE_FAMILIES: dict[int, dict[int, tuple[str, ...]]] = {
    9: {**{n: (f"SEPTIN{n}",) for n in range(1, 15)}, 15: ("SELENOF",)},
    3: {
        **{n: (f"MARCHF{n}",) for n in range(1, 12)},
        1: ("MARCHF1", "MTARC1"),
        2: ("MARCHF2", "MTARC2"),
    },
    12: {1: ("DELEC1",)},
}

_OLD_SYMBOLS = {
    **{f"SEPT{n}": f"SEPTIN{n}" for n in range(1, 15)},
    **{f"MARCH{n}": f"MARCHF{n}" for n in range(1, 12)},
    "MARC1": "MTARC1",
    "MARC2": "MTARC2",
    "DEC1": "DELEC1",
    "SEP15": "SELENOF",
}

_DAY_MONTH = re.compile(r"^(\d{1,2})[-\s./]([A-Za-z]{3,4})\.?$")

_MONTH_DAY = re.compile(r"^([A-Za-z]{3,4})\.?[-\s./](\d{1,2})$")

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?$")


def current_symbol(symbol: Any) -> Any:
    """The current HGNC symbol of a symbol renamed to end spreadsheet mangling (``SEPT7`` ->
    ``SEPTIN7``, ``MARCH1`` -> ``MARCHF1``, ``DEC1`` -> ``DELEC1``); others unchanged."""
    if not isinstance(symbol, str):
        return symbol
    return _OLD_SYMBOLS.get(symbol.strip().upper(), symbol)


def excel_date_symbols(name: Any) -> tuple[str, ...]:
    """The gene symbols a spreadsheet may have turned into this date (empty: not such a date).

    Recognised: ``7-Sep``, ``07-Sep``, ``Sep-07``, ``Sept 7``, ``2023-09-07`` (with a
    ``00:00:00`` time, as a real Excel date cell reads). Several symbols when the date is
    ambiguous (``1-Mar``: MARCHF1 or MTARC1).
    """
    if not isinstance(name, str):
        return ()
    text = name.strip()
    match = _ISO_DATE.match(text)
    if match:
        month, day = int(match.group(2)), int(match.group(3))
    else:
        match = _DAY_MONTH.match(text) or _MONTH_DAY.match(text)
        if not match:
            return ()
        first, second = match.groups()
        day_text, month_text = (first, second) if first.isdigit() else (second, first)
        month = _MONTHS.get(month_text[:3].lower(), 0)
        if month_text.lower() not in (month_text[:3].lower(), "sept"):
            return ()
        day = int(day_text)
    return _DATE_FAMILIES.get(month, {}).get(day, ())


def restore_excel_symbols(proteins: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Read date-shaped gene names and protein ids back as the gene symbols they were.

    A gene (each ``;`` member) or, for a group without a gene, the group id itself that reads
    as a spreadsheet date (``excel_date_symbols``) becomes the symbol it was, under its current
    HGNC name. An ambiguous date (``1-Mar``) is left as it is and named.

    Args:
        proteins: protein groups × (``leading_accession``, ``gene``, ``description``).

    Returns:
        The table with those genes restored, and a note for ``inspect`` (None when none).
    """
    if proteins.empty:
        return proteins, None
    restored: list[str] = []
    ambiguous: list[str] = []
    genes = proteins["gene"].tolist() if "gene" in proteins else [np.nan] * len(proteins)
    new_genes = []
    for group, gene in zip(proteins.index, genes, strict=True):
        members = str(gene).split(";") if has_text(gene) else [str(group)]
        fixed = []
        changed = False
        for member in members:
            symbols = excel_date_symbols(member)
            if len(symbols) == 1:
                fixed.append(symbols[0])
                restored.append(f"{member.strip()!r} -> {symbols[0]}")
                changed = True
            else:
                if symbols:
                    ambiguous.append(f"{member.strip()!r} ({' or '.join(symbols)})")
                fixed.append(member)
        new_genes.append(";".join(fixed) if changed else gene)
    if not restored and not ambiguous:
        return proteins, None
    proteins = proteins.assign(gene=pd.Series(new_genes, index=proteins.index, dtype="object"))
    parts = []
    if restored:
        shown_names = ", ".join(restored[:MAX_EXAMPLES])
        more = f" and {len(restored) - MAX_EXAMPLES} more" if len(restored) > MAX_EXAMPLES else ""
        parts.append(
            f"{len(restored)} protein name(s) were gene symbols a spreadsheet turned into dates, "
            f"read back as the symbols: {shown_names}{more}"
        )
    if ambiguous:
        parts.append(
            f"{len(ambiguous)} date-shaped name(s) could be several genes and were left as "
            f"they are: {', '.join(ambiguous[:MAX_EXAMPLES])}"
        )
    note = "; ".join(parts) + " (export gene lists as text, not through Excel)"
    return proteins, note
