"""Commands on the mlflow store: ``runs-page`` (the UI address of the training runs) and
``promote`` (move a registry alias).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from exostab.cli.options import ExperimentOption
from exostab.cli.program import console, err_console, user_errors


@user_errors
def runs_page_address(
    port: Annotated[int, typer.Option(help="The mlflow UI's port (make ui: UI_PORT).")] = 5000,
    experiment: ExperimentOption = None,
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
