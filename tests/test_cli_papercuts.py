"""CLI papercuts: version, help, defaults, make help, the simulated README, scale warning."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def plain(text: str) -> str:
    """Help text without rich's box drawing and line breaks."""
    return re.sub(r"[│╭╮╰╯─\s]+", " ", text)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"exostab \d+\.\d+\.\d+\S*", result.output.strip())


def test_model_help_keeps_the_run_id_placeholder() -> None:
    result = runner.invoke(app, ["score", "--help"], terminal_width=200)
    assert "runs:/RUN_ID/model" in plain(result.output)
    assert "runs://model" not in plain(result.output)


def test_simulate_help_cites_nothing_outside_the_repository() -> None:
    result = runner.invoke(app, ["simulate", "--help"], terminal_width=200)
    assert "§" not in result.output
    assert "configs/simulate.yaml" in plain(result.output)


def test_train_help_shows_the_defaults() -> None:
    text = plain(runner.invoke(app, ["train", "--help"], terminal_width=200).output)
    for default in ("(unstable)", "(donor_id)", "(exostab)", "(7)"):
        assert default in text, default


@pytest.mark.parametrize(
    "command", [[], *([name] for name in ("train", "inspect", "monitor", "serve", "promote"))]
)
def test_help_shows_flags_as_flags_and_values_with_their_type(command: list[str]) -> None:
    """A flag takes no value: no ``<bool>`` beside --help, --track, --json, --verbose."""
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = plain(result.output)
    assert "<bool>" not in text
    assert "--help Show this message and exit." in text
    flag = {"train": "--register --no-register Register", "inspect": "--json Print one JSON"}
    if command and command[0] in flag:
        assert flag[command[0]] in text
    if command == ["serve"]:
        assert "--port <int>" in text  # an option that takes a value keeps its type


def test_make_help_expands_the_ports() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    completed = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "$(" not in completed.stdout
    assert "127.0.0.1:5001" in completed.stdout


def test_simulated_readme_has_no_blanks(tmp_path: Path) -> None:
    from exostab.simulate import write_simulation

    write_simulation(tmp_path, scenario="holdout", n_lots=30, n_donors=6, n_proteins=120, seed=1)
    readme = (tmp_path / "README.txt").read_text()
    assert "  in" not in readme and "is  " not in readme
    assert "new donors" in readme
    assert "docs/domain-research" not in (tmp_path / "train" / "README.txt").read_text()


@pytest.mark.parametrize("command", ["score", "explain", "inspect"])
def test_log_scale_warning_is_said_once(
    simulated_model: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    command: str,
) -> None:
    """Values that look log2 while declared raw: said once per command, not once per layer.

    What a user sees is the command's output plus its logged warnings (on stderr).
    """
    data = simulated_model["data"]
    proteins = pd.read_csv(data / "proteins.csv", dtype={"lot_id": str}).set_index("lot_id")
    log2 = tmp_path / "log2.csv"
    pd.DataFrame(
        np.log2(proteins.to_numpy()), proteins.index, proteins.columns
    ).reset_index().to_csv(log2, index=False)
    model, lots = str(simulated_model["model"]), str(data / "lots.csv")
    arguments = {
        "score": ["--model", model, "--lots", lots, "--out", str(tmp_path / "s.csv")],
        "explain": ["--model", model, "--lots", lots, "--out", str(tmp_path / "explain")],
        "inspect": ["--lots", lots],
    }[command]
    proteins_option = [str(log2)] if command == "inspect" else ["--proteins", str(log2)]
    with caplog.at_level(logging.WARNING):
        result = runner.invoke(app, [command, *proteins_option, *arguments, "--scale", "raw"])
    assert result.exit_code == 0, result.output
    said = " ".join([*result.output.split(), *caplog.messages])  # rich wraps lines
    assert said.count("look log2 already") == 1, said
    raw = runner.invoke(app, [command, *(["--proteins"] if command != "inspect" else []),
                              str(data / "proteins.csv"), *arguments])  # fmt: skip
    assert raw.exit_code == 0, raw.output
    assert "look log2" not in raw.output


