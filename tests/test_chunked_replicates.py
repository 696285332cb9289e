"""A lot's replicate runs split across chunks of a streamed wide table: scored on all of them.

``score`` streams a wide table in chunks (``--chunk-size``). A lot whose runs (technical
replicates named in the sheet's ``ms_run``) fall in two chunks used to be scored on the runs of
the first chunk only, with a false "run not in the protein file" warning, and its later runs
dropped without a trace. The chunk size is a memory setting: it must never change a score,
a warning or the quarantine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from exostab.cli import app

runner = CliRunner()
N_LOTS = 12


def replicate_files(
    data: Path, folder: Path, replicates: list[int], order: list[int], damage: list[str]
) -> tuple:
    """A wide table of runs (lot ``i`` measured ``replicates[i]`` times, rows in ``order`` of
    the runs; run ``j`` left as it is, with ``text`` in a cell, or ``empty``: a failed run) and
    a lot sheet whose ``ms_run`` names each lot's runs."""
    proteins = pd.read_csv(data / "proteins.csv", dtype={"lot_id": str}).set_index("lot_id")
    sheet = pd.read_csv(data / "lots.csv", dtype={"lot_id": str}).head(N_LOTS)
    rng = np.random.default_rng(len(order))
    rows, names = [], {}
    for lot, count in zip(sheet["lot_id"], replicates, strict=True):
        names[lot] = [f"{lot}_run{r + 1}" for r in range(count)]
        for run in names[lot]:  # each replicate its own noise, so dropping one shows
            noise = rng.lognormal(0.0, 0.3, proteins.shape[1])
            rows.append(pd.Series(proteins.loc[lot].to_numpy() * noise, proteins.columns, name=run))
    table = pd.DataFrame(rows).astype(object)
    for j, harm in enumerate(damage[: len(table)]):
        if harm == "text":
            table.iloc[j, 0] = "n.d.?"
        elif harm == "empty":
            table.iloc[j, :] = np.nan
    table = table.iloc[order]
    table.index.name = "run"
    table.reset_index().to_csv(folder / "runs.csv", index=False)
    sheet["ms_run"] = ["; ".join(names[lot]) for lot in sheet["lot_id"]]
    sheet.to_csv(folder / "lots.csv", index=False)
    return folder / "runs.csv", folder / "lots.csv"


def lot_harms(data: Path, replicates: list[int], damage: list[str]) -> dict[str, dict[str, str]]:
    """Each lot's runs with what ``replicate_files`` did to them (``ok``, ``text``, ``empty``)."""
    sheet = pd.read_csv(data / "lots.csv", dtype={"lot_id": str}).head(N_LOTS)
    harms, j = {}, 0
    for lot, count in zip(sheet["lot_id"], replicates, strict=True):
        harms[lot] = {f"{lot}_run{r + 1}": damage[j + r] for r in range(count)}
        j += count
    return harms


def score(model: Path, proteins: Path, lots: Path, out: Path, chunk: int):
    result = runner.invoke(
        app,
        ["score", "--model", str(model), "--proteins", str(proteins), "--lots", str(lots),
         "--out", str(out), "--chunk-size", str(chunk)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"lot_id": str}).set_index("lot_id").sort_index()
    quarantine = pd.read_csv(out.with_name(out.stem + ".quarantine.csv"), dtype=str)
    return scores, quarantine.sort_values(["lot_id", "reason"]).reset_index(drop=True)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    replicates=st.lists(st.integers(1, 3), min_size=N_LOTS, max_size=N_LOTS),
    chunk=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    damage=st.lists(st.sampled_from(["ok"] * 8 + ["text", "empty"]), min_size=36, max_size=36),
)
@example(replicates=[2] * N_LOTS, chunk=1, seed=0, damage=["ok"] * 36)
@example(
    replicates=[2] * N_LOTS, chunk=1, seed=0, damage=["empty", "ok", "ok", "ok", "text", "ok"] * 6
)
def test_the_chunk_size_never_changes_a_lots_score_or_warning(
    simulated_model: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    replicates: list[int],
    chunk: int,
    seed: int,
    damage: list[str],
) -> None:
    """Runs in any order, some with text in a cell or quantifying nothing, chunks of 1-5 rows:
    the same risks, warnings and quarantine as the file scored in one chunk."""
    folder = tmp_path_factory.mktemp("chunked")
    n_runs = sum(replicates)
    order = list(np.random.default_rng(seed).permutation(n_runs))
    proteins, lots = replicate_files(simulated_model["data"], folder, replicates, order, damage)
    model = simulated_model["model"]
    whole, whole_quarantine = score(model, proteins, lots, folder / "whole.csv", 10_000)
    chunked, chunked_quarantine = score(model, proteins, lots, folder / "chunked.csv", chunk)
    assert len(whole) + whole_quarantine["lot_id"].nunique() >= N_LOTS
    assert not whole["warning"].astype(str).str.contains("not in the protein file").any()
    if "text" not in damage[:n_runs] and "empty" not in damage[:n_runs]:
        assert len(whole) == N_LOTS and whole_quarantine.empty
    harms = lot_harms(simulated_model["data"], replicates, damage)
    for lot, harm in harms.items():  # the docs' rule: a failed replicate is only left out
        failed = [run for run, kind in harm.items() if kind == "empty"]
        if "text" in harm.values() or len(failed) == len(harm):
            assert lot not in whole.index and lot in set(whole_quarantine["lot_id"])
        else:
            assert lot in whole.index, whole_quarantine
            said = str(whole.loc[lot, "warning"])
            assert all(run in said for run in failed), said
            assert ("quantified no protein" in said) == bool(failed), said
    pd.testing.assert_series_equal(chunked["risk"], whole["risk"], rtol=1e-9)
    pd.testing.assert_series_equal(chunked["warning"], whole["warning"])
    pd.testing.assert_frame_equal(chunked_quarantine, whole_quarantine)


