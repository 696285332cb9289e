"""The served model says SIMULATED when it was trained on simulated lots (model tier).

The pyfunc is saved from code and loaded by mlflow exactly as ``mlflow models serve`` loads
it (no server: the HTTP round trip is in ``test_integration``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from exostab.model.bundle import ModelBundle
from exostab.store.model_logging import PYFUNC_FILE


@pytest.mark.parametrize("simulated", [True, False])
def test_served_answers_name_what_the_model_was_trained_on(
    simulated_model: dict[str, Path], tmp_path: Path, simulated: bool
) -> None:
    bundle = ModelBundle.load(simulated_model["model"] / "artifacts" / "bundle")
    bundle_dir = replace(bundle, simulated_training=simulated).save(tmp_path / "bundle")
    mlflow.pyfunc.save_model(
        tmp_path / "model", python_model=str(PYFUNC_FILE), artifacts={"bundle": str(bundle_dir)}
    )
    served = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    lots = pd.DataFrame({"lot_id": ["A", "B"], "passage": [4, -1], "CD9": [1e9, 1e9]})
    answer = served.predict(lots)
    expected = "SIMULATED lots" if simulated else "real lots"
    assert answer["model_trained_on"].tolist() == [expected, expected]
    # the existing columns are unchanged: the batch engine's answer, in its order
    batch = bundle.predict(lots)
    assert list(answer.columns) == [*batch.columns, "model_trained_on"]
    assert answer["error"].notna().tolist() == [False, True]
