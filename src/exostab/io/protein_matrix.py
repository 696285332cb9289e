"""The common result of every reader: a ProteinMatrix of runs × protein groups."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

ANNOTATION_COLUMNS = ("leading_accession", "gene", "description")
Q_VALUE = 0.01


@dataclass(frozen=True)
class ReadOptions:
    """How protein files are read, beyond their format and scale.

    Attributes:
        q_value: the largest q-value kept in a DIA-NN long report, on every q-value column
            DIA-NN documents that the report holds (``Q.Value``: precursor, ``PG.Q.Value``:
            protein group, ``Lib.PG.Q.Value``: protein group in the library, for match between
            runs); 0.01 (1 % FDR) as DIA-NN's documentation recommends; 1.0 filters nothing.
        contaminants: the contaminant library applied by accession next to the prefix rule:
            ``builtin`` (Frankenfield et al. 2022), ``builtin+hpl`` (plus human plasma and
            platelet proteins of hPL media), ``none``, or the path of a table of accessions.
    """

    q_value: float = Q_VALUE
    contaminants: str = "builtin"


@dataclass(frozen=True)
class ProteinMatrix:
    """Protein intensities of MS runs (raw, or log2 when declared so), with annotations.

    Attributes:
        intensities: rows are runs (index name ``run``; after mapping to lots, ``lot_id``),
            columns are protein-group ids exactly as the input file names them; float64,
            NaN = not detected (on the raw scale 0 in the file becomes NaN).
        proteins: one row per column of ``intensities`` (index = the same group ids), columns
            ``leading_accession``, ``gene`` and ``description`` (NaN when unknown).
        format: the reader that produced it (``maxquant``, ``diann``, ``wide``, ...).
        source: the file it was read from.
        n_groups_before: protein groups in the file before dropping decoys and contaminants.
        n_dropped: protein groups dropped (decoy, contaminant, only identified by site).
        notes: human-readable remarks for ``inspect`` (e.g. which quantity column was used).
        problems: findings a user must act on (values that contradict the declared scale,
            runs that quantified no protein), each said once: here, not also in ``notes``.
        looks_log_scale: every finite value is below 50, so the file probably holds
            log-transformed intensities; readers never exponentiate, the caller decides.
        scale: ``raw`` (intensities, > 0) or ``log2`` (declared by the user: log2
            intensities or log2 ratios, any sign).
        refused_runs: runs set aside for a bad cell (text, an infinite value, a negative raw
            intensity), each as (run, reason naming the protein and the cell's text:
            ``messages.bad_cell_reason``), in file order; none of their values is in
            ``intensities``. ``score`` quarantines their lots with that reason.
        refusal: the refusal of the whole file for its first bad cell, naming run, protein and
            column (what ``read_proteins`` raises unless asked to quarantine runs); None when
            no cell is bad.
    """

    intensities: pd.DataFrame
    proteins: pd.DataFrame
    format: str
    source: Path
    n_groups_before: int
    n_dropped: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    problems: tuple[str, ...] = field(default_factory=tuple)
    looks_log_scale: bool = False
    scale: str = "raw"
    refused_runs: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    refusal: str | None = None

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

    def on_scale(self, scale: str) -> ProteinMatrix:
        """Return the matrix on another scale: raw -> log2 (log2 of each value) or back (2^x).

        Scoring uses it when a file's declared scale differs from the model's; no information
        is lost either way (raw values are > 0).
        """
        if scale == self.scale:
            return self
        values = self.intensities.to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            converted = np.log2(np.where(values > 0, values, np.nan))
        if scale == "raw":
            converted = np.exp2(values)
        intensities = pd.DataFrame(
            converted, index=self.intensities.index, columns=self.intensities.columns
        )
        notes = (*self.notes, f"converted from {self.scale} to {scale} for the model")
        return replace(self, intensities=intensities, scale=scale, notes=notes)

    @property
    def failed_runs(self) -> list[str]:
        """Runs with no quantified protein at all (a failed injection, an empty sample)."""
        values = self.intensities.to_numpy(dtype="float64")
        if values.shape[1] == 0:
            return [str(run) for run in self.intensities.index]
        empty = ~np.isfinite(values).any(axis=1)
        return [str(run) for run, none in zip(self.intensities.index, empty, strict=True) if none]
