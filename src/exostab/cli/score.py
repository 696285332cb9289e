"""Scoring commands: ``score`` (pandas or Spark), ``explain`` (SHAP) and ``serve`` (HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exostab.cli.checks import (
    checked_scale,
    existing_file,
    refuse_overwriting,
    refuse_unwritable,
    warn_if_ungated,
)
from exostab.cli.options import (
    FormatOption,
    LotSheetOption,
    ModelOption,
    ModelScaleOption,
    ProteinsOption,
)
from exostab.cli.program import console, err_console, user_errors
from exostab.errors import ExostabError, shown


@user_errors
def score(
    proteins: ProteinsOption,
    lots: LotSheetOption,
    out: Annotated[Path, typer.Option(help="Scores file: .csv or .parquet.")],
    model: ModelOption = "models:/exostab@champion",
    top_k: Annotated[int, typer.Option(help="Driver proteins reported per lot.", min=1)] = 5,
    format: FormatOption = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report here.")
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Lots scored at once.", min=1)] = 2000,
    scale: ModelScaleOption = None,
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
    quarantined; a search-engine file or long table is read whole, and its runs with a bad cell
    are quarantined alike. Exit 0 when something was scored, 2 when nothing could be (then only
    the quarantine is written). With --engine spark, OUT is a .parquet file or a Parquet folder
    (see docs/how-to/scale-out.md).
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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from exostab.io.provenance import is_simulated
    from exostab.io.writers import OutputFiles
    from exostab.scoring.batch_files import prepare_batch, score_batch
    from exostab.store.model_uri import resolve_model

    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ExostabError("--out must end in .csv or .parquet", where=str(out))
    bundle, uri = resolve_model(model)
    warn_if_ungated(bundle, uri)
    declared = checked_scale(scale) or bundle.scale
    run = prepare_batch(
        bundle,
        proteins,
        lots,
        top_k=top_k,
        chunk_size=chunk_size,
        keep_for_report=report is not None,
    )
    scorer = run.scorer
    quarantine_path = out.with_name(f"{out.stem}.quarantine.csv")
    earlier: list[str] = []  # outputs of an earlier run removed because nothing was scored
    given = [path for path in (out, report) if path is not None]
    # The scores, the quarantine and the report appear together, each complete, or none does;
    # when no lot could be scored, only the quarantine does (no empty scores that look done).
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
        task = bar.add_task("scoring", total=run.n_rows)
        score_batch(
            run,
            outputs,
            proteins,
            out,
            quarantine_path,
            model_uri=uri,
            format=format,
            scale=declared,
            chunk_size=chunk_size,
            describe=lambda message: bar.update(task, description=message),
            advance=lambda done: bar.update(task, completed=done),
        )
        if scorer.n_scored == 0:
            earlier = [path.name for path in given if outputs.withdraw(path)]
        elif report:
            from exostab.pages.report import batch_run_report  # matplotlib: only here

            provenance = {
                "model": uri,
                "model version": bundle.model_version,
                "protein file": proteins,
                "lot sheet": lots,
                "input hash": run.input_hash,
                "proteins of the model matched": (
                    f"{scorer.n_proteins_matched}/{len(bundle.proteins)}"
                ),
                "model trained on": "SIMULATED lots" if bundle.simulated_training else "real lots",
                "scored lots": "SIMULATED" if is_simulated(lots) else "as given",
            }
            outputs.text(report, batch_run_report(run, bundle, provenance))
    if scorer.n_scored == 0:  # said instead of the summary: nothing here looks like a result
        from exostab.scoring.batch import earlier_outputs, nothing_scored

        nothing = nothing_scored(scorer, run.first_quarantined, proteins, lots, "scored")
        raise nothing.saying(
            f"each lot with its reason → {quarantine_path}, no scores"
            f"{' or report' if report else ''} written{earlier_outputs(earlier, given)}"
        )
    bands, n_out_of_domain = run.bands, run.n_out_of_domain
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


# A quarantine reason on the terminal is cut to this many characters (the start and the end
# stay), so that a huge run name inside it cannot flood the screen; quarantine.csv keeps it whole.
REASON_CHARS = 90


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
    """`exostab score --engine spark`: the same books and summary, the work on Spark; when no
    lot is scored, the same quarantine alone and one error line."""
    from exostab.io.writers import OutputFiles
    from exostab.scoring.batch import earlier_outputs, nothing_scored
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
    earlier: list[str] = []
    with OutputFiles() as outputs:
        outputs.table(quarantine_path, unit="lot").write(outcome.quarantine)
        if outcome.n_scored == 0 and not out.is_dir():  # a Parquet folder is left as it is
            earlier = [out.name] if outputs.withdraw(out) else []
    if outcome.n_scored == 0:  # as the pandas engine says it
        nothing = nothing_scored(outcome.books, outcome.quarantine, proteins, lots, "scored")
        raise nothing.saying(
            f"each lot with its reason → {quarantine_path}, no scores written"
            f"{earlier_outputs(earlier, [out])}"
        )
    bands = outcome.bands
    console.print(  # the pandas engine's books in its words: runs of no lot are not lots in
        f"{outcome.books.accounting()}\nscores → {out}, quarantine → {quarantine_path}",
        markup=False,
    )
    console.print(
        f"risk bands: {bands['high']} high, {bands['review']} review, {bands['low']} low, "
        f"{bands['not assessable']} not assessable; "
        f"{outcome.n_out_of_domain} outside the training domain; model {uri} "
        f"(version {bundle.model_version}"
        f"{', trained on SIMULATED lots' if bundle.simulated_training else ''}); engine spark"
    )


@user_errors
def explain(
    proteins: ProteinsOption,
    lots: LotSheetOption,
    out: Annotated[Path, typer.Option(help="Folder for tables and plots.")],
    model: ModelOption = "models:/exostab@champion",
    format: FormatOption = None,
    scale: ModelScaleOption = None,
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
            # A reason names runs as the file writes them: shortened here, whole in the file.
            f"  left out {shown(row.lot_id)}: {shown(row.reason, width=REASON_CHARS)}",
            highlight=False,
            markup=False,
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


@user_errors
def serve(
    model: ModelOption = "models:/exostab@champion",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5001,
) -> None:
    """Serve a model over HTTP with mlflow's scoring server on 127.0.0.1 (POST /invocations).

    The app ``mlflow models serve --env-manager local`` runs, with a bad ``params.top_k``
    refused in one line before mlflow reads the request.

    SIGTERM, SIGINT (Ctrl-C) or SIGHUP stops the server and all its processes, then exits 0.
    """
    from exostab.scoring.serving import plan_server, run_server

    plan = plan_server(model, port)
    warn_if_ungated(plan, plan.model_uri)
    console.print(
        f"serving {plan.model_uri} (version {plan.model_version}) on {plan.url}", highlight=False
    )
    run_server(plan, say=lambda message: err_console.print(message, highlight=False))
