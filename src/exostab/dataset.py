"""Join a protein matrix and a lot sheet into a TrainingSet; refuse what cannot be trained on."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exostab.config import NUMERIC_METADATA, TrainConfig
from exostab.errors import InputError
from exostab.identity import safe_feature_names
from exostab.readers.base import ProteinMatrix
from exostab.runs import map_runs_to_lots

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSet:
    """Lots × features with labels and CV groups.

    Attributes:
        X: index ``lot_id``; the metadata feature columns, then one column per protein group
            (raw intensities, NaN = not detected) under its safe feature name.
        y: 0/1 label per lot.
        groups: CV group per lot (donor by default).
        proteins: index = protein feature name; ``input_name`` (as the user's file named the
            protein group), ``leading_accession``, ``gene``, ``description``.
        metadata: metadata feature columns present in X.
        categorical: the metadata columns that hold categories.
        fingerprint: content hash, sizes and label balance of the data.
    """

    X: pd.DataFrame
    y: pd.Series
    groups: pd.Series
    proteins: pd.DataFrame
    metadata: tuple[str, ...]
    categorical: tuple[str, ...]
    fingerprint: dict[str, Any]
    order: pd.Series | None = None


def listed(items: list[str] | tuple[str, ...], limit: int = 5) -> str:
    """Render a few items and how many more, for one-line messages."""
    shown = ", ".join(str(i) for i in list(items)[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def protein_table(matrix: ProteinMatrix) -> pd.DataFrame:
    """Return the protein annotations keyed by safe feature name."""
    names = safe_feature_names(matrix.proteins)
    table = matrix.proteins.copy()
    table.insert(0, "input_name", table.index.astype(str))
    table.index = pd.Index(names.loc[matrix.proteins.index].to_numpy(), name="feature")
    return table


def content_hash(*frames: pd.DataFrame | pd.Series) -> str:
    """Hash the content of frames (not their file format) so two inputs of the same data match."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        if isinstance(frame, pd.DataFrame):
            digest.update("|".join(map(str, frame.columns)).encode())
    return digest.hexdigest()[:16]


def panel_features(panels: dict[str, list[str]], proteins: pd.DataFrame) -> dict[str, list[str]]:
    """Map each panel's gene symbols to the protein features that carry them."""
    by_gene: dict[str, list[str]] = {}
    for feature, gene in proteins["gene"].items():
        if isinstance(gene, str):
            for symbol in gene.split(";"):
                by_gene.setdefault(symbol.strip().upper(), []).append(str(feature))
    return {
        module: sorted({f for gene in genes for f in by_gene.get(gene.upper(), [])})
        for module, genes in panels.items()
    }


def build_training_set(
    matrix: ProteinMatrix, lot_sheet: pd.DataFrame, cfg: TrainConfig
) -> TrainingSet:
    """Map runs to lots, check the pairing and the label, and assemble the feature frame."""
    label, group = cfg.data.label, cfg.data.group
    where = str(matrix.source)
    if label not in lot_sheet.columns:
        raise InputError(f"the lot sheet has no label column '{label}' (set it with --label)")
    if group not in lot_sheet.columns:
        raise InputError(f"the lot sheet has no group column '{group}' (set it with --group)")
    lots, mapping = map_runs_to_lots(matrix, lot_sheet)
    if mapping.lots_without_run:
        raise InputError(
            f"{len(mapping.lots_without_run)} lots of the lot sheet have no protein profile: "
            f"{listed(mapping.lots_without_run)}",
            where=where,
        )
    if mapping.runs_without_lot:
        raise InputError(
            f"{len(mapping.runs_without_lot)} runs match no lot of the lot sheet: "
            f"{listed(mapping.runs_without_lot)}",
            where=where,
        )
    sheet = lot_sheet.loc[lots.intensities.index]
    y = sheet[label].astype(int)
    classes = sorted(y.unique().tolist())
    if classes != [0, 1]:
        raise InputError(f"training needs both classes in '{label}', found only {classes}")
    groups = sheet[group].astype(str)
    if groups.nunique() < 2:
        raise InputError(f"training needs at least two groups in '{group}', found one")

    order = None
    if cfg.cv.time_column:
        column = cfg.cv.time_column
        if column not in sheet.columns:
            raise InputError(f"the lot sheet has no time column '{column}' (cv.time_column)")
        order = pd.to_numeric(sheet[column], errors="coerce")
        if order.isna().any():
            dates = pd.to_datetime(sheet[column], errors="coerce")
            if dates.isna().any():
                raise InputError(f"'{column}' must hold numbers or dates for every lot")
            order = pd.Series(dates.astype("int64"), index=sheet.index)
    metadata = tuple(c for c in cfg.data.metadata_features if c in sheet.columns)
    skipped = [c for c in cfg.data.metadata_features if c not in sheet.columns]
    if skipped:
        logger.warning("metadata features not in the lot sheet, left out: %s", listed(skipped))
    categorical = tuple(c for c in metadata if c not in NUMERIC_METADATA)
    proteins = protein_table(lots)
    intensities = lots.intensities.set_axis(proteins.index, axis=1)
    X = pd.concat([sheet[list(metadata)], intensities], axis=1)
    X.index.name = "lot_id"
    fingerprint = {
        "data_hash": content_hash(X, y),
        "n_lots": len(X),
        "n_proteins": int(intensities.shape[1]),
        "n_unstable": int(y.sum()),
        "prevalence": round(float(y.mean()), 4),
        "n_groups": int(groups.nunique()),
        "missing_fraction": round(float(np.isnan(intensities.to_numpy(float)).mean()), 4),
        "replicate_runs": int(sum(n - 1 for n in mapping.replicates.values())),
    }
    logger.info("training set: %d lots × %d proteins", len(X), intensities.shape[1])
    return TrainingSet(
        X=X,
        y=y.rename(label),
        groups=groups.rename(group),
        proteins=proteins,
        metadata=metadata,
        categorical=categorical,
        fingerprint=fingerprint,
        order=order,
    )
