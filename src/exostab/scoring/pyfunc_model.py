"""The mlflow pyfunc model, logged from code: ``mlflow.pyfunc.log_model(python_model=<this file>)``.

mlflow executes this file when it loads the model; it bundles no pickled object. The artifact
``bundle`` is a folder written by ``ModelBundle.save``.
"""

from __future__ import annotations

import json
import math
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


class RequestError(MlflowException):
    """A refused request (HTTP 400) whose message stays the one line it was raised with.

    mlflow's scoring server rewrites the ``message`` of any ``MlflowException`` that ``predict``
    raises to ``Failed to predict data '<the parsed request>'. \nError: <message>``: a
    multi-line pandas dump of the whole request before the reason. Here a new message that
    only wraps the current one (ends with it) is ignored, so the client reads the reason alone;
    any other new message replaces it, on one line.
    """

    @property  # type: ignore[override]
    def message(self) -> str:
        return self._one_line

    @message.setter
    def message(self, value: str) -> None:
        text = str(value)
        current = getattr(self, "_one_line", None)
        if current is not None and text.endswith(current):
            return
        self._one_line = " ".join(text.splitlines())


def _shown(value: Any) -> str:
    """A param value as the request's JSON wrote it (short, one line)."""
    if isinstance(value, np.generic):
        value = value.item()
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def read_top_k(params: dict[str, Any] | None) -> int:
    """Read the ``top_k`` parameter: a whole number of at least 1 (default 5).

    JSON ``null``, text (``"3"``), a fraction (``2.5``), ``true``, 0 or a negative number is
    refused in one line naming ``params.top_k`` and the value sent. ``null`` is refused, not
    read as the default (as ``score --top-k`` has no empty value): leaving ``top_k`` out gives
    the default. A ``top_k`` above the model's feature count lists every driver (nothing more
    to list), so ``100000`` is read as "all". A whole float (``3.0``) is 3: mlflow hands a
    ``double`` param over as a float.

    Raises:
        RequestError: INVALID_PARAMETER_VALUE (HTTP 400), naming what was sent.
    """
    value = (params or {}).get("top_k", DEFAULT_TOP_K)
    if isinstance(value, float | np.floating) and math.isfinite(value) and value.is_integer():
        value = int(value)
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if whole and int(value) >= 1:
        return int(value)
    hint = f" (leave top_k out for the default, {DEFAULT_TOP_K})" if value is None else ""
    raise RequestError.invalid_parameter_value(
        f"params.top_k: must be a whole number of at least 1, got {_shown(value)}{hint}"
    )


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
            raise RequestError.invalid_parameter_value(
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
