"""SIMULATED post-release streams: lots released after training, with dates and assay outcomes.

A stream comes from the same simulated world as a training set made by ``write_simulation``
(the same ``--seed``, ``--proteins`` and scenario give the same protein universe), with new
donors. It is simulated together with a set of anchor lots that are not written, so the
potency assay is standardised as in training (``_potency`` standardises over the reference
lots of one call). Lots are released in a random order over ``n_windows`` months; the outcome
of the latest lots is left empty (assay not back yet).

Drifts (from ``drift_start``, a share of the stream's time):

- ``stable``: nothing changes.
- ``ms_batch``: an MS batch effect after an instrument change: the ``n_batch_proteins``
  proteins that move most with senescence read ``batch_shift`` log2 off toward "young",
  hiding risk (measurement only: the lots' potency is unchanged).
- ``medium``: the expansion medium changes from hPL (and serum-free) to FBS.
- ``tissue``: umbilical-cord (UC, neonatal donors) material replaces bone marrow and adipose.
- ``senescence``: a slow senescence shift: cells age faster at the same passage, growing
  linearly from ``drift_start`` to the end of the stream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.special import expit, logit

from exostab.errors import ExostabError
from exostab.simulate import (
    ACQUISITIONS,
    MAX_PROTEINS,
    MIN_BACKGROUND,
    PANEL,
    Biology,
    _potency,
    _simulate_lots,
    _true_abundance,
    _write_part,
    build_universe,
    load_simulation_config,
    measure,
)

logger = logging.getLogger(__name__)

DRIFTS = ("stable", "ms_batch", "medium", "tissue", "senescence")
N_ANCHOR_LOTS = 300
N_ANCHOR_DONORS = 30
FIRST_RUN = 100_001
FIRST_BATCH = 501


@dataclass(frozen=True)
class StreamSummary:
    """What ``write_release_stream`` wrote.

    Attributes:
        out: the folder (lots.csv with ``release_date`` and ``unstable``, proteins.csv, ...).
        drift: the drift kind; drifted_columns / drifted_proteins: what it changed (truth).
        n_lots, n_with_outcome: lots written, and those whose assay is back.
        onset: first release date of the drift (None for ``stable``).
    """

    out: Path
    drift: str
    n_lots: int
    n_with_outcome: int
    drifted_columns: tuple[str, ...]
    drifted_proteins: tuple[str, ...]
    onset: str | None
    prevalence: float


def write_release_stream(
    out: Path,
    *,
    drift: str = "stable",
    n_lots: int = 120,
    n_donors: int = 12,
    n_proteins: int = 3000,
    world_seed: int = 7,
    seed: int = 101,
    scenario: str = "holdout",
    acquisition: str = "dia",
    n_windows: int = 6,
    start: str = "2027-01-04",
    drift_start: float = 0.5,
    outcome_back: float = 0.8,
    batch_shift: float = 1.5,
    n_batch_proteins: int = 40,
    senescence_shift: float = 2.5,
    config_path: Path | None = None,
) -> StreamSummary:
    """Simulate and write one post-release stream of SIMULATED lots.

    Args:
        out: folder to write (lots.csv, proteins.csv, proteinGroups.txt, report.pg_matrix.tsv,
            truth/ with truth_lots.csv and drift.yaml, README.txt).
        drift: one of ``DRIFTS``.
        n_lots, n_donors: stream size (new donors).
        n_proteins, world_seed, scenario: those of the training set (same protein universe).
        seed: the stream's own seed (same seed, same files).
        n_windows: months the releases span.
        start: first release date (ISO).
        drift_start: share of the stream's time after which the drift acts (0-1).
        outcome_back: share of the stream's time whose assays are back; later lots get an
            empty ``unstable``.
        batch_shift: log2 offset of the MS batch effect; n_batch_proteins: proteins it hits.
        senescence_shift: logit-scale senescence increase reached at the end of the stream.

    Raises:
        ExostabError: a drift, size or share outside its range.
    """
    out = Path(out)
    if drift not in DRIFTS:
        raise ExostabError(f"unknown drift {drift!r}; choose one of: {', '.join(DRIFTS)}")
    if acquisition.lower() not in ACQUISITIONS:
        raise ExostabError(f"unknown acquisition {acquisition!r}; choose dia or dda")
    if not 1 <= n_donors <= n_lots:
        raise ExostabError(f"need 1 <= donors ({n_donors}) <= lots ({n_lots})")
    if not len(PANEL) + MIN_BACKGROUND <= n_proteins <= MAX_PROTEINS:
        raise ExostabError(f"proteins must lie in {len(PANEL) + MIN_BACKGROUND}..{MAX_PROTEINS}")
    if not (0 <= drift_start < 1 and 0 < outcome_back <= 1):
        raise ExostabError("drift_start must lie in [0, 1) and outcome_back in (0, 1]")
    if out.exists() and not out.is_dir():
        raise ExostabError("output path exists and is not a directory", where=str(out))
    config = load_simulation_config(config_path, scenario)
    config = config.model_copy(update={"shift": None})
    rng_prot = [np.random.default_rng(s) for s in np.random.SeedSequence(world_seed).spawn(4)][1]
    universe = build_universe(config, n_proteins, rng_prot)
    rng_meta, rng_abund, rng_pot, rng_stream, rng_measure = (
        np.random.default_rng(s) for s in np.random.SeedSequence([world_seed, seed]).spawn(5)
    )
    total_donors = N_ANCHOR_DONORS + n_donors
    lots, donor = _simulate_lots(config, N_ANCHOR_LOTS + n_lots, total_donors, rng_meta)
    # The stream: lots of donors drawn at random until it holds n_lots.
    order = rng_stream.permutation(total_donors)
    chosen: list[int] = []
    for d in order:
        chosen.extend(np.flatnonzero(donor == d).tolist())
        if len(chosen) >= n_lots and len({donor[i] for i in chosen}) >= min(n_donors, 2):
            break
    stream = np.sort(rng_stream.permutation(np.array(chosen))[:n_lots])
    release = np.full(len(lots), np.nan)
    release[stream] = (rng_stream.permutation(len(stream)) + rng_stream.random(len(stream))) / len(
        stream
    )
    drifted = np.zeros(len(lots), dtype=bool)
    drifted[stream] = release[stream] >= drift_start
    ramp = np.where(drifted, (release - drift_start) / (1 - drift_start), 0.0)
    drifted_columns: tuple[str, ...] = ()
    pc = config.proteome
    if drift == "medium":
        old = lots["medium"].to_numpy(dtype=object)
        new = np.where(drifted, "FBS", old)
        factor = np.array(
            [pc.impurity_medium[n] / pc.impurity_medium[o] for o, n in zip(old, new, strict=True)]
        )
        lots["impurity"] = lots["impurity"] * factor
        lots["medium"] = new
        drifted_columns = ("medium",)
    elif drift == "tissue":
        lots.loc[drifted, "tissue_source"] = "UC"
        lots.loc[drifted, "donor_age"] = 0.0
        drifted_columns = ("tissue_source", "donor_age")
    elif drift == "senescence":
        s = np.clip(lots["senescence"].to_numpy(dtype=float), 1e-6, 1 - 1e-6)
        lots["senescence"] = expit(logit(s) + senescence_shift * ramp)
    true_log2 = _true_abundance(config, lots, donor, total_donors, universe.truth, rng_abund)
    truth = universe.truth
    lots, realised = _potency(config, lots, true_log2, truth, rng_pot)
    drifted_proteins: tuple[str, ...] = ()
    if drift == "ms_batch":
        # The proteins that move most with senescence carry what a model can learn of it;
        # the batch effect moves them toward "young", hiding risk.
        effect = truth["senescence_effect"].to_numpy(dtype=float)
        hit = np.argsort(-np.abs(effect), kind="stable")[:n_batch_proteins]
        hit = hit[effect[hit] != 0]
        # Measurement only: the potency above came from the true abundances.
        true_log2 = true_log2.copy()
        true_log2[np.ix_(drifted, hit)] -= batch_shift * np.sign(effect[hit])
        drifted_proteins = tuple(str(g) for g in truth["gene"].to_numpy()[hit])
    width = max(4, len(str(n_lots)))
    lots = lots.assign(
        lot_id=[f"SIM-R{k:0{width}d}" for k in range(1, len(lots) + 1)],
        donor_id=[str(d).replace("SIM-D", "SIM-RD") for d in lots["donor_id"]],
    )
    biology = Biology(
        lots=lots, true_log2=true_log2, universe=replace(universe, truth=truth), realised=realised
    )
    measurement = measure(
        config,
        biology,
        stream,
        acquisition.lower(),
        rng_measure,
        first_run=FIRST_RUN,
        first_batch=FIRST_BATCH,
    )
    info = {
        "scenario": f"{scenario} post-release stream ({drift})",
        "seed": seed,
        "part": "release",
        "n_lots": n_lots,
        "n_donors": n_donors,
        "n_proteins": n_proteins,
    }
    paths = _write_part(out, config, biology, measurement, info, rng_measure)
    start_day = pd.Timestamp(start)
    days = np.floor(release * n_windows * 30.44)
    dates = {
        lots["lot_id"].iat[i]: (start_day + pd.Timedelta(days=float(days[i]))).date().isoformat()
        for i in stream
    }
    back = {lots["lot_id"].iat[i]: bool(release[i] < outcome_back) for i in stream}
    sheet = pd.read_csv(paths["lots"], dtype={"unstable": "Int64"})
    sheet.insert(1, "release_date", sheet["lot_id"].map(dates))
    sheet["unstable"] = sheet["unstable"].where(sheet["lot_id"].map(back))
    sheet = sheet.sort_values(["release_date", "lot_id"], kind="stable")
    sheet.to_csv(paths["lots"], index=False, float_format="%.1f", lineterminator="\n")
    onset_index = [i for i in stream if drifted[i]]
    onset = (
        min(dates[lots["lot_id"].iat[i]] for i in onset_index)
        if drift != "stable" and onset_index
        else None
    )
    truth_record: dict[str, Any] = {
        "simulated": True,
        "drift": drift,
        "onset": onset,
        "drift_start": drift_start,
        "drifted_columns": list(drifted_columns),
        "drifted_proteins": list(drifted_proteins),
        "batch_shift_log2": batch_shift if drift == "ms_batch" else None,
        "senescence_shift_logit": senescence_shift if drift == "senescence" else None,
        "world_seed": world_seed,
        "stream_seed": seed,
        "n_lots": len(stream),
        "n_with_outcome": int(sheet["unstable"].notna().sum()),
        "prevalence_unstable": float(lots["unstable"].to_numpy()[stream].mean()),
    }
    (out / "truth" / "drift.yaml").write_text(yaml.safe_dump(truth_record, sort_keys=False))
    logger.info("wrote a SIMULATED %s stream of %d lots to %s", drift, len(stream), out)
    return StreamSummary(
        out=out,
        drift=drift,
        n_lots=len(stream),
        n_with_outcome=truth_record["n_with_outcome"],
        drifted_columns=drifted_columns,
        drifted_proteins=drifted_proteins,
        onset=onset,
        prevalence=truth_record["prevalence_unstable"],
    )
