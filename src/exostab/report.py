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


def batch_report(scores: pd.DataFrame, quarantine: pd.DataFrame, provenance: dict[str, Any]) -> str:
    """Return the HTML page: lots sorted by risk, with bands, driver bars and domain flags."""
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
<h2>Quarantine</h2>
{quarantine_table}
</body></html>
"""
