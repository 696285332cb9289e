"""The exostab command line: one Typer app; the only place that configures logging.

Each command parses options, calls one stage function and prints the user-facing summary.
User errors (``ExostabError``) become one short message on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import typer.core
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from exostab.config import work_folder
from exostab.errors import ExostabError, shown

if TYPE_CHECKING:  # heavy imports stay out of `exostab --help`
    import pandas as pd

    from exostab.model.bundle import ModelBundle


class FlagHelp:
    """Show a flag in ``--help`` as a flag: its name and help, no value type beside it.

    Typer's rich help panel prints every option's type, flags included (``--track <bool>``,
    ``--help <bool>``), though a flag takes no value; its plain help leaves flags out. The
    type column is left empty for flags (an empty metavar) while the help is drawn.
    """

    def format_help(self, ctx: Any, formatter: Any) -> None:
        params = self.get_params(ctx)  # type: ignore[attr-defined]
        flags = [p for p in params if getattr(p, "is_flag", False) and p.metavar is None]
        for flag in flags:
            flag.metavar = ""
        try:
            super().format_help(ctx, formatter)  # type: ignore[misc]
        finally:
            for flag in flags:
                flag.metavar = None


class ExostabCommand(FlagHelp, typer.core.TyperCommand):
    """An exostab command: flags shown as flags in its ``--help``."""


class ExostabGroup(FlagHelp, typer.core.TyperGroup):
    """The exostab command group: flags shown as flags in ``exostab --help``."""


class ExostabTyper(typer.Typer):
    """A Typer app whose commands show flags as flags in ``--help`` (``ExostabCommand``)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:  # type: ignore[override]
        kwargs.setdefault("cls", ExostabCommand)
        return super().command(*args, **kwargs)


app = ExostabTyper(
    cls=ExostabGroup,
    help=(
        "exostab: risk of unstable immunomodulatory potency for MSC-exosome lots, from "
        "proteomics profiles and passage metadata. Built-in data are SIMULATED."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
# Lines are not cut at the console's width: a pipe or log file (80 columns to rich) would get
# a summary line broken mid-number; a terminal wraps them itself. Tables still fit the width.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def print_version(value: bool) -> None:
    """Print the installed version and stop (``--version``)."""
    if value:
        from importlib.metadata import version

        console.print(f"exostab {version('exostab')}")
        raise typer.Exit()


class StoreChoice:
    """The store the user named for this command: ``--tracking-uri``, or MLFLOW_TRACKING_URI
    as it was when the command started; None = the default store (``mlruns/mlflow.db``)."""

    given: str | None = None


def compare_runs_line(runs_page: str) -> str:
    """The hint ``train`` ends with: where to see its run beside the others.

    ``make ui`` opens the default store of a checkout (its Makefile's ``mlruns/mlflow.db``);
    any other store, or no checkout (installed from a wheel), gets the ``mlflow ui`` command
    for that store.
    """
    from exostab.store.registry import default_store_uri, store_uri

    default = StoreChoice.given in (None, default_store_uri())
    if default and (work_folder() / "Makefile").is_file():
        return f"Compare runs: [bold]make ui[/] → {runs_page}"
    return f"Compare runs: mlflow ui --backend-store-uri {escape(store_uri())} → {runs_page}"


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log decisions and sizes.")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=print_version, is_eager=True
        ),
    ] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            envvar="MLFLOW_TRACKING_URI",
            help="mlflow store (runs, models, registry). Default: the SQLite file "
            "mlruns/mlflow.db in the working folder.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Configure logging and the mlflow store once for every command."""
    # What the user named, before any stage writes MLFLOW_TRACKING_URI itself
    # (mlflow.set_tracking_uri does): the store a command's hints must name.
    StoreChoice.given = tracking_uri or None
    if tracking_uri:  # every stage reads the store from here (registry.store_uri)
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    # pandera imports pyspark.pandas whenever the [spark] extra is installed; its pandas-3
    # warning says nothing about exostab's own use of Spark (plain DataFrames, spark_udf).
    warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
    # CV folds run in worker processes, which start with Python's default warning filters:
    # hand them the same quiet ones through the environment.
    quiet = (
        "ignore:PySpark does not yet fully support:FutureWarning",
        "ignore::UserWarning:sklearn.model_selection._split",
    )
    if not verbose:
        inherited = os.environ.get("PYTHONWARNINGS", "")
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [inherited, *quiet]))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )
    for noisy in ("mlflow", "alembic", "urllib3", "git", "matplotlib", "shap", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)
    # Library warnings (sklearn, shap, mlflow) go to logging, shown with --verbose only: a user
    # should not read library file paths; exostab says what matters through its own log.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)


