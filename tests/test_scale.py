"""The declared scale of protein values (raw or log2) from the reader to the saved model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exostab.errors import InputError
from exostab.io.readers import read_proteins
from exostab.io.readers.streaming import iter_wide_lenient
from exostab.io.runs import map_runs_to_lots
from exostab.model.bundle import ModelBundle
from exostab.model.features import (
    LogNormalizer,
    transformer_from_state,
    transformer_state,
)
from exostab.training.nested_cv import train_model

RATIOS = "lot_id,CD9,CD63,CD81\nL1,-1.5,0,2.25\nL2,0.5,,-3\nL3,,,\n"


def test_log2_file_keeps_zero_and_negative_values(tmp_path: Path) -> None:
    path = tmp_path / "ratios.csv"
    path.write_text(RATIOS)
    matrix = read_proteins(path, scale="log2")
    assert matrix.scale == "log2"
    assert matrix.intensities.loc["L1", "CD9"] == -1.5
    assert matrix.intensities.loc["L1", "CD63"] == 0.0  # a log2 ratio of 0 is a value
    assert math.isnan(matrix.intensities.loc["L2", "CD63"])
    assert matrix.failed_runs == ["L3"]
    assert any("quantified no protein" in problem for problem in matrix.problems)
    with pytest.raises(InputError, match=r"negative intensity \(-1\.5\).*--scale log2"):
        read_proteins(path)


def test_log2_declared_on_raw_values_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("lot_id,CD9,CD63\nL1,1000,2000\nL2,3000,4000\n")
    matrix = read_proteins(path, scale="log2")
    assert any("look like raw intensities" in problem for problem in matrix.problems)
    assert "look like raw intensities" in caplog.text
    with pytest.raises(InputError, match="unknown scale"):
        read_proteins(path, scale="ln")


def test_streaming_follows_the_scale(tmp_path: Path) -> None:
    path = tmp_path / "ratios.csv"
    path.write_text(RATIOS + ",,,\n")  # a blank Excel row at the end: not a lot
    (log2,) = list(iter_wide_lenient(path, scale="log2"))
    # L3 has an id but no value: a failed run, quarantined as score quarantines one
    assert log2.refused.to_dict("records") == [
        {
            "lot_id": "L3",
            "reason": "its run quantified no protein (failed run?): 'L3'",
            "failed_run": True,  # marked so: score takes it as a failed run, not by its words
        }
    ]
    assert list(log2.matrix.intensities.index) == ["L1", "L2"]
    assert log2.matrix.intensities.loc["L2", "CD81"] == -3.0
    (raw,) = list(iter_wide_lenient(path))
    assert set(raw.refused["lot_id"]) == {"L1", "L2", "L3"}  # negatives refuse their rows
    assert raw.refused.set_index("lot_id")["failed_run"].to_dict() == {
        "L1": False,
        "L2": False,
        "L3": True,
    }


def test_replicates_average_as_they_are_on_the_log2_scale(tmp_path: Path) -> None:
    path = tmp_path / "reps.csv"
    path.write_text("run,CD9,CD63\nL1_a,-1,4\nL1_b,3,\n")
    matrix = read_proteins(path, scale="log2")
    sheet = pd.DataFrame(
        {"passage": [1], "ms_run": ["L1_a;L1_b"]}, index=pd.Index(["L1"], name="lot_id")
    )
    lots, _ = map_runs_to_lots(matrix, sheet)
    assert lots.intensities.loc["L1", "CD9"] == 1.0  # mean of -1 and 3, no 2^ round trip
    assert lots.intensities.loc["L1", "CD63"] == 4.0
    back = matrix.on_scale("raw")
    assert back.intensities.loc["L1_a", "CD9"] == 0.5
    assert back.on_scale("log2").intensities.loc["L1_a", "CD9"] == -1.0


def test_log_normalizer_skips_the_transform_for_log2_and_round_trips() -> None:
    frame = pd.DataFrame({"passage": [1, 2, 3], "A": [-1.0, 0.0, 2.0], "B": [1.0, np.nan, -2.0]})
    step = LogNormalizer(metadata=("passage",), normalisation="none", scale="log2").fit(frame)
    out = step.transform(frame)
    pd.testing.assert_frame_equal(out, frame.astype({"passage": "int64"}), check_dtype=False)
    raw = LogNormalizer(metadata=("passage",), normalisation="none").fit(frame)
    assert raw.transform(frame)["A"].isna().sum() == 2  # raw: <= 0 means not detected
    state = json.loads(json.dumps(transformer_state(step)))
    rebuilt = transformer_from_state(state)
    assert rebuilt.get_params()["scale"] == "log2"
    pd.testing.assert_frame_equal(rebuilt.transform(frame), out)


@pytest.mark.slow
def test_the_model_stores_the_scale_it_was_trained_on(planted, fast_config, tmp_path) -> None:
    log2_training = type(planted)(
        **{
            **planted.__dict__,
            "X": planted.X.assign(
                **{c: np.log2(planted.X[c]) - 20 for c in planted.proteins.index}
            ),
            "scale": "log2",
        }
    )
    cfg = fast_config.model_copy(
        update={"data": fast_config.data.model_copy(update={"scale": "log2"})}
    )
    result = train_model(log2_training, cfg)
    bundle = ModelBundle.from_training(result)
    assert bundle.scale == "log2"
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    assert json.loads((tmp_path / "bundle" / "bundle.json").read_text())["scale"] == "log2"
    assert loaded.scale == "log2"
    table = log2_training.X.reset_index().rename(columns={"index": "lot_id"})
    answers = loaded.predict(table)
    assert answers["error"].isna().all()  # negative log2 values are values, not errors
    np.testing.assert_allclose(answers["risk"], bundle.predict(table)["risk"])


@pytest.mark.parametrize("layout", ["wide", "maxquant"])
def test_score_refuses_raw_values_declared_log2_as_inspect_reports_them(
    simulated_model: dict[str, Path], tmp_path: Path, layout: str
) -> None:
    """One rule for both commands: values above 50 declared log2 are inspect's problem and
    score's one-line refusal (exit 2) with the same words, never "negative or infinite
    intensity" for every lot, whether the file is streamed (wide) or read whole (MaxQuant)."""
    from typer.testing import CliRunner

    from exostab.cli import app

    data = simulated_model["data"]
    lots = data / "lots.csv"
    proteins = data / "proteins.csv"
    if layout == "maxquant":
        wide = pd.read_csv(proteins).set_index("lot_id")
        proteins = tmp_path / "proteinGroups.txt"
        groups = wide.T.add_prefix("LFQ intensity ")
        groups.insert(0, "Protein IDs", groups.index)
        groups.insert(1, "Majority protein IDs", groups.index)
        groups.to_csv(proteins, sep="\t", index=False)
    runner = CliRunner()
    out = tmp_path / "scores.csv"
    answer = runner.invoke(
        app,
        [
            "score", "--model", str(simulated_model["model"]), "--proteins", str(proteins),
            "--lots", str(lots), "--out", str(out), "--scale", "log2",
        ],
    )  # fmt: skip
    assert answer.exit_code == 2, answer.output
    assert "Traceback" not in answer.output and not out.exists()
    errors = [line for line in answer.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, answer.output
    said = " ".join(answer.output.split())
    assert "negative or infinite" not in said
    inspected = runner.invoke(app, ["inspect", str(proteins), "--scale", "log2", "--json"])
    problems = json.loads(inspected.output)["problems"]
    (problem,) = [p for p in problems if "declared log2" in p]
    assert problem.endswith("drop --scale log2")
    assert problem in said


def test_a_lot_sheet_given_as_the_protein_file_is_refused_in_one_line(
    simulated_model: dict[str, Path], tmp_path: Path
) -> None:
    """Every lot of the sheet is quarantined (its cells are text, not intensities) and score
    says so in one line with exit 2; pandas' read-only masks once made it a traceback."""
    from typer.testing import CliRunner

    from exostab.cli import app

    lots = simulated_model["data"] / "lots.csv"
    result = CliRunner().invoke(
        app,
        [
            "score",
            "--model",
            str(simulated_model["model"]),
            "--proteins",
            str(lots),
            "--lots",
            str(lots),
            "--out",
            str(tmp_path / "scores.csv"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "no lot could be scored" in result.output
