"""One training run end to end: files → TrainingSet → TrainResult → artifacts → mlflow.

The CLI's ``train`` parses options, calls ``run_training`` and prints the ``TrainingOutcome``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.markup import escape

from exostab.config import CONFIG_DIR, TrainConfig, read_yaml
from exostab.dataset import TrainingSet, build_training_set
from exostab.forecast import attach_trajectory
from exostab.io.provenance import file_sha256, is_simulated
from exostab.model.bundle import ModelBundle
from exostab.monitor import attach_reference
from exostab.training.nested_cv import Progress, TrainResult, headline_metrics, train_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingOutcome:
    """What ``run_training`` did: the data, the result, and what mlflow holds now."""

    training: TrainingSet
    result: TrainResult
    fingerprint: dict[str, Any]
    importance: pd.DataFrame
    run_id: str
    run_name: str
    model_uri: str | None
    model_version: str | None
    aliases: tuple[str, ...]
    seconds: float
    model_name: str | None = None
    registry_notes: tuple[str, ...] = ()
    experiment_id: str | None = None

    def summary(self, tracking_uri: str) -> dict[str, Any]:
        """Return the run's JSON summary (``exostab train --summary``): ids, CV metrics, verdict."""
        result, fingerprint, m = self.result, self.fingerprint, self.result.metrics
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "model_uri": self.model_uri,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "aliases": list(self.aliases),
            **{k: m[k] for k in ("cv_roc_auc", "cv_pr_auc", "cv_brier", "cv_log_loss", "cv_ece")},
            "gain_over_passage": result.verdict.gain,
            "gain_over_passage_ci": [result.verdict.gain_low, result.verdict.gain_high],
            "champion_eligible": result.verdict.champion_eligible,
            "constant_risk": result.verdict.constant,
            "chosen_structure": result.choice.label,
            "n_lots": fingerprint["n_lots"],
            "n_donors": fingerprint["n_groups"],
            "n_proteins_in": fingerprint["n_proteins"],
            "n_features_used": result.n_features_used,
            "seconds": round(self.seconds, 2),
            "simulated_data": fingerprint["simulated"],
            "tracking_uri": tracking_uri,
            "cv_scheme": result.plan.scheme,
            "cv_merged_folds": result.plan.n_merged,
        }

    def report_lines(self, stability_k: int) -> list[str]:
        """Return what ``exostab train`` prints, one rich-markup line each (names escaped).

        Lines: data and chosen structure; CV metrics; baselines on the same folds; the verdict
        (gain over passage alone, champion or not); the top protein drivers with the share of
        CV folds that had each in their top ``stability_k``; the mlflow run and version.
        """
        result, fingerprint, m = self.result, self.fingerprint, self.result.metrics
        # A warning about the data (too few lots) comes before the numbers it qualifies.
        data_warnings = [line for line in result.verdict.lines if line.startswith("warning")]
        lines = [
            f"[bold]Trained[/] on {fingerprint['n_lots']} lots of {fingerprint['n_groups']} "
            f"donors × {fingerprint['n_proteins']} proteins"
            f"{' (SIMULATED)' if fingerprint['simulated'] else ''} in {self.seconds:.1f} s; "
            f"chosen by inner CV: {result.choice.label}.",
            *(f"[bold yellow]{escape(line)}[/]" for line in data_warnings),
            f"{escape(result.plan.title(str(self.training.groups.name or 'donor_id')))} "
            f"({len(result.plan.folds)} folds, calibration cross-fitted): "
            f"AUROC {m['cv_roc_auc']:.3f}, PR-AUC {m['cv_pr_auc']:.3f}, "
            f"Brier {m['cv_brier']:.3f}, ECE {m['cv_ece']:.3f}.",
        ]
        baselines = sorted({k.split("_cv_")[0][9:] for k in m if k.startswith("baseline_")})
        if baselines:
            lines.append(
                "Baselines (same folds, AUROC): "
                + ", ".join(
                    f"{name} {m[f'baseline_{name}_cv_roc_auc']:.3f}"
                    + ("" if m[f"beats_{name}"] else " [bold red](not beaten)[/]")
                    for name in baselines
                )
            )
        for line in result.verdict.lines:
            if line in data_warnings:
                continue
            style = "bold yellow" if line.startswith("verdict: not") else "bold"
            lines.append(f"[{style}]{escape(line)}[/]")
        top = self.importance[self.importance["kind"] == "protein"].head(5)
        if len(top) and top["mean_abs_shap"].iloc[0] > 0:
            lines.append(
                "Top protein drivers (mean |attribution|, share of CV folds in the top "
                f"{stability_k}): "
                + ", ".join(
                    f"{escape(str(row.protein))} "
                    f"({'↑' if 'raises' in str(row.direction) else '↓'}, "
                    f"{row.top_k_frequency:.0%})"
                    for row in top.itertuples()
                )
            )
            # A share of 0% everywhere reads as a fault; say why the folds disagree.
            priors = [c.candidate for c in result.fold_choices if c.candidate.learner == "prior"]
            if priors:
                n_passage = sum(candidate.prior == "passage" for candidate in priors)
                which = [
                    f"{n} {what}"
                    for n, what in (
                        (len(priors) - n_passage, "passage and metadata alone"),
                        (n_passage, "passage alone"),
                    )
                    if n
                ]
                lines.append(
                    f"  {len(priors)} of {len(result.fold_choices)} CV folds chose no protein "
                    f"({', '.join(which)}): these drivers are the final model's, and a low "
                    "share means the folds did not agree on them"
                )
            elif not (top["top_k_frequency"] > 0).any():
                lines.append(
                    f"  none of these drivers is in any CV fold's top {stability_k}: "
                    "the folds did not agree on them"
                )
        version = (
            f"registered {self.model_uri} (aliases: {', '.join(self.aliases) or 'none'})"
            if self.model_version
            else "not registered"
        )
        lines.append(f"mlflow run {self.run_id} ({escape(self.run_name)}); {version}.")
        lines += [f"[bold yellow]{escape(note)}[/]" for note in self.registry_notes]
        if self.model_version:
            lines.append(
                "An experiment, not a candidate for scoring? Train it with --no-register: "
                "the run is logged, no model version or alias changes."
            )
        return lines


