"""What a trained model is, in words: the model card, the registry description and tags.

Pure functions of the training result and the data fingerprint (no mlflow, no files), so the
same text goes to the run (``model_card.md``), to the registered version and to the report.
"""

from __future__ import annotations

from typing import Any

BASELINE_NAMES = {
    "passage_only": "passage alone",
    "lgbm_default": "default LightGBM on all proteins",
    "omiclearn": "OmicLearn-style pipeline",
    "l2_logistic": "L2 logistic regression on all proteins",
}

SIMULATOR_ASSUMPTIONS = (
    "The lots were written by `exostab simulate` (src/exostab/simulate/). Donors (tissue "
    "source, age) give expansion series (medium, culture format) and lots (passage, priming, "
    "isolation, storage). A latent senescence state follows population doublings; true log2 "
    "abundances move by module (EV identity stable, immunomodulatory proteins lost, SASP "
    "gained) plus donor effects and lot noise; LC-MS adds batch, run order, intensity-dependent "
    "noise and intensity-dependent missingness. Instability is a threshold on replicate "
    "potency assays driven by a few causal proteins. Effect sizes are assumptions; a driver "
    "found here is a property of the simulator, not a finding about real MSC-exosome lots."
)


def _number(value: Any, digits: int = 3) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if number != number else f"{number:.{digits}f}"


def _interval(result: Any, key: str) -> str:
    low, high = result.intervals.get(key, (float("nan"), float("nan")))
    return f"{_number(result.metrics.get(key))} (95% CI {_number(low)} to {_number(high)})"


def data_line(fingerprint: dict[str, Any]) -> str:
    """One line naming the data: format, lots, donors, proteins, simulated or real."""
    kind = "SIMULATED" if fingerprint.get("simulated") else "real"
    return (
        f"{kind} {fingerprint.get('format', 'unknown format')}: "
        f"{fingerprint.get('n_lots', '?')} lots of {fingerprint.get('n_groups', '?')} donors × "
        f"{fingerprint.get('n_proteins', '?')} protein groups, "
        f"{fingerprint.get('n_unstable', '?')} unstable (prevalence "
        f"{_number(fingerprint.get('prevalence'), 2)}), data hash {fingerprint.get('data_hash')}"
    )


def baselines_beaten(result: Any) -> tuple[list[str], list[str]]:
    """Return (beaten, not beaten) baseline names, as measured on the same CV folds."""
    beaten: list[str] = []
    not_beaten: list[str] = []
    for key, value in sorted(result.metrics.items()):
        if key.startswith("beats_"):
            name = key.removeprefix("beats_")
            (beaten if value >= 1 else not_beaten).append(name)
    return beaten, not_beaten


# The registered version's tag that records the champion gate (``exostab promote`` reads it).
GATE_TAG = "gate_verdict"
ELIGIBLE = "champion-eligible"


def gate_verdict(result: Any) -> str:
    """``champion-eligible``, ``not eligible`` or ``constant risk`` (never registered)."""
    verdict = result.verdict
    if verdict.constant:
        return "constant risk"
    return ELIGIBLE if verdict.champion_eligible else "not eligible"


def version_tags(result: Any, fingerprint: dict[str, Any], validation: str) -> dict[str, str]:
    """Tags of a registered model version (short values the registry UI can filter on)."""
    beaten, not_beaten = baselines_beaten(result)
    verdict = result.verdict
    return {
        "data": f"{fingerprint.get('format')} {fingerprint.get('data_hash')}",
        "simulated_data": str(bool(fingerprint.get("simulated"))).lower(),
        "n_lots": str(fingerprint.get("n_lots")),
        "n_donors": str(fingerprint.get("n_groups")),
        "n_proteins": str(fingerprint.get("n_proteins")),
        "validation": validation,
        "structure": result.choice.label,
        "cv_roc_auc": _interval(result, "cv_roc_auc"),
        "cv_brier": _interval(result, "cv_brier"),
        "cv_pr_auc": _number(result.metrics.get("cv_pr_auc")),
        "cv_ece": _number(result.metrics.get("cv_ece")),
        "gain_over_passage": (
            f"{verdict.gain:+.3f} (95% CI {verdict.gain_low:+.3f} to {verdict.gain_high:+.3f})"
        ),
        "baselines_beaten": ", ".join(beaten) or "none",
        "baselines_not_beaten": ", ".join(not_beaten) or "none",
        GATE_TAG: gate_verdict(result),
    }


