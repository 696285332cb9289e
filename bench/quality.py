"""Quality benchmark: the model, the baselines and the oracle on donors never seen in training.

For each simulator scenario and seed: simulate SIMULATED lots, train on some donors, score the
others, and compare with ground truth (oracle risk ``p_fail`` and the causal proteins).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LassoCV
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from exostab.baselines import BASELINES, build_baseline
from exostab.bundle import ModelBundle
from exostab.config import TrainConfig, load_train_config
from exostab.dataset import TrainingSet, build_training_set
from exostab.evaluate import risk_metrics
from exostab.explain import explain_lots, global_importance
from exostab.readers import read_lot_sheet, read_proteins
from exostab.simulate import SHIFT_SCENARIOS, write_simulation
from exostab.train import train_model
from exostab.training_run import load_panels

logger = logging.getLogger(__name__)

SCENARIOS = (
    "base",
    "weak_signal",
    "donor_confounded",
    "batch_confounded",
    "source_shift",
    "invisible_driver",
)
QUICK_SCENARIOS = ("base", "source_shift")
TOP_K = 12
TRAIN_SHARE = 0.7
HELD_OUT_METRICS = ("roc_auc", "pr_auc", "brier", "ece")


@dataclass(frozen=True)
class QualitySizes:
    """Size of each simulated data set (all parts together)."""

    n_lots: int = 350
    n_donors: int = 35
    n_proteins: int = 3000


@dataclass(frozen=True)
class Split:
    """Training lots and the held-out lots (table with input column names, labels, oracle)."""

    train: TrainingSet
    test_table: pd.DataFrame
    test_y: np.ndarray
    oracle: np.ndarray
    truth_proteins: pd.DataFrame
    train_latent: np.ndarray


def subset(training: TrainingSet, mask: np.ndarray) -> TrainingSet:
    """Return the lots of ``mask`` as a TrainingSet (same proteins and metadata)."""
    return replace(
        training,
        X=training.X.loc[mask],
        y=training.y.loc[mask],
        groups=training.groups.loc[mask],
        fingerprint={**training.fingerprint, "n_lots": int(mask.sum())},
    )


def scoring_table(training: TrainingSet) -> pd.DataFrame:
    """Return lots as a scoring table: ``lot_id``, metadata, proteins under their input names."""
    names = dict(zip(training.proteins.index, training.proteins["input_name"], strict=True))
    return training.X.reset_index().rename(columns=names)


def baseline_inputs(train: TrainingSet, table: pd.DataFrame) -> pd.DataFrame:
    """Arrange a scoring table as the training X (feature names; proteins it lacks are NaN)."""
    names = dict(zip(train.proteins["input_name"], train.proteins.index, strict=True))
    return table.set_index("lot_id").rename(columns=names).reindex(columns=train.X.columns)


def load_training(directory: Path, cfg: TrainConfig) -> TrainingSet:
    """Read one simulated folder as a TrainingSet."""
    matrix = read_proteins(directory / "proteins.csv")
    sheet = read_lot_sheet(directory / "lots.csv", label=cfg.data.label)
    return build_training_set(matrix, sheet, cfg)


def oracle_risk(directory: Path, lot_ids: pd.Index, column: str = "p_fail") -> np.ndarray:
    """Return a true per-lot quantity of the simulator (default the probability of failure)."""
    truth = pd.read_csv(directory / "truth" / "truth_lots.csv").set_index("lot_id")
    return truth.loc[lot_ids.astype(str), column].to_numpy(dtype=float)


def oracle_drivers(train: TrainingSet, latent: np.ndarray, seed: int) -> list[str]:
    """Rank proteins as an analyst who could see the TRUE latent potency would (for scale).

    Lasso (``LassoCV``, 5 donor-grouped folds) of the simulator's true latent potency of the
    training lots on their measured proteins (log2, median-normalised per lot, missing values
    set one log2 unit below the protein's minimum, proteins detected in >= 50% of lots,
    standardised) and passage. It shows how many causal proteins a linear model can find from
    these lots and this measurement noise when the label is perfect: the model itself only sees
    the noisy 0/1 potency-assay outcome.

    Returns:
        The input names of the top ``TOP_K`` proteins by |coefficient|.
    """
    proteins = train.X[list(train.proteins.index)].astype(float)
    proteins = proteins.loc[:, proteins.notna().mean() >= 0.5]
    proteins = proteins.fillna(proteins.min() - 1.0)
    proteins = proteins.sub(proteins.median(axis=1), axis=0)
    passage = train.X["passage"].to_numpy(dtype=float)[:, None]
    design = StandardScaler().fit_transform(np.hstack([proteins.to_numpy(), passage]))
    folds = list(GroupKFold(n_splits=5).split(design, latent, train.groups.to_numpy()))
    lasso = LassoCV(cv=folds, alphas=20, tol=1e-3, random_state=seed).fit(design, latent)
    weight = pd.Series(np.abs(lasso.coef_[:-1]), index=proteins.columns)
    top = weight[weight > 0].sort_values(ascending=False, kind="stable").index[:TOP_K]
    return train.proteins.loc[top, "input_name"].astype(str).tolist()


def donor_split(groups: pd.Series, y: pd.Series, seed: int) -> np.ndarray:
    """Return a train mask holding ~70% of donors, drawn again until both sides hold both labels."""
    rng = np.random.default_rng(seed)
    donors = np.array(sorted(groups.unique()))
    for _ in range(100):
        chosen = set(rng.permutation(donors)[: round(TRAIN_SHARE * len(donors))].tolist())
        mask = groups.isin(chosen).to_numpy()
        if y[mask].nunique() == 2 and y[~mask].nunique() == 2:
            return mask
    raise RuntimeError("no donor split with both labels on both sides")


def simulate_split(
    scenario: str, seed: int, sizes: QualitySizes, work: Path, cfg: TrainConfig
) -> Split:
    """Simulate one scenario and split it into training donors and held-out donors."""
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
        train = load_training(out / "train", cfg)
        test = load_training(out / "test", cfg)
        oracle = oracle_risk(out / "test", test.X.index)
        truth_dir = out / "train"
    else:
        everything = load_training(out, cfg)
        mask = donor_split(everything.groups, everything.y, seed)
        train, test = subset(everything, mask), subset(everything, ~mask)
        oracle = oracle_risk(out, test.X.index)
        truth_dir = out
    return Split(
        train=train,
        test_table=scoring_table(test),
        test_y=test.y.to_numpy(),
        oracle=oracle,
        truth_proteins=pd.read_csv(truth_dir / "truth" / "truth_proteins.csv"),
        train_latent=oracle_risk(truth_dir, train.X.index, "potency_latent"),
    )


def members(name: str) -> set[str]:
    """Split a protein-group name into its member proteins."""
    return {part.strip() for part in str(name).split(";") if part.strip()}


def driver_recall(
    top: list[str], truth: pd.DataFrame, train: TrainingSet, min_rate: float
) -> dict[str, float]:
    """Score the model's top proteins against the causal and passenger proteins of the truth."""
    causal = set(truth.loc[truth["causal"].astype(bool), "protein"].astype(str))
    passengers = set(truth.loc[truth["passenger"].astype(bool), "protein"].astype(str))
    detected = train.X[list(train.proteins.index)].notna().mean().to_dict()
    measurable: set[str] = set()
    for feature, name in train.proteins["input_name"].items():
        if detected[feature] >= min_rate:
            measurable |= members(name) & causal
    hits = {p for name in top for p in members(name) & causal}
    n_passengers = sum(1 for name in top if members(name) & passengers)
    return {
        "k": float(len(top)),
        "n_causal": float(len(causal)),
        "n_causal_measurable": float(len(measurable)),
        "recall_at_k": len(hits) / len(causal) if causal else float("nan"),
        "recall_cap": min(len(top), len(measurable)) / len(causal) if causal else float("nan"),
        "passenger_share": n_passengers / len(top) if top else float("nan"),
    }


