"""The common result of every reader: a ProteinMatrix of runs × protein groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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
        looks_log_scale: every finite value is below 50, so the file probably holds
            log-transformed intensities; readers never exponentiate, the caller decides.
    """

    intensities: pd.DataFrame
    proteins: pd.DataFrame
    format: str
    source: Path
    n_groups_before: int
    n_dropped: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    looks_log_scale: bool = False

    @property
    def n_runs(self) -> int:
        return int(self.intensities.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.intensities.shape[1])

    @property
    def missing_fraction(self) -> float:
        """Fraction of run × group cells with no intensity (0.0 for an empty matrix)."""
        size = self.intensities.size
        if size == 0:
            return 0.0
        return float(np.isnan(self.intensities.to_numpy(dtype="float64")).sum() / size)
