"""Integration tier: the wheel installs like a package and works outside the checkout (issue 21).

The project is copied (sources, configs and the package-data link, nothing else), built into a
wheel with ``uv build``, installed into a new virtualenv (``uv venv``, the wheel's own
dependencies only), and ``exostab`` is run from a temporary folder that is not the checkout:
``--help``, ``simulate`` (default configs from package data) and ``train`` into the store given
by ``--tracking-uri``, then ``score`` with the model it registered.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# what the wheel is built from; everything else in a checkout (.venv, mlruns, data) stays out
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "src", "configs")


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its last output lines when it fails."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fresh virtualenv with exostab installed from its wheel; the wheel file."""
    if shutil.which("uv", path=str(BIN)) is None:
        pytest.skip(f"uv is not installed next to {sys.executable} (pip install -e '.[dev]')")
    uv = str(BIN / "uv")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, symlinks=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
            )  # fmt: skip
        elif (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run([uv, "build", "--wheel", "--out-dir", str(root / "dist"), str(source)], root, env)
    wheel = next((root / "dist").glob("exostab-*.whl"))
    venv = root / "venv"
    run([uv, "venv", "--python", sys.executable, str(venv)], root, env)
    run([uv, "pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)], root, env)
    return {"venv": venv, "wheel": wheel, "root": root}


def test_the_wheel_holds_the_default_configs_and_templates(installed) -> None:
    import zipfile

    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for name in ("train.yaml", "vocabulary.yaml", "panels.yaml", "simulate.yaml"):
        assert f"exostab/configs/{name}" in names
    assert "exostab/scoring/pyfunc_model.py" in names
    assert any(n.startswith("exostab/pages/templates/") for n in names)


def test_the_installed_exostab_trains_and_scores_outside_the_checkout(
    installed, tmp_path: Path
) -> None:
    work = tmp_path / "elsewhere"  # not the checkout, not below it
    work.mkdir()
    assert REPO not in work.parents
    exostab = str(installed["venv"] / "bin" / "exostab")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env["PATH"] = f"{installed['venv'] / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    assert "score" in run([exostab, "--help"], work, env).stdout
    # the installed package, not the checkout's sources
    where = run([str(installed["venv"] / "bin" / "python"), "-c",
                 "import exostab; print(exostab.__file__)"], work, env).stdout  # fmt: skip
    assert str(installed["venv"]) in where and str(REPO) not in where
    run([exostab, "simulate", "--out", "sim", "--lots", "80", "--donors", "10",
         "--proteins", "150", "--scenario", "holdout"], work, env)  # fmt: skip
    assert "SIMULATED" in (work / "sim" / "README.txt").read_text()
    store = tmp_path / "store" / "mlflow.db"
    run([exostab, "--tracking-uri", f"sqlite:///{store}", "train",
         "--proteins", "sim/train/proteins.csv", "--lots", "sim/train/lots.csv",
         "--summary", "summary.json"], work, env)  # fmt: skip
    summary = json.loads((work / "summary.json").read_text())
    assert summary["model_version"] == "1"
    with sqlite3.connect(store) as database:
        runs = database.execute("select run_uuid from runs").fetchall()
    assert [summary["run_id"]] == [r[0] for r in runs]
    assert not (work / "mlruns").exists()  # the store is where the user said, nothing here
    run([exostab, "--tracking-uri", f"sqlite:///{store}", "score",
         "--proteins", "sim/test/proteins.csv", "--lots", "sim/test/lots.csv",
         "--out", "scores.csv", "--model", f"models:/{summary['model_name']}/1"],
        work, env)  # fmt: skip
    scores = pd.read_csv(work / "scores.csv")
    quarantine = pd.read_csv(work / "scores.quarantine.csv")
    sheet = pd.read_csv(work / "sim" / "test" / "lots.csv", comment="#")
    assert len(scores) + len(quarantine) == len(sheet) and scores["risk"].between(0, 1).all()
