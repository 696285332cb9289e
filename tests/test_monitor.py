"""`exostab monitor`: performance on returned assays, drift against the training reference,
the books (in = monitored + quarantined), the verdict, and the SIMULATED post-release streams."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.bundle import ModelBundle
from exostab.cli import app
from exostab.config import MonitorConfig, TrainConfig
from exostab.evaluate import rank_auroc
from exostab.monitor import attach_reference, bundle_reference, monitor_lots
from exostab.readers import read_lot_sheet_lenient
from exostab.score import score_file
from exostab.simulate_release import read_world, write_release_stream

WORLD_SEED = 3
N_PROTEINS = 200


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A model (with its monitoring reference) trained on SIMULATED lots, and a stable stream."""
    from exostab.dataset import build_training_set
    from exostab.readers import read_lot_sheet, read_proteins
    from exostab.simulate import write_simulation
    from exostab.train import train_model

    root = tmp_path_factory.mktemp("monitor")
    data = write_simulation(
        root / "sim", n_lots=100, n_donors=12, n_proteins=N_PROTEINS, seed=WORLD_SEED
    ).out
    cfg = TrainConfig.model_validate(
        {
            "data": {"metadata_features": ["passage", "tissue_source", "medium"]},
            "search": {"candidates": [{"learner": "prior"}, {"learner": "linear"}]},
            "cv": {"n_splits": 3, "naive_gap": False, "baselines": False},
            "explain": {"n_dependence": 0, "n_waterfall": 0},
        }
    )
    training = build_training_set(
        read_proteins(data / "proteins.csv"), read_lot_sheet(data / "lots.csv"), cfg
    )
    result = train_model(training, cfg, {})
    bundle = ModelBundle.from_training(result, simulated_training=True)
    bundle = attach_reference(bundle, training, result)
    model = root / "model"
    bundle.save(model / "artifacts" / "bundle")
    (model / "MLmodel").write_text("flavors: {}\n")
    stream = write_release_stream(
        root / "stream",
        world=read_world(data),
        drift="stable",
        n_lots=80,
        n_donors=8,
        seed=5,
    ).out
    return {
        "bundle": ModelBundle.load(model / "artifacts" / "bundle"),
        "model": model,
        "stream": stream,
    }


def monitored(bundle: ModelBundle, proteins: Path, lots: Path, **options: object):  # type: ignore[no-untyped-def]
    sheet, refused = read_lot_sheet_lenient(lots, vocabulary=bundle.vocabulary)
    scored = score_file(bundle, proteins, sheet, refused)
    return monitor_lots(bundle, scored, sheet, refused, config=MonitorConfig(), **options)  # type: ignore[arg-type]


def shifted_copy(
    stream: Path, out: Path, columns: list[str], log2_shift: float, only: set[str] | None = None
) -> tuple[Path, Path]:
    """Copy a stream with the given protein columns multiplied by 2**log2_shift (some lots)."""
    out.mkdir(parents=True, exist_ok=True)
    proteins = pd.read_csv(stream / "proteins.csv")
    rows = proteins["lot_id"].isin(only) if only is not None else slice(None)
    proteins[columns] = proteins[columns].astype(float)
    proteins.loc[rows, columns] = proteins.loc[rows, columns] * 2.0**log2_shift
    proteins.to_csv(out / "proteins.csv", index=False)
    (out / "lots.csv").write_text((stream / "lots.csv").read_text())
    return out / "proteins.csv", out / "lots.csv"


def test_the_reference_survives_save_and_load(world: dict[str, object]) -> None:
    bundle = world["bundle"]
    assert isinstance(bundle, ModelBundle)
    reference = bundle_reference(bundle)
    assert reference is not None
    assert set(reference.proteins) == set(map(str, bundle.proteins.index))
    assert reference.drivers and list(reference.drivers.values()) == sorted(
        reference.drivers.values(), reverse=True
    )
    assert 0.5 < reference.performance["auroc"] <= 1
    assert "medium" in reference.categories and "passage" in reference.numbers


def test_a_planted_shift_in_three_proteins_is_named(
    world: dict[str, object], tmp_path: Path
) -> None:
    bundle, stream = world["bundle"], world["stream"]
    assert isinstance(bundle, ModelBundle) and isinstance(stream, Path)
    reference = bundle_reference(bundle)
    assert reference is not None
    drivers = list(reference.drivers)[:3]
    columns = [str(bundle.proteins.loc[f, "input_name"]) for f in drivers]
    names = [bundle.display_name(f) for f in drivers]
    plain = monitored(bundle, stream / "proteins.csv", stream / "lots.csv")
    assert not set(names) & set(plain.summary()["drifted_proteins"])
    proteins, lots = shifted_copy(stream, tmp_path / "shifted", columns, 3.0)
    result = monitored(bundle, proteins, lots)
    assert result.alarm
    assert set(names) <= set(result.summary()["drifted_proteins"])
    for name in names:
        assert name in result.verdict
    assert "driver protein(s) shifted" in result.verdict


