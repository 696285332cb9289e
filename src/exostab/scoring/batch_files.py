"""A batch scored from files to files (``exostab score``, pandas engine).

``prepare_batch`` reads the lot sheet and sets up the scorer; ``score_batch`` scores the
protein file chunk by chunk into the scores and quarantine files of one ``OutputFiles``,
counts the risk bands and keeps, for a report, the scored lots and the quarantine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from exostab.io.provenance import file_sha256
from exostab.io.readers import read_lot_sheet_lenient
from exostab.io.writers import OutputFiles
from exostab.model.bundle import ModelBundle
from exostab.scoring.batch import BatchScorer, checked_chunks, compact_sheet


@dataclass
class BatchRun:
    """One batch being scored: its scorer and sheet, and what the chunks added up to."""

    scorer: BatchScorer
    sheet: pd.DataFrame
    n_rows: int  # lot-sheet rows read, kept or refused: the progress total
    input_hash: str
    keep_for_report: bool
    bands: dict[str, int] = field(
        default_factory=lambda: {"high": 0, "review": 0, "low": 0, "not assessable": 0}
    )
    n_out_of_domain: int = 0
    kept_for_report: list[pd.DataFrame] = field(default_factory=list)
    quarantined: list[pd.DataFrame] = field(default_factory=list)
    first_quarantined: pd.DataFrame | None = None  # the first row left out, for a message

    def scored(self) -> pd.DataFrame:
        """The scored lots with their drivers (kept with ``keep_for_report`` only)."""
        return pd.concat(self.kept_for_report)

    def quarantine(self) -> pd.DataFrame:
        """Every quarantined lot (kept with ``keep_for_report`` only)."""
        return pd.concat(self.quarantined, ignore_index=True)


def prepare_batch(
    bundle: ModelBundle,
    proteins: Path,
    lots: Path,
    *,
    top_k: int,
    chunk_size: int,
    keep_for_report: bool,
) -> BatchRun:
    """Read the lot sheet (refused rows quarantined) and set up the scorer of a batch."""
    sheet, sheet_quarantine = read_lot_sheet_lenient(lots, vocabulary=bundle.vocabulary)
    sheet = compact_sheet(sheet)  # memory flat in the number of lots
    input_hash = file_sha256(proteins)[:8] + file_sha256(lots)[:8]
    scorer = BatchScorer(
        bundle,
        sheet,
        sheet_quarantine,
        top_k=top_k,
        predict_rows=chunk_size,
        with_drivers=keep_for_report,  # the report draws the drivers from data, not text
    )
    return BatchRun(
        scorer=scorer,
        sheet=sheet,
        n_rows=len(sheet) + len(sheet_quarantine),
        input_hash=input_hash,
        keep_for_report=keep_for_report,
    )


def score_batch(
    run: BatchRun,
    outputs: OutputFiles,
    proteins: Path,
    out: Path,
    quarantine_path: Path,
    *,
    model_uri: str,
    format: str | None,
    scale: str | None,
    chunk_size: int,
    describe: Callable[[str], None],
    advance: Callable[[int], None],
) -> None:
    """Score a protein file chunk by chunk into the scores and quarantine files of ``outputs``.

    Args:
        describe: told what is being done (reading, scoring).
        advance: told how many lots are done (scored or quarantined).
    """
    scorer = run.scorer
    scores_file = outputs.table(out, unit="lot")
    quarantine_file = outputs.table(quarantine_path, unit="lot")

    def book(refused_rows: pd.DataFrame) -> None:
        quarantine_file.write(refused_rows)
        if run.first_quarantined is None and len(refused_rows):
            run.first_quarantined = refused_rows.head(1)
        if run.keep_for_report:  # the quarantine stays on disk unless the report shows it
            run.quarantined.append(refused_rows)

    book(scorer.start())
    for matrix, refused in checked_chunks(
        scorer,
        proteins,
        format=format,
        scale=scale,
        rows=chunk_size,
        reading=describe,
    ):
        describe("scoring")
        book(refused)
        scores, bad = scorer.score(matrix)
        scores_file.write(
            scores.drop(columns="drivers", errors="ignore").assign(
                model_uri=model_uri, input_hash=run.input_hash
            )
        )
        book(bad)
        if run.keep_for_report:
            run.kept_for_report.append(scores)
        run.n_out_of_domain += int((~scores["in_domain"].astype(bool)).sum())
        for band, count in scores["risk_band"].value_counts().items():
            run.bands[str(band)] = run.bands.get(str(band), 0) + int(count)
        advance(scorer.n_scored + scorer.n_lots_quarantined)
    book(scorer.finish())
    advance(scorer.n_lots_in)
