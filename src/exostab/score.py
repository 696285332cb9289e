"""Batch scoring: a protein matrix + lot sheet → one scored row or one quarantine row per lot.

Nothing is dropped: every lot of the lot sheet and every run of the protein file ends up either
in the scores or in the quarantine table with its reason, and the counts are checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exostab.identity import match_features
from exostab.readers.base import ProteinMatrix
from exostab.runs import map_runs_to_lots
from exostab.serving import ModelBundle

logger = logging.getLogger(__name__)

QUARANTINE_COLUMNS = ("lot_id", "reason")


@dataclass(frozen=True)
class ScoreResult:
    """Scored lots, quarantined lots, and what was counted on the way."""

    scores: pd.DataFrame
    quarantine: pd.DataFrame
    n_in: int
    n_proteins_matched: int

    @property
    def summary(self) -> dict[str, int]:
        bands = self.scores["risk_band"].value_counts()
        return {
            "lots_in": self.n_in,
            "scored": len(self.scores),
            "quarantined": len(self.quarantine),
            "out_of_domain": int((~self.scores["in_domain"].astype(bool)).sum()),
            **{f"band_{band}": int(bands.get(band, 0)) for band in ("low", "review", "high")},
        }


def scoring_table(
    bundle: ModelBundle, lots: ProteinMatrix, sheet: pd.DataFrame
) -> tuple[pd.DataFrame, int]:
    """Arrange lots as the model's input table: lot_id, metadata, proteins under model names.

    Proteins are matched by exact group id, then leading accession, then gene symbol.
    """
    model_proteins = bundle.proteins.rename(columns={"input_name": "group_id"})
    matched = match_features(model_proteins, lots.proteins)
    found = matched.dropna()
    block = lots.intensities[found.to_numpy()].set_axis(
        bundle.proteins.loc[found.index, "input_name"].to_numpy(), axis=1
    )
    metadata = sheet.reindex(index=lots.intensities.index, columns=list(bundle.metadata))
    table = pd.concat([metadata, block], axis=1)
    table.insert(0, "lot_id", table.index.astype(str))
    return table.reset_index(drop=True), len(found)


def score_lots(
    bundle: ModelBundle,
    matrix: ProteinMatrix,
    sheet: pd.DataFrame,
    sheet_quarantine: pd.DataFrame,
    *,
    top_k: int = 5,
    chunk_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ScoreResult:
    """Score every lot that can be scored and quarantine the rest, with reasons.

    Args:
        bundle: the model.
        matrix: runs × proteins as read.
        sheet: the valid lots of the lot sheet (index ``lot_id``).
        sheet_quarantine: lot-sheet rows already refused (``lot_id``, ``reason``).
        top_k: driver proteins reported per lot.
        chunk_size: lots scored at once (memory stays flat as batches grow).
        progress: called with the number of lots done after each chunk.
    """
    refused = set(sheet_quarantine["lot_id"].astype(str))
    claim = pd.concat(
        [
            sheet.reset_index()[["lot_id", *(["ms_run"] if "ms_run" in sheet else [])]],
            sheet_quarantine.reindex(columns=["lot_id"]).assign(ms_run=np.nan),
        ],
        ignore_index=True,
    ).drop_duplicates("lot_id")
    lots, mapping = map_runs_to_lots(matrix, claim.set_index("lot_id", drop=False))
    quarantine = [sheet_quarantine.reindex(columns=list(QUARANTINE_COLUMNS))]
    quarantine.append(
        pd.DataFrame(
            {"lot_id": list(mapping.runs_without_lot), "reason": "run not in the lot sheet"}
        )
    )
    no_profile = [lot for lot in mapping.lots_without_run if lot not in refused]
    quarantine.append(pd.DataFrame({"lot_id": no_profile, "reason": "no protein profile"}))
    keep = [lot for lot in lots.intensities.index if lot not in refused]
    lots = ProteinMatrix(
        intensities=lots.intensities.loc[keep],
        proteins=lots.proteins,
        format=lots.format,
        source=lots.source,
        n_groups_before=lots.n_groups_before,
        n_dropped=lots.n_dropped,
        notes=lots.notes,
    )
    n_in = len(sheet) + len(sheet_quarantine) + len(mapping.runs_without_lot)
    table, n_matched = scoring_table(bundle, lots, sheet)
    answers = []
    for start in range(0, len(table), chunk_size):
        answers.append(bundle.predict(table.iloc[start : start + chunk_size], top_k=top_k))
        if progress:
            progress(min(start + chunk_size, len(table)))
    answer = (
        pd.concat(answers, ignore_index=True)
        if answers
        else bundle.predict(table.head(0), top_k=top_k)
    )
    failed = answer["error"].notna()
    quarantine.append(answer.loc[failed, ["lot_id", "error"]].rename(columns={"error": "reason"}))
    scores = answer.loc[~failed].drop(columns="error").reset_index(drop=True)
    quarantined = pd.concat(quarantine, ignore_index=True).astype({"lot_id": str, "reason": str})
    if len(scores) + len(quarantined) != n_in:
        raise RuntimeError(
            f"lot accounting failed: {n_in} in, {len(scores)} scored, "
            f"{len(quarantined)} quarantined"
        )
    logger.info("matched %d/%d model proteins in the input", n_matched, len(bundle.proteins))
    return ScoreResult(
        scores=scores, quarantine=quarantined, n_in=n_in, n_proteins_matched=n_matched
    )
