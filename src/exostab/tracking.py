"""The only module that talks to mlflow: store, runs, model logging and registry aliases."""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ParamSchema, ParamSpec

from exostab.bundle import ModelBundle
from exostab.config import NUMERIC_METADATA, PROJECT_ROOT, TrainConfig
from exostab.errors import ExostabError
from exostab.registry import store_uri

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")


STORE_LOCK_SECONDS = 300.0


def configure_tracking(root: Path = PROJECT_ROOT) -> str:
    """Point mlflow's tracking and registry at the store, explicitly (the defaults are traps).

    A SQLite store is opened once under a file lock (``mlflow.db.lock`` beside it): mlflow
    creates a new database's schema on first open, and two commands opening one new store at
    the same moment both ran that creation (the second died with ``table alembic_version
    already exists``). The lock makes the second wait until the first has made the schema.

    Raises:
        ExostabError: the lock is still held after ``STORE_LOCK_SECONDS``.
    """
    uri = store_uri(root)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        database.parent.mkdir(parents=True, exist_ok=True)
        open_store_once(uri, database)
    return uri


def open_store_once(uri: str, database: Path) -> None:
    """Open (and, when new, create) the SQLite tracking and registry store under a file lock.

    mlflow caches the opened stores per URI in the process, so later calls reuse them.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(database) + ".lock", timeout=STORE_LOCK_SECONDS)
    try:
        with lock:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
    except Timeout:
        raise ExostabError(
            f"the mlflow store {database} is locked by another exostab command for more "
            f"than {STORE_LOCK_SECONDS:.0f} s (remove {lock.lock_file} if no command runs)"
        ) from None


def ensure_experiment(name: str) -> str:
    """Return the experiment id, creating it with artifacts beside a SQLite store.

    With the project's store that is ``mlruns/artifacts``; a tracking server keeps its own.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        artifacts = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        location = artifacts.as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def git_commit(root: Path = PROJECT_ROOT) -> str:
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return completed.stdout.strip()


def model_signature() -> ModelSignature:
    """The signature: the ``top_k`` parameter, and no input columns.

    The served pyfunc reads the columns itself (``ModelBundle.served_request``): ``lot_id``
    required, the metadata and the proteins under their short names read, any other column
    dropped, cells passed as sent, exactly what a column signature of optional ``Any`` columns
    did. mlflow enforces such a signature by rebuilding the request column by column (~0.1 ms a
    column), and the default model reads ~2,850 proteins: that cost most of a one-lot request.
    No type gate either way: ``double`` columns would refuse a whole request for one text cell
    (HTTP 400, the good lots get nothing), while ``ModelBundle.predict`` gives one answer per
    lot, a risk or an ``error`` naming the column. The served columns are listed with the model
    (``signature_columns.csv``: short name, input column, feature, gene, accession).
    """
    return ModelSignature(params=ParamSchema([ParamSpec("top_k", "long", 5)]))


def signature_typed(example: pd.DataFrame, bundle: ModelBundle) -> pd.DataFrame:
    """Arrange an input example (input column names) as the signature: its columns, under
    their short names, integers as doubles."""
    rename = {name: short for short, name in bundle.short_to_input.items()}
    wanted = ["lot_id", *bundle.metadata, *rename]
    example = example[[c for c in wanted if c in example.columns]].rename(columns=rename)
    numeric = [c for c in example.columns if c not in ("lot_id", *bundle.metadata)]
    numeric += [c for c in bundle.metadata if c in NUMERIC_METADATA and c in example.columns]
    return example.astype({c: float for c in numeric})


def pip_requirements() -> list[str]:
    """Pin what the pyfunc imports; explicit requirements spare mlflow a slow inference."""
    from importlib.metadata import version

    return [
        f"{name}=={version(name)}"
        for name in ("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn")
    ]


@dataclass(frozen=True)
class InputDataset:
    """An input file of a run, logged as an mlflow dataset.

    Attributes:
        table: what exostab read from it (lots × columns), for mlflow's schema and profile.
        path: the file (the dataset's source).
        sha256: the file's content hash (the dataset's digest is its first 16 characters).
        context: ``proteins`` or ``lot_sheet``.
    """

    table: pd.DataFrame
    path: Path
    sha256: str
    context: str


# mlflow keeps a dataset's schema in one database field of at most 1 MiB: a wide protein file
# with long group ids can exceed it, so the columns are listed only up to this budget.
MAX_SCHEMA_CHARS = 500_000


