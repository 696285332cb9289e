"""Figures of a training run: ROC, precision-recall and reliability of the out-of-fold risk."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
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
