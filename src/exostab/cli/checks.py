"""Checks a command makes before it works: inputs exist, outputs can be written and overwrite
nothing, ``--scale`` is raw or log2; and the warning for a model that did not pass the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from exostab.cli.program import err_console
from exostab.errors import ExostabError

if TYPE_CHECKING:  # heavy imports stay out of `exostab --help`
    from exostab.model.bundle import ModelBundle
    from exostab.scoring.serving import ServerPlan


def existing_file(path: Path | None, what: str) -> Path | None:
    """Check that a path given on the command line exists, with a clear message if not."""
    if path is not None and not path.exists():
        raise ExostabError(f"{what} not found", where=str(path))
    if path is not None and path.is_dir():
        raise ExostabError(f"{what} is a folder, not a file", where=str(path))
    return path


def refuse_overwriting(inputs: dict[str, Path], outputs: Sequence[Path | None]) -> None:
    """Refuse an output path that is an input or another output (nothing may be overwritten).

    Args:
        inputs: what → input path (``protein file``, ``lot sheet``).
        outputs: every file the command will write (None = not written).

    Raises:
        ExostabError: naming the output and what it would overwrite.
    """
    seen: dict[Path, str] = {given.resolve(): f"the {what}" for what, given in inputs.items()}
    for output in outputs:
        if output is None:
            continue
        resolved = output.resolve()
        if resolved in seen:
            raise ExostabError(
                f"this output would overwrite {seen[resolved]}; choose another --out/--report",
                where=str(output),
            )
        seen[resolved] = "another output of this command"


def refuse_unwritable(files: Sequence[Path | None] = (), folders: Sequence[Path] = ()) -> None:
    """Refuse, before any work is done, an output path that cannot be created.

    A file output must not be a folder, a folder output not a file, and neither may sit under
    a path that is a file (``--out notes.txt/scores.csv``): said in one line, not as an
    ``OSError`` after the lots were read and scored.

    Args:
        files: every file the command will write (None = not written).
        folders: every folder the command will write into.

    Raises:
        ExostabError: naming the output and what is in the way.
    """
    wanted = [(given, False) for given in files if given is not None]
    wanted += [(given, True) for given in folders]
    for given, folder in wanted:
        if folder and given.exists() and not given.is_dir():
            raise ExostabError("--out must be a folder, but this is a file", where=str(given))
        if not folder and given.is_dir():
            raise ExostabError("this output is a folder; give a file name", where=str(given))
        parent = given.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise ExostabError(
                f"cannot create this output: {parent} is a file, not a folder", where=str(given)
            )


def warn_if_ungated(bundle: ModelBundle | ServerPlan, uri: str) -> None:
    """Say so when the model did not pass the training gate (its risks may not beat passage)."""
    if bundle.gate_passed is False:
        err_console.print(
            f"[bold yellow]warning:[/] {escape(uri)} (version {bundle.model_version}) did not "
            "pass the gate at training: its risks were not shown to beat passage alone",
            highlight=False,
            soft_wrap=True,
        )


def checked_scale(scale: str | None) -> str | None:
    """Refuse a --scale other than raw or log2 (None = the default of the command)."""
    if scale is not None and scale not in ("raw", "log2"):
        raise ExostabError(f"--scale must be raw or log2, not {scale!r}")
    return scale
