"""The exostab command line: one Typer app; the only place that configures logging.

Each command parses options, calls one stage function and prints the user-facing summary.
User errors (``ExostabError``) become one short message on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from exostab.errors import ExostabError

app = typer.Typer(
    help=(
        "exostab: risk of unstable immunomodulatory potency for MSC-exosome lots, from "
        "proteomics profiles and passage metadata. Built-in data are SIMULATED."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log decisions and sizes.")] = False,
) -> None:
    """Configure logging once for every command."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )
    for noisy in ("mlflow", "alembic", "urllib3", "git", "matplotlib", "shap", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


def user_errors(command: F) -> F:
    """Turn ExostabError into one short message and exit code 2 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ExostabError as error:
            err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=error.exit_code) from None

    return wrapper  # type: ignore[return-value]


def existing_file(path: Path | None, what: str) -> Path | None:
    """Check that a path given on the command line exists, with a clear message if not."""
    if path is not None and not path.exists():
        raise ExostabError(f"{what} not found", where=str(path))
    return path
