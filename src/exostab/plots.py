"""Figures of a training run: ROC, precision-recall and reliability of the out-of-fold risk."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_curve


def roc_figure(y: np.ndarray, risk: np.ndarray, title: str = "Out-of-fold ROC") -> Figure:
    fpr, tpr, _ = roc_curve(y, risk)
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot(fpr, tpr, color="C0")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":")
    axis.set(xlabel="False positive rate", ylabel="True positive rate", title=title)
    figure.tight_layout()
    return figure


def pr_figure(
    y: np.ndarray, risk: np.ndarray, title: str = "Out-of-fold precision-recall"
) -> Figure:
    precision, recall, _ = precision_recall_curve(y, risk)
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot(recall, precision, color="C1")
    axis.axhline(float(np.mean(y)), color="grey", linestyle=":", label="prevalence")
    axis.set(xlabel="Recall", ylabel="Precision", title=title, ylim=(0, 1.02))
    axis.legend(loc="lower left")
    figure.tight_layout()
    return figure


def reliability_figure(
    y: np.ndarray, risk: np.ndarray, title: str = "Reliability (out-of-fold)"
) -> Figure:
    observed, predicted = calibration_curve(y, risk, n_bins=10, strategy="quantile")
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot(predicted, observed, marker="o", color="C2", label="model")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    axis.set(xlabel="Predicted risk", ylabel="Observed unstable fraction", title=title)
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


# --- Cell-bank forecast and lot trends -------------------------------------------------------


def figure_png_base64(figure: Figure, dpi: int = 100) -> str:
    """Render a figure as a base64 PNG (for self-contained HTML pages) and close it."""
    import base64
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def forecast_figure(
    curve: pd.DataFrame,
    measured: pd.DataFrame,
    threshold: float,
    low: float,
    title: str,
) -> Figure:
    """One bank's forecast: risk against passage with its interval, measured lots, cut-offs.

    Args:
        curve: the bank's ``forecast.csv`` rows (passage, risk, risk_low, risk_high).
        measured: the bank's measured lots (passage, risk) scored on their real profiles.
        threshold: hold threshold of the bands; ``low``: the review cut-off.
    """
    figure, axis = plt.subplots(figsize=(5.2, 3.2))
    passage = curve["passage"].to_numpy(dtype=float)
    axis.fill_between(
        passage,
        curve["risk_low"].to_numpy(dtype=float),
        curve["risk_high"].to_numpy(dtype=float),
        color="C0",
        alpha=0.2,
        label="forecast interval",
    )
    axis.plot(passage, curve["risk"].to_numpy(dtype=float), color="C0", label="forecast risk")
    if len(measured):
        axis.scatter(
            measured["passage"].to_numpy(dtype=float),
            measured["risk"].to_numpy(dtype=float),
            color="black",
            zorder=3,
            s=18,
            label="measured lot",
        )
    axis.axhline(threshold, color="#c0392b", linestyle="--", label=f"hold ({threshold:.2f})")
    axis.axhline(low, color="#e67e22", linestyle=":", label=f"review ({low:.2f})")
    axis.set(xlabel="Passage", ylabel="Risk", title=title, ylim=(0, 1))
    axis.legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    return figure


def lot_trend_figure(
    position: pd.Series, risk: pd.Series, threshold: float, low: float, xlabel: str, title: str
) -> Figure:
    """One donor's lots: risk over the lot sequence (date or passage) with the band cut-offs."""
    figure, axis = plt.subplots(figsize=(5.2, 3.0))
    axis.plot(position.to_numpy(), risk.to_numpy(dtype=float), marker="o", color="C0", label="lot")
    axis.axhline(threshold, color="#c0392b", linestyle="--", label=f"hold ({threshold:.2f})")
    axis.axhline(low, color="#e67e22", linestyle=":", label=f"review ({low:.2f})")
    axis.set(xlabel=xlabel, ylabel="Risk", title=title, ylim=(0, 1))
    axis.legend(loc="upper left", fontsize=7)
    if xlabel == "date":
        figure.autofmt_xdate()
    figure.tight_layout()
    return figure
