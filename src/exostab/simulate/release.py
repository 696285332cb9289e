"""SIMULATED post-release streams: lots released after training, with dates and assay outcomes.

A stream is a set of later lots of the SAME simulated world as a training set written by
``write_simulation`` (``world``: its scenario, seed, sizes and resolved config, read from the
training folder's ``simulation.yaml``):

- the world is simulated again exactly as for training (same protein universe and protein
  effects, same donors' distribution, same potency-assay standardisation);
- the stream's lots come from new donors drawn from that world's donor distribution, and
  their potency is standardised with the training world's standard (``PotencyStandard``), so
  the stream's unstable base rate is the world's (up to the sampling of the new donors);
- a drift acts on the stream only.

Lots are released in a random order over ``n_windows`` months; the outcome of the latest lots
is left empty (assay not back yet).

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
from pydantic import ValidationError
from scipy.special import expit, logit

from exostab.errors import ExostabError
from exostab.simulate.measurement import measure
from exostab.simulate.panel import MAX_PROTEINS, MIN_BACKGROUND, PANEL
from exostab.simulate.parameters import ACQUISITIONS, SimulationConfig, load_simulation_config
from exostab.simulate.potency import _potency
from exostab.simulate.proteome import _true_abundance
from exostab.simulate.world import Biology, _simulate_lots, simulate_biology
from exostab.simulate.writers import _write_part

logger = logging.getLogger(__name__)

DRIFTS = ("stable", "ms_batch", "medium", "tissue", "senescence")
FIRST_RUN = 100_001
FIRST_BATCH = 501


@dataclass(frozen=True)
class World:
    """The simulated world a training set came from (what ``write_simulation`` was given).

    Attributes:
        scenario: simulator scenario; seed: its seed; n_lots, n_donors: requested sizes (all
            parts); n_proteins: protein universe; config: the resolved simulator parameters.
    """

    scenario: str
    seed: int
    n_lots: int
    n_donors: int
    n_proteins: int
    config: SimulationConfig


def world_of(
    *,
    scenario: str = "base",
    seed: int = 7,
    n_lots: int = 250,
    n_donors: int = 25,
    n_proteins: int = 3000,
    config_path: Path | None = None,
) -> World:
    """The world ``write_simulation`` makes with these arguments."""
    return World(
        scenario=scenario,
        seed=seed,
        n_lots=n_lots,
        n_donors=n_donors,
        n_proteins=n_proteins,
        config=load_simulation_config(config_path, scenario),
    )


def read_world(folder: Path) -> World:
    """Read the world of a SIMULATED training folder from its ``simulation.yaml``.

    Args:
        folder: a folder written by ``exostab simulate`` (or its ``train/`` part), e.g. the
            built-in ``data/simulated/train``.

    Raises:
        ExostabError: no ``simulation.yaml`` there, or one this simulator cannot read.
    """
    path = Path(folder) / "simulation.yaml"
    if not path.is_file():
        raise ExostabError(
            "not a SIMULATED training folder (no simulation.yaml): give the folder "
            "`exostab simulate` wrote, e.g. data/simulated/train (make train writes it)",
            where=str(folder),
        )
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
        sizes = record["sizes"]
        return World(
            scenario=str(record["scenario"]),
            seed=int(record["seed"]),
            n_lots=int(sizes["n_lots_requested"]),
            n_donors=int(sizes["n_donors_requested"]),
            n_proteins=int(sizes["n_proteins_universe"]),
            config=SimulationConfig.model_validate(record["config"]),
        )
    except (yaml.YAMLError, KeyError, TypeError, ValueError, ValidationError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ExostabError(f"cannot read the simulated world: {first}", where=str(path)) from None


@dataclass(frozen=True)
class StreamSummary:
    """What ``write_release_stream`` wrote.

    Attributes:
        out: the folder (lots.csv with ``release_date`` and ``unstable``, proteins.csv, ...).
        drift: the drift kind; drifted_columns / drifted_proteins: what it changed (truth).
        n_lots, n_with_outcome: lots written, and those whose assay is back.
        onset: first release date of the drift (None for ``stable``).
        prevalence: share of the stream's lots observed unstable; world_prevalence: that of
            the world's lots (training and hold-out parts).
    """

    out: Path
    drift: str
    n_lots: int
    n_with_outcome: int
    drifted_columns: tuple[str, ...]
    drifted_proteins: tuple[str, ...]
    onset: str | None
    prevalence: float
    world_prevalence: float


def write_release_stream(
    out: Path,
    *,
    world: World,
    drift: str = "stable",
    n_lots: int = 120,
    n_donors: int = 12,
    seed: int = 101,
    acquisition: str = "dia",
    n_windows: int = 6,
    start: str = "2027-01-01",
    drift_start: float = 0.5,
    outcome_back: float = 0.8,
    batch_shift: float = 1.5,
    n_batch_proteins: int = 40,
    senescence_shift: float = 2.5,
) -> StreamSummary:
    """Simulate and write one post-release stream of SIMULATED lots of ``world``.

    Args:
        out: folder to write (lots.csv, proteins.csv, proteinGroups.txt, report.pg_matrix.tsv,
            truth/ with truth_lots.csv and drift.yaml, README.txt).
        world: the training set's world (``read_world`` or ``world_of``).
        drift: one of ``DRIFTS``.
        n_lots, n_donors: stream size (new donors of the world).
        seed: the stream's own seed (same world and seed, same files).
        n_windows: months the releases span.
        start: first release date (ISO; the first of a month gives whole monthly windows).
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
    if n_lots > 100_000:
        raise ExostabError("at most 100,000 lots")
    if not len(PANEL) + MIN_BACKGROUND <= world.n_proteins <= MAX_PROTEINS:
        raise ExostabError(f"proteins must lie in {len(PANEL) + MIN_BACKGROUND}..{MAX_PROTEINS}")
    if not (0 <= drift_start < 1 and 0 < outcome_back <= 1):
        raise ExostabError("drift_start must lie in [0, 1) and outcome_back in (0, 1]")
    if out.exists() and not out.is_dir():
        raise ExostabError("output path exists and is not a directory", where=str(out))
    # The world again, exactly as write_simulation made it: its universe, truth and potency
    # standard (the training lots themselves are not written).
    trained = simulate_biology(
        world.config,
        n_lots=world.n_lots,
        n_donors=world.n_donors,
        n_proteins=world.n_proteins,
        seed=world.seed,
    )
    # New donors of the world: the training part's donors (no shift, no young banks).
    config = world.config.model_copy(update={"shift": None})
    universe = trained.universe
    truth = universe.truth.copy()
    rng_meta, rng_abund, rng_pot, rng_stream, rng_measure = (
        np.random.default_rng(s) for s in np.random.SeedSequence([world.seed, seed, 23]).spawn(5)
    )
    lots, donor = _simulate_lots(config, n_lots, n_donors, rng_meta)
    stream = np.arange(n_lots)
    release = (rng_stream.permutation(n_lots) + rng_stream.random(n_lots)) / n_lots
    drifted = release >= drift_start
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
    true_log2 = _true_abundance(config, lots, donor, n_donors, truth, rng_abund)
    lots, realised, _ = _potency(config, lots, true_log2, truth, rng_pot, trained.standard)
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
        "scenario": f"{world.scenario} post-release stream ({drift})",
        "seed": seed,
        "part": "release",
        "n_lots": n_lots,
        "n_donors": n_donors,
        "n_proteins": world.n_proteins,
    }
    paths = _write_part(out, config, biology, measurement, info, rng_measure)
    start_day = pd.Timestamp(start)
    # The releases fill n_windows calendar months from the start exactly (none spill over).
    span = (start_day + pd.DateOffset(months=n_windows) - start_day).days
    days = np.floor(release * span)
    dates = {
        lots["lot_id"].iat[i]: (start_day + pd.Timedelta(days=float(days[i]))).date().isoformat()
        for i in stream.tolist()
    }
    back = {lots["lot_id"].iat[i]: bool(release[i] < outcome_back) for i in stream.tolist()}
    sheet = pd.read_csv(paths["lots"], dtype={"unstable": "Int64"})
    sheet.insert(1, "release_date", sheet["lot_id"].map(dates))
    sheet["unstable"] = sheet["unstable"].where(sheet["lot_id"].map(back))
    sheet = sheet.sort_values(["release_date", "lot_id"], kind="stable")
    sheet.to_csv(paths["lots"], index=False, float_format="%.1f", lineterminator="\n")
    onset_index = [i for i in stream.tolist() if drifted[i]]
    onset = (
        min(dates[lots["lot_id"].iat[i]] for i in onset_index)
        if drift != "stable" and onset_index
        else None
    )
    training_part = trained.lots["part"].to_numpy() != "test"
    world_prevalence = float(trained.lots["unstable"].to_numpy()[training_part].mean())
    truth_record: dict[str, Any] = {
        "simulated": True,
        "drift": drift,
        "onset": onset,
        "drift_start": drift_start,
        "drifted_columns": list(drifted_columns),
        "drifted_proteins": list(drifted_proteins),
        "batch_shift_log2": batch_shift if drift == "ms_batch" else None,
        "senescence_shift_logit": senescence_shift if drift == "senescence" else None,
        "world": {
            "scenario": world.scenario,
            "seed": world.seed,
            "n_lots": world.n_lots,
            "n_donors": world.n_donors,
            "n_proteins": world.n_proteins,
            "prevalence_unstable_training_part": world_prevalence,
        },
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
        world_prevalence=world_prevalence,
    )
