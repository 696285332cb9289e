"""Exact attributions of each lot's log-odds, keyed by lot and by protein, and their plots.

A lot's attributions are the prior's linear terms (metadata) plus the protein part's
contributions: TreeSHAP from LightGBM's own ``pred_contrib`` (identical to shap's
TreeExplainer, checked in a test) and/or exact linear terms. They sum to the lot's log-odds.
Scoring never imports shap; shap is used here only to draw its plots.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from exostab.io.writers import OutputFiles
from exostab.model.bundle import ModelBundle

logger = logging.getLogger(__name__)


def explain_lots(bundle: ModelBundle, table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the model's features of each lot (index lot_id) and their SHAP contributions.

    The contributions array has one column per model feature plus the base value last;
    each row sums to the lot's log-odds.
    """
    X = bundle.model_inputs(table.set_index("lot_id", drop=False))
    features = bundle.transform(X)[bundle.feature_names]
    _, contributions = bundle.raw_and_contributions(features)
    return features, contributions


def global_importance(
    bundle: ModelBundle,
    features: pd.DataFrame,
    contributions: np.ndarray,
    stability: pd.Series | None = None,
) -> pd.DataFrame:
    """Rank features by mean |attribution| (log-odds), with direction and stability.

    ``direction`` is ``higher raises risk`` when the feature's value and its attribution are
    positively rank-correlated across lots, ``higher lowers risk`` when negatively; a category
    column (tissue source, medium) has no order: ``by category (no order)``.
    ``mean_abs_shap`` splits into ``from_abundance`` (lots where the protein was detected) and
    ``from_absence`` (lots where it was not: an effect of detection, not of abundance).
    ``top_k_frequency`` is the share of outer CV folds whose model had the feature among its
    top k proteins (``stability``; NaN when not given): a driver seen in 1 of 5 folds is a guess.
    """
    shap_values = contributions[:, :-1]
    rows = []
    for j, feature in enumerate(bundle.feature_names):
        values = features[feature].to_numpy(dtype=float)
        known = np.isfinite(values)
        correlation = np.nan
        if known.sum() > 2 and np.ptp(values[known]) > 0 and np.ptp(shap_values[known, j]) > 0:
            correlation = pd.Series(values[known]).corr(
                pd.Series(shap_values[known, j]), method="spearman"
            )
        direction = (
            "by category (no order)"
            if feature in bundle.training_categories
            else "higher raises risk"
            if correlation > 0
            else "higher lowers risk"
            if correlation < 0
            else "no clear direction"
        )
        is_protein = feature in bundle.proteins.index
        magnitude = np.abs(shap_values[:, j])
        rows.append(
            {
                "protein": bundle.display_name(feature),
                "gene": bundle.proteins.at[feature, "gene"] if is_protein else None,
                "group_id": bundle.input_names[feature] if is_protein else None,
                "feature": feature,
                "kind": "protein" if is_protein else _kind(feature, bundle),
                "mean_abs_shap": float(np.mean(magnitude)),
                "from_abundance": float(np.sum(magnitude[known]) / max(len(magnitude), 1)),
                "from_absence": float(np.sum(magnitude[~known]) / max(len(magnitude), 1)),
                "top_k_frequency": (
                    float(stability.get(feature, 0.0)) if stability is not None else np.nan
                ),
                "direction": direction,
                "value_shap_spearman": float(correlation) if np.isfinite(correlation) else None,
                "detected_fraction": float(known.mean()),
            }
        )
    table = pd.DataFrame(rows).sort_values(
        ["mean_abs_shap", "feature"], ascending=[False, True], kind="stable"
    )
    return table.reset_index(drop=True)


def _kind(feature: str, bundle: ModelBundle) -> str:
    if feature in bundle.metadata:
        return "metadata"
    if feature.startswith("module_"):
        return "module score"
    return "missingness"


