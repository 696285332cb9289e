"""The lot simulator: SIMULATED MSC-exosome lots with known ground truth.

Implements domain-research §7: donors → expansion series → lots → MS runs and potency-assay
runs. A latent senescence state (from cumulative population doublings) moves protein modules;
a latent immunomodulatory capacity is built from the TRUE abundances of a few causal proteins
plus priming, impurity, donor and non-proteomic lot effects; the lot label is the observed
result of a replicate relative-potency assay. Measurement adds MS batches, run-order drift,
loading, intensity-dependent noise, MNAR + MCAR detection and split/merged protein groups, and
the result is written as a lot sheet, a wide protein table, a MaxQuant ``proteinGroups.txt``,
a DIA-NN ``report.pg_matrix.tsv`` and the ground truth.

Every effect size lives in ``configs/simulate.yaml`` (validated by ``SimulationConfig``); the
scenarios of §7.9 are overrides kept in the same file under ``scenarios:``.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from scipy.special import expit, logit
from scipy.stats import norm

from exostab.config import CONFIG_DIR, Frozen, format_validation_error, read_yaml
from exostab.errors import ConfigError, ExostabError

logger = logging.getLogger(__name__)

DEFAULT_SIMULATE_CONFIG = CONFIG_DIR / "simulate.yaml"
SCENARIOS = (
    "base",
    "weak_signal",
    "donor_confounded",
    "batch_confounded",
    "medium_shift",
    "source_shift",
    "dda_dia_shift",
    "invisible_driver",
    "priming_rescue",
    "acute_stress",
    "holdout",
    "builtin",
)
# Scenarios that write DIR/train and DIR/test (disjoint donors); ``holdout`` and ``builtin``
# shift nothing (``builtin``: holdout with young test banks, the data of ``make train``).
SHIFT_SCENARIOS = ("medium_shift", "source_shift", "dda_dia_shift", "holdout", "builtin")
SOURCES = ("BM", "UC", "AT")
MEDIA = ("hPL", "FBS", "serum_free")
FORMATS = ("2D", "microcarrier", "3D")
ISOLATIONS = ("dUC", "TFF_SEC", "SEC", "PEG_UC")
FORMULATIONS = ("PBS", "PBS_HAT")
ACQUISITIONS = ("dia", "dda")
MODULES = ("ev_identity", "msc_identity", "functional", "sasp", "contaminant", "background")
CONTAMINANT_GROUPS = ("plasma", "platelet", "cellular")
MIN_BACKGROUND = 20
MAX_PROTEINS = 50_000

Acquisition = Literal["dia", "dda"]


class PanelEntry(NamedTuple):
    """A named protein of the simulated universe (identifiers from background knowledge)."""

    gene: str
    accession: str
    entry_name: str
    module: str
    description: str
    contaminant_group: str = ""


# Accessions of §9 of the research notes are tagged [M] there; the few not listed in §9 are from
# background knowledge. None is verified against UniProt (truth column accession_verified=false).
PANEL: tuple[PanelEntry, ...] = (
    PanelEntry("CD9", "P21926", "CD9_HUMAN", "ev_identity", "CD9 antigen"),
    PanelEntry("CD63", "P08962", "CD63_HUMAN", "ev_identity", "CD63 antigen"),
    PanelEntry("CD81", "P60033", "CD81_HUMAN", "ev_identity", "CD81 antigen"),
    PanelEntry("TSG101", "Q99816", "TS101_HUMAN", "ev_identity", "Tumor susceptibility gene 101"),
    PanelEntry(
        "PDCD6IP", "Q8WUM4", "PDC6I_HUMAN", "ev_identity", "Programmed cell death 6-interacting"
    ),
    PanelEntry("SDCBP", "O00560", "SDCB1_HUMAN", "ev_identity", "Syntenin-1"),
    PanelEntry("FLOT1", "O75955", "FLOT1_HUMAN", "ev_identity", "Flotillin-1"),
    PanelEntry("FLOT2", "Q14254", "FLOT2_HUMAN", "ev_identity", "Flotillin-2"),
    PanelEntry("HSPA8", "P11142", "HSP7C_HUMAN", "ev_identity", "Heat shock cognate 71 kDa"),
    PanelEntry("ANXA2", "P07355", "ANXA2_HUMAN", "ev_identity", "Annexin A2"),
    PanelEntry("ANXA5", "P08758", "ANXA5_HUMAN", "ev_identity", "Annexin A5"),
    PanelEntry("ITGB1", "P05556", "ITB1_HUMAN", "ev_identity", "Integrin beta-1"),
    PanelEntry("MFGE8", "Q08431", "MFGM_HUMAN", "ev_identity", "Lactadherin"),
    PanelEntry("RAB7A", "P51149", "RAB7A_HUMAN", "ev_identity", "Ras-related protein Rab-7a"),
    PanelEntry("CD47", "Q08722", "CD47_HUMAN", "ev_identity", "Leukocyte surface antigen CD47"),
    PanelEntry("ACTB", "P60709", "ACTB_HUMAN", "background", "Actin, cytoplasmic 1"),
    PanelEntry("GAPDH", "P04406", "G3P_HUMAN", "background", "Glyceraldehyde-3-P dehydrogenase"),
    PanelEntry("NT5E", "P21589", "5NTD_HUMAN", "msc_identity", "5'-nucleotidase (CD73)"),
    PanelEntry("THY1", "P04216", "THY1_HUMAN", "msc_identity", "Thy-1 membrane glycoprotein"),
    PanelEntry("ENG", "P17813", "EGLN_HUMAN", "msc_identity", "Endoglin (CD105)"),
    PanelEntry("CD44", "P16070", "CD44_HUMAN", "msc_identity", "CD44 antigen"),
    PanelEntry("MCAM", "P43121", "MUC18_HUMAN", "msc_identity", "Cell surface glycoprotein MUC18"),
    PanelEntry("NRP1", "O14786", "NRP1_HUMAN", "msc_identity", "Neuropilin-1"),
    PanelEntry("PDGFRB", "P09619", "PGFRB_HUMAN", "msc_identity", "PDGF receptor beta"),
    PanelEntry("ITGA5", "P08648", "ITA5_HUMAN", "msc_identity", "Integrin alpha-5"),
    PanelEntry("TNFAIP6", "P98066", "TSG6_HUMAN", "functional", "TNF-inducible gene 6 protein"),
    PanelEntry("TGFB1", "P01137", "TGFB1_HUMAN", "functional", "TGF-beta-1 proprotein"),
    PanelEntry("LGALS1", "P09382", "LEG1_HUMAN", "functional", "Galectin-1"),
    PanelEntry("CD274", "Q9NZQ7", "PD1L1_HUMAN", "functional", "PD-1 ligand 1"),
    PanelEntry("ANXA1", "P04083", "ANXA1_HUMAN", "functional", "Annexin A1"),
    PanelEntry("IDO1", "P14902", "I23O1_HUMAN", "functional", "Indoleamine 2,3-dioxygenase 1"),
    PanelEntry("PTGS2", "P35354", "PGH2_HUMAN", "functional", "Prostaglandin G/H synthase 2"),
    PanelEntry("GSTM2", "P28161", "GSTM2_HUMAN", "functional", "Glutathione S-transferase Mu 2"),
    PanelEntry("HLA-G", "P17693", "HLAG_HUMAN", "functional", "HLA class I antigen, alpha G"),
    PanelEntry("LGALS3", "P17931", "LEG3_HUMAN", "functional", "Galectin-3"),
    PanelEntry("TGFBI", "Q15582", "BGH3_HUMAN", "functional", "TGF-beta-induced protein ig-h3"),
    PanelEntry("LTBP1", "Q14766", "LTBP1_HUMAN", "functional", "Latent TGF-beta-binding 1"),
    PanelEntry("HGF", "P14210", "HGF_HUMAN", "functional", "Hepatocyte growth factor"),
    PanelEntry("IL6", "P05231", "IL6_HUMAN", "sasp", "Interleukin-6"),
    PanelEntry("CXCL8", "P10145", "IL8_HUMAN", "sasp", "Interleukin-8"),
    PanelEntry("CCL2", "P13500", "CCL2_HUMAN", "sasp", "C-C motif chemokine 2"),
    PanelEntry("MIF", "P14174", "MIF_HUMAN", "sasp", "Macrophage migration inhibitory factor"),
    PanelEntry("SERPINE1", "P05121", "PAI1_HUMAN", "sasp", "Plasminogen activator inhibitor 1"),
    PanelEntry("SERPINE2", "P07093", "GDN_HUMAN", "sasp", "Glia-derived nexin"),
    PanelEntry("IGFBP2", "P18065", "IBP2_HUMAN", "sasp", "IGF-binding protein 2"),
    PanelEntry("IGFBP3", "P17936", "IBP3_HUMAN", "sasp", "IGF-binding protein 3"),
    PanelEntry("IGFBP5", "P24593", "IBP5_HUMAN", "sasp", "IGF-binding protein 5"),
    PanelEntry("IGFBP7", "Q16270", "IBP7_HUMAN", "sasp", "IGF-binding protein 7"),
    PanelEntry("GDF15", "Q99988", "GDF15_HUMAN", "sasp", "Growth/differentiation factor 15"),
    PanelEntry("STC1", "P52823", "STC1_HUMAN", "sasp", "Stanniocalcin-1"),
    PanelEntry("MMP1", "P03956", "MMP1_HUMAN", "sasp", "Interstitial collagenase"),
    PanelEntry("MMP3", "P08254", "MMP3_HUMAN", "sasp", "Stromelysin-1"),
    PanelEntry("TIMP1", "P01033", "TIMP1_HUMAN", "sasp", "Metalloproteinase inhibitor 1"),
    PanelEntry("CST3", "P01034", "CYTC_HUMAN", "sasp", "Cystatin-C"),
    PanelEntry("IFITM3", "Q01628", "IFM3_HUMAN", "sasp", "Interferon-induced TM protein 3"),
    PanelEntry("EPHA2", "P29317", "EPHA2_HUMAN", "sasp", "Ephrin type-A receptor 2"),
    PanelEntry("FN1", "P02751", "FINC_HUMAN", "sasp", "Fibronectin"),
    PanelEntry("THBS1", "P07996", "TSP1_HUMAN", "sasp", "Thrombospondin-1"),
    PanelEntry("ALB", "P02768", "ALBU_HUMAN", "contaminant", "Albumin", "plasma"),
    PanelEntry("APOA1", "P02647", "APOA1_HUMAN", "contaminant", "Apolipoprotein A-I", "plasma"),
    PanelEntry("APOA2", "P02652", "APOA2_HUMAN", "contaminant", "Apolipoprotein A-II", "plasma"),
    PanelEntry("APOB", "P04114", "APOB_HUMAN", "contaminant", "Apolipoprotein B-100", "plasma"),
    PanelEntry("APOE", "P02649", "APOE_HUMAN", "contaminant", "Apolipoprotein E", "plasma"),
    PanelEntry("FGA", "P02671", "FIBA_HUMAN", "contaminant", "Fibrinogen alpha chain", "plasma"),
    PanelEntry("FGB", "P02675", "FIBB_HUMAN", "contaminant", "Fibrinogen beta chain", "plasma"),
    PanelEntry("FGG", "P02679", "FIBG_HUMAN", "contaminant", "Fibrinogen gamma chain", "plasma"),
    PanelEntry("C3", "P01024", "CO3_HUMAN", "contaminant", "Complement C3", "plasma"),
    PanelEntry("A2M", "P01023", "A2MG_HUMAN", "contaminant", "Alpha-2-macroglobulin", "plasma"),
    PanelEntry("SERPINA1", "P01009", "A1AT_HUMAN", "contaminant", "Alpha-1-antitrypsin", "plasma"),
    PanelEntry("IGHG1", "P01857", "IGHG1_HUMAN", "contaminant", "Ig gamma-1 constant", "plasma"),
    PanelEntry("PF4", "P02776", "PLF4_HUMAN", "contaminant", "Platelet factor 4", "platelet"),
    PanelEntry(
        "PPBP", "P02775", "CXCL7_HUMAN", "contaminant", "Platelet basic protein", "platelet"
    ),
    PanelEntry("ITGA2B", "P08514", "ITA2B_HUMAN", "contaminant", "Integrin alpha-IIb", "platelet"),
    PanelEntry("H4C1", "P62805", "H4_HUMAN", "contaminant", "Histone H4", "cellular"),
    PanelEntry("CANX", "P27824", "CALX_HUMAN", "contaminant", "Calnexin", "cellular"),
    PanelEntry("HSP90B1", "P14625", "ENPL_HUMAN", "contaminant", "Endoplasmin", "cellular"),
    PanelEntry("GOLGA2", "Q08379", "GOGA2_HUMAN", "contaminant", "Golgin A2 (GM130)", "cellular"),
    PanelEntry("TOMM20", "Q15388", "TOM20_HUMAN", "contaminant", "TOM20 homolog", "cellular"),
    PanelEntry("CYC1", "P08574", "CY1_HUMAN", "contaminant", "Cytochrome c1", "cellular"),
)
SECTION9_GENES = frozenset(
    [
        "CD9",
        "CD63",
        "CD81",
        "TSG101",
        "PDCD6IP",
        "SDCBP",
        "FLOT1",
        "HSPA8",
        "ANXA1",
        "ANXA2",
        "ANXA5",
        "MFGE8",
        "ITGB1",
        "NT5E",
        "THY1",
        "ENG",
        "CD44",
        "MCAM",
        "NRP1",
        "TNFAIP6",
        "TGFB1",
        "LGALS1",
        "LGALS3",
        "CD274",
        "IDO1",
        "GSTM2",
        "HGF",
        "IL6",
        "CXCL8",
        "CCL2",
        "MIF",
        "SERPINE1",
        "SERPINE2",
        "IGFBP2",
        "IGFBP3",
        "IGFBP5",
        "IGFBP7",
        "GDF15",
        "STC1",
        "MMP1",
        "MMP3",
        "TIMP1",
        "CST3",
        "IFITM3",
        "EPHA2",
        "FN1",
        "CANX",
        "HSP90B1",
        "GOLGA2",
        "TOMM20",
        "ALB",
        "APOA1",
        "APOB",
        "APOE",
        "FGA",
        "FGB",
        "FGG",
        "PF4",
        "PPBP",
    ]
)
PANEL_GENES = tuple(entry.gene for entry in PANEL)

# Rows MaxQuant reports that are not real protein groups of the sample.
MAXQUANT_CONTAMINANTS = (
    ("CON__P00761", "", "TRYP_PIG", "Trypsin (porcine)"),
    ("CON__P04264", "KRT1", "K2C1_HUMAN", "Keratin, type II cytoskeletal 1"),
    ("CON__P35908", "KRT2", "K22E_HUMAN", "Keratin, type II cytoskeletal 2 epidermal"),
    ("CON__P13645", "KRT10", "K1C10_HUMAN", "Keratin, type I cytoskeletal 10"),
    ("CON__P35527", "KRT9", "K1C9_HUMAN", "Keratin, type I cytoskeletal 9"),
)
N_DECOY_ROWS = 5
N_SITE_ONLY_ROWS = 2


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def _check_keys(values: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"unknown levels {unknown}; allowed: {', '.join(allowed)}")


def _check_weights(weights: Mapping[Any, float]) -> Mapping[Any, float]:
    if any(value < 0 for value in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    return weights


class MetadataConfig(Frozen):
    """Lot-sheet distributions of §7.2 (weights need not sum to 1; they are normalised)."""

    tissue_source: dict[str, float] = Field(
        default_factory=lambda: {"BM": 0.40, "UC": 0.35, "AT": 0.25}
    )
    donor_age_min: float = Field(default=20.0, ge=0)
    donor_age_max: float = Field(default=65.0, ge=0)
    passage_weights: dict[int, float] = Field(
        default_factory=lambda: {
            2: 0.03,
            3: 0.14,
            4: 0.16,
            5: 0.15,
            6: 0.14,
            7: 0.10,
            8: 0.08,
            9: 0.07,
            10: 0.06,
            11: 0.04,
            12: 0.03,
        }
    )
    donor_passage_shift_sd: float = Field(default=0.0, ge=0)
    series_per_donor_max: int = Field(default=3, ge=1)
    series_extra_probability: float = Field(default=0.3, ge=0, le=1)
    lots_per_donor_concentration: float = Field(default=3.0, gt=0)
    medium: dict[str, float] = Field(
        default_factory=lambda: {"hPL": 0.5, "FBS": 0.3, "serum_free": 0.2}
    )
    culture_format: dict[str, float] = Field(
        default_factory=lambda: {"2D": 0.60, "microcarrier": 0.25, "3D": 0.15}
    )
    priming_probability: float = Field(default=0.2, ge=0, le=1)
    priming_late_probability: float = Field(default=0.2, ge=0, le=1)
    priming_late_passage: int = Field(default=8, ge=1)
    isolation_method: dict[str, float] = Field(
        default_factory=lambda: {
            "dUC": 0.35,
            "TFF_SEC": 0.35,
            "SEC": 0.15,
            "PEG_UC": 0.15,
        }
    )
    formulation: dict[str, float] = Field(default_factory=lambda: {"PBS": 0.6, "PBS_HAT": 0.4})
    fresh_probability: float = Field(default=0.15, ge=0, le=1)
    storage_weeks_max: float = Field(default=52.0, ge=1)
    freeze_thaw: dict[int, float] = Field(
        default_factory=lambda: {0: 0.50, 1: 0.30, 2: 0.15, 3: 0.05}
    )

    _weights = field_validator(
        "tissue_source",
        "passage_weights",
        "medium",
        "culture_format",
        "isolation_method",
        "formulation",
        "freeze_thaw",
    )(_check_weights)

    @field_validator("passage_weights")
    @classmethod
    def _passages_in_range(cls, weights: dict[int, float]) -> dict[int, float]:
        if any(not 1 <= passage <= 30 for passage in weights):
            raise ValueError("passages must lie in 1..30")
        return weights

    @model_validator(mode="after")
    def _levels(self) -> MetadataConfig:
        _check_keys(self.tissue_source, SOURCES)
        _check_keys(self.medium, MEDIA)
        _check_keys(self.culture_format, FORMATS)
        _check_keys(self.isolation_method, ISOLATIONS)
        _check_keys(self.formulation, FORMULATIONS)
        return self


class SenescenceConfig(Frozen):
    """Latent senescence of §7.3; midpoints in cumulative population doublings (PD)."""

    pd_per_passage: dict[str, float] = Field(
        default_factory=lambda: {"BM": 2.0, "UC": 2.8, "AT": 2.0}
    )
    pd_per_passage_sd: float = Field(default=0.4, ge=0)
    initial_pd: float = 3.0
    lot_pd_sd: float = Field(default=1.0, ge=0)
    midpoint: dict[str, float] = Field(default_factory=lambda: {"BM": 22.0, "UC": 34.0, "AT": 24.0})
    width: float = Field(default=5.0, gt=0)
    age_slope: float = Field(default=0.15, ge=0)
    age_pivot: float = 40.0
    donor_sd: float = Field(default=3.0, ge=0)
    culture_3d_slowdown: float = Field(default=0.3, ge=0, le=1)
    stress_alpha: float = Field(default=1.0, gt=0)
    stress_beta: float = Field(default=12.0, gt=0)
    stress_enabled: bool = True
    acute_fraction: float = Field(default=0.0, ge=0, le=1)
    acute_max_passage: int = Field(default=5, ge=1)
    acute_min: float = Field(default=0.6, ge=0, le=1)
    acute_max: float = Field(default=1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _levels(self) -> SenescenceConfig:
        for values in (self.pd_per_passage, self.midpoint):
            if set(values) != set(SOURCES):
                raise ValueError(f"give a value for each source: {', '.join(SOURCES)}")
        return self


class PanelProtein(Frozen):
    """Baseline (log2) and senescence effect of one named protein; ``beta`` None = module draw."""

    mu: float | None = None
    beta: float | None = None


class ProteomeConfig(Frozen):
    """Protein universe, modules and true-abundance model of §7.4-§7.5 (log2 units)."""

    mu_mean: float = 24.0
    mu_sd: float = Field(default=3.0, gt=0)
    mu_min: float = 14.0
    mu_max: float = 36.0
    donor_sd_min: float = Field(default=0.25, ge=0)
    donor_sd_max: float = Field(default=0.6, ge=0)
    donor_module_sd: float = Field(default=0.2, ge=0)
    background_clusters: int = Field(default=20, ge=1)
    lot_sd: float = Field(default=0.2, ge=0)
    ev_identity_beta_sd: float = Field(default=0.15, ge=0)
    msc_identity_beta_mean: float = -0.3
    msc_identity_beta_sd: float = Field(default=0.2, ge=0)
    background_small_fraction: float = Field(default=0.10, ge=0, le=1)
    background_small_sd: float = Field(default=0.3, ge=0)
    background_large_fraction: float = Field(default=0.05, ge=0, le=1)
    background_large_sd: float = Field(default=0.7, ge=0)
    passenger_min_abs_beta: float = Field(default=0.58, ge=0)
    causal_beta_scale: float = Field(default=1.0, ge=0)
    source_fraction: float = Field(default=0.05, ge=0, le=1)
    source_sd: float = Field(default=0.8, ge=0)
    stress_sasp: float = Field(default=1.0, ge=0)
    stress_functional: float = Field(default=0.5, ge=0)
    priming_effect: float = 1.0
    priming_targets: tuple[str, ...] = ("CD274", "IDO1", "TGFB1", "PTGS2")
    priming_rescue: float = Field(default=0.5, ge=0, le=1)
    culture_3d_functional: float = 0.3
    impurity_isolation: dict[str, float] = Field(
        default_factory=lambda: {
            "TFF_SEC": 0.2,
            "SEC": 0.3,
            "dUC": 0.5,
            "PEG_UC": 1.0,
        }
    )
    impurity_medium: dict[str, float] = Field(
        default_factory=lambda: {"hPL": 1.3, "FBS": 1.0, "serum_free": 0.6}
    )
    impurity_sd: float = Field(default=0.3, ge=0)
    dilution: float = Field(default=0.5, ge=0)
    contaminant_loading_min: float = 1.0
    contaminant_loading_max: float = 3.0
    medium_offsets: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "plasma": {"hPL": 1.0, "FBS": 0.0, "serum_free": -1.0},
            "platelet": {"hPL": 1.5, "FBS": -1.0, "serum_free": -1.5},
            "cellular": {"hPL": 0.0, "FBS": 0.0, "serum_free": 0.0},
        }
    )
    freeze_thaw_leakage: float = 0.2
    leakage_fraction: float = Field(default=0.03, ge=0, le=1)
    hat_protection: float = Field(default=0.5, ge=0, le=1)
    panel: dict[str, PanelProtein] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ProteomeConfig:
        unknown = sorted(set(self.panel) - set(PANEL_GENES))
        if unknown:
            raise ValueError(f"panel: unknown genes {unknown}")
        bad_targets = sorted(set(self.priming_targets) - set(PANEL_GENES))
        if bad_targets:
            raise ValueError(f"priming_targets: unknown genes {bad_targets}")
        if self.mu_min >= self.mu_max or self.donor_sd_min > self.donor_sd_max:
            raise ValueError("mu_min < mu_max and donor_sd_min <= donor_sd_max are required")
        if self.contaminant_loading_min > self.contaminant_loading_max:
            raise ValueError("contaminant_loading_min must not exceed contaminant_loading_max")
        if set(self.impurity_isolation) != set(ISOLATIONS) or set(self.impurity_medium) != set(
            MEDIA
        ):
            raise ValueError("impurity_isolation/impurity_medium need a value for every level")
        _check_keys(self.medium_offsets, CONTAMINANT_GROUPS)
        for offsets in self.medium_offsets.values():
            _check_keys(offsets, MEDIA)
        return self


class MeasurementConfig(Frozen):
    """MS measurement model of §7.7 (log2 units); keyed by acquisition where it differs."""

    batch_size: int = Field(default=24, ge=1)
    batch_protein_sd: float = Field(default=0.25, ge=0)
    batch_offset_sd: float = Field(default=0.3, ge=0)
    drift_slope_sd: float = Field(default=0.01, ge=0)
    loading_sd: float = Field(default=0.3, ge=0)
    raw_scale_sd: float = Field(default=0.2, ge=0)
    noise_floor: dict[str, float] = Field(default_factory=lambda: {"dia": 0.12, "dda": 0.25})
    noise_low_intensity: float = Field(default=0.4, ge=0)
    noise_pivot: float = 18.0
    noise_scale: float = Field(default=4.0, gt=0)
    detection_slope: dict[str, float] = Field(default_factory=lambda: {"dia": 2.5, "dda": 1.5})
    detection_threshold: dict[str, float] = Field(
        default_factory=lambda: {"dia": 19.0, "dda": 23.0}
    )
    threshold_batch_sd: float = Field(default=0.3, ge=0)
    mcar: dict[str, float] = Field(default_factory=lambda: {"dia": 0.01, "dda": 0.03})
    split_merge_fraction: float = Field(default=0.02, ge=0, le=0.5)
    confound_batch_with_passage: float = Field(default=0.0, ge=0, le=1)

    @field_validator("noise_floor", "detection_slope", "detection_threshold", "mcar")
    @classmethod
    def _both_acquisitions(cls, values: dict[str, float]) -> dict[str, float]:
        if set(values) != set(ACQUISITIONS):
            raise ValueError("give a value for both dia and dda")
        return values


class PotencyShares(Frozen):
    """Target shares of Var(latent potency) per component (sum to 1)."""

    functional: float = Field(default=0.35, ge=0)
    sasp: float = Field(default=0.30, ge=0)
    priming: float = Field(default=0.02, ge=0)
    impurity: float = Field(default=0.03, ge=0)
    donor: float = Field(default=0.12, ge=0)
    lot: float = Field(default=0.18, ge=0)

    @model_validator(mode="after")
    def _sum_to_one(self) -> PotencyShares:
        total = sum(self.model_dump().values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"shares must sum to 1 (got {total:g})")
        return self


class PotencyConfig(Frozen):
    """Latent potency, assay and labels of §7.8."""

    functional_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "TNFAIP6": 0.30,
            "LGALS1": 0.15,
            "GSTM2": 0.15,
            "CD274": 0.12,
            "NT5E": 0.10,
            "IDO1": 0.10,
            "TGFB1": 0.08,
        }
    )
    sasp_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "IL6": 0.30,
            "SERPINE1": 0.25,
            "GDF15": 0.20,
            "MMP3": 0.15,
            "IFITM3": 0.10,
        }
    )
    shares: PotencyShares = Field(default_factory=PotencyShares)
    reference_max_passage: int = Field(default=4, ge=1)
    min_reference_lots: int = Field(default=10, ge=2)
    emax: float = Field(default=60.0, gt=0)
    reference_inhibition: float = Field(default=37.0, gt=0)
    slope: float = Field(default=0.75, ge=0)
    dose_basis: Literal["particles", "protein"] = "particles"
    nta_log_sd: float = Field(default=0.15, ge=0)
    run_sd: float = Field(default=5.0, ge=0)
    pool_sd: float = Field(default=5.0, ge=0)
    residual_sd: float = Field(default=4.0, ge=0)
    reference_residual_sd: float = Field(default=4.0, ge=0)
    interaction_sd: float = Field(default=5.0, ge=0)
    n_replicates: int = Field(default=3, ge=1)
    lots_per_assay_run: int = Field(default=10, ge=1)
    n_pbmc_pools: int = Field(default=6, ge=1)
    threshold: float = Field(default=0.70, gt=0)
    drift_fraction: float = Field(default=0.70, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> PotencyConfig:
        for name, weights in (("functional", self.functional_weights), ("sasp", self.sasp_weights)):
            unknown = sorted(set(weights) - set(PANEL_GENES))
            if unknown:
                raise ValueError(f"{name}_weights: unknown genes {unknown}")
            if any(value < 0 for value in weights.values()):
                raise ValueError(f"{name}_weights: give magnitudes (>= 0); the sign is implied")
        overlap = sorted(set(self.functional_weights) & set(self.sasp_weights))
        if overlap:
            raise ValueError(f"genes in both functional and sasp weights: {overlap}")
        if self.reference_inhibition >= self.emax:
            raise ValueError("reference_inhibition must be below emax")
        return self


class ShiftConfig(Frozen):
    """A train/test shift: disjoint donors, the factor fixed to ``train`` vs ``test`` levels."""

    factor: Literal["medium", "tissue_source", "acquisition", "none"]
    train: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    test_fraction: float = Field(default=0.3, gt=0, lt=1)
    # Young banks: this share of the test donors has every lot at an early passage (2 up to
    # ``early_bank_max_passage``), so a forecast has passages ahead of what was measured.
    early_bank_fraction: float = Field(default=0.0, ge=0, le=1)
    early_bank_max_passage: int = Field(default=5, ge=2)

    @model_validator(mode="after")
    def _levels(self) -> ShiftConfig:
        if self.factor == "none":
            return self
        allowed = {"medium": MEDIA, "tissue_source": SOURCES, "acquisition": ACQUISITIONS}
        levels = allowed[self.factor]
        bad = sorted(set(self.train + self.test) - set(levels))
        if bad or not self.train or not self.test:
            raise ValueError(f"{self.factor} levels must be non-empty subsets of {levels}")
        return self


class SimulationConfig(Frozen):
    """The resolved simulator parameters (written to ``simulation.yaml``)."""

    metadata: MetadataConfig = Field(default_factory=MetadataConfig)
    senescence: SenescenceConfig = Field(default_factory=SenescenceConfig)
    proteome: ProteomeConfig = Field(default_factory=ProteomeConfig)
    measurement: MeasurementConfig = Field(default_factory=MeasurementConfig)
    potency: PotencyConfig = Field(default_factory=PotencyConfig)
    shift: ShiftConfig | None = None


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_simulation_config(path: Path | None = None, scenario: str = "base") -> SimulationConfig:
    """Load the simulator config and apply one scenario's overrides (``scenarios.<name>``)."""
    if scenario not in SCENARIOS:
        raise ExostabError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    path = Path(path) if path is not None else DEFAULT_SIMULATE_CONFIG
    raw = read_yaml(path)
    scenarios = raw.pop("scenarios", None) or {}
    if not isinstance(scenarios, dict):
        raise ConfigError(
            "scenarios: expected a mapping of scenario name to overrides", where=str(path)
        )
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ConfigError(f"scenarios: unknown scenario names {unknown}", where=str(path))
    override = scenarios.get(scenario) or {}
    if not isinstance(override, dict):
        raise ConfigError(f"scenarios.{scenario}: expected a mapping", where=str(path))
    try:
        config = SimulationConfig.model_validate(_merge(raw, override))
    except ValidationError as error:
        raise ConfigError(format_validation_error(error), where=str(path)) from None
    if (scenario in SHIFT_SCENARIOS) != (config.shift is not None):
        raise ConfigError(
            f"scenario {scenario!r} needs a 'shift' block exactly when it is a shift scenario "
            f"({', '.join(SHIFT_SCENARIOS)})",
            where=str(path),
        )
    return config


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProteinUniverse:
    """Per-protein truth (one row per protein, panel first) and the protein-group layout."""

    truth: pd.DataFrame
    feature_protein: np.ndarray
    feature_log2_fraction: np.ndarray
    group_start: np.ndarray
    groups: pd.DataFrame


