"""Writing a simulation: ``write_simulation`` and the files of one part.

One part (``all``, or ``train``/``test`` of a shift scenario) is a lot sheet, a wide protein
table, a MaxQuant ``proteinGroups.txt``, a DIA-NN ``report.pg_matrix.tsv``, the ground truth
(``truth/``), the resolved parameters (``simulation.yaml``) and a README.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from exostab.errors import ExostabError
from exostab.simulate.formats import (
    DIANN_ANNOTATIONS,
    MAXQUANT_ANNOTATIONS,
    _identification_stats,
    _maxquant_extras,
    _write_matrix,
)
from exostab.simulate.measurement import Measurement, measure
from exostab.simulate.panel import MAX_PROTEINS, MIN_BACKGROUND, PANEL
from exostab.simulate.parameters import (
    ACQUISITIONS,
    ShiftConfig,
    SimulationConfig,
    load_simulation_config,
)
from exostab.simulate.world import Biology, simulate_biology

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationSummary:
    """What ``write_simulation`` wrote."""

    out: Path
    n_lots: int
    n_donors: int
    n_proteins: int
    scenario: str
    seed: int
    acquisition: str
    prevalence: float
    paths: dict[str, Path]
    parts: tuple[str, ...] = ("all",)
    part_prevalence: dict[str, float] = field(default_factory=dict)
    n_protein_groups: dict[str, int] = field(default_factory=dict)
    missing_fraction: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------


LOT_SHEET_COLUMNS = (
    "lot_id",
    "donor_id",
    "tissue_source",
    "donor_age",
    "passage",
    "medium",
    "culture_format",
    "priming",
    "isolation_method",
    "formulation",
    "storage_weeks",
    "freeze_thaw_cycles",
    "ms_batch",
    "ms_run",
    "acquisition",
    "unstable",
)
TRUTH_LOT_COLUMNS = (
    "lot_id",
    "donor_id",
    "part",
    "passage",
    "p_fail",
    "senescence",
    "stress",
    "impurity",
    "potency_latent",
    "expected_rp",
    "observed_rp",
    "unstable",
    "expected_unstable",
    "drift_unstable",
    "expected_rp_at_p3",
    "donor_effect",
    "lot_effect",
    "functional_component",
    "sasp_component",
    "priming_component",
    "impurity_component",
    "expected_inhibition",
    "dose_log_error",
    "cumulative_pd",
    "cpd50_donor",
    "senescence_at_p3",
    "acute_stress",
    "series_id",
)


def _write_part(
    directory: Path,
    config: SimulationConfig,
    biology: Biology,
    measurement: Measurement,
    info: dict[str, Any],
    rng: np.random.Generator,
) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "truth").mkdir(exist_ok=True)
    paths = {
        "lots": directory / "lots.csv",
        "proteins": directory / "proteins.csv",
        "maxquant": directory / "proteinGroups.txt",
        "diann": directory / "report.pg_matrix.tsv",
        "truth_lots": directory / "truth" / "truth_lots.csv",
        "truth_proteins": directory / "truth" / "truth_proteins.csv",
        "config": directory / "simulation.yaml",
        "readme": directory / "README.txt",
    }
    runs = measurement.runs
    lots = biology.lots.iloc[measurement.lot_index].copy()
    run_of_lot = runs.set_index("lot_index").loc[measurement.lot_index]
    lots["ms_batch"] = run_of_lot["ms_batch"].to_numpy()
    lots["ms_run"] = run_of_lot["ms_run"].to_numpy()
    lots["acquisition"] = measurement.acquisition
    lots[list(LOT_SHEET_COLUMNS)].to_csv(
        paths["lots"], index=False, float_format="%.1f", lineterminator="\n"
    )

    groups = biology.universe.groups
    reported = np.flatnonzero(measurement.reported)
    names = groups["column"].to_numpy()[reported]
    lot_rows = np.argsort(runs["lot_index"].to_numpy())  # run order -> lot order
    lfq = measurement.lfq[:, reported]
    _write_matrix(
        paths["proteins"],
        ["lot_id", *names],
        [[lot] for lot in lots["lot_id"]],
        lfq[lot_rows],
        ",",
        "",
    )

    stats = _identification_stats(
        groups, np.random.default_rng(np.random.SeedSequence([info["seed"], 31]))
    )
    annotations: list[list[str]] = [
        [
            str(g.protein_ids),
            str(g.protein_ids),
            str(g.genes),
            str(g.fasta),
            str(s.peptides),
            str(s.razor),
            str(s.unique),
            f"{s.q:g}",
            f"{s.score:.3f}",
            "",
            "",
            "",
        ]
        for g, s in zip(
            groups.iloc[reported].itertuples(index=False),
            stats.iloc[reported].itertuples(index=False),
            strict=True,
        )
    ]
    extra_rows, extra_values = _maxquant_extras(len(runs), biology.universe, rng)
    all_rows = annotations + extra_rows
    all_rows = [[*row, str(k)] for k, row in enumerate(all_rows)]
    raw = measurement.raw[:, reported]
    extra_raw = np.where(extra_values > 0, np.maximum(np.round(extra_values * 1.1), 1), 0).astype(
        np.int64
    )
    maxquant_values = np.hstack([np.vstack([lfq.T, extra_values]), np.vstack([raw.T, extra_raw])])
    header = [
        *MAXQUANT_ANNOTATIONS,
        *(f"LFQ intensity {run}" for run in runs["ms_run"]),
        *(f"Intensity {run}" for run in runs["ms_run"]),
    ]
    _write_matrix(paths["maxquant"], header, all_rows, maxquant_values, "\t", None)

    diann_rows = [
        [str(g.protein_ids), str(g.protein_ids), str(g.names), str(g.genes), str(g.description)]
        for g in groups.iloc[reported].itertuples(index=False)
    ]
    run_paths = [
        f"D:\\MSdata\\{b}\\{r}.raw" for b, r in zip(runs["ms_batch"], runs["ms_run"], strict=True)
    ]
    _write_matrix(paths["diann"], [*DIANN_ANNOTATIONS, *run_paths], diann_rows, lfq.T, "\t", "")

    truth_lots = lots[list(TRUTH_LOT_COLUMNS)].copy()
    replicate_columns = [c for c in lots.columns if c.startswith("rp_replicate_")]
    truth_lots[replicate_columns] = lots[replicate_columns]
    truth_lots.to_csv(paths["truth_lots"], index=False, float_format="%.6g", lineterminator="\n")

    truth_proteins = biology.universe.truth.drop(columns=["relative_weight"]).copy()
    detected = (lfq > 0).mean(axis=0)
    detected_by_column = dict(zip(names, detected, strict=True))
    truth_proteins["reported"] = truth_proteins["protein"].isin(detected_by_column)
    truth_proteins["detected_fraction"] = (
        truth_proteins["protein"].map(detected_by_column).fillna(0.0)
    )
    truth_proteins.to_csv(
        paths["truth_proteins"], index=False, float_format="%.6g", lineterminator="\n"
    )

    missing_fraction = float((lfq == 0).mean()) if lfq.size else 1.0
    unstable = lots["unstable"].to_numpy()
    summary = {
        "simulated": True,
        "note": "SIMULATED data from the exostab lot simulator; not measurements of real lots.",
        "scenario": info["scenario"],
        "seed": info["seed"],
        "part": info["part"],
        "acquisition": measurement.acquisition,
        "sizes": {
            "n_lots_requested": info["n_lots"],
            "n_donors_requested": info["n_donors"],
            "n_proteins_universe": info["n_proteins"],
            "n_lots": len(lots),
            "n_donors": int(lots["donor_id"].nunique()),
            "n_protein_groups_reported": len(reported),
            "n_ms_batches": int(runs["ms_batch"].nunique()),
        },
        "realised": {
            "prevalence_unstable": round(float(unstable.mean()), 6),
            "prevalence_expected_unstable": round(float(lots["expected_unstable"].mean()), 6),
            "prevalence_drift_unstable": round(float(lots["drift_unstable"].mean()), 6),
            "missing_fraction": round(missing_fraction, 6),
            **{k: round(v, 6) for k, v in biology.realised.items()},
        },
        "config": config.model_dump(mode="json"),
    }
    paths["config"].write_text(yaml.safe_dump(summary, sort_keys=False, allow_unicode=True))
    paths["readme"].write_text(
        _readme(
            info, measurement, len(lots), len(reported), float(unstable.mean()), missing_fraction
        )
    )
    return paths


def _readme(
    info: dict[str, Any],
    measurement: Measurement,
    n_lots: int,
    n_groups: int,
    prevalence: float,
    missing_fraction: float,
) -> str:
    return f"""THESE DATA ARE SIMULATED. They are not measurements of any real MSC-exosome lot.

