"""Quality benchmark: the model, the baselines and the oracle on donors never seen in training.

For each simulator scenario and seed: simulate one SIMULATED world (cached under
``bench/_work/cache``), train on a fixed number of donors (~200 lots, realistic) and on a small
subset of them (~40 lots), score every other donor (≥ 1,000 held-out lots), and compare with
ground truth (oracle risk ``p_fail`` and the causal proteins). Scenario × seed jobs run in
worker processes (``jobs``), each on one core.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from joblib import Parallel, delayed
from sklearn.linear_model import LassoCV
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from exostab.config import TrainConfig, load_train_config
from exostab.dataset import TrainingSet, build_training_set
from exostab.errors import ExostabError
from exostab.io.readers import read_lot_sheet, read_proteins
from exostab.model.baselines import BASELINES, build_baseline
from exostab.model.bundle import ModelBundle
from exostab.model.evaluate import risk_metrics
from exostab.scoring.explain import explain_lots, global_importance
from exostab.simulate import DEFAULT_SIMULATE_CONFIG, SHIFT_SCENARIOS, write_simulation
from exostab.training.nested_cv import train_model
from exostab.training.workflow import load_panels

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
# The small-data row: whole training donors are added (seeded order) until both hold.
SMALL_MIN_DONORS = 10
SIMULATOR_FILES = (
    DEFAULT_SIMULATE_CONFIG,
    *sorted((Path(__file__).resolve().parents[1] / "src" / "exostab" / "simulate").glob("*.py")),
)


@dataclass(frozen=True)
class QualitySizes:
    """Size of each simulated world and of its training sides.

    ``n_lots`` counts all lots of the world; the simulator spreads them over
    ``n_train_donors + n_test_donors`` donors (~4.4 lots per donor at the defaults), so the
    training donors hold ~200 lots and the held-out donors ~1,050.
    """

    n_lots: int = 1245
    n_train_donors: int = 45
    n_test_donors: int = 235
    n_proteins: int = 3000
    n_small_lots: int = 40

    @property
    def n_donors(self) -> int:
        """All donors of the world."""
        return self.n_train_donors + self.n_test_donors

    def key(self, scenario: str, seed: int) -> str:
        """Cache folder name of one world: scenario, sizes, seed and the simulator's version."""
        digest = hashlib.sha1()
        for path in SIMULATOR_FILES:
            digest.update(path.read_bytes() if path.exists() else b"")
        return (
            f"{scenario}-lots{self.n_lots}-donors{self.n_train_donors}+{self.n_test_donors}"
            f"-proteins{self.n_proteins}-seed{seed}-{digest.hexdigest()[:8]}"
        )


@dataclass(frozen=True)
class Split:
    """Training lots and the held-out lots (table with input column names, labels, oracle)."""

    train: TrainingSet
    test_table: pd.DataFrame
    test_y: np.ndarray
    oracle: np.ndarray
    truth_proteins: pd.DataFrame
    train_latent: np.ndarray
    n_test_donors: int
    small: TrainingSet


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


def lasso_drivers(train: TrainingSet, target: np.ndarray, seed: int) -> list[str]:
    """Rank proteins by a lasso of ``target`` (one value per training lot) on their abundances.

    ``LassoCV`` (5 donor-grouped folds) on the measured proteins (log2, median-normalised per
    lot, missing values set one log2 unit below the protein's minimum, proteins detected in
    >= 50% of lots, standardised) and passage.

    Returns:
        The input names of the top ``TOP_K`` proteins by |coefficient| (fewer when the lasso
        keeps fewer).
    """
    proteins = train.X[list(train.proteins.index)].astype(float)
    proteins = proteins.loc[:, proteins.notna().mean() >= 0.5]
    proteins = proteins.fillna(proteins.min() - 1.0)
    proteins = proteins.sub(proteins.median(axis=1), axis=0)
    passage = train.X["passage"].to_numpy(dtype=float)[:, None]
    design = StandardScaler().fit_transform(np.hstack([proteins.to_numpy(), passage]))
    folds = list(GroupKFold(n_splits=5).split(design, target, train.groups.to_numpy()))
    lasso = LassoCV(cv=folds, alphas=20, tol=1e-3, random_state=seed).fit(design, target)
    weight = pd.Series(np.abs(lasso.coef_[:-1]), index=proteins.columns)
    top = weight[weight > 0].sort_values(ascending=False, kind="stable").index[:TOP_K]
    return train.proteins.loc[top, "input_name"].astype(str).tolist()


