"""The simulated world: donors, expansion series, lots and passages (§7.2-§7.3), then biology.

``_simulate_lots`` draws donors (tissue source, age), their expansion series (medium, culture
format) and lots (passage, priming, isolation, storage, latent senescence and stress);
``simulate_biology`` adds the protein universe, TRUE abundances and potency (``Biology``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from exostab.errors import ConfigError
from exostab.simulate.parameters import (
    FORMATS,
    FORMULATIONS,
    ISOLATIONS,
    MEDIA,
    SOURCES,
    ShiftConfig,
    SimulationConfig,
)
from exostab.simulate.potency import PotencyStandard, _potency
from exostab.simulate.proteome import ProteinUniverse, _true_abundance, build_universe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Biology:
    """Lots (metadata + latent truth) and their TRUE log2 abundances (lots × proteins)."""

    lots: pd.DataFrame
    true_log2: np.ndarray
    universe: ProteinUniverse
    realised: dict[str, float]
    standard: PotencyStandard | None = None


def _choice(
    rng: np.random.Generator, levels: tuple[Any, ...], weights: Mapping[Any, float], size: int
) -> np.ndarray:
    p = np.array([float(weights.get(level, 0.0)) for level in levels])
    if p.sum() <= 0:
        raise ConfigError(f"no positive weight among {levels}")
    return rng.choice(len(levels), size=size, p=p / p.sum())


def simulate_biology(
    config: SimulationConfig,
    *,
    n_lots: int,
    n_donors: int,
    n_proteins: int,
    seed: int,
) -> Biology:
    """Simulate donors, series, lots, true abundances and potency (no measurement yet)."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    rng_meta, rng_prot, rng_abund, rng_pot = streams
    universe = build_universe(config, n_proteins, rng_prot)
    lots, donor_index = _simulate_lots(config, n_lots, n_donors, rng_meta)
    true_log2 = _true_abundance(config, lots, donor_index, n_donors, universe.truth, rng_abund)
    lots, realised, standard = _potency(config, lots, true_log2, universe.truth, rng_pot)
    return Biology(
        lots=lots, true_log2=true_log2, universe=universe, realised=realised, standard=standard
    )


def _young_banks(
    passage: np.ndarray, donor: np.ndarray, part: np.ndarray, shift: ShiftConfig, first: int
) -> np.ndarray:
    """Fold the passages of the first ``early_bank_fraction`` of test donors into early ones.

    Passage p of such a donor becomes ``first + (p - first) mod span`` (span: the passages
    ``first``..``early_bank_max_passage``): no random draw, so every other lot is unchanged.
    """
    test_donors = np.flatnonzero(part == 1)
    young = test_donors[: round(shift.early_bank_fraction * len(test_donors))]
    span = max(shift.early_bank_max_passage - first + 1, 1)
    folded = first + (passage - first) % span
    return np.where(np.isin(donor, young), folded, passage).astype(np.int64)


