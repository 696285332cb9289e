"""Applicability domain: how far a lot lies from the training lots (PCA Hotelling T² and SPE)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DomainModel:
    """A PCA of the training lots' features with 99th-percentile limits on T² and SPE.

    ``domain_score`` is the larger of T²/limit and SPE/limit: ≤ 1 means inside what the model
    has seen, > 1 outside. Missing values are filled with the training medians first.
    """

    columns: list[str]
    medians: list[float]
    means: list[float]
    scales: list[float]
    components: list[list[float]]
    variances: list[float]
    t2_limit: float
    spe_limit: float

    def _standardised(self, features: pd.DataFrame) -> np.ndarray:
        values = features.reindex(columns=self.columns).to_numpy(dtype=float)
        medians = np.asarray(self.medians)
        values = np.where(np.isnan(values), medians, values)
        return (values - np.asarray(self.means)) / np.asarray(self.scales)

    def statistics(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return Hotelling T² and squared prediction error of each lot."""
        z = self._standardised(features)
        components = np.asarray(self.components)
        scores = z @ components.T
        t2 = np.sum(scores**2 / np.asarray(self.variances), axis=1)
        residual = z - scores @ components
        spe = np.sum(residual**2, axis=1)
        return t2, spe

    def score(self, features: pd.DataFrame) -> np.ndarray:
        t2, spe = self.statistics(features)
        return np.maximum(t2 / self.t2_limit, spe / self.spe_limit)

    def widened(self, factor: float) -> DomainModel:
        """Return the model with both limits multiplied by ``factor`` (never narrowed)."""
        factor = max(factor, 1.0) if np.isfinite(factor) else 1.0
        return replace(self, t2_limit=self.t2_limit * factor, spe_limit=self.spe_limit * factor)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> DomainModel:
        return cls(**payload)


def principal_axes(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the singular values (descending) and right singular vectors (rows) of z.

    With fewer lots than features (proteomics: n ≪ p) the n × n eigenproblem of z·zᵀ gives the
    same axes far faster than the SVD of z itself (seconds per call on 200 × 3,000 here).
    """
    n, p = z.shape
    if n >= p:
        _, singular, vt = np.linalg.svd(z, full_matrices=False)
        return singular, vt
    eigenvalues, u = np.linalg.eigh(z @ z.T)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, u = eigenvalues[order], u[:, order]
    keep = eigenvalues > 1e-10 * max(float(eigenvalues[0]), 1e-300)
    singular = np.sqrt(eigenvalues[keep])
    return singular, (z.T @ (u[:, keep] / singular)).T


def fit_domain(
    features: pd.DataFrame, *, variance: float = 0.8, max_components: int = 10
) -> DomainModel:
    """Fit the applicability domain on the training lots' (preprocessed, numeric) features."""
    values = features.to_numpy(dtype=float)
    medians = np.nanmedian(values, axis=0)
    medians = np.where(np.isfinite(medians), medians, 0.0)
    filled = np.where(np.isnan(values), medians, values)
    means = filled.mean(axis=0)
    scales = filled.std(axis=0)
    scales = np.where(scales > 1e-12, scales, 1.0)
    z = (filled - means) / scales
    singular, vt = principal_axes(z)
    explained = singular**2 / max(np.sum(singular**2), 1e-12)
    k = int(np.searchsorted(np.cumsum(explained), variance) + 1)
    k = max(1, min(k, max_components, len(singular)))
    variances = np.maximum(singular[:k] ** 2 / max(len(z) - 1, 1), 1e-12)
    model = DomainModel(
        columns=[str(c) for c in features.columns],
        medians=medians.tolist(),
        means=means.tolist(),
        scales=scales.tolist(),
        components=vt[:k].tolist(),
        variances=variances.tolist(),
        t2_limit=1.0,
        spe_limit=1.0,
    )
    t2, spe = model.statistics(features)
    return DomainModel(
        **{
            **model.to_dict(),
            "t2_limit": float(max(np.quantile(t2, 0.99), 1e-12)),
            "spe_limit": float(max(np.quantile(spe, 0.99), 1e-12)),
        }
    )
