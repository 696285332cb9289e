"""Model URIs → the exostab model folder, without starting mlflow when the URI allows it.

Opening the project's SQLite store through mlflow costs about 1.3 s (SQLAlchemy, migrations
check) on top of importing mlflow (about 1.5 s), which would triple ``exostab score``'s
start-up; looking a model up is one indexed SQL query. So a local model folder,
``runs:/<id>/<name>``, ``models:/<name>/<version>``, ``models:/<name>@<alias>`` and
``models:/m-<id>`` are read here with :mod:`sqlite3` from a ``sqlite:///`` store whose
artifacts sit on the local disk, with the rules of mlflow's own ``SqlAlchemyStore``: deleted
versions (``current_stage = 'Deleted_Internal'``) and deleted logged models do not resolve,
rows belong to the ``default`` workspace. The queries are trusted only on the schema revisions
they were checked against (``CHECKED_SCHEMAS``; ``tests/test_registry_client.py`` compares every
answer with ``MlflowClient``'s and fails when mlflow's schema moves on). Anything else (another
schema revision, workspaces, the ``latest`` alias, a tracking server, remote artifacts, registry
stages) goes through ``MlflowClient`` (``model_uri.resolve_model`` sends it to
``tracking.resolve_model``), which also gives the user mlflow's own error messages.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from exostab.config import work_folder

logger = logging.getLogger(__name__)

ALIAS_URI = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)/?$")
VERSION_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)/?$")
LOGGED_MODEL_URI = re.compile(r"^models:/(?P<model_id>m-[0-9a-f]+)/?$")
RUN_URI = re.compile(r"^runs:/(?P<run_id>[0-9a-f]+)/(?P<path>[^?#]+?)/?$")
# mlflow's alembic revisions (``alembic_version``) whose tables the queries below were checked
# against, answer for answer, with MlflowClient. Another revision: mlflow answers instead.
CHECKED_SCHEMAS = frozenset({"dc11669786a5"})  # mlflow 3.17
WORKSPACE = "default"  # mlflow's DEFAULT_WORKSPACE_NAME; other workspaces go through mlflow


def store_uri(root: Path | None = None) -> str:
    """Return the store: a user's ``MLFLOW_TRACKING_URI`` (or ``--tracking-uri``), else the
    SQLite file ``mlruns/mlflow.db`` under ``root`` (default: the working folder)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or default_store_uri(root)


def default_store_uri(root: Path | None = None) -> str:
    """The store when the user names none: ``sqlite:///ROOT/mlruns/mlflow.db`` (ROOT: the
    working folder), the store ``make ui`` opens in a checkout."""
    root = (root or work_folder()).absolute()
    return f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"


@dataclass(frozen=True)
class LocatedModel:
    """A model found on the local disk.

    Attributes:
        path: the mlflow model folder (holds ``MLmodel`` and ``artifacts/bundle``).
        version: the registry version the URI names, or None.
    """

    path: Path
    version: str | None


