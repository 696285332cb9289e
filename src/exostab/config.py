"""Configuration: YAML files under ``configs/`` validated once by frozen pydantic models."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exostab.errors import ConfigError

# The default configs are package data: ``exostab/configs/`` holds them in an installed wheel;
# in a checkout it is a symbolic link to the top-level ``configs/`` (one copy of each file,
# edited where the project layout puts it; the wheel build copies the files themselves).
CONFIG_DIR = Path(__file__).with_name("configs")
# The checkout this module runs from (for the git commit a run records); meaningless once
# installed from a wheel. Stores and generated data go under the working folder instead
# (``registry.store_uri``, ``work_folder``).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRAIN_CONFIG = CONFIG_DIR / "train.yaml"
DEFAULT_VOCABULARY = CONFIG_DIR / "vocabulary.yaml"

METADATA_COLUMNS = (
    "donor_id",
    "tissue_source",
    "donor_age",
    "medium",
    "culture_format",
    "priming",
    "isolation_method",
    "formulation",
    "ms_batch",
    "freeze_thaw_cycles",
    "storage_weeks",
    "ms_run",
)
NUMERIC_METADATA = ("passage", "donor_age", "freeze_thaw_cycles", "storage_weeks")


# numpy, sklearn and LightGBM take seeds in 0..2**32 - 1; a larger or negative one is refused
# here, not by a traceback from a worker process.
MAX_SEED = 2**32 - 1


def takes_yes_no(annotation: Any) -> bool:
    """Whether a field's type admits ``true``/``false`` (``bool``, ``bool | None``, ``Any``)."""
    if annotation is bool or annotation is Any:
        return True
    return any(takes_yes_no(arg) for arg in get_args(annotation))


