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

Modules: ``panel`` (named proteins), ``parameters`` (config and scenarios), ``world`` (donors,
series, lots, passages), ``proteome`` (protein universe, TRUE abundances), ``potency``
(potency assay, instability label), ``measurement`` (LC-MS), ``formats`` (MaxQuant/DIA-NN
layouts), ``writers`` (``write_simulation`` and its files), ``release`` (post-release streams).
"""

from exostab.simulate.parameters import (
    DEFAULT_SIMULATE_CONFIG,
    SCENARIOS,
    SHIFT_SCENARIOS,
    SimulationConfig,
    load_simulation_config,
)
from exostab.simulate.writers import SimulationSummary, write_simulation

__all__ = [
    "DEFAULT_SIMULATE_CONFIG",
    "SCENARIOS",
    "SHIFT_SCENARIOS",
    "SimulationConfig",
    "SimulationSummary",
    "load_simulation_config",
    "write_simulation",
]
