"""The common result of every reader: a ProteinMatrix of runs × protein groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

ANNOTATION_COLUMNS = ("leading_accession", "gene", "description")


@dataclass(frozen=True)
class ProteinMatrix:
    """Raw (non-log) protein intensities of MS runs, with protein annotations.

    Attributes:
        intensities: rows are runs (index name ``run``; after mapping to lots, ``lot_id``),
            columns are protein-group ids exactly as the input file names them; float64,
            NaN = not detected (0 in the file becomes NaN).
        proteins: one row per column of ``intensities`` (index = the same group ids), columns
            ``leading_accession``, ``gene`` and ``description`` (NaN when unknown).
        format: the reader that produced it (``maxquant``, ``diann``, ``wide``, ...).
        source: the file it was read from.
        n_groups_before: protein groups in the file before dropping decoys and contaminants.
        n_dropped: protein groups dropped (decoy, contaminant, only identified by site).
        notes: human-readable remarks for ``inspect`` (e.g. which quantity column was used).
    """

    intensities: pd.DataFrame
    proteins: pd.DataFrame
    format: str
    source: Path
    n_groups_before: int
    n_dropped: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_runs(self) -> int:
        return int(self.intensities.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.intensities.shape[1])
