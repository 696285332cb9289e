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


def cutoff_text(value: float) -> str:
    """A band cut-off (risk 0-1) as every figure and page shows it: three decimals."""
    return f"{value:.3f}"


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
    axis.axhline(
        threshold, color="#c0392b", linestyle="--", label=f"hold ({cutoff_text(threshold)})"
    )
    axis.axhline(low, color="#e67e22", linestyle=":", label=f"review ({cutoff_text(low)})")
    axis.set(xlabel="Passage", ylabel="Risk", title=title, ylim=(0, 1))
    axis.legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    return figure


def lot_trend_figure(
    position: pd.Series, risk: pd.Series, threshold: float, low: float, xlabel: str, title: str
) -> Figure:
    """One donor's lots: risk over the lot sequence (date or passage) with the band cut-offs.

    Each lot is a point; the line joins the mean risk at each position, so lots made at the
    same passage (or date) do not zig-zag.
    """
    figure, axis = plt.subplots(figsize=(5.2, 3.0))
    lots = pd.DataFrame({"position": position.to_numpy(), "risk": risk.to_numpy(dtype=float)})
    mean = lots.groupby("position", sort=True)["risk"].mean()
    axis.plot(mean.index.to_numpy(), mean.to_numpy(), color="C0", label="mean per " + xlabel)
    axis.scatter(lots["position"], lots["risk"], s=16, color="C0", zorder=3, label="lot")
    axis.axhline(
        threshold, color="#c0392b", linestyle="--", label=f"hold ({cutoff_text(threshold)})"
    )
    axis.axhline(low, color="#e67e22", linestyle=":", label=f"review ({cutoff_text(low)})")
    axis.set(xlabel=xlabel, ylabel="Risk", title=title, ylim=(0, 1))
    axis.legend(loc="upper left", fontsize=7)
    if xlabel == "date":
        figure.autofmt_xdate()
    figure.tight_layout()
    return figure


# --- Batch report figures ----------------------------------------------------------------------

BAND_COLOURS = {
    "high": "#c0392b",
    "review": "#e67e22",
    "low": "#27ae60",
    "not assessable": "#7f8c8d",
}


def risk_distribution_figure(risk: pd.Series, threshold: float, low: float) -> Figure:
    """Histogram of the batch's risks with the review and hold cut-offs (risk 0-1)."""
    figure, axis = plt.subplots(figsize=(6, 3))
    axis.hist(
        risk.dropna().to_numpy(dtype=float), bins=np.linspace(0, 1, 41).tolist(), color="#5d6d7e"
    )
    axis.axvline(
        low, color=BAND_COLOURS["review"], linestyle=":", label=f"review ≥ {cutoff_text(low)}"
    )
    axis.axvline(
        threshold,
        color=BAND_COLOURS["high"],
        linestyle="--",
        label=f"hold ≥ {cutoff_text(threshold)}",
    )
    axis.set(xlabel="calibrated risk of instability (0-1)", ylabel="lots", xlim=(0, 1))
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    return figure


def risk_passage_figure(lots: pd.DataFrame, threshold: float, low: float) -> Figure:
    """Risk against passage, one colour per donor (``lots``: passage, risk, donor_id)."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    donors = sorted(lots["donor_id"].astype(str).unique())
    cmap = plt.get_cmap("tab20", max(len(donors), 1))
    for k, donor in enumerate(donors):
        rows = lots[lots["donor_id"].astype(str) == donor]
        axis.scatter(rows["passage"], rows["risk"], s=22, color=cmap(k), label=donor)
    axis.axhline(low, color=BAND_COLOURS["review"], linestyle=":")
    axis.axhline(threshold, color=BAND_COLOURS["high"], linestyle="--")
    axis.set(xlabel="passage (number)", ylabel="calibrated risk (0-1)", ylim=(-0.02, 1.02))
    figure.tight_layout()
    if len(donors) <= 20:
        axis.legend(title="donor", fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        figure.subplots_adjust(right=0.78)
    return figure


def driver_frequency_figure(counts: pd.Series, n_lots: int) -> Figure:
    """How many of the batch's lots list each protein among their top drivers (bar chart)."""
    top = counts.head(15).iloc[::-1]
    figure, axis = plt.subplots(figsize=(6, 0.3 * len(top) + 1.0))
    axis.barh([str(name)[:32] for name in top.index], top.to_numpy(), color="#5d6d7e")
    axis.set(xlabel=f"lots listing the protein among their top drivers (of {n_lots})")
    figure.tight_layout()
    return figure
