"""Self-contained HTML pages: the batch report of a scored batch and the cell-bank forecast.

The pages are Jinja2 templates (``src/exostab/pages/templates/``, autoescaped); this module turns
scores, drivers and figures into the plain data those templates show. Drivers arrive as data
(``Driver`` lists from ``ModelBundle.predict(..., with_drivers=True)``), never re-read from
the ``top_drivers`` text, so a protein named ``a; b, c`` is shown as it is.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from exostab.pages.figures import BAND_COLOURS, cutoff_text

if TYPE_CHECKING:
    from exostab.forecast import ForecastResult
    from exostab.model.bundle import ModelBundle
    from exostab.scoring.batch_files import BatchRun

BAND_ORDER = {"high": 3, "review": 2, "low": 1, "not assessable": 0}


@functools.cache
def templates() -> Any:
    """The Jinja2 environment of the package's templates (autoescape on for every page)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("exostab.pages", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def simulated_text(provenance: dict[str, Any]) -> str:
    """The provenance entries that say SIMULATED, as one phrase ('' when none does)."""
    return ", ".join(f"{k} {v}" for k, v in provenance.items() if "SIMULATED" in str(v))


def quarantine_rows(quarantine: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {"lot_id": str(r.lot_id), "reason": str(r.reason)}
        for r in quarantine.itertuples(index=False)
    ]


def driver_rows(drivers: Sequence[Any], scale: float) -> list[dict[str, Any]]:
    """A lot's drivers (``Driver``) as bars: width in px ∝ |attribution|, red raises risk."""
    return [
        {
            "name": d.name,
            "shown": "not detected" if d.value is None else f"{d.value:.2f} {d.unit}",
            "attribution": f"{d.attribution:+.3f}",
            "width": max(2, int(120 * abs(d.attribution) / scale)),
            "colour": "#c0392b" if d.attribution > 0 else "#2471a3",
        }
        for d in drivers
    ]


def lot_drivers(scores: pd.DataFrame) -> list[list[Any]]:
    """Each scored lot's ``Driver`` list (empty where the scores carry no ``drivers``)."""
    if "drivers" not in scores:
        return [[] for _ in range(len(scores))]
    return [list(d) if isinstance(d, list | tuple) else [] for d in scores["drivers"]]


def sheet_column(scores: pd.DataFrame, sheet: pd.DataFrame | None, column: str) -> pd.Series:
    """A lot-sheet column for each scored lot (NaN where the sheet lacks the lot or column)."""
    if sheet is None or column not in sheet.columns:
        return pd.Series([None] * len(scores), index=scores.index, dtype=object)
    values = sheet[column].set_axis(sheet.index.astype(str))
    values = values[~values.index.duplicated()]
    return scores["lot_id"].astype(str).map(values)


def figures(
    scores: pd.DataFrame,
    drivers: list[list[Any]],
    sheet: pd.DataFrame | None,
    threshold: float,
    low: float,
) -> list[dict[str, str]]:
    """Figures of the batch: risk distribution, risk against passage, driver frequency."""
    from exostab.pages.figures import (
        driver_frequency_figure,
        figure_png_base64,
        risk_distribution_figure,
        risk_passage_figure,
    )

    if scores.empty:
        return []
    hold, review = cutoff_text(threshold), cutoff_text(low)
    shown = [
        {
            "alt": "risk distribution",
            "png": figure_png_base64(risk_distribution_figure(scores["risk"], threshold, low)),
            "caption": "Risk of the batch's lots (histogram, 0-1; not assessable lots included). "
            f"Dashed red line: hold cut-off {hold}; dotted orange: review cut-off {review}.",
        }
    ]
    lots = (
        scores[["lot_id", "risk"]]
        .assign(
            passage=pd.to_numeric(sheet_column(scores, sheet, "passage"), errors="coerce"),
            donor_id=sheet_column(scores, sheet, "donor_id"),
        )
        .dropna()
    )
    if not lots.empty:
        shown.append(
            {
                "alt": "risk against passage by donor",
                "png": figure_png_base64(risk_passage_figure(lots, threshold, low)),
                "caption": "Risk (0-1) against passage, one colour per donor: a risk rising "
                "with passage within a donor is the senescence the model looks for. Lines: "
                "cut-offs as above.",
            }
        )
    counts = pd.Series([d.name for lot in drivers for d in lot], dtype=object).value_counts()
    if len(counts):
        shown.append(
            {
                "alt": "driver frequency",
                "png": figure_png_base64(driver_frequency_figure(counts, len(scores))),
                "caption": "How many lots of this batch list each protein among their top "
                "drivers (either direction); the 15 most frequent.",
            }
        )
    return shown


