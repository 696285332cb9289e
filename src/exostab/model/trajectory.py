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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr
from threadpoolctl import threadpool_limits

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


# Degree in t of each fixed-effect column (1, t, t²).
X_DEGREE = np.array([0, 1, 2])


@dataclass(frozen=True)
class _Moments:
    """Per donor × protein sums over a bank's observed lots (centred log2 y, standardised t).

    Every sum the EM needs is one of these: Σ t^k (k = 0..4), Σ y t^k (k = 0..2) and Σ y².
    They replace lots × proteins arrays inside the iterations (donors ≪ lots).
    """

    t_power: np.ndarray  # donors × proteins × 5: Σ m t^k
    y_power: np.ndarray  # donors × proteins × 3: Σ m y t^k
    yy: np.ndarray  # donors × proteins: Σ m y²

    @classmethod
    def of(cls, one_hot: np.ndarray, mask: np.ndarray, y: np.ndarray, t: np.ndarray) -> _Moments:
        m = mask.astype(float)
        my = m * y
        return cls(
            t_power=np.stack([one_hot.T @ (m * (t**k)[:, None]) for k in range(5)], axis=-1),
            y_power=np.stack([one_hot.T @ (my * (t**k)[:, None]) for k in range(3)], axis=-1),
            yy=one_hot.T @ (my * y),
        )

    def block(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Σ m w_a w_b for design columns of the given degrees (donors × proteins × a × b)."""
        return self.t_power[..., rows[:, None] + columns[None, :]]


def _bic_quadratic(xtx: np.ndarray, xty: np.ndarray, yy: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per protein: does the pooled t² term lower the BIC of the linear fit?

    Args:
        xtx, xty, yy: pooled Σ x xᵀ (proteins × 3 × 3), Σ x y (proteins × 3), Σ y² (proteins)
            over each protein's observed lots (y centred).
        n: observed lots per protein.
    """
    rss = []
    for columns in (2, 3):
        coef = np.einsum("jab,jb->ja", np.linalg.pinv(xtx[:, :columns, :columns]), xty[:, :columns])
        rss.append(np.maximum(yy - np.einsum("ja,ja->j", coef, xty[:, :columns]), 1e-12))
    n_safe = np.maximum(n, 1.0)
    linear, quadratic = (n_safe * np.log(r / n_safe) for r in rss)
    return (n >= 8) & (quadratic + 3 * np.log(n_safe) < linear + 2 * np.log(n_safe))


def _pinned(xtx: np.ndarray, quadratic: np.ndarray) -> np.ndarray:
    """Σ x xᵀ with the t² row replaced by β2 = 0 where the quadratic term is not kept."""
    pinned = xtx.copy()
    pinned[~quadratic, 2, :] = 0.0
    pinned[~quadratic, :, 2] = 0.0
    pinned[~quadratic, 2, 2] = 1.0
    return pinned + 1e-9 * np.eye(3)


def _pooled_rss(beta: np.ndarray, xy: np.ndarray, xtx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Σ m (y − xβ)² per protein from the pooled sums."""
    return yy - 2 * np.einsum("ja,ja->j", beta, xy) + np.einsum("ja,jab,jb->j", beta, xtx, beta)


@dataclass(frozen=True)
class _EmFit:
    beta: np.ndarray  # proteins × 3
    sigma2: np.ndarray  # proteins
    tau2: np.ndarray  # proteins × 2
    u0: np.ndarray  # donors × proteins: posterior mean offset
    u1: np.ndarray  # donors × proteins: posterior mean slope
    iterations: int


def _em(
    P: list[np.ndarray],
    B: list[np.ndarray],
    start: _EmFit,
    n_obs: np.ndarray,
    xy: np.ndarray,
    xtx: np.ndarray,
    yy: np.ndarray,
    solver: np.ndarray,
    free: np.ndarray,
) -> _EmFit:
    """EM of the variance components, all proteins at once, on the per-bank sums.

    Args:
        P: Σ m t^k (k = 0..4) and B: Σ m y t^k (k = 0..2), each donors × proteins, over the
            bank's observed lots; with z = (1, t), x = (1, t, t²): Σ z_a z_b = Σ z_a x_b =
            P[a+b] and Σ z_a y = B[a].
        start: starting beta, sigma2, tau2.
        n_obs: observed lots per protein; xy, xtx, yy: pooled Σ x y, Σ x xᵀ, Σ y².
        solver: inverse of the pinned Σ x xᵀ (proteins × 3 × 3); free: 0 where β2 is pinned.
    """
    beta, sigma2, tau2 = start.beta, start.sigma2, start.tau2
    has_donor = P[0] > 0  # donors × proteins
    n_groups = np.maximum(has_donor.sum(axis=0), 1.0)

    def donor_residual(beta: np.ndarray) -> list[np.ndarray]:
        """Σ_bank m z (y − xβ): two donors × proteins arrays."""
        return [
            B[a] - (P[a] * beta[:, 0] + P[a + 1] * beta[:, 1] + P[a + 2] * beta[:, 2])
            for a in range(2)
        ]

    zr = donor_residual(beta)
    u0 = u1 = np.zeros_like(P[0])
    iteration = 0
    for iteration in range(1, EM_ITERATIONS + 1):  # noqa: B007 (returned)
        # E-step: posterior of each bank's (offset, slope), closed-form 2 × 2 (as _solve).
        a00 = P[0] / sigma2 + 1.0 / tau2[:, 0]
        a01 = P[1] / sigma2
        a11 = P[2] / sigma2 + 1.0 / tau2[:, 1]
        det = a00 * a11 - a01 * a01
        c00, c01, c11 = a11 / det, -a01 / det, a00 / det
        u0 = (c00 * zr[0] + c01 * zr[1]) / sigma2
        u1 = (c01 * zr[0] + c11 * zr[1]) / sigma2
        # M-step: fixed effects on data minus the donor terms' posterior mean.
        shift = np.stack([(P[k] * u0 + P[k + 1] * u1).sum(axis=0) for k in range(3)], axis=1)
        beta = np.einsum("jab,jb->ja", solver, (xy - shift) * free)
        zr = donor_residual(beta)
        # Σ m (y − xβ − zu)² + Σ m zᵀ cov z per protein, expanded over the sums.
        squared = _pooled_rss(beta, xy, xtx, yy) + (
            -2 * (u0 * zr[0] + u1 * zr[1])
            + P[0] * (u0**2 + c00)
            + 2 * P[1] * (u0 * u1 + c01)
            + P[2] * (u1**2 + c11)
        ).sum(axis=0)
        new_sigma2 = np.maximum(np.maximum(squared, 0.0) / n_obs, MIN_VARIANCE)
        second = np.stack([u0**2 + c00, u1**2 + c11], axis=-1)
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
    return _EmFit(beta=beta, sigma2=sigma2, tau2=tau2, u0=u0, u1=u1, iterations=iteration)


def fit_trajectory(
    log2: pd.DataFrame, passage: pd.Series, donor: pd.Series, n_factors: int = N_FACTORS
) -> Trajectory:
    """Fit the population trajectory and donor-term variances by EM.

    The EM runs on per donor × protein sums (``_Moments``), vectorised over proteins: its cost
    does not grow with the lots. BLAS runs on one thread here: these matrices are small, and a
    threaded SVD of the residuals took 8 s instead of 0.3 s on a busy 2-core machine.

    Args:
        log2: training lots × proteins, normalised log2 (NaN = not detected).
        passage: passage per lot (same index).
        donor: donor (cell bank) per lot (same index).
        n_factors: principal components kept for the correlated lot-to-lot residual.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_trajectory(log2, passage, donor, n_factors)


def _fit_trajectory(
    log2: pd.DataFrame, passage: pd.Series, donor: pd.Series, n_factors: int
) -> Trajectory:
    y = log2.to_numpy(dtype=float)
    mask = np.isfinite(y)
    m = mask.astype(float)
    n_obs_raw = m.sum(axis=0)
    n_obs = np.maximum(n_obs_raw, 1.0)
    # Centred per protein so that sums of squares do not cancel (β0 gets the mean back).
    level = np.where(mask, y, 0.0).sum(axis=0) / n_obs
    y0 = np.where(mask, y - level, 0.0)
    p = passage.loc[log2.index].to_numpy(dtype=float)
    centre = float(np.median(p))
    scale = float(max(np.std(p), 1.0))
    t = (p - centre) / scale
    X, Z = passage_design(t)
    codes, donor_of_lot = np.unique(donor.loc[log2.index].astype(str), return_inverse=True)
    one_hot = np.eye(len(codes))[donor_of_lot]
    n_proteins = y.shape[1]

    moments = _Moments.of(one_hot, mask, y0, t)
    xtx = moments.block(X_DEGREE, X_DEGREE).sum(axis=0)  # proteins × 3 × 3
    xy = moments.y_power[..., X_DEGREE].sum(axis=0)  # proteins × 3
    yy = moments.yy.sum(axis=0)
    quadratic = _bic_quadratic(xtx, xy, yy, n_obs_raw)
    solver = np.linalg.inv(_pinned(xtx, quadratic))  # proteins × 3 × 3
    free = np.where(quadratic[:, None], 1.0, np.array([1.0, 1.0, 0.0]))  # β2 pinned to 0

    # Donor × protein arrays: P[k] = Σ m t^k, B[k] = Σ m y t^k.
    P = [moments.t_power[..., k] for k in range(5)]
    B = [moments.y_power[..., k] for k in range(3)]

    beta = np.einsum("jab,jb->ja", solver, xy * free)  # pooled least squares
    total = np.maximum(_pooled_rss(beta, xy, xtx, yy), 0.0) / n_obs
    sigma2 = np.maximum(total / 2, MIN_VARIANCE)
    tau2 = np.column_stack([np.maximum(total / 2, MIN_VARIANCE), np.full(n_proteins, 0.05)])
    start = _EmFit(beta=beta, sigma2=sigma2, tau2=tau2, u0=P[0], u1=P[0], iterations=0)
    fit = _em(P, B, start, n_obs, xy, xtx, yy, solver, free)
    beta, sigma2, tau2, u0, u1 = fit.beta, fit.sigma2, fit.tau2, fit.u0, fit.u1
    logger.info(
        "passage trajectory: %d proteins, %d lots, %d donors; t² kept for %d; EM %d iterations",
        n_proteins,
        len(y),
        len(codes),
        int(quadratic.sum()),
        fit.iterations,
    )

    donor_part = Z[:, [0]] * u0[donor_of_lot] + Z[:, [1]] * u1[donor_of_lot]
    residual = np.where(mask, y0 - X @ beta.T - donor_part, 0.0)
    loadings, unique2 = _residual_factors(residual, mask, sigma2, n_factors)
    beta = beta + np.outer(level, [1.0, 0.0, 0.0])
    fitted = X @ beta.T + donor_part  # lots × proteins, normalised log2
    floor = _detection_floor(fitted, np.sqrt(sigma2), mask)
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


def _detection_floor(fitted: np.ndarray, sd: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per protein, the log2 level below which a projected lot is reported not detected.

    Chosen so that lots drawn around the training lots' fitted values (lots × proteins, with
    the lot-to-lot sd) fall below it as often as the training lots were not detected: a
    projected lot then carries as many NaNs as a measured one, in its low values (the model's
    NaN branches see what they saw in training). The lowest detected value, used before,
    censored 10-50x fewer values than the instrument did. NaN where detection was near-complete.
    """
    missing = 1.0 - mask.mean(axis=0)
    wanted = missing > 1.0 - FULL_DETECTION
    floor = np.full(mask.shape[1], np.nan)
    if not wanted.any():
        return floor
    level, spread, share = fitted[:, wanted], sd[wanted], missing[wanted]
    low = level.min(axis=0) - 8 * spread
    high = level.max(axis=0) + 8 * spread
    for _ in range(40):  # bisection: the share below a floor rises with the floor
        middle = (low + high) / 2
        below = ndtr((middle - level) / spread).mean(axis=0)
        low, high = np.where(below < share, middle, low), np.where(below < share, high, middle)
    floor[wanted] = (low + high) / 2
    return floor


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
