"""The mlflow pyfunc model, logged from code: ``mlflow.pyfunc.log_model(python_model=<this file>)``.

mlflow executes this file when it loads the model; it bundles no pickled object. The artifact
``bundle`` is a folder written by ``ModelBundle.save``.
"""

from __future__ import annotations

import os
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel, PythonModelContext

from exostab.errors import InputError
from exostab.model.bundle import ModelBundle

DEFAULT_TOP_K = 5


def read_top_k(params: dict[str, Any] | None) -> int:
    """Read the ``top_k`` parameter: a whole number of at least 1 (default 5).

    JSON ``null``, text (``"3"``), a fraction (``2.5``), ``true``, 0 or a negative number is
    refused in one line. A ``top_k`` above the model's feature count lists every driver
    (nothing more to list), so ``100000`` is read as "all".

    Raises:
        MlflowException: INVALID_PARAMETER_VALUE (HTTP 400), naming what was sent.
    """
    value = (params or {}).get("top_k", DEFAULT_TOP_K)
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not whole or int(value) < 1:
        sent = "null" if value is None else repr(value)
        raise MlflowException.invalid_parameter_value(
            f"top_k must be a whole number of at least 1 (got {sent})"
        )
    return int(value)


def _cell(value: Any) -> Any:
    """A request cell as JSON sent it: mlflow wraps ``inputs``/``instances`` cells in numpy."""
    if isinstance(value, np.ndarray):
        # an object array may hold 0-d arrays (mlflow wraps a null among numbers so)
        return value.item() if value.ndim == 0 else [_cell(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def request_lots(model_input: Any) -> pd.DataFrame:
    """Turn what mlflow parsed from any request shape into lots × columns.

    ``dataframe_split`` and ``dataframe_records`` arrive as a DataFrame; ``inputs`` and
    ``instances`` as a list of records (cells wrapped in 0-d numpy arrays) or as columns
    (name → array). Every shape gives one row per lot, cells as sent.

    Raises:
        InputError: a shape that names no columns (a bare list or array of values).
    """
    if isinstance(model_input, pd.DataFrame):
        return model_input
    if isinstance(model_input, list) and all(isinstance(r, dict) for r in model_input):
        return pd.DataFrame(
            [{k: _cell(v) for k, v in record.items()} for record in model_input], dtype=object
        )
    if isinstance(model_input, dict):
        columns = {k: _cell(v) for k, v in model_input.items()}
        if all(isinstance(v, list) for v in columns.values()):
            return pd.DataFrame(columns, dtype=object)
        return pd.DataFrame([columns], dtype=object)  # one lot sent as one object
    raise InputError(
        "the request holds no lots by column name: send lots as objects with lot_id, "
        "passage, ... (inputs/instances as a list of objects, or dataframe_split/"
        "dataframe_records)"
    )


class ExostabPyfunc(PythonModel):
    """Score lots: calibrated risk, band, top drivers, coverage and applicability per lot."""

    def load_context(self, context: PythonModelContext) -> None:
        bundle = ModelBundle.load(context.artifacts["bundle"])
        version = os.environ.get("EXOSTAB_MODEL_VERSION")
        self.bundle = bundle.with_version(version) if version else bundle

    def predict(
        self,
        context: PythonModelContext,
        # mlflow reads this hint (a list or dict still arrives for ``inputs``/``instances``:
        # ``request_lots`` reads every shape); Any would change how mlflow validates input
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        # as score's --top-k; a negative one sliced off all drivers but the last, null crashed
        top_k = read_top_k(params)
        # The signature declares no input columns (mlflow would rebuild the request column by
        # column); the columns are gated here, with the rules that signature had.
        try:
            request = self.bundle.served_request(request_lots(model_input))
        except InputError as error:
            raise MlflowException.invalid_parameter_value(
                f"Failed to enforce model input schema: {error}",
                error_class="SCHEMA_ENFORCEMENT_FAILED",
            ) from None
        answer = self.bundle.predict(request, top_k=top_k)
        # Served answers say SIMULATED as score's summary and report do ("model trained on").
        trained_on = "SIMULATED lots" if self.bundle.simulated_training else "real lots"
        answer = answer.assign(model_trained_on=trained_on)
        # None, not NaN, for the lots answered with an error: NaN is not valid JSON.
        return answer.astype(object).where(answer.notna(), None)


mlflow.models.set_model(ExostabPyfunc())
