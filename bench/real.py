"""Real cohorts: the model and the baselines through the same grouped CV on public data.

The two labelled proteomics cohorts in ``../shared/datasets/`` (see its README) are not
MSC-exosome lots; they are real p ≫ n data with real naming, missingness and batches. Each is
read through exostab's own readers, then validated as its README says (pooled out-of-fold
AUROC): ``cptac-ucec-lvsi`` leave-one-plex-out on log2 TMT ratios, ``heart-lfq`` 5-fold
grouped by heart on raw LFQ intensities. The model's CV is nested (its structure is chosen
inside each outer fold), so its pooled AUROC is out-of-sample like the baselines'.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exostab.baselines import BASELINES
from exostab.config import load_train_config
from exostab.dataset import build_training_set
from exostab.evaluate import paired_gain_interval
from exostab.readers import read_lot_sheet, read_proteins
from exostab.train import train_model
from exostab.training_run import load_panels

logger = logging.getLogger(__name__)

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@dataclass(frozen=True)
class Cohort:
    """One real cohort and how its README says to validate it."""

    name: str
    proteins: str
    scale: str
    scheme: str


COHORTS = (
    Cohort("cptac-ucec-lvsi", "proteins_log2.csv", "log2", "leave_one_group_out"),
    Cohort("heart-lfq", "proteins.csv", "raw", "group_kfold"),
)


def run_cohort(cohort: Cohort, config: Path) -> list[dict[str, Any]]:
    """Validate the model and the baselines on one cohort; one row per method."""
    folder = DATASETS / cohort.name
    cfg = load_train_config(
        config,
        **{"cv.scheme": cohort.scheme, "cv.naive_gap": False, "data.scale": cohort.scale},
    )
    matrix = read_proteins(folder / cohort.proteins, scale=cohort.scale)
    sheet = read_lot_sheet(folder / "lots.csv", label=cfg.data.label)
    training = build_training_set(matrix, sheet, cfg)
    started = time.perf_counter()
    result = train_model(training, cfg, load_panels(cfg))
    seconds = time.perf_counter() - started
    m = result.metrics
    common = {
        "cohort": cohort.name,
        "n_lots": len(training.y),
        "n_groups": int(training.groups.nunique()),
        "n_proteins": int(training.fingerprint["n_proteins"]),
        "validation": cohort.scheme,
    }
    rows = [
        {
            **common,
            "method": "model",
            "roc_auc": m["cv_roc_auc"],
            "brier": m["cv_brier"],
            "ece": m["cv_ece"],
            "chosen": result.choice.label,
            "fold_choices": "; ".join(c.label for c in result.fold_choices),
            "gain_over_passage": result.verdict.gain,
            "train_seconds": seconds,
        }
    ]
    y = training.y.to_numpy()
    for name in BASELINES:
        scores = result.baseline_oof[name].to_numpy(dtype=float)
        tested = np.isfinite(scores) & np.isfinite(result.oof_log_odds.to_numpy())
        gain, low, high = paired_gain_interval(
            y[tested],
            result.oof_log_odds.to_numpy()[tested],
            scores[tested],
            training.groups.to_numpy()[tested],
            n_boot=1000,
            seed=cfg.seed,
        )
        rows.append(
            {
                **common,
                "method": name,
                "roc_auc": m[f"baseline_{name}_cv_roc_auc"],
                "brier": m[f"baseline_{name}_cv_brier"],
                "ece": m[f"baseline_{name}_cv_ece"],
                "model_gain": gain,
                "model_gain_low": low,
                "model_gain_high": high,
            }
        )
    logger.info("%s: model %.3f (%s)", cohort.name, m["cv_roc_auc"], result.choice.label)
    return rows


def run_real(config: Path, advance: Any = None) -> pd.DataFrame:
    """Run every cohort present; an absent ``../shared/datasets`` gives an empty table."""
    rows: list[dict[str, Any]] = []
    for cohort in COHORTS:
        if not (DATASETS / cohort.name).is_dir():
            logger.warning("real cohort %s not found under %s: skipped", cohort.name, DATASETS)
            continue
        rows += run_cohort(cohort, config)
        if advance is not None:
            advance(cohort.name)
    return pd.DataFrame(rows)
