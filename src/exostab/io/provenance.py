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
    from exostab.io.readers.parsing import text_encoding

    # Decoded as the readers decode it (Excel's "Unicode text" is UTF-16): read as UTF-8, no
    # line of a UTF-16 sheet would start with a simulator lot id.
    encoding = text_encoding(block, final=len(block) < 1 << 16)
    text = block.decode(encoding, errors="replace")
    lines = text.splitlines()[1:]
    if len(block) == 1 << 16:
        lines = lines[:-1]  # the last line may be cut
    # Rows of only separators (Excel's ",,,,," below the data) are blank rows, as the readers
    # treat them, not lots with another id scheme.
    rows = [line for line in lines if line.strip(' \t,;"\ufeff')]
    return bool(rows) and all(SIMULATED_LOT_ID.match(line) for line in rows)
