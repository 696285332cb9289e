"""Real tier: model honesty on the cases in ../shared/cases/ (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exostab.cli import app

SHARED = Path(__file__).resolve().parents[2] / "shared"
CASE = SHARED / "cases" / "ten-lots-no-signal"
MAXQUANT_10 = SHARED / "fixtures" / "proteomics-formats" / "maxquant"
MAXQUANT_10 = MAXQUANT_10 / "proteinGroups_10samples.txt"

pytestmark = pytest.mark.skipif(
    not (CASE.is_dir() and MAXQUANT_10.exists()), reason="../shared/cases or fixtures absent"
)


def test_ten_lots_without_signal_make_no_champion(tmp_path: Path, tracking_store: str) -> None:
    """10 lots of 5 donors with made-up labels: honest CV, a clear warning, no champion."""
    summary = tmp_path / "summary.json"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--proteins", str(MAXQUANT_10),
            "--lots", str(CASE / "lots.csv"),
            "--summary", str(summary),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(summary.read_text())
    assert payload["cv_roc_auc"] <= 0.6
    assert "champion" not in payload["aliases"]
    assert not payload["champion_eligible"]
    output = " ".join(result.output.split())
    assert "10 lots of 5 donors are too few" in output
    # "treat every number below as unreliable": the CV metrics and baselines come after it
    assert output.index("are too few") < output.index("Donor-grouped CV")
    assert "verdict: not champion" in output or "not registered" in output
    # the summary's path, and the store the runs went to (not the project's `make ui` store)
    assert f"Run summary (JSON): {summary}" in output
    assert f"mlflow ui --backend-store-uri {tracking_store}" in output
