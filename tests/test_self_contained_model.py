"""Integration tier: the logged model runs wherever mlflow runs it (issue 21).

A tiny model is trained on SIMULATED lots into a temporary SQLite store. Then:

- every distribution that loading and calling the model imports is among its pinned
  requirements (or what they themselves require): the kind of fault where the model works only
  inside this checkout's virtualenv;
- ``mlflow models serve --env-manager uv`` builds a fresh environment from the model's own
  requirements alone (no ``PYTHONPATH``, no checkout: exostab comes from the model's
  ``code/`` folder), and a real HTTP request with whole lots answers with the risks that
  ``exostab score`` gives the same lots in batch;
- ``mlflow models generate-dockerfile`` writes a build context whose requirements list what
  exostab needs (Docker itself is not on these machines).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import free_port, wait_for_ping
from exostab.cli import app
from exostab.config import TrainConfig
from exostab.simulate import write_simulation
from exostab.training.workflow import run_training

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, fast_config: TrainConfig):
    """A model trained on 60 SIMULATED lots, registered in a temporary store, and the batch
    scores of 12 new SIMULATED lots from ``exostab score``."""
    root = tmp_path_factory.mktemp("self_contained")
    store = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    train = write_simulation(root / "train", n_lots=60, n_donors=10, n_proteins=120, seed=1).out
    new = write_simulation(root / "new", n_lots=12, n_donors=3, n_proteins=120, seed=4).out
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        outcome = run_training(fast_config, train / "proteins.csv", train / "lots.csv")
        assert outcome.model_uri is not None and outcome.model_version is not None
        uri = f"models:/{outcome.model_name}/{outcome.model_version}"
        out = root / "scores.csv"
        result = CliRunner().invoke(
            app,
            ["score", "--proteins", str(new / "proteins.csv"), "--lots", str(new / "lots.csv"),
             "--out", str(out), "--model", uri],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        yield {"root": root, "store": store, "uri": uri, "new": new, "scores": pd.read_csv(out)}


def subprocess_env(store: str) -> dict[str, str]:
    """The environment of an mlflow command: this venv's tools first, no checkout on the path.

    ``PYTHONPATH`` (``src/`` when tests run from a checkout) is dropped, so that a model
    environment can only find exostab in the model's own ``code/`` folder.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = store
    return env


def required_closure(requirements: list[str]) -> set[str]:
    """The normalised names of ``requirements`` and of everything they require, installed here."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    todo = [Requirement(line).name for line in requirements]
    seen: set[str] = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = requires(name) or []
        except PackageNotFoundError:
            continue
        for line in needs:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


# In a new interpreter, hide every installed distribution that is not allowed (as if this
# environment held only the model's requirements), then load the model from its folder and
# score whole lots; print the lots' risks. Optional imports (pandera's pyspark and hypothesis
# support, say) fail as they would in the model's own environment.
SCORE_WITH_REQUIREMENTS_ONLY = """
import json, sys
from importlib.metadata import packages_distributions
from packaging.utils import canonicalize_name
allowed = set(json.loads(sys.argv[4]))
owners = packages_distributions()
travels = {"exostab"}  # the model's code/ folder holds it; found there or not at all
class HideOthers:
    def find_spec(self, name, path=None, target=None):
        owned = owners.get(name.partition(".")[0], [])
        top = name.partition(".")[0]
        if top in travels or not owned:
            return None
        if not any(canonicalize_name(d) in allowed for d in owned):
            raise ModuleNotFoundError(f"No module named {name!r} (not a model requirement)")
        return None