def _simulate_lots(
    config: SimulationConfig, n_lots: int, n_donors: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    meta, sen, shift = config.metadata, config.senescence, config.shift
    part = np.zeros(n_donors, dtype=np.int64)
    if shift is not None:
        n_test = min(max(round(shift.test_fraction * n_donors), 1), n_donors - 1)
        part[rng.permutation(n_donors)[:n_test]] = 1
    source = _choice(rng, SOURCES, meta.tissue_source, n_donors)
    if shift is not None and shift.factor == "tissue_source":
        for p, levels in enumerate((shift.train, shift.test)):
            members = np.flatnonzero(part == p)
            source_weights: dict[str, float] = dict(meta.tissue_source)
            weights = {s: source_weights.get(s, 0.0) or 1.0 for s in levels}
            source[members] = [
                SOURCES.index(levels[k]) for k in _choice(rng, tuple(levels), weights, len(members))
            ]
    age = np.round(rng.uniform(meta.donor_age_min, meta.donor_age_max, n_donors))
    age[source == SOURCES.index("UC")] = 0.0
    midpoint = np.array([sen.midpoint[SOURCES[s]] for s in source])
    cpd50 = (
        midpoint
        - sen.age_slope * np.maximum(age - sen.age_pivot, 0)
        + rng.normal(0, sen.donor_sd, n_donors)
    )
    passage_shift = (
        np.round(rng.normal(0, meta.donor_passage_shift_sd, n_donors))
        if meta.donor_passage_shift_sd
        else np.zeros(n_donors)
    )

    shares = rng.dirichlet(np.full(n_donors, meta.lots_per_donor_concentration))
    counts = 1 + rng.multinomial(n_lots - n_donors, shares)
    donor = np.repeat(np.arange(n_donors), counts)
    n_series = 1 + rng.binomial(
        meta.series_per_donor_max - 1, meta.series_extra_probability, n_donors
    )
    series_donor = np.repeat(np.arange(n_donors), n_series)
    series_first = np.concatenate([[0], np.cumsum(n_series)[:-1]])
    series = series_first[donor] + (rng.random(n_lots) * n_series[donor]).astype(np.int64)
    n_all_series = len(series_donor)
    medium = _choice(rng, MEDIA, meta.medium, n_all_series)
    if shift is not None and shift.factor == "medium":
        for p, levels in enumerate((shift.train, shift.test)):
            members = np.flatnonzero(part[series_donor] == p)
            medium[members] = [
                MEDIA.index(levels[k]) for k in rng.integers(0, len(levels), len(members))
            ]
    culture = _choice(rng, FORMATS, meta.culture_format, n_all_series)
    series_source = source[series_donor]
    pd_rate = np.array([sen.pd_per_passage[SOURCES[s]] for s in series_source])
    pd_rate = np.maximum(pd_rate + rng.normal(0, sen.pd_per_passage_sd, n_all_series), 0.5)

    passages = np.array(sorted(meta.passage_weights))
    passage = passages[_choice(rng, tuple(passages.tolist()), meta.passage_weights, n_lots)]
    passage = np.clip(passage + passage_shift[donor], passages.min(), passages.max()).astype(
        np.int64
    )
    if shift is not None and shift.early_bank_fraction > 0:
        passage = _young_banks(passage, donor, part, shift, int(passages.min()))
    late = passage >= meta.priming_late_passage
    primed = rng.random(n_lots) < np.where(
        late, meta.priming_late_probability, meta.priming_probability
    )
    isolation = _choice(rng, ISOLATIONS, meta.isolation_method, n_lots)
    formulation = _choice(rng, FORMULATIONS, meta.formulation, n_lots)
    fresh = rng.random(n_lots) < meta.fresh_probability
    storage_weeks = np.where(
        fresh, 0.0, np.round(rng.uniform(1, meta.storage_weeks_max, n_lots), 1)
    )
    ft_levels = tuple(sorted(meta.freeze_thaw))
    freeze_thaw = np.array(ft_levels)[_choice(rng, ft_levels, meta.freeze_thaw, n_lots)]
    freeze_thaw = np.where(fresh, 0, freeze_thaw).astype(np.int64)

    cpd = sen.initial_pd + pd_rate[series] * passage + rng.normal(0, sen.lot_pd_sd, n_lots)
    is_3d = culture[series] == FORMATS.index("3D")
    slow = 1 - sen.culture_3d_slowdown * is_3d
    senescence = expit((cpd - cpd50[donor]) / sen.width) * slow
    cpd_p3 = sen.initial_pd + pd_rate[series] * 3
    senescence_p3 = expit((cpd_p3 - cpd50[donor]) / sen.width) * slow
    stress = (
        rng.beta(sen.stress_alpha, sen.stress_beta, n_lots)
        if sen.stress_enabled
        else np.zeros(n_lots)
    )
    acute = (passage <= sen.acute_max_passage) & (rng.random(n_lots) < sen.acute_fraction)
    stress = np.where(
        acute, np.maximum(stress, rng.uniform(sen.acute_min, sen.acute_max, n_lots)), stress
    )
    pc = config.proteome
    medium_lot = medium[series]
    impurity = (
        np.array([pc.impurity_isolation[ISOLATIONS[i]] for i in isolation])
        * np.array([pc.impurity_medium[MEDIA[m]] for m in medium_lot])
        * rng.lognormal(0, pc.impurity_sd, n_lots)
    )

    order = np.lexsort((passage, series, donor))
    width = max(4, len(str(n_lots)))
    donor_width = max(3, len(str(n_donors)))
    lots = pd.DataFrame(
        {
            "lot_id": [f"SIM-L{k:0{width}d}" for k in range(1, n_lots + 1)],
            "donor_id": [f"SIM-D{d + 1:0{donor_width}d}" for d in donor[order]],
            "tissue_source": [SOURCES[s] for s in source[donor[order]]],
            "donor_age": age[donor[order]],
            "passage": passage[order],
            "medium": [MEDIA[m] for m in medium_lot[order]],
            "culture_format": [FORMATS[c] for c in culture[series[order]]],
            "priming": np.where(primed[order], "IFNg_TNF", "none"),
            "isolation_method": [ISOLATIONS[i] for i in isolation[order]],
            "formulation": [FORMULATIONS[f] for f in formulation[order]],
            "storage_weeks": storage_weeks[order],
            "freeze_thaw_cycles": freeze_thaw[order],
            "part": np.where(part[donor[order]] == 1, "test", "train" if shift else "all"),
            "series_id": [f"SIM-S{s + 1:0{donor_width + 1}d}" for s in series[order]],
            "cumulative_pd": cpd[order],
            "cpd50_donor": cpd50[donor[order]],
            "senescence": senescence[order],
            "senescence_at_p3": senescence_p3[order],
            "stress": stress[order],
            "acute_stress": acute[order],
            "impurity": impurity[order],
        }
    )
    if shift is None:
        lots["part"] = "all"
    logger.info(
        "simulated %d lots from %d donors in %d expansion series", n_lots, n_donors, n_all_series
    )
    return lots, donor[order]
