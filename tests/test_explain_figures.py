"""SHAP figures in names and units: read back from the figures' own text (matplotlib).

The planted model (tests/conftest.py) has a categorical lot-sheet column (``medium``) and 60
proteins, so its waterfalls have a category, proteins and a remainder of other features.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from exostab.model.bundle import ModelBundle
from exostab.scoring.explain import explain_lots, plot_explanation, value_text, waterfall_figure
from exostab.training.nested_cv import train_model


@pytest.fixture(scope="module")
def explained(planted, fast_config):
    bundle = ModelBundle.from_training(train_model(planted, fast_config, {}), True)
    features, contributions = explain_lots(bundle, planted.X.reset_index())
    risk = bundle.calibrator.risk(contributions.sum(axis=1))
    return bundle, features, contributions, risk


def figure_text(figure) -> str:
    texts = [t.get_text() for t in figure.findobj(matplotlib.text.Text)]
    return "\n".join(t for t in texts if t)


def test_waterfall_names_categories_and_gives_the_risk_beside_the_log_odds(explained) -> None:
    bundle, features, contributions, risk = explained
    for i in range(0, len(features), 17):
        j = bundle.feature_names.index("medium")
        row = features.iloc[i]
        named_everything = waterfall_figure(
            bundle, "L", row, contributions[i], float(risk[i]), n_named=len(row)
        )
        text = figure_text(named_everything)
        plt.close(named_everything)
        category = sorted(bundle.training_categories["medium"])[int(row.iloc[j])]
        assert f"medium = {category}" in text
        assert not re.search(r"^\d+(\.\d+)? = medium", text, flags=re.M)  # shap's code form
        assert f"calibrated risk {risk[i]:.3f} (probability 0-1)" in text
        assert f"log-odds f(x) = {contributions[i].sum():.3f}" in text
        assert re.search(r"= \d+\.\d\d log2", text)  # a protein in its unit


def test_other_features_never_outweigh_the_named_bars(explained) -> None:
    bundle, features, contributions, risk = explained
    for i in range(len(features)):
        figure = waterfall_figure(bundle, "L", features.iloc[i], contributions[i], float(risk[i]))
        axis = figure.axes[0]
        labels = [t.get_text() for t in axis.get_yticklabels()]
        widths = [abs(p.get_width()) for p in axis.patches]
        plt.close(figure)
        named = [
            w for w, label in zip(widths, labels, strict=True) if "other features" not in label
        ]
        other = [w for w, label in zip(widths, labels, strict=True) if "other features" in label]
        assert len(named) == 10 and other
        assert max(other) <= min(named) + 1e-12


def test_value_text_reads_units() -> None:
    class Stub:
        def __init__(self) -> None:
            self.training_categories = {"medium": frozenset({"FBS", "hPL"})}
            self.proteins = type("P", (), {"index": ["CD9"]})()

        def display_name(self, feature: str) -> str:
            return feature

    stub = Stub()
    assert value_text(stub, "medium", 1.0) == "medium = hPL"  # type: ignore[arg-type]
    assert value_text(stub, "CD9", 21.0) == "CD9 = 21.00 log2"  # type: ignore[arg-type]
    assert value_text(stub, "CD9", np.nan) == "CD9 not detected"  # type: ignore[arg-type]
    assert value_text(stub, "passage", 7.0) == "passage = 7"  # type: ignore[arg-type]


def test_beeswarm_draws_categories_grey_not_on_the_value_scale(explained) -> None:
    import shap
    from matplotlib.colors import to_hex

    bundle, features, contributions, _ = explained
    explanation = plot_explanation(bundle, features, contributions)
    plt.close("all")
    shap.plots.beeswarm(explanation, max_display=len(bundle.feature_names), show=False)
    plt.gcf().canvas.draw()  # value colours are mapped at draw time
    axis = plt.gcf().axes[0]
    rows = {t.get_text(): y for t, y in zip(axis.get_yticklabels(), axis.get_yticks(), strict=True)}
    text = figure_text(plt.gcf())
    assert "medium" in rows and "High" in text  # the value scale is there, for the others
    colours: dict[str, set[str]] = {"medium": set(), "passage": set()}
    for collection in axis.collections:
        offsets = collection.get_offsets()
        if len(offsets) == 0:
            continue
        for name in colours:
            if np.all(np.abs(np.asarray(offsets)[:, 1] - rows[name]) < 0.5):
                colours[name] |= {to_hex(c) for c in collection.get_facecolors()}
    plt.close("all")
    assert colours["medium"] == {"#777777"}  # one grey: no high/low colour
    assert len(colours["passage"]) > 1  # an ordered feature keeps its colour scale
