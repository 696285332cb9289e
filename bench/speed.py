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
import yaml

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
    score_proteins: int = 1500
    repeats: int = 3
    spark: bool = True
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
    score_proteins=1000,
    repeats=1,
    spark=False,
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
    tree_peak_mb: float = 0.0  # sampled sum over the process and its descendants (Spark)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc (0 elsewhere)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(child)
        rss[child] = int(fields[21])  # pages
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo += children.get(current, [])
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_child(
    command: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> Measured:
    """Run a command to completion; peak RSS comes from ``wait4`` on that very child.

    The summed memory of the child's whole process tree (a JVM and Python workers for Spark)
    is sampled every 0.25 s beside it.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    tree_peak = 0.0
    with log.open("w") as handle:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        finished = threading.Event()

        def sample() -> None:
            nonlocal tree_peak
            while not finished.wait(0.25):
                tree_peak = max(tree_peak, tree_rss_mb(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            finished.set()
            timer.cancel()
        seconds = time.perf_counter() - started
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(errors="replace")
    measured = Measured(
        seconds=seconds,
        peak_mb=usage.ru_maxrss / 1024,  # Linux reports kilobytes
        returncode=process.returncode,
        output=output[-3000:],
        timed_out=seconds >= timeout and process.returncode < 0,
        tree_peak_mb=max(tree_peak, usage.ru_maxrss / 1024),
    )
    if measured.returncode != 0:
        logger.warning("%s exited %d: %s", command[:3], measured.returncode, output[-500:])
    return measured


def median_run(runs: list[Measured]) -> Measured:
    """The run of median wall time (of an odd number of runs)."""
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


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


def signature_names(model_uri: str, env: dict[str, str]) -> dict[str, str]:
    """Input column → the served signature's short name (``signature_columns.csv``)."""
    script = (
        "import sys, mlflow; print(mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[1]))"
    )
    local = (
        subprocess.run(
            [sys.executable, "-c", script, model_uri],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    columns = Path(local) / "artifacts" / "bundle" / "signature_columns.csv"
    if not columns.exists():  # models logged before short names: input names are the signature
        return {}
    table = pd.read_csv(columns)
    return dict(zip(table["input_name"].astype(str), table["short_name"].astype(str), strict=True))


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
        table = table.rename(columns=signature_names(model_uri, env))
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


def score_command(model_uri: str, lots_dir: Path, out: Path, engine: str) -> list[str]:
    return [
        EXOSTAB, "score",
        "--proteins", str(lots_dir / "proteins.csv"),
        "--lots", str(lots_dir / "lots.csv"),
        "--out", str(out),
        "--model", model_uri,
        "--top-k", "5",
        "--engine", engine,
    ]  # fmt: skip


def score_rows(
    sizes: SpeedSizes, work: Path, env: dict[str, str], quick: bool, done: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Time ``exostab score`` (both engines) next to its floor, on tiled SIMULATED lots.

    The floor is ``bench/tasks.py floor``: pandas ``read_csv`` of the same file plus LightGBM
    ``predict`` and ``pred_contrib`` of the model's booster alone, imports included. At 10,000
    lots the scorer and the floor run alternately ``repeats`` times and the medians are
    compared. The start-up share is the wall time of scoring one lot of the same width over
    the wall time of the batch.
    """
    from exostab.store.registry import locate_model

    logs = work / "logs"
    rows: list[dict[str, Any]] = []
    data = work / "score_data"
    run_child(
        [EXOSTAB, "simulate", "--out", str(data), "--lots", str(sizes.train_lots),
         "--proteins", str(sizes.score_proteins), "--seed", "5"],
        logs / "simulate_score.log",
    )  # fmt: skip
    summary = work / "score_model.json"
    # The scored model always holds the protein part (prior + ridge on every protein): the inner
    # CV could otherwise choose the prior alone on these lots, and scoring would be timed on a
    # model that reads no protein.
    config = work / "score_model.yaml"
    settings = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "configs" / "train.yaml").read_text()
    )
    settings["search"]["candidates"] = [
        c for c in settings["search"]["candidates"] if c["learner"] == "linear"
    ]
    config.write_text(yaml.safe_dump(settings))
    training = run_child(
        [EXOSTAB, "train", "--proteins", str(data / "proteins.csv"),
         "--lots", str(data / "lots.csv"), "--no-register", "--summary", str(summary),
         "--config", str(config)],
        logs / "train_score_model.log",
        env=env,
    )  # fmt: skip
    if training.returncode != 0:
        return [_failed("scoring model (exostab train)", "—", training, "exit 0")]
    model_uri = f"runs:/{json.loads(summary.read_text())['run_id']}/model"
    located = locate_model(model_uri, env["MLFLOW_TRACKING_URI"])
    if located is None:
        return [_row("scoring model", "—", "not found in the store", "found", False)]
    n_columns = len(pd.read_csv(data / "proteins.csv", nrows=0).columns) - 1
    one = work / "score_one"
    tiled_lots(data, one, 1, seed=1)

    def startup(engine: str, repeats: int) -> Measured:
        return median_run(
            [
                run_child(
                    score_command(model_uri, one, one / f"one_{engine}_{i}.parquet", engine),
                    logs / f"startup_{engine}_{i}.log",
                    env=env,
                    timeout=1200,
                )
                for i in range(repeats)
            ]
        )

    def floor(lots_dir: Path, name: str) -> tuple[Measured, dict[str, float]]:
        measured = run_child(
            [sys.executable, str(TASKS), "floor", str(lots_dir / "proteins.csv"),
             str(located.path)],
            logs / f"{name}.log",
        )  # fmt: skip
        lines = measured.output.strip().splitlines()
        return measured, (json.loads(lines[-1]) if measured.returncode == 0 and lines else {})

    pandas_startup = startup("pandas", sizes.repeats)
    baseline_peak = None
    for n_lots in (sizes.score_lots, sizes.big_score_lots):
        if n_lots is None:
            rows.append(_row("exostab score, 100,000 lots", "—", "not run (--quick)",
                             "peak ≤ 1.2× the 10,000-lot run", None))  # fmt: skip
            done("exostab score 100,000 skipped")
            continue
        lots_dir = work / f"score{n_lots}"
        tiled_lots(data, lots_dir, n_lots, seed=n_lots)
        size = f"{n_lots:,} lots × {n_columns:,} proteins, top-5 drivers"
        repeats = sizes.repeats if n_lots == sizes.score_lots else 1
        scorings, floors = [], []
        for i in range(repeats):  # alternated, so both see the same machine load
            scorings.append(
                run_child(
                    score_command(model_uri, lots_dir, lots_dir / "scores.csv", "pandas"),
                    logs / f"score{n_lots}_{i}.log",
                    env=env,
                    timeout=1800,
                )
            )
            floors.append(floor(lots_dir, f"floor{n_lots}_{i}"))
        scoring = median_run(scorings)
        floor_run, split = sorted(floors, key=lambda pair: pair[0].seconds)[len(floors) // 2]
        ratio = scoring.seconds / floor_run.seconds
        rows.append(
            _row(
                f"floor: pandas read_csv + LightGBM predict + pred_contrib, {n_lots:,} lots",
                size,
                f"{floor_run.seconds:.1f} s wall, {floor_run.peak_mb:,.0f} MB",
                "—",
                None,
                floor_run.seconds,
                floor_run.peak_mb,
                f"median of {repeats}; imports {split.get('import_seconds', 0):.1f} s, read "
                f"{split.get('read_seconds', 0):.1f} s, predict "
                f"{split.get('predict_seconds', 0):.1f} s",
            )
        )
        share = pandas_startup.seconds / scoring.seconds
        name = f"exostab score, {n_lots:,} lots"
        if baseline_peak is None:
            goal = "≤ 3× the floor, ≤ 2,048 MB" + (" (full size)" if quick else "")
            ok = ratio <= 3 and scoring.peak_mb <= 2048
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
                    f"{scoring.seconds:.1f} s wall = {ratio:.2f}× the floor, "
                    f"{scoring.peak_mb:,.0f} MB",
                    goal,
                    None if quick else ok,
                    scoring.seconds,
                    scoring.peak_mb,
                    f"median of {repeats}; start-up (one lot) {pandas_startup.seconds:.1f} s = "
                    f"{share:.0%} of the wall; lots tiled from 1,000 perturbed simulated profiles",
                )
            )
        baseline_peak = baseline_peak or scoring.peak_mb
        (lots_dir / "scores.csv").unlink(missing_ok=True)
        done(f"exostab score {n_lots:,}")
        if sizes.spark and n_lots == sizes.big_score_lots:
            rows.append(spark_row(model_uri, lots_dir, size, startup, floor_run, env, logs))
            done("exostab score --engine spark")
        (lots_dir / "proteins.csv").unlink(missing_ok=True)
    return rows


def spark_row(
    model_uri: str,
    lots_dir: Path,
    size: str,
    startup: Callable[[str, int], Measured],
    floor_run: Measured,
    env: dict[str, str],
    logs: Path,
) -> dict[str, Any]:
    """Score the big batch with ``--engine spark`` (local[*]); memory summed over the JVM and
    Python workers."""
    name = "exostab score --engine spark, local[*]"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return _row(name, size, "not run: pip install -e '.[spark]'", "—", None)
    spark_startup = startup("spark", 1)
    scoring = run_child(
        score_command(model_uri, lots_dir, lots_dir / "scores_spark", "spark"),
        logs / "score_spark.log",
        env=env,
        timeout=3600,
    )
    if scoring.returncode != 0:
        return _failed(name, size, scoring, "—")
    return _row(
        name,
        size,
        f"{scoring.seconds:.1f} s wall = {scoring.seconds / floor_run.seconds:.2f}× the floor, "
        f"{scoring.tree_peak_mb:,.0f} MB (JVM + Python workers)",
        "— (for batches beyond one machine)",
        None,
        scoring.seconds,
        scoring.tree_peak_mb,
        f"start-up (one lot on Spark) {spark_startup.seconds:.1f} s = "
        f"{spark_startup.seconds / scoring.seconds:.0%} of the wall; writes a Parquet folder",
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

    # 4. exostab score against its floor; both engines at 100,000 lots
    rows += score_rows(sizes, work, env, quick, done)

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