def test_a_lot_without_outcome_counts_for_drift_not_for_performance(
    world: dict[str, object], tmp_path: Path
) -> None:
    bundle, stream = world["bundle"], world["stream"]
    assert isinstance(bundle, ModelBundle) and isinstance(stream, Path)
    sheet = pd.read_csv(stream / "lots.csv")
    # Most lots still wait for their assay; their proteins moved (and only theirs).
    late = sheet.index >= int(0.4 * len(sheet))
    sheet.loc[late, "unstable"] = np.nan
    without = set(sheet.loc[late, "lot_id"])
    reference = bundle_reference(bundle)
    assert reference is not None
    drivers = list(reference.drivers)[:3]
    columns = [str(bundle.proteins.loc[f, "input_name"]) for f in drivers]
    proteins, lots = shifted_copy(stream, tmp_path / "late", columns, 3.0, only=without)
    sheet.to_csv(lots, index=False)
    result = monitored(bundle, proteins, lots)
    summary = result.summary()
    assert summary["n_with_outcome"] == len(sheet) - len(without)
    assert summary["n_monitored"] == len(sheet)
    judged = result.lots[result.lots["outcome"].notna()]
    assert set(judged["lot_id"]).isdisjoint(without)
    assert summary["auroc"] == pytest.approx(
        rank_auroc(judged["outcome"].to_numpy(dtype=int), judged["risk"].to_numpy())
    )
    assert {bundle.display_name(f) for f in drivers} <= set(summary["drifted_proteins"])


def test_every_lot_is_monitored_or_quarantined(world: dict[str, object], tmp_path: Path) -> None:
    bundle, stream = world["bundle"], world["stream"]
    assert isinstance(bundle, ModelBundle) and isinstance(stream, Path)
    sheet = pd.read_csv(stream / "lots.csv", dtype=str)
    proteins = pd.read_csv(stream / "proteins.csv", dtype=str)
    failed = sheet["lot_id"].iloc[0]
    numbers = proteins.columns[1:]
    proteins.loc[proteins["lot_id"] == failed, numbers] = ""  # a run that quantified nothing
    bad_passage = sheet.iloc[[1]].assign(lot_id="BAD-PASSAGE", passage="passage five")
    no_profile = sheet.iloc[[2]].assign(lot_id="NO-PROFILE")
    sheet = pd.concat([sheet, bad_passage, no_profile], ignore_index=True)
    sheet.to_csv(tmp_path / "lots.csv", index=False)
    proteins.to_csv(tmp_path / "proteins.csv", index=False)
    result = monitored(bundle, tmp_path / "proteins.csv", tmp_path / "lots.csv")
    assert len(result.lots) + len(result.quarantine) == len(sheet)
    quarantined = dict(zip(result.quarantine["lot_id"], result.quarantine["reason"], strict=True))
    assert set(quarantined) == {failed, "BAD-PASSAGE", "NO-PROFILE"}
    assert quarantined[failed].startswith("failed run")
    assert result.windows["n_failed_runs"].sum() == 1
    assert (
        result.windows["n_in"] == result.windows["n_monitored"] + result.windows["n_quarantined"]
    ).all()
    assert result.windows["n_in"].sum() == len(sheet)


def test_a_model_without_reference_says_so_and_still_judges_performance(
    world: dict[str, object],
) -> None:
    bundle, stream = world["bundle"], world["stream"]
    assert isinstance(bundle, ModelBundle) and isinstance(stream, Path)
    from dataclasses import replace

    older = replace(bundle, monitor_reference=None)
    result = monitored(older, stream / "proteins.csv", stream / "lots.csv")
    assert any("no training reference" in note for note in result.notes)
    assert result.proteins is None and result.metadata is None
    assert result.summary()["n_with_outcome"] > 0
    assert np.isfinite(result.summary()["auroc"])


def test_the_cli_writes_the_verdict_and_logs_a_monitoring_run(
    world: dict[str, object], tmp_path: Path, tracking_store: str
) -> None:
    stream = world["stream"]
    assert isinstance(stream, Path)
    out = tmp_path / "out"
    answer = CliRunner().invoke(
        app,
        [
            "monitor",
            "--model",
            str(world["model"]),
            "--proteins",
            str(stream / "proteins.csv"),
            "--lots",
            str(stream / "lots.csv"),
            "--out",
            str(out),
            "--window",
            "Q",
        ],
    )
    assert answer.exit_code == 0, answer.output
    summary = json.loads((out / "monitor.json").read_text())
    for key in ("alarm", "reasons", "n_lots", "n_with_outcome", "auroc", "calibration"):
        assert key in summary
    assert summary["verdict"] in answer.output
    assert all(w["window"].startswith("2027Q") for w in summary["windows"])
    assert "SIMULATED" in (out / "monitor.html").read_text()
    from mlflow.tracking import MlflowClient

    runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("exostab-monitoring").experiment_id]
    )
    assert len(runs) == 1 and runs[0].data.tags["alarm"] == str(summary["alarm"]).lower()


def test_a_bad_alarm_rule_is_refused_with_its_key(world: dict[str, object], tmp_path: Path) -> None:
    stream = world["stream"]
    assert isinstance(stream, Path)
    rule = tmp_path / "monitor.yaml"
    rule.write_text("monitor:\n  fdr: 2\n")
    answer = CliRunner().invoke(
        app,
        [
            "monitor",
            "--model",
            str(world["model"]),
            "--proteins",
            str(stream / "proteins.csv"),
            "--lots",
            str(stream / "lots.csv"),
            "--out",
            str(tmp_path / "out"),
            "--config",
            str(rule),
            "--no-track",
        ],
    )
    assert answer.exit_code == 2
    assert "monitor.fdr" in answer.output and "Traceback" not in answer.output


def test_a_stream_has_dates_and_outcomes_only_for_its_earlier_lots(
    world: dict[str, object],
) -> None:
    stream = world["stream"]
    assert isinstance(stream, Path)
    sheet = pd.read_csv(stream / "lots.csv")
    assert sheet["lot_id"].str.startswith("SIM-R").all()
    dates = pd.to_datetime(sheet["release_date"])
    back = sheet["unstable"].notna()
    assert dates[back].max() <= dates[~back].min()
    assert "SIMULATED" in (stream / "README.txt").read_text()
