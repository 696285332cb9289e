"""``exostab monitor``: a deployed model against the lots released since training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exostab.cli.checks import existing_file, refuse_overwriting, refuse_unwritable, warn_if_ungated
from exostab.cli.options import FormatOption, ModelOption
from exostab.cli.program import console, err_console, user_errors


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
    model: ModelOption = "models:/exostab@champion",
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
    dayfirst: Annotated[
        bool,
        typer.Option(
            "--dayfirst/--no-dayfirst",
            help="Release dates are dd/mm/yyyy (the rule of train --dayfirst; otherwise only "
            "ISO yyyy-mm-dd is read, and 09/05/2027 is refused, never guessed).",
        ),
    ] = False,
    config: Annotated[
        Path | None, typer.Option(help="Alarm rule (the monitor: section of configs/monitor.yaml).")
    ] = None,
    format: FormatOption = None,
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
    sheet, refused = read_lot_sheet_lenient(
        lots,
        vocabulary=bundle.vocabulary,
        dates=(date_column or DEFAULT_DATE_COLUMN,),
        dayfirst=dayfirst,
    )
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
            dayfirst=dayfirst,
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
