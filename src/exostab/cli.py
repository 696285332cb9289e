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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log decisions and sizes.")
    ] = False,
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


DEFAULT_DATA = Path("data/simulated")


def default_simulated_data() -> tuple[Path, Path]:
    """Return the built-in SIMULATED lots, generating them into data/simulated/ when absent."""
    from exostab.simulate import write_simulation

    proteins, lots = DEFAULT_DATA / "proteins.csv", DEFAULT_DATA / "lots.csv"
    if not (proteins.exists() and lots.exists()):
        console.print(
            "No input given and no built-in data yet: "
            f"generating SIMULATED lots into {DEFAULT_DATA}/"
        )
        write_simulation(DEFAULT_DATA)
    else:
        console.print(f"No input given: training on the SIMULATED lots in {DEFAULT_DATA}/")
    return proteins, lots


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        str | None, typer.Option(help="Label column (0/1). Default: unstable.")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="CV group column: no group on both sides of a fold.")
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="mlflow experiment name.")] = None,
    run_name: Annotated[
        str | None, typer.Option(help="mlflow run name. Default: named after the key settings.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (CV folds, LightGBM).")] = None,
    summary: Annotated[
        Path | None, typer.Option(help="Write a JSON summary of the run to this path.")
    ] = None,
    register: Annotated[
        bool, typer.Option("--register/--no-register", help="Register the model as 'exostab'.")
    ] = True,
) -> None:
    """Train the risk model with donor-grouped CV, explain it, log and register it in mlflow.

    With no --proteins/--lots it trains on the built-in SIMULATED lots (data/simulated/).
    """
    import json
    import tempfile
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from exostab.config import CONFIG_DIR, load_train_config, read_yaml
    from exostab.dataset import build_training_set
    from exostab.explain import write_explanations
    from exostab.plots import pr_figure, reliability_figure, roc_figure
    from exostab.readers import read_lot_sheet, read_proteins
    from exostab.serving import ModelBundle
    from exostab.tracking import configure_tracking, log_training_run, store_uri
    from exostab.train import summary_metrics, train_model

    started = time.perf_counter()
    cfg = load_train_config(
        existing_file(config, "config"),
        **{"data.label": label, "data.group": group, "experiment": experiment, "seed": seed},
    )
    if (proteins is None) != (lots is None):
        raise ExostabError("give both --proteins and --lots, or neither (built-in simulated lots)")
    simulated = proteins is None
    if proteins is None or lots is None:
        proteins, lots = default_simulated_data()
    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    matrix = read_proteins(proteins, format=format)
    sheet = read_lot_sheet(lots, label=cfg.data.label)
    training = build_training_set(matrix, sheet, cfg)
    fingerprint = {
        **training.fingerprint,
        "simulated": simulated or (lots.parent / "README.txt").exists(),
        "inputs": {str(p): file_sha256(p) for p in (proteins, lots)},
        "format": matrix.format,
    }
    panels_path = Path(cfg.features.panels)
    if not panels_path.is_absolute() and not panels_path.exists():
        panels_path = CONFIG_DIR.parent / panels_path
    panels = read_yaml(panels_path) if cfg.features.module_scores else {}

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console
    ) as bar:
        task = bar.add_task("grouped cross-validation", total=cfg.cv.n_splits + 3)

        def step(message: str) -> None:
            bar.update(task, advance=1, description=message)

        result = train_model(training, cfg, panels, progress=step)
        bundle = ModelBundle.from_training(result)
        with tempfile.TemporaryDirectory() as scratch:
            artifacts = Path(scratch)
            y, oof = training.y.to_numpy(), result.oof_risk.to_numpy()
            for name, figure in (
                ("roc.png", roc_figure(y, oof)),
                ("pr.png", pr_figure(y, oof)),
                ("reliability.png", reliability_figure(y, oof)),
            ):
                (artifacts / "plots").mkdir(exist_ok=True)
                figure.savefig(artifacts / "plots" / name, dpi=110)
            oof_table = training.X[list(training.metadata)].assign(
                label=training.y, group=training.groups, oof_risk=result.oof_risk
            )
            oof_table.to_csv(artifacts / "oof_predictions.csv")
            import pandas as pd

            pd.DataFrame(result.fold_metrics).to_csv(artifacts / "fold_metrics.csv", index=False)
            training.proteins.to_csv(artifacts / "protein_features.csv")
            step("explaining with SHAP")
            table = training.X.reset_index().rename(
                columns=dict(
                    zip(training.proteins.index, training.proteins["input_name"], strict=True)
                )
            )
            importance = write_explanations(
                bundle,
                table,
                artifacts / "explain",
                n_dependence=cfg.explain.n_dependence,
                n_waterfall=cfg.explain.n_waterfall,
            )
            step("logging to mlflow")
            configure_tracking()
            record = log_training_run(
                cfg=cfg,
                bundle=bundle,
                metrics=summary_metrics(result),
                fingerprint=fingerprint,
                input_example=table.head(2),
                artifacts_dir=artifacts,
                run_name=run_name or cfg.run_name(),
                register=register,
            )
    seconds = time.perf_counter() - started
    payload = {
        "run_id": record.run_id,
        "model_uri": record.model_uri,
        "model_version": record.model_version,
        "aliases": list(record.aliases),
        **{k: result.metrics[k] for k in ("cv_roc_auc", "cv_pr_auc", "cv_brier", "cv_log_loss")},
        "n_lots": training.fingerprint["n_lots"],
        "n_proteins_in": training.fingerprint["n_proteins"],
        "n_features_used": result.n_features_used,
        "seconds": round(seconds, 2),
        "simulated_data": fingerprint["simulated"],
        "tracking_uri": store_uri(),
    }
    if summary:
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps(payload, indent=2))
    m = result.metrics
    console.print(
        f"[bold]Trained[/] on {payload['n_lots']} lots × {payload['n_proteins_in']} proteins"
        f"{' (SIMULATED)' if fingerprint['simulated'] else ''} in {seconds:.1f} s; "
        f"{result.n_features_used} features used."
    )
    console.print(
        f"Donor-grouped CV ({len(result.plan.folds)} folds): AUROC {m['cv_roc_auc']:.3f}, "
        f"PR-AUC {m['cv_pr_auc']:.3f}, Brier {m['cv_brier']:.3f}, log loss {m['cv_log_loss']:.3f}; "
        f"calibration {result.calibrator.method}."
    )
    top = ", ".join(
        f"{row.protein} ({'↑' if 'raises' in row.direction else '↓'})"
        for row in importance[importance["kind"] != "metadata"].head(5).itertuples()
    )
    console.print(f"Top drivers (mean |SHAP|): {top}")
    version = (
        f"registered {record.model_uri} [{', '.join(record.aliases)}]"
        if record.model_version
        else "not registered"
    )
    console.print(f"mlflow run {record.run_id}; {version}.")
    console.print("Compare runs: [bold]make ui[/] → http://127.0.0.1:5000")
