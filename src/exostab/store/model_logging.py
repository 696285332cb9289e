"""Logging the fitted bundle as an mlflow pyfunc model: from code, self-contained, pinned.

The model is logged from ``scoring/pyfunc_model.py`` with the exostab package itself as
``code_paths`` (``PACKAGE_DIR``), its pinned requirements (``pip_requirements``) and a signature
of the ``top_k`` parameter only (``model_signature``); the input example is arranged as the
served columns (``signature_typed``).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ParamSchema, ParamSpec

from exostab.config import NUMERIC_METADATA
from exostab.model.bundle import ModelBundle

# src/exostab (this file is src/exostab/store/model_logging.py), logged as code with the model
PACKAGE_DIR = Path(__file__).resolve().parents[1]
PYFUNC_FILE = PACKAGE_DIR / "scoring" / "pyfunc_model.py"


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

    ``top_k`` is declared ``double``, not ``long``: mlflow checks a param against its type
    before ``predict`` runs and refuses a mismatch with its own message (``Can not safely
    convert ...``); as a double, a fraction (``2.5``) reaches ``read_top_k``, which refuses it
    in one line naming ``params.top_k``. Only what no number type takes (text, ``true``) is
    still refused by mlflow itself (``exostab serve`` checks those first).
    """
    return ModelSignature(params=ParamSchema([ParamSpec("top_k", "double", 5.0)]))


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


def log_pyfunc_model(
    bundle: ModelBundle, input_example: pd.DataFrame, registered_model_name: str | None
) -> ModelInfo:
    """Log the bundle as the active run's pyfunc model ``model``, from code.

    Args:
        bundle: the fitted bundle (saved to a scratch folder, logged as the ``bundle`` artifact).
        input_example: an input example under the input column names.
        registered_model_name: the registered model to add a version to (None: not registered).

    Returns:
        mlflow's record of the logged model (``model_id``, ``model_uri``, the registered version).
    """
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
                registered_model_name=registered_model_name,
            )
    return info
