"""Logistic maths shared by the prior, the linear protein part and the calibrators.

``sigmoid`` maps log-odds to probabilities; ``fit_offset_logistic`` is the ridge logistic
regression with a fixed offset that fits both the prior (offset 0) and the linear protein part
(the prior's log-odds as offset).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Logistic function, elementwise (log-odds → probability)."""
    return np.asarray(expit(np.asarray(values, dtype=float)), dtype=float)


def fit_offset_logistic(
    Z: np.ndarray, y: np.ndarray, offset: np.ndarray, C: float
) -> tuple[float, np.ndarray]:
    """Fit ridge logistic regression with a fixed offset: log-odds = offset + b + Z·β.

    The loss is the summed log loss plus ‖β‖²/(2C), as in scikit-learn's ``LogisticRegression``
    (which has no offset, hence this small L-BFGS fit). The intercept b is not penalised. With
    more features than lots (proteomics: p ≫ n) it is solved in the lots' space: with the thin
    SVD Z = U·S·Vᵀ, the optimum has β = V·γ (representer theorem), ‖β‖ = ‖γ‖ and Z·β = U·S·γ,
    so only rank(Z) + 1 numbers are searched for the same optimum.

    Args:
        Z: lots × features, standardised, no NaN.
        y: 0/1 labels.
        offset: the prior's log-odds per lot.
        C: inverse regularisation strength.

    Returns:
        (intercept, coefficients).
    """
    n, p = Z.shape
    y = np.asarray(y, dtype=float)
    basis = None
    design = Z
    if p > n:
        # Z·Zᵀ = U·S²·Uᵀ (an n × n eigenproblem is far cheaper than the SVD of Z itself)
        eigenvalues, U = np.linalg.eigh(Z @ Z.T)
        keep = eigenvalues > 1e-10 * max(float(eigenvalues.max()), 1e-300)
        singular = np.sqrt(eigenvalues[keep])
        design = U[:, keep] * singular
        basis = (Z.T @ (U[:, keep] / singular)).T  # rows: the right singular vectors Vᵀ

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, w = theta[0], theta[1:]
        eta = offset + b + design @ w
        residual = sigmoid(eta) - y
        value = np.sum(np.logaddexp(0.0, eta) - y * eta) + w @ w / (2 * C)
        grad = np.concatenate([[residual.sum()], design.T @ residual + w / C])
        return float(value), grad

    fitted = minimize(
        loss,
        np.zeros(design.shape[1] + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000},
    )
    coef = basis.T @ fitted.x[1:] if basis is not None else fitted.x[1:]
    return float(fitted.x[0]), np.asarray(coef, dtype=float)
