"""Write output files safely: under a temporary name in their folder, renamed when complete.

A command's outputs (scores + quarantine + report, the forecast's four files, the explanation
tables and plots) are one ``OutputFiles`` group: each is written under a temporary name beside
its final one, and only when every one is complete are they fsynced and renamed, together. A
write that fails (``OSError``: disk full, permission lost, a file-size limit) ends as one
``OutputError`` naming the file, the system's reason and how many rows had been written; every
temporary file of the group is removed, so no half-written file is left under an output's
name and earlier outputs of the same names stay as they were.

An output path that is a symlink is written beside the file it points to (the link stays a
link). One that is a device or a pipe (``/dev/stdout``) is written straight into it: it has no
folder to hold a temporary file, and nothing is left behind when it refuses a write.

An output the command decides not to give after all (the scores of a batch of which no lot
could be scored) is withdrawn from its group (``OutputFiles.withdraw``): its temporary file is
removed, and when the group is published a file of that name from an earlier run is removed
too, so the folder never pairs this run's files with an earlier run's.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from exostab.errors import ExostabError

logger = logging.getLogger(__name__)


class OutputError(ExostabError):
    """An output file could not be written (the disk, the folder or a limit, not the input).

    Attributes:
        path: the output that failed.
    """

    def __init__(self, message: str, *, path: Path) -> None:
        self.path = path
        super().__init__(message, where=str(path))


def system_reason(error: OSError) -> str:
    """The operating system's words for a failed call: ``No space left on device (ENOSPC)``."""
    code = errno.errorcode.get(error.errno or 0)
    # the system's own words: pyarrow puts its words around them in ``strerror``
    reason = os.strerror(error.errno or 0) if code else error.strerror or str(error)
    reason = reason or type(error).__name__
    return f"{reason} ({code})" if code else reason


class StagedFile:
    """One output file, written under a temporary name in its folder until published.

    Attributes:
        path: the output as the user named it.
        target: the file that is replaced: ``path``, or the file a symlink ``path`` points to.
        direct: ``target`` is a device or a pipe: written in place, never renamed or removed.
        temporary: where the content is written until ``publish`` (None when ``direct``, or
            when staged with ``writes=False``: only to be withdrawn).
        withdrawn: nothing is published under ``path`` (``withdraw``).
        rows: table rows written so far (``OutputFiles.table``).
        unit: what a row is, for messages (``lot``, ``row``).
    """

    def __init__(self, path: Path, unit: str = "row", *, writes: bool = True) -> None:
        self.path = Path(path)
        self.target = self.path.resolve() if self.path.is_symlink() else self.path
        mode = self.target.stat().st_mode if self.target.exists() else None
        if mode is not None and stat.S_ISDIR(mode):
            raise OutputError("could not write it: a folder of that name is there", path=self.path)
        self.direct = mode is not None and not stat.S_ISREG(mode)
        self.temporary: Path | None = None
        self.rows = 0
        self.unit = unit
        self.withdrawn = False  # published as no file: an earlier file of the name is removed
        self.parquet: Any = None  # pyarrow ParquetWriter of a chunked Parquet table
        self.empty: pd.DataFrame | None = None  # an empty Parquet chunk, kept for its columns
        self.header_written = False
        if writes and not self.direct:
            with self.failing():
                self.target.parent.mkdir(parents=True, exist_ok=True)
                handle, name = tempfile.mkstemp(
                    dir=self.target.parent, prefix=f".{self.target.name}.", suffix=".tmp"
                )
                os.close(handle)
            self.temporary = Path(name)

    @property
    def writing(self) -> Path:
        """The path the content goes to now."""
        return self.target if self.temporary is None else self.temporary

    @contextlib.contextmanager
    def failing(self) -> Iterator[None]:
        """Turn an ``OSError`` of the block into an ``OutputError`` about this file."""
        try:
            yield
        except OSError as error:
            raise self.failure(error) from None

    def failure(self, error: OSError) -> OutputError:
        """The ``OutputError`` for a failed write of this file (``OutputFiles`` cleans up)."""
        written = f" after {self.rows:,} {self.unit}(s) had been written to it" if self.rows else ""
        if self.direct:
            left = f" ({self.target} is a device or a pipe, written in place)"
        else:
            left = (
                "; the partial file was removed (a file of that name from before stays as it was)"
            )
        return OutputError(
            f"could not write it: {system_reason(error)}{written}{left}", path=self.path
        )

    def write_table(self, frame: pd.DataFrame) -> None:
        """Append rows: CSV (header once) or a chunk of a Parquet file."""
        with self.failing():
            if self.target.suffix.lower() == ".parquet":
                self._write_parquet(frame)
            else:
                frame.to_csv(
                    self.writing,
                    mode="a" if self.header_written else "w",
                    header=not self.header_written,
                    index=False,
                )
                self.header_written = True
        self.rows += len(frame)

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            # An empty chunk has no column types yet: keep it only in case nothing else comes.
            self.empty = frame if self.empty is None else self.empty
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.parquet is None:
            self.parquet = pq.ParquetWriter(self.writing, table.schema)
        self.parquet.write_table(table.cast(self.parquet.schema))

    def close(self) -> None:
        """Finish the content (Parquet footer, an empty table's schema)."""
        if self.withdrawn:
            return
        with self.failing():
            if self.parquet is not None:
                writer, self.parquet = self.parquet, None
                writer.close()
            elif self.empty is not None:
                self.empty.to_parquet(self.writing, index=False)

    def flush(self) -> None:
        """Put the content on disk (fsync) with mode 0644 (mkstemp creates 0600)."""
        if self.temporary is None or self.withdrawn:
            return
        with self.failing():
            with self.temporary.open("rb") as written:
                os.fsync(written.fileno())
            os.chmod(self.temporary, 0o644)

    def publish(self) -> None:
        """Give the content its final name (one atomic rename in the same folder); a
        withdrawn output removes the file of that name instead, if there is one."""
        if self.withdrawn:
            if self.removable:
                with self.failing():
                    self.path.unlink(missing_ok=True)
            return
        if self.temporary is not None:
            with self.failing():
                os.replace(self.temporary, self.target)
            self.temporary = None

    def withdraw(self) -> None:
        """Give up the content: nothing is published under this name (see ``publish``).

        A device or a pipe keeps what was written to it: it cannot be taken back.
        """
        self.discard()
        self.withdrawn = True

    @property
    def removable(self) -> bool:
        """An earlier output under ``path`` that a withdrawn output removes: a regular file
        named by ``path`` itself. A symlink is left as it is, and so is what it points to (a
        user's file elsewhere, or the file a shell redirects ``/dev/stdout`` to)."""
        return not self.path.is_symlink() and self.path.is_file()

    def discard(self) -> None:
        """Remove the temporary file (the final name keeps whatever it had)."""
        if self.parquet is not None:
            with contextlib.suppress(Exception):
                self.parquet.close()
            self.parquet = None
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)
            self.temporary = None