def oracle_drivers(train: TrainingSet, latent: np.ndarray, seed: int) -> list[str]:
    """Rank proteins as an analyst who could see the TRUE latent potency would (for scale).

    ``lasso_drivers`` of the simulator's true latent potency of the training lots. It shows
    how many causal proteins a linear model can find from these lots and this measurement
    noise when the label is perfect: the model itself only sees the noisy 0/1 potency-assay
    outcome.
    """
    return lasso_drivers(train, latent, seed)


def label_drivers(train: TrainingSet, seed: int) -> list[str]:
    """Rank proteins by ``lasso_drivers`` of the observed 0/1 outcome: the model's own label.

    The same-information reference: what a standard sparse selector finds from the label the
    model is trained on (a linear-probability lasso, as ``oracle_drivers`` but on the label).
    """
    return lasso_drivers(train, train.y.to_numpy(dtype=float), seed)


def donor_split(
    groups: pd.Series, y: pd.Series, seed: int, n_train: int | None = None
) -> np.ndarray:
    """Return a train mask of ``n_train`` donors (default ~70%); both sides hold both labels."""
    rng = np.random.default_rng(seed)
    donors = np.array(sorted(groups.unique()))
    size = round(TRAIN_SHARE * len(donors)) if n_train is None else n_train
    for _ in range(100):
        chosen = set(rng.permutation(donors)[:size].tolist())
        mask = groups.isin(chosen).to_numpy()
        if y[mask].nunique() == 2 and y[~mask].nunique() == 2:
            return mask
    raise RuntimeError("no donor split with both labels on both sides")


def small_subset(train: TrainingSet, n_lots: int, seed: int) -> TrainingSet:
    """Return whole training donors (seeded order) up to ≥ ``n_lots`` lots and ≥ 10 donors."""
    rng = np.random.default_rng([seed, 40])
    donors = rng.permutation(np.array(sorted(train.groups.unique())))
    counts = train.groups.value_counts()
    chosen: list[Any] = []
    for donor in donors:
        chosen.append(donor)
        mask = train.groups.isin(chosen).to_numpy()
        enough = counts[chosen].sum() >= n_lots and len(chosen) >= SMALL_MIN_DONORS
        if enough and train.y[mask].nunique() == 2:
            return subset(train, mask)
    return train


def simulated_world(scenario: str, seed: int, sizes: QualitySizes, cache: Path) -> Path:
    """Return the folder of one SIMULATED world, simulating it once (kept in ``cache``).

    Shift scenarios get their test share set so that exactly ``n_test_donors`` donors land in
    ``test/`` (a copy of the simulator config with that one value changed, kept beside the data).
    """
    out = cache / sizes.key(scenario, seed)
    if (out / ".complete").exists():
        return out
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    config_path = None
    if scenario in SHIFT_SCENARIOS:
        raw = yaml.safe_load(DEFAULT_SIMULATE_CONFIG.read_text())
        raw["scenarios"][scenario]["shift"]["test_fraction"] = sizes.n_test_donors / sizes.n_donors
        config_path = partial / "simulate.yaml"
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    write_simulation(
        partial / "world",
        n_lots=sizes.n_lots,
        n_donors=sizes.n_donors,
        n_proteins=sizes.n_proteins,
        scenario=scenario,
        seed=seed,
        config_path=config_path,
    )
    (partial / ".complete").write_text("done\n")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return out


def simulate_split(
    scenario: str, seed: int, sizes: QualitySizes, cache: Path, cfg: TrainConfig
) -> Split:
    """Return one scenario's training donors, its small subset and the held-out donors."""
    out = simulated_world(scenario, seed, sizes, cache) / "world"
    if scenario in SHIFT_SCENARIOS:
        train = load_training(out / "train", cfg)
        test = load_training(out / "test", cfg)
        oracle = oracle_risk(out / "test", test.X.index)
        truth_dir = out / "train"
    else:
        everything = load_training(out, cfg)
        mask = donor_split(everything.groups, everything.y, seed, sizes.n_train_donors)
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
        n_test_donors=int(test.groups.nunique()),
        small=small_subset(train, sizes.n_small_lots, seed),
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