class Frozen(BaseModel):
    """Base of every config model: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_yes_no_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads YAML `true` as 1 (and 1.0) where a number belongs: `inner_repeats: true`
        # or `learning_rate: yes` would train silently on a value nobody wrote.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and not takes_yes_no(field.annotation):
            raise ValueError(f"{str(value).lower()} is a yes/no value, not a number")
        return value


class DataConfig(Frozen):
    label: str = "unstable"
    group: str = "donor_id"
    # raw: intensities (log2-transformed in the pipeline); log2: values already log2
    # (Perseus exports, log2 ratios such as CPTAC's), used as they are.
    scale: Literal["raw", "log2"] = "raw"
    # DIA-NN long reports: largest Q.Value / PG.Q.Value / Lib.PG.Q.Value kept (1.0: no filter).
    q_value: float = Field(0.01, gt=0, le=1)
    # Contaminant library applied by accession next to the CON__/Cont_ prefixes: builtin
    # (Frankenfield et al. 2022), builtin+hpl (plus hPL plasma/platelet proteins), none, or a
    # path to a table whose first column holds UniProt accessions.
    contaminants: str = "builtin"
    metadata_features: tuple[str, ...] = (
        "passage",
        "tissue_source",
        "donor_age",
        "medium",
        "culture_format",
        "isolation_method",
        "freeze_thaw_cycles",
    )


class FeatureConfig(Frozen):
    missing: Literal["native", "floor"] = "native"
    missing_indicators: bool = False
    screen_adjust_passage: bool = True
    module_scores: bool = True
    panels: str = "configs/panels.yaml"


class Candidate(Frozen):
    """One structure the inner grouped CV may choose: a learner and its preprocessing."""

    learner: Literal["prior", "trees", "linear", "blend", "average"]
    # The prior's inputs: passage alone, or passage and every other metadata feature. Donor-level
    # covariates (age, tissue) fitted on ~45 donors need not carry over to new donors, so the
    # inner donor-grouped CV decides whether they enter.
    prior: Literal["passage", "metadata"] = "metadata"
    normalisation: Literal["median", "none"] = "median"
    detection_min_rate: float = Field(0.5, ge=0.0, le=1.0)
    screen_top_k: int | None = Field(None, ge=1)
    linear_c: float = Field(0.01, gt=0)
    # Offered only when the training lots number at least this (None: always): an outer
    # fold's training lots in the CV, every lot in the final fit (as min_lots_for_trees).
    # Every extra candidate is one more chance for the inner CV to choose noise, and on a few
    # dozen lots that chance is large (Cawley & Talbot 2010, JMLR 11:2079, "over-fitting in
    # model selection").
    min_lots: int | None = Field(None, ge=1)

    @property
    def label(self) -> str:
        """A short readable name, e.g. ``trees/median/det0.5/top100``."""
        parts: list[str] = [self.learner]
        if self.prior == "passage":
            parts.append("passage-prior")
        if self.learner != "prior":
            parts += [self.normalisation, f"det{self.detection_min_rate:g}"]
            if self.screen_top_k:
                parts.append(f"top{self.screen_top_k}")
            if self.learner in ("linear", "blend", "average"):
                parts.append(f"C{self.linear_c:g}")
        return "/".join(parts)

    @property
    def preprocessing(self) -> tuple[str, float, int | None]:
        """The settings of the feature steps (candidates sharing them share preprocessing)."""
        return (self.normalisation, self.detection_min_rate, self.screen_top_k)


DEFAULT_CANDIDATES = (
    Candidate(learner="prior"),
    Candidate(learner="trees"),
    Candidate(learner="linear"),
    Candidate(learner="blend"),
)


class SearchConfig(Frozen):
    """The structures chosen by inner donor-grouped CV, nested in each outer fold."""

    inner_splits: int = Field(3, ge=2)
    inner_repeats: int = Field(1, ge=1, le=50)
    metric: Literal["roc_auc", "log_loss"] = "roc_auc"
    candidates: tuple[Candidate, ...] = DEFAULT_CANDIDATES
    min_lots_for_trees: int = Field(30, ge=1)
    min_lots: int = Field(30, ge=1)
    min_donors: int = Field(8, ge=2)

    @model_validator(mode="after")
    def _not_empty(self) -> SearchConfig:
        if not self.candidates:
            raise ValueError("search.candidates needs at least one candidate")
        return self


class ModelConfig(Frozen):
    max_rounds: int = Field(150, ge=1)
    learning_rate: float = Field(0.1, gt=0, le=1)
    num_leaves: int = Field(4, ge=2)
    min_child_samples: int | None = Field(None, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    subsample_freq: int = Field(1, ge=0)
    colsample_bytree: float = Field(0.5, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    prior_c: float = Field(1.0, gt=0)
    blend_weight: float = Field(0.5, ge=0, le=1)
    trees_see_metadata: bool = True


class CVConfig(Frozen):
    scheme: Literal["group_kfold", "leave_one_group_out", "time_ordered"] = "group_kfold"
    n_splits: int = Field(5, ge=2)
    time_column: str | None = None
    dayfirst: bool = False  # dates in time_column as dd/mm/yyyy (default: ISO yyyy-mm-dd only)
    naive_gap: bool = True
    baselines: bool = True


class CalibrationConfig(Frozen):
    method: Literal["auto", "platt", "isotonic", "none"] = "auto"


class DecisionConfig(Frozen):
    cost_release_unstable: float = Field(3.0, gt=0)
    cost_reject_stable: float = Field(1.0, gt=0)
    low_band_factor: float = Field(0.5, gt=0, lt=1)


class GateConfig(Frozen):
    min_cv_roc_auc: float = Field(0.6, ge=0, le=1)
    n_bootstrap: int = Field(1000, ge=100)
    min_risk_spread: float = Field(0.02, ge=0, le=1)


class ExplainConfig(Frozen):
    top_k: int = Field(5, ge=1)
    stability_k: int = Field(12, ge=1)
    n_dependence: int = Field(4, ge=0)
    n_waterfall: int = Field(3, ge=0)


class TrainConfig(Frozen):
    """The resolved configuration of one training run (logged to mlflow)."""

    experiment: str = "exostab"
    model_name: str = "exostab"
    seed: int = Field(7, ge=0, le=MAX_SEED)
    data: DataConfig = DataConfig()
    features: FeatureConfig = FeatureConfig()
    model: ModelConfig = ModelConfig()
    search: SearchConfig = SearchConfig()
    cv: CVConfig = CVConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    decision: DecisionConfig = DecisionConfig()
    gate: GateConfig = GateConfig()
    explain: ExplainConfig = ExplainConfig()

    @model_validator(mode="after")
    def _passage_is_a_feature(self) -> TrainConfig:
        if "passage" not in self.data.metadata_features:
            raise ValueError("data.metadata_features must include 'passage'")
        if self.cv.scheme == "time_ordered" and not self.cv.time_column:
            raise ValueError("cv.scheme time_ordered needs cv.time_column (a lot-sheet column)")
        return self


def work_folder() -> Path:
    """The folder exostab keeps its store (``mlruns/``) and built-in data (``data/``) in: the
    current working folder, so an installed ``exostab`` works from any folder and ``make train``
    in a checkout keeps writing to the checkout."""
    return Path.cwd()


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning any failure into a ConfigError naming the file."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"cannot read config ({error.strerror})", where=str(path)) from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"not valid YAML ({error})", where=str(path)) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError("expected a mapping of keys to values", where=str(path))
    return loaded


def format_validation_error(error: ValidationError) -> str:
    """Render pydantic errors as 'key.path: problem' lines."""
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        message = message.removeprefix("Value error, ")  # our own validators' words stand alone
        parts.append(f"{location}: {message}")
    return "; ".join(parts)


def load_train_config(path: Path | None = None, **overrides: Any) -> TrainConfig:
    """Load and validate the training config; ``overrides`` are dotted keys set from the CLI."""
    path = Path(path) if path else DEFAULT_TRAIN_CONFIG
    raw = read_yaml(path) if path.exists() or path != DEFAULT_TRAIN_CONFIG else {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error), where=str(path)) from None


DEFAULT_MONITOR_CONFIG = CONFIG_DIR / "monitor.yaml"


class MonitorConfig(Frozen):
    """The alarm rule of ``exostab monitor`` (``configs/monitor.yaml``, section ``monitor:``).

    Attributes:
        experiment: mlflow experiment of the monitoring runs.
        confidence: level of the intervals shown (AUROC, calibration).
        alpha: family-wise error rate of the whole verdict: every check (AUROC, calibration,
            lot sheet, driver proteins, other proteins, domain) on all lots and in every time
            window gives one p-value, and Holm's step-down correction (Holm 1979, Scand J Stat
            6:65) over all of them at ``alpha`` decides which checks fail.
        fdr: Benjamini-Hochberg false discovery rate inside a failing drift check: the columns
            or proteins it names.
        min_outcomes: lots with an assay outcome needed before performance is judged (on all
            lots or in a window).
        min_window_lots: lots a time window needs to be checked on its own.
        min_auroc_drop: an AUROC check fails only when the AUROC is also this far below CV.
        min_calibration_gap: a calibration check fails only when observed minus predicted
            moved at least this far from its cross-validated value.
        min_metadata_effect: a metadata column drifts when its test passes the FDR and its
            shift is at least this (total variation distance of the categories, or the KS
            statistic of a number column).
        min_protein_effect: the same for a protein: its median log2 value moved by at least
            this many training SDs, or its detected share by this × 0.3.
        n_drivers: the model's top proteins (mean |attribution| on the training lots) that
            count as drivers.
        min_driver_proteins: drifted driver proteins that raise the alarm.
        min_other_share: share of the other proteins that must drift to raise the alarm.
        max_outside_domain: share of lots outside the training domain that raises the alarm
            (when also above the expected 1% with the interval above). Counted over the lots
            that measured at least half of the model's proteins: the domain score of a lot
            that measured fewer cannot place it.
        max_not_assessable: share of lots the model answers ``not assessable`` (too few of
            its proteins measured, or far outside the training domain) that raises the
            alarm, when also above the expected 1% (one-sided binomial test, Holm as above).
    """

    experiment: str = "exostab-monitoring"
    confidence: float = Field(0.95, gt=0.5, lt=1)
    alpha: float = Field(0.01, gt=0, lt=1)
    fdr: float = Field(0.01, gt=0, lt=1)
    min_outcomes: int = Field(20, ge=2)
    min_window_lots: int = Field(10, ge=2)
    min_auroc_drop: float = Field(0.05, ge=0, le=1)
    min_calibration_gap: float = Field(0.05, ge=0, le=1)
    min_metadata_effect: float = Field(0.2, gt=0, le=1)
    min_protein_effect: float = Field(1.5, gt=0)
    n_drivers: int = Field(20, ge=1)
    min_driver_proteins: int = Field(2, ge=1)
    min_other_share: float = Field(0.05, gt=0, le=1)
    max_outside_domain: float = Field(0.1, gt=0, le=1)
    max_not_assessable: float = Field(0.1, gt=0, le=1)


class MonitorFile(Frozen):
    monitor: MonitorConfig = MonitorConfig()


def load_monitor_config(path: Path | None = None) -> MonitorConfig:
    """Load and validate the ``monitor:`` section (default ``configs/monitor.yaml``).

    Raises:
        ConfigError: unreadable YAML or a value outside its range (named by key).
    """
    path = Path(path) if path else DEFAULT_MONITOR_CONFIG
    raw = read_yaml(path) if path.exists() or path != DEFAULT_MONITOR_CONFIG else {}
    try:
        return MonitorFile.model_validate(raw).monitor
    except ValidationError as error:
        raise ConfigError(format_validation_error(error), where=str(path)) from None


# Spellings differ by case, spaces (incl. no-break), hyphens/dashes, underscores and apostrophes.
_SPELLING_NOISE = re.compile(r"[\s\-_\u2010-\u2015'\u2018\u2019`\u00b4]+")


def spelling_key(text: str) -> str:
    """Reduce a category spelling to what matching compares (``Bone marrow`` → ``bonemarrow``)."""
    return _SPELLING_NOISE.sub("", str(text)).casefold()


class VocabularyConfig(RootModel[dict[str, dict[str, list[str]]]]):
    """``configs/vocabulary.yaml``: column → category → spellings that mean it."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _one_category_per_spelling(self) -> VocabularyConfig:
        for column, categories in self.root.items():
            owner: dict[str, str] = {}
            for category, spellings in categories.items():
                for spelling in [category, *spellings]:
                    key = spelling_key(spelling)
                    if not key:
                        raise ValueError(f"{column}: an empty spelling under {category!r}")
                    if owner.setdefault(key, category) != category:
                        raise ValueError(
                            f"{column}: {spelling!r} is listed under both "
                            f"{owner[key]!r} and {category!r}"
                        )
        return self