@dataclass(frozen=True)
class Biology:
    """Lots (metadata + latent truth) and their TRUE log2 abundances (lots × proteins)."""

    lots: pd.DataFrame
    true_log2: np.ndarray
    universe: ProteinUniverse
    realised: dict[str, float]
    standard: PotencyStandard | None = None


@dataclass(frozen=True)
class Measurement:
    """The MS view of one part: protein-group intensities (0 = missing), runs in run order."""

    lot_index: np.ndarray
    runs: pd.DataFrame
    lfq: np.ndarray
    raw: np.ndarray
    reported: np.ndarray
    acquisition: str


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
# Biology
# --------------------------------------------------------------------------------------------


def _choice(
    rng: np.random.Generator, levels: tuple[Any, ...], weights: Mapping[Any, float], size: int
) -> np.ndarray:
    p = np.array([float(weights.get(level, 0.0)) for level in levels])
    if p.sum() <= 0:
        raise ConfigError(f"no positive weight among {levels}")
    return rng.choice(len(levels), size=size, p=p / p.sum())


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


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Writing
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
MAXQUANT_ANNOTATIONS = (
    "Protein IDs",
    "Majority protein IDs",
    "Gene names",
    "Fasta headers",
    "Peptides",
    "Razor + unique peptides",
    "Unique peptides",
    "Q-value",
    "Score",
    "Only identified by site",
    "Reverse",
    "Potential contaminant",
    "id",
)
DIANN_ANNOTATIONS = (
    "Protein.Group",
    "Protein.Ids",
    "Protein.Names",
    "Genes",
    "First.Protein.Description",
)


