"""Where inputs come from: file content hashes and whether a lot sheet is SIMULATED."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd

from exostab.errors import ExostabError


def file_sha256(path: Path) -> str:
    """Hash a file's bytes (logged so a run or a score names exactly the files it read)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# The simulator's lot ids: SIM-L0001.
SIMULATED_LOT_ID = re.compile(r"SIM-L\d+")


def is_simulated(lot_sheet: Path) -> bool:
    """Tell whether a lot sheet was written by ``exostab simulate``.

    Either its folder's README says so, or every lot id is of the simulator's scheme
    (``SIM-L0001``): a simulated sheet copied elsewhere (the shared cases) or saved as XLSX
    stays labelled SIMULATED. The ids are those the lot-sheet reader reads (CSV, TSV, any
    encoding, XLSX, Parquet; ``Lot ID`` in any column), or, for a text sheet, the first
    field of every row of its first 64 KB. A file that cannot be read is not SIMULATED.
    """
    readme = lot_sheet.parent / "README.txt"
    try:
        if readme.exists() and "SIMULATED" in readme.read_text(errors="replace"):
            return True
        if _rows_start_simulated(Path(lot_sheet)):
            return True
        ids = _lot_ids(Path(lot_sheet))
    except (OSError, ExostabError):
        return False
    return bool(len(ids)) and bool(ids.str.fullmatch(SIMULATED_LOT_ID).all())


def _rows_start_simulated(lot_sheet: Path) -> bool:
    """Every row of a text sheet's first 64 KB starts with a simulator lot id (quick, and it
    tells a sheet the reader would refuse, with Excel's ``,,,,`` rows below the data)."""
    with lot_sheet.open("rb") as handle:
        block = handle.read(1 << 16)
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
    return bool(rows) and all(re.match(r'\s*"?' + SIMULATED_LOT_ID.pattern, row) for row in rows)


def _lot_ids(lot_sheet: Path) -> pd.Series:
    """The non-empty lot ids of a lot sheet as text, in file order (empty when it has no
    ``lot_id`` column).

    Raises:
        ExostabError: the file is not a readable table.
    """
    from exostab.io.lot_sheet_cells import LOT_ID, header_key
    from exostab.io.readers.parsing import peek
    from exostab.io.readers.streaming import lot_ids_in_file

    preview = peek(lot_sheet)
    column = next((c for c in preview.columns if header_key(c) == header_key(LOT_ID)), None)
    if column is None:
        return pd.Series([], dtype=object)
    return lot_ids_in_file(lot_sheet, preview, column).dropna().astype(str)
