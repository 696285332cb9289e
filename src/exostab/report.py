"""A self-contained HTML page of a scored batch: risks, bands, drivers, flags, quarantine."""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

from exostab.plots import BAND_COLOURS

DRIVER = re.compile(r"^(?P<name>.+?) \((?P<value>[^)]*)\) (?P<shap>[+-][0-9.]+) (?P<dir>\w+) risk$")
ABSENT = re.compile(r"^(?P<name>.+?) (?P<shap>[+-][0-9.]+) (?P<dir>\w+) risk$")

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;font-size:13px}td,th{padding:4px 8px;border-bottom:1px solid #ddd;
vertical-align:top;text-align:left}th{background:#f4f4f4}.band{color:#fff;border-radius:3px;
padding:1px 6px;white-space:nowrap}.bar{display:inline-block;height:9px;vertical-align:middle}
.drv{white-space:nowrap}.flag{color:#c0392b;font-weight:600}.muted{color:#777}h1{font-size:20px}
h2{font-size:16px}dl.legend{display:grid;grid-template-columns:max-content auto;gap:4px 12px;
font-size:13px}dl.legend dt{font-weight:600}dl.legend dd{margin:0}figure{display:inline-block;
margin:4px 12px 4px 0}figcaption{font-size:12px;color:#555;max-width:600px}
.card{border:1px solid #ddd;padding:0 1em;font-size:13px}
"""


def band_label(band: Any) -> str:
    colour = BAND_COLOURS.get(str(band), "#777")
    return f'<span class="band" style="background:{colour}">{html.escape(str(band))}</span>'


def driver_parts(text: Any) -> list[tuple[str, str, float]]:
    """Split a lot's ``top_drivers`` text into (name, value, attribution); absent → value ''."""
    if not isinstance(text, str) or not text:
        return []
    parts: list[tuple[str, str, float]] = []
    for part in text.split("; "):
        if part.startswith("absent: "):
            for item in part.removeprefix("absent: ").split(", "):
                match = ABSENT.match(item)
                if match:
                    parts.append((match["name"], "", float(match["shap"])))
            continue
        match = DRIVER.match(part)
        if match:
            parts.append((match["name"], match["value"], float(match["shap"])))
    return parts


def driver_bars(text: Any, scale: float) -> str:
    """Render a lot's ``top_drivers`` text as small horizontal bars (red raises, blue lowers)."""
    rows = []
    for name, value, shap in driver_parts(text):
        width = max(2, int(120 * abs(shap) / scale))
        colour = "#c0392b" if shap > 0 else "#2471a3"
        shown = f"{value}, " if value else "not detected, "
        rows.append(
            f'<div class="drv"><span class="bar" style="width:{width}px;background:{colour}">'
            f"</span> {html.escape(name)} <span class='muted'>"
            f"({html.escape(shown)}{shap:+.3f})</span></div>"
        )
    return "".join(rows)


def legend_section(threshold: float, low: float, far_outside: float, min_coverage: float) -> str:
    """What every colour, bar and number of the report means (with the band cut-offs)."""
    ratio = (1 - threshold) / threshold if threshold > 0 else float("nan")
    return f"""<h2>How to read this report</h2><dl class="legend">
<dt>risk</dt><dd>Calibrated probability (0-1) that the lot's immunomodulatory potency is
unstable, from its protein profile and lot sheet.</dd>
<dt>band</dt><dd>{band_label("high")} risk ≥ {threshold:.3f}: hold the lot for a potency
assay. {band_label("review")} {low:.3f} ≤ risk &lt; {threshold:.3f}: review.
{band_label("low")} risk &lt; {low:.3f}. {band_label("not assessable")} the model cannot judge
the lot (reason in the warning column): it measured fewer than {min_coverage:.0%} of the
model's proteins, or its domain score exceeds {far_outside:g}.</dd>
<dt>cut-offs</dt><dd>The hold cut-off {threshold:.3f} is the expected-cost decision threshold
when releasing an unstable lot costs {ratio:.3g}× as much as rejecting a stable one
(cost ratio {ratio:.3g} : 1, from the training config); the review cut-off is
{low / threshold if threshold else float("nan"):.2g} × the hold cut-off.</dd>
<dt>driver bars</dt><dd>The proteins that moved this lot's risk most. A
<span class="bar" style="width:30px;background:#c0392b"></span> red bar raises the risk, a
<span class="bar" style="width:30px;background:#2471a3"></span> blue bar lowers it; bar length
is proportional to the size of the effect. The pair in brackets is (the protein's value in this
lot, in log2 intensity after the model's normalisation; its attribution, in log-odds of
instability). "not detected" marks a protein absent from the lot, whose absence is the
effect.</dd>
<dt>coverage</dt><dd>Share of the model's proteins measured in the lot (0-100%).</dd>
<dt>domain score</dt><dd>Distance of the lot from the training lots (PCA Hotelling T² and
residual, each over its limit): ≤ 1 inside what the model has seen, &gt; 1
<span class="flag">outside the training domain</span> (risk less reliable), &gt;
{far_outside:g} not assessable.</dd>
<dt>names</dt><dd>Proteins are named by gene symbol, else UniProt accession, else their
protein-group id cut to {32} characters; the scores file keeps the full ids.</dd>
</dl>"""


def figures_section(
    scores: pd.DataFrame, sheet: pd.DataFrame | None, threshold: float, low: float
) -> str:
    """Figures of the batch: risk distribution, risk against passage, driver frequency."""
    from exostab.plots import (
        driver_frequency_figure,
        figure_png_base64,
        risk_distribution_figure,
        risk_passage_figure,
    )

    if scores.empty:
        return ""

    def embed(figure: Any, alt: str, caption: str) -> str:
        return (
            f'<figure><img alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{figure_png_base64(figure)}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )

    parts = [
        embed(
            risk_distribution_figure(scores["risk"], threshold, low),
            "risk distribution",
            f"Risk of the batch's lots (histogram, 0-1; not assessable lots included). "
            f"Dashed red line: hold cut-off "
            f"{threshold:.3f}; dotted orange: review cut-off {low:.3f}.",
        )
    ]
    if sheet is not None and {"passage", "donor_id"} <= set(sheet.columns):
        rows = sheet.set_axis(sheet.index.astype(str))
        lots = (
            scores[["lot_id", "risk"]]
            .assign(
                passage=scores["lot_id"].astype(str).map(rows["passage"]),
                donor_id=scores["lot_id"].astype(str).map(rows["donor_id"]),
            )
            .dropna()
        )
        if not lots.empty:
            parts.append(
                embed(
                    risk_passage_figure(lots, threshold, low),
                    "risk against passage by donor",
                    "Risk (0-1) against passage, one colour per donor: a risk rising with "
                    "passage within a donor is the senescence the model looks for. Lines: "
                    "cut-offs as above.",
                )
            )
    counts = pd.Series(
        [name for text in scores["top_drivers"] for name, _, _ in driver_parts(text)],
        dtype=object,
    ).value_counts()
    if len(counts):
        parts.append(
            embed(
                driver_frequency_figure(counts, len(scores)),
                "driver frequency",
                "How many lots of this batch list each protein among their top drivers "
                "(either direction); the 15 most frequent.",
            )
        )
    return "<h2>Figures</h2>" + "".join(parts)


def model_card_section(card: str) -> str:
    """Render the model card (markdown) into the report; nothing when the model has none."""
    if not card:
        return (
            "<h2>Model card</h2><p class='muted'>This model was trained before model cards "
            "existed.</p>"
        )
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(card)
    return f'<h2>Model card</h2><div class="card">{rendered}</div>'


def batch_report(
    scores: pd.DataFrame,
    quarantine: pd.DataFrame,
    provenance: dict[str, Any],
    trends: str = "",
    *,
    threshold: float = 0.25,
    low: float = 0.125,
    sheet: pd.DataFrame | None = None,
    model_card: str = "",
) -> str:
    """Return the self-contained HTML page of a scored batch.

    Args:
        scores: scored lots (the ``ModelBundle.predict`` columns).
        quarantine: lots that could not be scored (``lot_id``, ``reason``).
        provenance: model and input facts shown in a table.
        trends: an extra HTML section (``lot_trends_section``) shown before the quarantine.
        threshold, low: the hold and review cut-offs of the bands (risk 0-1).
        sheet: the lot sheet (index ``lot_id``; ``passage``, ``donor_id``) for the figures.
        model_card: the model's card (markdown), rendered at the end.
    """
    from exostab.bundle import FAR_OUTSIDE, MIN_COVERAGE

    ordered = scores.sort_values("risk", ascending=False, kind="stable")
    shap_values = [abs(s) for text in ordered["top_drivers"] for _, _, s in driver_parts(text)]
    scale = max(shap_values, default=1.0) or 1.0
    has_warning = "warning" in ordered.columns
    body = []
    for row in ordered.itertuples(index=False):
        flag = "" if row.in_domain else '<span class="flag">outside training domain</span>'
        warning = getattr(row, "warning", None) if has_warning else None
        body.append(
            f"<tr><td>{html.escape(str(row.lot_id))}</td><td>{row.risk:.3f}</td>"
            f"<td>{band_label(row.risk_band)}</td>"
            f"<td>{driver_bars(row.top_drivers, scale)}</td><td>{row.coverage:.0%}</td>"
            f"<td>{row.domain_score:.2f} {flag}</td>"
            f"<td>{html.escape(str(warning)) if isinstance(warning, str) else ''}</td></tr>"
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
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<link rel="icon" href="data:,">
<title>exostab batch report</title><style>{STYLE}</style></head><body>
<h1>exostab batch report</h1>
{banner}
<p>{len(ordered)} lots scored: {counts.get("high", 0)} high, {counts.get("review", 0)} review,
{counts.get("low", 0)} low risk, {counts.get("not assessable", 0)} not assessable;
{int((~ordered["in_domain"].astype(bool)).sum())} outside the training domain;
{len(quarantine)} quarantined (not scored, reason below).</p>
{legend_section(threshold, low, FAR_OUTSIDE, MIN_COVERAGE)}
{figures_section(ordered, sheet, threshold, low)}
<h2>Lots by risk</h2>
<table><tr><th>lot</th><th>risk (0-1)</th><th>band</th>
<th>top drivers (value log2, attribution log-odds)</th><th>coverage</th><th>domain score</th>
<th>warning</th></tr>{"".join(body)}</table>
{trends}
<h2>Quarantine</h2>
{quarantine_table}
<h2>Model provenance</h2><table>{provenance_rows}</table>
{model_card_section(model_card)}
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
            + "".join(
                f"<span class='flag'>{html.escape(str(text))}.</span> "
                for text in (getattr(bank, "reason", ""), getattr(bank, "note", ""))
                if isinstance(text, str) and text
            )
            + f"Drivers: {html.escape(str(bank.drivers))}</p>"
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
