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
from exostab.io.feature_names import safe_feature_names
from exostab.io.lot_sheet_cells import parse_time_column
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.runs import (
    failed_run_lots,
    map_runs_to_lots,
    match_runs,
    named,
    why_no_run_matched,
)

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
        order: time order of the lots (``cv.time_column``), None when not used.
        scale: ``raw`` (intensities) or ``log2`` (declared log2 values) of the protein columns.
    """

    X: pd.DataFrame
    y: pd.Series
    groups: pd.Series
    proteins: pd.DataFrame
    metadata: tuple[str, ...]
    categorical: tuple[str, ...]
    fingerprint: dict[str, Any]
    order: pd.Series | None = None
    scale: str = "raw"


def listed(items: list[str] | tuple[str, ...], limit: int = 10) -> str:
    """Render the first ``limit`` items and how many more, for one-line messages."""
    return named(list(items), limit)


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
    """Map each panel's gene symbols to the protein features that carry them.

    Warns when panels are configured but no protein of the input carries one of their genes
    (the module scores then vanish from the model): usually the input names proteins in a way
    that gives no gene symbol.
    """
    by_gene: dict[str, list[str]] = {}
    for feature, gene in proteins["gene"].items():
        if isinstance(gene, str):
            for symbol in gene.split(";"):
                by_gene.setdefault(symbol.strip().upper(), []).append(str(feature))
    members = {
        module: sorted({f for gene in genes for f in by_gene.get(gene.upper(), [])})
        for module, genes in panels.items()
    }
    if panels and not any(members.values()):
        logger.warning(
            "no protein matches a gene of the panels (%s), so the model has no module scores; "
            "%d of %d proteins carry a gene symbol (name proteins by gene, ACC~GENE or FASTA "
            "headers with GN=)",
            ", ".join(sorted(panels)),
            len({f for features in by_gene.values() for f in features}),
            len(proteins),
        )
    return members


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
    if matrix.scale != cfg.data.scale:
        raise InputError(
            f"the protein file was read as {matrix.scale} but data.scale is {cfg.data.scale}"
        )
    runs = [str(run) for run in matrix.intensities.index]
    run_to_lot, missing = match_runs(matrix, lot_sheet)  # all runs, failed ones too
    matrix, failed = failed_run_lots(matrix, run_to_lot)
    # a failed run is left out (said below), not "missing from the protein file"
    lots, mapping = map_runs_to_lots(matrix, lot_sheet, run_to_lot=run_to_lot, missing=missing)
    failed_lots = {lot for lot in failed.values() if lot is not None}
    without_run = [lot for lot in mapping.lots_without_run if lot not in failed_lots]
    if without_run:
        if len(without_run) == len(mapping.lots_without_run) == len(lot_sheet):
            raise InputError(
                "no lot of the lot sheet has a protein profile: "
                + why_no_run_matched(runs, lot_sheet),
                where=where,
            )
        raise InputError(
            f"{len(without_run)} lots of the lot sheet have no protein profile: "
            f"{listed(without_run)}",
            where=where,
        )
    if failed:  # said once, here (the reader only notes it): run, lot, and what became of it
        failed_only = set(mapping.lots_without_run) & failed_lots
        logger.warning(
            "left out %d run(s) that quantified no protein (failed runs): %s",
            len(failed),
            listed(
                [
                    f"{run} (no lot)"
                    if lot is None
                    else f"{run} (lot {lot}"
                    + (", its only run: lot left out)" if lot in failed_only else ")")
                    for run, lot in failed.items()
                ]
            ),
        )
    unmatched = [run for run in mapping.runs_without_lot if run not in failed]
    if unmatched:  # QC, blank and standard runs: listed and left out, never a lot
        logger.warning(
            "%s: left out %d run(s) that match no lot of the lot sheet (QC, blanks?): %s",
            where,
            len(unmatched),
            listed(unmatched, 10),
        )
    missing_note = mapping.missing_note()
    if missing_note:
        logger.warning("%s: %s", where, missing_note)
    replicate_note = mapping.replicate_note()
    if replicate_note:
        logger.warning("%s: %s", where, replicate_note)
    sheet = lot_sheet.loc[lots.intensities.index]
    y = sheet[label].astype(int)
    classes = sorted(y.unique().tolist())
    if classes != [0, 1]:
        raise InputError(f"training needs both classes in '{label}', found only {classes}")
    groups = sheet[group].astype(str)
    if groups.nunique() < 2:
        raise InputError(f"training needs at least two groups in '{group}', found one")

    order: pd.Series | None = None
    if cfg.cv.time_column:
        column = cfg.cv.time_column
        if column not in sheet.columns:
            raise InputError(f"the lot sheet has no time column '{column}' (cv.time_column)")
        times = sheet[column]
        if not pd.api.types.is_datetime64_any_dtype(times):
            # read_lot_sheet(dates=...) has parsed it already; a frame built otherwise is
            # read here by the same rule (ISO, or dd/mm/yyyy with cv.dayfirst)
            times, problems = parse_time_column(times, dayfirst=cfg.cv.dayfirst)
            if problems:
                row, problem = problems[0]
                raise InputError(
                    f"{column} of lot {sheet.index[row]}: {problem}"
                    + (f" (and {len(problems) - 1} more lot(s))" if len(problems) > 1 else "")
                )
        if times.isna().any():
            lots_without = [str(lot) for lot in times.index[times.isna()]]
            raise InputError(
                f"'{column}' (cv.time_column) is empty for {len(lots_without)} lot(s): "
                f"{listed(lots_without)}"
            )
        if pd.api.types.is_datetime64_any_dtype(times):
            order = pd.Series(times.astype("int64"), index=sheet.index)
        else:
            order = times.astype("float64")
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
        "failed_runs": len(failed),
        "runs_left_out": len(unmatched),
        "lots_missing_a_run": len(mapping.missing_runs),
        "value_scale": matrix.scale,
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
        scale=matrix.scale,
    )
