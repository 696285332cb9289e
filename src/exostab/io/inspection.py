"""What ``exostab inspect`` reports of a protein file: the figures of its read, its run → lot
mapping against a lot sheet, and the problems found (one JSON-ready dict).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exostab.errors import shown
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.runs import (
    map_runs_to_lots,
    ms_run_table,
    named,
    named_like_a_named_lot,
    run_claims,
    why_no_run_matched,
)


def inspection(
    file: Path,
    matrix: ProteinMatrix,
    sheet_read: tuple[pd.DataFrame, pd.DataFrame] | None,
) -> tuple[dict[str, Any], list[str]]:
    """Describe a read protein file and, with a lot sheet, how its runs map to the lots.

    Args:
        file: the protein file read.
        matrix: what was read from it.
        sheet_read: the lot sheet and its refused rows (``read_lot_sheet_lenient``), or None.

    Returns:
        The payload (``inspect --json``; its ``problems`` included) and the problems found.
    """
    values = matrix.intensities.to_numpy()
    finite = values[np.isfinite(values)]
    problems: list[str] = []
    payload: dict[str, Any] = {
        "file": str(file),
        "format": matrix.format,
        "n_runs": matrix.n_runs,
        "n_protein_groups_before": matrix.n_groups_before,
        "n_protein_groups": matrix.n_groups,
        "n_dropped": matrix.n_dropped,
        "missing_fraction": round(matrix.missing_fraction, 4),
        "intensity_min": float(finite.min()) if finite.size else None,
        "intensity_max": float(finite.max()) if finite.size else None,
        "looks_log_scale": matrix.looks_log_scale,
        "scale": matrix.scale,
        "runs": [str(run) for run in matrix.intensities.index],
        "failed_runs": matrix.failed_runs,
        "notes": list(matrix.notes),
    }
    problems += matrix.problems  # scale contradiction, failed runs: problems, not notes
    if sheet_read is not None:
        sheet, quarantine = sheet_read
        # a quarantined lot is still a lot of the sheet: its runs are not runs of no lot
        claims = run_claims(sheet, quarantine)
        _, mapping = map_runs_to_lots(matrix, claims)
        refused = set(quarantine["lot_id"].astype(str))
        lots_without_run = [lot for lot in mapping.lots_without_run if lot not in refused]
        payload["run_to_lot"] = mapping.run_to_lot
        payload["replicates"] = mapping.replicates
        payload["runs_without_lot"] = list(mapping.runs_without_lot)
        payload["lots_without_run"] = lots_without_run
        problems += [
            f"lot sheet: {shown(row.lot_id)}: {row.reason}" for row in quarantine.itertuples()
        ]
        payload["missing_runs"] = {lot: list(runs) for lot, runs in mapping.missing_runs.items()}
        nothing = not mapping.run_to_lot
        # runs named like a lot cut at a dot, whose ms_run names its runs: said apart
        like = named_like_a_named_lot(
            list(mapping.runs_without_lot),
            ms_run_table(claims, [str(lot) for lot in claims.index]),
            {str(lot) for lot in claims.index},
        )
        other = [run for run in mapping.runs_without_lot if run not in like]
        if nothing and (matrix.n_runs or len(claims)):
            problems.append(
                "no run matches a lot: "
                + why_no_run_matched([str(run) for run in matrix.intensities.index], claims)
            )
        elif other:
            problems.append(
                f"{len(other)} run(s) match no lot (left out by train and "
                f"score: QC, blanks?): {named(other)}"
            )
        if like and not nothing:
            problems.append(
                f"{len(like)} run(s) named like a lot with a replicate number after a dot match "
                "no lot: that lot's ms_run names its runs, not these (left out by train and "
                "score): " + named([f"{run} (lot {lot})" for run, lot in like.items()])
            )
        replicate_note = mapping.replicate_note()
        if replicate_note:  # averaged by their names alone: said, never silent
            payload["notes"].append(replicate_note)
        payload["named_replicates"] = {
            lot: list(runs) for lot, runs in mapping.named_replicates.items()
        }
        missing_note = mapping.missing_note()
        if missing_note:
            problems.append(missing_note)
        if lots_without_run and not nothing:  # none matched: said once, above
            problems.append(
                f"{len(lots_without_run)} lot(s) have no run: {named(lots_without_run)}"
            )
    payload["problems"] = problems
    return payload, problems
