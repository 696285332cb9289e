"""bench/compare.py: two configurations compared data set by data set, paired, with the rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parents[1] / "bench"
spec = importlib.util.spec_from_file_location("bench_compare", BENCH / "compare.py")
assert spec is not None and spec.loader is not None
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)


def write_run(folder: Path, shift: dict[str, float], noise: int) -> Path:
    """A run's results.csv (2 scenarios × full/small × 5 seeds) and real_predictions.csv."""
    rng = np.random.default_rng(noise)
    folder.mkdir()
    rows = [
        {"scenario": scenario, "train_size": size, "seed": seed, "method": method,
         "roc_auc": 0.7 + 0.01 * seed + (shift.get(scenario, 0.0) if method == "model" else 0)
         + rng.normal(0, 0.002)}
        for scenario in ("base", "weak_signal") for size in ("full", "small")
        for seed in range(1, 6) for method in ("model", "passage_only")
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    truth = np.random.default_rng(0)
    y = truth.integers(0, 2, 120)
    signal = y + truth.normal(0, 1.0, 120)
    score = signal + shift.get("real", 0.0) * truth.normal(0, 1, 120) + rng.normal(0, 0.05, 120)
    pd.DataFrame(
        {"cohort": "heart-lfq", "lot_id": [f"L{i}" for i in range(120)],
         "group": [f"G{i % 20}" for i in range(120)], "y": y, "method": "model", "score": score}
    ).to_csv(folder / "real_predictions.csv", index=False)  # fmt: skip
    return folder


def test_a_run_against_its_copy_is_within_everywhere_and_a_tie_goes_to_the_candidate(
    tmp_path: Path,
) -> None:
    """The rule of bench/README.md: no loss by > 2 SE and a mean difference ≥ 0 (a tie)."""
    base = write_run(tmp_path / "a", {}, noise=1)
    again = write_run(tmp_path / "b", {}, noise=1)
    text = compare.compare(base, again)
    assert text.count("| +0.000 ± 0.000 |") == 5  # 2 scenarios × 2 sizes + 1 real task
    assert text.count("| within |") == 5
    assert "below the base by > 2 SE: 0 of 5" in text
    assert "**candidate REPLACES the base**" in text


def test_a_consistent_loss_on_one_data_set_blocks_the_candidate(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", {}, noise=1)
    worse = write_run(tmp_path / "b", {"weak_signal": -0.03}, noise=2)
    text = compare.compare(base, worse)
    assert text.count("candidate below by > 2 SE") == 2  # weak_signal full and small
    assert "**candidate does NOT replace the base**" in text


def test_a_noisier_real_task_loses_lot_by_lot(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", {}, noise=1)
    blurred = write_run(tmp_path / "b", {"real": 1.5}, noise=1)
    real = next(line for line in compare.compare(base, blurred).splitlines() if "(real)" in line)
    assert "120 lots / 20 groups" in real and "below by > 2 SE" in real, real
