"""Write output tables safely: chunk by chunk into a temp file, then one atomic rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd


class AtomicTableWriter:
    """Append DataFrame chunks to a CSV or Parquet file that appears only when complete.

    The temp file lives in the target folder (so ``os.replace`` is atomic), is fsynced, and
    gets mode 0644 (mkstemp creates 0600). On an exception the temp file is removed and any
    earlier output stays as it was.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.parquet = self.path.suffix.lower() == ".parquet"
        self._writer: Any = None
        self._empty: pd.DataFrame | None = None
        self._header_written = False

    def __enter__(self) -> AtomicTableWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        os.close(handle)
        self.temporary = Path(name)
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet and frame.empty:
            # An empty chunk has no column types yet: keep it only in case nothing else comes.
            self._empty = frame if self._empty is None else self._empty
            return
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.temporary, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
        else:
            frame.to_csv(self.temporary, mode="a", header=not self._header_written, index=False)
            self._header_written = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                if self.parquet and self._writer is None and self._empty is not None:
                    self._empty.to_parquet(self.temporary, index=False)
                if self._writer is not None:
                    self._writer.close()
                with self.temporary.open("rb") as written:
                    os.fsync(written.fileno())
                os.chmod(self.temporary, 0o644)
                os.replace(self.temporary, self.path)
        finally:
            if self._writer is not None and kind is not None:
                self._writer.close()
            self.temporary.unlink(missing_ok=True)
