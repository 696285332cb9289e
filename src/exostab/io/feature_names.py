"""Feature names of protein groups: one unique LightGBM-safe name each, and matching them back.

The same lots read from a MaxQuant file (``Gene names``) and from a wide table whose columns are
gene symbols must give the same feature names, so the canonical name of a protein group is its
gene symbol when known, else its leading accession, else the group id as the file spells it.
``match_features`` finds, for each feature of a model, the input group that measures it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exostab.io.naming import (
    ISOFORM_SUFFIX,
    accession_scheme,
    has_text,
    strip_isoform,
    strip_version,
)
from exostab.io.spreadsheet_dates import current_symbol

logger = logging.getLogger(__name__)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def sanitize(name: str) -> str:
    """Make a name LightGBM-safe: ``;`` -> ``__``, characters outside [A-Za-z0-9_.-] -> ``_``."""
    safe = _UNSAFE.sub("_", name.strip().replace(";", "__"))
    return safe or "_"


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
            isoform = ISOFORM_SUFFIX.search(str(accs[i])) if has_text(accs[i]) else None
            if isoform:
                names[i] = f"{name}{isoform.group(0)}"
            else:
                plain.append(i)
        if len(plain) > 1:
            for i in plain:
                acc = str(accs[i]) if has_text(accs[i]) else ""
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
        sanitize(str(gene) if has_text(gene) else str(acc) if has_text(acc) else group)
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


def _isoform_tag(accession: Any) -> str:
    """``-2`` for ``P12345-2``, ``""`` for a canonical accession or none."""
    if not has_text(accession):
        return ""
    match = ISOFORM_SUFFIX.search(str(accession))
    return match.group(0) if match and accession_scheme(str(accession)) else ""


def _other_isoform(model_acc: Any, input_acc: Any) -> bool:
    """Tell whether two accessions name different isoforms of one protein (never matched)."""
    if not (has_text(model_acc) and has_text(input_acc)):
        return False
    a, b = str(model_acc).upper(), str(input_acc).upper()
    return a != b and strip_isoform(a) == strip_isoform(b)


def _unique_lookup(keys: Sequence[Any], group_ids: Sequence[str]) -> dict[str, str]:
    """Key -> group id, for keys that name exactly one group (ambiguous keys left out)."""
    table: dict[str, str] = {}
    seen: dict[str, int] = {}
    for key, group in zip(keys, group_ids, strict=True):
        if has_text(key):
            seen[key] = seen.get(key, 0) + 1
            table.setdefault(key, group)
    return {key: group for key, group in table.items() if seen[key] == 1}


def _normal(value: Any) -> Any:
    return str(value).strip().upper() if has_text(value) else np.nan


def _normal_gene(value: Any) -> Any:
    """A gene symbol for matching: upper case, a renamed symbol under its current name."""
    return _normal(current_symbol(value)) if has_text(value) else np.nan


def match_features(model_proteins: pd.DataFrame, proteins: pd.DataFrame) -> pd.Series:
    """Find, for each model feature, the protein group of the input that measures it.

    One protein is never substituted for another. In order, each input group used at most once:

    1. the exact group id;
    2. the exact leading accession (case-insensitive; an ENSEMBL/RefSeq version may differ),
       when it names one input group;
    3. the same canonical feature name (``safe_feature_names``: a gene-symbol table and a
       MaxQuant file name ``CD63`` and ``CD63-2`` alike), unless the two accessions are
       different isoforms of one protein or the name drops the isoform suffix;
    4. the gene symbol (case-insensitive), only when it is unambiguous (one input group, one
       model feature) and neither side is an isoform.

    An isoform (``P12345-2``) therefore never falls back to its canonical protein, nor the
    reverse.

    Args:
        model_proteins: index = feature name; columns ``group_id``, ``leading_accession``,
            ``gene`` (as stored beside the model).
        proteins: the input's ``ProteinMatrix.proteins`` (index = group id).

    Returns:
        A Series indexed by feature name holding the input group id, or NaN when unmatched.
    """
    group_ids = [str(group) for group in proteins.index]
    input_accs = (
        proteins["leading_accession"].tolist()
        if "leading_accession" in proteins
        else [np.nan] * len(group_ids)
    )
    input_genes = proteins["gene"].tolist() if "gene" in proteins else [np.nan] * len(group_ids)
    acc_of = dict(zip(group_ids, input_accs, strict=True))
    input_names = safe_feature_names(
        pd.DataFrame(
            {"leading_accession": input_accs, "gene": input_genes},
            index=pd.Index(group_ids, dtype="object"),
        )
    ).tolist()
    by_acc = _unique_lookup([_normal(a) for a in input_accs], group_ids)
    by_version_free = _unique_lookup([_normal(strip_version(a)) for a in input_accs], group_ids)
    by_name = dict(zip(input_names, group_ids, strict=True))
    by_gene = _unique_lookup([_normal_gene(g) for g in input_genes], group_ids)

    features = [str(f) for f in model_proteins.index]
    empty = [np.nan] * len(features)
    model_groups, model_accs, model_genes = (
        model_proteins[name].tolist() if name in model_proteins else empty
        for name in ("group_id", "leading_accession", "gene")
    )
    gene_counts = pd.Series([_normal_gene(g) for g in model_genes], dtype="object").value_counts()
    found: dict[str, str] = {}
    used: set[str] = set()

    def claim(feature: str, group: str | None) -> None:
        if group is not None and group not in used and feature not in found:
            found[feature] = group
            used.add(group)

    by_id = set(group_ids)
    for feature, group in zip(features, model_groups, strict=True):
        if has_text(group) and str(group) in by_id:
            claim(feature, str(group))
    for feature, acc in zip(features, model_accs, strict=True):
        claim(feature, by_acc.get(_normal(acc)))
    for feature, acc in zip(features, model_accs, strict=True):
        claim(feature, by_version_free.get(_normal(strip_version(acc))))
    for feature, acc in zip(features, model_accs, strict=True):
        group = by_name.get(feature)
        if group is None or _other_isoform(acc, acc_of[group]):
            continue
        tags = {_isoform_tag(acc), _isoform_tag(acc_of[group])} - {""}
        if all(feature.endswith(tag) for tag in tags):
            claim(feature, group)
    for feature, acc, gene in zip(features, model_accs, model_genes, strict=True):
        key = _normal_gene(gene)
        group = by_gene.get(key) if has_text(gene) else None
        if group is None or gene_counts.get(key, 0) != 1:
            continue
        if _isoform_tag(acc) or _isoform_tag(acc_of[group]):
            continue
        claim(feature, group)

    result = pd.Series(
        [found.get(feature, np.nan) for feature in features],
        index=model_proteins.index,
        dtype="object",
        name="group_id",
    )
    logger.info(
        "matched %d/%d model features to input protein groups",
        int(result.notna().sum()),
        len(result),
    )
    return result
