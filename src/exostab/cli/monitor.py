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
    monitored or quarantined with its reason (OUT/quarantine.csv: the only file written when
    no lot can be monitored). Exit 0 with or without an alarm; 2 on bad input.
    """
    from exostab.config import load_monitor_config
    from exostab.io.provenance import is_simulated
    from exostab.monitor import checked_window
    from exostab.monitor.result import monitor_paths, write_monitor
    from exostab.monitor.run import monitor_files
    from exostab.pages.monitor_page import monitor_page
    from exostab.scoring.batch import NothingScored, keep_quarantine
    from exostab.store.model_uri import resolve_model

    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    refuse_overwriting({"protein file": proteins, "lot sheet": lots}, monitor_paths(out))
    refuse_unwritable(folders=[out])
    if window is not None:
        checked_window(window)  # before the model is loaded: a wrong spelling is said at once
    rule = load_monitor_config(existing_file(config, "monitor config"))
    bundle, uri = resolve_model(model)
    warn_if_ungated(bundle, uri)
    try:
        with err_console.status("reading the lot sheet") as status:
            result = monitor_files(
                bundle,
                proteins,
                lots,
                config=rule,
                label=label,
                date_column=date_column,
                window=window,
                dayfirst=dayfirst,
                format=format,
                progress=status.update,
            )
    except NothingScored as nothing:  # no lot to monitor: only the quarantine is written
        raise keep_quarantine(nothing, out / "quarantine.csv", monitor_paths(out)) from None
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
    write_monitor(result, out, monitor_page(result, provenance))
    summary = result.summary()
    # two counts, not one split: a lot far outside the domain is not assessable too
    standing = [
        f"{summary[key]} {what}"
        for key, what in (
            ("n_not_assessable", "not assessable"),
            ("n_outside_domain", "outside the training domain"),
        )
        if summary[key]
    ]
    console.print(
        f"{summary['n_lots']} lots in: {summary['n_monitored']} monitored"
        + (f" ({', '.join(standing)})" if standing else "")
        + f" + {summary['n_quarantined']} quarantined"
        + (
            f" (and {summary['n_extra_runs']} protein-file run(s) of no lot)"
            if summary["n_extra_runs"]
            else ""
        )
        + f"; {summary['n_with_outcome']} with an outcome"
        + (
            f" ({summary['n_outcome_not_assessable']} not assessable: left out of performance)"
            if summary["n_outcome_not_assessable"]
            else ""
        )
        + f" → {out}/ (monitor.json, monitor.html)",
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
        run_id = log_monitoring_run(
            experiment=rule.experiment,
            model_uri=uri,
            model_version=bundle.model_version,
            metrics=result.tracking_metrics(),
            verdict=result.verdict,
            alarm=result.alarm,
            artifacts_dir=out,
            run_name=(
                f"monitor {'SIMULATED ' if simulated else ''}{lots.stem} · v{bundle.model_version}"
            ),
        )
        console.print(f"mlflow run {run_id} in experiment {rule.experiment}", markup=False)
