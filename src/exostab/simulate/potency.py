"""Simulated potency and the instability label (§7.8).

``_potency`` builds a latent immunomodulatory capacity from the TRUE abundances of a few causal
proteins plus priming, impurity, donor and lot effects, runs replicate relative-potency assays
against a reference standard and labels the lots (``unstable``, ``p_fail``, drift label);
``PotencyStandard`` is how one world standardises that assay.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import norm

from exostab.simulate.parameters import SimulationConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PotencyStandard:
    """How one simulated world standardises the potency assay (computed on its own lots).

    Later lots of the same world (a SIMULATED post-release stream) reuse it, so their potency
    and their unstable base rate follow the world's, not a standardisation of their own.

    Attributes:
        ref_mean, ref_sd: per causal protein, TRUE log2 mean and SD over the reference lots.
        scale: per latent component, its multiplier (variance shares of §7.8).
        latent_ref: the reference lots' mean latent capacity.
        dose_median: the reference lots' median log dilution (protein dose basis).
    """

    ref_mean: np.ndarray
    ref_sd: np.ndarray
    scale: dict[str, float]
    latent_ref: float
    dose_median: float


def _potency(
    config: SimulationConfig,
    lots: pd.DataFrame,
    x: np.ndarray,
    truth: pd.DataFrame,
    rng: np.random.Generator,
    standard: PotencyStandard | None = None,
) -> tuple[pd.DataFrame, dict[str, float], PotencyStandard]:
    """Latent capacity from TRUE abundances, replicate relative-potency assays and labels (§7.8).

    ``standard`` (from an earlier call on the world's lots) replaces the standardisation over
    these lots; the one used is returned third.
    """
    pot, pc = config.potency, config.proteome
    n_lots = len(lots)
    passage = lots["passage"].to_numpy()
    reference = passage <= pot.reference_max_passage
    if reference.sum() < pot.min_reference_lots:
        logger.info(
            "only %d lots at P<=%d: standardising over all lots",
            reference.sum(),
            pot.reference_max_passage,
        )
        reference = np.ones(n_lots, dtype=bool)
    relative = truth["relative_weight"].to_numpy()
    causal = np.flatnonzero(relative != 0)
    xc = x[:, causal]
    if standard is None:
        ref_mean = xc[reference].mean(axis=0)
        ref_sd = np.maximum(xc[reference].std(axis=0), 0.05)
    else:
        ref_mean, ref_sd = standard.ref_mean, standard.ref_sd
    z = (xc - ref_mean) / ref_sd
    functional = relative[causal] > 0
    raw = {
        "functional": z[:, functional] @ relative[causal][functional],
        "sasp": z[:, ~functional] @ relative[causal][~functional],  # signed: lowers potency
        "priming": (lots["priming"] == "IFNg_TNF").to_numpy(dtype=float),
        "impurity": -lots["impurity"].to_numpy(),
    }
    donor_codes, donor_index = np.unique(lots["donor_id"].to_numpy(), return_inverse=True)
    raw["donor"] = rng.normal(0, 1, len(donor_codes))[donor_index]
    raw["lot"] = rng.normal(0, 1, n_lots)
    shares = pot.shares.model_dump()
    scale: dict[str, float] = {}
    if standard is not None:
        scale = dict(standard.scale)
    else:
        for name, values in raw.items():
            variance = float(values.var())
            scale[name] = math.sqrt(shares[name] / variance) if variance > 1e-12 else 0.0
        # Functional and SASP parts are both driven by senescence, so they covary; rescale their
        # sum jointly so the realised proteomic share matches functional + sasp.
        proteomic = scale["functional"] * raw["functional"] + scale["sasp"] * raw["sasp"]
        joint_variance = float(proteomic.var())
        if joint_variance > 1e-12:
            joint = math.sqrt((shares["functional"] + shares["sasp"]) / joint_variance)
            scale["functional"] *= joint
            scale["sasp"] *= joint
    components = {name: scale[name] * values for name, values in raw.items()}
    latent = sum(components.values())
    assert isinstance(latent, np.ndarray)
    latent_ref = float(latent[reference].mean()) if standard is None else standard.latent_ref
    latent = latent - latent_ref

    coefficient = np.where(functional, scale["functional"], scale["sasp"]) * relative[causal]
    weight = np.zeros(len(truth))
    weight[causal] = coefficient
    truth["weight"] = weight
    truth["weight_per_log2"] = 0.0
    truth.loc[causal, "weight_per_log2"] = coefficient / ref_sd
    truth.loc[causal, "reference_sd"] = ref_sd
    truth["reference_importance"] = 0.0
    truth.loc[causal, "reference_importance"] = np.abs(coefficient) * xc.std(axis=0) / ref_sd

    # Counterfactual: the same lot at passage 3 (for the within-donor drift label).
    primed = raw["priming"]
    beta_c = truth["senescence_effect"].to_numpy()[causal]
    rescue_c = truth["priming_rescue"].to_numpy()[causal]
    per_log2 = coefficient / ref_sd
    delta_s = lots["senescence_at_p3"].to_numpy() - lots["senescence"].to_numpy()
    delta_latent = delta_s * (per_log2 @ beta_c - primed * (per_log2 @ (beta_c * rescue_c)))

    theta0 = float(logit(pot.reference_inhibition / pot.emax))
    diluted = np.log1p(pc.dilution * lots["impurity"].to_numpy())
    dose_median = float(np.median(diluted[reference])) if standard is None else standard.dose_median
    if pot.dose_basis == "particles":
        dose_error = rng.normal(0, pot.nta_log_sd, n_lots)
    else:
        dose_error = -(diluted - dose_median)

    def expected_inhibition(latent_value: np.ndarray) -> np.ndarray:
        return np.asarray(pot.emax * expit(theta0 + pot.slope * latent_value + dose_error))

    inhibition = expected_inhibition(latent)
    expected_rp = inhibition / pot.reference_inhibition
    rp_p3 = expected_inhibition(latent + delta_latent) / pot.reference_inhibition
    sigma_rp = math.sqrt(pot.residual_sd**2 + pot.reference_residual_sd**2 + pot.interaction_sd**2)
    sigma_rp /= pot.reference_inhibition
    sigma_mean = sigma_rp / math.sqrt(pot.n_replicates)
    p_fail = (
        norm.cdf((pot.threshold - expected_rp) / sigma_mean)
        if sigma_mean > 0
        else (expected_rp < pot.threshold).astype(float)
    )

    # Replicate assays: each replicate in a run with its own reference standard and PBMC pool.
    n_runs_per_rep = math.ceil(n_lots / pot.lots_per_assay_run)
    pool_effect = rng.normal(0, pot.pool_sd, pot.n_pbmc_pools)
    observed = np.zeros((n_lots, pot.n_replicates))
    for r in range(pot.n_replicates):
        slot = rng.permutation(n_lots) // pot.lots_per_assay_run
        run = r * n_runs_per_rep + slot
        run_effect = rng.normal(0, pot.run_sd, n_runs_per_rep)[slot]
        pool = run % pot.n_pbmc_pools
        shared = run_effect + pool_effect[pool]
        reference_readout = (
            pot.reference_inhibition
            + shared
            + rng.normal(0, pot.reference_residual_sd, n_runs_per_rep)[slot]
        )
        readout = (
            inhibition
            + shared
            + rng.normal(0, pot.residual_sd, n_lots)
            + rng.normal(0, pot.interaction_sd, n_lots)
        )
        # Run correction against the reference standard's assigned value cancels run and pool.
        observed[:, r] = (
            readout - reference_readout + pot.reference_inhibition
        ) / pot.reference_inhibition
    observed_rp = observed.mean(axis=1)

    lots = lots.copy()
    for name, values in components.items():
        lots[f"{name}_component" if name not in ("donor", "lot") else f"{name}_effect"] = values
    lots["potency_latent"] = latent
    lots["dose_log_error"] = dose_error
    lots["expected_inhibition"] = inhibition
    lots["expected_rp"] = expected_rp
    for r in range(pot.n_replicates):
        lots[f"rp_replicate_{r + 1}"] = observed[:, r]
    lots["observed_rp"] = observed_rp
    lots["p_fail"] = p_fail
    lots["expected_unstable"] = (expected_rp < pot.threshold).astype(int)
    lots["unstable"] = (observed_rp < pot.threshold).astype(int)
    lots["expected_rp_at_p3"] = rp_p3
    lots["drift_unstable"] = (expected_rp < pot.drift_fraction * rp_p3).astype(int)
    variance = float(latent.var())
    realised = {
        f"share_{name}": float(values.var() / variance) if variance > 0 else 0.0
        for name, values in components.items()
    }
    realised["nonproteomic_share"] = float(
        (components["donor"] + components["lot"]).var() / variance
    )
    realised["sigma_rp_single_replicate"] = sigma_rp
    realised["n_reference_lots"] = float(reference.sum())
    logger.info(
        "potency: %.1f%% of lots observed unstable (RP < %.2f), non-proteomic share %.2f",
        100 * lots["unstable"].mean(),
        pot.threshold,
        realised["nonproteomic_share"],
    )
    used = standard or PotencyStandard(
        ref_mean=ref_mean,
        ref_sd=ref_sd,
        scale=scale,
        latent_ref=latent_ref,
        dose_median=dose_median,
    )
    return lots, realised, used
