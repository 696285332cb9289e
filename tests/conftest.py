"""Shared fixtures: a small planted data set and a temporary mlflow store per test session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

from exostab.config import TrainConfig
from exostab.dataset import TrainingSet, content_hash

# No time limit per example: on a shared 2-core machine one slow example is not a failure
# (tests assert behaviour, never timings).
settings.register_profile("exostab", deadline=None)
settings.load_profile("exostab")

SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "proteomics-formats"

# The lab cases, real cohorts and search-engine outputs live in ../shared, beside the repo; their
# tests skip without it. With EXOSTAB_REQUIRE_SHARED=1 (set by .ci/run) such a skip fails the
# run instead, so CI cannot pass without having read them.
REQUIRE_SHARED = os.environ.get("EXOSTAB_REQUIRE_SHARED") == "1"
SHARED_SKIPS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note every test skipped because ../shared (or a file in it) is absent."""
    if REQUIRE_SHARED and report.skipped:
        # a skip's longrepr is (file, line, reason): read the reason, not the file's path
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        if "shared" in str(reason):
            SHARED_SKIPS.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when EXOSTAB_REQUIRE_SHARED=1 and a test skipped for want of ../shared."""
    if SHARED_SKIPS:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which tests skipped for want of ../shared, and why that failed the run."""
    if SHARED_SKIPS:
        terminalreporter.write_line(
            f"EXOSTAB_REQUIRE_SHARED=1 and {len(SHARED_SKIPS)} test(s) skipped for want of "
            f"../shared (first: {SHARED_SKIPS[0]}): the run fails",
            red=True,
        )


def planted_lots(
    n_lots: int = 120, n_donors: int = 12, n_proteins: int = 60, seed: int = 0
) -> TrainingSet:
    """Lots whose instability is driven by RISK1 (up) and GUARD1 (down) plus passage.

    Every other protein is noise with a donor offset; about a third of the lots are unstable.
    """
    rng = np.random.default_rng(seed)
    donors = np.array([f"D{d:02d}" for d in rng.integers(0, n_donors, n_lots)])
    donors[:n_donors] = [f"D{d:02d}" for d in range(n_donors)]
    passage = rng.integers(2, 12, n_lots)
    names = ["RISK1", "GUARD1"] + [f"P{j:03d}" for j in range(n_proteins - 2)]
    donor_offset = {d: rng.normal(0, 0.3, n_proteins) for d in np.unique(donors)}
    log2 = 20 + rng.normal(0, 1, (n_lots, n_proteins)) + np.array([donor_offset[d] for d in donors])
    log2[:, 0] += 0.25 * passage
    log2[:, 1] -= 0.15 * passage
    logit = 1.5 * (log2[:, 0] - log2[:, 0].mean()) - 1.5 * (log2[:, 1] - log2[:, 1].mean()) - 0.8
    y = (rng.random(n_lots) < 1 / (1 + np.exp(-logit))).astype(int)
    intensities = 2.0**log2
    intensities[rng.random(intensities.shape) < 0.05] = np.nan
    lot_ids = pd.Index([f"L{i:04d}" for i in range(n_lots)], name="lot_id")
    X = pd.concat(
        [
            pd.DataFrame(
                {
                    "passage": passage,
                    "medium": rng.choice(["hPL", "FBS"], n_lots),
                },
                index=lot_ids,
            ),
            pd.DataFrame(intensities, index=lot_ids, columns=names),
        ],
        axis=1,
    )
    proteins = pd.DataFrame(
        {"input_name": names, "leading_accession": np.nan, "gene": names, "description": np.nan},
        index=pd.Index(names, name="feature"),
    )
    y_series = pd.Series(y, index=lot_ids, name="unstable")
    return TrainingSet(
        X=X,
        y=y_series,
        groups=pd.Series(donors, index=lot_ids, name="donor_id"),
        proteins=proteins,
        metadata=("passage", "medium"),
        categorical=("medium",),
        fingerprint={"data_hash": content_hash(X, y_series), "n_lots": n_lots},
    )


@pytest.fixture(scope="session")
def planted() -> TrainingSet:
    return planted_lots()


@pytest.fixture(scope="session")
def fast_config() -> TrainConfig:
    return TrainConfig.model_validate(
        {
            "model": {"max_rounds": 60, "learning_rate": 0.1, "colsample_bytree": 0.8},
            "data": {"metadata_features": ["passage", "medium"]},
            "search": {
                "candidates": [
                    {"learner": "prior"},
                    {"learner": "trees"},
                    {"learner": "linear", "linear_c": 0.05},
                ]
            },
            "cv": {"n_splits": 4},
        }
    )


