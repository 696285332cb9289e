"""The identity of a file's protein groups, computed once per file: leading accession, gene and
description of each group (``annotate_groups`` for search-engine files, ``annotate_names`` for
generic tables named by proteins), date-mangled gene symbols read back, opaque names noted.

``identify_groups`` is the one step a reader's ``build_matrix`` takes; the table it returns is
carried on the ProteinMatrix (``proteins``) and nothing downstream parses the names again for it.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exostab.io.naming import (
    MAX_EXAMPLES,
    has_text,
    leading_accession,
    naming_scheme,
    parse_protein_name,
)
from exostab.io.protein_matrix import ANNOTATION_COLUMNS
from exostab.io.spreadsheet_dates import restore_excel_symbols

logger = logging.getLogger(__name__)


def identify_groups(
    group_ids: pd.Index,
    source: object,
    *,
    names_only: bool = False,
    genes: Sequence[Any] | pd.Series | None = None,
    descriptions: Sequence[Any] | pd.Series | None = None,
    accessions: Sequence[Any] | pd.Series | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Annotate a file's protein groups once, read date-mangled symbols back, note opaque names.

    Args:
        group_ids: the groups' ids as the file writes them (text).
        source: the file, named in the warnings.
        names_only: the ids are all the file says (generic tables, see ``annotate_names``);
            otherwise ``genes``, ``descriptions`` and ``accessions`` are the file's annotation
            columns, one value per group (see ``annotate_groups``).

    Returns:
        groups × (``leading_accession``, ``gene``, ``description``) indexed by ``group_ids``,
        and the notes for ``inspect`` (each also logged as a warning).
    """
    if names_only:
        proteins = annotate_names(list(group_ids))
    else:
        proteins = annotate_groups(
            group_ids, genes=genes, descriptions=descriptions, accessions=accessions
        )
    proteins, excel_note = restore_excel_symbols(proteins.set_axis(group_ids, axis=0))
    notes = []
    if excel_note:
        notes.append(excel_note)
        logger.warning("%s: %s", source, excel_note)
    opaque = opaque_note(proteins, source)
    if opaque:
        notes.append(opaque)
    return proteins, notes


def annotate_groups(
    group_ids: pd.Index,
    *,
    genes: Sequence[Any] | pd.Series | None = None,
    descriptions: Sequence[Any] | pd.Series | None = None,
    accessions: Sequence[Any] | pd.Series | None = None,
) -> pd.DataFrame:
    """Build the ``proteins`` table: leading accession, gene and description per group id.

    A gene the engine did not report is taken from the group id when the id carries one
    (``GN=`` of a FASTA header, ``ACC~GENE``, ``ACC|GENE``).
    """
    given = _clean_text(genes) if genes is not None else [np.nan] * len(group_ids)
    from_ids = [
        parse_protein_name(group).gene if not isinstance(gene, str) else gene
        for gene, group in zip(given, group_ids, strict=True)
    ]
    if accessions is None:
        leading = [leading_accession(group) for group in group_ids]
    else:
        leading = [
            leading_accession(acc) if isinstance(acc, str) and acc else leading_accession(group)
            for acc, group in zip(accessions, group_ids, strict=True)
        ]
    proteins = pd.DataFrame(
        {
            "leading_accession": pd.Series(leading, index=group_ids, dtype="object"),
            "gene": pd.Series(from_ids, index=group_ids, dtype="object"),
            "description": pd.Series(
                _clean_text(descriptions)
                if descriptions is not None
                else [np.nan] * len(group_ids),
                index=group_ids,
                dtype="object",
            ),
        },
        index=group_ids,
    )
    proteins.index.name = "group_id"
    return proteins[list(ANNOTATION_COLUMNS)]


def _clean_text(values: Sequence[Any] | pd.Series) -> list[Any]:
    """Trimmed text, NaN for empty cells; a date cell (Excel made a gene symbol a date) as
    its ISO text, so ``restore_excel_symbols`` can read it back."""
    return [
        value.strip()
        if isinstance(value, str) and value.strip()
        else value.isoformat()
        if isinstance(value, datetime.date)
        else np.nan
        for value in list(values)
    ]


def annotate_names(names: Sequence[str]) -> pd.DataFrame:
    """Annotate the protein names of a generic table (wide columns, long ``protein`` cells).

    Every non-empty name is accepted: what it carries (accession, gene) is filled in, an opaque
    name keeps both NaN and stands for itself. A name that fits both a UniProt accession and a
    gene symbol (``B3GAT3``) is read as a gene in a table mostly named by gene symbols.

    Returns:
        proteins × (``leading_accession``, ``gene``, ``description``), indexed by the names.
    """
    parsed = [parse_protein_name(name) for name in names]
    schemes = pd.Series([p.scheme for p in parsed], dtype="object").value_counts()
    n_genes = int(schemes.get("gene", 0))
    if n_genes > len(parsed) - n_genes - int(schemes.get("opaque", 0)):
        parsed = [parse_protein_name(name, genes_first=True) for name in names]
    index = pd.Index([str(name) for name in names], dtype="object", name="group_id")
    return pd.DataFrame(
        {
            "leading_accession": pd.Series(
                [p.leading_accession for p in parsed], index=index, dtype="object"
            ),
            "gene": pd.Series([p.gene for p in parsed], index=index, dtype="object"),
            "description": pd.Series([np.nan] * len(index), index=index, dtype="object"),
        },
        index=index,
    )


def opaque_names(proteins: pd.DataFrame) -> list[str]:
    """Group ids that follow no known naming scheme and carry no gene annotation either."""
    gene = proteins["gene"] if "gene" in proteins else pd.Series(np.nan, index=proteins.index)
    return [
        str(group)
        for group, symbol in zip(proteins.index, gene, strict=True)
        if not has_text(symbol) and naming_scheme(group) == "opaque"
    ]


def opaque_note(proteins: pd.DataFrame, source: object) -> str | None:
    """Warn once per file about opaque protein names and return the note for ``inspect``."""
    opaque = opaque_names(proteins)
    if not opaque:
        return None
    shown = ", ".join(repr(name) for name in opaque[:MAX_EXAMPLES])
    more = f" and {len(opaque) - MAX_EXAMPLES} more" if len(opaque) > MAX_EXAMPLES else ""
    note = (
        f"{len(opaque)} protein name(s) follow no known naming scheme and were kept as "
        f"opaque protein ids: {shown}{more}"
    )
    logger.warning("%s: %s", source, note)
    return note