def lot_shap_long(features: pd.DataFrame, contributions: np.ndarray) -> pd.DataFrame:
    """Return the long table ``lot_id, feature, value, shap`` (one row per lot and feature)."""
    n_lots, n_features = features.shape
    return pd.DataFrame(
        {
            "lot_id": np.repeat(features.index.astype(str).to_numpy(), n_features),
            "feature": np.tile(features.columns.astype(str).to_numpy(), n_lots),
            "value": features.to_numpy(dtype=float).ravel(),
            "shap": contributions[:, :-1].ravel(),
        }
    )


def write_explanations(
    bundle: ModelBundle,
    table: pd.DataFrame,
    out: Path,
    *,
    n_dependence: int = 4,
    n_waterfall: int = 3,
    n_top: int = 20,
    stability: pd.Series | None = None,
) -> pd.DataFrame:
    """Write ``global_importance.csv``, ``lot_shap.parquet`` and the SHAP plots into ``out``.

    The files appear together, each complete, or none does (``OutputFiles``).

    Raises:
        OutputError: a file could not be written (disk full, permission).
    """
    import shap  # only here: importing shap costs seconds and scoring never needs it

    features, contributions = explain_lots(bundle, table)
    importance = group_modules(
        global_importance(bundle, features, contributions, stability), features
    )
    explanation = plot_explanation(bundle, features, contributions)
    risk = bundle.calibrator.risk(contributions.sum(axis=1))
    top = importance[importance["kind"] != "metadata"]["feature"].head(n_dependence).tolist()
    dependence = (["passage"] if "passage" in bundle.feature_names else []) + top
    position = {f: i for i, f in enumerate(bundle.feature_names)}
    riskiest = np.argsort(-contributions.sum(axis=1), kind="stable")[:n_waterfall]
    with OutputFiles() as outputs:
        with outputs.file(out / "global_importance.csv") as path:
            importance.to_csv(path, index=False)
        with outputs.file(out / "lot_shap.parquet") as path:
            lot_shap_long(features, contributions).to_parquet(path, index=False)
        with outputs.file(out / "shap_beeswarm.png") as path:
            _save(lambda: shap.plots.beeswarm(explanation, max_display=n_top, show=False), path)
        with outputs.file(out / "shap_bar.png") as path:
            _save(lambda: shap.plots.bar(explanation, max_display=n_top, show=False), path)
        for feature in dependence:
            j = position[feature]
            with outputs.file(out / f"shap_dependence_{_file_safe(feature)}.png") as path:
                _save(lambda j=j: shap.plots.scatter(explanation[:, j], show=False), path)
        for i in riskiest:
            lot = str(features.index[i])
            with outputs.file(out / f"shap_waterfall_{_file_safe(lot)}.png") as path:
                _save(
                    lambda i=i, lot=lot: waterfall_figure(
                        bundle, lot, features.iloc[int(i)], contributions[i], float(risk[i])
                    ),
                    path,
                )
    logger.info("explanations of %d lots written to %s", len(features), out)
    return importance


def plot_explanation(bundle: ModelBundle, features: pd.DataFrame, contributions: np.ndarray) -> Any:
    """The ``shap.Explanation`` the summary plots draw: readable names, categories uncoloured.

    A category has no order: its code is not a "high" or "low" value, so its cells are NaN
    here and the beeswarm draws them grey (shap's colour for no value), not on the value scale.
    """
    import shap

    coloured = features.copy()
    for column in bundle.training_categories:
        if column in coloured:
            coloured[column] = np.nan
    return shap.Explanation(
        values=contributions[:, :-1],
        base_values=contributions[:, -1],
        data=coloured.to_numpy(dtype=float),
        feature_names=[bundle.display_name(f) for f in bundle.feature_names],
    )


def value_text(bundle: ModelBundle, feature: str, value: float) -> str:
    """A feature's value in a lot, for a person: a category by its name, a unit otherwise.

    ``culture_format = 3D``, ``PTGS2 = 21.30 log2``, ``module_sasp = -1.40 z``,
    ``passage = 7``, ``CD9 not detected``.
    """
    name = bundle.display_name(feature)
    if not np.isfinite(value):
        return f"{name} not detected" if feature in bundle.proteins.index else f"{name} missing"
    if feature in bundle.training_categories:
        categories = sorted(bundle.training_categories[feature])
        code = int(value)
        return f"{name} = {categories[code] if 0 <= code < len(categories) else value}"
    if feature in bundle.proteins.index:
        return f"{name} = {value:.2f} log2"
    if feature.startswith("module_"):
        return f"{name} = {value:.2f} z"
    return f"{name} = {value:g}"


