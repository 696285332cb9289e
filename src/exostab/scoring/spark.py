"""Batch scoring on Spark: the same lots, checks, quarantine and model as the pandas engine.

Executors read the protein file, check its rows with the pandas engine's own function
(``readers.streaming.check_rows``) and score them with ``mlflow.pyfunc.spark_udf`` of the same
model URI, which runs the same ``ModelBundle.predict``. The driver keeps the books on lot ids
alone: it reads the lot sheet, the lot id column (duplicate and empty ids) and assigns runs
to lots with the pandas engine's ``BatchScorer`` rules (a failed replicate left out as
``leave_out_failed_runs`` leaves it), so every input lot ends up scored or quarantined with
its reason, and ``in = scored + quarantined`` is checked at the end.

PySpark is the optional extra ``exostab[spark]``; nothing here imports it at module level.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exostab.config import NUMERIC_METADATA
from exostab.errors import ExostabError
from exostab.io.feature_names import match_features
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.runs import map_runs_to_lots, named_replicates, unmatched_entries
from exostab.model.bundle import ModelBundle
from exostab.model.lot_answer import OUTPUT_COLUMNS
from exostab.scoring.batch import (
    QUARANTINE_COLUMNS,
    BatchScorer,
    all_runs,
    leave_out_failed_runs,
    log_left_out,
    log_named_replicates,
    missing_proteins_warning,
    unclaimed_runs,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "--engine spark needs PySpark and Java 17: pip install 'exostab[spark]' "
    "(from a checkout: pip install -e '.[spark]')"
)
RUN, REASON, LOT = "run", "reason", "lot_id"
FAILED = "failed_run"  # a refused run that quantified no protein (``check_rows``'s mark)
# Where executors run the model (mlflow ``spark_udf(env_manager=...)``): ``local`` in the
# executors' own Python (exostab installed there), the others in the model's own environment,
# built from its pinned requirements (``uv`` and ``virtualenv`` with uv or virtualenv, ``conda``
# with conda); exostab then comes from the model's ``code/`` folder.
ENV_MANAGERS = ("local", "uv", "virtualenv", "conda")
EMPTY_ID_REASON = "empty lot_id in the protein file"
ANSWER_TYPE = (
    "lot_id string, risk double, risk_band string, top_drivers string, coverage double, "
    "in_domain boolean, domain_score double, model_version string, error string, "
    "warning string"
)


def require_pyspark() -> None:
    """Fail with one line telling how to install the extra when PySpark is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ExostabError(INSTALL_HINT) from None


def check_env_manager(env_manager: str) -> None:
    """Refuse an environment manager mlflow's ``spark_udf`` does not know, in one line.

    Raises:
        ExostabError: ``env_manager`` is not one of ``ENV_MANAGERS``.
    """
    if env_manager not in ENV_MANAGERS:
        raise ExostabError(
            f"--env-manager must be one of {', '.join(ENV_MANAGERS)}, not {env_manager!r}"
        )


def spark_session(master: str | None = None) -> SparkSession:
    """Return the active Spark session, or start one (``local[*]`` on 127.0.0.1, no UI).

    Python workers run this interpreter, so executors of a local session see exostab as
    installed here; a cluster's executors need ``exostab`` installed in their Python.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # Python workers import pandera, which imports pyspark.pandas and warns about pandas 3.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    active = SparkSession.getActiveSession()
    if active is not None and (master is None or active.sparkContext.master == master):
        return active
    master = master or "local[*]"
    builder = (
        SparkSession.builder.appName("exostab score")
        .master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", str(max(2, os.cpu_count() or 2)))
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


@dataclass
class SparkBooks(BatchScorer):
    """``BatchScorer``'s books for a whole file at once; prediction happens on the executors."""

    def claim_runs(self, runs: list[str], source: Path) -> tuple[dict[str, str], pd.DataFrame]:
        """Assign clean runs to lots as ``BatchScorer.score`` does for one chunk.

        Also keeps each claimed lot's reading warnings (``warn_scored``: a missing run, a
        failed run left out) and logs the left-out runs under ``source`` (the protein file).

        Returns the run → lot map of the runs to score, and the quarantined runs (those no
        lot of the sheet claims).
        """
        run_to_lot = self.lots_of(runs)
        # a run of the file the reader refused is not "missing from the protein file"
        missing = (
            self.file_missing
            if self.file_missing is not None
            else unmatched_entries(self.by_ms_run, run_to_lot)
        )
        unmatched = [run for run in runs if run not in run_to_lot]
        keep = [
            lot
            for lot in dict.fromkeys(run_to_lot.values())
            if lot not in self.refused and lot not in self.seen
        ]
        self.seen.update(keep)
        averaged = named_replicates(run_to_lot, self.by_ms_run, self.all_lots)
        left_out = self.warn_scored(keep, missing, averaged)
        log_named_replicates(source, keep, averaged)
        log_left_out(source, left_out)
        self._book_extra(unmatched)
        quarantine = unclaimed_runs(unmatched, self.named_like(unmatched))
        return {run: lot for run, lot in run_to_lot.items() if lot in keep}, quarantine

    def book_answers(self, n_scored: int, failed: pd.DataFrame) -> pd.DataFrame:
        """Count the model's answers: scored lots, and lots it answered with an error."""
        self.n_scored += n_scored
        self._book_lots(len(failed))
        return failed