def load_panels(cfg: TrainConfig) -> dict[str, list[str]]:
    """Read the curated protein panels (module name → gene symbols), if module scores are on."""
    if not cfg.features.module_scores:
        return {}
    path = Path(cfg.features.panels)
    if not path.is_absolute() and not path.exists():
        path = CONFIG_DIR.parent / path
    return read_yaml(path)


def run_description(
    fingerprint: dict[str, Any], result: TrainResult, validation: str, data_line: str
) -> str:
    """The run's description in the mlflow UI: the data, the verdict, the headline metrics."""
    m = result.metrics
    verdict = verdict_text(result)
    simulated = "SIMULATED data. " if fingerprint.get("simulated") else ""
    return (
        f"{simulated}Trained on {data_line}; structure {result.choice.label}.\n\n"
        f"Verdict: {verdict}.\n\n"
        f"{validation} CV: AUROC {m['cv_roc_auc']:.3f}, PR-AUC {m['cv_pr_auc']:.3f}, "
        f"Brier {m['cv_brier']:.3f}, ECE {m['cv_ece']:.3f}; gain over passage alone "
        f"{result.verdict.gain:+.3f} (95% CI {result.verdict.gain_low:+.3f} to "
        f"{result.verdict.gain_high:+.3f})."
    )


def verdict_text(result: TrainResult) -> str:
    """The verdict without its ``verdict:`` label (a tag named ``verdict`` holds it)."""
    lines = [line for line in result.verdict.lines if line.startswith("verdict:")]
    last = lines[-1] if lines else (result.verdict.lines[-1] if result.verdict.lines else "")
    return last.removeprefix("verdict:").strip()


