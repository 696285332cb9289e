"""Over real HTTP (``exostab serve``): every request shape mlflow accepts, ``top_k``, lot ids.

Case ``../shared/cases/http-inputs-envelope-and-null-topk`` (requests in the ``inputs`` and
``instances`` envelopes, and ``top_k`` null, "3", 2.5, 0, -1, 100000), plus lot ids sent as
numbers and text in every shape (hypothesis), answered as sent whatever the other rows hold.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import wait_for_ping
from exostab.io.lot_sheet_cells import lot_id_text

CASE = (
    Path(__file__).resolve().parents[2] / "shared" / "cases" / "http-inputs-envelope-and-null-topk"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(url: str, payload: dict[str, Any] | bytes) -> tuple[int, str]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def served_folder(
    simulated_model: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A real pyfunc folder of the SIMULATED model, saved as training logs it."""
    import mlflow

    from exostab.store.model_logging import PYFUNC_FILE, model_signature

    folder = tmp_path_factory.mktemp("served") / "model"
    mlflow.pyfunc.save_model(
        str(folder),
        python_model=str(PYFUNC_FILE),
        artifacts={"bundle": str(simulated_model["model"] / "artifacts" / "bundle")},
        signature=model_signature(),
    )
    return folder


@pytest.fixture(scope="module")
def server(served_folder: Path) -> Iterator[str]:
    """``exostab serve`` of the pyfunc folder; yields the URL."""
    folder = served_folder
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder.parent / 'mlflow.db'}",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
    }
    exostab = Path(sys.executable).parent / "exostab"
    process = subprocess.Popen(
        [str(exostab), "serve", "--model", str(folder), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_ping(process, port, 180)
        yield f"http://127.0.0.1:{port}/invocations"
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=60)


def case_request(name: str) -> dict[str, Any]:
    path = CASE / name
    if not path.exists():
        pytest.skip(f"shared case http-inputs-envelope-and-null-topk not present ({CASE})")
    return dict(json.loads(path.read_text()))


@pytest.mark.parametrize("name", ["request_inputs.json", "request_instances.json"])
def test_every_envelope_is_answered_per_lot(server: str, name: str) -> None:
    """Before: ``inputs`` got 200 with lot_id null and "lot_id is a JSON array" for every lot."""
    request = case_request(name)
    status, body = post(server, request)
    assert status == 200, body[:500]
    predictions = json.loads(body)["predictions"]
    sent = next(iter(request.values()))
    assert [p["lot_id"] for p in predictions] == [lot["lot_id"] for lot in sent]
    assert all(p["error"] is None and 0 < p["risk"] < 1 for p in predictions)
    # the same lots as dataframe_records and dataframe_split: the same answers
    records = json.loads(post(server, {"dataframe_records": sent})[1])["predictions"]
    split = pd.DataFrame(sent).to_dict(orient="split", index=False)
    by_split = json.loads(post(server, {"dataframe_split": split})[1])["predictions"]
    assert [p["risk"] for p in predictions] == [p["risk"] for p in records]
    assert [p["risk"] for p in by_split] == [p["risk"] for p in records]


BAD_TOP_K = [
    ("request_topk_null.json", None, "null (leave top_k out for the default, 5)"),
    ("request_topk_3.json", "3", '"3"'),
    ("request_topk_2.5.json", 2.5, "2.5"),
    ("request_topk_0.json", 0, "0"),
    ("request_topk_-1.json", -1, "-1"),
    (None, True, "true"),
    (None, [3], "[3]"),
]


def bad_top_k_request(name: str | None, value: Any) -> dict[str, Any]:
    if name is None:
        request = case_request("request_topk_0.json")
        request["params"]["top_k"] = value
        return request
    request = case_request(name)
    assert request["params"]["top_k"] == value
    return request


@pytest.mark.parametrize(("name", "value", "shown"), BAD_TOP_K)
def test_a_bad_top_k_is_a_one_line_400(server: str, name: str, value: Any, shown: str) -> None:
    """Before: the 400's message began with a multi-line dump of the parsed request
    (``Failed to predict data '  lot_id  passage ...\n0  L-1 ...'. \nError: ...``), and text,
    fractions and ``true`` got mlflow's ``Can not safely convert <class 'str'> to
    DataType.long``. (Before that, ``null`` returned a Python stack trace.)"""
    status, body = post(server, bad_top_k_request(name, value))
    assert status == 400, body[:500]
    answer = json.loads(body)
    assert "stack_trace" not in answer and "Traceback" not in body
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert answer["message"] == f"params.top_k: must be a whole number of at least 1, got {shown}"


@pytest.mark.parametrize(
    ("name", "value", "shown"), [bad for bad in BAD_TOP_K if type(bad[1]) in (int, float)]
)
def test_mlflow_models_serve_refuses_a_numeric_bad_top_k_in_one_line(
    served_folder: Path, name: str, value: Any, shown: str
) -> None:
    """Served by plain ``mlflow models serve`` (no exostab check in front): mlflow's own
    ``/invocations`` handler, in process. A number that is not a whole number >= 1 reaches the
    model (``top_k`` is a ``double`` param), whose refusal keeps its one line: mlflow's
    scoring server no longer puts the parsed request before it. (``true`` is a number to
    Python but mlflow's type check refuses it first, in its own words.)"""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(str(served_folder))
    body = json.dumps(bad_top_k_request(name, value))
    with pytest.raises(MlflowException) as refused:
        scoring_server.invocations(body, "application/json", model, None)
    answer = json.loads(refused.value.serialize_as_json())
    assert refused.value.get_http_status_code() == 400
    assert answer["message"] == f"params.top_k: must be a whole number of at least 1, got {shown}"


def test_mlflow_models_serve_refuses_a_request_without_lot_id_in_one_line(
    served_folder: Path,
) -> None:
    """An input-column refusal from the model: one line, no dump of the parsed request."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(str(served_folder))
    body = json.dumps({"dataframe_records": [{"passage": 4, "medium": "hPL"}]})
    with pytest.raises(MlflowException) as refused:
        scoring_server.invocations(body, "application/json", model, None)
    message = refused.value.message
    assert refused.value.get_http_status_code() == 400
    assert "\n" not in message and "Failed to predict data" not in message
    assert message.startswith("Failed to enforce model input schema: the request has no lot_id")


def test_malformed_json_is_a_short_one_line_400_and_an_escaped_key_is_still_checked(
    server: str,
) -> None:
    """Review: a truncated body got a 400 echoing the whole body (9.5 MB back for a 9.5 MB
    request), and ``"par\\u0061ms"`` (the same key, escaped) slipped past the top_k check."""
    whole = json.dumps(case_request("request_topk_0.json")).encode()
    status, body = post(server, whole[:-1])
    assert status == 400 and len(body) < 500, body[:500]
    message = json.loads(body)["message"]
    assert message.startswith("the request body is not valid JSON (") and "\n" not in message
    escaped = whole.replace(b'"params"', b'"par\\u0061ms"').replace(b'"top_k": 0', b'"top_k": "3"')
    assert b"u0061" in escaped and b'"3"' in escaped
    status, body = post(server, escaped)
    assert status == 400
    assert json.loads(body)["message"] == (
        'params.top_k: must be a whole number of at least 1, got "3"'
    )


def test_a_huge_top_k_lists_every_driver(server: str) -> None:
    request = case_request("request_topk_100000.json")
    status, body = post(server, request)
    assert status == 200, body[:500]
    listed = json.loads(body)["predictions"][0]["top_drivers"]
    request["params"]["top_k"] = 3
    three = json.loads(post(server, request)[1])["predictions"][0]["top_drivers"]
    # read as "every driver": the first three as top_k 3 gives them, then the rest
    assert three.count(" risk") == 3 and listed.count(" risk") > 3
    assert listed.startswith(three)


def lot_ids() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(min_value=0, max_value=10**15 - 1),
        st.text(alphabet="ABCDEFGHJKLMNPRSTVWXYZ0123456789-_.", min_size=1, max_size=12),
        st.none(),
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ids=st.lists(lot_ids(), min_size=1, max_size=5, unique_by=lambda v: str(v)),
    shape=st.sampled_from(["dataframe_records", "dataframe_split", "inputs", "instances"]),
)
def test_a_lot_id_comes_back_as_sent_whatever_the_other_rows_hold(
    server: str, ids: list[Any], shape: str
) -> None:
    """Before: ``240101`` came back as ``"240101.0"`` unless another row's id was text."""
    lots = [{"lot_id": lot, "passage": 3 + i, "CD63": 2.0e6} for i, lot in enumerate(ids)]
    if shape == "dataframe_split":
        payload: Any = pd.DataFrame(lots).astype(object).to_dict(orient="split", index=False)
    else:
        payload = lots
    status, body = post(server, {shape: payload})
    assert status == 200, body[:500]
    answered = [p["lot_id"] for p in json.loads(body)["predictions"]]
    assert answered == [None if v is None else lot_id_text(v) for v in ids]
    for lot, sent in zip(answered, ids, strict=True):
        if isinstance(sent, int):
            assert lot == str(sent)  # exactly the digits sent
