"""The simulated LC-MS measurement (§7.7): batches, run order, noise and missingness.

``measure`` turns the TRUE abundances of some lots into protein-group intensities in run order:
MS batches, run-order drift, loading, intensity-dependent noise, MNAR + MCAR detection and the
split/merged protein groups of the universe.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from exostab.simulate.parameters import SimulationConfig
from exostab.simulate.world import Biology

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measurement:
    """The MS view of one part: protein-group intensities (0 = missing), runs in run order."""

    lot_index: np.ndarray
    runs: pd.DataFrame
    lfq: np.ndarray
    raw: np.ndarray
    reported: np.ndarray
    acquisition: str


def measure(
    config: SimulationConfig,
    biology: Biology,
    lot_index: np.ndarray,
    acquisition: str,
    rng: np.random.Generator,
    *,
    first_run: int = 1,
    first_batch: int = 1,
) -> Measurement:
    """Measure the given lots by LC-MS (§7.7): protein-group intensities in run order."""
    mc = config.measurement
    universe = biology.universe
    n = len(lot_index)
    passage = biology.lots["passage"].to_numpy()[lot_index].astype(float)
    spread = passage.std()
    z = (passage - passage.mean()) / spread if spread > 0 else np.zeros(n)
    rho = mc.confound_batch_with_passage
    key = rho * z + math.sqrt(1 - rho**2) * rng.normal(0, 1, n)
    run_lot = lot_index[np.argsort(key, kind="stable")]
    n_batches = math.ceil(n / mc.batch_size)
    batch = (np.arange(n) * n_batches) // n
    batch_first = np.searchsorted(batch, np.arange(n_batches))
    batch_size = np.bincount(batch, minlength=n_batches)
    position = np.arange(n) - batch_first[batch] - (batch_size[batch] - 1) / 2

    fp = universe.feature_protein
    n_proteins = biology.true_log2.shape[1]
    protein_batch = rng.normal(0, mc.batch_protein_sd, (n_batches, n_proteins))[:, fp]
    run_shift = (
        rng.normal(0, mc.batch_offset_sd, n_batches)[batch]
        + rng.normal(0, mc.drift_slope_sd, n_batches)[batch] * position
        + rng.normal(0, mc.loading_sd, n)
    )
    y = biology.true_log2[run_lot][:, fp]
    y += universe.feature_log2_fraction
    y += protein_batch[batch]
    y += run_shift[:, None]
    sigma = mc.noise_floor[acquisition] + mc.noise_low_intensity * np.exp(
        -(y - mc.noise_pivot) / mc.noise_scale
    )  # type: ignore[index]
    y += rng.normal(0, 1, y.shape) * sigma
    del sigma
    threshold = mc.detection_threshold[acquisition] + rng.normal(
        0, mc.threshold_batch_sd, n_batches
    )  # type: ignore[index]
    p_detect = expit(mc.detection_slope[acquisition] * (y - threshold[batch][:, None]))  # type: ignore[index]
    observed = rng.random(y.shape) < p_detect
    del p_detect
    observed &= rng.random(y.shape) >= mc.mcar[acquisition]  # type: ignore[index]
    values = np.where(observed, np.exp2(y), 0.0)
    del y, observed
    summed = np.add.reduceat(values, universe.group_start, axis=1)
    del values
    lfq = np.where(summed > 0, np.maximum(np.round(summed), 1), 0).astype(np.int64)
    raw_scale = np.exp2(rng.normal(0, mc.raw_scale_sd, n))[:, None]
    raw = np.where(lfq > 0, np.maximum(np.round(lfq * raw_scale), 1), 0).astype(np.int64)
    batch_width = max(2, len(str(first_batch + n_batches - 1)))
    run_width = max(4, len(str(first_run + n - 1)))
    runs = pd.DataFrame(
        {
            "lot_index": run_lot,
            "ms_run": [f"SIM_run_{first_run + k:0{run_width}d}" for k in range(n)],
            "ms_batch": [f"B{first_batch + b:0{batch_width}d}" for b in batch],
            "run_order": np.arange(1, n + 1),
            "acquisition": acquisition.upper(),
        }
    )
    reported: np.ndarray = np.asarray((lfq > 0).any(axis=0))
    logger.info(
        "%s: %d runs in %d batches, %d/%d protein groups reported, %.1f%% of their values missing",
        acquisition.upper(),
        n,
        n_batches,
        reported.sum(),
        len(reported),
        100 * (lfq[:, reported] == 0).mean(),
    )
    return Measurement(
        lot_index=np.sort(lot_index),
        runs=runs,
        lfq=lfq,
        raw=raw,
        reported=reported,
        acquisition=acquisition.upper(),
    )
