"""Integration tier: simulate → train → forecast (and the batch report's lot trends) via the CLI.

Uses a temporary SQLite mlflow store, a small SIMULATED data set and a fast training config.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from exostab.cli import app
from exostab.config import CONFIG_DIR
from exostab.forecast import BANK_COLUMNS, CURVE_COLUMNS
from exostab.simulate import write_simulation

pytestmark = [pytest.mark.integration, pytest.mark.slow]
runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("forecast")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
        data = write_simulation(
            root / "sim", n_lots=110, n_donors=11, n_proteins=300, scenario="holdout", seed=5
        ).out
        config = yaml.safe_load((CONFIG_DIR / "train.yaml").read_text())
        config["cv"].update({"naive_gap": False, "baselines": False, "n_splits": 3})
        config["search"]["candidates"] = [{"learner": "prior"}, {"learner": "trees"}]
        config_path = root / "train.yaml"
        config_path.write_text(yaml.safe_dump(config))
        summary = root / "summary.json"
        result = invoke(
            "train",
            "--config", str(config_path),
            "--proteins", str(data / "train" / "proteins.csv"),
            "--lots", str(data / "train" / "lots.csv"),
            "--summary", str(summary),
            "--no-register",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        yield {"root": root, "data": data, "model": json.loads(summary.read_text())["model_uri"]}


def forecast_in_store(
    trained: dict, lots: Path, out: Path, *extra: str, proteins: Path | None = None
) -> Result:
    """Run ``exostab forecast`` of the module's model on the held-out proteins (or
    ``proteins``), in its store."""
    root = trained["root"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
        return invoke(
            "forecast",
            "--model", trained["model"],
            "--proteins", str(proteins or trained["data"] / "test" / "proteins.csv"),
            "--lots", str(lots),
            "--out", str(out),
            *extra,
        )  # fmt: skip


@pytest.fixture(scope="module")
def forecast(trained):
    """Forecast the held-out donors plus a bad lot-sheet row and a lot with no profile."""
    root, test = trained["root"], trained["data"] / "test"
    sheet = pd.read_csv(test / "lots.csv")
    extra = sheet.iloc[[0, 0]].copy()
    extra["lot_id"] = ["BAD-LOT", "GHOST-LOT"]
    extra["donor_id"] = ["SIM-BAD", "SIM-GHOST"]
    extra["passage"] = extra["passage"].astype(object)
    extra.iloc[0, extra.columns.get_loc("passage")] = "abc"
    lots = root / "lots_with_problems.csv"
    pd.concat([sheet, extra]).to_csv(lots, index=False)
    out = root / "forecast"
    result = forecast_in_store(trained, lots, out, "--passages", "2-12", "--draws", "12")
    assert result.exit_code == 0, result.output
    return {"out": out, "sheet": sheet, "output": result.output}


def test_forecast_writes_one_row_per_bank_and_passage(forecast) -> None:
    curves = pd.read_csv(forecast["out"] / "forecast.csv")
    assert list(curves.columns) == CURVE_COLUMNS
    donors = sorted(forecast["sheet"]["donor_id"].unique())
    assert sorted(curves["donor_id"].unique()) == donors
    assert len(curves) == len(donors) * 11
    assert curves["risk"].between(0, 1).all()
    assert (curves["risk_low"] <= curves["risk"] + 1e-9).all()
    assert (curves["risk"] <= curves["risk_high"] + 1e-9).all()
    sheet = forecast["sheet"]
    for donor, rows in curves.groupby("donor_id"):
        measured = set(sheet.loc[sheet["donor_id"] == donor, "passage"])
        expected = [p in measured for p in rows["passage"]]
        assert rows["measured"].tolist() == expected
        assert rows["beyond_measured"].tolist() == [p > max(measured) for p in rows["passage"]]


def test_last_safe_passage_follows_the_upper_risk_and_the_hold_threshold(forecast) -> None:
    curves = pd.read_csv(forecast["out"] / "forecast.csv")
    banks = pd.read_csv(forecast["out"] / "banks.csv")
    assert list(banks.columns) == BANK_COLUMNS
    threshold = 0.25  # configs/train.yaml costs: 1 / (1 + 3)
    for bank in banks.dropna(subset=["last_measured_passage"]).itertuples():
        rows = curves[curves["donor_id"] == bank.donor_id].sort_values("passage")
        over = rows.loc[rows["risk_high"] >= threshold, "passage"]
        if bank.last_measured_passage >= 12:  # the grid ends at P12: nothing ahead
            assert pd.isna(bank.last_safe_passage) and "nothing to forecast" in bank.reason
        elif over.empty:
            assert bank.last_safe_passage == 12
        elif over.iloc[0] == 2:
            assert pd.isna(bank.last_safe_passage)
        else:
            assert bank.last_safe_passage == over.iloc[0] - 1
            assert f"P{over.iloc[0]}" in bank.drivers


def test_bad_input_is_quarantined_and_a_bank_without_usable_lots_says_why(forecast) -> None:
    quarantine = pd.read_csv(forecast["out"] / "quarantine.csv").set_index("lot_id")
    assert "'abc'" in quarantine.loc["BAD-LOT", "reason"]  # the lot sheet's own reason
    ghost_run = forecast["sheet"]["ms_run"].iloc[0]  # the ghost lot names a run not in the file
    assert quarantine.loc["GHOST-LOT", "reason"] == (
        f"no protein profile: ms_run '{ghost_run}' not in the protein file"
    )
    banks = pd.read_csv(forecast["out"] / "banks.csv").set_index("donor_id")
    assert banks.loc["SIM-GHOST", "n_lots"] == 0
    assert "no usable lot: no protein profile" in banks.loc["SIM-GHOST", "reason"]


def test_the_forecast_page_is_self_contained_and_says_simulated(forecast) -> None:
    page = (forecast["out"] / "forecast.html").read_text()
    n_banks = forecast["sheet"]["donor_id"].nunique()
    assert page.count("data:image/png;base64,") == n_banks
    assert "SIMULATED" in page and "<script" not in page and "http" not in page.split("<h2>")[0]
    assert "SIM-GHOST" in page and "no protein profile" in page


def test_a_model_without_trajectory_exits_2_with_one_line(trained, tmp_path: Path) -> None:
    import mlflow

    root = trained["root"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
        mlflow.set_tracking_uri(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
        local = Path(mlflow.artifacts.download_artifacts(trained["model"], dst_path=tmp_path))
        (local / "artifacts" / "bundle" / "trajectory.json").unlink()
        test = trained["data"] / "test"
        result = invoke(
            "forecast",
            "--model", str(local),
            "--proteins", str(test / "proteins.csv"),
            "--lots", str(test / "lots.csv"),
            "--out", str(tmp_path / "out"),
        )  # fmt: skip
    assert result.exit_code == 2
    assert "no passage trajectory" in result.output and "retrain" in result.output
    assert "Traceback" not in result.output
    shutil.rmtree(local)


def test_a_bad_passage_range_exits_2(trained, tmp_path: Path) -> None:
    test = trained["data"] / "test"
    result = invoke(
        "forecast",
        "--model", trained["model"],
        "--proteins", str(test / "proteins.csv"),
        "--lots", str(test / "lots.csv"),
        "--out", str(tmp_path / "out"),
        "--passages", "12-3",
    )  # fmt: skip
    assert result.exit_code == 2 and "--passages" in result.output


def test_a_grid_below_every_banks_measured_lots_forecasts_nothing_and_says_so(
    trained, tmp_path: Path
) -> None:
    """`--passages 3-3` for banks measured beyond P3 printed "last safe passage P3"."""
    test = trained["data"] / "test"
    sheet = pd.read_csv(test / "lots.csv")
    latest = sheet.groupby("donor_id")["passage"].max()
    assert (latest > 3).all()
    result = forecast_in_store(
        trained, test / "lots.csv", tmp_path / "out", "--passages", "3-3", "--draws", "10"
    )
    assert result.exit_code == 2, result.output
    assert "no bank was forecast" in result.output and "Traceback" not in result.output
    assert "last safe passage P3" not in result.output
    assert "0 bank(s) forecast over P3-P3" in result.output
    banks = pd.read_csv(tmp_path / "out" / "banks.csv").set_index("donor_id")
    assert banks["last_safe_passage"].isna().all()
    for donor, passage in latest.items():
        assert banks.loc[donor, "reason"].startswith(f"measured up to P{passage}")
    curves = pd.read_csv(tmp_path / "out" / "forecast.csv")
    assert not curves["beyond_measured"].any()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full (not Linux)")
def test_a_full_disk_leaves_none_of_the_forecast_files(trained, tmp_path: Path) -> None:
    """banks.csv is a symlink to /dev/full (every write: ENOSPC): one line, exit 2, and
    forecast.csv, written before it under a temporary name, is not left behind."""
    test, out = trained["data"] / "test", tmp_path / "out"
    out.mkdir()
    (out / "banks.csv").symlink_to("/dev/full")
    result = forecast_in_store(trained, test / "lots.csv", out, "--draws", "10")
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "Traceback" not in said
    assert f"{out / 'banks.csv'}: could not write it: No space left on device (ENOSPC)" in said
    assert said.endswith("not written either: forecast.csv")  # the two after it: not begun
    assert sorted(p.name for p in out.iterdir()) == ["banks.csv"]


def test_the_batch_report_shows_lot_trends_per_donor(trained, tmp_path: Path) -> None:
    root, test = trained["root"], trained["data"] / "test"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
        result = invoke(
            "score",
            "--model", trained["model"],
            "--proteins", str(test / "proteins.csv"),
            "--lots", str(test / "lots.csv"),
            "--out", str(tmp_path / "scores.csv"),
            "--report", str(tmp_path / "report.html"),
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    donors = pd.read_csv(test / "lots.csv")["donor_id"].nunique()
    assert "Lot trends per donor" in page and "(by passage)" in page
    assert page.count('alt="lot trend of donor') == donors


def only_the_quarantine(out: Path, lots: Path, said: str) -> None:
    """Nothing could be forecast: OUT holds the quarantine alone, every lot of the sheet in it
    with a reason, and the one error line ends saying where it is."""
    assert sorted(path.name for path in out.iterdir()) == ["quarantine.csv"]
    held = pd.read_csv(out / "quarantine.csv", dtype=str)
    assert list(held.columns) == ["lot_id", "reason"] and held["reason"].notna().all()
    assert set(pd.read_csv(lots, dtype=str)["lot_id"]) <= set(held["lot_id"])
    assert said.endswith(f"; each lot with its reason → {out / 'quarantine.csv'}")


def test_a_protein_file_of_no_lot_is_one_line_not_a_traceback(trained, tmp_path: Path) -> None:
    """A header-only protein table gave KeyError 'risk'; runs named otherwise than the lots
    gave "no bank could be forecast (see the quarantine file)" after counting runs as lots.
    Then no file at all was written, and every lot's reason but the first was lost: the
    quarantine is written, alone."""
    test = trained["data"] / "test"
    header = (test / "proteins.csv").read_text(encoding="utf-8").splitlines()[0]
    empty = tmp_path / "empty.csv"
    empty.write_text(header + "\n", encoding="utf-8")
    (tmp_path / "a").mkdir()  # an earlier run's forecast would sit beside this quarantine
    for name in ("forecast.csv", "banks.csv", "forecast.html", "notes.txt"):
        (tmp_path / "a" / name).write_text("earlier\n")
    result = forecast_in_store(trained, test / "lots.csv", tmp_path / "a", proteins=empty)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    (said,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert said.startswith(f"error: {empty}: no lot could be forecast: the protein file ")
    assert "holds no run" in said
    assert "(the earlier forecast.csv, banks.csv, forecast.html removed)" in said
    (tmp_path / "a" / "notes.txt").unlink()  # not an output of forecast: left alone
    only_the_quarantine(tmp_path / "a", test / "lots.csv", said.split(" (the earlier")[0])
    renamed = tmp_path / "lots.csv"
    sheet = pd.read_csv(test / "lots.csv")
    sheet["lot_id"] = "X-" + sheet["lot_id"].astype(str)
    sheet.drop(columns=[c for c in ("ms_run",) if c in sheet]).to_csv(renamed, index=False)
    result = forecast_in_store(trained, renamed, tmp_path / "b")
    assert result.exit_code == 2, result.output
    (said,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "no lot could be forecast: the protein file's" in said and "ms_run column" in said
    only_the_quarantine(tmp_path / "b", renamed, said)


def test_lots_in_counts_the_lot_sheet_not_the_runs(trained, tmp_path: Path) -> None:
    """Half the lots renamed: "120 lots in" was printed for an 80-lot sheet (runs of no lot
    counted as lots); they are said apart."""
    test = trained["data"] / "test"
    sheet = pd.read_csv(test / "lots.csv")
    half = len(sheet) // 2
    sheet.loc[: half - 1, "lot_id"] = "X-" + sheet.loc[: half - 1, "lot_id"].astype(str)
    renamed = tmp_path / "lots.csv"
    sheet.drop(columns=[c for c in ("ms_run",) if c in sheet]).to_csv(renamed, index=False)
    result = forecast_in_store(trained, renamed, tmp_path / "out", "--draws", "10")
    said = " ".join(result.output.split())
    n = len(sheet)
    assert (
        f"{n} lots in: {n - half} used, {half} quarantined (and {half} protein-file run(s) "
        "of no lot)" in said
    ), said
    quarantine = pd.read_csv(tmp_path / "out" / "quarantine.csv")
    assert len(quarantine) == 2 * half  # each renamed lot, and each run of no lot
