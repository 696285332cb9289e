"""The mlflow pyfunc model, logged from code: ``mlflow.pyfunc.log_model(python_model=<this file>)``.

mlflow executes this file when it loads the model; it bundles no pickled object. The artifact
``bundle`` is a folder written by ``ModelBundle.save``.
"""

from __future__ import annotations

import os
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel, PythonModelContext

from exostab.bundle import ModelBundle
from exostab.errors import InputError


class ExostabPyfunc(PythonModel):
    """Score lots: calibrated risk, band, top drivers, coverage and applicability per lot."""

    def load_context(self, context: PythonModelContext) -> None:
        bundle = ModelBundle.load(context.artifacts["bundle"])
        version = os.environ.get("EXOSTAB_MODEL_VERSION")
        self.bundle = bundle.with_version(version) if version else bundle

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        top_k = int((params or {}).get("top_k", 5))
        if top_k < 1:  # as score's --top-k; a negative one sliced off all drivers but the last
            raise MlflowException.invalid_parameter_value(f"top_k must be at least 1 (got {top_k})")
        # The signature declares no input columns (mlflow would rebuild the request column by
        # column); the columns are gated here, with the rules that signature had.
        try:
            request = self.bundle.served_request(pd.DataFrame(model_input))
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