sys.meta_path.insert(0, HideOthers())
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
sheet = pd.read_csv(sys.argv[2], comment="#")
lots = sheet.merge(pd.read_csv(sys.argv[3]), on="lot_id")
answer = model.predict(lots)
assert sys.modules["exostab"].__file__.startswith(sys.argv[1]), sys.modules["exostab"].__file__
print(answer[["lot_id", "risk"]].to_json(orient="records", double_precision=15))
"""


def test_the_model_runs_with_its_own_requirements_alone(logged) -> None:
    import mlflow

    mlflow.set_tracking_uri(logged["store"])
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=logged["uri"]))
    requirements = (local / "requirements.txt").read_text().split()
    assert requirements and all("==" in line for line in requirements), requirements  # pinned
    assert (local / "code" / "exostab" / "model" / "bundle.py").is_file()
    assert (local / "code" / "exostab" / "configs" / "vocabulary.yaml").is_file()
    # packaging: what the hiding itself imports; exostab comes from the model's code/ folder
    allowed = required_closure(requirements) | {"packaging"}
    assert "exostab" not in allowed
    new = logged["new"]
    answer = subprocess.run(
        [sys.executable, "-c", SCORE_WITH_REQUIREMENTS_ONLY, str(local),
         str(new / "lots.csv"), str(new / "proteins.csv"), json.dumps(sorted(allowed))],
        env=subprocess_env(logged["store"]), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr[-3000:]
    served = pd.DataFrame(json.loads(answer.stdout.splitlines()[-1])).set_index("lot_id")
    batch = logged["scores"].set_index("lot_id")
    assert sorted(served.index) == sorted(batch.index)
    assert np.allclose(served["risk"], batch.loc[served.index, "risk"], rtol=1e-9, atol=0)


def test_mlflow_serves_the_model_in_its_own_environment_as_batch_scoring(
    logged, tmp_path: Path
) -> None:
    if shutil.which("uv", path=str(BIN)) is None:
        pytest.skip(f"uv is not installed next to {sys.executable} (pip install -e '.[dev]')")
    port = free_port()
    env = subprocess_env(logged["store"])
    # a new environment root: the model's environment is built now, from its requirements only
    env["MLFLOW_ENV_ROOT"] = str(tmp_path / "envs")
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "models", "serve", "-m", logged["uri"], "--env-manager", "uv",
             "--host", "127.0.0.1", "-p", str(port)],
            env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        # building the environment downloads and installs the pinned requirements
        wait_for_ping(server, port, 900, log)
        new = logged["new"]
        sheet = pd.read_csv(new / "lots.csv", comment="#")
        lots = sheet.merge(pd.read_csv(new / "proteins.csv"), on="lot_id")  # whole lots
        body = {"dataframe_split": json.loads(lots.to_json(orient="split", index=False))}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = pd.DataFrame(json.load(response)["predictions"])
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=30)
    batch = logged["scores"].set_index("lot_id")
    assert sorted(answer["lot_id"]) == sorted(batch.index)
    assert answer["error"].isna().all(), answer["error"].dropna().tolist()
    served = answer.set_index("lot_id")["risk"].astype(float)
    assert np.allclose(served, batch.loc[served.index, "risk"], rtol=1e-9, atol=0)
    assert (answer["risk_band"].to_numpy() == batch.loc[answer["lot_id"], "risk_band"]).all()


def test_generate_dockerfile_writes_a_context_with_exostabs_requirements(
    logged, tmp_path: Path
) -> None:
    out = tmp_path / "docker"
    made = subprocess.run(
        [str(BIN / "mlflow"), "models", "generate-dockerfile", "-m", logged["uri"],
         "-d", str(out)],
        env=subprocess_env(logged["store"]), capture_output=True, text=True, check=False,
        cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    assert "FROM " in (out / "Dockerfile").read_text()
    requirements = list(out.rglob("requirements.txt"))
    assert requirements, sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    pinned = {line.split("==")[0].lower() for line in requirements[0].read_text().split()}
    assert {"mlflow", "lightgbm", "pandas", "scikit-learn", "pandera", "pydantic"} <= pinned
    assert list(out.rglob("code/exostab/scoring/pyfunc_model.py"))  # exostab travels in the context
