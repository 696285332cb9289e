"""The exostab program: the Typer app, its callback and the consoles; the only place that
configures logging.

Commands (the modules beside this one) parse options, call one stage function and print the
user-facing summary. User errors (``ExostabError``) become one short message on stderr and
exit code 2 (``user_errors``).
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
import typer.core
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from exostab.cli.options import TrackingUriOption
from exostab.errors import ExostabError


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
    tracking_uri: TrackingUriOption = None,
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
