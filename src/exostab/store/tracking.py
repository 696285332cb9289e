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

from exostab.config import NUMERIC_METADATA, PROJECT_ROOT, TrainConfig
from exostab.errors import ExostabError
from exostab.model.bundle import ModelBundle
from exostab.store.model_card import ELIGIBLE, GATE_TAG
from exostab.store.registry import DataContract, derived_model_name, store_uri

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
# mlflow 3.17's UI opens an experiment without this tag on its GenAI view (traces, no runs);
# ``custom_model_development`` opens it on the training runs.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
PACKAGE_DIR = Path(__file__).resolve().parents[1]
PYFUNC_FILE = PACKAGE_DIR / "scoring" / "pyfunc_model.py"


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


# The distributions the pyfunc imports (``pyfunc_model.py`` → ``exostab.model.bundle`` and what it
# imports), pinned at logging time. A served model's own environment (``mlflow models serve
# --env-manager uv``, ``spark_udf(env_manager=...)``, a Docker image) is built from these alone;
# ``tests/test_self_contained_model.py`` checks the list against what loading the model imports.
PYFUNC_DISTRIBUTIONS = (
    "mlflow",
    "lightgbm",
    "pandas",
    "numpy",
    "scikit-learn",
    "scipy",
    "pandera",
    "pydantic",
    "pyyaml",
    "rich",
    "threadpoolctl",
)


