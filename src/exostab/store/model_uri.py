"""A model URI → its fitted bundle: the fast look-up first, mlflow's client when it must.

``registry.locate_model`` reads a local SQLite store with one indexed query (no mlflow import);
any URI it cannot answer goes to ``tracking.resolve_model`` (``MlflowClient``, any store, any
artifact location). This module sits above both so that neither imports the other.
"""

from __future__ import annotations

from exostab.errors import ExostabError
from exostab.model.bundle import ModelBundle
from exostab.store.registry import locate_model


def resolve_model(uri: str) -> tuple[ModelBundle, str]:
    """Load the bundle behind a model URI; mlflow is imported only when the URI needs it.

    Returns the bundle stamped with its registry version (when the URI names one) and the URI.

    Raises:
        ExostabError: the model cannot be found or is not an exostab model.
    """
    located = locate_model(uri)
    if located is None:
        from exostab.store import tracking  # imports mlflow: only when needed

        tracking.configure_tracking()
        return tracking.resolve_model(uri)
    bundle_dir = located.path / "artifacts" / "bundle"
    if not bundle_dir.exists():
        raise ExostabError(f"{uri} is not an exostab model (no bundle in its artifacts)")
    bundle = ModelBundle.load(bundle_dir)
    return (bundle.with_version(located.version) if located.version else bundle), uri
