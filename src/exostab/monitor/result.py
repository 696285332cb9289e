"""What ``monitor`` found (``MonitorResult``) and its machine-readable summary (monitor.json)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exostab.io.writers import OutputFiles
from exostab.monitor.performance import not_assessable
from exostab.monitor.reference import MonitorReference
from exostab.monitor.verdict import Check, outside_domain


@dataclass(frozen=True)
class MonitorResult:
    """Everything ``monitor`` found (written to DIR/monitor.json, tables and the page).

    Attributes:
        n_extra_runs: quarantine rows that are protein-file runs of no lot in the sheet.
        lots: one row per monitored lot: ``lot_id``, ``window``, ``risk``, ``risk_band``
            (``not assessable`` when the model could not judge it), ``outcome`` (NaN = not
            back), ``coverage`` (share of the model's proteins measured, 0-1),
            ``domain_score``, ``in_domain`` (as ``score`` answers it: also False when
            ``coverage`` is under 0.5).
        quarantine: lots left out with their reason and window, and the extra protein-file
            runs (``extra_run`` True: runs of no lot, counted in ``n_extra_runs``, not lots in).
        windows: per time window: lots in (= monitored + quarantined), extra runs apart,
            failed runs, outcomes, AUROC, observed vs predicted, band error rates, median
            domain score.
        overall: performance over all lots with an outcome (``performance``).
        metadata: metadata drift table; proteins: protein drift table (None without reference).
        reference: the stored reference (None for older models).
        alarm, reasons, verdict: the verdict.
        notes: what could not be judged and why.
    """

    lots: pd.DataFrame
    quarantine: pd.DataFrame
    windows: pd.DataFrame
    overall: dict[str, Any]
    metadata: pd.DataFrame | None
    proteins: pd.DataFrame | None
    reference: MonitorReference | None
    alarm: bool
    reasons: list[str]
    verdict: str
    notes: list[str] = field(default_factory=list)
    model_version: str = ""
    n_outcome_unreadable: int = 0
    checks: list[Check] = field(default_factory=list)
    n_extra_runs: int = 0

    @property
    def n_lots(self) -> int:
        """Lots in: the lot sheet's rows (monitored + quarantined lots)."""
        return len(self.lots) + len(self.quarantine) - self.n_extra_runs

    def summary(self) -> dict[str, Any]:
        """The machine-readable verdict (``DIR/monitor.json``)."""
        overall = self.overall
        drifted_proteins = (
            self.proteins.loc[self.proteins["drifted"], "protein"].tolist()
            if self.proteins is not None and not self.proteins.empty
            else []
        )
        drifted_columns = (
            self.metadata.loc[self.metadata["drifted"], "column"].tolist()
            if self.metadata is not None and not self.metadata.empty
            else []
        )
        return json_ready(
            {
                "alarm": self.alarm,
                "reasons": self.reasons,
                "verdict": self.verdict,
                "model_version": self.model_version,
                "n_lots": self.n_lots,
                "n_monitored": len(self.lots),
                "n_quarantined": len(self.quarantine) - self.n_extra_runs,
                "n_extra_runs": self.n_extra_runs,
                "n_not_assessable": int(not_assessable(self.lots).sum()),
                "n_outside_domain": int(outside_domain(self.lots).sum()),
                "n_with_outcome": int(overall["n_with_outcome"]),
                "n_outcome_not_assessable": int(overall["n_outcome_not_assessable"]),
                "n_outcome_unreadable": self.n_outcome_unreadable,
                "auroc": overall["auroc"],
                "auroc_interval": [overall["auroc_low"], overall["auroc_high"]],
                "cv_auroc_interval": (
                    [
                        self.reference.performance["auroc_low"],
                        self.reference.performance["auroc_high"],
                    ]
                    if self.reference
                    else None
                ),
                "calibration": overall["calibration"],
                "released_unstable": overall["released_unstable"],
                "held_stable": overall["held_stable"],
                "drifted_columns": drifted_columns,
                "drifted_proteins": drifted_proteins,
                "windows": self.windows.to_dict(orient="records"),
                "checks": [
                    {
                        "scope": c.scope,
                        "component": c.component,
                        "p": c.p,
                        "p_holm": c.p_holm,
                        "material": c.material,
                        "failed": c.failed,
                    }
                    for c in self.checks
                ],
                "notes": self.notes,
            }
        )

    def tracking_metrics(self) -> dict[str, float]:
        """The numbers logged to the mlflow monitoring run (NaN where not assessed)."""
        overall = self.overall
        summary = self.summary()
        return {
            "n_lots": float(self.n_lots),
            "n_with_outcome": float(overall["n_with_outcome"]),
            "n_outcome_not_assessable": float(overall["n_outcome_not_assessable"]),
            "n_not_assessable": float(summary["n_not_assessable"]),
            "n_outside_domain": float(summary["n_outside_domain"]),
            "auroc": overall["auroc"],
            "auroc_low": overall["auroc_low"],
            "auroc_high": overall["auroc_high"],
            "observed_unstable": overall["calibration"]["observed"],
            "mean_predicted_risk": overall["calibration"]["predicted"],
            "released_unstable": overall["released_unstable"],
            "held_stable": overall["held_stable"],
            "alarm": float(self.alarm),
            "n_drifted_proteins": float(len(summary["drifted_proteins"])),
            "n_drifted_columns": float(len(summary["drifted_columns"])),
        }


TABLES = {
    "lots.csv": "lots",
    "windows.csv": "windows",
    "drift_metadata.csv": "metadata",
    "drift_proteins.csv": "proteins",
    "quarantine.csv": "quarantine",
}


def monitor_paths(out: Path) -> list[Path]:
    """The files ``write_monitor`` may write into the folder ``out``."""
    return [out / "monitor.json", out / "monitor.html", *(out / name for name in TABLES)]


def write_monitor(result: MonitorResult, out: Path, page: str) -> None:
    """Write monitor.json, the page (monitor.html) and the tables into ``out``.

    They appear together, each complete, or none does (``OutputFiles``); a drift table the
    model cannot have (no stored reference) is not written.

    Raises:
        OutputError: a file could not be written (disk full, permission).
    """
    out.mkdir(parents=True, exist_ok=True)
    with OutputFiles() as outputs:
        outputs.text(out / "monitor.json", json.dumps(result.summary(), indent=2))
        outputs.text(out / "monitor.html", page)
        for name, attribute in TABLES.items():
            table = getattr(result, attribute)
            if table is not None:
                outputs.table(out / name, unit="row").write(table)


def json_ready(value: Any) -> Any:
    """Turn NaN into None and numpy scalars into Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
