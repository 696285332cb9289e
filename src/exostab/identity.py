"""Protein identity: accessions, gene symbols, naming schemes and LightGBM-safe feature names.

The same lots read from a MaxQuant file (``Gene names``) and from a wide table whose columns are
gene symbols must give the same feature names, so the canonical name of a protein group is its
gene symbol when known, else its leading accession, else the group id as the file spells it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

NAMING_SCHEMES = ("uniprot", "protein_group", "gene", "simulated", "fasta_header", "unknown")
MS_EXTENSIONS = (
    ".raw",
    ".d",
    ".mzml",
    ".mzxml",
    ".mzml.gz",
    ".wiff",
    ".wiff2",
    ".dia",
    ".htrms",
    ".mgf",
    ".tdf",
    ".baf",
    ".gz",
    ".zip",
)
_UNIPROT = re.compile(
    r"^(?:[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9](?:[A-Z][A-Z0-9]{2}[0-9]){1,2})(?:-\d+)?$"
)
_FASTA = re.compile(r"^(?:sp|tr)\|([^|]+)\|?.*$")
_SIMULATED = re.compile(r"^SIM[GP]\d+$")
_GENE = re.compile(r"^[A-Z][A-Za-z0-9]*(?:[-._][A-Za-z0-9]+)*$")
_GENE_IN_FASTA = re.compile(r"\bGN=([^\s;]+)")
_ISOFORM = re.compile(r"-\d+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_DECOY_PREFIXES = ("CON__", "REV__", "contam_", "rev_")
MAX_GENE_LENGTH = 30


def _single_scheme(part: str) -> str:
    if _UNIPROT.match(part):
        return "uniprot"
    if _FASTA.match(part):
        return "fasta_header"
    if _SIMULATED.match(part):
        return "simulated"
    if len(part) <= MAX_GENE_LENGTH and _GENE.match(part):
        return "gene"
    return "unknown"


def naming_scheme(name: str) -> str:
    """Classify how a protein is named.

    Returns:
        ``uniprot`` (``P12345``, ``P12345-2``), ``protein_group`` (accessions joined by ``;``),
        ``gene`` (a gene symbol such as ``CD9``, or symbols joined by ``;``), ``simulated``
        (``SIMG00042`` genes, ``SIMP00042`` accessions of the project's simulator),
        ``fasta_header`` (``sp|P12345|NAME_HUMAN``) or ``unknown`` (``Unnamed: 3``, ``12.5``,
        ``protein 1``, empty).
    """
    if not isinstance(name, str) or not name.strip():
        return "unknown"
    parts = [part.strip() for part in name.strip().split(";")]
    if any(not part for part in parts):
        return "unknown"
    schemes = {_single_scheme(part) for part in parts}
    if "unknown" in schemes:
        return "unknown"
    if len(parts) == 1:
        return schemes.pop()
    if schemes <= {"uniprot", "fasta_header"}:
        return "protein_group"
    if schemes == {"simulated"}:
        return "simulated"
    if schemes <= {"gene", "simulated"}:
        return "gene"
    return "unknown"


def leading_accession(group_id: Any) -> Any:
    """Return the first accession of a protein group (``sp|P12345|NAME;...`` -> ``P12345``).

    The isoform suffix is kept (it is stripped only for matching, see ``match_features``).
    Returns NaN for a missing or empty id.
    """
    if not isinstance(group_id, str) or not group_id.strip():
        return np.nan
    first = re.split(r"[;,]", group_id.strip(), maxsplit=1)[0].strip()
    for prefix in _DECOY_PREFIXES:
        if first.startswith(prefix):
            first = first[len(prefix) :]
    fasta = _FASTA.match(first)
    if fasta:
        first = fasta.group(1)
    return first or np.nan


def strip_isoform(accession: Any) -> Any:
    """Drop a UniProt isoform suffix (``P12345-2`` -> ``P12345``); NaN stays NaN."""
    if not isinstance(accession, str):
        return np.nan
    return _ISOFORM.sub("", accession)


def genes_from_fasta(header: Any) -> Any:
    """Collect the ``GN=`` gene symbols of a (``;``-joined) FASTA header, joined by ``;``."""
    if not isinstance(header, str):
        return np.nan
    genes = list(dict.fromkeys(_GENE_IN_FASTA.findall(header)))
    return ";".join(genes) if genes else np.nan


@functools.lru_cache(maxsize=8192)  # scoring asks for each run's name several times in a chunk
def strip_run_name(name: str) -> str:
    """Strip folders (POSIX or Windows) and MS-file extensions from a run name.

    ``D:\\data\\lot_07.raw`` -> ``lot_07``; ``/data/run.d`` -> ``run``; ``a.mzML.gz`` -> ``a``.
    """
    base = re.split(r"[\\/]", str(name).strip().rstrip("\\/"))[-1]
    changed = True
    while changed:
        changed = False
        for extension in MS_EXTENSIONS:
            if base.lower().endswith(extension) and len(base) > len(extension):
                base = base[: -len(extension)]
                changed = True
    return base


def annotate_names(names: Sequence[str]) -> pd.DataFrame:
    """Annotate protein names of a generic table by their naming scheme.

    UniProt accessions, protein groups, FASTA headers and ``SIMP`` ids give the leading
    accession; gene symbols and ``SIMG`` ids give the gene.

    Raises:
        ValueError: listing (a few of) the names that fit no naming scheme.
    """
    accessions: list[Any] = []
    genes: list[Any] = []
    unknown: list[str] = []
    for name in names:
        scheme = naming_scheme(name)
        if scheme == "unknown":
            unknown.append(str(name))
            accessions.append(np.nan)
            genes.append(np.nan)
        elif scheme in ("uniprot", "protein_group", "fasta_header") or (
            scheme == "simulated" and name.startswith("SIMP")
        ):
            accessions.append(leading_accession(name))
            genes.append(np.nan)
        else:
            accessions.append(np.nan)
            genes.append(name)
    if unknown:
        shown = ", ".join(repr(name) for name in unknown[:5])
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise ValueError(f"{shown}{more}")
    index = pd.Index([str(name) for name in names], dtype="object", name="group_id")
    return pd.DataFrame(
        {
            "leading_accession": pd.Series(accessions, index=index, dtype="object"),
            "gene": pd.Series(genes, index=index, dtype="object"),
            "description": pd.Series([np.nan] * len(index), index=index, dtype="object"),
        },
        index=index,
    )


def sanitize(name: str) -> str:
    """Make a name LightGBM-safe: ``;`` -> ``__``, characters outside [A-Za-z0-9_.-] -> ``_``."""
    safe = _UNSAFE.sub("_", name.strip().replace(";", "__"))
    return safe or "_"


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _split_collisions(base: list[str], accs: list[Any], ids: list[str]) -> list[str]:
    """Separate groups that share a canonical name.

    An isoform group (leading accession ``P12345-2``) becomes ``GENE-2`` (the simulator's wide
    tables name split isoforms that way); the one plain group keeps ``GENE``; any other clash
    gets the accession (or group id) appended.
    """
    counts = pd.Series(base, dtype="object").value_counts()
    names = list(base)
    for name in counts[counts > 1].index:
        members = [i for i, b in enumerate(base) if b == name]
        plain = []
        for i in members:
            isoform = _ISOFORM.search(str(accs[i])) if _present(accs[i]) else None
            if isoform:
                names[i] = f"{name}{isoform.group(0)}"
            else:
                plain.append(i)
        if len(plain) > 1:
            for i in plain:
                acc = str(accs[i]) if _present(accs[i]) else ""
                tag = acc if acc and sanitize(acc) != name else ids[i]
                names[i] = f"{name}__{sanitize(tag)}"
    return names


def safe_feature_names(proteins: pd.DataFrame) -> pd.Series:
    """Map each protein-group id to a unique LightGBM-safe feature name.

    The canonical name is the gene symbol when known (merged groups keep all symbols, joined),
    else the leading accession, else the group id. Among groups sharing a name, an isoform group
    (``P12345-2``) becomes ``GENE-2``, other clashes get the leading accession (or group id)
    appended; anything still colliding gets ``_2``, ``_3``... in group-id order, so the result
    does not depend on the order of the input.

    Args:
        proteins: indexed by group id, with columns ``gene`` and ``leading_accession``
            (missing columns count as unknown).

    Returns:
        A Series indexed like ``proteins`` (name ``feature``).
    """
    ids = [str(group) for group in proteins.index]
    genes = proteins["gene"].tolist() if "gene" in proteins else [np.nan] * len(ids)
    accs = (
        proteins["leading_accession"].tolist()
        if "leading_accession" in proteins
        else [np.nan] * len(ids)
    )
    base = [
        sanitize(str(gene) if _present(gene) else str(acc) if _present(acc) else group)
        for gene, acc, group in zip(genes, accs, ids, strict=True)
    ]
    names = _split_collisions(base, accs, ids)
    used: set[str] = set()
    order = sorted(range(len(names)), key=lambda i: (names[i], ids[i]))
    final = list(names)
    for i in order:
        candidate, suffix = names[i], 1
        while candidate in used:
            suffix += 1
            candidate = f"{names[i]}_{suffix}"
        used.add(candidate)
        final[i] = candidate
    result = pd.Series(final, index=proteins.index, dtype="object", name="feature")
    n_renamed = sum(1 for b, f in zip(base, final, strict=True) if b != f)
    if n_renamed:
        logger.info("made %d colliding protein feature names unique", n_renamed)
    return result


def _lookup(keys: Iterable[Any], group_ids: Sequence[str]) -> dict[str, str]:
    """First group id per key (input order), skipping missing keys."""
    table: dict[str, str] = {}
    for key, group in zip(keys, group_ids, strict=True):
        if _present(key):
            table.setdefault(key, group)
    return table


def match_features(model_proteins: pd.DataFrame, proteins: pd.DataFrame) -> pd.Series:
    """Find, for each model feature, the protein group of the input that measures it.

    Matching order: exact group id, then leading accession (isoform suffix ignored), then gene
    symbol (case-insensitive).

    Args:
        model_proteins: index = feature name; columns ``group_id``, ``leading_accession``,
            ``gene`` (as stored beside the model).
        proteins: the input's ``ProteinMatrix.proteins`` (index = group id).

    Returns:
        A Series indexed by feature name holding the input group id, or NaN when unmatched.
    """
    group_ids = [str(group) for group in proteins.index]
    input_accs = proteins["leading_accession"] if "leading_accession" in proteins else pd.Series()
    input_genes = proteins["gene"] if "gene" in proteins else pd.Series()
    by_id = {group: group for group in group_ids}
    by_acc = _lookup(
        [
            strip_isoform(a).upper() if _present(a) else np.nan
            for a in input_accs.reindex(proteins.index)
        ],
        group_ids,
    )
    by_gene = _lookup(
        [g.strip().lower() if _present(g) else np.nan for g in input_genes.reindex(proteins.index)],
        group_ids,
    )
    matched: list[Any] = []
    empty = pd.Series(np.nan, index=model_proteins.index, dtype="object")
    columns = [
        model_proteins[name].tolist() if name in model_proteins else empty.tolist()
        for name in ("group_id", "leading_accession", "gene")
    ]
    for group, acc, gene in zip(*columns, strict=True):
        found: Any = np.nan
        if _present(group) and str(group) in by_id:
            found = by_id[str(group)]
        elif _present(acc) and strip_isoform(acc).upper() in by_acc:
            found = by_acc[strip_isoform(acc).upper()]
        elif _present(gene) and gene.strip().lower() in by_gene:
            found = by_gene[gene.strip().lower()]
        matched.append(found)
    result = pd.Series(matched, index=model_proteins.index, dtype="object", name="group_id")
    logger.info(
        "matched %d/%d model features to input protein groups",
        int(result.notna().sum()),
        len(result),
    )
    return result
