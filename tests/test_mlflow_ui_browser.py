"""The mlflow UI as a comparison tool, in a real browser (issue 22, item 1).

Two trainings on SIMULATED lots go into a temporary SQLite store; ``mlflow ui`` (as ``make ui``
starts it) serves that store on a random loopback port, and headless Chromium opens the
experiment page at the address the manual gives: the runs table must show both run names, not
mlflow's GenAI view (Traces, "Detect Issues"). mlflow 3.17's UI chooses its view from a switch
kept in the browser (GenAI by default) or from ``?workflowType=machine_learning`` in the
address; the experiment's ``mlflow.experimentKind`` tag alone does not decide it.

The screenshot is kept in ``out/test-artifacts/mlflow-runs.png``; with
``EXOSTAB_DOC_SCREENSHOTS=1`` (``make docs-screenshots``) also in ``docs/images/`` for
``docs/tutorials/comparing-runs.md``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, train_two_runs
from exostab.config import TrainConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "out" / "test-artifacts"
DOC_IMAGES = REPO / "docs" / "images"
# the address docs/tutorials/comparing-runs.md gives for an experiment's runs
RUNS_PAGE = "http://127.0.0.1:{port}/#/experiments/{experiment}?workflowType=machine_learning"


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    return found


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, fast_config: TrainConfig):
    """Two trainings on different SIMULATED data in one temporary store (run names, ids)."""
    root = tmp_path_factory.mktemp("ui")
    store, outcomes = train_two_runs(root, fast_config)
    experiment = outcomes[0].experiment_id  # the id in the address `exostab train` prints
    assert experiment is not None and outcomes[1].experiment_id == experiment
    return {"root": root, "store": store, "experiment": experiment, "runs": outcomes}


def browse(url: str, scratch: Path, *flags: str) -> str:
    """Open ``url`` in headless Chromium, letting the page's scripts run; return stdout."""
    completed = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1400,800", f"--user-data-dir={scratch}",
         "--virtual-time-budget=30000", *flags, url],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def test_the_experiment_page_shows_the_runs_table(two_runs, tmp_path: Path) -> None:
    chromium()
    port = free_port()
    log = tmp_path / "ui.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "ui", "--backend-store-uri",
             two_runs["store"], "--host", "127.0.0.1", "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
        url = RUNS_PAGE.format(port=port, experiment=two_runs["experiment"])
        page = browse(url, tmp_path / "profile", "--dump-dom")
        screenshot = tmp_path / "mlflow-runs.png"
        browse(url, tmp_path / "profile-shot", f"--screenshot={screenshot}")
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=30)
    for outcome in two_runs["runs"]:
        assert outcome.run_name in page, outcome.run_name  # a row of the runs table
    assert "Detect Issues" not in page  # the GenAI overview's pop-up
    assert screenshot.stat().st_size > 10_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / "mlflow-runs.png")
    if os.environ.get("EXOSTAB_DOC_SCREENSHOTS") == "1":
        shutil.copy(screenshot, DOC_IMAGES / "mlflow-runs.png")