def _cells(row: np.ndarray, missing: str | None) -> list[str]:
    cells = list(map(str, row.tolist()))
    if missing is not None:
        for k in np.flatnonzero(row == 0).tolist():
            cells[k] = missing
    return cells


def _write_matrix(
    path: Path,
    header: list[str],
    annotations: list[list[str]],
    matrix: np.ndarray,
    sep: str,
    missing: str | None,
) -> None:
    """Write annotation cells + an integer matrix (0 = missing) fast, one line per row."""
    with path.open("w", newline="\n") as handle:
        handle.write(sep.join(header) + "\n")
        for cells, row in zip(annotations, matrix, strict=True):
            handle.write(sep.join([*cells, *_cells(row, missing)]) + "\n")


def _identification_stats(groups: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    mu = groups["mu"].to_numpy()
    peptides = np.maximum(np.round(1 + 0.9 * (mu - 15) + rng.normal(0, 1.5, len(mu))), 1).astype(
        np.int64
    )
    razor = peptides - rng.binomial(np.maximum(peptides - 1, 0), 0.1)
    unique = razor - rng.binomial(np.maximum(razor - 1, 0), 0.1)
    q_value = np.where(peptides >= 2, 0.0, np.round(rng.uniform(0, 0.01, len(mu)), 5))
    score = np.round(10 * peptides + rng.uniform(0, 25, len(mu)), 3)
    return pd.DataFrame(
        {"peptides": peptides, "razor": razor, "unique": unique, "q": q_value, "score": score}
    )


def _maxquant_extras(
    n_runs: int, universe: ProteinUniverse, rng: np.random.Generator
) -> tuple[list[list[str]], np.ndarray]:
    """Decoy, common-contaminant and site-only rows MaxQuant reports (none is in proteins.csv)."""
    rows: list[list[str]] = []
    values: list[np.ndarray] = []

    def intensities(level: float, present: float) -> np.ndarray:
        drawn = np.round(np.exp2(rng.normal(level, 1.0, n_runs)))
        return np.where(rng.random(n_runs) < present, np.maximum(drawn, 1), 0).astype(np.int64)

    for accession, gene, entry, description in MAXQUANT_CONTAMINANTS:
        header = f">{accession[5:]} {entry} {description} (common contaminant)"
        score = f"{rng.uniform(50, 300):.3f}"
        rows.append([accession, accession, gene, header, "8", "8", "8", "0", score, "", "", "+"])
        values.append(intensities(26.0, 0.9))
    truth = universe.truth
    simulated = truth.index[truth["accession_source"] == "simulated"].to_numpy()
    for k in rng.choice(simulated, N_DECOY_ROWS, replace=False):
        accession = f"REV__{truth['accession'].iloc[int(k)]}"
        rows.append(
            [
                accession,
                accession,
                "",
                "",
                "1",
                "1",
                "1",
                f"{rng.uniform(0.005, 0.01):.5f}",
                f"{rng.uniform(1, 8):.3f}",
                "",
                "+",
                "",
            ]
        )
        values.append(intensities(17.0, 0.3))
    n_simulated = len(simulated)
    for k in range(N_SITE_ONLY_ROWS):
        number = f"{n_simulated + 1 + k:05d}"
        header = (
            f">sim|SIMP{number}|SIMG{number}_SIM Simulated protein {int(number)} "
            f"(SIMULATED, not a real protein) OS=Simulated OX=0 GN=SIMG{number}"
        )
        rows.append(
            [
                f"SIMP{number}",
                f"SIMP{number}",
                f"SIMG{number}",
                header,
                "1",
                "1",
                "1",
                "0",
                f"{rng.uniform(5, 15):.3f}",
                "+",
                "",
                "",
            ]
        )
        values.append(intensities(18.0, 0.5))
    return rows, np.vstack(values)


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

Generator : exostab lot simulator (src/exostab/simulate.py; parameters configs/simulate.yaml)
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
