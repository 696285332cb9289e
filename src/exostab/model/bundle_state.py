"""A trained model's fitted state and its files, no pickles.

``BundleState`` holds the fitted feature steps, the prior and the protein part (LightGBM's text
model inside), calibration, bands, domain and the proteins it reads, and saves them as one JSON
file, ``bundle.json`` (with ``signature_columns.csv``, and ``trajectory.json``,
``model_card.md``, ``monitor_reference.json`` when it has them). ``ModelBundle``
(``bundle.py``) is the scoring engine built on it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import pandas as pd

from exostab.config import Vocabulary, load_vocabulary
from exostab.io.lot_sheet_cells import LOT_ID
from exostab.io.protein_matrix import ReadOptions
from exostab.model.bundle_proteins import readable_protein_names, required_proteins
from exostab.model.calibration import Calibrator, RiskBands
from exostab.model.domain import DomainModel
from exostab.model.features import (
    ExostabTransformer,
    transformer_from_state,
    transformer_state,
)
from exostab.model.risk_model import PriorBoostedClassifier
from exostab.model.trajectory import Trajectory


@dataclass(frozen=True)
class BundleState:
    """A trained model's fitted state and its files (``bundle.json`` and the files beside it).

    ``ModelBundle`` (``bundle.py``) scores with it; its docstring describes the fields.
    """

    steps: list[ExostabTransformer]
    model: PriorBoostedClassifier
    calibrator: Calibrator
    bands: RiskBands
    domain: DomainModel
    proteins: pd.DataFrame
    metadata: tuple[str, ...]
    model_version: str = "unregistered"
    simulated_training: bool = False
    gate_passed: bool | None = None
    scale: str = "raw"
    trajectory: Trajectory | None = None
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    model_card: str = ""
    read_options: ReadOptions = field(default_factory=ReadOptions)
    monitor_reference: dict[str, Any] | None = None

    @classmethod
    def from_training(
        cls,
        result: Any,
        model_version: str = "unregistered",
        simulated_training: bool = False,
        vocabulary: Vocabulary | None = None,
    ) -> Self:
        """Build the bundle from a ``TrainResult`` (say whether its lots were SIMULATED).

        Args:
            vocabulary: the one the lot sheet was read with (default ``configs/vocabulary.yaml``).
        """
        pipeline = result.pipeline
        scale = dict(pipeline.steps)["log2"].scale
        proteins = result.proteins.loc[
            required_proteins(pipeline), ["input_name", "leading_accession", "gene"]
        ]
        short = readable_protein_names(proteins, reserved=(LOT_ID, *result.metadata))
        return cls(
            steps=[step for _, step in pipeline.steps[:-1]],
            model=pipeline[-1],
            calibrator=result.calibrator,
            bands=result.bands,
            domain=result.domain,
            proteins=proteins.assign(short_name=[short[str(f)] for f in proteins.index]),
            metadata=tuple(result.metadata),
            model_version=model_version,
            simulated_training=simulated_training,
            gate_passed=bool(result.verdict.champion_eligible),
            scale=scale,
            vocabulary=vocabulary if vocabulary is not None else load_vocabulary(),
        )

    def with_version(self, model_version: str) -> Self:
        return replace(self, model_version=model_version)

    def save(self, directory: Path) -> Path:
        """Write ``bundle.json``, ``signature_columns.csv`` (+ ``trajectory.json``) into it."""
        directory.mkdir(parents=True, exist_ok=True)
        proteins = self.with_short_names.reset_index(names="feature").astype(object)
        payload = {
            "steps": [transformer_state(step) for step in self.steps],
            "model": self.model.to_state(),
            "calibrator": self.calibrator.to_dict(),
            "bands": self.bands.to_dict(),
            "domain": self.domain.to_dict(),
            "proteins": proteins.where(proteins.notna(), None).to_dict(orient="list"),
            "metadata": list(self.metadata),
            "model_version": self.model_version,
            "simulated_training": self.simulated_training,
            "gate_passed": self.gate_passed,
            "scale": self.scale,
            "vocabulary": self.vocabulary.to_dict(),
            "read_options": asdict(self.read_options),
        }
        (directory / "bundle.json").write_text(json.dumps(payload))
        self.signature_columns.to_csv(directory / "signature_columns.csv", index=False)
        if self.trajectory is not None:
            (directory / "trajectory.json").write_text(json.dumps(self.trajectory.to_dict()))
        if self.model_card:
            (directory / "model_card.md").write_text(self.model_card)
        if self.monitor_reference is not None:
            (directory / "monitor_reference.json").write_text(json.dumps(self.monitor_reference))
        return directory

    @classmethod
    def load(cls, directory: Path) -> Self:
        payload = json.loads((Path(directory) / "bundle.json").read_text())
        proteins = pd.DataFrame(payload["proteins"]).set_index("feature")
        trajectory_file = Path(directory) / "trajectory.json"
        card_file = Path(directory) / "model_card.md"
        reference_file = Path(directory) / "monitor_reference.json"
        trajectory = (
            Trajectory.from_dict(json.loads(trajectory_file.read_text()))
            if trajectory_file.exists()
            else None
        )
        return cls(
            steps=[transformer_from_state(state) for state in payload["steps"]],
            model=PriorBoostedClassifier.from_state(payload["model"]),
            calibrator=Calibrator.from_dict(payload["calibrator"]),
            bands=RiskBands(**payload["bands"]),
            domain=DomainModel.from_dict(payload["domain"]),
            proteins=proteins,
            metadata=tuple(payload["metadata"]),
            model_version=payload["model_version"],
            simulated_training=bool(payload.get("simulated_training", False)),
            gate_passed=payload.get("gate_passed"),
            scale=str(payload.get("scale", "raw")),
            # Bundles from before reading options were stored read with the defaults.
            read_options=ReadOptions(**payload.get("read_options", {})),
            trajectory=trajectory,
            # Bundles from before the vocabulary was stored read with today's file.
            vocabulary=Vocabulary.from_dict(payload["vocabulary"])
            if "vocabulary" in payload
            else load_vocabulary(),
            model_card=card_file.read_text() if card_file.exists() else "",
            monitor_reference=json.loads(reference_file.read_text())
            if reference_file.exists()
            else None,
        )

    @functools.cached_property
    def readable_names(self) -> dict[str, str]:
        """Feature name → readable protein name: the stored ``short_name`` (unique, stable)."""
        if "short_name" in self.proteins:
            return {str(k): str(v) for k, v in self.proteins["short_name"].items()}
        return readable_protein_names(self.proteins, reserved=(LOT_ID, *self.metadata))

    @property
    def with_short_names(self) -> pd.DataFrame:
        """``proteins`` with its ``short_name`` column (computed when an old bundle lacks it)."""
        names = self.readable_names
        return self.proteins.assign(short_name=[names[str(f)] for f in self.proteins.index])

    @property
    def signature_columns(self) -> pd.DataFrame:
        """The HTTP signature's protein columns: one row per protein the model reads.

        Columns ``short_name`` (the signature's column name), ``input_name`` (the column of
        the training input, which batch scoring also accepts), ``feature``, ``gene`` and
        ``leading_accession``. Logged with the model as ``signature_columns.csv``.
        """
        table = self.with_short_names.reset_index(names="feature")
        return table[["short_name", "input_name", "feature", "gene", "leading_accession"]]
