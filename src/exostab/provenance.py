"""Where inputs come from: file content hashes and whether a lot sheet is SIMULATED."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """Hash a file's bytes (logged so a run or a score names exactly the files it read)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_simulated(lot_sheet: Path) -> bool:
    """Tell whether a lot sheet was written by ``exostab simulate`` (its README says so)."""
    readme = lot_sheet.parent / "README.txt"
    return readme.exists() and "SIMULATED" in readme.read_text(errors="replace")
