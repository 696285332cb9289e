"""Real tasks: the model and the baselines through the same grouped CV on public data.

The labelled proteomics cohorts in ``../shared/datasets/`` (see its README; read in place, never
copied) are not MSC-exosome lots; they are real p ≫ n data with real naming, missingness and
batches. Each task is read through exostab's own readers, then validated as its README says
(pooled out-of-fold AUROC): ``cptac-ucec-lvsi`` and the three ``cptac-ucec-tasks`` labels (TP53
mutation, deep myometrial invasion, serous histology) leave one TMT plex out on log2 TMT ratios,
``heart-lfq`` 5-fold grouped by heart on raw LFQ intensities. The model's CV is nested (its
structure is chosen inside each outer fold), so its pooled AUROC is out-of-sample like the
baselines', which go through the same outer folds. Tasks run in worker processes (``jobs``).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from exostab.config import load_train_config
from exostab.dataset import build_training_set
from exostab.io.readers import read_lot_sheet, read_proteins
from exostab.model.baselines import BASELINES, cross_validate_baselines
from exostab.model.evaluate import paired_gain_draws, rank_auroc
from exostab.training.nested_cv import train_model
from exostab.training.workflow import load_panels

logger = logging.getLogger(__name__)

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
N_BOOT = 1000


@dataclass(frozen=True)
class Cohort:
    """One real task: its folder, lot sheet, protein file and how its README says to validate."""

    name: str
    folder: str
    lots: str
    proteins: str
    scale: str
    scheme: str


COHORTS = (
    Cohort(
        "cptac-ucec-lvsi",
        "cptac-ucec-lvsi",
        "lots.csv",
        "proteins_log2.csv",
        "log2",
        "leave_one_group_out",
    ),
    Cohort("heart-lfq", "heart-lfq", "lots.csv", "proteins.csv", "raw", "group_kfold"),
    Cohort(
        "cptac-ucec-tp53",
        "cptac-ucec-tasks",
        "lots_tp53.csv",
        "proteins_log2.csv",
        "log2",
        "leave_one_group_out",
    ),
    Cohort(
        "cptac-ucec-myoinv",
        "cptac-ucec-tasks",
        "lots_myoinv.csv",
        "proteins_log2.csv",
        "log2",
        "leave_one_group_out",
    ),
    Cohort(
        "cptac-ucec-serous",
        "cptac-ucec-tasks",
        "lots_serous.csv",
        "proteins_log2.csv",
        "log2",
        "leave_one_group_out",
    ),
)


def run_cohort(cohort: Cohort, config: Path) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Validate the model and the baselines on one task; one row per method.

    Every AUROC is pooled over the lots that all methods scored out of fold, so the paired
    difference model − baseline compares the same lots; its SE is the sd of ``N_BOOT``
    group-bootstrap draws (plexes or hearts resampled, both AUROCs on the same draw).

    Returns:
        (one row per method, the out-of-fold scores of those lots: one row per lot and method,
        ``cohort``, ``lot_id``, ``group``, ``y``, ``method``, ``score`` (log-odds for the
        model; each baseline's own scale)). The scores let two runs (two configurations) be
        compared lot by lot, paired (``bench/compare.py``).
    """
    warnings.filterwarnings("ignore", category=UserWarning)
    folder = DATASETS / cohort.folder
    cfg = load_train_config(
        config,
        **{"cv.scheme": cohort.scheme, "cv.naive_gap": False, "data.scale": cohort.scale},
    )
    matrix = read_proteins(folder / cohort.proteins, scale=cohort.scale)
    sheet = read_lot_sheet(folder / cohort.lots, label=cfg.data.label)
    training = build_training_set(matrix, sheet, cfg)
    started = time.perf_counter()
    result = train_model(training, cfg, load_panels(cfg))
    seconds = time.perf_counter() - started
    oof = {name: np.asarray(r, dtype=float) for name, r in result.baseline_oof.items()}
    missing = [name for name in BASELINES if name not in oof]
    if missing:  # the training run skipped them: the same outer folds, fitted here
        folds = [(np.asarray(a), np.asarray(b)) for a, b in result.plan.folds]
        oof |= cross_validate_baselines(training, folds, cfg.seed, n_jobs=1, names=tuple(missing))
    model = result.oof_log_odds.to_numpy(dtype=float)
    tested = np.isfinite(model)
    for name in BASELINES:
        tested &= np.isfinite(oof[name])
    y = training.y.to_numpy()[tested]
    groups = training.groups.to_numpy()[tested]
    m = result.metrics
    common = {
        "cohort": cohort.name,
        "n_lots": int(tested.sum()),
        "n_groups": int(pd.unique(groups).size),
        "n_proteins": int(training.fingerprint["n_proteins"]),
        "prevalence": float(y.mean()),
        "validation": cohort.scheme,
    }
    rows = [
        {
            **common,
            "method": "model",
            "roc_auc": rank_auroc(y, model[tested]),
            "brier": m.get("cv_brier", float("nan")),
            "ece": m.get("cv_ece", float("nan")),
            "chosen": result.choice.label,
            "fold_choices": "; ".join(c.label for c in result.fold_choices),
            "gain_over_passage": result.verdict.gain,
            "train_seconds": seconds,
        }
    ]
    for name in BASELINES:
        scores = oof[name][tested]
        gain, draws = paired_gain_draws(
            y, model[tested], scores, groups, n_boot=N_BOOT, seed=cfg.seed
        )
        low, high = np.quantile(draws, [0.025, 0.975]) if draws.size else (np.nan, np.nan)
        rows.append(
            {
                **common,
                "method": name,
                "roc_auc": rank_auroc(y, scores),
                "brier": m.get(f"baseline_{name}_cv_brier", float("nan")),
                "ece": m.get(f"baseline_{name}_cv_ece", float("nan")),
                "model_gain": gain,
                "model_gain_se": float(draws.std(ddof=1)) if draws.size > 1 else float("nan"),
                "model_gain_low": float(low),
                "model_gain_high": float(high),
            }
        )
    lots = training.y.index.astype(str)[tested]
    scores = {"model": model[tested]} | {name: oof[name][tested] for name in BASELINES}
    predictions = pd.concat(
        [
            pd.DataFrame(
                {
                    "cohort": cohort.name,
                    "lot_id": lots,
                    "group": groups.astype(str),
                    "y": y,
                    "method": method,
                    "score": values,
                }
            )
            for method, values in scores.items()
        ],
        ignore_index=True,
    )
    return rows, predictions