def log_dataset(dataset: InputDataset) -> None:
    """Log one input file with ``mlflow.log_input``: name, digest, source path, profile."""
    from mlflow.data.pandas_dataset import from_pandas

    table = dataset.table
    names = list(map(str, table.columns))
    if sum(len(n) + 40 for n in names) > MAX_SCHEMA_CHARS:
        keep, used = 0, 0
        while keep < len(names) and used + len(names[keep]) + 40 <= MAX_SCHEMA_CHARS:
            used += len(names[keep]) + 40
            keep += 1
        logger.info("dataset %s: schema lists %d of %d columns", dataset.path, keep, len(names))
        table = table.iloc[:, :keep]
    frame = table.reset_index()
    frame.columns = frame.columns.astype(str)
    with warnings.catch_warnings():
        # mlflow hints about integer columns and ambiguous local sources: noise for a user
        warnings.simplefilter("ignore", UserWarning)
        logged = from_pandas(
            frame,
            source=str(dataset.path.resolve()),
            name=dataset.path.name,
            digest=dataset.sha256[:16],
        )
    mlflow.log_input(logged, context=dataset.context, tags={"sha256": dataset.sha256})


def describe_version(
    name: str, version: str, description: str | None, tags: dict[str, str] | None
) -> None:
    """Write the description and tags on a registered model version."""
    client = MlflowClient()
    if description:
        client.update_model_version(name, version, description=description)
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, version, key, value)


@dataclass(frozen=True)
class RunRecord:
    """What a training run left in mlflow."""

    run_id: str
    model_uri: str | None
    model_version: str | None
    aliases: tuple[str, ...]
    experiment_id: str


def log_training_run(
    *,
    cfg: TrainConfig,
    bundle: ModelBundle,
    metrics: dict[str, float],
    fingerprint: dict[str, Any],
    input_example: pd.DataFrame,
    artifacts_dir: Path,
    run_name: str,
    register: bool,
    tags: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    started_ms: int | None = None,
    datasets: list[InputDataset] | None = None,
    model_card: str | None = None,
    version_description: str | None = None,
    version_tags: dict[str, str] | None = None,
) -> RunRecord:
    """Log one training run (config, fingerprint, metrics, files, model) and register the model.

    Args:
        started_ms: when training began (epoch ms), so the run's duration in the UI is real.
        params: extra parameters (e.g. the structure chosen by inner CV).
        register: register the model (never for a model with constant risks: the caller says).
        metrics: headline metrics; ``champion_eligible`` = 1 lets the version become champion.
        datasets: the protein file and the lot sheet, logged as mlflow datasets (inputs).
        model_card: markdown logged as ``model_card.md`` with the run.
        version_description, version_tags: written on the registered version.
    """
    experiment_id = ensure_experiment(cfg.experiment)
    created = MlflowClient().create_run(experiment_id, start_time=started_ms, run_name=run_name)
    with mlflow.start_run(run_id=created.info.run_id) as run:
        mlflow.log_params(flatten(cfg.model_dump(mode="json")))
        mlflow.log_params({f"data.{k}": v for k, v in fingerprint.items() if k != "inputs"})
        if params:
            mlflow.log_params(params)
        mlflow.set_tags(
            {
                "git_commit": git_commit(),
                "data_hash": str(fingerprint.get("data_hash")),
                "simulated_data": str(fingerprint.get("simulated", False)).lower(),
                **(tags or {}),
            }
        )
        mlflow.log_dict(cfg.model_dump(mode="json"), "config/train.yaml")
        mlflow.log_dict(fingerprint, "data/fingerprint.json")
        for dataset in datasets or []:
            log_dataset(dataset)
        if model_card is not None:
            mlflow.log_text(model_card, "model_card.md")
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.log_artifacts(str(artifacts_dir))
        mlflow.log_text(bundle.signature_columns.to_csv(index=False), "signature_columns.csv")
        with tempfile.TemporaryDirectory() as scratch:
            bundle_dir = bundle.save(Path(scratch) / "bundle")
            # mlflow prints "Successfully registered model ..." to stderr; train says it better.
            with contextlib.redirect_stderr(io.StringIO()):
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(PYFUNC_FILE),
                    artifacts={"bundle": str(bundle_dir)},
                    signature=model_signature(),
                    input_example=signature_typed(input_example, bundle),
                    pip_requirements=pip_requirements(),
                    registered_model_name=cfg.model_name if register else None,
                )
        if not register:
            return RunRecord(run.info.run_id, info.model_uri, None, (), experiment_id)
        version = str(info.registered_model_version)
        describe_version(cfg.model_name, version, version_description, version_tags)
        aliases = assign_aliases(cfg, version, metrics, str(fingerprint.get("data_hash")))
        return RunRecord(
            run.info.run_id, f"models:/{cfg.model_name}/{version}", version, aliases, experiment_id
        )