@dataclass(frozen=True)
class SparkOutcome:
    """What a Spark scoring run did (for the CLI's summary; ``books.accounting()`` counts)."""

    n_scored: int
    bands: dict[str, int]
    n_out_of_domain: int
    n_proteins_matched: int
    quarantine: pd.DataFrame
    books: SparkBooks  # for the error of a batch of which nothing was scored (nothing_scored)


def positional(n: int) -> list[str]:
    """Column names Spark never misparses (protein names hold dots, semicolons, spaces)."""
    return [f"p{j}" for j in range(n)]


def read_checked_wide(
    spark: SparkSession, path: Path, layout: Any, duplicates: set[str], scale: str = "raw"
) -> SparkFrame:
    """Read a wide table on the executors and check its rows (``check_rows``).

    The values are on the model's ``scale`` (``raw`` or ``log2``); the Spark engine does not
    convert between scales.

    Returns one row per input row: ``run`` (its lot id as written), ``reason`` (None when
    clean), ``failed_run`` (refused only because it quantified no protein) and the protein
    intensities as ``p0..pN`` (NaN where not measured or refused).
    """
    from pyspark.sql import types as T

    from exostab.io.readers.streaming import NA_TEXT, check_rows, decimal_comma

    preview, id_column, proteins = layout.preview, layout.id_column, layout.proteins
    names = positional(len(proteins))
    columns = list(preview.columns)
    inner = {name: f"c{j}" for j, name in enumerate(columns)}
    if preview.kind == "parquet":
        raw = spark.read.parquet(str(path)).select(*(f"`{c}`" for c in columns))
        raw = raw.toDF(*(inner[c] for c in columns))
        text = False
    elif preview.kind == "text":
        schema = T.StructType([T.StructField(inner[c], T.StringType()) for c in columns])
        raw = spark.read.csv(
            str(path),
            schema=schema,
            header=True,
            sep=preview.delimiter or ",",
            encoding="UTF-8",
            mode="FAILFAST",
        )
        text = True
    else:
        raise ExostabError(
            "--engine spark reads wide tables as Parquet or CSV/TSV", where=str(path)
        )
    raw = raw.select(inner[id_column], *(inner[p] for p in proteins))
    schema = T.StructType(
        [
            T.StructField(RUN, T.StringType()),
            T.StructField(REASON, T.StringType()),
            T.StructField(FAILED, T.BooleanType()),
        ]
        + [T.StructField(name, T.DoubleType()) for name in names]
    )
    original = [id_column, *proteins]
    comma = text and decimal_comma(preview, id_column)

    def check(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            batch = batch.set_axis(original, axis=1)
            if text:  # the cells pandas' CSV reader would read as missing
                batch = batch.mask(batch.isin(NA_TEXT))
            clean, refused = check_rows(
                batch,
                id_column,
                proteins,
                duplicates,
                first_row=0,
                scale=scale,
                decimal_comma=comma,
            )
            values = np.full((len(clean) + len(refused), len(names)), np.nan)
            values[: len(clean)] = clean.to_numpy(dtype=float)
            checked = pd.DataFrame(values, columns=names)
            checked.insert(0, FAILED, [False] * len(clean) + list(refused[FAILED]))
            checked.insert(0, REASON, [None] * len(clean) + list(refused["reason"]))
            checked.insert(0, RUN, [str(run) for run in clean.index] + list(refused["lot_id"]))
            yield checked

    return raw.mapInPandas(check, schema)


def checked_from_matrix(spark: SparkSession, matrix: ProteinMatrix) -> SparkFrame:
    """Hand a search-engine file read on the driver to Spark, shaped as ``read_checked_wide``:
    its runs that quantified no protein refused as ``check_rows`` refuses them, and its runs
    the reader refused for a bad cell (``ProteinMatrix.refused_runs``) with their reasons
    (no value of theirs)."""
    from exostab.io.readers.streaming import failed_run_reason

    names = positional(matrix.n_groups)
    runs = [str(run) for run in matrix.intensities.index]
    failed = set(matrix.failed_runs)
    refused = dict(matrix.refused_runs)
    values = np.full((len(runs) + len(refused), len(names)), np.nan)
    values[: len(runs)] = matrix.intensities.to_numpy(dtype=float)
    frame = pd.DataFrame(values, columns=names)
    frame.insert(
        0, FAILED, pd.Series([run in failed for run in runs] + [False] * len(refused), dtype=bool)
    )
    reasons = [failed_run_reason(run) if run in failed else None for run in runs]
    frame.insert(0, REASON, pd.Series(reasons + list(refused.values()), dtype=object))
    frame.insert(0, RUN, runs + list(refused))
    return spark.createDataFrame(frame)


def average_replicates(spark: SparkSession, runs: SparkFrame, names: list[str]) -> SparkFrame:
    """Average the runs of lots measured more than once, with ``map_runs_to_lots`` itself."""
    from pyspark.sql import types as T

    schema = T.StructType(
        [T.StructField(LOT, T.StringType())] + [T.StructField(n, T.DoubleType()) for n in names]
    )
    annotations = pd.DataFrame(index=pd.Index(names, name="group_id"))

    def average(group: pd.DataFrame) -> pd.DataFrame:
        lot = str(group[LOT].iloc[0])
        matrix = ProteinMatrix(
            intensities=group.set_index(RUN)[names],
            proteins=annotations,
            format="wide",
            source=Path("spark"),
            n_groups_before=len(names),
        )
        sheet = pd.DataFrame({LOT: [lot], "ms_run": [";".join(group[RUN])]}).set_index(LOT)
        averaged, _ = map_runs_to_lots(matrix, sheet)
        return averaged.intensities.reset_index().reindex(columns=[LOT, *names])

    return runs.groupBy(LOT).applyInPandas(average, schema)


def model_table(
    spark: SparkSession,
    lots: SparkFrame,
    bundle: ModelBundle,
    sheet: pd.DataFrame,
    annotations: pd.DataFrame,
) -> tuple[SparkFrame, int]:
    """Arrange lots as the served model reads them (``scoring_table`` in Spark): lot_id, metadata,
    proteins under their short names (missing ones null). Returns it and the number of
    the model's proteins the file holds."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    model_proteins = bundle.proteins.rename(columns={"input_name": "group_id"})
    matched = match_features(model_proteins, annotations).dropna()
    position = {str(name): f"p{j}" for j, name in enumerate(annotations.index)}
    input_name = {str(k): str(v) for k, v in bundle.proteins["input_name"].items()}
    source = {input_name[str(feature)]: position[str(group)] for feature, group in matched.items()}
    metadata = pd.DataFrame({LOT: sheet.index.astype(str)})
    for column in bundle.metadata:
        values = sheet[column] if column in sheet else pd.Series(np.nan, index=sheet.index)
        if column in NUMERIC_METADATA:
            metadata[column] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        else:
            metadata[column] = [None if pd.isna(v) else str(v) for v in values]
    # A schema of its own: a sheet whose every row was refused gives an empty table, from
    # which Spark cannot infer one (the run then ends as "no lot could be scored").
    schema = T.StructType(
        [T.StructField(LOT, T.StringType())]
        + [
            T.StructField(c, T.DoubleType() if c in NUMERIC_METADATA else T.StringType())
            for c in bundle.metadata
        ]
    )
    metadata_frame = spark.createDataFrame(metadata, schema=schema)
    joined = lots.join(F.broadcast(metadata_frame), on=LOT, how="left")
    columns = [F.col(LOT)]
    columns += [F.col(f"`{c}`").alias(c) for c in bundle.metadata]
    # The served model reads proteins by their short names (and drops any other column).
    columns += [
        (F.col(source[name]) if name in source else F.lit(None).cast("double")).alias(short)
        for short, name in bundle.signature_names.items()
    ]
    return joined.select(*columns), len(matched)


def with_reading_warnings(
    spark: SparkSession,
    scores: SparkFrame,
    books: SparkBooks,
    bundle: ModelBundle,
    annotations: pd.DataFrame,
    source: Path,
) -> SparkFrame:
    """Add what the reading found (a missing run, a failed run left out, missing model
    proteins) to each lot's ``warning``, after what the model said, as
    ``BatchScorer.with_warnings`` does; the missing model proteins are also logged once under
    ``source`` (the protein file), as the pandas engine logs them."""
    from pyspark.sql import functions as F

    model_proteins = bundle.proteins.rename(columns={"input_name": "group_id"})
    matched = match_features(model_proteins, annotations).dropna()
    absent = [str(f) for f in bundle.proteins.index if f not in matched.index]
    file_warning = missing_proteins_warning(absent) if absent else None
    if file_warning and books.seen:
        logger.warning("%s: %s", source, file_warning)
    lots = list(dict.fromkeys([*books.lot_warnings, *(books.seen if file_warning else [])]))
    extra = {
        lot: "; ".join(w for w in (books.lot_warnings.get(lot), file_warning) if w) for lot in lots
    }
    if not extra:
        return scores
    frame = spark.createDataFrame(
        pd.DataFrame({LOT: list(extra), "reading_warning": list(extra.values())}),
        schema=f"{LOT} string, reading_warning string",
    )
    columns = scores.columns
    warning = (
        F.when(F.col("reading_warning").isNull(), F.col("warning"))
        .when(F.col("warning").isNull(), F.col("reading_warning"))
        .otherwise(F.concat_ws("; ", F.col("warning"), F.col("reading_warning")))
    )
    joined = scores.join(F.broadcast(frame), on=LOT, how="left")
    return joined.withColumn("warning", warning).select(*columns)


def quoted(name: str) -> Any:
    """A Spark column by its exact name (short names may hold dots, spaces or backticks)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def write_parquet(scores: SparkFrame, out: Path) -> None:
    """Write scores as one Parquet file (``*.parquet``) or a Parquet folder (any other path)."""
    if out.suffix.lower() != ".parquet":
        scores.write.mode("overwrite").parquet(str(out))
        return
    scratch = out.with_name(f".{out.name}.spark")
    shutil.rmtree(scratch, ignore_errors=True)
    scores.orderBy(LOT).coalesce(1).write.mode("overwrite").parquet(str(scratch))
    (part,) = sorted(scratch.glob("part-*.parquet"))
    os.replace(part, out)
    shutil.rmtree(scratch, ignore_errors=True)


def score_on_spark(
    *,
    spark: SparkSession,
    proteins: Path,
    lots: Path,
    out: Path,
    model_uri: str,
    bundle: ModelBundle,
    top_k: int,
    input_hash: str,
    format: str | None = None,
    env_manager: str = "local",
) -> SparkOutcome:
    """Score every lot of a protein file on Spark; write scores as Parquet (not when no lot
    was scored: an empty table would read as a result).

    Args:
        env_manager: where executors run the model: ``local`` (their own Python, which must
            have exostab installed) or the model's own environment (``uv``, ``virtualenv``,
            ``conda``; built once per executor from the model's pinned requirements).

    Returns the counts and the quarantine (``lot_id``, ``reason``), which the caller writes.

    Raises:
        ExostabError: an ``env_manager`` outside ``ENV_MANAGERS``.
    """
    check_env_manager(env_manager)
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    from exostab.io.readers import detect_format, read_lot_sheet_lenient, read_proteins
    from exostab.io.readers.streaming import lot_ids_in_file, stream_layout
    from exostab.store.tracking import configure_tracking

    sheet, sheet_quarantine = read_lot_sheet_lenient(lots, vocabulary=bundle.vocabulary)
    books = SparkBooks(bundle, sheet, sheet_quarantine, top_k=top_k)
    quarantined = [books.start()]
    if (format or detect_format(proteins)) == "wide":
        layout = stream_layout(proteins)
        ids = lot_ids_in_file(proteins, layout.preview, layout.id_column)
        texts = ids.dropna().astype(str)
        checked = read_checked_wide(
            spark, proteins, layout, set(texts[texts.duplicated()]), scale=bundle.scale
        )
        annotations = layout.annotations
    else:
        matrix = read_proteins(
            proteins,
            format=format,
            scale=bundle.scale,
            options=bundle.read_options,
            quarantine_runs=True,
        )
        checked = checked_from_matrix(spark, matrix)
        annotations, ids = matrix.proteins, None
    names = positional(len(annotations))
    checked = checked.persist()

    refused = checked.where(F.col(REASON).isNotNull()).select(RUN, REASON, FAILED).toPandas()
    if ids is not None and (refused[REASON] == EMPTY_ID_REASON).any():
        # Executors do not know file lines; the driver's pass over the ids does.
        rows = [f"(row {i + 2}: empty lot_id)" for i in np.flatnonzero(ids.isna().to_numpy())]
        empty = refused[REASON] == EMPTY_ID_REASON
        refused.loc[empty, RUN] = rows[: int(empty.sum())]
    # All runs of the file matched at once, refused ones too, as inspect and score match them.
    books.match_file(ids.dropna().astype(str).tolist() if ids is not None else all_runs(matrix))
    runs = checked.where(F.col(REASON).isNull()).select(RUN).toPandas()[RUN].astype(str).tolist()
    # A failed replicate is left out of a lot scored on its other runs, as the pandas engine
    # leaves it out (``set_aside_failed_runs``); the other refused rows first, as there.
    is_failed = refused[FAILED].to_numpy(dtype=bool)
    failed = leave_out_failed_runs(books, runs, refused.loc[is_failed, RUN].astype(str).tolist())
    others = refused.loc[~is_failed].rename(columns={RUN: "lot_id"})
    quarantined.append(books.refuse(others.reindex(columns=QUARANTINE_COLUMNS)))
    if len(failed):
        quarantined.append(books.refuse(failed))
    run_to_lot, unmatched = books.claim_runs(runs, proteins)
    quarantined.append(unmatched)

    mapping = spark.createDataFrame(
        pd.DataFrame({RUN: list(run_to_lot), LOT: list(run_to_lot.values())}),
        schema=f"{RUN} string, {LOT} string",
    )
    runs_of_lots = checked.where(F.col(REASON).isNull()).join(F.broadcast(mapping), on=RUN)
    per_lot = pd.Series(list(run_to_lot.values()), dtype=object).value_counts()
    replicated = [str(lot) for lot in per_lot.index[per_lot.to_numpy() > 1]]
    single = runs_of_lots.where(~F.col(LOT).isin(replicated)).select(LOT, *names)
    if replicated:
        many = runs_of_lots.where(F.col(LOT).isin(replicated)).select(RUN, LOT, *names)
        single = single.unionByName(average_replicates(spark, many, names))
    table, books.n_proteins_matched = model_table(spark, single, bundle, sheet, annotations)

    configure_tracking()
    quiet = logging.getLogger("mlflow.pyfunc")
    level = quiet.level
    # mlflow warns that env_manager="local" may differ from the model's environment: with
    # "local" that is the point (executors run the installed exostab)
    quiet.setLevel(logging.ERROR)
    try:
        predict = mlflow.pyfunc.spark_udf(
            spark,
            model_uri,
            result_type=ANSWER_TYPE,
            env_manager=env_manager,
            params={"top_k": top_k},
            extra_env={"EXOSTAB_MODEL_VERSION": bundle.model_version},
        )
    finally:
        quiet.setLevel(level)
    answers = (
        table.select(predict(F.struct(*(quoted(c) for c in table.columns))).alias("a"))
        .select("a.*")
        # spark_udf casts a text column that mixes None and text with astype(str): the None
        # of a scored lot's ``error`` arrives as the text "None" (no error message reads so).
        .withColumn("error", F.when(F.col("error") != "None", F.col("error")))
        .withColumn("warning", F.when(F.col("warning") != "None", F.col("warning")))
        .persist()
    )
    failed = answers.where(F.col("error").isNotNull()).select(LOT, "error").toPandas()
    scores = (
        answers.where(F.col("error").isNull())
        .select(*(c for c in OUTPUT_COLUMNS if c != "error"))
        .withColumn("model_uri", F.lit(model_uri))
        .withColumn("input_hash", F.lit(input_hash))
    )
    scores = with_reading_warnings(spark, scores, books, bundle, annotations, proteins)
    summary = (
        answers.where(F.col("error").isNull()).groupBy("risk_band", "in_domain").count().toPandas()
    )
    if int(summary["count"].sum()):
        write_parquet(scores, out)
    failed = failed.set_axis(QUARANTINE_COLUMNS, axis=1)
    quarantined.append(books.book_answers(int(summary["count"].sum()), failed))
    quarantined.append(books.finish())
    answers.unpersist()
    checked.unpersist()
    bands = {"high": 0, "review": 0, "low": 0, "not assessable": 0}
    for band, count in zip(summary["risk_band"], summary["count"], strict=True):
        bands[str(band)] += int(count)
    return SparkOutcome(
        n_scored=books.n_scored,
        bands=bands,
        n_out_of_domain=int(summary.loc[~summary["in_domain"].astype(bool), "count"].sum()),
        n_proteins_matched=books.n_proteins_matched,
        quarantine=pd.concat(quarantined, ignore_index=True).astype(str),
        books=books,
    )
