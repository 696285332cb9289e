"""Speed benchmark: each task in its own child process, timed, with that child's peak memory."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

BIN = Path(sys.executable).parent
EXOSTAB = str(BIN / "exostab")
TASKS = Path(__file__).with_name("tasks.py")


@dataclass(frozen=True)
class SpeedSizes:
    """Sizes of the speed tasks (the targets are stated for the full sizes)."""

    simulate_lots: int = 1000
    simulate_proteins: int = 4000
    read_lots: int = 500
    read_proteins: int = 5000
    train_lots: int = 250
    train_proteins: int = 3000
    score_lots: int = 10_000
    big_score_lots: int | None = 100_000
    requests: int = 30


QUICK_SPEED = SpeedSizes(
    simulate_lots=300,
    simulate_proteins=1000,
    read_lots=200,
    read_proteins=2000,
    train_lots=150,
    train_proteins=1000,
    score_lots=2000,
    big_score_lots=None,
    requests=10,
)


@dataclass(frozen=True)
class Measured:
    """One child process: wall seconds, its peak resident memory, exit code and output tail."""

    seconds: float
    peak_mb: float
    returncode: int
    output: str
    timed_out: bool = False


def run_child(
    command: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> Measured:
    """Run a command to completion; peak RSS comes from ``wait4`` on that very child."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(errors="replace")
    measured = Measured(
        seconds=seconds,
        peak_mb=usage.ru_maxrss / 1024,  # Linux reports kilobytes
        returncode=process.returncode,
        output=output[-3000:],
        timed_out=seconds >= timeout and process.returncode < 0,
    )
    if measured.returncode != 0:
        logger.warning("%s exited %d: %s", command[:3], measured.returncode, output[-500:])
    return measured