def model_card_html(card: str) -> Any:
    """The model card (markdown) as HTML, raw HTML in it escaped ('' when there is none)."""
    if not card:
        return ""
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    return Markup(MarkdownIt("commonmark", {"html": False}).enable("table").render(card))


def _number(value: Any, fmt: str) -> tuple[str, str]:
    """(shown text, sort key) of a number cell; an empty cell sorts first."""
    number = pd.to_numeric(value, errors="coerce")
    if number is None or pd.isna(number):
        return "", "-1e300"
    return format(float(number), fmt), repr(float(number))


def batch_report(
    scores: pd.DataFrame,
    quarantine: pd.DataFrame,
    provenance: dict[str, Any],
    trends: dict[str, Any] | None = None,
    *,
    threshold: float = 0.25,
    low: float = 0.125,
    sheet: pd.DataFrame | None = None,
    model_card: str = "",
) -> str:
    """Return the self-contained HTML page of a scored batch.

    Args:
        scores: scored lots (the ``ModelBundle.predict`` columns); with a ``drivers`` column
            (``predict(..., with_drivers=True)``) the drivers are drawn as bars, without it
            the page shows none (the ``top_drivers`` text is not parsed back).
        quarantine: lots that could not be scored (``lot_id``, ``reason``).
        provenance: model and input facts shown in a table.
        trends: the lot trends per donor (``lot_trends_section``); None leaves them out.
        threshold: the hold cut-off of the bands (risk 0-1).
        low: the review cut-off of the bands (risk 0-1).
        sheet: the lot sheet (index ``lot_id``; ``passage``, ``donor_id``): the lot table's
            donor and passage columns and the risk-against-passage figure.
        model_card: the model's card (markdown), rendered at the end.
    """
    from exostab.model.lot_answer import FAR_OUTSIDE, MIN_COVERAGE

    ordered = scores.sort_values("risk", ascending=False, kind="stable").reset_index(drop=True)
    drivers = lot_drivers(ordered)
    scale = max((abs(d.attribution) for lot in drivers for d in lot), default=1.0) or 1.0
    donors = sheet_column(ordered, sheet, "donor_id")
    passages = sheet_column(ordered, sheet, "passage")
    warnings = ordered["warning"] if "warning" in ordered else pd.Series([None] * len(ordered))
    lots = []
    for i, row in enumerate(ordered.itertuples(index=False)):
        risk, risk_key = _number(row.risk, ".3f")
        passage, passage_key = _number(passages.iat[i], ".0f")
        coverage, coverage_key = _number(row.coverage, ".0%")
        domain, domain_key = _number(row.domain_score, ".2f")
        donor: Any = donors.iat[i]
        warning = warnings.iat[i]
        lots.append(
            {
                "lot_id": str(row.lot_id),
                "donor": "" if donor is None or pd.isna(donor) else str(donor),
                "passage": passage,
                "passage_key": passage_key,
                "risk": risk,
                "risk_key": risk_key,
                "band": str(row.risk_band),
                "band_key": BAND_ORDER.get(str(row.risk_band), -1),
                "drivers": driver_rows(drivers[i], scale),
                "top_key": repr(max((abs(d.attribution) for d in drivers[i]), default=0.0)),
                "coverage": coverage,
                "coverage_key": coverage_key,
                "domain_score": domain,
                "domain_key": domain_key,
                "in_domain": bool(row.in_domain),
                "warning": warning if isinstance(warning, str) else "",
            }
        )
    counts = ordered["risk_band"].value_counts()
    ratio = (1 - threshold) / threshold if threshold > 0 else math.nan
    return (
        templates()
        .get_template("batch_report.html.j2")
        .render(
            simulated=simulated_text(provenance),
            lots=lots,
            counts={band: int(counts.get(band, 0)) for band in BAND_ORDER},
            n_outside=int((~ordered["in_domain"].astype(bool)).sum()),
            quarantine=quarantine_rows(quarantine),
            colours=BAND_COLOURS,
            hold=cutoff_text(threshold),
            review=cutoff_text(low),
            cost_ratio=f"{ratio:.3g}",
            review_share=f"{low / threshold if threshold else math.nan:.2g}",
            min_coverage=f"{MIN_COVERAGE:.0%}",
            far_outside=f"{FAR_OUTSIDE:g}",
            figures=figures(ordered, drivers, sheet, threshold, low),
            trends=trends,
            provenance={str(k): str(v) for k, v in provenance.items()},
            model_card=model_card_html(model_card),
        )
    )


