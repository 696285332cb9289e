"""The batch report and forecast pages: Jinja2 templates fed with data, escaped, sortable.

Drivers reach the report as ``Driver`` records, so names holding the very separators of the
``top_drivers`` text (``; `` and ``, ``) or HTML are shown whole and escaped.
"""

from __future__ import annotations

import re

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from exostab.model.lot_answer import Driver, drivers_text
from exostab.pages.report import batch_report, lot_trends_section

AWKWARD = ["IL6; CXCL8", "HLA-A, HLA-B", "<b>bold</b> & co", "a; b, c"]


def batch(names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three scored lots whose drivers carry ``names``, and their lot sheet."""
    drivers = [
        [Driver(names[0], 20.5, "log2", 0.8), Driver(names[1], None, "log2", -0.3)],
        [Driver(names[2], 18.25, "log2", 0.25)],
        [Driver(names[3], -1.4, "z", -0.05), Driver(names[0], 19.0, "log2", 0.1)],
    ]
    scores = pd.DataFrame(
        {
            "lot_id": ["L1", "L2", "L3"],
            "risk": [0.61, 0.2, 0.05],
            "risk_band": ["high", "review", "low"],
            "top_drivers": [drivers_text(d) for d in drivers],
            "coverage": [0.99, 0.97, 0.95],
            "in_domain": [True, False, True],
            "domain_score": [0.5, 1.4, 0.3],
            "warning": [None, None, None],
            "drivers": drivers,
        }
    )
    sheet = pd.DataFrame(
        {"donor_id": ["D-A", "D-A", "D-B"], "passage": [7, 7, 3]},
        index=pd.Index(["L1", "L2", "L3"], name="lot_id"),
    )
    return scores, sheet


def page(names: list[str], threshold: float = 0.25, low: float = 0.125) -> str:
    scores, sheet = batch(names)
    trends = lot_trends_section(scores, sheet, threshold, low)
    return batch_report(
        scores,
        pd.DataFrame({"lot_id": ["L9"], "reason": ["no protein profile"]}),
        {"model": "models:/exostab/1", "model trained on": "SIMULATED lots"},
        trends=trends,
        threshold=threshold,
        low=low,
        sheet=sheet,
        model_card="# Card\n\n<script>alert(1)</script>\n",
    )


def lot_rows(html: str) -> list[str]:
    body = html.split('<table class="sortable" id="lots">')[1].split("</table>")[0]
    return re.findall(r"<tr><td>.*?</tr>", body, flags=re.S)


def test_driver_names_with_the_text_separators_are_shown_whole_and_escaped() -> None:
    html = page(AWKWARD)
    rows = lot_rows(html)
    assert len(rows) == 3
    assert "IL6; CXCL8" in rows[0] and "HLA-A, HLA-B" in rows[0]
    assert "not detected, -0.300" in rows[0]  # the absent driver, from data
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in rows[1] and "<b>bold" not in html
    assert "a; b, c" in rows[2] and "-1.40 z" in rows[2]
    assert "<script>alert(1)</script>" not in html  # the model card's raw HTML is escaped


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(
            st.characters(blacklist_categories=("Cs", "Cc")).map(str)
            | st.sampled_from(["; ", ", ", "(", ")"]),
            min_size=1,
            max_size=12,
        )
        .map("".join)
        .filter(str.strip),
        min_size=4,
        max_size=4,
    )
)
def test_any_driver_name_reaches_its_lot_row_escaped(names: list[str]) -> None:
    from markupsafe import escape  # the templates' own escaping

    scores, _ = batch(names)
    rows = lot_rows(batch_report(scores, pd.DataFrame(columns=["lot_id", "reason"]), {}))
    for row, lot in zip(rows, scores["drivers"], strict=True):
        for driver in lot:
            assert str(escape(driver.name)) in row


def test_the_lot_table_has_donor_and_passage_and_sorts() -> None:
    html = page(AWKWARD)
    header = html.split('id="lots">')[1].split("</thead>")[0]
    assert [re.sub("<.*?>", "", h) for h in re.findall(r"<th>(.*?)</th>", header)][:4] == [
        "lot",
        "donor",
        "passage",
        "risk (0-1)",
    ]
    first = lot_rows(html)[0]
    assert "<td>D-A</td>" in first and '<td data-sort="7.0">7</td>' in first
    assert "table.sortable th" in html and "addEventListener" in html


def test_cutoffs_are_rounded_alike_on_every_part_of_the_page() -> None:
    html = page(AWKWARD, threshold=0.2468, low=0.1234)
    text = re.sub(r"<[^>]+>", " ", html.split("<script>")[0])
    said = set(re.findall(r"(?:cut-off|≥|&lt;|<)\s*(0\.\d+)", text))
    assert said == {"0.247", "0.123"}, said


def test_trends_and_figures_are_embedded() -> None:
    html = page(AWKWARD)
    assert html.count('alt="lot trend of donor') == 2
    assert 'alt="driver frequency"' in html and 'alt="risk against passage by donor"' in html
    assert "SIMULATED data" in html
