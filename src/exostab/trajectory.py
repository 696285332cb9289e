"""How a cell bank's proteome moves with passage: population trajectory + shrunk donor terms.

Per protein j, on the model's normalised log2 scale (the bundle's first step, so a projected
profile meets the pipeline exactly as a measured lot does)::

    y_lj = β0_j + β1_j·t_l + β2_j·t_l² + u_dj + v_dj·t_l + e_lj
    t_l = (passage_l − centre) / scale,   u_dj ~ N(0, τ0_j²),  v_dj ~ N(0, τ1_j²)

The quadratic term is kept only for proteins whose pooled fit it improves (BIC). The donor
offset u and slope v are random effects: a bank with two lots gets the posterior of its own
terms, shrunk toward the population by how much donors differ (τ²) against lot-to-lot noise
(σ²), as in a linear mixed model. The variance components are fitted by EM on the training
lots. Hand-written rather than ``statsmodels.MixedLM`` (not a dependency): one EM vectorised
over proteins fits hundreds of proteins in well under a second and stays inside the parameter
space (τ² ≥ 0) where per-protein optimisers stop at the boundary with warnings.

The lot-to-lot residual is correlated across proteins (impurity, stress, culture series move
many proteins together), so it is stored as a small factor model (principal components of the
training residuals + a diagonal rest): a projected lot's noise is drawn with that structure.
Everything is plain JSON (``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from exostab.bundle import ModelBundle
    from exostab.dataset import TrainingSet

logger = logging.getLogger(__name__)

N_FACTORS = 5
EM_ITERATIONS = 300
EM_TOLERANCE = 1e-6
MIN_VARIANCE = 1e-6
FULL_DETECTION = 0.99


def passage_design(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the fixed-effect (lots × 3: 1, t, t²) and random-effect (lots × 2: 1, t) designs."""
    t = np.asarray(t, dtype=float)
    ones = np.ones_like(t)
    return np.column_stack([ones, t, t**2]), np.column_stack([ones, t])


def inverse_2x2(a: np.ndarray) -> np.ndarray:
    """Invert a stack of symmetric 2×2 matrices (..., 2, 2) in closed form."""
    det = a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]
    inverse = np.empty_like(a)
    inverse[..., 0, 0] = a[..., 1, 1] / det
    inverse[..., 1, 1] = a[..., 0, 0] / det
    inverse[..., 0, 1] = -a[..., 0, 1] / det
    inverse[..., 1, 0] = -a[..., 1, 0] / det
    return inverse


@dataclass(frozen=True)
class DonorPosterior:
    """Posterior of one bank's donor terms: mean (proteins × 2), cov (proteins × 2 × 2)."""

    mean: np.ndarray
    cov: np.ndarray