def run_one(
    scenario: str,
    seed: int,
    sizes: QualitySizes,
    work: Path,
    cfg: TrainConfig,
    panels: dict[str, list[str]],
) -> list[dict[str, Any]]:
    """Benchmark one scenario and seed; return one row per method (model, baselines, oracle)."""
    split = simulate_split(scenario, seed, sizes, work, cfg)
    train = split.train
    started = time.perf_counter()
    result = train_model(train, cfg, panels)
    train_seconds = time.perf_counter() - started
    bundle = ModelBundle.from_training(result)
    scored = bundle.predict(split.test_table)
    risk = scored["risk"].to_numpy(dtype=float)
    unscored = ~np.isfinite(risk)
    if unscored.any():
        logger.warning("%s seed %d: %d held-out lots unscored", scenario, seed, unscored.sum())
    features, contributions = explain_lots(bundle, scoring_table(train))
    importance = global_importance(bundle, features, contributions, result.driver_stability)
    top = importance.loc[importance["kind"] == "protein", "group_id"].astype(str).head(TOP_K)
    drivers = driver_recall(top.tolist(), split.truth_proteins, train, 0.5)
    ceiling = driver_recall(
        oracle_drivers(train, split.train_latent, seed), split.truth_proteins, train, 0.5
    )

    common = {
        "scenario": scenario,
        "seed": seed,
        "n_train": len(train.X),
        "n_test": len(split.test_y),
        "test_prevalence": float(split.test_y.mean()),
    }
    rows: list[dict[str, Any]] = []
    y = split.test_y
    model_metrics = risk_metrics(y[~unscored], risk[~unscored])
    rows.append(
        {
            **common,
            "method": "model",
            **{m: model_metrics[m] for m in HELD_OUT_METRICS},
            "cv_roc_auc": result.metrics["cv_roc_auc"],
            "chosen": result.choice.label,
            "train_seconds": train_seconds,
            "n_unscored": int(unscored.sum()),
            **drivers,
            "oracle_recall_at_k": ceiling["recall_at_k"],
            "oracle_passenger_share": ceiling["passenger_share"],
        }
    )
    X_test = baseline_inputs(train, split.test_table)
    for name in BASELINES:
        started = time.perf_counter()
        pipeline = build_baseline(name, metadata=train.metadata, seed=seed)
        pipeline.fit(train.X, train.y.to_numpy())
        baseline = np.asarray(pipeline.predict_proba(X_test)[:, 1], dtype=float)
        metrics = risk_metrics(y, baseline)
        rows.append(
            {
                **common,
                "method": name,
                **{m: metrics[m] for m in HELD_OUT_METRICS},
                "train_seconds": time.perf_counter() - started,
            }
        )
    oracle = risk_metrics(y, split.oracle)
    rows.append({**common, "method": "oracle", **{m: oracle[m] for m in HELD_OUT_METRICS}})
    logger.info(
        "%s seed %d: held-out AUROC model %.3f, oracle %.3f",
        scenario,
        seed,
        model_metrics["roc_auc"],
        oracle["roc_auc"],
    )
    return rows


def run_quality(
    scenarios: tuple[str, ...],
    seeds: tuple[int, ...],
    sizes: QualitySizes,
    work: Path,
    config: Path,
    advance: Any = None,
) -> pd.DataFrame:
    """Run every scenario × seed; return the long table (one row per run and method)."""
    # The bench fits the baselines on held-out donors itself; skip their in-CV copy and the
    # naive lot-level CV inside each training run (they only add minutes here).
    cfg = load_train_config(config, **{"cv.baselines": False, "cv.naive_gap": False})
    panels = load_panels(cfg)
    rows: list[dict[str, Any]] = []
    for scenario in scenarios:
        for seed in seeds:
            rows += run_one(scenario, seed, sizes, work, cfg, panels)
            if advance is not None:
                advance(f"{scenario} seed {seed}")
    return pd.DataFrame(rows)