def long_table(wide: Path, out: Path) -> Path:
    """The same runs as a long table (run, protein, intensity): a failed run's rows empty."""
    table = pd.read_csv(wide, dtype=str, keep_default_na=False)
    table.melt(id_vars="run", var_name="protein", value_name="intensity").to_csv(out, index=False)
    return out


@pytest.mark.parametrize("harm", ["empty", "text"])
def test_a_failed_replicate_is_left_out_alike_in_wide_and_long_tables(
    simulated_model: dict[str, Path],
    tmp_path: Path,
    harm: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Review6 M3: lot 0's second run quantified nothing (or holds text), lot 1 lost its
    second run. A wide table quarantined lot 0 whole at every chunk size where the long table
    scored it on its other run, and both said its refused run was "not in the protein file";
    only the run the file lacks is said to be missing. With text in the run's cell, the long
    table was refused as a file (exit 2); now it quarantines lot 0 as the wide table does."""
    replicates = [2] * N_LOTS
    damage = ["ok", harm] + ["ok"] * (2 * N_LOTS - 2)
    wide, lots = replicate_files(
        simulated_model["data"], tmp_path, replicates, list(range(2 * N_LOTS)), damage
    )
    table = pd.read_csv(wide, dtype=str, keep_default_na=False)
    lost = table["run"].iloc[3]  # lot 1's second run: not in the file at all
    table.drop(index=3).to_csv(wide, index=False)
    first, second = pd.read_csv(lots, dtype=str)["lot_id"].head(2)
    model = simulated_model["model"]
    scored = {}
    # A long table with text in a cell was refused as a file: now its run is refused alone.
    long = long_table(wide, tmp_path / "long_runs.csv")
    runs = [("wide1", wide, 1), ("wide", wide, 10_000), ("long", long, 0)]
    for name, proteins, chunk in runs:
        out = tmp_path / f"scored_{name}.csv"
        args = ["score", "--model", model, "--proteins", proteins, "--lots", lots, "--out", out]
        result = runner.invoke(
            app, [str(a) for a in args + (["--chunk-size", chunk] if chunk else [])]
        )
        assert result.exit_code == 0, result.output
        said = " ".join(caplog.text.split())
        caplog.clear()
        assert f"{first} ({first}_run2)" not in said, said  # its run is in the file
        assert f"{second} ({lost})" in said, said  # this one is not
        scored[name] = (
            pd.read_csv(out, dtype={"lot_id": str}).set_index("lot_id").sort_index(),
            pd.read_csv(out.with_name(f"scored_{name}.quarantine.csv"), dtype=str),
        )
    for name, (scores, quarantine) in scored.items():
        assert f"not in the protein file: {lost}" in scores.loc[second, "warning"], name
        if harm == "empty":  # left out, the lot scored on its other run, and said so
            warning = scores.loc[first, "warning"]
            assert "quantified no protein" in warning and f"{first}_run2" in warning, name
            assert "not in the protein file" not in warning, name
            assert first not in set(quarantine["lot_id"]), name
        else:  # text in a cell: the lot is quarantined with that reason, nothing more said
            assert first not in scores.index, name
            (reason,) = quarantine.loc[quarantine["lot_id"] == first, "reason"]
            assert reason.startswith(f"run '{first}_run2': text 'n.d.?' in protein"), name
    wide_scores = scored["wide"][0]
    for name in ("wide1", "long"):  # the same lots, scores and warnings in every shape
        pd.testing.assert_series_equal(scored[name][0]["risk"], wide_scores["risk"], rtol=1e-9)
        pd.testing.assert_series_equal(scored[name][0]["warning"], wide_scores["warning"])
        assert sorted(scored[name][1]["lot_id"]) == sorted(scored["wide"][1]["lot_id"])


def test_train_says_a_failed_replicate_is_left_out_not_missing_from_the_file(
    simulated_model: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """train, as score: a failed replicate is named as failed, not "not in the protein file"."""
    from exostab.config import TrainConfig
    from exostab.dataset import build_training_set
    from exostab.io.readers import read_lot_sheet, read_proteins

    damage = ["ok", "empty"] + ["ok"] * (2 * N_LOTS - 2)
    proteins, lots = replicate_files(
        simulated_model["data"], tmp_path, [2] * N_LOTS, list(range(2 * N_LOTS)), damage
    )
    cfg = TrainConfig.model_validate(
        {"data": {"metadata_features": ["passage"]}, "cv": {"n_splits": 3}}
    )
    training = build_training_set(read_proteins(proteins), read_lot_sheet(lots), cfg)
    first = pd.read_csv(lots, dtype=str)["lot_id"].iloc[0]
    assert first in training.X.index
    assert f"{first}_run2 (lot {first})" in caplog.text  # left out as a failed run
    assert "not in the protein file" not in caplog.text
