"""The mlflow store itself: where it is, opening it, its experiments, and loading a model.

``configure_tracking`` points mlflow's tracking and registry at the store (a new SQLite store is
created under a file lock); experiments are found or created with the tag that opens them on
their runs; ``resolve_model`` loads a model's bundle through ``MlflowClient`` (any store, any
artifact location). The alias names (champion, challenger) live here too: loading names them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from exostab.config import PROJECT_ROOT
from exostab.errors import ExostabError
from exostab.io.readers.messages import listed
from exostab.model.bundle import ModelBundle
from exostab.store.registry import store_uri

CHAMPION, CHALLENGER = "champion", "challenger"
# mlflow 3.17's UI opens an experiment without this tag on its GenAI view (traces, no runs);
# ``custom_model_development`` opens it on the training runs.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}

STORE_LOCK_SECONDS = 300.0


def configure_tracking(root: Path | None = None) -> str:
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


def runs_page(experiment_id: str, port: int = 5000) -> str:
    """The mlflow UI address of an experiment's runs table, on ``127.0.0.1:port``.

    mlflow 3.17's UI opens an experiment on its GenAI view (traces, no runs) unless the address
    asks for the model-training one; the ``mlflow.experimentKind`` tag alone does not decide it.
    """
    return f"http://127.0.0.1:{port}/#/experiments/{experiment_id}?workflowType=machine_learning"


def experiment_id_of(name: str) -> str:
    """Return the id of the experiment ``name`` in the store; creates no store nor experiment.

    Raises:
        ExostabError: the store does not exist yet (a SQLite file not written), cannot be read,
            or holds no such experiment.
    """
    uri = store_uri()
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        if not database.is_file():
            raise ExostabError(f"no mlflow store at {database} yet: run make train first")
    try:
        experiment = MlflowClient(tracking_uri=uri).get_experiment_by_name(name)
    except MlflowException as error:
        raise ExostabError(f"cannot read the mlflow store {uri}: {error.message}") from None
    if experiment is None:
        raise ExostabError(
            f"no experiment {name!r} in the mlflow store {uri}: run make train first"
        )
    return str(experiment.experiment_id)


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
        # experiments made before the tag existed open on the GenAI view until they get it
        for key, value in EXPERIMENT_KIND.items():
            if experiment.tags.get(key) != value:
                client.set_experiment_tag(experiment.experiment_id, key, value)
        return str(experiment.experiment_id)
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        artifacts = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        location = artifacts.as_uri()
    return str(client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND))


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


def resolve_model(uri: str) -> tuple[ModelBundle, str]:
    """Load the bundle behind a model URI through mlflow (any store, any artifact location).

    Callers use ``model_uri.resolve_model``, which comes here only when a URI cannot be read
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
        raise ExostabError(
            f"cannot load model {uri}: {first_line(str(error))}{missing_model_hint(uri, client)}"
        ) from None
    bundle_dir = Path(local) / "artifacts" / "bundle"
    if not bundle_dir.exists():
        raise ExostabError(f"{uri} is not an exostab model (no bundle in its artifacts)")
    bundle = ModelBundle.load(bundle_dir)
    return (bundle.with_version(str(version)) if version else bundle), uri


def missing_model_hint(uri: str, client: MlflowClient) -> str:
    """Why a registry URI did not load, as a clause for its error ("" when none applies).

    No model of that name in this store; no champion yet (the challenger is named); an alias
    the model does not have: the aliases it has (``@challenger (version 3)``), or its versions
    when it has none; a version it does not have: its versions, the latest first (five named).
    """
    if not uri.startswith("models:/"):
        return ""
    path, _, alias = uri.removeprefix("models:/").partition("@")
    name = path.split("/", 1)[0]
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return (
            f" (no registered model named {name!r} in this store: `exostab train` registers "
            "one; --tracking-uri names another store)"
        )
    aliases = {str(a): str(v) for a, v in sorted((model.aliases or {}).items())}
    if alias == CHAMPION and CHALLENGER in aliases:
        return (
            " (no version has passed the gate yet, see `exostab train`'s verdict; "
            f"--model {uri.replace('@' + CHAMPION, '@' + CHALLENGER)} uses the latest version)"
        )
    if alias and aliases:
        held = ", ".join(f"@{a} (version {v})" for a, v in aliases.items())
        return f" (the aliases of {name!r} in this store: {held})"
    try:
        found = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return ""
    versions = sorted((str(v.version) for v in found), key=lambda v: -int(v) if v.isdigit() else 0)
    held = listed(versions, quote=False) or "none"
    missing = "no alias" if alias else "no such version"
    return f" ({name!r} has {missing} in this store; its versions: {held})"


def first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else text