def tiled_lots(source: Path, out: Path, n_lots: int, seed: int, pool_size: int = 1000) -> None:
    """Write ``n_lots`` lots (wide proteins.csv + lots.csv) by tiling perturbed simulated lots.

    The simulator's 250 lots become a pool of ``pool_size`` profiles (intensities × log-normal
    noise, σ = 0.1 log2; NaN stays missing) formatted once; lines are then streamed to disk
    with fresh lot ids, so 100,000 lots never sit in memory here.
    """
    rng = np.random.default_rng(seed)
    proteins = pd.read_csv(source / "proteins.csv")
    sheet = pd.read_csv(source / "lots.csv")
    picks = rng.integers(0, len(proteins), pool_size)
    values = proteins.drop(columns="lot_id").to_numpy(dtype=float)[picks]
    values *= 2.0 ** rng.normal(0.0, 0.1, values.shape)
    pool = pd.DataFrame(values).to_csv(header=False, index=False, float_format="%.1f")
    lines = pool.splitlines()
    sheet_pool = sheet.iloc[picks].drop(columns="lot_id").to_csv(header=False, index=False)
    sheet_lines = sheet_pool.splitlines()
    out.mkdir(parents=True, exist_ok=True)
    with (out / "proteins.csv").open("w") as wide, (out / "lots.csv").open("w") as lots:
        wide.write(pd.DataFrame(columns=proteins.columns).to_csv(index=False))
        lots.write(pd.DataFrame(columns=sheet.columns).to_csv(index=False))
        for start in range(0, n_lots, 10_000):
            stop = min(start + 10_000, n_lots)
            wide.write("".join(f"T{i:06d},{lines[i % pool_size]}\n" for i in range(start, stop)))
            lots.write(
                "".join(f"T{i:06d},{sheet_lines[i % pool_size]}\n" for i in range(start, stop))
            )


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, payload: bytes) -> tuple[int, bytes]:
    """POST JSON and return the status and body (errors included)."""
    request = urllib.request.Request(
        url, data=payload, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def serve_latency(
    model_uri: str, data: Path, env: dict[str, str], n_requests: int, log: Path
) -> dict[str, Any]:
    """Start ``exostab serve``, wait for /ping, time single-lot requests, stop the server."""
    port = free_port()
    handle = log.open("w")
    server = subprocess.Popen(
        [EXOSTAB, "serve", "--model", model_uri, "--port", str(port)],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = time.perf_counter()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as ping:
                    if ping.status == 200:
                        break
            except OSError:
                if server.poll() is not None:
                    return {"error": f"server exited {server.returncode}"}
                time.sleep(0.5)
        else:
            return {"error": "server not up within 180 s"}
        startup = time.perf_counter() - started
        table = pd.read_csv(data / "lots.csv").merge(
            pd.read_csv(data / "proteins.csv"), on="lot_id"
        )
        table = table.drop(columns="unstable", errors="ignore")
        table = table.astype({c: float for c in table.columns if table[c].dtype.kind in "iu"})
        latencies, failures = [], 0
        for i in range(n_requests):
            split = json.loads(table.iloc[[i % len(table)]].to_json(orient="split", index=False))
            payload = json.dumps({"dataframe_split": split}).encode()
            sent = time.perf_counter()
            status, _ = post(f"http://127.0.0.1:{port}/invocations", payload)
            latencies.append(1000 * (time.perf_counter() - sent))
            failures += status != 200
        return {
            "startup_seconds": startup,
            "p50_ms": statistics.median(latencies),
            "p95_ms": float(np.percentile(latencies, 95)),
            "failures": failures,
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        handle.close()


def _row(
    task: str,
    size: str,
    measured: str,
    target: str,
    met: bool | None,
    seconds: float | None = None,
    peak_mb: float | None = None,
    note: str = "",
) -> dict[str, Any]:
    return {
        "task": task,
        "size": size,
        "seconds": None if seconds is None else round(seconds, 2),
        "peak_mb": None if peak_mb is None else round(peak_mb),
        "measured": measured,
        "target": target,
        "met": "n/a" if met is None else ("met" if met else "MISSED"),
        "note": note,
    }


def _failed(name: str, size: str, result: Measured, target: str) -> dict[str, Any]:
    reason = "timed out" if result.timed_out else f"exit {result.returncode}"
    tail = result.output.strip().splitlines()[-1:] or [""]
    return _row(
        name,
        size,
        f"failed ({reason})",
        target,
        False,
        result.seconds,
        result.peak_mb,
        tail[0][:200],
    )


def run_speed(
    sizes: SpeedSizes, work: Path, quick: bool, advance: Callable[[str], None] | None = None
) -> pd.DataFrame:
    """Run every speed task; return one row per measurement with its target and verdict."""
    logs = work / "logs"
    store = work / "mlruns" / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store.resolve()}"}
    rows: list[dict[str, Any]] = []

    def done(message: str) -> None:
        if advance is not None:
            advance(message)

    def target(text: str) -> str:
        return f"{text} (full size)" if quick else text

    def met(ok: bool) -> bool | None:
        return None if quick else ok

    # 1. simulate
    size = f"{sizes.simulate_lots:,} lots × {sizes.simulate_proteins:,} proteins"
    sim = run_child(
        [
            EXOSTAB,
            "simulate",
            "--out",
            str(work / "simulate"),
            "--lots",
            str(sizes.simulate_lots),
            "--donors",
            str(max(2, sizes.simulate_lots // 10)),
            "--proteins",
            str(sizes.simulate_proteins),
            "--seed",
            "1",
        ],
        logs / "simulate.log",
    )
    if sim.returncode == 0:
        rows.append(
            _row(
                "simulate (exostab simulate)",
                size,
                f"{sim.seconds:.1f} s, {sim.peak_mb:,.0f} MB",
                target("≤ 20 s, ≤ 2,048 MB"),
                met(sim.seconds <= 20 and sim.peak_mb <= 2048),
                sim.seconds,
                sim.peak_mb,
            )
        )
    else:
        rows.append(_failed("simulate (exostab simulate)", size, sim, target("≤ 20 s, ≤ 2 GB")))
    done("simulate")

    # 2. read a MaxQuant proteinGroups.txt
    size = f"{sizes.read_lots:,} lots × {sizes.read_proteins:,} proteins (MaxQuant)"
    run_child(
        [
            EXOSTAB,
            "simulate",
            "--out",
            str(work / "maxquant"),
            "--lots",
            str(sizes.read_lots),
            "--donors",
            str(max(2, sizes.read_lots // 10)),
            "--proteins",
            str(sizes.read_proteins),
            "--seed",
            "2",
        ],
        logs / "simulate_maxquant.log",
    )
    reading = run_child(
        [sys.executable, str(TASKS), "read", str(work / "maxquant" / "proteinGroups.txt")],
        logs / "read.log",
    )
    if reading.returncode == 0:
        answer = json.loads(reading.output.strip().splitlines()[-1])
        rows.append(
            _row(
                "read proteinGroups.txt (read_proteins)",
                size,
                f"{answer['seconds']:.1f} s ({int(answer['n_protein_groups']):,} groups), "
                f"{reading.peak_mb:,.0f} MB",
                target("≤ 5 s"),
                met(answer["seconds"] <= 5),
                answer["seconds"],
                reading.peak_mb,
                f"read only; process wall {reading.seconds:.1f} s incl. imports",
            )
        )
    else:
        rows.append(_failed("read proteinGroups.txt", size, reading, target("≤ 5 s")))
    done("read MaxQuant")

    # 3. exostab train on the default simulated data, temporary store
    data = work / "default"
    run_child(
        [
            EXOSTAB,
            "simulate",
            "--out",
            str(data),
            "--lots",
            str(sizes.train_lots),
            "--proteins",
            str(sizes.train_proteins),
        ],
        logs / "simulate_default.log",
    )
    summary = work / "train_summary.json"
    size = f"{sizes.train_lots:,} lots × {sizes.train_proteins:,} proteins"
    training = run_child(
        [
            EXOSTAB,
            "train",
            "--proteins",
            str(data / "proteins.csv"),
            "--lots",
            str(data / "lots.csv"),
            "--no-register",
            "--summary",
            str(summary),
        ],
        logs / "train.log",
        env=env,
    )
    done("exostab train")
    if training.returncode != 0:
        rows.append(_failed("exostab train (--no-register)", size, training, target("≤ 60 s")))
        return pd.DataFrame(rows)
    run = json.loads(summary.read_text())
    rows.append(
        _row(
            "exostab train (--no-register)",
            size,
            f"{training.seconds:.1f} s wall, {training.peak_mb:,.0f} MB",
            target("≤ 60 s"),
            met(training.seconds <= 60),
            training.seconds,
            training.peak_mb,
            f"CV AUROC {run['cv_roc_auc']:.3f}",
        )
    )
    model_uri = f"runs:/{run['run_id']}/model"

    # 4. exostab score: 10k lots, then 100k lots
    baseline_peak = None
    for n_lots in (sizes.score_lots, sizes.big_score_lots):
        if n_lots is None:
            rows.append(
                _row(
                    "exostab score, 100,000 lots",
                    "—",
                    "not run (--quick)",
                    "peak ≤ 1.2× the 10,000-lot run",
                    None,
                )
            )
            done("exostab score 100,000 skipped")
            continue
        lots_dir = work / f"score{n_lots}"
        tiled_lots(data, lots_dir, n_lots, seed=n_lots)
        scoring = run_child(
            [
                EXOSTAB,
                "score",
                "--proteins",
                str(lots_dir / "proteins.csv"),
                "--lots",
                str(lots_dir / "lots.csv"),
                "--out",
                str(lots_dir / "scores.csv"),
                "--model",
                model_uri,
                "--top-k",
                "5",
            ],
            logs / f"score{n_lots}.log",
            env=env,
            timeout=1200,
        )
        size = f"{n_lots:,} lots × {sizes.train_proteins:,} proteins, top-5 drivers"
        name = f"exostab score, {n_lots:,} lots"
        if baseline_peak is None:
            goal = target("≤ 30 s, ≤ 2,048 MB")
            ok = scoring.seconds <= 30 and scoring.peak_mb <= 2048
        else:
            goal = f"peak ≤ 1.2 × {baseline_peak:,.0f} = {1.2 * baseline_peak:,.0f} MB"
            ok = scoring.peak_mb <= 1.2 * baseline_peak
        if scoring.returncode != 0:
            rows.append(_failed(name, size, scoring, goal))
        else:
            rows.append(
                _row(
                    name,
                    size,
                    f"{scoring.seconds:.1f} s wall, {scoring.peak_mb:,.0f} MB",
                    goal,
                    met(ok),
                    scoring.seconds,
                    scoring.peak_mb,
                    "lots tiled from 1,000 perturbed simulated profiles",
                )
            )
        baseline_peak = baseline_peak or scoring.peak_mb
        for name_of_file in ("proteins.csv", "scores.csv"):
            (lots_dir / name_of_file).unlink(missing_ok=True)
        done(f"exostab score {n_lots:,}")

    # 5. one-lot HTTP requests against exostab serve
    latency = serve_latency(model_uri, data, env, sizes.requests, logs / "serve.log")
    if "error" in latency:
        rows.append(
            _row(
                "exostab serve, one-lot request",
                "1 lot",
                f"failed: {latency['error']}",
                "p50 ≤ 300 ms",
                False,
            )
        )
    else:
        rows.append(
            _row(
                "exostab serve, one-lot request",
                f"{sizes.requests} requests × 1 lot",
                f"p50 {latency['p50_ms']:.0f} ms, p95 {latency['p95_ms']:.0f} ms",
                "p50 ≤ 300 ms",
                latency["p50_ms"] <= 300,
                note=f"server up in {latency['startup_seconds']:.1f} s; "
                f"{latency['failures']} failed requests",
            )
        )
    done("exostab serve")
    return pd.DataFrame(rows)
