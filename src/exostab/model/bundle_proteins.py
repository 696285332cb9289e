"""The proteins a bundle keeps, those that can change a prediction, and their readable names
(the drivers' names and the HTTP signature's protein columns)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

import pandas as pd

from exostab.model.risk_model import PriorBoostedClassifier


def used_protein_features(model: PriorBoostedClassifier) -> list[str]:
    """Return the protein features whose value can change the model's log-odds, in model order.

    A feature counts when a tree of the booster splits on it or the linear part gives it a
    nonzero coefficient (a ridge part gives every protein one). Protein features include
    module scores (``module_*``) and missingness indicators (``missing_*``).
    """
    used: set[str] = set()
    w_trees, w_linear = model.weights
    if w_trees and model.booster_ is not None:
        splits = model.booster_.feature_importance(importance_type="split")
        used |= {str(name) for name, n in zip(model.tree_features_, splits, strict=True) if n > 0}
    if w_linear:
        coefficients = zip(model.protein_features_, model.linear_coef_, strict=True)
        used |= {str(name) for name, c in coefficients if c != 0}
    return [str(p) for p in model.protein_features_ if p in used]


def domain_features(pipeline: Any, features: pd.DataFrame) -> pd.DataFrame:
    """Keep the columns the applicability domain is fitted on: metadata and used proteins.

    A protein the model does not use cannot move a prediction, and scoring does not ask for it
    (it arrives as NaN), so the domain must not depend on it either.

    Args:
        pipeline: the fitted pipeline (last step a ``PriorBoostedClassifier``).
        features: lots × the model's input features (the pipeline's steps but the last).
    """
    model = pipeline[-1]
    keep = set(model.prior_columns_) | set(used_protein_features(model))
    columns = [c for c in features.columns if c in keep]
    return features[columns] if columns else features


def required_proteins(pipeline: Any) -> list[str]:
    """Return the protein features that can change a prediction, in training order.

    Those are the normalisation reference, the proteins the model uses
    (``used_protein_features``: tree splits, nonzero linear coefficients), the members of the
    module scores it uses and the proteins of the missingness indicators it uses. Every other
    protein is filtered out or ignored inside the pipeline, so scoring (batch and HTTP) need not
    ask for it.
    """
    steps = dict(pipeline.steps)
    first = steps["log2"]
    inputs = {str(c) for c in first.feature_names_in_}
    needed = set(first.reference_)
    members = steps["modules"].members_ if "modules" in steps else {}
    for feature in used_protein_features(pipeline[-1]):
        if feature in inputs:
            needed.add(feature)
        elif feature.startswith("module_") and feature[7:] in members:
            needed |= set(members[feature[7:]])
        elif feature.startswith("missing_"):
            needed.add(feature[8:])
    return [str(c) for c in first.feature_names_in_ if c in needed and c not in first.metadata]


READABLE_LENGTH = 32


def shorten(text: str, length: int = READABLE_LENGTH) -> str:
    """Cut a name to ``length`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= length else text[: length - 1] + "…"


def readable_protein_names(
    proteins: pd.DataFrame, reserved: Collection[str] = ()
) -> dict[str, str]:
    """Name each protein as a person reads it: gene symbol, else short accession, else the id.

    The names are also the model's HTTP column names (``short_name`` in ``bundle.json`` and
    ``signature_columns.csv``), so they are unique and do not depend on the order of the rows.

    Args:
        proteins: index = feature name; ``input_name`` (group id), ``leading_accession``,
            ``gene`` (missing values allowed).
        reserved: names no protein may take (``lot_id``, the metadata columns).

    Returns:
        feature → name: the gene symbol(s) (``CD9``, merged groups ``CD9;CD63``); proteins that
        share a symbol get their accession added (``CD9 (P21926-2)``, isoform kept); without a
        gene the leading accession; else the group id cut to a readable length. Whitespace runs
        read as one space. Names still shared (or reserved) get ``_2``, ``_3``... in order of
        name then feature, the first keeping the plain name.
    """

    def text(value: Any, length: int = READABLE_LENGTH) -> str:
        return shorten(" ".join(value.split()), length) if isinstance(value, str) else ""

    first: dict[str, str] = {}
    for feature, row in proteins.iterrows():
        first[str(feature)] = (
            text(row.get("gene"))
            or text(row.get("leading_accession"))
            or text(row.get("input_name"))
            or text(str(feature))
            or str(feature)
        )
    counts = Counter(first.values())
    names: dict[str, str] = {}
    for feature, row in proteins.iterrows():
        name = first[str(feature)]
        accession = text(row.get("leading_accession"))
        if counts[name] > 1 and accession and accession != name:
            name = f"{name} ({accession})"
        names[str(feature)] = name
    counts = Counter(names.values())
    taken = set(reserved)
    unique = {f: n for f, n in names.items() if counts[n] == 1 and n not in taken}
    taken |= set(unique.values())
    for feature in sorted((f for f in names if f not in unique), key=lambda f: (names[f], f)):
        candidate, suffix = names[feature], 1
        while candidate in taken:
            suffix += 1
            candidate = f"{names[feature]}_{suffix}"
        taken.add(candidate)
        unique[feature] = candidate
    return {feature: unique[feature] for feature in names}
