"""Logging runs to mlflow: one training run (with its datasets and model), one monitoring check.

``log_training_run`` logs one training run, its input files as mlflow datasets and its
out-of-fold predictions as the evaluation dataset, logs the model (``model_logging``) and
registers it with its aliases (``aliases``); ``log_monitoring_run`` logs one monitoring check and
tags the model version it checked.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from exostab.config import TrainConfig
from exostab.model.bundle import ModelBundle
from exostab.store.aliases import assign_aliases, describe_version, plan_registration
from exostab.store.model_logging import log_pyfunc_model
from exostab.store.registry import DataContract
from exostab.store.tracking import ensure_experiment, git_commit

logger = logging.getLogger(__name__)


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
        # the model, logged from code (registered under the planned name, if any)
        info = log_pyfunc_model(bundle, input_example, registration.name if registration else None)
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