def waterfall_figure(
    bundle: ModelBundle,
    lot: str,
    features: pd.Series,
    contributions: np.ndarray,
    risk: float,
    n_named: int = 10,
) -> Figure:
    """One lot's attributions as a waterfall, in names and units, with its calibrated risk.

    The ``n_named`` largest attributions are bars labelled with the feature's value in the lot
    (categories by name). The rest are summed in one grey bar, "N other features"; when that
    sum would outweigh the smallest named bar, its bar is drawn no longer than that one
    (hatched) with its true total written beside it: thousands of tiny protein effects never
    hide the named drivers, and the figure still says how much they add up to.

    Args:
        features: the lot's model features (``feature_names``; categories as codes).
        contributions: the lot's attributions in log-odds, base value last.
        risk: the lot's calibrated risk (0-1), as the report shows it.
    """
    shap_values = contributions[:-1]
    base = float(contributions[-1])
    order = np.argsort(-np.abs(shap_values), kind="stable")
    named = list(order[:n_named])
    rest = order[n_named:]
    smallest = float(np.min(np.abs(shap_values[named]))) if named else 0.0
    labels = [value_text(bundle, bundle.feature_names[j], float(features.iloc[j])) for j in named]
    widths = [float(shap_values[j]) for j in named]
    shown = list(widths)
    if len(rest):
        total = float(shap_values[rest].sum())  # net: thousands of small terms cancel
        labels.append(f"{len(rest)} other features (net)")
        widths.append(total)
        shown.append(float(np.sign(total)) * min(abs(total), smallest))
    figure, axis = plt.subplots(figsize=(7.5, 0.42 * len(labels) + 1.6))
    position = base
    bar_ends: list[float] = []
    y = np.arange(len(labels))[::-1]
    for k, (true, drawn) in enumerate(zip(widths, shown, strict=True)):
        is_rest = k >= len(named)
        colour = "#9e9e9e" if is_rest else ("#c0392b" if true > 0 else "#2471a3")
        axis.barh(
            y[k], drawn, left=position, color=colour, height=0.6, hatch="//" if is_rest else None
        )
        note = f"{true:+.3f}" + (" (bar shortened)" if drawn != true else "")
        axis.text(
            position + drawn,
            y[k],
            f" {note}" if drawn >= 0 else f"{note} ",
            va="center",
            fontsize=7,
            ha="left" if drawn >= 0 else "right",
        )
        bar_ends += [position, position + drawn]
        position += drawn if is_rest else true
    total_log_odds = float(contributions.sum())
    ends = [base, total_log_odds, *bar_ends]
    span = (max(ends) - min(ends)) or 1.0
    axis.set_xlim(min(ends) - 0.22 * span, max(ends) + 0.22 * span)  # room for the numbers
    axis.axvline(base, color="grey", linestyle=":", linewidth=1)
    axis.axvline(total_log_odds, color="black", linestyle="--", linewidth=1)
    axis.set_yticks(y, labels=labels)
    axis.set_xlabel("contribution to the log-odds of instability (base value at the dotted line)")
    axis.set_title(
        f"lot {lot}: calibrated risk {risk:.3f} (probability 0-1)\n"
        f"log-odds f(x) = {total_log_odds:.3f} (dashed) = base {base:.3f} + attributions",
        fontsize=9,
    )
    figure.tight_layout()
    return figure


MAX_PLOT_PX = 2000
MAX_LABEL_CHARS = 40
PLOT_DPI = 110


