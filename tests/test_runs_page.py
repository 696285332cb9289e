"""``make ui`` says where to look first: the runs table's address (issue 22, item 1).

``exostab runs-page`` reads the experiment id from a real SQLite store and prints the address
of its runs table (``?workflowType=machine_learning``, the view tests/test_mlflow_ui_browser.py
finds the runs on); with no store or no experiment yet it says "run make train first" in one
line, exit code 2, and creates nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exostab.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_no_store_yet_says_train_first_and_creates_none(tracking_store: str) -> None:
    database = Path(tracking_store.removeprefix("sqlite:///"))
    result = runner.invoke(app, ["--tracking-uri", tracking_store, "runs-page"])
    assert result.exit_code == 2, result.output
    assert "run make train first" in result.output
    assert str(database) in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not database.exists() and not database.parent.exists()


def test_a_store_without_the_experiment_says_train_first(tracking_store: str) -> None:
    from exostab.tracking import configure_tracking

    configure_tracking()  # the store exists, with no experiment of exostab's
    result = runner.invoke(app, ["--tracking-uri", tracking_store, "runs-page"])
    assert result.exit_code == 2, result.output
    assert "no experiment 'exostab'" in result.output and "run make train first" in result.output


def test_the_address_names_the_experiment_and_the_runs_view(tracking_store: str) -> None:
    from exostab.tracking import configure_tracking, ensure_experiment

    configure_tracking()
    ensure_experiment("other")  # ids differ: the address must carry exostab's, not the first
    experiment_id = ensure_experiment("exostab")
    result = runner.invoke(app, ["--tracking-uri", tracking_store, "runs-page", "--port", "5123"])
    assert result.exit_code == 0, result.output
    address = f"http://127.0.0.1:5123/#/experiments/{experiment_id}?workflowType=machine_learning"
    assert result.output.strip() == f"mlflow UI, runs of experiment exostab: {address}"


def test_make_ui_prints_the_address_first_for_the_store_it_opens() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry_run = subprocess.run(
        ["make", "-n", "ui", "UI_PORT=5123"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    (page,) = [i for i, line in enumerate(dry_run) if " runs-page " in f"{line} "]
    (ui,) = [i for i, line in enumerate(dry_run) if "mlflow ui " in line]
    assert page < ui
    store = dry_run[ui].split("--backend-store-uri ")[1].split()[0]
    assert f"--tracking-uri {store} runs-page --port 5123" in dry_run[page]
