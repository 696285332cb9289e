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
    from exostab.store.tracking import configure_tracking

    configure_tracking()  # the store exists, with no experiment of exostab's
    result = runner.invoke(app, ["--tracking-uri", tracking_store, "runs-page"])
    assert result.exit_code == 2, result.output
    assert "no experiment 'exostab'" in result.output and "run make train first" in result.output


def test_the_address_names_the_experiment_and_the_runs_view(tracking_store: str) -> None:
    from exostab.store.tracking import configure_tracking, ensure_experiment

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


def test_train_on_the_default_store_of_a_checkout_says_make_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No store named: the run went to ./mlruns/mlflow.db, the store `make ui` opens.

    mlflow.set_tracking_uri writes MLFLOW_TRACKING_URI during the run: the hint must not take
    that for a store the user chose."""
    import yaml

    from exostab.simulate import write_simulation

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "Makefile").write_text("ui:\n")  # a checkout
    data = write_simulation(tmp_path / "sim", n_lots=40, n_donors=8, n_proteins=100, seed=1).out
    config = tmp_path / "quick.yaml"
    quick = {
        "search": {"candidates": [{"learner": "prior"}]},
        "cv": {"n_splits": 3, "naive_gap": False, "baselines": False},
        "explain": {"n_dependence": 0, "n_waterfall": 0},
    }
    config.write_text(yaml.safe_dump(quick))
    result = runner.invoke(
        app,
        [
            "train", "--config", str(config), "--no-register",
            "--proteins", str(data / "proteins.csv"), "--lots", str(data / "lots.csv"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
    (hint,) = [line for line in result.output.splitlines() if line.startswith("Compare runs:")]
    assert hint.startswith("Compare runs: make ui → http://127.0.0.1:5000/#/experiments/")


@pytest.mark.parametrize(
    ("given", "checkout", "says_make_ui"),
    [
        (None, True, True),
        ("default", True, True),  # --tracking-uri naming the default store itself
        (None, False, False),  # installed from a wheel: no Makefile, no make ui
        ("other", True, False),
    ],
)
def test_the_compare_runs_hint_follows_the_store_the_user_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: str | None,
    checkout: bool,
    says_make_ui: bool,
) -> None:
    from exostab.cli.program import StoreChoice
    from exostab.cli.train import compare_runs_line
    from exostab.store.registry import default_store_uri

    monkeypatch.chdir(tmp_path)
    if checkout:
        (tmp_path / "Makefile").write_text("ui:\n")
    named = {"default": default_store_uri(), "other": f"sqlite:///{tmp_path / 'other.db'}"}
    monkeypatch.setattr(StoreChoice, "given", named.get(given or ""))
    store = named.get(given or "", default_store_uri())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # as mlflow.set_tracking_uri leaves it
    line = compare_runs_line("http://127.0.0.1:5000/#/experiments/1")
    if says_make_ui:
        assert line == "Compare runs: [bold]make ui[/] → http://127.0.0.1:5000/#/experiments/1"
    else:
        assert line == (
            f"Compare runs: mlflow ui --backend-store-uri {store} → "
            "http://127.0.0.1:5000/#/experiments/1"
        )
