"""The HTTP app ``exostab serve`` runs: mlflow's own scoring server with ``params`` checked first.

``create_app`` builds the app ``mlflow models serve`` runs (``mlflow.pyfunc.scoring_server``,
model from ``$EXOSTAB_SERVED_MODEL``) and puts one check in front of ``/invocations``: a
JSON request's ``params.top_k`` is read by the model's own rule (``read_top_k``) before mlflow
sees it. mlflow checks params against the signature's types before ``predict`` runs and refuses
a value no number type takes (text, ``true``) in its own words (``Can not safely convert ...``)
after a dump of the whole parsed request; here every bad ``top_k`` gets the model's one-line
400 instead, and a body that is not JSON a short one (mlflow's 400 would echo the whole
body). Everything else (other paths, CSV, good JSON) goes to mlflow unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from exostab.scoring.pyfunc_model import RequestError, read_top_k
from exostab.scoring.serving import SERVED_MODEL

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


def params_problem(body: bytes) -> RequestError | None:
    """The refusal of a JSON request body: malformed JSON (mlflow would echo the whole body in
    its 400), or a bad ``params.top_k``; None when mlflow may read it."""
    try:
        payload = json.loads(body)
    except ValueError as error:  # UnicodeDecodeError included
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return RequestError.invalid_parameter_value(f"the request body is not valid JSON ({first})")
    params = payload.get("params") if isinstance(payload, dict) else None
    if not isinstance(params, dict) or "top_k" not in params:
        return None
    try:
        read_top_k(params)
    except RequestError as error:
        return error
    return None


def checking_params(app: App) -> App:
    """Wrap an ASGI app: a POST to ``/invocations`` with a bad ``params.top_k`` is answered
    400 here; every other request, and the body as sent, go to ``app``."""

    async def wrapper(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if (
            scope["type"] != "http"
            or scope.get("path") != "/invocations"
            or scope.get("method") != "POST"
            or content_type != b"application/json"
        ):
            await app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if (error := params_problem(body)) is not None:
            content = error.serialize_as_json().encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": error.get_http_status_code(),
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(content)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": content})
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return wrapper


def create_app() -> App:
    """mlflow's scoring server (``mlflow.pyfunc.scoring_server.init``, the app ``mlflow models
    serve`` runs) for the model in ``$EXOSTAB_SERVED_MODEL``, params checked first (``uvicorn
    --factory exostab.scoring.http_app:create_app``)."""
    import mlflow
    from mlflow.pyfunc import scoring_server

    app: App = scoring_server.init(mlflow.pyfunc.load_model(os.environ[SERVED_MODEL]))
    return checking_params(app)
