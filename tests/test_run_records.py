"""Integration tier: runs tell themselves apart and registered versions explain themselves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import train_two_runs
from exostab.config import TrainConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, fast_config: TrainConfig):
    """Two trainings on different SIMULATED data into one temporary store."""
    root = tmp_path_factory.mktemp("runs")
    store, outcomes = train_two_runs(root, fast_config)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        yield outcomes, store


def test_two_trainings_are_told_apart(two_runs) -> None:
    from mlflow.tracking import MlflowClient

    outcomes, store = two_runs
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    first, second = outcomes
    assert first.run_name != second.run_name
    # what tells them apart comes first, within the UI's narrow Run Name column
    assert first.run_name.startswith("60 lots · ") and second.run_name.startswith("90 lots · ")
    for outcome in outcomes:
        assert outcome.run_name.endswith(" · SIMULATED") and len(outcome.run_name) <= 30
        assert outcome.result.choice.candidate.learner in outcome.run_name
    for outcome in outcomes:
        run = client.get_run(outcome.run_id)
        assert run.data.tags["simulated_data"] == "true"
        assert {"data_format", "validation", "chosen_structure", "verdict"} <= set(run.data.tags)
        for key in ("cv_roc_auc", "cv_pr_auc", "cv_brier", "cv_ece", "gain_over_passage"):
            assert key in run.data.metrics
        assert run.data.metrics["n_lots"] == outcome.fingerprint["n_lots"]
        assert run.data.metrics["n_donors"] == outcome.fingerprint["n_groups"]
        assert not any(key.startswith("fold") for key in run.data.metrics)
        # the run opened when training began: its duration covers the training
        duration = (run.info.end_time - run.info.start_time) / 1000
        assert duration >= outcome.result.seconds
        inputs = run.inputs.dataset_inputs
        tags = [{t.key: t.value for t in i.tags} for i in inputs]
        by_role = {t["role"]: i.dataset for t, i in zip(tags, inputs, strict=True) if "role" in t}
        contexts = {t["mlflow.data.context"] for t in tags}
        assert set(by_role) == {"proteins", "lot_sheet"}
        assert contexts == {"training", "evaluation"}
        assert by_role["proteins"].name == "proteins.csv"
        assert by_role["lot_sheet"].name == "lots.csv"
        # the lot sheet names its label (mlflow keeps a pandas dataset's targets in memory only)
        assert [t.get("targets") for t in tags if t.get("role") == "lot_sheet"] == ["unstable"]
        # MLflow 3 links: the CV metrics belong to the logged model and to the evaluation
        # dataset of out-of-fold predictions they were computed on
        (evaluation,) = [i.dataset for t, i in zip(tags, inputs, strict=True)
                         if t["mlflow.data.context"] == "evaluation"]  # fmt: skip
        assert evaluation.name == "cv_out_of_fold"
        version = client.get_model_version("exostab", outcome.model_version)
        model_id = version.source.removeprefix("models:/")
        linked = {m.key: m for m in client.get_logged_model(model_id).metrics}
        assert linked["cv_roc_auc"].value == run.data.metrics["cv_roc_auc"]
        assert linked["cv_roc_auc"].dataset_name == "cv_out_of_fold"
        assert linked["n_lots"].dataset_name is None
        # the run describes itself in the UI, and the verdict tag says "verdict" once
        note = run.data.tags["mlflow.note.content"]
        assert note.startswith("SIMULATED data.") and "Verdict: " in note
        assert f"AUROC {run.data.metrics['cv_roc_auc']:.3f}" in note
        assert not run.data.tags["verdict"].startswith("verdict")
        experiment = client.get_experiment(run.info.experiment_id)
        assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
        for path, sha in outcome.fingerprint["inputs"].items():
            dataset = by_role["proteins" if path.endswith("proteins.csv") else "lot_sheet"]
            assert dataset.digest == sha[:16]
            assert str(Path(path).resolve()) in dataset.source
            assert "num_rows" in dataset.profile
        artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
        assert {"model_card.md", "fold_metrics.csv", "protein_features.csv"} <= artifacts
    digests = [
        {d.dataset.digest for d in client.get_run(o.run_id).inputs.dataset_inputs} for o in outcomes
    ]
    assert digests[0].isdisjoint(digests[1])


def test_registered_versions_explain_themselves(two_runs) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    outcomes, store = two_runs
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    for outcome in outcomes:
        assert outcome.model_version is not None
        version = client.get_model_version("exostab", outcome.model_version)
        assert str(outcome.fingerprint["n_lots"]) in version.description
        assert "SIMULATED" in version.description
        tags = version.tags
        assert tags["simulated_data"] == "true"
        assert tags["n_lots"] == str(outcome.fingerprint["n_lots"])
        assert tags["n_donors"] == str(outcome.fingerprint["n_groups"])
        assert "95% CI" in tags["cv_roc_auc"]
        assert tags["gate_verdict"] in ("champion-eligible", "not eligible")
        assert "baselines_beaten" in tags
        mlflow.set_tracking_uri(store)
        card = mlflow.artifacts.load_text(f"runs:/{outcome.run_id}/model_card.md")
        for heading in (
            "## Intended use",
            "## Data",
            "## Validation",
            "## Performance against baselines",
            "## Calibration",
            "## Known limits",
            "## Simulator assumptions",
        ):
            assert heading in card


@pytest.mark.parametrize(
    ("rows", "simulated"),
    [
        (["SIM-L0001,SIM-D001,3", "SIM-L0002,SIM-D001,4"], True),
        (['"SIM-L0001";SIM-D001;3'], True),
        (["SIM-L0001,SIM-D001,3", "EXO-24-002,D2,4"], False),
        (["EXO-24-001,D01,3"], False),
        ([], False),
        (["SIM-L0001,SIM-D001,3,", ",,,,", ",,,,"], True),
        (["SIM-L0001;SIM-D001;3", ";;;"], True),
    ],
)
def test_simulated_lot_sheets_are_known_by_their_lot_ids(
    tmp_path: Path, rows: list[str], simulated: bool
) -> None:
    """A simulated sheet copied away from its README (the shared cases) stays SIMULATED."""
    from exostab.io.provenance import is_simulated

    sheet = tmp_path / "lots.csv"
    sheet.write_text("\n".join(["lot_id,donor_id,passage", *rows]) + "\n")
    assert is_simulated(sheet) is simulated


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_simulated_lot_sheets_are_known_in_any_encoding(tmp_path: Path, encoding: str) -> None:
    """Excel's "Unicode text" (UTF-16, tab-separated) of a simulated sheet stays SIMULATED."""
    from exostab.io.provenance import is_simulated

    sheet = tmp_path / "lots.txt"
    text = "lot_id\tdonor_id\tpassage\nSIM-L0001\tSIM-D001\t3\nSIM-L0002\tSIM-D001\t4\n"
    sheet.write_bytes(text.encode(encoding))
    assert is_simulated(sheet) is True


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet", ".csv"])
@pytest.mark.parametrize(("ids", "simulated"), [(["SIM-L0001", "SIM-L0002"], True),
                                                (["SIM-L0001", "EXO-24-002"], False)])  # fmt: skip
