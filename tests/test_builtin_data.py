"""The built-in SIMULATED data (`make train`): young test banks leave passages to forecast."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from exostab.simulate import write_simulation


def test_builtin_has_young_test_banks_and_the_same_training_lots_as_holdout(
    tmp_path: Path,
) -> None:
    size = {"n_lots": 80, "n_donors": 10, "n_proteins": 120, "seed": 3}
    builtin = write_simulation(tmp_path / "builtin", scenario="builtin", **size).out
    holdout = write_simulation(tmp_path / "holdout", scenario="holdout", **size).out
    test = pd.read_csv(builtin / "test" / "lots.csv", comment="#")
    latest = test.groupby("donor_id")["passage"].max()
    assert (latest <= 5).sum() >= 1  # a young bank: passages 6.. lie ahead of it
    assert (latest > 5).sum() >= 1  # and an older one
    # only the test donors' passages change: training lots are byte for byte the same
    for name in ("lots.csv", "proteins.csv"):
        assert (builtin / "train" / name).read_bytes() == (holdout / "train" / name).read_bytes()
