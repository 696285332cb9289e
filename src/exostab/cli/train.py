"""``exostab train``: train, explain, log and register the risk model; with no input, on the
built-in SIMULATED lots (generated when absent).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from exostab.cli.checks import checked_scale, existing_file, refuse_unwritable
from exostab.cli.options import DEFAULT_DATA, SCALE_HELP, ExperimentOption
from exostab.cli.program import StoreChoice, console, err_console, user_errors
from exostab.config import work_folder
from exostab.errors import ExostabError


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
    experiment: ExperimentOption = None,
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
    from exostab.store.registry import store_uri
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