def version_description(result: Any, fingerprint: dict[str, Any], validation: str) -> str:
    """The registered version's description: what it was trained on and how well it did."""
    tags = version_tags(result, fingerprint, validation)
    return (
        f"{result.choice.label} trained on {data_line(fingerprint)}. {validation} CV: AUROC "
        f"{tags['cv_roc_auc']}, Brier {tags['cv_brier']}; gain over passage alone "
        f"{tags['gain_over_passage']}. Baselines beaten: {tags['baselines_beaten']}. "
        f"Gate: {tags[GATE_TAG]}. Full model card: artifact model_card.md of the run."
    )


def model_card(
    result: Any, fingerprint: dict[str, Any], validation: str, *, cost_ratio: float | None = None
) -> str:
    """Return the model card (markdown) of one trained model.

    Args:
        result: the ``TrainResult`` (metrics, intervals, verdict, bands, chosen structure).
        fingerprint: the data fingerprint (format, n_lots, n_groups, n_proteins, simulated...).
        validation: the validation scheme in words (e.g. ``group_kfold by donor_id``).
        cost_ratio: cost of releasing an unstable lot / cost of rejecting a stable one.
    """
    m = result.metrics
    verdict = result.verdict
    beaten, not_beaten = baselines_beaten(result)
    simulated = bool(fingerprint.get("simulated"))
    rows = [
        "| model | CV AUROC | beaten |",
        "|---|---|---|",
        f"| this model ({result.choice.label}) | {_interval(result, 'cv_roc_auc')} | |",
    ]
    for name in sorted(set(beaten) | set(not_beaten)):
        rows.append(
            f"| {BASELINE_NAMES.get(name, name)} | "
            f"{_number(m.get(f'baseline_{name}_cv_roc_auc'))} | "
            f"{'yes' if name in beaten else 'no'} |"
        )
    bands = result.bands
    ratio = cost_ratio if cost_ratio is not None else (1 - bands.threshold) / bands.threshold
    limits = [
        f"Trained on {fingerprint.get('n_lots')} lots of {fingerprint.get('n_groups')} donors: "
        "the intervals above are wide when donors are few.",
        "A lot that measured fewer than half of the model's proteins, or lies outside the "
        "training domain, is answered `not assessable` instead of a band.",
        "Risks are calibrated on the training lots' out-of-fold predictions; a new site, "
        "instrument or search engine can shift them.",
        "Drivers are attributions of this model, not causes.",
    ]
    if verdict.too_few:
        limits.insert(0, "Too few lots or donors for a trustworthy grouped CV.")
    if not verdict.champion_eligible:
        limits.insert(0, "This model did NOT pass the gate (gain over passage alone).")
    sections = [
        f"# Model card: exostab {result.choice.label}",
        "",
        "SIMULATED training data: nothing here describes real lots." if simulated else "",
        "## Intended use",
        "Rank manufacturing lots of MSC-derived exosomes by the risk of unstable "
        "immunomodulatory potency, from a per-lot protein profile plus the lot sheet, to decide "
        "which lots to hold for a potency assay. Not a release test and not a substitute for "
        "the assay.",
        "",
        "## Data",
        data_line(fingerprint) + ".",
        "",
        "## Validation",
        f"{validation}: no donor is on both sides of a fold ({len(result.plan.folds)} folds). "
        "The structure (prior / trees / linear / blend) and rounds are chosen by an inner CV "
        "inside each outer fold. Intervals are 95% donor-bootstrap intervals.",
        "",
        "## Performance against baselines (same folds)",
        *rows,
        "",
        f"Gain over passage alone: {verdict.gain:+.3f} AUROC (95% CI {verdict.gain_low:+.3f} "
        f"to {verdict.gain_high:+.3f}). Gate verdict: **{gate_verdict(result)}**.",
        "",
        "## Calibration",
        f"Brier {_interval(result, 'cv_brier')}, expected calibration error "
        f"{_number(m.get('cv_ece'))}, PR-AUC {_number(m.get('cv_pr_auc'))} (prevalence "
        f"{_number(fingerprint.get('prevalence'), 2)}). Bands: `high` (hold) at risk ≥ "
        f"{bands.threshold:.3f}, the expected-cost threshold when releasing an unstable lot "
        f"costs {ratio:.3g}× rejecting a stable one; `review` from {bands.low:.3f}; `low` "
        "below.",
        "",
        "## Known limits",
        *[f"- {line}" for line in limits],
        "",
    ]
    if simulated:
        sections += ["## Simulator assumptions", SIMULATOR_ASSUMPTIONS, ""]
    return "\n".join(sections)