def held_out_rows(
    train: TrainingSet,
    split: Split,
    cfg: TrainConfig,
    panels: dict[str, list[str]],
    common: dict[str, Any],
    seed: int,
    drivers: bool,
) -> list[dict[str, Any]]:
    """Train the model and every baseline on ``train``; score the held-out lots of ``split``."""
    y = split.test_y
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        result = train_model(train, cfg, panels)
    except ExostabError as error:  # e.g. too few lots: the model has no AUROC here
        logger.warning("%s: the model did not train: %s", common["scenario"], error)
        rows.append({**common, "method": "model", "error": str(error)})
        result = None
    if result is not None:
        train_seconds = time.perf_counter() - started
        bundle = ModelBundle.from_training(result)
        risk = bundle.predict(split.test_table)["risk"].to_numpy(dtype=float)
        unscored = ~np.isfinite(risk)
        model_metrics = risk_metrics(y[~unscored], risk[~unscored])
        row = {
            **common,
            "method": "model",
            **{m: model_metrics[m] for m in HELD_OUT_METRICS},
            "cv_roc_auc": result.metrics.get("cv_roc_auc", float("nan")),
            "chosen": result.choice.label,
            "train_seconds": train_seconds,
            "n_unscored": int(unscored.sum()),
        }
        if drivers:
            features, contributions = explain_lots(bundle, scoring_table(train))
            importance = global_importance(bundle, features, contributions, result.driver_stability)
            top = importance.loc[importance["kind"] == "protein", "group_id"].astype(str)
            ceiling = driver_recall(
                oracle_drivers(train, split.train_latent, seed), split.truth_proteins, train, 0.5
            )
            same_label = driver_recall(label_drivers(train, seed), split.truth_proteins, train, 0.5)
            row |= {
                **driver_recall(top.head(TOP_K).tolist(), split.truth_proteins, train, 0.5),
                "oracle_recall_at_k": ceiling["recall_at_k"],
                "oracle_passenger_share": ceiling["passenger_share"],
                "label_lasso_recall_at_k": same_label["recall_at_k"],
                "label_lasso_passenger_share": same_label["passenger_share"],
            }
        rows.append(row)
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
    return rows


def run_one(
    scenario: str,
    seed: int,
    sizes: QualitySizes,
    cache: Path,
    config: Path,
) -> list[dict[str, Any]]:
    """Benchmark one scenario and seed (full and small training); one row per size and method.

    Runs in a worker process: reads the training config itself, LightGBM keeps one thread.
    """
    warnings.filterwarnings("ignore", category=UserWarning)
    # The bench fits the baselines on held-out donors itself; skip their in-CV copy and the
    # naive lot-level CV inside each training run (they only add minutes here).
    cfg = load_train_config(config, **{"cv.baselines": False, "cv.naive_gap": False})
    panels = load_panels(cfg)
    started, cpu = time.perf_counter(), time.process_time()
    split = simulate_split(scenario, seed, sizes, cache, cfg)
    rows: list[dict[str, Any]] = []
    for train_size, train in (("full", split.train), ("small", split.small)):
        common = {
            "scenario": scenario,
            "seed": seed,
            "train_size": train_size,
            "n_train": len(train.X),
            "n_train_donors": int(train.groups.nunique()),
            "n_test": len(split.test_y),
            "n_test_donors": split.n_test_donors,
            "test_prevalence": float(split.test_y.mean()),
        }
        rows += held_out_rows(train, split, cfg, panels, common, seed, train_size == "full")
    for row in rows:  # wall time, and this process's CPU time (the load-free cost)
        row["job_seconds"] = time.perf_counter() - started
        row["job_cpu_seconds"] = time.process_time() - cpu
    return rows


def run_quality(
    scenarios: tuple[str, ...],
    seeds: tuple[int, ...],
    sizes: QualitySizes,
    cache: Path,
    config: Path,
    advance: Any = None,
    jobs: int = 2,
) -> pd.DataFrame:
    """Run every scenario × seed in ``jobs`` worker processes; return the long table.

    One row per scenario, seed, training size (``full``, ``small``) and method. In a worker,
    joblib runs the model's own fold-parallel loop sequentially and caps BLAS at one thread.
    """
    cache.mkdir(parents=True, exist_ok=True)
    tasks = [(scenario, seed) for scenario in scenarios for seed in seeds]
    results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(run_one)(scenario, seed, sizes, cache, config) for scenario, seed in tasks
    )
    rows: list[dict[str, Any]] = []
    for job in results:
        rows += job
        first = job[0]
        model = {
            r["train_size"]: r.get("roc_auc", float("nan")) for r in job if r["method"] == "model"
        }
        logger.info(
            "%s seed %d: held-out AUROC model %.3f (small %.3f), %.0f s (%.0f s CPU)",
            first["scenario"],
            first["seed"],
            model.get("full", float("nan")),
            model.get("small", float("nan")),
            first["job_seconds"],
            first["job_cpu_seconds"],
        )
        if advance is not None:
            advance(f"{first['scenario']} seed {first['seed']}")
    order = {(scenario, seed): k for k, (scenario, seed) in enumerate(tasks)}
    table = pd.DataFrame(rows)
    key = table.apply(lambda r: order[(r["scenario"], r["seed"])], axis=1)
    return table.assign(_order=key).sort_values("_order", kind="stable").drop(columns="_order")