def local_folder(artifact_uri: str) -> Path | None:
    """Return the local folder of a ``file://`` URI or plain path; None for remote storage."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(artifact_uri)
    return None


def is_model_folder(path: Path | None) -> bool:
    return path is not None and (path / "MLmodel").is_file()


def _query(database: Path, sql: str, *args: str) -> list[tuple[object, ...]]:
    # Read-only: a look-up must never create, migrate or lock the store.
    with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as connection:
        return list(connection.execute(sql, args).fetchall())


def _one(rows: list[tuple[object, ...]]) -> tuple[object, ...] | None:
    return rows[0] if len(rows) == 1 else None


def _located(artifact_uri: object, version: object = None) -> LocatedModel | None:
    path = local_folder(str(artifact_uri)) if artifact_uri else None
    if not is_model_folder(path):
        return None
    assert path is not None
    return LocatedModel(path, None if version is None else str(version))


# A live version of a registered model of the default workspace (mlflow's own filters).
LIVE_VERSION = (
    f"v.workspace = '{WORKSPACE}' AND v.status = 'READY' "
    "AND COALESCE(v.current_stage, '') != 'Deleted_Internal' "
    "AND EXISTS (SELECT 1 FROM registered_models r "
    "WHERE r.workspace = v.workspace AND r.name = v.name)"
)


def _from_store(uri: str, database: Path) -> LocatedModel | None:
    schema = _query(database, "SELECT version_num FROM alembic_version")
    if len(schema) != 1 or schema[0][0] not in CHECKED_SCHEMAS:
        return None
    if match := ALIAS_URI.match(uri):
        if match["alias"].lower() == "latest":  # mlflow's built-in alias: mlflow answers
            return None
        row = _one(
            _query(
                database,
                "SELECT v.storage_location, v.version FROM registered_model_aliases a "
                "JOIN model_versions v ON v.workspace = a.workspace AND v.name = a.name "
                f"AND v.version = a.version WHERE a.workspace = '{WORKSPACE}' "
                f"AND a.name = ? AND a.alias = ? AND {LIVE_VERSION}",
                match["name"],
                match["alias"],
            )
        )
        return _located(*row) if row else None
    if match := VERSION_URI.match(uri):
        row = _one(
            _query(
                database,
                "SELECT v.storage_location, v.version FROM model_versions v "
                f"WHERE v.name = ? AND v.version = ? AND {LIVE_VERSION}",
                match["name"],
                str(int(match["version"])),
            )
        )
        return _located(*row) if row else None
    if match := LOGGED_MODEL_URI.match(uri):
        row = _one(
            _query(
                database,
                "SELECT artifact_location FROM logged_models "
                "WHERE model_id = ? AND lifecycle_stage = 'active'",
                match["model_id"],
            )
        )
        return _located(row[0]) if row else None
    if match := RUN_URI.match(uri):
        # MLflow 3 keeps a model logged in a run as a LoggedModel named after the run path.
        row = _one(
            _query(
                database,
                "SELECT artifact_location FROM logged_models "
                "WHERE source_run_id = ? AND name = ? AND lifecycle_stage = 'active'",
                match["run_id"],
                match["path"],
            )
        )
        return _located(row[0]) if row else None
    return None


def locate_model(uri: str, tracking_uri: str | None = None) -> LocatedModel | None:
    """Find a model's local folder cheaply; None when only mlflow can tell.

    Args:
        uri: a model URI or a local model folder.
        tracking_uri: the store to read (default: ``store_uri()``).
    """
    direct = local_folder(uri)
    if is_model_folder(direct):
        assert direct is not None
        return LocatedModel(direct, None)
    if not uri.startswith(("models:/", "runs:/")):
        return None
    tracking_uri = tracking_uri or store_uri()
    if not tracking_uri.startswith("sqlite:///") or "?" in tracking_uri:
        return None
    if os.environ.get("MLFLOW_WORKSPACE") or os.environ.get(
        "MLFLOW_ENABLE_WORKSPACES", ""
    ).lower() in ("true", "1"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    if not database.is_file():
        return None
    try:
        located = _from_store(uri, database)
    except sqlite3.Error as error:  # another schema, a locked file: mlflow knows better
        logger.info("reading %s directly failed (%s); asking mlflow", database, error)
        return None
    if located is not None:
        logger.info("%s → %s (read from %s)", uri, located.path, database)
    return located


# --- Data contracts: which models may share a registered name and its aliases ---------------

# Two models read the same protein space when at least this share of the smaller one's protein
# groups is in the other (a retrain on new lots loses or gains a few groups, not half).
MIN_SHARED_PROTEINS = 0.5


@dataclass(frozen=True)
class DataContract:
    """What a model predicts and reads: the label, the value scale and the protein groups.

    Attributes:
        label: the lot-sheet label column it predicts (e.g. ``unstable``).
        scale: ``raw`` intensities or ``log2`` values.
        proteins: the protein groups it reads (input column names).
    """

    label: str
    scale: str
    proteins: frozenset[str]

    def differences(self, current: DataContract) -> list[str]:
        """Why this model (new) cannot take the aliases of ``current``; empty when it can."""
        reasons = []
        if self.label != current.label:
            reasons.append(f"it predicts {self.label!r}, the current model {current.label!r}")
        if self.scale != current.scale:
            reasons.append(f"its values are {self.scale}, the current model's {current.scale}")
        shared = len(self.proteins & current.proteins)
        smaller = min(len(self.proteins), len(current.proteins))
        if smaller and shared < MIN_SHARED_PROTEINS * smaller:
            reasons.append(
                f"it reads {len(self.proteins)} protein groups, {shared} of them among the "
                f"current model's {len(current.proteins)}"
            )
        return reasons

    def describe(self) -> str:
        """One line for a registry tag: ``label unstable, raw values, 303 protein groups``."""
        return f"label {self.label}, {self.scale} values, {len(self.proteins)} protein groups"


def derived_model_name(base: str, data_folder: str) -> str:
    """A registered-model name of its own for another data contract: ``exostab-heart-lfq``.

    Made of the base name and the folder the lot sheet sits in, reduced to letters, digits,
    ``-`` and ``_`` (mlflow's names allow more, URIs and shells like these).
    """
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", data_folder).strip("-_").lower()
    return f"{base}-{slug}" if slug else f"{base}-other"