Generator : exostab lot simulator (src/exostab/simulate/; parameters configs/simulate.yaml)
Scenario  : {info["scenario"]}   part: {info["part"]}   seed: {info["seed"]}
Size      : {n_lots} lots, {n_groups} reported protein groups ({measurement.acquisition}), \
{100 * prevalence:.1f}% observed unstable, {100 * missing_fraction:.1f}% of intensities missing
Parameters: simulation.yaml (full resolved parameter set)

Model. Donors (tissue source BM/UC/AT, age) -> expansion series (medium, culture format) -> lots
(passage, priming, isolation, formulation, storage, freeze-thaw). A latent senescence state
follows cumulative population doublings with donor- and source-specific midpoints; an optional
acute stress adds SASP without passage. True log2 abundances = baseline + source offsets +
senescence effects by module (EV identity stable, MSC identity mild loss, immunomodulatory loss,
SASP gain, background passengers) + priming/3D effects + impurity-driven contaminants (with
dilution of EV proteins) + freeze-thaw leakage + donor effects correlated within modules + lot
noise. LC-MS adds batch and run-order effects, loading, intensity-dependent noise, logit-linear
MNAR detection plus MCAR, and ~2% split/merged protein groups. The latent potency is a weighted
sum of the TRUE abundances of a few causal proteins (truth/truth_proteins.csv: causal, weight)
plus priming, impurity, donor and non-proteomic lot effects; relative potency comes from
replicate assays against a reference standard; unstable = mean observed RP < threshold.