@pytest.mark.parametrize(
    "target",
    [
        "lots",
        "proteins",
        "lots_quarantine",
        "report_on_lots",
        "report_on_out",
        "report_on_quarantine",
    ],
)
def test_score_refuses_to_overwrite_its_inputs(tmp_path: Path, target: str) -> None:
    """--out (or its quarantine file, or --report) naming an input is refused before any read."""
    proteins, lots = tmp_path / "proteins.csv", tmp_path / "lots.csv"
    proteins.write_text("lot_id,CD9\nL1,5\n")
    lots.write_text("lot_id,passage\nL1,3\n")
    before = (proteins.read_bytes(), lots.read_bytes())
    out = {
        "lots": lots,
        "proteins": proteins,
        "lots_quarantine": tmp_path / "scores.csv",
        "report_on_lots": tmp_path / "scores.csv",
        "report_on_out": tmp_path / "scores.csv",
        "report_on_quarantine": tmp_path / "scores.csv",
    }[target]
    if target == "lots_quarantine":
        # scores.quarantine.csv is where the quarantine would go: make it the lot sheet
        lots = lots.rename(tmp_path / "scores.quarantine.csv")
        before = (proteins.read_bytes(), lots.read_bytes())
    extra = {
        "report_on_lots": ["--report", str(lots)],
        "report_on_out": ["--report", str(out)],
        "report_on_quarantine": ["--report", str(tmp_path / "scores.quarantine.csv")],
    }.get(target, [])
    arguments = ["--model", "runs:/nope/model", "--proteins", str(proteins), "--lots", str(lots)]
    result = runner.invoke(app, ["score", *arguments, "--out", str(out), *extra])
    assert result.exit_code == 2, result.output
    assert "overwrite" in result.output and "Traceback" not in result.output
    assert (proteins.read_bytes(), lots.read_bytes()) == before


