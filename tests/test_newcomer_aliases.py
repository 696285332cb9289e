"""Integration tier: training on another data set never moves what ``make score`` uses (issue 21).

The newcomer sequence: ``make train`` (``exostab train`` with no inputs, on the built-in
SIMULATED lots in ``data/simulated/``), then ``exostab train`` on the heart cohort of
``../shared/datasets/heart-lfq`` (another protein space), then ``make score``: the SIMULATED
test lots must still be scored by the SIMULATED model, through the champion and challenger
aliases alike. ``exostab promote`` is then the one deliberate way to move an alias.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from exostab.cli import app
from exostab.simulate import write_simulation

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
HEART = DATASETS / "heart-lfq"
# small and quick, and still able to pass the champion gate on the SIMULATED lots
QUICK_CONFIG = {
    "search": {"candidates": [{"learner": "linear", "linear_c": 0.05}]},
    "cv": {"n_splits": 3, "naive_gap": False, "baselines": False},
    "explain": {"n_dependence": 0, "n_waterfall": 0},
}
runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory):
    """A working folder after ``make train`` then a training on heart-lfq (summaries)."""
    if not HEART.is_dir():
        pytest.skip(f"heart-lfq not found at {HEART} (no shared data sets beside the repo)")
    work = tmp_path_factory.mktemp("newcomer")
    # the built-in data as make train writes them (its lots and donors, fewer proteins), so
    # that `exostab train` with no inputs trains on them
    write_simulation(
        work / "data" / "simulated", scenario="builtin", n_lots=310, n_donors=31, n_proteins=300
    )
    config = work / "quick.yaml"
    config.write_text(yaml.safe_dump(QUICK_CONFIG))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the default store: ./mlruns
        made = invoke("train", "--config", config, "--summary", "simulated.json")
        assert made.exit_code == 0, made.output
        assert "training on the SIMULATED lots in data/simulated/train/" in made.output
        heart = invoke(
            "train", "--config", config, "--proteins", HEART / "proteins.csv",
            "--lots", HEART / "lots.csv", "--summary", "heart.json",
        )  # fmt: skip
        assert heart.exit_code == 0, heart.output
        yield {
            "work": work,
            "simulated": json.loads((work / "simulated.json").read_text()),
            "heart": json.loads((work / "heart.json").read_text()),
            "heart_output": heart.output,
        }


def make_score(work: Path, model: str) -> pd.DataFrame:
    """``make score`` with ``MODEL=model``: the SIMULATED test lots of the built-in data."""
    test = work / "data" / "simulated" / "test"
    out = work / "out" / f"{model.rsplit('@', 1)[-1]}.csv"
    result = invoke(
        "score", "--proteins", test / "proteins.csv", "--lots", test / "lots.csv",
        "--out", out, "--model", model,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return pd.read_csv(out)


def aliases_of(name: str) -> dict[str, str]:
    """alias → version of a registered model, read with mlflow's own client."""
    from mlflow.tracking import MlflowClient

    from exostab.store.registry import store_uri

    client = MlflowClient(tracking_uri=store_uri(), registry_uri=store_uri())
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def test_make_score_stays_on_the_simulated_model(newcomer, monkeypatch) -> None:
    simulated, heart = newcomer["simulated"], newcomer["heart"]
    assert simulated["model_name"] == "exostab" and simulated["model_version"] == "1"
    # the heart model went under a name of its own, and said so
    assert heart["model_name"] == "exostab-heart-lfq", heart
    assert "models:/exostab" in newcomer["heart_output"]
    assert "--no-register" in newcomer["heart_output"]
    monkeypatch.chdir(newcomer["work"])
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # exostab's aliases are those the SIMULATED training gave: the champion only if it passed
    # the gate (with no champion, the heart model took it in the reported bug)
    expected = {"challenger": "1"} | ({"champion": "1"} if simulated["champion_eligible"] else {})
    assert aliases_of("exostab") == expected
    test_lots = pd.read_csv(newcomer["work"] / "data/simulated/test/lots.csv", comment="#")
    for alias in expected:
        scores = make_score(newcomer["work"], f"models:/exostab@{alias}")
        assert len(scores) == len(test_lots)
        assert (scores["model_version"].astype(str) == "1").all()
        # the SIMULATED model reads these lots' proteins: none of them is "not assessable"
        assert (scores["risk_band"] != "not assessable").all(), scores["risk_band"].value_counts()
    if "champion" not in expected:  # no champion: scoring by it says so, nothing is scored
        test = newcomer["work"] / "data" / "simulated" / "test"
        refused = invoke(
            "score", "--proteins", test / "proteins.csv", "--lots", test / "lots.csv",
            "--out", newcomer["work"] / "out" / "nothing.csv",
            "--model", "models:/exostab@champion",
        )  # fmt: skip
        assert refused.exit_code == 2, refused.output
        assert "champion" in refused.output and "Traceback" not in refused.output
        assert not (newcomer["work"] / "out" / "nothing.csv").exists()


def test_promote_is_the_one_way_to_move_an_alias(newcomer, monkeypatch) -> None:
    monkeypatch.chdir(newcomer["work"])
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = aliases_of("exostab")
    moved = invoke("promote", "exostab-heart-lfq", "1", "--alias", "champion")
    if not newcomer["heart"]["champion_eligible"]:  # champion only through the gate
        assert moved.exit_code == 2, moved.output
        assert "did not pass the champion gate" in moved.output and "--force" in moved.output
        assert "champion" not in aliases_of("exostab-heart-lfq")
        moved = invoke("promote", "exostab-heart-lfq", "1", "--alias", "champion", "--force")
    assert moved.exit_code == 0, moved.output
    assert "models:/exostab-heart-lfq@champion → version 1" in moved.output
    assert aliases_of("exostab-heart-lfq")["champion"] == "1"
    assert aliases_of("exostab") == before  # another name's aliases are untouched
    missing = invoke("promote", "exostab", "99", "--alias", "champion")
    assert missing.exit_code == 2
    assert missing.output.count("\n") == 1 and "cannot promote exostab version 99" in missing.output
    assert aliases_of("exostab") == before
