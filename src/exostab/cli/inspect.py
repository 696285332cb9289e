"""``exostab inspect``: what exostab reads from a protein file, and how its runs map to lots."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from exostab.cli.checks import checked_scale, existing_file
from exostab.cli.options import SCALE_HELP
from exostab.cli.program import console, err_console, user_errors
from exostab.errors import ExostabError, shown


@contextlib.contextmanager
def held_warnings() -> Iterator[list[logging.LogRecord]]:
    """Hold exostab's warnings back while a command gathers findings it shows itself.

    ``inspect`` shows every finding of a file in its table; the same finding logged by the
    reader would be said twice. Pass the held records to ``release_unshown`` afterwards.
    """
    held: list[logging.LogRecord] = []

    def hold(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING and record.name.startswith("exostab"):
            held.append(record)
            return False
        return True

    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(hold)
    try:
        yield held
    finally:
        for handler in handlers:
            handler.removeFilter(hold)


def release_unshown(held: list[logging.LogRecord], findings: Sequence[str]) -> None:
    """Log the held warnings whose finding the command does not show itself."""
    for record in held:
        if not any(finding in record.getMessage() for finding in findings):
            logging.getLogger(record.name).handle(record)


@user_errors
def inspect_file(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Protein file (any supported format); or give it as --proteins.",
            show_default=False,
        ),
    ] = None,
    proteins: Annotated[
        Path | None,
        typer.Option(
            "--proteins", help="The protein file, as score and train name it.", show_default=False
        ),
    ] = None,
    lots: Annotated[
        Path | None, typer.Option("--lots", help="Lot sheet: show the run → lot mapping.")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help="Skip detection: maxquant, diann, wide, ... (see docs)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    scale: Annotated[str, typer.Option("--scale", help=SCALE_HELP)] = "raw",
    contaminants: Annotated[
        str,
        typer.Option(
            "--contaminants",
            help="Contaminant library: builtin, builtin+hpl, none, or a table of accessions.",
        ),
    ] = "builtin",
    q_value: Annotated[
        float,
        typer.Option(
            "--q-value", min=0.0, max=1.0, help="DIA-NN long report: largest q-value kept."
        ),
    ] = 0.01,
) -> None:
    """Show what exostab reads from a protein file (and how its runs map to lots)."""
    import json as json_module

    from rich.table import Table

    from exostab.io.inspection import inspection
    from exostab.io.readers import ReadOptions, read_lot_sheet_lenient, read_proteins

    if file is not None and proteins is not None and file != proteins:
        raise ExostabError(f"two protein files given ({file} and --proteins {proteins}): give one")
    file = file or proteins
    if file is None:
        raise ExostabError("give the protein file: exostab inspect FILE (or --proteins FILE)")
    existing_file(file, "protein file")
    existing_file(lots, "lot sheet")
    with held_warnings() as held, err_console.status(f"reading {file.name}"):
        matrix = read_proteins(
            file,
            format=format,
            scale=checked_scale(scale) or "raw",
            options=ReadOptions(q_value=q_value, contaminants=contaminants),
        )
        sheet_read = read_lot_sheet_lenient(lots) if lots is not None else None
    payload, problems = inspection(file, matrix, sheet_read)
    release_unshown(held, [*problems, *payload["notes"]])
    if as_json:
        print(json_module.dumps(payload))
        return
    table = Table(title=f"exostab read {file}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("format", matrix.format)
    table.add_row("runs", f"{matrix.n_runs}")
    # The reader's "dropped N …" notes say what the count is: said here, not again as notes.
    dropped = [note for note in matrix.notes if note.startswith("dropped ")]
    table.add_row(
        "protein groups",
        f"{matrix.n_groups_before} in file → {matrix.n_groups} kept ("
        + ("; ".join(dropped) or f"{matrix.n_dropped} contaminant/decoy/site-only dropped")
        + ")",
    )
    table.add_row("missing", f"{matrix.missing_fraction:.1%} of run × protein cells")
    if payload["intensity_min"] is not None:
        low, high = payload["intensity_min"], payload["intensity_max"]
        table.add_row("intensity range", f"{low:.4g} – {high:.4g}")
    table.add_row("scale", f"{matrix.scale} (declared)")  # a contradiction is a problem row
    for note in payload["notes"]:  # the reader's, then the mapping's (replicates by name)
        if note not in dropped:
            table.add_row("note", escape(note))
    if lots is not None:
        first = list(payload["run_to_lot"].items())[:10]
        mapped = "\n".join(f"{shown(run)} → {shown(lot)}" for run, lot in first)
        if len(payload["run_to_lot"]) > 10:
            mapped += f"\n… and {len(payload['run_to_lot']) - 10} more"
        table.add_row("run → lot", escape(mapped) or "(none)")
    for problem in problems[:10]:
        table.add_row("[red]problem[/]", escape(problem))
    if len(problems) > 10:
        table.add_row("[red]problem[/]", f"… and {len(problems) - 10} more")
    console.print(table)
