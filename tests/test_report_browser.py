"""The batch report in a real browser: headless Chromium, no console error, a screenshot kept.

The screenshot is a test artefact for people to look at: under pytest's tmp dir and copied to
``out/test-artifacts/report.png`` (gitignored). With ``EXOSTAB_DOC_SCREENSHOTS=1`` (``make
docs-screenshots``) it is also copied to ``docs/images/batch-report.png``, the manual's figure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exostab.model.bundle import ModelBundle
from exostab.pages.report import batch_report, lot_trends_section
from exostab.training.nested_cv import train_model

ARTIFACTS = Path(__file__).resolve().parents[1] / "out" / "test-artifacts"
DOC_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1280,3000",
    "--hide-scrollbars",
]
# The report's one script sorts the lot table. This probe, appended to a copy, turns what a reader
# would see as broken (an image that does not decode, a page error) into console messages.
PROBE = """<script>
window.addEventListener("error", function (e) {
  console.error("page error: " + (e.message || (e.target && e.target.src || "").slice(0, 60)));
}, true);
window.addEventListener("load", function () {
  document.querySelectorAll("img").forEach(function (img, i) {
    if (!img.complete || img.naturalWidth === 0) console.error("image " + i + " did not load");
  });
});
</script>"""
CONSOLE = re.compile(r"CONSOLE[^\]]*\] (.*)")


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    return found


def open_in_chromium(page: Path, screenshot: Path, scratch: Path) -> list[str]:
    """Open ``page`` in headless Chromium, save a screenshot, return its console messages."""
    probed = scratch / f"probed_{page.name}"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    completed = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={scratch / 'chromium-profile'}",
            f"--screenshot={screenshot}",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return [m.group(1) for m in CONSOLE.finditer(completed.stderr)]


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory, planted, fast_config) -> Path:
    """A batch report of the planted lots, drivers, figures, a quarantine and a model card."""
    result = train_model(planted, fast_config, {})
    bundle = ModelBundle.from_training(result, simulated_training=True)
    table = planted.X.reset_index()
    table.iloc[:3, 3:-5] = np.nan  # three lots measured almost nothing: not assessable
    scores = bundle.predict(table, with_drivers=True)
    sheet = planted.X[["passage"]].assign(donor_id=planted.groups)
    quarantine = pd.DataFrame({"lot_id": ["L9999"], "reason": ["no protein profile"]})
    trends = lot_trends_section(scores, sheet, bundle.bands.threshold, bundle.bands.low)
    html = batch_report(
        scores,
        quarantine,
        {"model": "models:/exostab/1", "model trained on": "SIMULATED lots"},
        trends=trends,
        threshold=bundle.bands.threshold,
        low=bundle.bands.low,
        sheet=sheet,
        model_card="# Model card\n\n## Data\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    )
    page = tmp_path_factory.mktemp("report") / "report.html"
    page.write_text(html)
    return page


def test_report_is_self_contained_and_explains_itself(report_page: Path) -> None:
    html = report_page.read_text()
    assert "0 not assessable" not in html  # the three thinned lots are
    assert not re.search(r"""(src|href)=["'](?!data:)""", html), "external resource"
    assert html.count("data:image/png;base64,") >= 4  # 3 figures + lot trends
    for words in (
        "How to read this report",
        "cost ratio",
        "not assessable",
        "log-odds",
        "log2",
        "domain score",
        "risk against passage",
        "driver frequency",
        "<table>",  # the model card's table rendered
        "not assessable</span> the model",
    ):
        assert words in html, words


def test_report_opens_in_chromium_without_console_errors(report_page: Path, tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    messages = open_in_chromium(report_page, screenshot, tmp_path)
    assert screenshot.exists() and screenshot.stat().st_size > 10_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / "report.png")
    if os.environ.get("EXOSTAB_DOC_SCREENSHOTS") == "1":
        shutil.copy(screenshot, DOC_IMAGES / "batch-report.png")
    assert messages == [], messages


def test_the_browser_check_catches_a_broken_page(tmp_path: Path) -> None:
    """The check can fail: a broken image and a script error both reach the console."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        '</head><body><img alt="x" src="data:image/png;base64,AAAA">'
        "<script>undefinedFunction()</script></body></html>"
    )
    messages = open_in_chromium(page, tmp_path / "broken.png", tmp_path)
    assert any("image 0 did not load" in m for m in messages), messages
    assert any("undefinedFunction" in m for m in messages), messages