# --- Lot trends per donor (batch report) -----------------------------------------------------


def batch_run_report(run: BatchRun, bundle: ModelBundle, provenance: dict[str, Any]) -> str:
    """The batch report of a finished ``score`` run (kept with ``keep_for_report``).

    The scored lots with their drivers, the quarantine, the lot trends per donor and the
    model's card, cut at the model's band cut-offs (``batch_report``).
    """
    scored, sheet = run.scored(), run.sheet
    return batch_report(
        scored,
        run.quarantine(),
        provenance,
        trends=lot_trends_section(scored, sheet, bundle.bands.threshold, bundle.bands.low),
        threshold=bundle.bands.threshold,
        low=bundle.bands.low,
        sheet=sheet,
        model_card=bundle.model_card,
    )


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
) -> dict[str, Any]:
    """The batch report's "Lot trends per donor": one figure per donor, as template data.

    Args:
        scores: scored lots (``lot_id``, ``risk``).
        sheet: the lot sheet (index ``lot_id``; ``donor_id``, ``passage``, maybe a date column).
        threshold: the hold cut-off of the bands (risk 0-1).
        low: the review cut-off of the bands (risk 0-1).

    Returns:
        ``{"axis": "date" or "passage", "figures": [{"donor", "png"}], "missing": ""}``;
        ``missing`` says why there are no trends (no ``donor_id`` column, no lot).
    """
    from exostab.pages.figures import figure_png_base64, lot_trend_figure

    if "donor_id" not in sheet.columns or scores.empty:
        return {"axis": "", "figures": [], "missing": "No donor_id in the lot sheet."}
    donors = sheet["donor_id"].set_axis(sheet.index.astype(str))
    lots = scores[["lot_id", "risk"]].assign(
        donor_id=scores["lot_id"].astype(str).map(donors).astype("string")
    )
    position, axis_name = lot_sequence(sheet, lots["lot_id"])
    lots = lots.assign(position=position).dropna(subset=["donor_id"])
    shown = []
    for donor, rows in lots.groupby("donor_id", sort=True):
        rows = rows.sort_values(["position", "lot_id"], kind="stable")
        figure = lot_trend_figure(
            rows["position"], rows["risk"], threshold, low, axis_name, f"donor {donor}"
        )
        shown.append({"donor": str(donor), "png": figure_png_base64(figure)})
    return {"axis": axis_name, "figures": shown, "missing": ""}


# --- Cell-bank forecast page -----------------------------------------------------------------


def forecast_page(result: ForecastResult, provenance: dict[str, Any]) -> str:
    """Return the self-contained forecast page: one risk-against-passage curve per bank.

    Args:
        result: what ``run_forecast`` found (curves, banks, measured lots, quarantine, cutoffs).
        provenance: shown as the page's "where these numbers come from" table.
    """
    from exostab.forecast import passage_text, said
    from exostab.pages.figures import figure_png_base64, forecast_figure

    curves, banks, measured = result.curves, result.banks, result.measured
    threshold, low = result.threshold, result.low

    shown: list[dict[str, Any]] = []
    for bank in banks.itertuples(index=False):
        donor = str(bank.donor_id)
        curve = curves[curves["donor_id"].astype(str) == donor]
        if curve.empty:
            shown.append({"donor": donor, "png": None, "reason": said(bank.reason)})
            continue
        lots = measured[measured["donor_id"].astype(str) == donor]
        figure = forecast_figure(curve, lots, threshold, low, f"bank {donor}")
        shown.append(
            {
                "donor": donor,
                "png": figure_png_base64(figure),
                "n_lots": int(bank.n_lots),  # type: ignore[arg-type]
                "last_measured": passage_text(bank.last_measured_passage),
                "last_safe": passage_text(bank.last_safe_passage),
                "flags": [t for t in (said(bank.reason), said(bank.note)) if t],
                "drivers": said(bank.drivers),
                "reason": said(bank.reason),
            }
        )
    return (
        templates()
        .get_template("forecast.html.j2")
        .render(
            simulated=simulated_text(provenance),
            banks=shown,
            hold=cutoff_text(threshold),
            review=cutoff_text(low),
            provenance={str(k): str(v) for k, v in provenance.items()},
            quarantine=quarantine_rows(result.quarantine),
        )
    )