Files. lots.csv (lot sheet, label 'unstable'), proteins.csv (lots x protein groups, raw 2^y
intensities, empty = missing; columns are gene symbols, merged groups 'GENE1;GENE2', the second
group of a simulated isoform split is suffixed '-2'), proteinGroups.txt (MaxQuant layout,
0 = missing, plus decoy/contaminant/site-only rows), report.pg_matrix.tsv (DIA-NN layout, empty =
missing), truth/truth_lots.csv (p_fail, senescence, potency components, labels),
truth/truth_proteins.csv (modules, effects, weights, passengers), simulation.yaml.

What they can show: whether a pipeline recovers planted structure (causal vs passenger
proteins, donor grouping, batch and missingness artefacts, shifts between scenarios), and how
a classifier's risk compares with the exact p_fail.
What they cannot show: anything about real MSC-exosome biology. Effect sizes are assumptions
anchored loosely in the literature; gene symbols and UniProt accessions of the named panel were
not verified (accession_verified = false); SIMG/SIMP identifiers are invented. A protein ranked
as a driver here is a property of the simulator, not a finding.
"""


def shift_sentence(shift: ShiftConfig) -> str:
    """Say how test/ differs from train/ (only in donors when the scenario shifts nothing)."""
    if shift.factor in (None, "none") or not (shift.train and shift.test):
        return "test/ holds new donors of the same simulated world (nothing else shifts)."
    return (
        f"{shift.factor} is {'/'.join(shift.train)} in train/ and {'/'.join(shift.test)} in test/."
    )


def write_simulation(
    out: Path,
    *,
    n_lots: int = 250,
    n_donors: int = 25,
    n_proteins: int = 3000,
    scenario: str = "base",
    acquisition: str = "dia",
    seed: int = 7,
    config_path: Path | None = None,
) -> SimulationSummary:
    """Simulate lots and write the lot sheet, protein tables, vendor files and ground truth.

    Shift scenarios write ``out/train`` and ``out/test`` (disjoint donors); the others write
    into ``out``. ``n_lots`` and ``n_donors`` count all parts together.
    """
    out = Path(out)
    acquisition = acquisition.lower()
    if acquisition not in ACQUISITIONS:
        raise ExostabError(f"unknown acquisition {acquisition!r}; choose dia or dda")
    config = load_simulation_config(config_path, scenario)
    shift = config.shift
    minimum_donors = 2 if shift is not None else 1
    if n_donors < minimum_donors:
        raise ExostabError(f"need at least {minimum_donors} donor(s) for scenario {scenario!r}")
    if n_lots < n_donors:
        raise ExostabError(
            f"lots ({n_lots}) must be at least donors ({n_donors}): every donor makes a lot"
        )
    if n_lots > 100_000:
        raise ExostabError("at most 100,000 lots")
    minimum_proteins = len(PANEL) + MIN_BACKGROUND
    if not minimum_proteins <= n_proteins <= MAX_PROTEINS:
        raise ExostabError(
            f"proteins must lie in {minimum_proteins}..{MAX_PROTEINS} "
            f"(the named panel has {len(PANEL)})"
        )
    if seed < 0:
        raise ExostabError("seed must be a non-negative integer")
    if out.exists() and not out.is_dir():
        raise ExostabError("output path exists and is not a directory", where=str(out))

    biology = simulate_biology(
        config, n_lots=n_lots, n_donors=n_donors, n_proteins=n_proteins, seed=seed
    )
    part_of_lot = biology.lots["part"].to_numpy()
    if shift is None:
        plan = [("all", out, acquisition)]
    else:
        plan = [
            (
                "train",
                out / "train",
                shift.train[0] if shift.factor == "acquisition" else acquisition,
            ),
            ("test", out / "test", shift.test[0] if shift.factor == "acquisition" else acquisition),
        ]
    paths: dict[str, Path] = {}
    part_prevalence: dict[str, float] = {}
    n_groups: dict[str, int] = {}
    missing: dict[str, float] = {}
    first_run, first_batch = 1, 1
    for k, (part, directory, part_acquisition) in enumerate(plan):
        lot_index = np.flatnonzero(part_of_lot == part)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 104729, k]))
        measurement = measure(
            config,
            biology,
            lot_index,
            part_acquisition,
            rng,
            first_run=first_run,
            first_batch=first_batch,
        )
        first_run += len(lot_index)
        first_batch += int(measurement.runs["ms_batch"].nunique())
        info = {
            "scenario": scenario,
            "seed": seed,
            "part": part,
            "n_lots": n_lots,
            "n_donors": n_donors,
            "n_proteins": n_proteins,
        }
        written = _write_part(directory, config, biology, measurement, info, rng)
        prefix = "" if shift is None else f"{part}/"
        paths.update({f"{prefix}{name}": path for name, path in written.items()})
        part_prevalence[part] = float(biology.lots["unstable"].to_numpy()[lot_index].mean())
        reported = measurement.lfq[:, measurement.reported]
        n_groups[part] = int(measurement.reported.sum())
        missing[part] = float((reported == 0).mean()) if reported.size else 1.0
    if shift is not None:
        readme = out / "README.txt"
        readme.write_text(
            f"THESE DATA ARE SIMULATED (exostab lot simulator), scenario {scenario}, seed {seed}.\n"
            f"train/ and test/ are complete output sets from disjoint donors; "
            f"{shift_sentence(shift)}\n"
            "See train/README.txt and test/README.txt.\n"
        )
        paths["readme"] = readme
    prevalence = float(biology.lots["unstable"].mean())
    logger.info("wrote SIMULATED %s data (%d lots, seed %d) to %s", scenario, n_lots, seed, out)
    return SimulationSummary(
        out=out,
        n_lots=n_lots,
        n_donors=n_donors,
        n_proteins=n_proteins,
        scenario=scenario,
        seed=seed,
        acquisition="/".join(dict.fromkeys(p[2] for p in plan)),
        prevalence=prevalence,
        paths=paths,
        parts=tuple(p[0] for p in plan),
        part_prevalence=part_prevalence,
        n_protein_groups=n_groups,
        missing_fraction=missing,
    )