def assign_aliases(
    cfg: TrainConfig, version: str, metrics: dict[str, float], data_hash: str
) -> tuple[str, ...]:
    """Make the new version the challenger; promote it to champion when it earns it.

    It becomes champion when it passed the gate (``champion_eligible``: it beats passage alone
    with a gain interval above 0) and either there is no champion or it beats the champion's
    ``cv_roc_auc`` on the same data fingerprint.
    """
    client = MlflowClient()
    name = cfg.model_name
    client.set_registered_model_alias(name, CHALLENGER, version)
    aliases = [CHALLENGER]
    score = metrics.get("cv_roc_auc", float("nan"))
    if not metrics.get("champion_eligible", 0.0) >= 1.0:
        logger.info("the model did not pass the gate: not champion")
        return tuple(aliases)
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None
    promote = champion is None
    if champion is not None:
        champion_run = client.get_run(champion.run_id) if champion.run_id else None
        same_data = (
            champion_run is not None and champion_run.data.tags.get("data_hash") == data_hash
        )
        champion_score = (
            champion_run.data.metrics.get("cv_roc_auc", float("nan"))
            if champion_run
            else float("nan")
        )
        promote = same_data and score > champion_score
    if promote:
        client.set_registered_model_alias(name, CHAMPION, version)
        aliases.append(CHAMPION)
    return tuple(aliases)


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten a nested config into dotted keys for mlflow params."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if not isinstance(value, list | tuple) else ",".join(map(str, value))
    return flat


def resolve_model(uri: str) -> tuple[ModelBundle, str]:
    """Load the bundle behind a model URI through mlflow (any store, any artifact location).

    Callers use ``registry.resolve_model``, which comes here only when a URI cannot be read
    cheaply from a local SQLite store.

    Returns the bundle stamped with its registry version (when the URI names one) and the URI.
    """
    version = None
    client = MlflowClient()
    try:
        if uri.startswith("models:/") and "@" in uri:
            name, alias = uri.removeprefix("models:/").split("@", 1)
            version = client.get_model_version_by_alias(name, alias).version
        elif uri.startswith("models:/") and uri.count("/") >= 2:
            version = uri.rsplit("/", 1)[1]
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
    except MlflowException as error:
        hint = (
            " (no version has passed the gate yet, see `exostab train`'s verdict; "
            f"--model {uri.replace('@' + CHAMPION, '@' + CHALLENGER)} uses the latest version)"
            if uri.endswith("@" + CHAMPION)
            else ""
        )
        raise ExostabError(f"cannot load model {uri}: {first_line(str(error))}{hint}") from None
    bundle_dir = Path(local) / "artifacts" / "bundle"
    if not bundle_dir.exists():
        raise ExostabError(f"{uri} is not an exostab model (no bundle in its artifacts)")
    bundle = ModelBundle.load(bundle_dir)
    return (bundle.with_version(str(version)) if version else bundle), uri


def first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else text


MONITOR_TAG = "monitor_verdict"


def log_monitoring_run(
    *,
    experiment: str,
    model_uri: str,
    model_version: str,
    metrics: dict[str, float],
    verdict: str,
    alarm: bool,
    artifacts_dir: Path,
    run_name: str,
) -> str:
    """Log one monitoring check as a run of the monitoring experiment; tag the model version.

    The run carries ``model_uri``, ``model_name`` and ``model_version`` tags (the link to the
    version); the registered version gets ``monitor_verdict`` (the verdict line, cut to 500
    characters), ``monitor_alarm`` and ``monitor_run_id``, so the registry shows which
    versions are under alarm. A model not loaded from the registry gets no version tag.

    Returns:
        the run id.
    """
    from exostab.registry import ALIAS_URI, VERSION_URI

    experiment_id = ensure_experiment(experiment)
    client = MlflowClient()
    client.set_experiment_tag(experiment_id, "mlflow.experimentKind", "custom_model_development")
    match = ALIAS_URI.match(model_uri) or VERSION_URI.match(model_uri)
    name = match["name"] if match else None
    tags = {
        "model_uri": model_uri,
        "model_version": model_version,
        "alarm": str(alarm).lower(),
        "verdict": verdict[:500],
        "git_commit": git_commit(),
        **({"model_name": name} if name else {}),
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags(tags)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.log_artifacts(str(artifacts_dir))
        run_id = str(run.info.run_id)
    if name and model_version.isdigit():
        for key, value in (
            (MONITOR_TAG, verdict[:500]),
            ("monitor_alarm", str(alarm).lower()),
            ("monitor_run_id", run_id),
        ):
            client.set_model_version_tag(name, model_version, key, value)
    return run_id
