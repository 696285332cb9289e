"""The simulated proteome: the protein universe and the lots' TRUE log2 abundances (§7.4-§7.5).

``build_universe`` draws each protein's module, baseline, senescence and other effects and the
protein-group layout (merged pairs, isoform splits); ``_true_abundance`` turns a lot table
(senescence, stress, priming, impurity, …) into TRUE log2 abundances, lots × proteins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exostab.simulate.panel import (
    CONTAMINANT_GROUPS,
    MODULES,
    PANEL,
    PANEL_GENES,
    SECTION9_GENES,
)
from exostab.simulate.parameters import MEDIA, SOURCES, SimulationConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProteinUniverse:
    """Per-protein truth (one row per protein, panel first) and the protein-group layout."""

    truth: pd.DataFrame
    feature_protein: np.ndarray
    feature_log2_fraction: np.ndarray
    group_start: np.ndarray
    groups: pd.DataFrame


def build_universe(
    config: SimulationConfig, n_proteins: int, rng: np.random.Generator
) -> ProteinUniverse:
    """Draw the protein universe: modules, baselines, effects and the protein-group layout."""
    pc = config.proteome
    n_panel = len(PANEL)
    n_background = n_proteins - n_panel
    index = np.arange(n_proteins)
    background_ids = [f"{k:05d}" for k in range(1, n_background + 1)]
    gene = np.array([*PANEL_GENES, *(f"SIMG{k}" for k in background_ids)], dtype=object)
    accession = np.array(
        [*(e.accession for e in PANEL), *(f"SIMP{k}" for k in background_ids)], dtype=object
    )
    module = np.array([*(e.module for e in PANEL), *["background"] * n_background], dtype=object)
    group = np.array([*(e.contaminant_group for e in PANEL), *[""] * n_background], dtype=object)
    is_panel = index < n_panel
    is_bg = module == "background"
    is_contaminant = module == "contaminant"

    def truncated_mu(size: int) -> np.ndarray:
        mu = rng.normal(pc.mu_mean, pc.mu_sd, size)
        bad = (mu < pc.mu_min) | (mu > pc.mu_max)
        while bad.any():
            mu[bad] = rng.normal(pc.mu_mean, pc.mu_sd, int(bad.sum()))
            bad = (mu < pc.mu_min) | (mu > pc.mu_max)
        return mu

    mu = truncated_mu(n_proteins)
    beta = np.zeros(n_proteins)
    beta[module == "ev_identity"] = rng.normal(
        0, pc.ev_identity_beta_sd, int((module == "ev_identity").sum())
    )
    msc = module == "msc_identity"
    beta[msc] = rng.normal(pc.msc_identity_beta_mean, pc.msc_identity_beta_sd, int(msc.sum()))
    draw = rng.random(n_proteins)
    small = is_bg & ~is_panel & (draw < pc.background_small_fraction)
    large = is_bg & ~is_panel & (draw >= 1 - pc.background_large_fraction)
    beta[small] = rng.normal(0, pc.background_small_sd, int(small.sum()))
    beta[large] = rng.normal(0, pc.background_large_sd, int(large.sum()))
    for j, entry in enumerate(PANEL):
        spec = pc.panel.get(entry.gene)
        if spec is not None and spec.mu is not None:
            mu[j] = spec.mu
        if spec is not None and spec.beta is not None:
            beta[j] = spec.beta

    pot = config.potency
    weight_raw = np.zeros(n_proteins)
    for genes, sign in ((pot.functional_weights, 1.0), (pot.sasp_weights, -1.0)):
        for name, value in genes.items():
            weight_raw[PANEL_GENES.index(name)] = sign * value
    causal = weight_raw != 0
    beta[causal] *= pc.causal_beta_scale
    stress_effect = np.where(module == "sasp", pc.stress_sasp * beta, 0.0)
    stress_effect += np.where(
        module == "functional", pc.stress_functional * np.minimum(beta, 0), 0.0
    )

    source_offsets = np.zeros((len(SOURCES), n_proteins))
    has_source = ~is_panel & (rng.random(n_proteins) < pc.source_fraction)
    source_offsets[:, has_source] = rng.normal(
        0, pc.source_sd, (len(SOURCES), int(has_source.sum()))
    )

    donor_sd = rng.uniform(pc.donor_sd_min, pc.donor_sd_max, n_proteins)
    cluster = np.array([MODULES.index(m) for m in module])
    cluster[~is_panel] = len(MODULES) + rng.integers(0, pc.background_clusters, n_background)
    loading = np.where(
        is_contaminant,
        rng.uniform(pc.contaminant_loading_min, pc.contaminant_loading_max, n_proteins),
        0.0,
    )
    medium_offsets = np.zeros((len(MEDIA), n_proteins))
    for name in CONTAMINANT_GROUPS:
        members = group == name
        for m, medium in enumerate(MEDIA):
            medium_offsets[m, members] = pc.medium_offsets.get(name, {}).get(medium, 0.0)
    priming = np.where(np.isin(gene, list(pc.priming_targets)), pc.priming_effect, 0.0)
    rescue = np.where(module == "functional", pc.priming_rescue, 0.0)
    culture_3d = np.where(module == "functional", pc.culture_3d_functional, 0.0)
    leakage = np.where(
        ~is_panel & (rng.random(n_proteins) < pc.leakage_fraction), pc.freeze_thaw_leakage, 0.0
    )
    passenger = ~causal & (np.abs(beta) >= pc.passenger_min_abs_beta) & ~is_contaminant

    entry_name = np.array(
        [*(e.entry_name for e in PANEL), *(f"{g}_SIM" for g in gene[n_panel:])], dtype=object
    )
    description = np.array(
        [*(e.description for e in PANEL), *(f"Simulated protein {int(k)}" for k in background_ids)],
        dtype=object,
    )
    truth = pd.DataFrame(
        {
            "protein": gene.copy(),
            "accession": accession,
            "gene": gene,
            "entry_name": entry_name,
            "description": description,
            "module": module,
            "contaminant_group": group,
            "causal": causal,
            "weight": 0.0,
            "weight_per_log2": 0.0,
            "reference_sd": np.nan,
            "reference_importance": 0.0,
            "senescence_effect": beta,
            "stress_effect": stress_effect,
            "passenger": passenger,
            "mu": mu,
            "donor_sd": donor_sd,
            "donor_cluster": cluster,
            **{f"source_offset_{s}": source_offsets[i] for i, s in enumerate(SOURCES)},
            "contaminant_loading": loading,
            **{f"medium_offset_{m}": medium_offsets[i] for i, m in enumerate(MEDIA)},
            "priming_effect": priming,
            "priming_rescue": rescue,
            "culture_3d_effect": culture_3d,
            "freeze_thaw_leakage": leakage,
            "relative_weight": weight_raw,
            "group_role": "single",
            "accession_verified": False,
            "accession_source": [
                "research notes §9 [M]" if g in SECTION9_GENES else "background knowledge [M]"
                for g in PANEL_GENES
            ]
            + ["simulated"] * n_background,
        }
    )
    return _group_layout(truth, n_panel, config.measurement.split_merge_fraction, rng)


def _group_layout(
    truth: pd.DataFrame, n_panel: int, fraction: float, rng: np.random.Generator
) -> ProteinUniverse:
    """Give ~``fraction`` of the background proteins split (isoform) or merged protein groups."""
    n_proteins = len(truth)
    n_affected = min(round(fraction * n_proteins), n_proteins - n_panel)
    chosen = rng.permutation(np.arange(n_panel, n_proteins))[:n_affected]
    n_merge_pairs = n_affected // 4
    merge_pairs = chosen[: 2 * n_merge_pairs].reshape(-1, 2)
    merge_pairs.sort(axis=1)
    split = set(chosen[2 * n_merge_pairs :].tolist())
    partner = {int(b): int(a) for a, b in merge_pairs}
    merged_with = {int(a): int(b) for a, b in merge_pairs}
    role = truth["group_role"].to_numpy(copy=True)
    protein_column = truth["protein"].to_numpy(copy=True)

    feature_protein: list[int] = []
    feature_fraction: list[float] = []
    starts: list[int] = []
    rows: list[dict[str, Any]] = []
    fractions = rng.uniform(0.6, 0.9, n_proteins)
    columns = {
        name: truth[name].tolist()
        for name in ("gene", "accession", "description", "entry_name", "accession_source", "mu")
    }
    for j in range(n_proteins):
        if j in partner:
            continue
        members = [j, merged_with[j]] if j in merged_with else [j]
        starts.append(len(feature_protein))
        for m in members:
            feature_protein.append(m)
            feature_fraction.append(fractions[m] if m in split else 1.0)
        genes = ";".join(str(columns["gene"][m]) for m in members)
        rows.append(
            _group_row(columns, members, [str(columns["accession"][m]) for m in members], genes)
        )
        if len(members) == 2:
            role[members] = "merged"
            protein_column[members] = genes
        if j in split:
            role[j] = "split"
            starts.append(len(feature_protein))
            feature_protein.append(j)
            feature_fraction.append(1 - fractions[j])
            isoform = f"{columns['accession'][j]}-2"
            row = _group_row(columns, [j], [isoform], str(columns["gene"][j]))
            row["column"] = f"{columns['gene'][j]}-2"
            row["mu"] += float(np.log2(1 - fractions[j]))
            rows.append(row)
    truth["group_role"] = role
    truth["protein"] = protein_column
    groups = pd.DataFrame(rows)
    groups["n_members"] = groups["members"].map(len)
    logger.info(
        "protein universe: %d proteins (%d named), %d groups (%d merged pairs, %d split)",
        n_proteins,
        n_panel,
        len(groups),
        n_merge_pairs,
        len(split),
    )
    return ProteinUniverse(
        truth=truth,
        feature_protein=np.array(feature_protein, dtype=np.int64),
        feature_log2_fraction=np.log2(np.array(feature_fraction)),
        group_start=np.array(starts, dtype=np.int64),
        groups=groups,
    )


def _group_row(
    truth: dict[str, list[Any]], members: list[int], ids: list[str], genes: str
) -> dict[str, Any]:
    headers = []
    for m, protein_id in zip(members, ids, strict=True):
        gene, description = truth["gene"][m], truth["description"][m]
        if truth["accession_source"][m] == "simulated":
            headers.append(
                f">sim|{protein_id}|{gene}_SIM {description} (SIMULATED, not a real protein) "
                f"OS=Simulated OX=0 GN={gene}"
            )
        else:
            headers.append(
                f">sp|{protein_id}|{truth['entry_name'][m]} {description} "
                f"OS=Homo sapiens OX=9606 GN={gene}"
            )
    return {
        "members": members,
        "protein_ids": ";".join(ids),
        "genes": genes,
        "column": genes,
        "names": ";".join(str(truth["entry_name"][m]) for m in members),
        "description": str(truth["description"][members[0]]),
        "fasta": ";".join(headers),
        "mu": max(float(truth["mu"][m]) for m in members),
    }


def _true_abundance(
    config: SimulationConfig,
    lots: pd.DataFrame,
    donor: np.ndarray,
    n_donors: int,
    truth: pd.DataFrame,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return TRUE log2 abundances x (lots × proteins) following §7.5."""
    pc = config.proteome
    n_lots, n_proteins = len(lots), len(truth)
    cluster = truth["donor_cluster"].to_numpy()
    module_effects = rng.normal(0, pc.donor_module_sd, (n_donors, int(cluster.max()) + 1))
    donor_effects = (
        module_effects[:, cluster]
        + rng.normal(0, 1, (n_donors, n_proteins)) * truth["donor_sd"].to_numpy()
    )

    primed = (lots["priming"] == "IFNg_TNF").to_numpy(dtype=float)
    is_3d = (lots["culture_format"] == "3D").to_numpy(dtype=float)
    source = lots["tissue_source"].map(SOURCES.index).to_numpy()
    medium = lots["medium"].map(MEDIA.index).to_numpy()
    impurity = lots["impurity"].to_numpy()
    hat = (lots["formulation"] == "PBS_HAT").to_numpy()
    ft_load = lots["freeze_thaw_cycles"].to_numpy() * np.where(hat, 1 - pc.hat_protection, 1.0)
    beta = truth["senescence_effect"].to_numpy()
    rescue = truth["priming_rescue"].to_numpy()
    non_contaminant = (truth["module"] != "contaminant").to_numpy(dtype=float)
    source_offsets = truth[[f"source_offset_{s}" for s in SOURCES]].to_numpy().T
    medium_offsets = truth[[f"medium_offset_{m}" for m in MEDIA]].to_numpy().T

    x = rng.normal(0, pc.lot_sd, (n_lots, n_proteins))
    x += truth["mu"].to_numpy()
    x += donor_effects[donor]
    x += source_offsets[source]
    x += medium_offsets[medium]
    x += lots["senescence"].to_numpy()[:, None] * beta * (1 - primed[:, None] * rescue)
    x += np.outer(lots["stress"].to_numpy(), truth["stress_effect"].to_numpy())
    x += np.outer(primed, truth["priming_effect"].to_numpy())
    x += np.outer(is_3d, truth["culture_3d_effect"].to_numpy())
    x += np.outer(impurity, truth["contaminant_loading"].to_numpy())
    x += np.outer(ft_load, truth["freeze_thaw_leakage"].to_numpy())
    # Impurity dilutes EV proteins in a fixed-µg injection.
    x -= np.outer(np.log2(1 + pc.dilution * impurity), non_contaminant)
    return x
