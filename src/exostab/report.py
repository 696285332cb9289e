"""A self-contained HTML page of a scored batch: risks, bands, drivers, flags, quarantine."""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

BAND_COLOURS = {"high": "#c0392b", "review": "#e67e22", "low": "#27ae60"}
DRIVER = re.compile(r"^(?P<name>.+?) \((?P<value>[^)]*)\) (?P<shap>[+-][0-9.]+) (?P<dir>\w+) risk$")

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{padding:4px 8px;border-bottom:1px solid #ddd;
vertical-align:top;text-align:left}th{background:#f4f4f4}.band{color:#fff;border-radius:3px;
padding:1px 6px}.bar{display:inline-block;height:9px;vertical-align:middle}.drv{white-space:nowrap}
.flag{color:#c0392b;font-weight:600}.muted{color:#777}h1{font-size:20px}h2{font-size:16px}
"""


def driver_bars(text: Any, scale: float) -> str:
    """Render a lot's ``top_drivers`` text as small horizontal bars (red raises, blue lowers)."""
    if not isinstance(text, str) or not text:
        return ""
    rows = []
    for part in text.split("; "):
        match = DRIVER.match(part)
        if not match:
            rows.append(f"<div>{html.escape(part)}</div>")
            continue
        shap = float(match["shap"])
        width = max(2, int(120 * abs(shap) / scale))
        colour = "#c0392b" if shap > 0 else "#2471a3"
        rows.append(
            f'<div class="drv"><span class="bar" style="width:{width}px;background:{colour}">'
            f"</span> {html.escape(match['name'])} <span class='muted'>"
            f"({html.escape(match['value'])}, {shap:+.3f})</span></div>"
        )
    return "".join(rows)


def batch_report(
    scores: pd.DataFrame, quarantine: pd.DataFrame, provenance: dict[str, Any], trends: str = ""
) -> str:
    """Return the HTML page: lots sorted by risk, with bands, driver bars and domain flags.

    ``trends`` is an extra HTML section (``lot_trends_section``) shown before the quarantine.
    """
    ordered = scores.sort_values("risk", ascending=False, kind="stable")
    shap_values = [
        abs(float(m["shap"]))
        for text in ordered["top_drivers"].dropna()
        for m in (DRIVER.match(p) for p in str(text).split("; "))
        if m
    ]
    scale = max(shap_values, default=1.0) or 1.0
    body = []
    for row in ordered.itertuples(index=False):
        colour = BAND_COLOURS.get(str(row.risk_band), "#777")
        flag = "" if row.in_domain else '<span class="flag">outside training domain</span>'
        body.append(
            f"<tr><td>{html.escape(str(row.lot_id))}</td><td>{row.risk:.3f}</td>"
            f'<td><span class="band" style="background:{colour}">{row.risk_band}</span></td>'
            f"<td>{driver_bars(row.top_drivers, scale)}</td><td>{row.coverage:.0%}</td>"
            f"<td>{row.domain_score:.2f} {flag}</td></tr>"
        )
    quarantined = "".join(
        f"<tr><td>{html.escape(str(r.lot_id))}</td><td>{html.escape(str(r.reason))}</td></tr>"
        for r in quarantine.itertuples(index=False)
    )
    quarantine_table = (
        "<p>None.</p>"
        if quarantine.empty
        else f"<table><tr><th>lot</th><th>reason</th></tr>{quarantined}</table>"
    )
    simulated = [str(key) for key, value in provenance.items() if "SIMULATED" in str(value)]
    banner = (
        '<p class="flag">SIMULATED data: '
        + html.escape(", ".join(f"{k} {provenance[k]}" for k in simulated))
        + ". Nothing here describes real lots.</p>"
        if simulated
        else ""
    )
    counts = ordered["risk_band"].value_counts()
    provenance_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in provenance.items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>exostab batch report</title><style>{STYLE}</style></head><body>
<h1>exostab batch report</h1>
{banner}
<p>{len(ordered)} lots scored: {counts.get("high", 0)} high, {counts.get("review", 0)} review,
{counts.get("low", 0)} low risk; {int((~ordered["in_domain"].astype(bool)).sum())} outside the
training domain; {len(quarantine)} quarantined.</p>
<h2>Model provenance</h2><table>{provenance_rows}</table>
<h2>Lots by risk</h2>
<table><tr><th>lot</th><th>risk</th><th>band</th><th>top drivers (SHAP, log-odds)</th>
<th>coverage</th><th>domain score</th></tr>{"".join(body)}</table>
{trends}
<h2>Quarantine</h2>
{quarantine_table}
</body></html>
"""


# --- Lot trends per donor (batch report) -----------------------------------------------------


def lot_sequence(sheet: pd.DataFrame, lot_ids: pd.Series) -> tuple[pd.Series, str]:
    """Order lots by a date column of the lot sheet when every lot has one, else by passage.

    Returns the position of each lot (dates or passages, indexed like ``lot_ids``) and its name.
    """
    rows = sheet.set_axis(sheet.index.astype(str)).reindex(lot_ids.astype(str).to_numpy())
    for column in sheet.columns:
        if "date" not in str(column).lower():
            continue
        dates = pd.to_datetime(rows[column], errors="coerce")
        if dates.notna().all():
            return pd.Series(dates.to_numpy(), index=lot_ids.index), "date"
    return pd.Series(rows["passage"].to_numpy(dtype=float), index=lot_ids.index), "passage"


def lot_trends_section(
    scores: pd.DataFrame, sheet: pd.DataFrame, threshold: float, low: float
) -> str:
    """Return the batch report's "Lot trends per donor" section (HTML, figures embedded).

    Args:
        scores: scored lots (``lot_id``, ``risk``).
        sheet: the lot sheet (index ``lot_id``; ``donor_id``, ``passage``, maybe a date column).
        threshold, low: the hold and review cut-offs of the bands.
    """
    from exostab.plots import figure_png_base64, lot_trend_figure

    if "donor_id" not in sheet.columns or scores.empty:
        return "<h2>Lot trends per donor</h2><p>No donor_id in the lot sheet.</p>"
    donors = sheet["donor_id"].set_axis(sheet.index.astype(str))
    lots = scores[["lot_id", "risk"]].assign(
        donor_id=scores["lot_id"].astype(str).map(donors).astype("string")
    )
    position, axis_name = lot_sequence(sheet, lots["lot_id"])
    lots = lots.assign(position=position).dropna(subset=["donor_id"])
    figures = []
    for donor, rows in lots.groupby("donor_id", sort=True):
        rows = rows.sort_values(["position", "lot_id"], kind="stable")
        figure = lot_trend_figure(
            rows["position"], rows["risk"], threshold, low, axis_name, f"donor {donor}"
        )
        figures.append(
            f'<figure style="display:inline-block;margin:4px"><img alt="lot trend of donor '
            f'{html.escape(str(donor))}" src="data:image/png;base64,{figure_png_base64(figure)}">'
            "</figure>"
        )
    return (
        "<h2>Lot trends per donor</h2>"
        f"<p>Risk of each donor's lots in sequence (by {axis_name}); dashed line: hold "
        f"threshold {threshold:.2f}, dotted: review cut-off {low:.2f}. A bank drifting upward "
        "shows here before a lot crosses the hold line.</p>" + "".join(figures)
    )


# --- Cell-bank forecast page -----------------------------------------------------------------


def forecast_page(
    curves: pd.DataFrame,
    banks: pd.DataFrame,
    measured: pd.DataFrame,
    quarantine: pd.DataFrame,
    threshold: float,
    low: float,
    provenance: dict[str, Any],
) -> str:
    """Return the self-contained forecast page: one risk-against-passage curve per bank."""
    from exostab.forecast import passage_text
    from exostab.plots import figure_png_base64, forecast_figure

    sections = []
    for bank in banks.itertuples(index=False):
        donor = str(bank.donor_id)
        curve = curves[curves["donor_id"].astype(str) == donor]
        if curve.empty:
            sections.append(
                f"<h3>{html.escape(donor)}</h3><p class='flag'>{html.escape(str(bank.reason))}</p>"
            )
            continue
        lots = measured[measured["donor_id"].astype(str) == donor]
        safe_text = passage_text(bank.last_safe_passage)
        image = figure_png_base64(forecast_figure(curve, lots, threshold, low, f"bank {donor}"))
        sections.append(
            f"<h3>{html.escape(donor)}</h3><p>{bank.n_lots} measured lot(s), last at "
            f"{passage_text(bank.last_measured_passage)}; <b>last safe passage {safe_text}</b>. "
            f"Drivers: {html.escape(str(bank.drivers))}</p>"
            f'<img alt="forecast of bank {html.escape(donor)}" '
            f'src="data:image/png;base64,{image}">'
        )
    simulated = [str(key) for key, value in provenance.items() if "SIMULATED" in str(value)]
    banner = (
        '<p class="flag">SIMULATED: '
        + html.escape(", ".join(f"{k} {provenance[k]}" for k in simulated))
        + ". The trajectories and risks are properties of the simulator, not of real banks.</p>"
        if simulated
        else ""
    )
    provenance_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in provenance.items()
    )
    quarantined = "".join(
        f"<tr><td>{html.escape(str(r.lot_id))}</td><td>{html.escape(str(r.reason))}</td></tr>"
        for r in quarantine.itertuples(index=False)
    )
    quarantine_table = (
        "<p>None.</p>"
        if quarantine.empty
        else f"<table><tr><th>lot</th><th>reason</th></tr>{quarantined}</table>"
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>exostab cell-bank forecast</title><style>{STYLE}</style></head><body>
<h1>exostab cell-bank forecast</h1>
{banner}
<p>{len(banks)} bank(s). Each curve is the forecast risk of a lot made at that passage (mean
over projected lots); the shaded band is its interval over the bank's plausible trajectories
(its own donor terms drawn from their posterior, each making lots with lot-to-lot noise, all
scored by the model); black points are the measured lots scored on their real profiles. The
last safe passage is the highest passage before the upper risk first reaches the hold threshold
(dashed line).</p>
<h2>Model provenance</h2><table>{provenance_rows}</table>
<h2>Banks</h2>
{"".join(sections)}
<h2>Quarantine</h2>
{quarantine_table}
</body></html>
"""