class TableOutput:
    """A table output of an ``OutputFiles`` group: append DataFrame chunks with ``write``."""

    def __init__(self, staged: StagedFile) -> None:
        self.staged = staged

    def write(self, frame: pd.DataFrame) -> None:
        self.staged.write_table(frame)

    @property
    def rows(self) -> int:
        """Rows written so far."""
        return self.staged.rows


class OutputFiles:
    """The output files of one command: all of them complete, or none of them.

    Use as a context manager; ``table``, ``text`` and ``file`` stage an output. When the block
    ends without an exception every staged file is closed and fsynced, then renamed to its
    final name; otherwise (or when one of those steps fails) every temporary file is removed.
    """

    def __init__(self) -> None:
        self.staged: list[StagedFile] = []

    def __enter__(self) -> OutputFiles:
        return self

    def stage(self, path: Path, unit: str = "row") -> StagedFile:
        staged = StagedFile(path, unit)
        self.staged.append(staged)
        return staged

    def table(self, path: Path, unit: str = "row") -> TableOutput:
        """Stage a CSV or Parquet table (by its suffix), written in chunks."""
        return TableOutput(self.stage(path, unit))

    def text(self, path: Path, text: str) -> None:
        """Stage a text file (UTF-8)."""
        staged = self.stage(path)
        with staged.failing():
            staged.writing.write_text(text, encoding="utf-8")

    def withdraw(self, path: Path) -> bool:
        """Take ``path`` out of the group's outputs: it is not written, and when the group is
        published a regular file of that name from before is removed (a symlink, a device or
        a pipe is left as it is, and so is what a symlink points to). ``path`` need not have
        been staged.

        Returns:
            whether an earlier file of that name is there to remove (it goes when the group is
            published).

        Raises:
            OutputError: ``path`` is a folder.
        """
        staged = next((s for s in self.staged if s.path == Path(path)), None)
        if staged is None:
            staged = StagedFile(path, writes=False)
            self.staged.append(staged)
        staged.withdraw()
        return staged.removable

    @contextlib.contextmanager
    def file(self, path: Path) -> Iterator[Path]:
        """Stage a file that a library writes itself: yields the path to write to."""
        staged = self.stage(path)
        with staged.failing():
            yield staged.writing

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        published: list[Path] = []
        try:
            if kind is None:
                for staged in self.staged:
                    staged.close()
                for staged in self.staged:
                    staged.flush()
                for staged in self.staged:
                    staged.publish()
                    published.append(staged.path)
        except OutputError as failed:
            raise self.said_whole(failed, published) from None
        finally:
            for staged in self.staged:
                staged.discard()  # nothing is left to remove once published
        if isinstance(error, OutputError):
            raise self.said_whole(error, published) from None

    def said_whole(self, error: OutputError, published: list[Path]) -> OutputError:
        """The error with what became of the group's other outputs."""
        others = [
            staged.path
            for staged in self.staged
            if staged.path != error.path and not staged.direct and not staged.withdrawn
        ]
        kept = [path.name for path in others if path in published]
        lost = [path.name for path in others if path not in published]
        message = str(error).removeprefix(f"{error.path}: ")
        if lost:
            message += f"; not written either: {', '.join(lost)}"
        if kept:
            message += f"; already written in full: {', '.join(kept)}"
        logger.info("%s: removed the temporary files of its group", error.path)
        return OutputError(message, path=error.path)


class AtomicTableWriter:
    """One table output on its own: a CSV or Parquet file that appears only when complete.

    The same as an ``OutputFiles`` group of one ``table``.
    """

    def __init__(self, path: Path, unit: str = "row", *, writes: bool = True) -> None:
        self.path = Path(path)
        self.unit = unit
        self._outputs = OutputFiles()

    def __enter__(self) -> AtomicTableWriter:
        self._table = self._outputs.__enter__().table(self.path, self.unit)
        return self

    def write(self, frame: pd.DataFrame) -> None:
        self._table.write(frame)

    @property
    def rows(self) -> int:
        return self._table.rows

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._outputs.__exit__(kind, error, trace)


def write_text(path: Path, text: str) -> None:
    """Write one text file atomically (``OutputError`` when it cannot be written)."""
    with OutputFiles() as outputs:
        outputs.text(path, text)
