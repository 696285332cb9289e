"""Integration tier: simulate → train → score → explain → serve, through the CLI.

Uses a temporary SQLite mlflow store (never the project's mlruns/) and only loopback HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from conftest import wait_for_ping
from exostab.cli import app
from exostab.config import METADATA_COLUMNS
from exostab.simulate import write_simulation

pytestmark = [pytest.mark.integration, pytest.mark.slow]
runner = CliRunner()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e")
    store = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        # Score with the first version: whether it is champion depends on the gate, which
        # test_train_applies_the_gate checks on its own.
        patch.setenv("EXOSTAB_MODEL", "models:/exostab/1")
        train_data = write_simulation(
            root / "train", n_lots=120, n_donors=12, n_proteins=400, seed=3
        )
        new_lots = write_simulation(root / "new", n_lots=40, n_donors=5, n_proteins=400, seed=4)
        yield {"root": root, "store": store, "train": train_data.out, "new": new_lots.out}


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def score_cli(proteins: Path, lots: Path, out: Path, *extra: str) -> None:
    """Run `exostab score` and demand success."""
    result = invoke(
        "score", "--proteins", str(proteins), "--lots", str(lots), "--out", str(out), *extra
    )
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def trained(workspace):
    summary = workspace["root"] / "summary.json"
    data = workspace["train"]
    result = invoke(
        "train",
        "--proteins", str(data / "proteins.csv"),
        "--lots", str(data / "lots.csv"),
        "--summary", str(summary),
        "--run-name", "first",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(summary.read_text())


def test_train_applies_the_gate(trained, workspace) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    assert trained["model_version"] == "1"
    expected = {"challenger", "champion"} if trained["champion_eligible"] else {"challenger"}
    assert set(trained["aliases"]) == expected
    low = trained["gain_over_passage_ci"][0]
    assert trained["champion_eligible"] == (low > 0 and trained["cv_roc_auc"] >= 0.6)
    assert 0.5 < trained["cv_roc_auc"] <= 1
    assert trained["n_lots"] == 120 and trained["n_features_used"] > 10
    mlflow.set_tracking_uri(workspace["store"])
    client = MlflowClient(tracking_uri=workspace["store"])
    version = client.get_model_version_by_alias("exostab", "challenger")
    run = client.get_run(version.run_id)
    assert run.data.metrics["cv_roc_auc"] == pytest.approx(trained["cv_roc_auc"])
    assert run.data.tags["simulated_data"] == "true"
    for name in ("passage_only", "lgbm_default", "omiclearn", "l2_logistic"):
        assert 0 <= run.data.metrics[f"baseline_{name}_cv_roc_auc"] <= 1
        assert run.data.metrics[f"beats_{name}"] in (0.0, 1.0)
    assert "naive_cv_gap" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(version.run_id)}
    assert {"plots", "explain", "config", "data", "oof_predictions.csv"} <= artifacts
    explain = {Path(a.path).name for a in client.list_artifacts(version.run_id, "explain")}
    assert {"global_importance.csv", "lot_shap.parquet", "shap_beeswarm.png"} <= explain
    assert (workspace["root"] / "mlruns" / "artifacts").is_dir()


def test_second_run_is_identical_and_stays_challenger(trained, workspace) -> None:
    summary = workspace["root"] / "summary2.json"
    data = workspace["train"]
    result = invoke(
        "train",
        "--proteins", str(data / "proteins.csv"),
        "--lots", str(data / "lots.csv"),
        "--summary", str(summary),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    second = json.loads(summary.read_text())
    for metric in ("cv_roc_auc", "cv_pr_auc", "cv_brier", "cv_log_loss"):
        assert second[metric] == trained[metric]
    assert second["model_version"] == "2"
    assert second["aliases"] == ["challenger"]  # equal, not better: the champion stays


@pytest.fixture(scope="module")
def scored(trained, workspace):
    new = workspace["new"]
    out = workspace["root"] / "scores.csv"
    score_cli(
        new / "proteins.csv",
        new / "lots.csv",
        out,
        "--report",
        str(workspace["root"] / "report.html"),
    )
    return pd.read_csv(out)


def test_score_gives_every_lot_a_calibrated_risk(scored, workspace) -> None:
    assert len(scored) == 40
    assert scored["risk"].between(0, 1).all()
    # The new lots come from another simulated world (seed 4): the model may find them too far
    # outside its domain to judge; those say why and keep their risk.
    judged = scored["risk_band"] != "not assessable"
    assert set(scored.loc[judged, "risk_band"]) <= {"low", "review", "high"}
    assert scored.loc[~judged, "warning"].str.startswith("not assessable").all()
    # five drivers a lot: abundance effects, then absence effects after "absent:"
    assert scored["top_drivers"].str.count(r"[+-]\d\.\d{3} (?:raises|lowers) risk").eq(5).all()
    assert (scored["model_version"].astype(str) == "1").all()
    quarantine = pd.read_csv(workspace["root"] / "scores.quarantine.csv")
    assert quarantine.empty
    page = (workspace["root"] / "report.html").read_text()
    assert "exostab batch report" in page and scored["lot_id"].iloc[0] in page
    assert "SIMULATED data: model trained on SIMULATED lots" in page


def test_rescoring_is_idempotent(scored, workspace) -> None:
    new = workspace["new"]
    out = workspace["root"] / "again.csv"
    score_cli(new / "proteins.csv", new / "lots.csv", out)
    assert out.read_bytes() == (workspace["root"] / "scores.csv").read_bytes()


def test_small_chunks_give_the_same_scores(scored, workspace) -> None:
    new = workspace["new"]
    out = workspace["root"] / "chunked.csv"
    score_cli(new / "proteins.csv", new / "lots.csv", out, "--chunk-size", "7")
    pd.testing.assert_frame_equal(pd.read_csv(out), scored)


def test_maxquant_and_wide_csv_give_identical_risks(scored, workspace) -> None:
    new = workspace["new"]
    out = workspace["root"] / "scores_mq.parquet"
    score_cli(new / "proteinGroups.txt", new / "lots.csv", out)
    from_maxquant = pd.read_parquet(out).set_index("lot_id")["risk"]
    from_wide = scored.set_index("lot_id")["risk"]
    np.testing.assert_allclose(from_maxquant.loc[from_wide.index], from_wide, rtol=1e-9)


def test_no_lot_is_lost_with_bad_rows(scored, workspace) -> None:
    new, root = workspace["new"], workspace["root"]
    sheet = pd.read_csv(new / "lots.csv", dtype=str)
    proteins = pd.read_csv(new / "proteins.csv", dtype=str)
    sheet.loc[0, "passage"] = "-1"  # invalid passage
    sheet.loc[1, "passage"] = "five"  # text in a number column
    sheet = pd.concat([sheet, sheet.iloc[[2]]])  # duplicate lot id
    sheet = sheet[sheet["lot_id"] != sheet["lot_id"].iloc[3]]  # a run with no lot in the sheet
    blank = proteins.columns[1:]
    proteins.loc[4, blank] = ""  # nothing measured
    proteins.loc[6, blank[0]] = "n.d."  # text in an intensity cell
    proteins.loc[7, blank[1]] = "-5"  # negative intensity
    proteins = pd.concat([proteins, proteins.iloc[[8]]])  # duplicate row in the protein file
    extra = sheet.iloc[[5]].assign(lot_id="SIM-EXTRA", ms_run="SIM_run_missing")  # no profile
    sheet = pd.concat([sheet, extra])
    sheet.to_csv(root / "bad_lots.csv", index=False)
    proteins.to_csv(root / "bad_proteins.csv", index=False)
    score_cli(root / "bad_proteins.csv", root / "bad_lots.csv", root / "bad.csv")
    scores = pd.read_csv(root / "bad.csv")
    quarantine = pd.read_csv(root / "bad.quarantine.csv")
    # every sheet row, plus the run whose lot was removed, plus the second copy of a duplicated
    # protein row (each copy is listed in the quarantine)
    rows_in = len(sheet) + 2
    assert len(scores) + len(quarantine) == rows_in
    reasons = " | ".join(quarantine["reason"])
    for expected in (
        "passage",
        "duplicate",
        "not in the lot sheet",
        "no protein",
        "no protein profile",
    ):
        assert expected in reasons, reasons
    assert not set(scores["lot_id"]) & set(quarantine["lot_id"])


def test_explain_writes_tables_and_plots(trained, workspace) -> None:
    new, out = workspace["new"], workspace["root"] / "explain"
    result = invoke("explain", "--proteins", str(new / "proteins.csv"),
                    "--lots", str(new / "lots.csv"), "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    importance = pd.read_csv(out / "global_importance.csv")
    assert {"protein", "mean_abs_shap", "direction", "gene"} <= set(importance.columns)
    assert importance["mean_abs_shap"].is_monotonic_decreasing
    by_feature = importance.set_index("feature")["direction"]
    assert by_feature["tissue_source"] == "by category (no order)"  # categories have no order
    assert by_feature["passage"] in ("higher raises risk", "higher lowers risk")
    long = pd.read_parquet(out / "lot_shap.parquet")
    assert list(long.columns) == ["lot_id", "feature", "value", "shap"]
    assert long["lot_id"].nunique() == 40
    assert (out / "shap_beeswarm.png").stat().st_size > 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, payload: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=payload, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def short_names(workspace: dict) -> dict[str, str]:
    """Input column → the signature's short name, from the model's ``signature_columns.csv``."""
    import mlflow

    mlflow.set_tracking_uri(workspace["store"])
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri="models:/exostab/1"))
    columns = pd.read_csv(local / "artifacts" / "bundle" / "signature_columns.csv")
    # the served pyfunc gates the columns itself: the signature holds top_k, no column list
    signature = mlflow.models.get_model_info("models:/exostab/1").signature
    assert signature.inputs is None and [p.name for p in signature.params] == ["top_k"]
    assert columns["short_name"].is_unique and columns["short_name"].str.len().max() <= 80
    return dict(zip(columns["input_name"], columns["short_name"], strict=True))


def test_served_model_answers_over_http_with_the_batch_risks(scored, workspace) -> None:
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": workspace["store"]}
    exostab = Path(sys.executable).parent / "exostab"
    server = subprocess.Popen(
        [str(exostab), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_ping(server, port, 120)
        new = workspace["new"]
        proteins = pd.read_csv(new / "proteins.csv")
        lots = pd.read_csv(new / "lots.csv")
        table = lots.merge(proteins, on="lot_id").head(6)
        table = table.astype({c: float for c in table.columns if table[c].dtype.kind in "iu"})
        table.loc[5, "passage"] = -1.0  # answered with an error, not a failed batch
        # mlflow passes only the signature's columns: proteins go by their short names
        rename = short_names(workspace)
        table = table.rename(columns=rename)
        split = json.loads(table.to_json(orient="split", index=False))
        status, body = post(f"http://127.0.0.1:{port}/invocations",
                            json.dumps({"dataframe_split": split}).encode())  # fmt: skip
        assert status == 200, body[:500]

        def refuse(constant: str) -> None:
            raise AssertionError(f"{constant} is not valid JSON")

        predictions = json.loads(body, parse_constant=refuse)["predictions"]
        assert "passage" in predictions[5]["error"] and predictions[5]["risk"] is None
        answer = pd.DataFrame(predictions[:5])
        expected = scored.set_index("lot_id").loc[answer["lot_id"], "risk"].to_numpy()
        np.testing.assert_allclose(answer["risk"].to_numpy(float), expected, rtol=1e-9)
        assert (answer["model_version"].astype(str) == "1").all()
        # trained on SIMULATED lots: every answer says so, the lot with an error too
        assert {p["model_trained_on"] for p in predictions} == {"SIMULATED lots"}
        status, body = post(f"http://127.0.0.1:{port}/invocations", b'{"dataframe_split": 7}')
        assert 400 <= status < 500
        assert len(body) < 2000, body[:300]
        # no lot_id (the one required column): a short 4xx, not an empty answer
        unknown = {"dataframe_split": {"columns": ["foo"], "data": [[1], [2], [3]]}}
        status, body = post(f"http://127.0.0.1:{port}/invocations", json.dumps(unknown).encode())
        assert 400 <= status < 500 and b"input schema" in body, body[:300]
        assert len(body) < 2000, body[:300]
        text_cell_requests_answer_per_lot_as_batch(port, workspace)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


SERVE_CASES = Path(__file__).resolve().parents[2] / "shared" / "cases" / "serve-text-cell"


def text_cell_requests_answer_per_lot_as_batch(port: int, workspace: dict) -> None:
    """``../shared/cases/serve-text-cell``: one bad cell in row 2 costs that lot only.

    The case requests name proteins as a model trained on MaxQuant accessions would; this
    model was trained on a wide table, so each request is rebuilt from the case's rows (lot ids,
    metadata, the one bad cell) with this model's protein columns and the lots' own profiles.
    The same three lots are then scored in batch: the answers must agree (``P5`` is passage 5
    in both; ``n.d.`` and passage -1 are refused in both, with the same reason).
    """
    if not SERVE_CASES.exists():
        pytest.skip(f"{SERVE_CASES} is absent (the shared cases are not beside the repo)")
    import mlflow

    root, new = workspace["root"], workspace["new"]
    mlflow.set_tracking_uri(workspace["store"])
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri="models:/exostab/1"))
    served = pd.read_csv(local / "artifacts" / "bundle" / "signature_columns.csv")
    model_columns = set(served["short_name"])
    proteins = pd.read_csv(new / "proteins.csv").head(3)
    rename = short_names(workspace)
    # a protein whose short name is its input name: batch and HTTP then name it alike
    first_model_protein = next(
        c for c in proteins.columns[1:] if rename.get(c) == c and c in model_columns
    )
    for name in (
        "request_passage_P5_in_row2.json",
        "request_nd_in_row2.json",
        "request_passage_minus1_in_row2.json",
    ):
        case = json.loads((SERVE_CASES / name).read_text())["dataframe_split"]
        rows = pd.DataFrame(case["data"], columns=case["columns"], dtype=object)
        metadata = [c for c in rows.columns if c in ("passage", *METADATA_COLUMNS)]
        request = rows[metadata].assign(lot_id=list(proteins["lot_id"]))[["lot_id", *metadata]]
        block = proteins.drop(columns="lot_id").astype(object)
        if "n.d." in case["data"][1]:
            block.loc[1, first_model_protein] = "n.d."
        request = pd.concat([request, block], axis=1)
        sent = request.rename(columns=rename)
        payload = {"dataframe_split": {"columns": list(sent.columns),
                                       "data": sent.to_numpy().tolist()}}  # fmt: skip
        status, body = post(f"http://127.0.0.1:{port}/invocations", json.dumps(payload).encode())
        assert status == 200, (name, body[:500])
        answer = pd.DataFrame(json.loads(body)["predictions"])
        assert answer["lot_id"].tolist() == list(proteins["lot_id"])
        # batch: the same lots, the same cells, as files
        request[["lot_id", *metadata]].to_csv(root / "text_cell_lots.csv", index=False)
        request[["lot_id", *block.columns]].to_csv(root / "text_cell_proteins.csv", index=False)
        out = root / "text_cell_scores.csv"
        score_cli(root / "text_cell_proteins.csv", root / "text_cell_lots.csv", out)
        batch = pd.read_csv(out).set_index("lot_id")
        quarantine = pd.read_csv(root / "text_cell_scores.quarantine.csv").set_index("lot_id")
        assert answer.loc[[0, 2], "error"].isna().all(), answer
        if name.startswith("request_passage_P5"):
            assert answer["error"].isna().all() and quarantine.empty, answer
        else:
            lot = answer.loc[1, "lot_id"]
            assert answer.loc[1, "error"] and pd.isna(answer.loc[1, "risk"])
            assert quarantine.loc[lot, "reason"] == answer.loc[1, "error"]
        scored = answer[answer["error"].isna()].set_index("lot_id")
        assert set(scored.index) == set(batch.index)
        np.testing.assert_allclose(
            scored["risk"].astype(float), batch.loc[scored.index, "risk"], rtol=1e-9
        )