def run_real(
    config: Path, advance: Any = None, jobs: int = 2, only: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every task present (or those named in ``only``) in ``jobs`` worker processes.

    Returns (one row per task and method, the out-of-fold scores per lot: ``run_cohort``).
    An absent ``../shared/datasets`` gives empty tables (each missing task is logged).
    """
    cohorts = [c for c in COHORTS if only is None or c.name in only]
    present = []
    for cohort in cohorts:
        if (DATASETS / cohort.folder / cohort.lots).is_file():
            present.append(cohort)
        else:
            logger.warning("real task %s not found under %s: skipped", cohort.name, DATASETS)
    rows: list[dict[str, Any]] = []
    predictions: list[pd.DataFrame] = []
    results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(run_cohort)(cohort, config) for cohort in present
    )
    for task, scores in results:
        rows += task
        predictions.append(scores)
        model = task[0]
        logger.info("%s: model %.3f (%s)", model["cohort"], model["roc_auc"], model["chosen"])
        if advance is not None:
            advance(model["cohort"])
    order = {c.name: k for k, c in enumerate(COHORTS)}
    table = pd.DataFrame(rows)
    if table.empty:
        return table, pd.DataFrame()

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values("cohort", key=lambda c: c.map(order), kind="stable")

    return ordered(table), ordered(pd.concat(predictions, ignore_index=True))
