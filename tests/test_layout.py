"""The house's layout holds: stages import only downward, no import cycles, every part placed.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``); this test runs them in CI and
checks that no top-level module or package of ``exostab`` is left out of the layers (a new module
outside the contract would be unchecked).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import exostab

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(exostab.__file__).resolve().parent


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_top_level_part_stands_in_a_layer() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["type"] == "layers")["layers"]
    placed = {
        name.strip().removeprefix("exostab.") for layer in layers for name in layer.split("|")
    }
    parts = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert parts - placed == set(), f"not in any layer of [tool.importlinter]: {parts - placed}"