def test_simulated_lot_sheets_are_known_in_any_format_and_column_order(
    tmp_path: Path, suffix: str, ids: list[str], simulated: bool
) -> None:
    """An XLSX or Parquet sheet, or lot ids under 'Lot ID' after other columns, is read as the
    lot-sheet reader reads it: SIMULATED stays in the run name ('80 lots · linear ·
    SIMULATED'), where an XLSX sheet of SIMULATED lots lost it."""
    from exostab.io.provenance import is_simulated
    from exostab.training.workflow import run_name

    sheet = pd.DataFrame({"donor_id": ["SIM-D001", "SIM-D001"], "Lot ID": ids, "passage": [3, 4]})
    path = tmp_path / f"lots{suffix}"
    {".xlsx": sheet.to_excel, ".parquet": sheet.to_parquet, ".csv": sheet.to_csv}[suffix](
        path, index=False
    )
    assert is_simulated(path) is simulated
    assert run_name(2, "linear", simulated=is_simulated(path)).endswith("· SIMULATED") is simulated


def test_the_shared_xlsx_sheet_of_simulated_lots_is_simulated() -> None:
    from exostab.io.provenance import is_simulated

    path = Path(__file__).resolve().parents[2] / "shared" / "cases" / "xlsx-merged-donor-cells"
    if not path.is_dir():
        pytest.skip(f"xlsx-merged-donor-cells not found at {path}")
    assert is_simulated(path / "lots_merged.xlsx") is True
    assert is_simulated(path.parent / "base-lots" / "proteinGroups.txt") is False  # no lot_id


def test_driver_line_says_when_folds_chose_no_protein(two_runs) -> None:
    """Time-ordered CV on the built-in lots: 3 of 5 early folds chose passage and metadata
    alone, so every driver showed 0% of folds with no word why (reviewer's finding)."""
    from dataclasses import replace

    from exostab.model.selection import Choice

    outcome = two_runs[0][1]

    def prior(inputs: str) -> Choice:
        update = {"learner": "prior", "prior": inputs}
        return Choice(
            candidate=outcome.result.choice.candidate.model_copy(update=update), n_rounds=0
        )

    folds = outcome.result.fold_choices
    mixed = [prior("metadata"), prior("passage"), prior("passage"), *folds[3:]]
    lines = replace(outcome, result=replace(outcome.result, fold_choices=mixed)).report_lines(12)
    n_prior = 3 + sum(c.candidate.learner == "prior" for c in folds[3:])
    assert any(f"{n_prior} of {len(folds)} CV folds chose no protein (" in x for x in lines)
    assert any("passage and metadata alone, " in x and "2 passage alone" in x for x in lines)
    any_prior = any(c.candidate.learner == "prior" for c in folds)
    as_trained = outcome.report_lines(12)
    assert any("CV folds chose no protein" in x for x in as_trained) == any_prior