@pytest.mark.parametrize("command", ["forecast", "explain"])
def test_folder_outputs_refuse_to_overwrite_their_inputs(tmp_path: Path, command: str) -> None:
    """forecast/explain --out DIR may not hold an input under a name they write."""
    name = {"forecast": "quarantine.csv", "explain": "global_importance.csv"}[command]
    proteins, lots = tmp_path / "proteins.csv", tmp_path / name
    proteins.write_text("lot_id,CD9\nL1,5\n")
    lots.write_text("lot_id,passage,donor_id\nL1,3,D1\n")
    before = lots.read_bytes()
    arguments = ["--model", "runs:/nope/model", "--proteins", str(proteins), "--lots", str(lots)]
    result = runner.invoke(app, [command, *arguments, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "overwrite the lot sheet" in result.output
    assert lots.read_bytes() == before


def test_serve_refuses_a_port_in_use() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--model", "runs:/nope/model", "--port", str(port)])
    assert result.exit_code == 2
    assert f"port {port}" in result.output and "in use" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("gate_passed", [False, True, None])
def test_serve_warns_of_a_model_that_did_not_pass_the_gate(
    simulated_model: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    gate_passed: bool | None,
) -> None:
    """As score, forecast and monitor do. The plan is real (the model is read); only the
    server is not started, since the warning comes before it."""
    import dataclasses
    import json

    import exostab.scoring.serving as serving
    from conftest import free_port

    model = tmp_path / "model"
    shutil.copytree(simulated_model["model"], model)
    state = model / "artifacts" / "bundle" / "bundle.json"
    saved = json.loads(state.read_text())
    assert "gate_passed" in saved
    saved["gate_passed"] = gate_passed
    state.write_text(json.dumps(saved))
    plans: list[serving.ServerPlan] = []
    monkeypatch.setattr(serving, "run_server", lambda plan, say: plans.append(plan))
    result = runner.invoke(app, ["serve", "--model", str(model), "--port", str(free_port())])
    assert result.exit_code == 0, result.output
    assert [dataclasses.astuple(p)[-1] for p in plans] == [gate_passed]
    warned = "did not pass the gate at training" in result.output
    assert warned == (gate_passed is False), result.output


def test_reading_a_protein_file_reports_progress(simulated_model: dict[str, Path]) -> None:
    """score/explain/forecast say what they read through the ``reading`` hook (a rich status
    on a terminal); the hook is told before the file is read, and the rows still come."""
    from exostab.io.readers import read_lot_sheet_lenient
    from exostab.model.bundle import ModelBundle
    from exostab.scoring.batch import BatchScorer, checked_chunks

    data = simulated_model["data"]
    bundle = ModelBundle.load(simulated_model["model"] / "artifacts" / "bundle")
    sheet, refused = read_lot_sheet_lenient(data / "lots.csv")
    said: list[str] = []
    for path in (data / "proteins.csv", data / "proteinGroups.txt"):
        said.clear()
        chunks = checked_chunks(BatchScorer(bundle, sheet, refused), path, reading=said.append)
        first, _ = next(chunks)
        assert said == [f"reading {path.name}"]
        assert first.n_runs > 0


@pytest.mark.parametrize("command", ["inspect", "explain", "score"])
def test_no_spinner_when_stderr_is_not_a_terminal(
    simulated_model: dict[str, Path], tmp_path: Path, command: str
) -> None:
    data = simulated_model["data"]
    arguments = {
        "inspect": [str(data / "proteinGroups.txt")],
        "explain": [
            "--model", str(simulated_model["model"]), "--proteins", str(data / "proteins.csv"),
            "--lots", str(data / "lots.csv"), "--out", str(tmp_path / "explain"),
        ],
        "score": [
            "--model", str(simulated_model["model"]), "--proteins", str(data / "proteins.csv"),
            "--lots", str(data / "lots.csv"), "--out", str(tmp_path / "scores.csv"),
        ],
    }[command]  # fmt: skip
    result = runner.invoke(app, [command, *arguments])
    assert result.exit_code == 0, result.output
    for word in ("reading", "explaining", "scoring", "━"):
        assert word not in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("command", "output"),
    [
        (["score", "--out", "{blocker}/scores.csv"], "is a file, not a folder"),
        (["score", "--out", "{folder}.csv"], "give a file name"),
        (["score", "--out", "{tmp}/s.csv", "--report", "{blocker}/r.html"], "is a file"),
        (["explain", "--out", "{blocker}"], "must be a folder"),
        (["explain", "--out", "{blocker}/sub"], "is a file, not a folder"),
        (["forecast", "--out", "{blocker}"], "must be a folder"),
        (["train", "--summary", "{blocker}/summary.json"], "is a file, not a folder"),
    ],
)
def test_an_output_that_cannot_be_created_is_one_line_before_any_work(
    tmp_path: Path, command: list[str], output: str
) -> None:
    """An --out under a file, or a file where a folder goes: exit 2, no OSError traceback."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder\n")
    (tmp_path / "folder.csv").mkdir()
    proteins, lots = tmp_path / "proteins.csv", tmp_path / "lots.csv"
    proteins.write_text("lot_id,CD9\nL1,100\n")
    lots.write_text("lot_id,passage,donor_id,unstable\nL1,3,D1,0\n")
    names = {"blocker": str(blocker), "folder": str(tmp_path / "folder"), "tmp": str(tmp_path)}
    args = [part.format(**names) for part in command]
    args += ["--proteins", str(proteins), "--lots", str(lots)]
    if args[0] != "train":
        args += ["--model", "models:/no-such-model@champion"]  # never reached
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert output in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_printed_lines_are_not_cut_at_the_console_width(tmp_path: Path) -> None:
    # Under CliRunner stdout is no terminal: rich would cut at 80 columns, and a log file
    # would hold the summary line in pieces (grep for '20.0% unstable' finds half a line).
    result = runner.invoke(
        app,
        [
            "simulate",
            "--out",
            str(tmp_path / "sim"),
            "--lots",
            "30",
            "--donors",
            "6",
            "--proteins",
            "120",
        ],
    )
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert len(first) > 80
    assert first.startswith("SIMULATED data") and first.endswith("% unstable")


def test_a_model_name_not_in_the_store_is_not_told_to_wait_for_the_gate(
    tracking_store: str, simulated_model: dict[str, Path], tmp_path: Path
) -> None:
    """`models:/nosuch@champion` got the hint "no version has passed the gate yet"."""
    data = simulated_model["data"]
    result = runner.invoke(
        app,
        ["score", "--model", "models:/nosuch@champion", "--proteins", str(data / "proteins.csv"),
         "--lots", str(data / "lots.csv"), "--out", str(tmp_path / "scores.csv")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "no registered model named 'nosuch' in this store" in said
    assert "passed the gate" not in said and "Traceback" not in said
