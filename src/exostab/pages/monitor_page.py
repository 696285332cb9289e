"""The monitoring page: a self-contained HTML page in the batch report's style, time plots."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from exostab.monitor import MonitorResult


def report_style() -> str:
    """The CSS of the batch report's base template, so the monitoring page looks the same."""
    from importlib.resources import files

    base = (files("exostab.pages") / "templates" / "base.html.j2").read_text(encoding="utf-8")
    return base.split("<style>", 1)[1].split("</style>", 1)[0]


def time_figures(result: MonitorResult) -> Any:
    """Three panels over the time windows: AUROC, observed vs predicted, domain and books."""
    import matplotlib.pyplot as plt

    windows = result.windows
    x = np.arange(len(windows))
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    auroc = axes[0]
    yerr = np.vstack(
        [windows["auroc"] - windows["auroc_low"], windows["auroc_high"] - windows["auroc"]]
    )
    auroc.errorbar(x, windows["auroc"], yerr=np.abs(yerr), fmt="o-", color="C0", capsize=3)
    if result.reference is not None:
        ref = result.reference.performance
        auroc.axhspan(ref["auroc_low"], ref["auroc_high"], color="grey", alpha=0.2, label="CV")
        auroc.legend(loc="lower left")
    auroc.set(title="AUROC per window", ylim=(0, 1), ylabel="AUROC")
    calibration = axes[1]
    observed_err = np.vstack(
        [
            windows["observed"] - windows["observed_low"],
            windows["observed_high"] - windows["observed"],
        ]
    )
    calibration.errorbar(
        x,
        windows["observed"],
        yerr=np.abs(observed_err),
        fmt="o-",
        color="C3",
        capsize=3,
        label="observed unstable",
    )
    calibration.plot(x, windows["predicted"], "s--", color="C0", label="mean predicted risk")
    calibration.set(title="Calibration per window", ylim=(0, 1), ylabel="share of lots")
    calibration.legend(loc="upper left")
    books = axes[2]
    books.bar(x, windows["n_monitored"], color="C2", label="monitored")
    books.bar(
        x, windows["n_quarantined"], bottom=windows["n_monitored"], color="C1", label="quarantined"
    )
    books.set(title="Lots and domain score", ylabel="lots")
    twin = books.twinx()
    twin.plot(x, windows["domain_score_median"], "k.-", label="median domain score")
    twin.axhline(1.0, color="k", linestyle=":", linewidth=1)
    twin.set_ylabel("domain score (≤ 1 inside)")
    books.legend(loc="upper left")
    for axis in axes:
        axis.set_xticks(x, windows["window"], rotation=45, ha="right")
    figure.tight_layout()
    return figure


def table_html(table: pd.DataFrame, columns: list[str], limit: int = 40) -> str:
    """Render the first rows of a table, numbers to 3 significant digits."""
    if table is None or table.empty:
        return "<p>None.</p>"

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "" if not np.isfinite(value) else f"{value:.3g}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(row[c])}</td>" for c in columns) + "</tr>"
        for _, row in table.head(limit).iterrows()
    )
    more = (
        f"<p class='muted'>… {len(table) - limit} more rows in the CSV.</p>"
        if len(table) > limit
        else ""
    )
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def monitor_page(result: MonitorResult, provenance: dict[str, Any]) -> str:
    """Return the self-contained monitoring page (verdict, time plots, drift, books)."""
    from exostab.pages.figures import figure_png_base64

    simulated = [str(key) for key, value in provenance.items() if "SIMULATED" in str(value)]
    banner = (
        '<p class="flag">SIMULATED: '
        + html.escape(", ".join(f"{k} {provenance[k]}" for k in simulated))
        + ". What this page shows is a property of the simulator, not of real lots.</p>"
        if simulated
        else ""
    )
    verdict_class = "flag" if result.alarm else ""
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in result.reasons)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    provenance_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in provenance.items()
    )
    figure = (
        f'<img alt="monitoring over time" src="data:image/png;base64,'
        f'{figure_png_base64(time_figures(result))}">'
        if len(result.windows)
        else ""
    )
    overall = result.overall
    calibration = overall["calibration"]
    bands = pd.DataFrame(
        [{"band": band, **values} for band, values in calibration["bands"].items()]
    )
    reference = result.reference
    cv = (
        f"CV AUROC {reference.performance['auroc']:.3f} (95% interval "
        f"{reference.performance['auroc_low']:.3f}-{reference.performance['auroc_high']:.3f}); "
        f"out-of-fold released-but-unstable {reference.performance['released_unstable']:.1%}, "
        f"held-but-stable {reference.performance['held_stable']:.1%}."
        if reference is not None
        else "No training reference stored in this model."
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>exostab monitoring</title><style>{report_style()}</style></head><body>
<h1>exostab monitoring: model version {html.escape(result.model_version)}</h1>
{banner}
<p class="{verdict_class}"><b>{html.escape(result.verdict)}</b></p>
{f"<ul>{reasons}</ul>" if reasons else ""}
{f"<p>Notes:</p><ul>{notes}</ul>" if notes else ""}
<p class="muted">An alarm is a reason to look at the lots and the process, not proof that the
model is wrong; no alarm is not proof that it is right (see docs/monitoring.md).</p>
<h2>Over time</h2>{figure}
<p class="muted">Left: AUROC per window on the lots whose assay is back (bars: interval), the
grey band the cross-validated interval of training. Middle: share of lots found unstable
(bars: interval) against the mean predicted risk. Right: lots monitored and quarantined per
window, and the median domain score (dotted line: the edge of the training domain).</p>
<h2>Performance (the lots with an outcome the model judged)</h2>
<p>{overall["n_with_outcome"]} lot(s) with an outcome of {len(result.lots)} monitored{
        f"; {overall['n_outcome_not_assessable']} of them not assessable, left out"
        if overall["n_outcome_not_assessable"]
        else ""
    }. AUROC
{overall["auroc"]:.3f} (interval {overall["auroc_low"]:.3f}-{overall["auroc_high"]:.3f}).
Observed unstable {calibration["observed"]:.1%} (interval {calibration["observed_low"]:.1%}-
{calibration["observed_high"]:.1%}), mean predicted risk {calibration["predicted"]:.1%}.
Released-but-unstable (low band) {overall["released_unstable"]:.1%} of
{overall["n_released"]}; held-but-stable (high band) {overall["held_stable"]:.1%} of
{overall["n_held"]}. {cv}</p>
{table_html(bands, ["band", "n", "observed", "observed_low", "observed_high", "predicted"])}
<h2>Per window</h2>
{table_html(result.windows, list(result.windows.columns))}
<h2>Drift of the lot sheet</h2>
{
        table_html(
            result.metadata if result.metadata is not None else pd.DataFrame(),
            ["column", "test", "effect", "p", "q", "drifted", "description"],
        )
    }
<h2>Drift of the proteins (drivers first)</h2>
{
        table_html(
            result.proteins if result.proteins is not None else pd.DataFrame(),
            [
                "protein",
                "driver",
                "weight",
                "effect",
                "shift",
                "detected",
                "detected_training",
                "q",
                "drifted",
            ],
        )
    }
<h2>Provenance</h2><table>{provenance_rows}</table>
<h2>Quarantine</h2>
{table_html(result.quarantine, ["lot_id", "window", "reason"], limit=100)}
</body></html>
"""