@pytest.fixture
def tracking_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite mlflow store for one test (never the project's mlruns/)."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="session")
def simulated_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A model trained on 60 SIMULATED lots, saved as a local model folder the CLI can load.

    Returns ``model`` (the folder: ``MLmodel`` + ``artifacts/bundle``, what ``--model``
    accepts besides registry URIs) and ``data`` (the simulator's output folder).
    """
    from exostab.dataset import build_training_set
    from exostab.io.readers import read_lot_sheet, read_proteins
    from exostab.model.bundle import ModelBundle
    from exostab.simulate import write_simulation
    from exostab.training.nested_cv import train_model

    root = tmp_path_factory.mktemp("simulated_model")
    data = write_simulation(root / "sim", n_lots=60, n_donors=8, n_proteins=200, seed=3).out
    cfg = TrainConfig.model_validate(
        {
            "data": {"metadata_features": ["passage", "tissue_source"]},
            "search": {"candidates": [{"learner": "prior"}, {"learner": "linear"}]},
            "cv": {"n_splits": 3, "naive_gap": False, "baselines": False},
            "explain": {"n_dependence": 0, "n_waterfall": 0},
        }
    )
    training = build_training_set(
        read_proteins(data / "proteins.csv"), read_lot_sheet(data / "lots.csv"), cfg
    )
    bundle = ModelBundle.from_training(train_model(training, cfg, {}), simulated_training=True)
    model = root / "model"
    bundle.save(model / "artifacts" / "bundle")
    (model / "MLmodel").write_text("flavors: {}\n")  # marks the folder as a model folder
    return {"model": model, "data": data}


def free_port() -> int:
    """A free loopback port in 20000-40000 (5000/5001 belong to the project's own servers)."""
    import random
    import socket

    for _ in range(50):
        port = random.randint(20000, 40000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-40000")


def wait_for_ping(
    server: subprocess.Popen[bytes], port: int, seconds: float, log: Path | None = None
) -> None:
    """Wait until the model server's ``/ping`` answers 200 on ``port``.

    Fails the test with the server's last output (``log``, else its stdout/stderr pipe) if it
    exits first, or says it is still running after ``seconds``.
    """

    def output() -> str:
        if log is not None:
            return log.read_text()[-4000:]
        streams = (server.stdout, server.stderr)
        return "".join(s.read().decode() for s in streams if s is not None)[-4000:]

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as ping:
                if ping.status == 200:
                    return
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"the model server exited ({server.returncode}):\n{output()}")
            time.sleep(0.5)
    if server.poll() is not None:
        pytest.fail(f"the model server exited ({server.returncode}):\n{output()}")
    pytest.fail(f"the model server did not answer /ping within {seconds:.0f} s")


def train_two_runs(root: Path, config: TrainConfig) -> tuple[str, list]:
    """Two trainings on different SIMULATED data (60 and 90 lots) into one temporary store.

    Returns the store's URI and the two ``TrainingOutcome``s, in that order.
    """
    from exostab.simulate import write_simulation
    from exostab.training.workflow import run_training

    store = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    small = write_simulation(root / "small", n_lots=60, n_donors=10, n_proteins=120, seed=1)
    large = write_simulation(root / "large", n_lots=90, n_donors=12, n_proteins=150, seed=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        outcomes = [
            run_training(config, data.out / "proteins.csv", data.out / "lots.csv")
            for data in (small, large)
        ]
    return store, outcomes


@pytest.fixture(autouse=True)
def _store_settings_do_not_leak(monkeypatch: pytest.MonkeyPatch):
    """A CLI call points mlflow at its store in-process (``mlflow.set_tracking_uri`` and
    ``set_registry_uri``, which also write MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI); undo
    them after each test, or the next test registers its models in another test's store.

    MLFLOW_REGISTRY_URI is removed, not restored: no test sets it on purpose (exostab keeps the
    registry in the tracking store), and a module-scoped fixture's CLI call writes it before
    this fixture can record anything, so that the registry of a later module's tests would
    stay in that fixture's store while their tracking URI moved on."""
    for name in ("MLFLOW_TRACKING_URI", "EXOSTAB_MODEL"):
        value = os.environ.get(name)
        monkeypatch.setenv(name, value or "unset")  # records the value before the test
        if value is None:
            monkeypatch.delenv(name)
    yield
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:  # never import mlflow for a test that did not
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


PROJECT_STORE = Path(__file__).resolve().parents[1] / "mlruns"


def _store_state() -> dict[str, float]:
    """Each file of the project's store (``mlruns/``) with its modification time."""
    if not PROJECT_STORE.is_dir():
        return {}
    return {
        str(path.relative_to(PROJECT_STORE)): path.stat().st_mtime
        for path in PROJECT_STORE.rglob("*")
        if path.is_file() and path.suffix != ".lock"
    }


@pytest.fixture(autouse=True, scope="session")
def _the_project_store_is_never_written():
    """Tests use temporary stores: a test that registered into the project's ``mlruns/`` (a
    store setting lost between fixtures) would change what ``make score`` uses."""
    before = _store_state()
    yield
    after = _store_state()
    changed = sorted(
        name for name in after.keys() | before.keys() if after.get(name) != before.get(name)
    )
    assert not changed, f"the test session wrote into {PROJECT_STORE}: {changed[:5]}"