def _save(draw: object, path: Path) -> None:
    """Draw a plot and save it as PNG no wider than ``MAX_PLOT_PX`` pixels.

    Tick labels are cut to ``MAX_LABEL_CHARS`` (a protein group id can run to hundreds of
    characters); if the tight bounding box is still too wide the figure is saved at a lower dpi.
    """
    from PIL import Image

    plt.close("all")
    draw()  # type: ignore[operator]
    figure = plt.gcf()
    for axes in figure.axes:
        labels = [t.get_text() for t in axes.get_yticklabels()]
        if any(len(text) > MAX_LABEL_CHARS for text in labels):
            cut = [
                t if len(t) <= MAX_LABEL_CHARS else t[: MAX_LABEL_CHARS - 1] + "…" for t in labels
            ]
            axes.set_yticks(axes.get_yticks(), labels=cut)
        if len(axes.get_xlabel()) > 2 * MAX_LABEL_CHARS:
            axes.set_xlabel(axes.get_xlabel()[: 2 * MAX_LABEL_CHARS - 1] + "…")
    width, height = figure.get_size_inches()
    figure.set_size_inches(min(max(width, 7), MAX_PLOT_PX / PLOT_DPI * 0.9), height)
    # format named: the path may be a temporary name without the .png suffix
    figure.savefig(path, dpi=PLOT_DPI, bbox_inches="tight", format="png")
    with Image.open(path) as image:
        pixels = image.size[0]
    if pixels > MAX_PLOT_PX:
        figure.savefig(
            path, dpi=PLOT_DPI * MAX_PLOT_PX / pixels * 0.98, bbox_inches="tight", format="png"
        )
    plt.close("all")


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


# Two proteins whose abundances have |Spearman| >= this across the explained lots are one module.
MODULE_CORRELATION = 0.7
# Only the most important proteins are grouped (the rest are reported as they are).
MODULE_SCAN = 100


def group_modules(
    importance: pd.DataFrame,
    features: pd.DataFrame,
    threshold: float = MODULE_CORRELATION,
    scan: int = MODULE_SCAN,
) -> pd.DataFrame:
    """Group correlated proteins into modules, each under its most important protein.

    Proteins that move together (|Spearman| ≥ ``threshold`` over the lots of ``features``,
    pairwise-complete) carry the same information, and SHAP spreads the credit among them: a
    protein that only follows a driver (a passenger of senescence, say) can outrank the driver
    itself. Walking down the importance table, a protein joins the module of the first more
    important lead it correlates with, else it leads a module of its own. The list of leads
    is then the list of distinct drivers, and each lead names the members it stands for.

    Args:
        importance: ``global_importance`` output, sorted by ``mean_abs_shap``.
        features: lots × model features (log2 abundances as the model sees them).
        threshold: the |Spearman| correlation that makes two proteins one module.
        scan: how many of the most important proteins are grouped.

    Returns:
        ``importance`` with ``module_lead`` (the readable name of the protein's lead; itself for
        a lead; empty for proteins beyond ``scan`` and for non-proteins), ``is_module_lead``
        and ``module_members`` (for a lead: its members' readable names, ``; ``-joined).
    """
    table = importance.copy()
    table["module_lead"] = None
    table["is_module_lead"] = False
    table["module_members"] = ""
    proteins = table.index[table["kind"] == "protein"][:scan]
    if not len(proteins):
        return table
    columns = table.loc[proteins, "feature"].tolist()
    correlation = features[columns].rank().corr(min_periods=10).abs().fillna(0.0).to_numpy()
    leads: list[int] = []
    members: dict[int, list[int]] = {}
    for i in range(len(columns)):
        lead = next((j for j in leads if correlation[i, j] >= threshold), None)
        if lead is None:
            leads.append(i)
            members[i] = []
        else:
            members[lead].append(i)
    names = table.loc[proteins, "protein"].astype(str).tolist()
    for lead in leads:
        table.loc[proteins[lead], ["module_lead", "is_module_lead"]] = [names[lead], True]
        table.loc[proteins[lead], "module_members"] = "; ".join(names[m] for m in members[lead])
        for m in members[lead]:
            table.loc[proteins[m], "module_lead"] = names[lead]
    return table
