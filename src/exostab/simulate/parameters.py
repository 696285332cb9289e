"""The simulator's parameters: ``configs/simulate.yaml`` validated, and its scenarios.

Every effect size lives in ``configs/simulate.yaml`` (validated by ``SimulationConfig``); the
scenarios of §7.9 are overrides kept in the same file under ``scenarios:`` and applied by
``load_simulation_config``. The lot-sheet levels the simulator draws from are here too.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from exostab.config import CONFIG_DIR, Frozen, format_validation_error, read_yaml
from exostab.errors import ConfigError, ExostabError
from exostab.simulate.panel import CONTAMINANT_GROUPS, PANEL_GENES

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

Acquisition = Literal["dia", "dda"]


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
