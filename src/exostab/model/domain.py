"""Applicability domain: how far a lot lies from the training lots (PCA Hotelling T² and SPE)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


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
    # Each feature's mean contribution to T² and to SPE over the training lots (None in models
    # saved before contributions existed: ``reference_contributions`` derives them instead).
    t2_reference: list[float] | None = None
    spe_reference: list[float] | None = None

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

    def contributions(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return each lot's contribution of each feature to its T² and to its SPE.

        The contribution-plot decomposition of multivariate statistical process control
        (Miller, Swanson & Heckler 1998, Appl Math Comput Sci 8:775; Westerhuis, Gurden &
        Smilde 2000, Chemom Intell Lab Syst 51:95): feature j contributes
        ``z_j · Σ_a t_a p_aj / λ_a`` to T² (z the standardised lot, t its scores, p the
        loadings, λ the component variances; it can be negative) and its squared residual
        ``(z_j - Σ_a t_a p_aj)²`` to SPE. Each row sums to the lot's T² and SPE
        (``statistics``).

        Args:
            features: lots × features (any columns; ``columns`` are taken, missing ones read
                as the training medians).

        Returns:
            (T² contributions, SPE contributions), each lots × ``columns``.
        """
        z = self._standardised(features)
        components = np.asarray(self.components)
        scores = z @ components.T
        t2 = z * ((scores / np.asarray(self.variances)) @ components)
        spe = (z - scores @ components) ** 2
        return t2, spe

    def reference_contributions(self) -> tuple[np.ndarray, np.ndarray]:
        """Return each feature's mean contribution to T² and to SPE over the training lots.

        Stored at fit time; for a model saved without them they are derived from the PCA
        itself: a standardised training feature has variance 1, of which its loadings carry
        ``Σ_a λ_a p_aj²`` (the rest is its mean SPE contribution) and its mean T² contribution
        is ``Σ_a p_aj²`` (the loadings' part exact up to the factor (n - 1)/n).

        Returns:
            (T² reference, SPE reference), each of length ``len(columns)``, ≥ 0.
        """
        components = np.asarray(self.components)
        if self.t2_reference is not None and self.spe_reference is not None:
            return np.asarray(self.t2_reference), np.asarray(self.spe_reference)
        loadings = components**2
        t2 = loadings.sum(axis=0)
        spe = np.clip(1.0 - np.asarray(self.variances) @ loadings, 0.0, None)
        return t2, spe

    def contributors(
        self, features: pd.DataFrame, *, alpha: float = 0.01, min_ratio: float = 3.0
    ) -> tuple[str, pd.DataFrame]:
        """Which features put these lots outside the domain (contribution analysis).

        The statistic is the one that took most of the lots furthest past its limit (``SPE``,
        or ``T²``). Each feature's mean contribution to it over the lots is divided by its mean
        over the training lots (``reference_contributions``), so a feature with a naturally
        large residual is not singled out for that alone. For SPE each standardised residual
        is taken as normal with the training variance, so the lots' summed ratio is chi-square
        with one degree of freedom per lot; a feature stands out when that test passes at
        ``alpha`` Bonferroni-corrected over the features and its ratio is ≥ ``min_ratio``. A
        T² contribution can be negative and has no such distribution: there the ratio alone
        decides. Contributions point where to look, not at the cause: a large deviation also
        smears into features the PCA ties to it (Westerhuis, Gurden & Smilde 2000).

        Args:
            features: lots × features, typically the lots outside the domain.
            alpha: family-wise error rate of the SPE test over the features.
            min_ratio: the mean contribution must be this many times its training mean.

        Returns:
            (``SPE`` or ``T²``, one row per feature: ``column``, ``ratio``, ``p`` (NaN for T²),
            ``stands_out``; largest ratio first). No lots: ``SPE`` and an empty table.
        """
        columns = ["column", "ratio", "p", "stands_out"]
        if len(features) == 0:
            return "SPE", pd.DataFrame(columns=columns)
        t2, spe = self.statistics(features)
        by_t2 = int(np.sum(t2 / self.t2_limit > spe / self.spe_limit))
        statistic = "T²" if by_t2 > len(features) / 2 else "SPE"
        parts = self.contributions(features)[0 if statistic == "T²" else 1]
        reference = self.reference_contributions()[0 if statistic == "T²" else 1]
        ratio = parts.mean(axis=0) / np.maximum(reference, 1e-12)
        if statistic == "SPE":
            p = stats.chi2.sf(ratio * len(features), df=len(features))
            stands_out = (p <= alpha / len(self.columns)) & (ratio >= min_ratio)
        else:
            p = np.full(len(ratio), np.nan)
            stands_out = ratio >= min_ratio
        table = pd.DataFrame(
            {"column": self.columns, "ratio": ratio, "p": p, "stands_out": stands_out}
        )
        return statistic, table.sort_values("ratio", ascending=False, kind="stable").reset_index(
            drop=True
        )

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
    t2_parts, spe_parts = model.contributions(features)
    return DomainModel(
        **{
            **model.to_dict(),
            "t2_limit": float(max(np.quantile(t2, 0.99), 1e-12)),
            "spe_limit": float(max(np.quantile(spe, 0.99), 1e-12)),
            "t2_reference": np.maximum(t2_parts.mean(axis=0), 0.0).tolist(),
            "spe_reference": spe_parts.mean(axis=0).tolist(),
        }
    )
