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


def post(url: str, payload: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def server(
    simulated_model: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``exostab serve`` of a real pyfunc folder (the SIMULATED model); yields the URL."""
    import mlflow

    from exostab.store.model_logging import PYFUNC_FILE, model_signature

    folder = tmp_path_factory.mktemp("served") / "model"
    mlflow.pyfunc.save_model(
        str(folder),
        python_model=str(PYFUNC_FILE),
        artifacts={"bundle": str(simulated_model["model"] / "artifacts" / "bundle")},
        signature=model_signature(),
    )
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


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("request_topk_null.json", "null"),
        ("request_topk_3.json", "'3'"),
        ("request_topk_2.5.json", "2.5"),
        ("request_topk_0.json", "0"),
        ("request_topk_-1.json", "-1"),
    ],
)
def test_a_bad_top_k_is_a_one_line_400(server: str, name: str, shown: str) -> None:
    """Before: ``"top_k": null`` returned a Python stack trace."""
    status, body = post(server, case_request(name))
    assert status == 400, body[:500]
    answer = json.loads(body)
    assert "stack_trace" not in answer and "Traceback" not in body
    # mlflow puts the parsed request before the model's message; the message is one line
    error = answer["message"].split("Error: ", 1)[1]
    assert "\n" not in error and "top_k" in error
    if name in ("request_topk_null.json", "request_topk_0.json", "request_topk_-1.json"):
        assert error == f"top_k must be a whole number of at least 1 (got {shown})"
    else:  # mlflow's own type check of the long parameter refuses text and fractions
        assert shown.strip("'") in error


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
