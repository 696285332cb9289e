"""``exostab serve``: run mlflow's scoring server for a model and stop it, children included.

The server is what ``mlflow models serve --env-manager local`` runs, uvicorn with mlflow's
scoring app, wrapped so that a bad ``params.top_k`` gets a one-line 400
(``exostab.scoring.http_app``). uvicorn may start workers of its own: ending only the top
process could leave one answering on the port, so the server runs in a process group of its
own, and SIGTERM, SIGINT or SIGHUP (a closed terminal) to ``exostab serve`` is passed to that
whole group; whatever has not exited after a grace period is killed. A second signal kills at
once. SIGKILL cannot be caught by any process: after it, end the server's process group by
hand (``kill -- -PGID``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from exostab.errors import ExostabError

logger = logging.getLogger(__name__)

GRACE_SECONDS = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # HUP: the terminal closed


# The model ``exostab serve`` hands to ``http_app.create_app`` (a local folder or a URI).
SERVED_MODEL = "EXOSTAB_SERVED_MODEL"


@dataclass(frozen=True)
class ServerPlan:
    """What ``exostab serve`` will run.

    Attributes:
        model_uri: the URI the user named.
        model_version: registry version (or run id) stamped on every answer.
        source: what mlflow loads: the model's local folder when it was found cheaply,
            otherwise the URI.
        port: TCP port on 127.0.0.1.
        command: the server's command line (uvicorn with ``http_app.create_app``).
        env: its environment.
        gate_passed: the model passed the gate at training (None: trained before the gate).
    """

    model_uri: str
    model_version: str
    source: str
    port: int
    command: list[str]
    env: dict[str, str] = field(repr=False)
    gate_passed: bool | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/invocations"


def require_free_port(port: int) -> None:
    """Refuse a port another process listens on (mlflow would fail later with a traceback).

    Raises:
        ExostabError: the port is in use on 127.0.0.1.
    """
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ExostabError(
                f"port {port} on 127.0.0.1 is in use (another exostab serve or make serve?); "
                "stop it or pass --port"
            ) from None


def plan_server(model: str, port: int) -> ServerPlan:
    """Resolve the model and build the server's command line (nothing is started).

    Raises:
        ExostabError: the port is taken, or the model cannot be found or is not an exostab
            model.
    """
    from exostab.store.model_uri import resolve_model
    from exostab.store.registry import locate_model, store_uri

    require_free_port(port)
    bundle, model_uri = resolve_model(model)
    located = locate_model(model)
    # A local folder spares the server a second registry look-up (and pins the alias now).
    source = str(located.path) if located is not None else model_uri
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "MLFLOW_TRACKING_URI": store_uri(),
        "EXOSTAB_MODEL_VERSION": bundle.model_version,
        # Both for models logged with a column signature (before the pyfunc read its columns
        # itself): mlflow warns on every request that sends proteins outside the signature,
        # listing them all (thousands of names per request); errors still reach the log.
        "MLFLOW_LOGGING_LEVEL": "ERROR",
        # And a request without lot_id gets a short 400 instead of one that repeats the whole
        # signature (thousands of columns, ~60 KB).
        "MLFLOW_DISABLE_SCHEMA_DETAILS": "true",
    }
    # What ``mlflow models serve --env-manager local`` runs (uvicorn with mlflow's scoring
    # app and the model path in the environment), with the request's params checked first so
    # that a bad top_k is a one-line 400 (``exostab.scoring.http_app``).
    env[SERVED_MODEL] = source
    command = [
        str(Path(bin_dir) / "uvicorn"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--factory",
        "exostab.scoring.http_app:create_app",
    ]
    return ServerPlan(
        model_uri, bundle.model_version, source, port, command, env, bundle.gate_passed
    )


def group_alive(group: int) -> bool:
    """Tell whether any process of a process group is still running (zombies do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state not in ("Z", "X"):
            return True
    return False


def stop_group(group: int, grace: float = GRACE_SECONDS) -> bool:
    """SIGTERM a process group, wait for it, SIGKILL what is left; True when it ended in time."""
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap_children()
        if not group_alive(group):
            return True
        time.sleep(0.1)
    logger.warning("model server still running %.0f s after SIGTERM: killing it", grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    time.sleep(0.1)
    reap_children()
    return False


def adopt_orphans() -> None:
    """Become the reaper of orphaned descendants (Linux), so none is left a zombie.

    mlflow's top process exits on SIGTERM before uvicorn has shut down; uvicorn is then
    reparented to PID 1, which in a container often reaps nobody.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_child_subreaper = 36
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0)
    except (OSError, AttributeError):
        logger.info("cannot become a subreaper; orphaned server processes go to PID 1")


def reap_children() -> None:
    """Collect the exit status of every child that has ended (never blocks)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_server(plan: ServerPlan, say: Callable[[str], None]) -> None:
    """Run the model server until it exits or this process gets SIGTERM/SIGINT.

    Args:
        plan: from ``plan_server``.
        say: shows a one-line status message to the user (stderr).

    Raises:
        ExostabError: the server exited by itself with an error.
    """
    adopt_orphans()
    server = subprocess.Popen(plan.command, env=plan.env, start_new_session=True)
    group = server.pid  # the leader of its own session and process group
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if received:  # a second signal: no more patience
            say(f"{signal.Signals(signum).name} again: killing the model server")
            os.killpg(group, signal.SIGKILL)
            return
        received.append(signum)
        say(
            f"{signal.Signals(signum).name} received: stopping the model server "
            f"(process group {group})"
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        returncode = server.wait()
    finally:
        clean = stop_group(group)  # children outliving the leader, or an exception here
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        say(
            "model server stopped; port "
            f"{plan.port} closed" + ("" if clean else " (killed after the grace period)")
        )
        return
    if returncode != 0:
        raise ExostabError(f"the model server (uvicorn) exited with code {returncode}")