def user_errors(command: F) -> F:
    """Turn ExostabError into one short message and exit code 2 (no traceback).

    An ``OSError`` that no stage turned into one (a file the system refuses to read or
    write: permission, disk full) is said the same way, with the file and the system's reason.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ExostabError as error:
            err_console.print(
                f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=error.exit_code) from None
        except OSError as error:
            from exostab.io.writers import system_reason

            where = f"{error.filename}: " if error.filename is not None else ""
            err_console.print(
                f"[bold red]error:[/] {escape(where + system_reason(error))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(code=ExostabError.exit_code) from None

    return wrapper  # type: ignore[return-value]


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


def warn_if_ungated(bundle: ModelBundle, uri: str) -> None:
    """Say so when the model did not pass the training gate (its risks may not beat passage)."""
    if bundle.gate_passed is False:
        err_console.print(
            f"[bold yellow]warning:[/] {escape(uri)} (version {bundle.model_version}) did not "
            "pass the gate at training: its risks were not shown to beat passage alone",
            highlight=False,
            soft_wrap=True,
        )


# Under the working folder, as the store: `make train` in a checkout writes data/simulated/ there.
DEFAULT_DATA = Path("data") / "simulated"
SCALE_HELP = (
    "Scale of the protein values: raw (intensities; 0 = not quantified) or log2 (already "
    "log2: Perseus exports, log2 ratios such as CPTAC's; negative values allowed)."
)


def checked_scale(scale: str | None) -> str | None:
    """Refuse a --scale other than raw or log2 (None = the default of the command)."""
    if scale is not None and scale not in ("raw", "log2"):
        raise ExostabError(f"--scale must be raw or log2, not {scale!r}")
    return scale


def default_simulated_data() -> tuple[Path, Path]:
    """Return the built-in SIMULATED training lots, generating them when absent.

    The built-in set is the ``builtin`` scenario: about 250 training lots in
    data/simulated/train/ and lots of new donors from the same simulated world in
    data/simulated/test/ (what ``make score`` scores); half of those new donors are young
    banks, measured at passages 2-5 only, which ``exostab forecast`` forecasts ahead.
    """
    from exostab.simulate import write_simulation

    folder = DEFAULT_DATA
    train_dir = work_folder() / folder / "train"
    proteins, lots = train_dir / "proteins.csv", train_dir / "lots.csv"
    if not (proteins.exists() and lots.exists()):
        console.print(f"No input given: generating the built-in SIMULATED lots into {folder}/")
        write_simulation(work_folder() / folder, scenario="builtin", n_lots=310, n_donors=31)
    console.print(f"No input given: training on the SIMULATED lots in {folder}/train/")
    return proteins, lots


@app.command()
@user_errors
def train(
    config: Annotated[
        Path | None, typer.Option(help="Training config (YAML). Default: configs/train.yaml.")
    ] = None,
    proteins: Annotated[
        Path | None,
        typer.Option(
            help="Protein table or search-engine output. Default: built-in SIMULATED lots."
        ),
    ] = None,
    lots: Annotated[
        Path | None, typer.Option(help="Lot sheet (CSV, TSV, Parquet, XLSX) with the label column.")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help="Force the protein file format (default: detect)."),
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Label column (0/1). Default: the config's (unstable).")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            help="CV group column: no group on both sides of a fold. "
            "Default: the config's (donor_id)."
        ),
    ] = None,
    experiment: Annotated[
        str | None, typer.Option(help="mlflow experiment name. Default: the config's (exostab).")
    ] = None,
    run_name: Annotated[
        str | None,
        typer.Option(
            help="mlflow run name. Default: the lots and the learner, e.g. "
            "'80 lots · trees' ('· SIMULATED' added for SIMULATED lots)."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Random seed (CV folds, LightGBM). Default: the config's (7).",
            min=0,
            max=2**32 - 1,
        ),
    ] = None,
    summary: Annotated[
        Path | None, typer.Option(help="Write a JSON summary of the run to this path.")
    ] = None,
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register",
            help="Register a model version (moves the challenger alias, maybe champion). "
            "--no-register for experiments: the run is logged, the registry is untouched.",
        ),
    ] = True,
    model_name: Annotated[
        str | None,
        typer.Option(
            "--model-name",
            help="Registered model name. Default: the config's (exostab); a model trained on "
            "other data (another label, scale or protein space) goes under a name of its own "
            "(e.g. exostab-heart-lfq) and never moves exostab's aliases.",
        ),
    ] = None,
    scale: Annotated[
        str | None, typer.Option("--scale", help=SCALE_HELP + " Default: config (raw).")
    ] = None,
    dayfirst: Annotated[
        bool | None,
        typer.Option(
            "--dayfirst/--no-dayfirst",
            help="Dates of cv.time_column are dd/mm/yyyy (default: the config's cv.dayfirst; "
            "otherwise only ISO yyyy-mm-dd is read, and 09/05/2023 is refused, never guessed).",
        ),
    ] = None,
) -> None:
    """Train the risk model with nested donor-grouped CV, explain it, log and register it.

    With no --proteins/--lots it trains on the built-in SIMULATED lots (data/simulated/).
    """
    import json

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from exostab.config import load_train_config
    from exostab.store.tracking import store_uri
    from exostab.training.workflow import run_training

    cfg = load_train_config(
        existing_file(config, "config"),
        **{
            "data.label": label,
            "data.group": group,
            "experiment": experiment,
            "seed": seed,
            "data.scale": checked_scale(scale),
            "cv.dayfirst": dayfirst,
        },
    )
    if (proteins is None) != (lots is None):
        raise ExostabError("give both --proteins and --lots, or neither (built-in simulated lots)")
    refuse_unwritable([summary])
    simulated = proteins is None
    if proteins is None or lots is None:
        proteins, lots = default_simulated_data()
    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not err_console.is_terminal,  # a pipe or log file gets no bar frames
    ) as bar:
        task = bar.add_task(f"reading {proteins.name}", total=None)
        outcome = run_training(
            cfg,
            proteins,
            lots,
            format=format,
            simulated=simulated,
            name=run_name,
            register=register,
            progress=lambda message: bar.update(task, description=message),
            model_name=model_name,
        )
    if summary:
        from exostab.io.writers import write_text

        write_text(summary, json.dumps(outcome.summary(store_uri()), indent=2))
    for line in outcome.report_lines(cfg.explain.stability_k):
        console.print(line)
    if summary:
        console.print(f"Run summary (JSON): {escape(str(summary))}")
    from exostab.store.tracking import runs_page as runs_page_of

    console.print(compare_runs_line(runs_page_of(outcome.experiment_id or "")))


@app.command("runs-page")
@user_errors
def runs_page_address(
    port: Annotated[int, typer.Option(help="The mlflow UI's port (make ui: UI_PORT).")] = 5000,
    experiment: Annotated[
        str | None, typer.Option(help="mlflow experiment name. Default: the config's (exostab).")
    ] = None,
) -> None:
    """Print the mlflow UI address of the training runs (make ui prints it first).

    Reads the store (`--tracking-uri`) without creating it: no store or no experiment yet is
    one line and exit code 2.
    """
    from exostab.config import load_train_config
    from exostab.store.tracking import experiment_id_of
    from exostab.store.tracking import runs_page as runs_page_of

    name = experiment or load_train_config().experiment
    address = runs_page_of(experiment_id_of(name), port)
    console.print(f"mlflow UI, runs of experiment {name}: {address}", markup=False, highlight=False)


@app.command()
@user_errors
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name, e.g. exostab.")],
    version: Annotated[str, typer.Argument(help="The version to point the alias at, e.g. 3.")],
    alias: Annotated[
        str,
        typer.Option(
            help="The alias to move: champion (make serve's and make score's "
            "MODEL=models:/exostab@champion) or challenger (their default)."
        ),
    ] = "champion",
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Make a version champion though it did not pass the champion gate at "
            "training (its risks were not shown to beat passage alone).",
        ),
    ] = False,
) -> None:
    """Move a registry alias to a version (the one deliberate way to change what scores).

    `champion` goes only to a version that passed the gate at training, unless --force.
    """
    from exostab.store.aliases import checked_alias
    from exostab.store.aliases import promote as move_alias
    from exostab.store.tracking import configure_tracking

    checked_alias(alias)
    configure_tracking()
    moved = move_alias(name, version, alias, force=force)
    if alias == "champion" and not moved.gate_passed:
        why = f"did not pass the gate ({moved.gate})" if moved.gate else "records no gate"
        err_console.print(
            f"[bold yellow]warning:[/] {escape(name)} version {moved.version} {why} at "
            "training; made champion by --force",
            highlight=False,
            soft_wrap=True,
        )
    if moved.before is None:
        was = " (the alias is new)"
    elif moved.before == moved.version:
        was = " (it already was)"
    else:
        was = f" (was version {moved.before})"
    console.print(
        f"models:/{escape(name)}@{alias} → version {moved.version}{was}.",
        highlight=False,
        soft_wrap=True,
    )


@app.command("inspect")
@user_errors
def inspect_file(
    file: Annotated[Path, typer.Argument(help="Protein file (any supported format).")],
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

    import numpy as np
    from rich.table import Table

    from exostab.io.readers import ReadOptions, read_lot_sheet_lenient, read_proteins
    from exostab.io.runs import map_runs_to_lots, named

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
    values = matrix.intensities.to_numpy()
    finite = values[np.isfinite(values)]
    problems: list[str] = []
    payload: dict[str, Any] = {
        "file": str(file),
        "format": matrix.format,
        "n_runs": matrix.n_runs,
        "n_protein_groups_before": matrix.n_groups_before,
        "n_protein_groups": matrix.n_groups,
        "n_dropped": matrix.n_dropped,
        "missing_fraction": round(matrix.missing_fraction, 4),
        "intensity_min": float(finite.min()) if finite.size else None,
        "intensity_max": float(finite.max()) if finite.size else None,
        "looks_log_scale": matrix.looks_log_scale,
        "scale": matrix.scale,
        "runs": [str(run) for run in matrix.intensities.index],
        "failed_runs": matrix.failed_runs,
        "notes": list(matrix.notes),
    }
    problems += matrix.problems  # scale contradiction, failed runs: problems, not notes
    if sheet_read is not None:
        sheet, quarantine = sheet_read
        _, mapping = map_runs_to_lots(matrix, sheet)
        payload["run_to_lot"] = mapping.run_to_lot
        payload["replicates"] = mapping.replicates
        payload["runs_without_lot"] = list(mapping.runs_without_lot)
        payload["lots_without_run"] = list(mapping.lots_without_run)
        problems += [
            f"lot sheet: {shown(row.lot_id)}: {row.reason}" for row in quarantine.itertuples()
        ]
        payload["missing_runs"] = {lot: list(runs) for lot, runs in mapping.missing_runs.items()}
        if mapping.runs_without_lot:
            problems.append(
                f"{len(mapping.runs_without_lot)} run(s) match no lot (left out by train and "
                f"score: QC, blanks?): {named(mapping.runs_without_lot)}"
            )
        missing_note = mapping.missing_note()
        if missing_note:
            problems.append(missing_note)
        if mapping.lots_without_run:
            problems.append(
                f"{len(mapping.lots_without_run)} lot(s) have no run: "
                f"{named(mapping.lots_without_run)}"
            )
    payload["problems"] = problems
    release_unshown(held, [*problems, *matrix.notes])
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
    if finite.size:
        table.add_row("intensity range", f"{finite.min():.4g} – {finite.max():.4g}")
    table.add_row("scale", f"{matrix.scale} (declared)")  # a contradiction is a problem row
    for note in matrix.notes:
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


MODEL_OPTION = typer.Option(
    "--model",
    help=(
        "Model URI: `models:/exostab@champion`, `models:/exostab@challenger` (the latest "
        "version), `models:/exostab/3` or `runs:/RUN_ID/model`. Env var: EXOSTAB_MODEL."
    ),
    envvar="EXOSTAB_MODEL",
    show_default=True,
)


@app.command()
@user_errors
def score(
    proteins: Annotated[Path, typer.Option(help="Protein table or search-engine output.")],
    lots: Annotated[Path, typer.Option(help="Lot sheet (lot_id, passage, metadata).")],
    out: Annotated[Path, typer.Option(help="Scores file: .csv or .parquet.")],
    model: Annotated[str, MODEL_OPTION] = "models:/exostab@champion",
    top_k: Annotated[int, typer.Option(help="Driver proteins reported per lot.", min=1)] = 5,
    format: Annotated[
        str | None, typer.Option("--format", help="Force the protein file format.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report here.")
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Lots scored at once.", min=1)] = 2000,
    scale: Annotated[
        str | None,
        typer.Option("--scale", help=SCALE_HELP + " Default: the scale the model was trained on."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="pandas (one process) or spark (mlflow spark_udf; pip install 'exostab[spark]')."
        ),
    ] = "pandas",
    spark_master: Annotated[
        str | None,
        typer.Option(help="Spark master URL for --engine spark. Default: local[*] on 127.0.0.1."),
    ] = None,
    env_manager: Annotated[
        str,
        typer.Option(
            help="With --engine spark, where executors run the model: local (their Python, "
            "exostab installed) or the model's own environment built from its requirements "
            "(uv, virtualenv, conda)."
        ),
    ] = "local",
) -> None:
    """Score new lots: calibrated risk, band, top drivers, coverage and domain flag per lot.

    Lots that cannot be scored go to OUT-stem.quarantine.csv with the reason; every input lot
    ends up in one of the two files. A wide table is streamed in chunks, and its bad rows are
    quarantined; a search-engine file is read whole and must be valid. Exit 0 when something
    was scored, 2 when nothing could be. With --engine spark, OUT is a .parquet file or a
    Parquet folder (see "Scale out" in the README).
    """
    if engine not in ("pandas", "spark"):
        raise ExostabError(f"--engine must be pandas or spark, not {engine!r}")
    if env_manager != "local" and engine != "spark":
        raise ExostabError("--env-manager applies to --engine spark (the executors' Python)")
    refuse_overwriting(
        {"protein file": proteins, "lot sheet": lots},
        [out, out.with_name(f"{out.stem}.quarantine.csv"), report],
    )
    refuse_unwritable(
        [out, out.with_name(f"{out.stem}.quarantine.csv"), report] if engine == "pandas" else []
    )
    if engine == "spark":
        score_spark(proteins, lots, out, model, top_k, format, report, spark_master, env_manager)
        return
    import pandas as pd
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from exostab.io.readers import read_lot_sheet_lenient
    from exostab.io.writers import OutputFiles
    from exostab.scoring.batch import BatchScorer, checked_chunks, compact_sheet
    from exostab.store.model_uri import resolve_model

    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ExostabError("--out must end in .csv or .parquet", where=str(out))
    bundle, uri = resolve_model(model)
    warn_if_ungated(bundle, uri)
    declared = checked_scale(scale) or bundle.scale
    sheet, sheet_quarantine = read_lot_sheet_lenient(lots, vocabulary=bundle.vocabulary)
    sheet = compact_sheet(sheet)  # memory flat in the number of lots
    from exostab.io.provenance import file_sha256, is_simulated

    input_hash = file_sha256(proteins)[:8] + file_sha256(lots)[:8]
    scorer = BatchScorer(
        bundle,
        sheet,
        sheet_quarantine,
        top_k=top_k,
        predict_rows=chunk_size,
        with_drivers=report is not None,  # the report draws the drivers from data, not text
    )
    quarantine_path = out.with_name(f"{out.stem}.quarantine.csv")
    kept_for_report: list[pd.DataFrame] = []
    n_out_of_domain = 0
    bands = {"high": 0, "review": 0, "low": 0, "not assessable": 0}
    quarantined: list[pd.DataFrame] = []
    # The scores, the quarantine and the report appear together, each complete, or none does.
    with (
        OutputFiles() as outputs,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err_console,
            disable=not err_console.is_terminal,
        ) as bar,
    ):
        task = bar.add_task("scoring", total=len(sheet) + len(sheet_quarantine))
        scores_file = outputs.table(out, unit="lot")
        quarantine_file = outputs.table(quarantine_path, unit="lot")

        def book(refused_rows: pd.DataFrame) -> None:
            quarantine_file.write(refused_rows)
            if report:  # the quarantine stays on disk unless the report shows it
                quarantined.append(refused_rows)

        book(scorer.start())
        for matrix, refused in checked_chunks(
            scorer,
            proteins,
            format=format,
            scale=declared,
            rows=chunk_size,
            reading=lambda message: bar.update(task, description=message),
        ):
            bar.update(task, description="scoring")
            book(refused)
            scores, bad = scorer.score(matrix)
            scores_file.write(
                scores.drop(columns="drivers", errors="ignore").assign(
                    model_uri=uri, input_hash=input_hash
                )
            )
            book(bad)
            if report:
                kept_for_report.append(scores)
            n_out_of_domain += int((~scores["in_domain"].astype(bool)).sum())
            for band, count in scores["risk_band"].value_counts().items():
                bands[str(band)] = bands.get(str(band), 0) + int(count)
            bar.update(task, completed=scorer.n_scored + scorer.n_lots_quarantined)
        book(scorer.finish())
        bar.update(task, completed=scorer.n_lots_in)
        if report:
            from exostab.pages.report import (  # matplotlib: only here
                batch_report,
                lot_trends_section,
            )

            provenance = {
                "model": uri,
                "model version": bundle.model_version,
                "protein file": proteins,
                "lot sheet": lots,
                "input hash": input_hash,
                "proteins of the model matched": (
                    f"{scorer.n_proteins_matched}/{len(bundle.proteins)}"
                ),
                "model trained on": "SIMULATED lots" if bundle.simulated_training else "real lots",
                "scored lots": "SIMULATED" if is_simulated(lots) else "as given",
            }
            quarantine = pd.concat(quarantined, ignore_index=True)
            scored = pd.concat(kept_for_report)
            trends = lot_trends_section(scored, sheet, bundle.bands.threshold, bundle.bands.low)
            page = batch_report(
                scored,
                quarantine,
                provenance,
                trends=trends,
                threshold=bundle.bands.threshold,
                low=bundle.bands.low,
                sheet=sheet,
                model_card=bundle.model_card,
            )
            outputs.text(report, page)
    console.print(
        f"{scorer.accounting()}\nscores → {out}, quarantine → {quarantine_path}", markup=False
    )
    console.print(
        f"risk bands: {bands['high']} high, {bands['review']} review, {bands['low']} low, "
        f"{bands['not assessable']} not assessable; "
        f"{n_out_of_domain} outside the training domain; model {uri} "
        f"(version {bundle.model_version}"
        f"{', trained on SIMULATED lots' if bundle.simulated_training else ''})"
    )
    if report:
        console.print(f"report → {report}")
    if scorer.n_scored == 0:
        raise ExostabError("no lot could be scored (see the quarantine file)", where=str(lots))


def score_spark(
    proteins: Path,
    lots: Path,
    out: Path,
    model: str,
    top_k: int,
    format: str | None,
    report: Path | None,
    master: str | None,
    env_manager: str = "local",
) -> None:
    """`exostab score --engine spark`: the same books and summary, the work on Spark."""
    from exostab.io.writers import AtomicTableWriter
    from exostab.scoring.spark import (
        check_env_manager,
        require_pyspark,
        score_on_spark,
        spark_session,
    )
    from exostab.store.model_uri import resolve_model

    check_env_manager(env_manager)
    require_pyspark()
    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    if out.suffix.lower() == ".csv":
        raise ExostabError(
            "--engine spark writes Parquet: a .parquet file or a folder", where=str(out)
        )
    if report is not None:
        raise ExostabError("--report needs --engine pandas (a report holds every lot in memory)")
    bundle, uri = resolve_model(model)
    warn_if_ungated(bundle, uri)
    from exostab.io.provenance import file_sha256

    input_hash = file_sha256(proteins)[:8] + file_sha256(lots)[:8]
    err_console.print(f"starting Spark ({master or 'local[*]'})", highlight=False)
    from pyspark.sql import SparkSession

    ours = SparkSession.getActiveSession() is None
    spark = spark_session(master)
    try:
        outcome = score_on_spark(
            spark=spark,
            proteins=proteins,
            lots=lots,
            out=out,
            model_uri=uri,
            bundle=bundle,
            top_k=top_k,
            input_hash=input_hash,
            format=format,
            env_manager=env_manager,
        )
    finally:
        if ours:
            spark.stop()
    quarantine_path = out.with_name(f"{out.stem}.quarantine.csv")
    with AtomicTableWriter(quarantine_path, unit="lot") as quarantine_file:
        quarantine_file.write(outcome.quarantine)
    bands = outcome.bands
    console.print(
        f"{outcome.n_in} lots in: {outcome.n_scored} scored → {out}, "
        f"{outcome.n_quarantined} quarantined → {quarantine_path}"
    )
    console.print(
        f"risk bands: {bands['high']} high, {bands['review']} review, {bands['low']} low, "
        f"{bands['not assessable']} not assessable; "
        f"{outcome.n_out_of_domain} outside the training domain; model {uri} "
        f"(version {bundle.model_version}"
        f"{', trained on SIMULATED lots' if bundle.simulated_training else ''}); engine spark"
    )
    if outcome.n_scored == 0:
        raise ExostabError("no lot could be scored (see the quarantine file)", where=str(lots))


@app.command()
@user_errors
def forecast(
    proteins: Annotated[Path, typer.Option(help="Protein table or search-engine output.")],
    lots: Annotated[Path, typer.Option(help="Lot sheet (lot_id, donor_id, passage, metadata).")],
    out: Annotated[Path, typer.Option(help="Folder for forecast.csv, banks.csv, forecast.html.")],
    model: Annotated[str, MODEL_OPTION] = "models:/exostab@champion",
    passages: Annotated[str, typer.Option(help="Passages to forecast, first-last.")] = "2-15",
    draws: Annotated[
        int, typer.Option(help="Trajectories drawn per bank (4 projected lots each).", min=10)
    ] = 50,
    seed: Annotated[
        int,
        typer.Option(help="Random seed (same seed, same forecast).", min=0, max=2**32 - 1),
    ] = 0,
    format: Annotated[
        str | None, typer.Option("--format", help="Force the protein file format.")
    ] = None,
) -> None:
    """Forecast each cell bank (donor): risk per passage, interval, last safe passage.

    Each bank's measured lots give its own passage trajectory (shrunk toward the training
    population); projected lots are scored by the model. Lots that cannot be used are
    quarantined with the reason (OUT/quarantine.csv), as in `score`.
    """
    from exostab.forecast import (
        bank_line,
        forecast_paths,
        parse_passages,
        run_forecast,
        write_forecast,
    )
    from exostab.io.provenance import is_simulated
    from exostab.pages.report import forecast_page
    from exostab.store.model_uri import resolve_model

    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    inputs = {"protein file": proteins, "lot sheet": lots}
    refuse_overwriting(inputs, list(forecast_paths(out).values()))
    refuse_unwritable(folders=[out])
    grid = parse_passages(passages)
    bundle, uri = resolve_model(model)
    warn_if_ungated(bundle, uri)
    if bundle.trajectory is None:
        raise ExostabError(
            f"model {uri} has no passage trajectory (trained before forecasts existed): "
            "retrain it with exostab train"
        )
    with err_console.status(f"reading {proteins.name}, forecasting its banks"):
        result = run_forecast(bundle, proteins, lots, grid, format=format, n_draws=draws, seed=seed)
    provenance = {
        "model": uri,
        "model version": bundle.model_version,
        "model trained on": "SIMULATED lots" if bundle.simulated_training else "real lots",
        "lots forecast from": "SIMULATED" if is_simulated(lots) else "as given",
        "protein file": proteins,
        "lot sheet": lots,
        "passages": f"P{grid[0]}-P{grid[-1]}",
        "trajectories drawn per bank": f"{draws} (4 projected lots per passage each)",
        "seed": seed,
        "trajectory fitted on": (
            f"{bundle.trajectory.n_lots} lots of {bundle.trajectory.n_donors} donors"
        ),
    }
    page = forecast_page(
        result.curves,
        result.banks,
        result.measured,
        result.quarantine,
        result.threshold,
        result.low,
        provenance,
    )
    paths = write_forecast(result, out, page)
    console.print(
        f"{result.n_lots_in} lots in: {len(result.measured)} used, {len(result.quarantine)} "
        f"quarantined → {paths['quarantine']}; {result.n_forecast} bank(s) forecast over "
        f"P{grid[0]}-P{grid[-1]} → {out}/ (forecast.csv, banks.csv, forecast.html)"
    )
    for bank in result.banks.itertuples(index=False):
        console.print(f"  {shown(bank.donor_id)}: {bank_line(bank)}", highlight=False, markup=False)
    if bundle.simulated_training:
        console.print("The model was trained on SIMULATED lots: these forecasts are a demo.")
    if result.n_banks == 0:
        raise ExostabError("no bank could be forecast (see the quarantine file)", where=str(lots))
    if (why := result.nothing_forecast()) is not None:
        raise ExostabError(why, where=str(lots))


@app.command()
@user_errors
def explain(
    proteins: Annotated[Path, typer.Option(help="Protein table or search-engine output.")],
    lots: Annotated[Path, typer.Option(help="Lot sheet (lot_id, passage, metadata).")],
    out: Annotated[Path, typer.Option(help="Folder for tables and plots.")],
    model: Annotated[str, MODEL_OPTION] = "models:/exostab@champion",
    format: Annotated[
        str | None, typer.Option("--format", help="Force the protein file format.")
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option("--scale", help=SCALE_HELP + " Default: the scale the model was trained on."),
    ] = None,
) -> None:
    """Explain a model on lots with SHAP: global_importance.csv, lot_shap.parquet and plots.

    Lots that cannot be scored are left out with their reason (OUT/quarantine.csv), as in
    `score`; the others are explained.
    """
    from exostab.io.readers import read_lot_sheet_lenient
    from exostab.io.writers import AtomicTableWriter
    from exostab.scoring.batch import score_file
    from exostab.scoring.explain import write_explanations
    from exostab.store.model_uri import resolve_model

    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    inputs = {"protein file": proteins, "lot sheet": lots}
    # the tables by name; the plots are PNGs whose names follow the features and lots
    plots = [given for given in inputs.values() if given.suffix.lower() == ".png"]
    tables = [out / "global_importance.csv", out / "lot_shap.parquet", out / "quarantine.csv"]
    refuse_overwriting(inputs, tables + [out / given.name for given in plots])
    refuse_unwritable(folders=[out])
    bundle, _ = resolve_model(model)
    sheet, refused = read_lot_sheet_lenient(lots, vocabulary=bundle.vocabulary)
    with err_console.status(f"reading {proteins.name}") as status:
        scored = score_file(
            bundle,
            proteins,
            sheet,
            refused,
            format=format,
            scale=checked_scale(scale),
            reading=lambda message: status.update(message),
        )
    with AtomicTableWriter(out / "quarantine.csv", unit="lot") as quarantine_file:
        quarantine_file.write(scored.quarantine)
    console.print(
        f"{scored.scorer.accounting()}; quarantine → {out / 'quarantine.csv'}", markup=False
    )
    for row in scored.quarantine.head(10).itertuples():
        console.print(
            f"  left out {shown(row.lot_id)}: {row.reason}", highlight=False, markup=False
        )
    if len(scored.quarantine) > 10:
        console.print(f"  … and {len(scored.quarantine) - 10} more (see the quarantine file)")
    if scored.table.empty:
        raise ExostabError("no lot could be explained (see the quarantine file)", where=str(lots))
    with err_console.status(f"explaining {len(scored.table)} lots"):
        importance = write_explanations(bundle, scored.table, out)
    console.print(f"explained {len(scored.table)} lots → {out}/")
    for row in importance.head(10).itertuples():
        console.print(f"  {row.protein:<24} {row.mean_abs_shap:.4f}  {row.direction}")


@app.command()
@user_errors
def monitor(
    proteins: Annotated[
        Path, typer.Option(help="Protein file of the lots released since training.")
    ],
    lots: Annotated[
        Path,
        typer.Option(help="Lot sheet of those lots, with the assay outcome where it is back."),
    ],
    out: Annotated[
        Path, typer.Option(help="Folder for monitor.json, monitor.html and the tables.")
    ],
    model: Annotated[str, MODEL_OPTION] = "models:/exostab@champion",
    label: Annotated[
        str, typer.Option(help="Outcome column: 1 unstable, 0 stable, empty = not back yet.")
    ] = "unstable",
    date_column: Annotated[
        str | None,
        typer.Option(
            help="Release (or manufacture) date column of the lot sheet. Default: "
            "release_date (without it: one time window); a column named here must be there.",
            show_default=False,
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            help="Time window: W (week), M (month), Q (quarter) or Y (year). Default: M.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Alarm rule (the monitor: section of configs/monitor.yaml).")
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="Force the protein file format.")
    ] = None,
    track: Annotated[
        bool,
        typer.Option(help="Log an mlflow run in the monitoring experiment and tag the version."),
    ] = True,
) -> None:
    """Watch a deployed model against the lots released since training and their assays.

    Performance on the lots whose outcome is back (AUROC against the CV interval,
    calibration, band error rates), drift of the lot sheet and the proteins against the
    training reference, run → lot accounting over time, and one verdict line. Every lot is
    monitored or quarantined with its reason. Exit 0 with or without an alarm; 2 on bad input.
    """
    import json

    from exostab.config import load_monitor_config
    from exostab.io.provenance import is_simulated
    from exostab.io.readers import read_lot_sheet_lenient
    from exostab.io.writers import OutputFiles
    from exostab.monitor import (
        DEFAULT_DATE_COLUMN,
        DEFAULT_WINDOW,
        check_monitor_columns,
        checked_window,
        monitor_lots,
    )
    from exostab.pages.monitor_page import monitor_page
    from exostab.scoring.batch import score_file
    from exostab.store.model_uri import resolve_model

    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    files = ["monitor.json", "monitor.html", "lots.csv", "windows.csv", "drift_metadata.csv"]
    files += ["drift_proteins.csv", "quarantine.csv"]
    refuse_overwriting({"protein file": proteins, "lot sheet": lots}, [out / f for f in files])
    refuse_unwritable(folders=[out])
    period = checked_window(window if window is not None else DEFAULT_WINDOW)
    rule = load_monitor_config(existing_file(config, "monitor config"))
    bundle, uri = resolve_model(model)
    warn_if_ungated(bundle, uri)
    sheet, refused = read_lot_sheet_lenient(lots, vocabulary=bundle.vocabulary)
    check_monitor_columns(  # before the proteins are read: a wrong name is said at once
        sheet,
        label=label,
        date_column=date_column or DEFAULT_DATE_COLUMN,
        date_required=date_column is not None,
        where=str(lots),
    )
    with err_console.status(f"reading {proteins.name}") as status:
        scored = score_file(bundle, proteins, sheet, refused, format=format, reading=status.update)
    with err_console.status("checking performance and drift"):
        result = monitor_lots(
            bundle,
            scored,
            sheet,
            refused,
            config=rule,
            label=label,
            date_column=date_column or DEFAULT_DATE_COLUMN,
            window=period,
            window_given=window is not None,
        )
    simulated = is_simulated(lots)
    provenance = {
        "model": uri,
        "model version": bundle.model_version,
        "model trained on": "SIMULATED lots" if bundle.simulated_training else "real lots",
        "monitored lots": "SIMULATED" if simulated else "as given",
        "protein file": proteins,
        "lot sheet": lots,
        "alarm rule": config or "configs/monitor.yaml",
    }
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    # The files appear together, each complete, or none does.
    with OutputFiles() as outputs:
        outputs.text(out / "monitor.json", json.dumps(summary, indent=2))
        outputs.text(out / "monitor.html", monitor_page(result, provenance))
        for name, table in (
            ("lots.csv", result.lots),
            ("windows.csv", result.windows),
            ("drift_metadata.csv", result.metadata),
            ("drift_proteins.csv", result.proteins),
            ("quarantine.csv", result.quarantine),
        ):
            if table is not None:
                outputs.table(out / name, unit="row").write(table)
    console.print(
        f"{summary['n_lots']} lots in: {summary['n_monitored']} monitored + "
        f"{summary['n_quarantined']} quarantined; {summary['n_with_outcome']} with an outcome "
        f"→ {out}/ (monitor.json, monitor.html)",
        markup=False,
        highlight=False,
    )
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    console.print(
        result.verdict, markup=False, highlight=False, style="bold red" if result.alarm else ""
    )
    if track:
        from exostab.store.run_logging import log_monitoring_run
        from exostab.store.tracking import configure_tracking

        configure_tracking()
        overall = result.overall
        metrics = {
            "n_lots": float(summary["n_lots"]),
            "n_with_outcome": float(overall["n_with_outcome"]),
            "auroc": overall["auroc"],
            "auroc_low": overall["auroc_low"],
            "auroc_high": overall["auroc_high"],
            "observed_unstable": overall["calibration"]["observed"],
            "mean_predicted_risk": overall["calibration"]["predicted"],
            "released_unstable": overall["released_unstable"],
            "held_stable": overall["held_stable"],
            "alarm": float(result.alarm),
            "n_drifted_proteins": float(len(summary["drifted_proteins"])),
            "n_drifted_columns": float(len(summary["drifted_columns"])),
        }
        run_id = log_monitoring_run(
            experiment=rule.experiment,
            model_uri=uri,
            model_version=bundle.model_version,
            metrics=metrics,
            verdict=result.verdict,
            alarm=result.alarm,
            artifacts_dir=out,
            run_name=(
                f"monitor {'SIMULATED ' if simulated else ''}{lots.stem} · v{bundle.model_version}"
            ),
        )
        console.print(f"mlflow run {run_id} in experiment {rule.experiment}", markup=False)


@app.command()
@user_errors
def serve(
    model: Annotated[str, MODEL_OPTION] = "models:/exostab@champion",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5001,
) -> None:
    """Serve a model over HTTP with ``mlflow models serve`` on 127.0.0.1 (POST /invocations).

    SIGTERM, SIGINT (Ctrl-C) or SIGHUP stops the server and all its processes, then exits 0.
    """
    from exostab.scoring.serving import plan_server, run_server

    plan = plan_server(model, port)
    console.print(
        f"serving {plan.model_uri} (version {plan.model_version}) on {plan.url}", highlight=False
    )
    run_server(plan, say=lambda message: err_console.print(message, highlight=False))


@app.command()
@user_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the SIMULATED lots to.")],
    lots: Annotated[int, typer.Option("--lots", help="Number of lots (all parts together).")] = 250,
    donors: Annotated[int, typer.Option("--donors", help="Number of donors.")] = 25,
    proteins: Annotated[
        int, typer.Option("--proteins", help="Size of the protein universe.")
    ] = 3000,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="base, holdout, weak_signal, donor_confounded, ... (the `scenarios:` of "
            "configs/simulate.yaml).",
        ),
    ] = "base",
    acquisition: Annotated[str, typer.Option("--acquisition", help="dia or dda.")] = "dia",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 7,
    config: Annotated[
        Path | None, typer.Option("--config", help="Simulator config (configs/simulate.yaml).")
    ] = None,
    stream: Annotated[
        str | None,
        typer.Option(
            "--stream",
            help="Write a post-release stream instead (dated lots, outcomes of the earlier "
            "ones): later lots of new donors from the world of --world: stable, ms_batch, "
            "medium, tissue or senescence (see docs/monitoring.md).",
        ),
    ] = None,
    stream_seed: Annotated[
        int, typer.Option("--stream-seed", help="Seed of the stream (its lots and donors).")
    ] = 101,
    world: Annotated[
        Path | None,
        typer.Option(
            "--world",
            help="With --stream: the SIMULATED training folder whose world the stream continues "
            "(its simulation.yaml; default: the built-in data/simulated/train). --lots and "
            "--donors are then the stream's size.",
        ),
    ] = None,
) -> None:
    """Write SIMULATED MSC-exosome lots with ground truth (lot sheet, proteins, vendor files)."""
    from exostab.simulate import write_simulation

    if stream is not None:
        from exostab.simulate.release import read_world, write_release_stream

        written = write_release_stream(
            out,
            world=read_world(world if world is not None else DEFAULT_DATA / "train"),
            drift=stream,
            n_lots=lots,
            n_donors=donors,
            seed=stream_seed,
            acquisition=acquisition,
        )
        names = [*written.drifted_columns, *written.drifted_proteins]
        changed = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        changed = changed or "nothing"
        console.print(
            f"[bold]SIMULATED post-release stream[/] ({written.drift}): {written.n_lots} lots, "
            f"{written.n_with_outcome} with an outcome, "
            f"{100 * written.prevalence:.1f}% unstable (training world "
            f"{100 * written.world_prevalence:.1f}%); drift from {written.onset or '-'} "
            f"changes {changed} → {out}/ (lots.csv with release_date, proteins.csv, truth/)",
            highlight=False,
        )
        return

    summary = write_simulation(
        out,
        n_lots=lots,
        n_donors=donors,
        n_proteins=proteins,
        scenario=scenario,
        acquisition=acquisition,
        seed=seed,
        config_path=existing_file(config, "simulator config"),
    )
    console.print(
        f"[bold]SIMULATED data[/] (not real lots): scenario {summary.scenario}, "
        f"seed {summary.seed}, {summary.n_lots} lots, {summary.n_proteins} proteins, "
        f"{summary.acquisition.upper()}; "
        f"{100 * summary.prevalence:.1f}% unstable",
        highlight=False,
    )
    for part in summary.parts:
        prefix = "" if part == "all" else f"{part}/"
        directory = summary.paths[f"{prefix}lots"].parent
        console.print(
            f"  {directory}/: lots.csv, proteins.csv ({summary.n_protein_groups[part]} protein "
            "groups), proteinGroups.txt, report.pg_matrix.tsv, truth/, simulation.yaml, "
            "README.txt",
            highlight=False,
        )
