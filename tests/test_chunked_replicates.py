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
    pd.testing.assert_series_equal(chunked["risk"], whole["risk"], rtol=1e-9)
    pd.testing.assert_series_equal(chunked["warning"], whole["warning"])
    pd.testing.assert_frame_equal(chunked_quarantine, whole_quarantine)
