"""Forecast benchmark: does a bank's forecast from its two earliest lots rank its later lots?

For each scenario and seed: simulate SIMULATED lots, train the model (and its passage
trajectory) on some donors, and for every held-out donor with at least three lots forecast the
bank from its two earliest lots (by passage). The later lots' labels are the truth. Compared:
the forecast risk at each later lot's passage, passage alone, and the model scoring the later
lots' real profiles (what one would know after making them). The release error counts later
lots made at or below the forecast's last safe passage that turned out unstable.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from quality import donor_split, load_training, scoring_table, subset
from sklearn.metrics import roc_auc_score

from exostab.config import TrainConfig, load_train_config
from exostab.dataset import TrainingSet
from exostab.forecast import attach_trajectory, forecast_bank
from exostab.model.bundle import ModelBundle
from exostab.simulate import SHIFT_SCENARIOS, write_simulation
from exostab.training.nested_cv import train_model
from exostab.training.workflow import load_panels

logger = logging.getLogger(__name__)

FORECAST_SCENARIOS = ("holdout", "weak_signal")
QUICK_FORECAST_SCENARIOS = ("holdout",)
# Ten seeds, not the quality part's three: the forecast − passage difference varies by ±0.15-0.18
# between seeds (8-12 held-out banks each, one bank up to 42% of the later lots), so the mean of
# three has a standard error near 0.1 and cannot tell the two apart; ten bring it near 0.05.
FORECAST_SEEDS = tuple(range(1, 11))
N_EARLY = 2
N_DRAWS = 40
PASSAGES = list(range(2, 13))  # the simulator's passages


@dataclass(frozen=True)
class ForecastSizes:
    """Size of each simulated data set (all parts together)."""

    n_lots: int = 600
    n_donors: int = 40
    n_proteins: int = 1000


def train_and_test(
    scenario: str, seed: int, sizes: ForecastSizes, work: Path, cfg: TrainConfig
) -> tuple[TrainingSet, TrainingSet]:
    """Simulate one scenario and return training lots and held-out lots (disjoint donors)."""
    out = work / f"{scenario}-seed{seed}"
    write_simulation(
        out,
        n_lots=sizes.n_lots,
        n_donors=sizes.n_donors,
        n_proteins=sizes.n_proteins,
        scenario=scenario,
        seed=seed,
    )
    if scenario in SHIFT_SCENARIOS:
        return load_training(out / "train", cfg), load_training(out / "test", cfg)
    everything = load_training(out, cfg)
    mask = donor_split(everything.groups, everything.y, seed)
    return subset(everything, mask), subset(everything, ~mask)


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """AUROC, NaN when only one class is present."""
    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")


def later_lots(bundle: ModelBundle, test: TrainingSet, seed: int) -> pd.DataFrame:
    """Forecast every held-out bank with ≥ 3 lots from its two earliest; one row per later lot."""
    table = scoring_table(test)
    real = bundle.predict(table).set_index("lot_id")["risk"]
    table["donor_id"] = test.groups.loc[table["lot_id"]].to_numpy()
    rows: list[dict[str, Any]] = []
    for donor, lots in table.groupby("donor_id", sort=True):
        if len(lots) < N_EARLY + 1:
            continue
        lots = lots.sort_values(["passage", "lot_id"], kind="stable")
        early, later = lots.iloc[:N_EARLY], lots.iloc[N_EARLY:]
        bank = forecast_bank(
            bundle,
            str(donor),
            early.drop(columns="donor_id"),
            PASSAGES,
            n_draws=N_DRAWS,
            seed=seed,
        )
        curve = bank.curve.set_index("passage")
        safe = bank.summary["last_safe_passage"]
        for lot in later.itertuples(index=False):
            passage = int(lot.passage)
            rows.append(
                {
                    "donor_id": donor,
                    "lot_id": lot.lot_id,
                    "passage": passage,
                    "unstable": int(test.y.loc[lot.lot_id]),
                    "forecast_risk": float(curve.loc[passage, "risk"]),
                    "real_risk": float(real.loc[lot.lot_id]),
                    "released": safe is not None and passage <= int(safe),  # type: ignore[call-overload]
                }
            )
    return pd.DataFrame(rows)


def run_one(
    scenario: str,
    seed: int,
    sizes: ForecastSizes,
    work: Path,
    cfg: TrainConfig,
    panels: dict[str, list[str]],
) -> dict[str, Any]:
    """Benchmark one scenario and seed; return one row of metrics."""
    train, test = train_and_test(scenario, seed, sizes, work, cfg)
    result = train_model(train, cfg, panels)
    bundle = attach_trajectory(ModelBundle.from_training(result), train)
    lots = later_lots(bundle, test, seed)
    y = lots["unstable"].to_numpy()
    released = lots["released"].to_numpy(dtype=bool)
    real_released = lots["real_risk"].to_numpy() < bundle.bands.threshold
    n_unstable = int(y.sum())
    row = {
        "scenario": scenario,
        "seed": seed,
        "n_train": len(train.X),
        "n_banks": int(lots["donor_id"].nunique()),
        "n_later": len(lots),
        "largest_bank_share": float(lots["donor_id"].value_counts().max() / len(lots)),
        "later_prevalence": float(y.mean()),
        "auroc_forecast": auroc(y, lots["forecast_risk"].to_numpy()),
        "auroc_passage": auroc(y, lots["passage"].to_numpy(dtype=float)),
        "auroc_real_profile": auroc(y, lots["real_risk"].to_numpy()),
        "n_released": int(released.sum()),
        "released_unstable": int((released & (y == 1)).sum()),
        "release_error": float(y[released].mean()) if released.any() else float("nan"),
        "unstable_released_share": (
            float((released & (y == 1)).sum() / n_unstable) if n_unstable else float("nan")
        ),
        "real_n_released": int(real_released.sum()),
        "real_release_error": (
            float(y[real_released].mean()) if real_released.any() else float("nan")
        ),
        "hold_threshold": bundle.bands.threshold,
    }
    return row


def _run_one_quietly(
    scenario: str,
    seed: int,
    sizes: ForecastSizes,
    work: Path,
    cfg: TrainConfig,
    panels: dict[str, list[str]],
) -> dict[str, Any]:
    """``run_one`` in a worker process, without sklearn's user warnings."""
    warnings.filterwarnings("ignore", category=UserWarning)
    return run_one(scenario, seed, sizes, work, cfg, panels)


def run_forecast_bench(
    scenarios: tuple[str, ...],
    seeds: tuple[int, ...],
    sizes: ForecastSizes,
    work: Path,
    config: Path,
    advance: Any = None,
    jobs: int = 2,
) -> pd.DataFrame:
    """Run every scenario × seed in ``jobs`` worker processes; return one row per run."""
    cfg = load_train_config(config, **{"cv.baselines": False, "cv.naive_gap": False})
    panels = load_panels(cfg)
    tasks = [(scenario, seed) for scenario in scenarios for seed in seeds]
    results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(_run_one_quietly)(scenario, seed, sizes, work, cfg, panels)
        for scenario, seed in tasks
    )
    rows = []
    for row in results:
        rows.append(row)
        logger.info(
            "forecast %s seed %d: AUROC forecast %.3f, passage %.3f, real profile %.3f",
            row["scenario"],
            row["seed"],
            row["auroc_forecast"],
            row["auroc_passage"],
            row["auroc_real_profile"],
        )
        if advance is not None:
            advance(f"{row['scenario']} seed {row['seed']}")
    order = {task: k for k, task in enumerate(tasks)}
    return pd.DataFrame(sorted(rows, key=lambda r: order[(r["scenario"], r["seed"])]))
