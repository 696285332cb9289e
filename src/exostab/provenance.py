"""Where inputs come from: file content hashes and whether a lot sheet is SIMULATED."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path


def file_sha256(path: Path) -> str:
    """Hash a file's bytes (logged so a run or a score names exactly the files it read)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


SIMULATED_LOT_ID = re.compile(r'^\s*"?SIM-L\d+')


def is_simulated(lot_sheet: Path) -> bool:
    """Tell whether a lot sheet was written by ``exostab simulate``.

    Either its folder's README says so, or every row of its first 64 KB starts with a lot id
    of the simulator's scheme (``SIM-L0001``): a simulated sheet copied elsewhere (the shared
    cases) stays labelled SIMULATED.
    """
    readme = lot_sheet.parent / "README.txt"
    if readme.exists() and "SIMULATED" in readme.read_text(errors="replace"):
        return True
    try:
        with lot_sheet.open("rb") as handle:
            block = handle.read(1 << 16)
    except OSError:
        return False
    lines = block.decode("utf-8", errors="replace").splitlines()[1:]
    if len(block) == 1 << 16:
        lines = lines[:-1]  # the last line may be cut
    rows = [line for line in lines if line.strip()]
    return bool(rows) and all(SIMULATED_LOT_ID.match(line) for line in rows)