def run_name(n_lots: int, learner: str, *, simulated: bool) -> str:
    """Name a run for the mlflow UI's narrow Run Name column: ``248 lots · linear · SIMULATED``.

    What tells runs apart comes first (the number of lots, the learner the inner CV chose), so
    the table's cut keeps it; SIMULATED data say so last. At most 30 characters up to 9,999
    lots. The format, protein count and structure are in the run's params, tags and description.

    Args:
        n_lots: lots trained on.
        learner: ``prior``, ``trees``, ``linear``, ``blend`` or ``average`` (``Candidate.learner``).
        simulated: the lots are SIMULATED.
    """
    return f"{n_lots} lots · {learner}{' · SIMULATED' if simulated else ''}"


def write_training_artifacts(
    out: Path, training: TrainingSet, result: TrainResult, bundle: ModelBundle, cfg: TrainConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write a run's plots, tables and attributions into ``out`` (logged as artifacts).

    Returns the training lots as a scoring table (input column names) and the global
    importance table.
    """
    from exostab.model.selection import choice_table
    from exostab.pages.figures import pr_figure, reliability_figure, roc_figure
    from exostab.scoring.explain import write_explanations

    (out / "plots").mkdir(parents=True, exist_ok=True)
    y, oof = training.y.to_numpy(), result.oof_risk.to_numpy()
    tested = pd.notna(oof)
    for name, figure in (
        ("roc.png", roc_figure(y[tested], oof[tested])),
        ("pr.png", pr_figure(y[tested], oof[tested])),
        ("reliability.png", reliability_figure(y[tested], oof[tested])),
    ):
        figure.savefig(out / "plots" / name, dpi=110)
    training.X[list(training.metadata)].assign(
        label=training.y,
        group=training.groups,
        oof_log_odds=result.oof_log_odds,
        oof_risk=result.oof_risk,
    ).to_csv(out / "oof_predictions.csv")
    pd.DataFrame(result.fold_metrics).to_csv(out / "fold_metrics.csv", index=False)
    scopes = [(f"fold{i}", c) for i, c in enumerate(result.fold_choices)] + [
        ("final", result.choice)
    ]
    choice_table(scopes).to_csv(out / "structure_choices.csv", index=False)
    training.proteins.to_csv(out / "protein_features.csv")
    names = dict(zip(training.proteins.index, training.proteins["input_name"], strict=True))
    table = training.X.reset_index().rename(columns=names)
    importance = write_explanations(
        bundle,
        table,
        out / "explain",
        n_dependence=cfg.explain.n_dependence,
        n_waterfall=cfg.explain.n_waterfall,
        stability=result.driver_stability,
    )
    return table, importance


def run_training(
    cfg: TrainConfig,
    proteins: Path,
    lots: Path,
    *,
    format: str | None = None,
    simulated: bool = False,
    name: str | None = None,
    register: bool = True,
    progress: Progress | None = None,
    model_name: str | None = None,
) -> TrainingOutcome:
    """Read the inputs, train, explain, log the run to mlflow and register the model.

    Args:
        cfg: the training config.
        proteins: protein table or search-engine output (raw intensities).
        lots: lot sheet with the label and group columns.
        format: force the protein file format (None = detect).
        simulated: the lots are SIMULATED (also detected from the simulator's README).
        name: mlflow run name (default: named after the data and the chosen model).
        register: register the model (a model with constant risks never is).
        model_name: the registered model name (default: the config's, or a name of its own
            when the data differ from that model's; see ``aliases.plan_registration``).
        progress: called with a short message after each step.

    Raises:
        InputError: for unreadable or inconsistent inputs (one message, naming the file).
    """
    from exostab.io.readers import ReadOptions, read_lot_sheet, read_proteins
    from exostab.store.model_card import data_line, model_card, version_description, version_tags
    from exostab.store.run_logging import InputDataset, log_training_run
    from exostab.store.tracking import configure_tracking

    started = time.perf_counter()
    started_ms = int(time.time() * 1000)
    if progress:
        progress(f"reading {Path(proteins).name}")
    read_options = ReadOptions(q_value=cfg.data.q_value, contaminants=cfg.data.contaminants)
    matrix = read_proteins(proteins, format=format, scale=cfg.data.scale, options=read_options)
    for note in matrix.notes:  # what the contaminant library removed, per source
        if "contaminant groups (library" in note:
            logger.warning("%s: %s", proteins, note)
    sheet = read_lot_sheet(
        lots,
        label=cfg.data.label,
        group=cfg.data.group,
        dates=(cfg.cv.time_column,) if cfg.cv.time_column else (),
        dayfirst=cfg.cv.dayfirst,
    )
    training = build_training_set(matrix, sheet, cfg)
    if progress:
        progress("nested grouped cross-validation")
    fingerprint = {
        **training.fingerprint,
        "simulated": simulated or is_simulated(lots),
        "inputs": {str(p): file_sha256(p) for p in (proteins, lots)},
        "format": matrix.format,
    }
    datasets = [
        InputDataset(
            matrix.intensities, proteins, fingerprint["inputs"][str(proteins)], "proteins"
        ),
        InputDataset(
            sheet, lots, fingerprint["inputs"][str(lots)], "lot_sheet", targets=cfg.data.label
        ),
    ]
    result = train_model(training, cfg, load_panels(cfg), progress=progress)
    bundle = replace(
        ModelBundle.from_training(result, simulated_training=bool(fingerprint["simulated"])),
        read_options=read_options,  # score reads files as training did
    )
    bundle = attach_trajectory(bundle, training)
    bundle = attach_reference(bundle, training, result)
    register = register and not result.verdict.constant
    chosen_name = name or run_name(
        int(fingerprint["n_lots"]),
        result.choice.candidate.learner,
        simulated=bool(fingerprint["simulated"]),
    )
    validation = f"{cfg.cv.scheme} by {cfg.data.group}"
    cost_ratio = cfg.decision.cost_release_unstable / cfg.decision.cost_reject_stable
    card = model_card(result, fingerprint, validation, cost_ratio=cost_ratio)
    bundle = replace(bundle, model_card=card)
    with tempfile.TemporaryDirectory() as scratch:
        artifacts = Path(scratch)
        table, importance = write_training_artifacts(artifacts, training, result, bundle, cfg)
        if progress:
            progress("explained")
        configure_tracking()
        record = log_training_run(
            cfg=cfg,
            bundle=bundle,
            metrics={
                **headline_metrics(result),
                "n_lots": float(training.fingerprint["n_lots"]),
                "n_donors": float(training.groups.nunique()),
            },
            fingerprint=fingerprint,
            input_example=table.head(2),
            artifacts_dir=artifacts,
            run_name=chosen_name,
            register=register,
            params={"chosen_structure": result.choice.label},
            tags={
                "data_format": str(matrix.format),
                "validation": validation,
                "chosen_structure": result.choice.label,
                "verdict": verdict_text(result),
            },
            description=run_description(
                result=result,
                fingerprint=fingerprint,
                validation=validation,
                data_line=data_line(fingerprint),
            ),
            oof_predictions=pd.read_csv(artifacts / "oof_predictions.csv", index_col=0),
            model_name=model_name,
            data_folder=Path(lots).resolve().parent.name,
            started_ms=started_ms,
            datasets=datasets,
            model_card=card,
            version_description=version_description(result, fingerprint, validation),
            version_tags=version_tags(result, fingerprint, validation),
        )
    if progress:
        progress("logged to mlflow")
    return TrainingOutcome(
        training=training,
        result=result,
        fingerprint=fingerprint,
        importance=importance,
        run_id=record.run_id,
        run_name=chosen_name,
        model_uri=record.model_uri,
        model_version=record.model_version,
        aliases=record.aliases,
        seconds=time.perf_counter() - started,
        model_name=record.model_name,
        registry_notes=record.notes,
        experiment_id=record.experiment_id,
    )