def pip_requirements() -> list[str]:
    """Pin what the pyfunc imports, at the installed versions (explicit requirements also spare
    mlflow a slow inference). exostab itself travels with the model as code (``code_paths``)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in PYFUNC_DISTRIBUTIONS]


@dataclass(frozen=True)
class InputDataset:
    """An input file of a run, logged as an mlflow dataset.

    Attributes:
        table: what exostab read from it (lots × columns), for mlflow's schema and profile.
        path: the file (the dataset's source).
        sha256: the file's content hash (the dataset's digest is its first 16 characters).
        role: ``proteins`` or ``lot_sheet`` (the input tag ``role``; both are logged in
            mlflow's ``training`` context).
        targets: the label column, for the lot sheet (mlflow's dataset ``targets``).
    """

    table: pd.DataFrame
    path: Path
    sha256: str
    role: str
    targets: str | None = None


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
            targets=dataset.targets if dataset.targets in frame.columns else None,
        )
    mlflow.log_input(
        logged,
        context="training",
        tags={
            "role": dataset.role,
            "sha256": dataset.sha256,
            # mlflow keeps a pandas dataset's targets in memory only: the tag shows them
            **({"targets": dataset.targets} if dataset.targets else {}),
        },
    )


def evaluation_dataset(predictions: pd.DataFrame, name: str) -> Any:
    """The cross-validated out-of-fold predictions as an mlflow evaluation dataset.

    Args:
        predictions: one row per training lot with ``label`` (0/1) and ``oof_risk`` (the
            calibrated risk from the fold that did not train on the lot; NaN when untested).
        name: the dataset's name.
    """
    from mlflow.data.pandas_dataset import from_pandas

    frame = predictions.reset_index()
    frame.columns = frame.columns.astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return from_pandas(frame, name=name, targets="label", predictions="oof_risk")


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
    """What a training run left in mlflow.

    Attributes:
        model_name: the registered model the version went to (None: not registered).
        notes: what the user should know about the registration (another name, no alias
            moved), one sentence each.
    """

    run_id: str
    model_uri: str | None
    model_version: str | None
    aliases: tuple[str, ...]
    experiment_id: str
    model_name: str | None = None
    notes: tuple[str, ...] = ()


def version_contract(client: MlflowClient, name: str, version: str) -> DataContract | None:
    """The data contract of a registered version: its run's ``data.label``/``data.scale``
    params and the protein groups of its ``signature_columns.csv``; None when unreadable."""
    try:
        model_version = client.get_model_version(name, version)
        run = client.get_run(str(model_version.run_id))
        with tempfile.TemporaryDirectory() as scratch:
            columns = pd.read_csv(
                client.download_artifacts(run.info.run_id, "signature_columns.csv", scratch)
            )
    except (MlflowException, OSError, ValueError) as error:
        logger.info("no data contract for %s/%s (%s)", name, version, error)
        return None
    params = run.data.params
    return DataContract(
        label=params.get("data.label", "unstable"),
        scale=params.get("data.scale", "raw"),
        proteins=frozenset(map(str, columns["input_name"])),
    )


def alias_holder(client: MlflowClient, name: str) -> tuple[str, str] | None:
    """(alias, version) of the version ``make score``/``make serve`` would use: the champion,
    else the challenger; None for a name with no alias (or no registered model)."""
    for alias in (CHAMPION, CHALLENGER):
        try:
            return alias, str(client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            continue
    return None


@dataclass(frozen=True)
class Registration:
    """Where a new version goes: the registered name, and whether it may move aliases there."""

    name: str
    move_aliases: bool
    notes: tuple[str, ...] = ()


def plan_registration(
    contract: DataContract, base: str, explicit: bool, data_folder: str
) -> Registration:
    """Choose the registered name so that no alias moves to a model of another data contract.

    The version goes under ``base`` when the version holding ``base``'s aliases (champion,
    else challenger) reads the same data (``DataContract.differences``) or none exists. When
    it does not: a name the user chose (``explicit``) still gets the version, with no alias
    moved; otherwise the version goes under a name of its own (``derived_model_name``), whose
    aliases it may move under the same rule.
    """
    client = MlflowClient()
    reasons: list[str] = []
    holder = alias_holder(client, base)
    if holder is not None:
        current = version_contract(client, base, holder[1])
        reasons = contract_reasons(contract, current)
        if not reasons:
            return Registration(base, True)
        why = f"its data differ from models:/{base}@{holder[0]} (version {holder[1]}): " + (
            "; ".join(reasons)
        )
        if explicit:
            return Registration(
                base,
                False,
                (
                    f"No alias of {base} moved: {why}.",
                    f"To use it anyway: exostab promote {base} <version> --alias {CHAMPION}.",
                ),
            )
    else:
        return Registration(base, True)
    own = derived_model_name(base, data_folder)
    holder = alias_holder(client, own)
    if holder is not None and contract_reasons(contract, version_contract(client, own, holder[1])):
        return Registration(own, False, (f"Registered under {own}, {why}; no alias moved.",))
    return Registration(
        own,
        True,
        (
            f"Registered under its own name {own}: {why}. models:/{base} (what make score "
            f"and make serve use) is unchanged; score with --model models:/{own}@{CHALLENGER}, "
            "or choose a name with --model-name.",
        ),
    )


def contract_reasons(new: DataContract, current: DataContract | None) -> list[str]:
    return [] if current is None else new.differences(current)


ALIASES = (CHAMPION, CHALLENGER)


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did.

    Attributes:
        version: the version the alias now points at, as the registry names it (``3``).
        before: the version the alias pointed at before, or None (it did not exist).
        gate: what training recorded of the champion gate: ``champion-eligible``, ``not
            eligible``, ``constant risk``, or None when the version records none.
    """

    version: str
    before: str | None
    gate: str | None

    @property
    def gate_passed(self) -> bool:
        return self.gate == ELIGIBLE


def recorded_gate(client: MlflowClient, version: Any) -> str | None:
    """The champion gate a registered version records: its ``gate_verdict`` tag, else (older
    versions) its run's ``champion_eligible`` metric; None when neither is there."""
    tag = version.tags.get(GATE_TAG)
    if tag:
        return str(tag)
    if version.run_id:
        try:
            metric = client.get_run(version.run_id).data.metrics.get("champion_eligible")
        except MlflowException:
            metric = None
        if metric is not None:
            return ELIGIBLE if metric >= 1.0 else "not eligible"
    return None


def checked_alias(alias: str) -> str:
    """Refuse an alias exostab does not use (``--alias bogus``): champion or challenger only.

    Raises:
        ExostabError: naming the aliases allowed.
    """
    if alias not in ALIASES:
        raise ExostabError(
            f"--alias must be {' or '.join(ALIASES)} (the aliases exostab scores and "
            f"serves with), not {alias!r}"
        )
    return alias


def promote(name: str, version: str, alias: str, *, force: bool = False) -> Promotion:
    """Point ``models:/NAME@ALIAS`` at a version.

    ``champion`` goes only to a version that passed the champion gate at training (it beat
    passage alone), unless ``force``.

    Raises:
        ExostabError: an alias other than champion or challenger; no such registered model
            or version (deleted versions included); champion for a version that did not pass
            the gate (or records no gate) without ``force``. No alias moves then.
    """
    checked_alias(alias)
    client = MlflowClient()
    try:
        found = client.get_model_version(name, version)
    except MlflowException as error:
        raise ExostabError(
            f"cannot promote {name} version {version}: {first_line(str(error))}"
        ) from None
    gate = recorded_gate(client, found)
    if alias == CHAMPION and gate != ELIGIBLE and not force:
        why = f"did not pass the champion gate ({gate})" if gate else "records no champion gate"
        raise ExostabError(
            f"{name} version {found.version} {why}: not made champion; promote it with "
            "--force to make it champion anyway"
        )
    try:
        before: str | None = str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        before = None
    client.set_registered_model_alias(name, alias, str(found.version))
    return Promotion(str(found.version), before, gate)


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
    description: str | None = None,
    oof_predictions: pd.DataFrame | None = None,
    model_name: str | None = None,
    data_folder: str = "",
) -> RunRecord:
    """Log one training run (config, fingerprint, metrics, files, model) and register the model.

    Args:
        started_ms: when training began (epoch ms), so the run's duration in the UI is real.
        params: extra parameters (e.g. the structure chosen by inner CV).
        register: register the model (never for a model with constant risks: the caller says).
        metrics: headline metrics; ``champion_eligible`` = 1 lets the version become champion.
            Logged against the LoggedModel (``model_id``) and, for the ``cv_*`` ones, the
            out-of-fold evaluation dataset.
        datasets: the protein file and the lot sheet, logged as mlflow datasets (inputs,
            context ``training``).
        model_card: markdown logged as ``model_card.md`` with the run.
        version_description, version_tags: written on the registered version.
        description: the run's description in the mlflow UI (``mlflow.note.content``).
        oof_predictions: lots × (``label``, ``oof_risk``, ...): logged as the evaluation dataset
            ``cv_out_of_fold`` (context ``evaluation``) the CV metrics were computed on.
        model_name: the registered name the user chose (``--model-name``); None: the
            config's, or a name of its own for another data contract (``plan_registration``).
        data_folder: the folder of the lot sheet (names a registered model of its own).
    """
    experiment_id = ensure_experiment(cfg.experiment)
    contract = DataContract(
        label=cfg.data.label,
        scale=cfg.data.scale,
        proteins=frozenset(map(str, bundle.signature_columns["input_name"])),
    )
    registration = (
        plan_registration(contract, model_name or cfg.model_name, model_name is not None,
                          data_folder)
        if register
        else None
    )  # fmt: skip
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
                "data_contract": contract.describe(),
                **(tags or {}),
                **({"mlflow.note.content": description} if description else {}),
            }
        )
        mlflow.log_dict(cfg.model_dump(mode="json"), "config/train.yaml")
        mlflow.log_dict(fingerprint, "data/fingerprint.json")
        for dataset in datasets or []:
            log_dataset(dataset)
        if model_card is not None:
            mlflow.log_text(model_card, "model_card.md")
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
                    # the package travels with the model (mlflow copies it to code/exostab,
                    # configs/ as files, no __pycache__, and puts code/ first on sys.path)
                    code_paths=[str(PACKAGE_DIR)],
                    signature=model_signature(),
                    input_example=signature_typed(input_example, bundle),
                    pip_requirements=pip_requirements(),
                    registered_model_name=registration.name if registration else None,
                )
        # Metrics after the model, so that they belong to it (its page in the UI lists them).
        finite = {k: float(v) for k, v in metrics.items() if v == v}
        evaluation = None
        if oof_predictions is not None:
            evaluation = evaluation_dataset(oof_predictions, "cv_out_of_fold")
            mlflow.log_input(evaluation, context="evaluation")
        cv = {k: v for k, v in finite.items() if k.startswith("cv_")}
        mlflow.log_metrics(cv, model_id=info.model_id, dataset=evaluation)
        rest = {k: v for k, v in finite.items() if k not in cv}
        mlflow.log_metrics(rest, model_id=info.model_id)
        if registration is None:
            return RunRecord(run.info.run_id, info.model_uri, None, (), experiment_id)
        name = registration.name
        version = str(info.registered_model_version)
        describe_version(
            name, version, version_description,
            {**(version_tags or {}), "data_contract": contract.describe()},
        )  # fmt: skip
        aliases = (
            assign_aliases(name, version, metrics, str(fingerprint.get("data_hash")))
            if registration.move_aliases
            else ()
        )
        return RunRecord(
            run.info.run_id,
            f"models:/{name}/{version}",
            version,
            aliases,
            experiment_id,
            name,
            registration.notes,
        )


def assign_aliases(
    name: str, version: str, metrics: dict[str, float], data_hash: str
) -> tuple[str, ...]:
    """Make the new version the challenger; promote it to champion when it earns it.

    It becomes champion when it passed the gate (``champion_eligible``: it beats passage alone
    with a gain interval above 0) and either there is no champion or it beats the champion's
    ``cv_roc_auc`` on the same data fingerprint.
    """
    client = MlflowClient()
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
    from exostab.store.registry import ALIAS_URI, VERSION_URI

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