@dataclass(frozen=True)
class Vocabulary:
    """Categories of lot-sheet text columns and the spellings that map to them.

    Attributes:
        spellings: column → spelling key (see ``spelling_key``) → category.
    """

    spellings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_categories(cls, categories: Mapping[str, Mapping[str, list[str]]]) -> Vocabulary:
        """Build from column → category → spellings (the YAML layout)."""
        return cls(
            {
                column: {
                    spelling_key(spelling): category
                    for category, spellings in by_category.items()
                    for spelling in [category, *spellings]
                }
                for column, by_category in categories.items()
            }
        )

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.spellings)

    def categories(self, column: str) -> tuple[str, ...]:
        """The categories of a column, in file order."""
        return tuple(dict.fromkeys(self.spellings.get(column, {}).values()))

    def canonical(self, column: str, value: str) -> str | None:
        """Return the category a spelling means, or None when the vocabulary does not know it."""
        return self.spellings.get(column, {}).get(spelling_key(value))

    def to_dict(self) -> dict[str, dict[str, str]]:
        """Plain JSON-able form (stored in the model bundle)."""
        return {column: dict(keys) for column, keys in self.spellings.items()}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Mapping[str, str]]) -> Vocabulary:
        return cls({column: dict(keys) for column, keys in payload.items()})


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """Load and check the lot-sheet vocabulary (default ``configs/vocabulary.yaml``).

    A missing default file means an empty vocabulary (values are kept as written).

    Raises:
        ConfigError: unreadable YAML, a wrong layout, or one spelling under two categories.
    """
    path = Path(path) if path else DEFAULT_VOCABULARY
    if path == DEFAULT_VOCABULARY and not path.exists():
        return Vocabulary()
    raw = read_yaml(path)
    try:
        checked = VocabularyConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error), where=str(path)) from None
    return Vocabulary.from_categories(checked.root)
