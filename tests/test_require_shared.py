"""EXOSTAB_REQUIRE_SHARED=1 turns a skip for want of ../shared into a failed run (CI sets it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SKIPPING = """
import pytest

def test_case() -> None:
    pytest.skip("/nowhere/shared/cases/some-case is absent")

def test_other() -> None:
    pytest.skip("chromium is not installed")
"""


@pytest.mark.parametrize(("require", "expected"), [("1", 1), ("0", 0)])
def test_a_skip_for_want_of_shared_fails_only_when_required(
    tmp_path: Path, require: str, expected: int
) -> None:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={"EXOSTAB_REQUIRE_SHARED": require, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == expected, result.stdout + result.stderr
    assert "2 skipped" in result.stdout
    said = "1 test(s) skipped for want of ../shared" in result.stdout
    assert said == (require == "1")