@dataclass(frozen=True)
class Trajectory:
    """The fitted passage trajectory of every protein the model needs (normalised log2 scale).

    Attributes:
        proteins: feature names (the bundle's protein index), in order.
        centre, scale: passage standardisation, t = (passage − centre) / scale.
        beta: proteins × 3 population coefficients (1, t, t²); the t² one is 0 where not kept.
        quadratic: proteins; the t² term was supported by the training lots.
        tau2: proteins × 2 random-effect variances (donor offset, donor slope), log2².
        sigma2: proteins; lot-to-lot residual variance, log2².
        loadings: proteins × k residual factor loadings (log2); ``unique2`` the rest (log2²).
        floor: proteins; normalised log2 below which the protein is reported not detected
            (NaN where the training lots detected it almost always).
        n_lots, n_donors: training lots and donors the fit saw.
    """

    proteins: list[str]
    centre: float
    scale: float
    beta: np.ndarray
    quadratic: np.ndarray
    tau2: np.ndarray
    sigma2: np.ndarray
    loadings: np.ndarray
    unique2: np.ndarray
    floor: np.ndarray
    n_lots: int
    n_donors: int

    def standardise(self, passage: np.ndarray) -> np.ndarray:
        return (np.asarray(passage, dtype=float) - self.centre) / self.scale

    def population(self, passage: np.ndarray) -> np.ndarray:
        """Population mean profile at each passage (passages × proteins, normalised log2)."""
        X, _ = passage_design(self.standardise(passage))
        return X @ self.beta.T

    def posterior(self, log2: np.ndarray, passage: np.ndarray) -> DonorPosterior:
        """Posterior of a bank's donor terms from its measured lots.

        Args:
            log2: lots × proteins normalised log2 (NaN = not detected), this trajectory's order.
            passage: the lots' passages.
        """
        log2 = np.asarray(log2, dtype=float)
        observed = np.isfinite(log2)
        _, Z = passage_design(self.standardise(passage))
        residual = np.where(observed, log2 - self.population(passage), 0.0)
        zz, zr = _donor_sums(np.ones((len(Z), 1)), observed.astype(float), residual, Z)
        posterior = _solve(zz, zr, self.tau2, self.sigma2)
        return DonorPosterior(mean=posterior.mean[0], cov=posterior.cov[0])

    def project(
        self,
        posterior: DonorPosterior,
        passages: np.ndarray,
        n_draws: int,
        rng: np.random.Generator,
        lots_per_draw: int = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Project a bank to passages: the expected profile and draws of future lots.

        Each draw is one plausible trajectory of the bank (its donor terms drawn from their
        posterior); for each draw and passage, ``lots_per_draw`` future lots add their own
        lot-to-lot noise. Draws below a protein's detection floor become NaN.

        Returns:
            expected (passages × proteins) and draws (n_draws × lots_per_draw × passages ×
            proteins), both normalised log2.
        """
        passages = np.asarray(passages, dtype=float)
        _, Z = passage_design(self.standardise(passages))
        base = self.population(passages)
        expected = base + Z @ posterior.mean.T
        chol = np.linalg.cholesky(posterior.cov + 1e-12 * np.eye(2))  # proteins × 2 × 2
        n_proteins = len(self.proteins)
        donor = posterior.mean[None] + np.einsum(
            "jab,sjb->sja", chol, rng.standard_normal((n_draws, n_proteins, 2))
        )  # draws × proteins × 2
        trajectories = base[None] + np.einsum("pa,sja->spj", Z, donor)  # draws × passages × prot.
        shape = (n_draws, lots_per_draw, len(passages))
        factors = rng.standard_normal((*shape, self.loadings.shape[1]))
        noise = factors @ self.loadings.T + rng.standard_normal((*shape, n_proteins)) * np.sqrt(
            self.unique2
        )
        draws = trajectories[:, None] + noise
        draws = np.where(draws < self.floor, np.nan, draws)
        return expected, draws

    def to_dict(self) -> dict[str, Any]:
        def floats(values: np.ndarray) -> Any:
            return np.asarray(values, dtype=float).tolist()

        floor = [None if not np.isfinite(v) else float(v) for v in self.floor]
        return {
            "kind": "passage_trajectory",
            "scale_of_values": "normalised log2 (the model's first step)",
            "proteins": list(self.proteins),
            "centre": self.centre,
            "scale": self.scale,
            "beta": floats(self.beta),
            "quadratic": [bool(v) for v in self.quadratic],
            "tau2": floats(self.tau2),
            "sigma2": floats(self.sigma2),
            "loadings": floats(self.loadings),
            "unique2": floats(self.unique2),
            "floor": floor,
            "n_lots": self.n_lots,
            "n_donors": self.n_donors,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Trajectory:
        n = len(payload["proteins"])
        loadings = np.asarray(payload["loadings"], dtype=float).reshape(n, -1)
        return cls(
            proteins=[str(p) for p in payload["proteins"]],
            centre=float(payload["centre"]),
            scale=float(payload["scale"]),
            beta=np.asarray(payload["beta"], dtype=float).reshape(n, 3),
            quadratic=np.asarray(payload["quadratic"], dtype=bool),
            tau2=np.asarray(payload["tau2"], dtype=float).reshape(n, 2),
            sigma2=np.asarray(payload["sigma2"], dtype=float),
            loadings=loadings,
            unique2=np.asarray(payload["unique2"], dtype=float),
            floor=np.array([np.nan if v is None else v for v in payload["floor"]], dtype=float),
            n_lots=int(payload["n_lots"]),
            n_donors=int(payload["n_donors"]),
        )


@dataclass(frozen=True)
class _Posteriors:
    mean: np.ndarray  # donors × proteins × 2
    cov: np.ndarray  # donors × proteins × 2 × 2


def _donor_sums(
    one_hot: np.ndarray, mask: np.ndarray, residual: np.ndarray, Z: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Σ_l m z zᵀ (donors × proteins × 2 × 2) and Σ_l m z r (donors × proteins × 2)."""
    n_donors, n_proteins = one_hot.shape[1], mask.shape[1]
    zz = np.empty((n_donors, n_proteins, 2, 2))
    for a in range(2):
        for b in range(a, 2):
            zz[:, :, a, b] = one_hot.T @ (mask * (Z[:, a] * Z[:, b])[:, None])
            zz[:, :, b, a] = zz[:, :, a, b]
    zr = np.stack([one_hot.T @ (mask * residual * Z[:, [a]]) for a in range(2)], axis=-1)
    return zz, zr


def _solve(zz: np.ndarray, zr: np.ndarray, tau2: np.ndarray, sigma2: np.ndarray) -> _Posteriors:
    precision = zz / sigma2[None, :, None, None]
    precision[..., 0, 0] += 1.0 / tau2[None, :, 0]
    precision[..., 1, 1] += 1.0 / tau2[None, :, 1]
    cov = inverse_2x2(precision)
    mean = np.einsum("djab,djb->dja", cov, zr / sigma2[None, :, None])
    return _Posteriors(mean=mean, cov=cov)


def _bic_quadratic(X: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per protein: does the pooled t² term lower the BIC of the linear fit?"""
    keep = np.zeros(y.shape[1], dtype=bool)
    for j in range(y.shape[1]):
        rows = mask[:, j]
        n = int(rows.sum())
        if n < 8:
            continue
        rss = []
        for columns in (2, 3):
            coef, *_ = np.linalg.lstsq(X[rows, :columns], y[rows, j], rcond=None)
            rss.append(float(np.sum((y[rows, j] - X[rows, :columns] @ coef) ** 2)))
        linear, quadratic = (n * np.log(max(r, 1e-12) / n) for r in rss)
        keep[j] = quadratic + 3 * np.log(n) < linear + 2 * np.log(n)
    return keep


def _fixed_effects(
    X: np.ndarray, mask: np.ndarray, target: np.ndarray, quadratic: np.ndarray
) -> np.ndarray:
    """Per-protein least squares on observed lots (proteins × 3), t² pinned to 0 where not kept."""
    xtx = np.einsum("la,lb,lj->jab", X, X, mask)
    xty = np.einsum("la,lj->ja", X, mask * target)
    # A protein without t² solves the same system with that row replaced by β2 = 0.
    xtx[~quadratic, 2, :] = 0.0
    xtx[~quadratic, :, 2] = 0.0
    xtx[~quadratic, 2, 2] = 1.0
    xty[~quadratic, 2] = 0.0
    xtx += 1e-9 * np.eye(3)
    return np.linalg.solve(xtx, xty[..., None])[..., 0]


def fit_trajectory(
    log2: pd.DataFrame, passage: pd.Series, donor: pd.Series, n_factors: int = N_FACTORS
) -> Trajectory:
    """Fit the population trajectory and donor-term variances by EM.

    Args:
        log2: training lots × proteins, normalised log2 (NaN = not detected).
        passage: passage per lot (same index).
        donor: donor (cell bank) per lot (same index).
        n_factors: principal components kept for the correlated lot-to-lot residual.
    """
    y = log2.to_numpy(dtype=float)
    mask = np.isfinite(y)
    y0 = np.where(mask, y, 0.0)
    p = passage.loc[log2.index].to_numpy(dtype=float)
    centre = float(np.median(p))
    scale = float(max(np.std(p), 1.0))
    t = (p - centre) / scale
    X, Z = passage_design(t)
    codes, donor_of_lot = np.unique(donor.loc[log2.index].astype(str), return_inverse=True)
    one_hot = np.eye(len(codes))[donor_of_lot]
    n_proteins = y.shape[1]
    m = mask.astype(float)

    quadratic = _bic_quadratic(X, y0, mask)
    beta = _fixed_effects(X, m, y0, quadratic)
    residual = np.where(mask, y0 - X @ beta.T, 0.0)
    n_obs = np.maximum(m.sum(axis=0), 1.0)
    total = (residual**2).sum(axis=0) / n_obs
    sigma2 = np.maximum(total / 2, MIN_VARIANCE)
    tau2 = np.column_stack([np.maximum(total / 2, MIN_VARIANCE), np.full(n_proteins, 0.05)])
    zz, _ = _donor_sums(one_hot, m, residual, Z)
    has_donor = (one_hot.T @ m) > 0  # donors × proteins
    n_groups = np.maximum(has_donor.sum(axis=0), 1.0)
    zz_lot = Z[:, :, None] * Z[:, None, :]  # lots × 2 × 2
    n_iterations = 0
    for n_iterations in range(1, EM_ITERATIONS + 1):  # noqa: B007 (reported below)
        residual = np.where(mask, y0 - X @ beta.T, 0.0)
        _, zr = _donor_sums(one_hot, m, residual, Z)
        post = _solve(zz, zr, tau2, sigma2)
        # M-step: fixed effects on data minus the donor terms' posterior mean.
        donor_part = np.einsum("la,lja->lj", Z, post.mean[donor_of_lot])
        beta = _fixed_effects(X, m, y0 - donor_part, quadratic)
        fitted = X @ beta.T + donor_part
        squared = np.where(mask, (y0 - fitted) ** 2, 0.0)
        spread = np.einsum("lab,ljab->lj", zz_lot, post.cov[donor_of_lot])
        new_sigma2 = np.maximum((squared + m * spread).sum(axis=0) / n_obs, MIN_VARIANCE)
        second = post.mean**2 + np.diagonal(post.cov, axis1=2, axis2=3)
        new_tau2 = np.maximum(
            (second * has_donor[..., None]).sum(axis=0) / n_groups[:, None], MIN_VARIANCE
        )
        change = max(
            float(np.max(np.abs(new_sigma2 - sigma2) / sigma2)),
            float(np.max(np.abs(new_tau2 - tau2) / np.maximum(tau2, 1e-3))),
        )
        sigma2, tau2 = new_sigma2, new_tau2
        if change < EM_TOLERANCE:
            break
    logger.info(
        "passage trajectory: %d proteins, %d lots, %d donors; t² kept for %d; EM %d iterations",
        n_proteins,
        len(y),
        len(codes),
        int(quadratic.sum()),
        n_iterations,
    )

    residual = np.where(mask, y0 - X @ beta.T - donor_part, 0.0)
    loadings, unique2 = _residual_factors(residual, mask, sigma2, n_factors)
    detected = mask.mean(axis=0)
    with np.errstate(all="ignore"):
        lowest = np.nanmin(np.where(mask, y, np.nan), axis=0)
    floor = np.where(detected >= FULL_DETECTION, np.nan, lowest)
    return Trajectory(
        proteins=[str(c) for c in log2.columns],
        centre=centre,
        scale=scale,
        beta=beta,
        quadratic=quadratic,
        tau2=tau2,
        sigma2=sigma2,
        loadings=loadings,
        unique2=unique2,
        floor=floor,
        n_lots=len(y),
        n_donors=len(codes),
    )


def _residual_factors(
    residual: np.ndarray, mask: np.ndarray, sigma2: np.ndarray, n_factors: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split the residual variance into k shared factors and a per-protein rest.

    Principal components of the standardised residuals (missing = 0) give the loadings; the
    loadings' variance is capped at 90% of σ² so every protein keeps some noise of its own.
    """
    k = int(min(n_factors, max(len(residual) - 1, 0), residual.shape[1]))
    if k == 0:
        return np.zeros((residual.shape[1], 0)), sigma2.copy()
    sd = np.sqrt(sigma2)
    standard = np.where(mask, residual / sd, 0.0)
    _, singular, vt = np.linalg.svd(standard - standard.mean(axis=0), full_matrices=False)
    loadings = (vt[:k].T * singular[:k] / np.sqrt(len(residual))) * sd[:, None]
    shared = (loadings**2).sum(axis=1)
    cap = np.minimum(1.0, np.sqrt(0.9 * sigma2 / np.maximum(shared, 1e-12)))
    loadings = loadings * cap[:, None]
    unique2 = np.maximum(sigma2 - (loadings**2).sum(axis=1), MIN_VARIANCE)
    return loadings, unique2


def normalised_log2(bundle: ModelBundle, X: pd.DataFrame) -> pd.DataFrame:
    """Apply the bundle's normalisation step and keep the model's proteins (lots × proteins)."""
    logged = bundle.steps[0].transform(X)
    return logged.reindex(columns=list(bundle.proteins.index)).astype(float)


def attach_trajectory(bundle: ModelBundle, training: TrainingSet) -> ModelBundle:
    """Fit the passage trajectory on the training lots and return the bundle carrying it."""
    if "passage" not in training.X:
        logger.warning("passage is not a model input: no passage trajectory fitted")
        return bundle
    log2 = normalised_log2(bundle, training.X)
    trajectory = fit_trajectory(log2, training.X["passage"], training.groups)
    return replace(bundle, trajectory=trajectory)
