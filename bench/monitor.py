"""Monitoring benchmark: does `exostab monitor` stay quiet on a stable stream and flag drift?

For each seed: simulate SIMULATED training lots, train a model (with its monitoring reference),
then simulate post-release streams from the same world (new donors): stable, an MS batch
effect on the top causal proteins, a medium change (hPL → FBS), a tissue change and a slow
senescence shift. Each stream is monitored as `exostab monitor` does. The cost of a drift is
the model's AUROC on the stream's lots (all lots, with their true outcomes from truth/) on the
stable stream of the same seed minus that on the drifted stream.

Done when (issue 23): the stable stream alarms in ≤ 5% of runs; a drift costing ≥ 0.05 AUROC is
flagged, and the verdict names the drifted columns or proteins.

Usage: ``PYTHONPATH=src .venv/bin/python bench/monitor.py [--seeds 1-5] [--out bench/monitor.csv]``;
``run_monitor_bench`` is what ``bench/run.py --only monitor`` calls.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats
from sklearn.metrics import roc_auc_score

from exostab.config import MonitorConfig, TrainConfig, load_train_config
from exostab.dataset import build_training_set
from exostab.io.readers import read_lot_sheet, read_lot_sheet_lenient, read_proteins
from exostab.model.bundle import ModelBundle
from exostab.monitor import attach_reference, monitor_lots
from exostab.scoring.batch import score_file
from exostab.simulate import write_simulation
from exostab.simulate.release import DRIFTS, read_world, write_release_stream
from exostab.training.nested_cv import train_model

logger = logging.getLogger(__name__)

MONITOR_SEEDS = tuple(range(1, 21))
MIN_COST = 0.05


@dataclass(frozen=True)
class MonitorSizes:
    """Sizes of the training world and of each post-release stream."""

    n_lots: int = 200
    n_donors: int = 20
    n_proteins: int = 500
    stream_lots: int = 120
    stream_donors: int = 12


QUICK_MONITOR = MonitorSizes(n_lots=120, n_donors=12, n_proteins=300, stream_lots=80)


def bench_config(config: Path | None = None) -> TrainConfig:
    """The training config as on disk (default ``configs/train.yaml``), lighter validation.

    The model and its candidates are the project's; only the validation is cut for speed
    (4 outer folds, no naive-CV gap, no in-CV baselines, no dependence or waterfall plots).
    """
    return load_train_config(
        config,
        **{
            "cv.n_splits": 4,
            "cv.naive_gap": False,
            "cv.baselines": False,
            "explain.n_dependence": 0,
            "explain.n_waterfall": 0,
        },
    )


def named(drift: str, verdict: str, truth: dict[str, object], bundle: ModelBundle) -> bool:
    """Does the verdict name what drifted (a drifted column, or one of the drifted proteins)?"""
    if drift == "stable":
        return False
    columns = [str(c) for c in truth.get("drifted_columns") or []]
    proteins = [str(p) for p in truth.get("drifted_proteins") or []]
    if columns or proteins:
        return any(name in verdict for name in [*columns, *proteins])
    # A senescence shift changes no column: proteins or the observed rate must be named.
    return "protein(s) shifted" in verdict or "calibration" in verdict


def names_in_verdict(verdict: str, bundle: ModelBundle) -> set[str]:
    """The model's proteins (readable names) and lot-sheet columns the verdict names.

    A name counts as a whole word (``IL6`` is not found in ``IL6R``).
    """
    candidates = {bundle.display_name(str(f)) for f in bundle.proteins.index} | set(
        map(str, bundle.metadata)
    )
    return {
        name
        for name in candidates
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", verdict) is not None
    }


def naming_precision(
    verdict: str, truth: dict[str, object], bundle: ModelBundle
) -> tuple[int, float]:
    """(names in the verdict, of which truly drifted), or (n, NaN) when the truth lists no
    drifted protein (a medium or tissue change moves proteins too, unlisted: not judged)."""
    proteins = {str(p) for p in truth.get("drifted_proteins") or []}
    columns = {str(c) for c in truth.get("drifted_columns") or []}
    names = names_in_verdict(verdict, bundle)
    if not proteins:
        return len(names), float("nan")
    return len(names), float(len(names & (proteins | columns)))


def run_monitor_bench(
    seeds: tuple[int, ...],
    sizes: MonitorSizes,
    work: Path,
    drifts: tuple[str, ...] = DRIFTS,
    done: Callable[[str], None] | None = None,
    config: Path | None = None,
) -> pd.DataFrame:
    """Run the benchmark; one row per seed and stream (SIMULATED data).

    Columns: seed, drift, alarm, named, n_names (proteins and lot-sheet columns the verdict
    names), n_names_drifted (of those, truly drifted; NaN when the truth lists no drifted
    protein), auroc (on all the stream's lots, true outcomes), auroc_cost (stable stream's
    AUROC of the same seed minus this one), n_lots, n_with_outcome, n_reasons, verdict,
    seconds.
    """
    cfg = bench_config(config)
    rows = []
    for seed in seeds:
        started = time.perf_counter()
        folder = write_simulation(
            work / f"world-{seed}",
            n_lots=sizes.n_lots,
            n_donors=sizes.n_donors,
            n_proteins=sizes.n_proteins,
            seed=seed,
        ).out
        world = read_world(folder)
        training = build_training_set(
            read_proteins(folder / "proteins.csv"), read_lot_sheet(folder / "lots.csv"), cfg
        )
        result = train_model(training, cfg, {})
        bundle = attach_reference(
            ModelBundle.from_training(result, simulated_training=True), training, result
        )
        trained = time.perf_counter() - started
        for drift in drifts:
            started = time.perf_counter()
            stream = write_release_stream(
                work / f"stream-{seed}-{drift}",
                world=world,
                drift=drift,
                n_lots=sizes.stream_lots,
                n_donors=sizes.stream_donors,
                seed=1000 + seed,
            ).out
            sheet, refused = read_lot_sheet_lenient(
                stream / "lots.csv", vocabulary=bundle.vocabulary
            )
            scored = score_file(bundle, stream / "proteins.csv", sheet, refused)
            found = monitor_lots(bundle, scored, sheet, refused, config=MonitorConfig())
            truth_lots = pd.read_csv(stream / "truth" / "truth_lots.csv").set_index("lot_id")
            risk = found.lots.set_index("lot_id")["risk"]
            y = truth_lots["unstable"].reindex(risk.index).to_numpy(dtype=int)
            truth = yaml.safe_load((stream / "truth" / "drift.yaml").read_text())
            n_names, n_names_drifted = naming_precision(found.verdict, truth, bundle)
            rows.append(
                {
                    "seed": seed,
                    "drift": drift,
                    "alarm": found.alarm,
                    "named": named(drift, found.verdict, truth, bundle),
                    "n_names": n_names,
                    "n_names_drifted": n_names_drifted,
                    "auroc": float(roc_auc_score(y, risk.to_numpy())),
                    "cv_auroc": found.reference.performance["auroc"] if found.reference else np.nan,
                    "n_lots": found.summary()["n_lots"],
                    "n_with_outcome": found.summary()["n_with_outcome"],
                    "n_reasons": len(found.reasons),
                    "failed_checks": "; ".join(
                        f"{c.component} @ {c.scope}" for c in found.checks if c.failed
                    ),
                    "stream_prevalence": float(np.mean(y)),
                    "verdict": found.verdict,
                    "seconds": round(time.perf_counter() - started + trained / len(drifts), 1),
                }
            )
            if done is not None:
                done(f"seed {seed} {drift}")
    table = pd.DataFrame(rows)
    stable = table[table["drift"] == "stable"].set_index("seed")["auroc"]
    table["auroc_cost"] = table["seed"].map(stable) - table["auroc"]
    return table


def monitor_section(table: pd.DataFrame, sizes: MonitorSizes) -> str:
    """The benchmark's Markdown section: stable false alarms with a binomial 95% interval; per
    drift, detection and naming rates, the precision of the names, AUROC cost; the misses
    listed."""
    stable = table[table["drift"] == "stable"]
    k, n = int(stable["alarm"].sum()), len(stable)
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact") if n else None
    lines = [
        "## Monitoring (SIMULATED post-release streams)",
        "",
        f"Training world {sizes.n_lots} lots / {sizes.n_donors} donors × {sizes.n_proteins} "
        f"proteins (scenario base); each stream {sizes.stream_lots} lots of "
        f"{sizes.stream_donors} new donors of the same world over 6 monthly windows (drift from "
        f"month 4, the last 20% without outcome), {table['seed'].nunique()} seeds. Cost = the "
        "stable stream's AUROC (same seed, same lots) minus the drifted stream's, on all lots "
        "with their true outcomes. The model: the training config's candidates (inner CV "
        "chooses), validated with 4 outer folds.",
        "",
        "| stream | runs | alarms | named | precision of names | mean AUROC cost "
        "| runs costing ≥ 0.05 | of those flagged and named |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for drift, group in table.groupby("drift", sort=False):
        costly = group[group["auroc_cost"] >= MIN_COST]
        named_rate = "-" if drift == "stable" else f"{group['named'].mean():.0%}"
        lines.append(
            f"| {drift} | {len(group)} | {int(group['alarm'].sum())} ({group['alarm'].mean():.0%})"
            f" | {named_rate} | {precision_cell(group)} | "
            f"{group['auroc_cost'].mean():+.3f} | {len(costly)} | "
            + (
                f"{int((costly['alarm'] & costly['named']).sum())} of {len(costly)}"
                if len(costly)
                else "-"
            )
            + " |"
        )
    drifted = table[(table["drift"] != "stable") & (table["auroc_cost"] >= MIN_COST)]
    caught = int((drifted["alarm"] & drifted["named"]).sum())
    lines += [
        "",
        "Precision of names: of the proteins and lot-sheet columns the verdicts name (whole "
        "words), the share that truly drifted (pooled over the stream's runs; `-` where the "
        "truth lists no drifted protein).",
        "",
        f"Stable stream: {k} alarm(s) in {n} runs"
        + (f" ({k / n:.0%}, exact binomial 95% interval {ci.low:.0%}-{ci.high:.0%})" if ci else "")
        + f"; target ≤ 5%. Drifts costing ≥ {MIN_COST} AUROC: {caught} of {len(drifted)} "
        "flagged and named.",
    ]
    false_alarms = stable[stable["alarm"]]
    misses = drifted[~(drifted["alarm"] & drifted["named"])]
    if len(false_alarms) or len(misses):
        lines += ["", "Stable alarms and misses (runs costing ≥ 0.05 not flagged and named):", ""]
        for row in pd.concat([false_alarms, misses]).itertuples():
            checks = (
                row.failed_checks
                if isinstance(row.failed_checks, str) and row.failed_checks
                else "none"
            )
            lines.append(
                f"- seed {row.seed} {row.drift}: cost {row.auroc_cost:+.3f}, alarm {row.alarm}, "
                f"named {row.named}; failed checks: {checks}"
            )
    return "\n".join(lines) + "\n"


def precision_cell(group: pd.DataFrame) -> str:
    """``92% (46 of 50)``: pooled share of the named proteins and columns that drifted."""
    if "n_names_drifted" not in group:
        return "-"
    judged = group[group["n_names_drifted"].notna()]
    total = int(judged["n_names"].sum())
    if judged.empty or total == 0:
        return "-"
    right = int(judged["n_names_drifted"].sum())
    return f"{right / total:.0%} ({right} of {total})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-20", help="first-last seed")
    parser.add_argument("--quick", action="store_true", help="smaller worlds")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("monitor.csv"))
    parser.add_argument(
        "--drifts", default=",".join(DRIFTS), help="streams to run, comma-separated (stable first)"
    )
    args = parser.parse_args()
    first, last = (int(x) for x in args.seeds.split("-"))
    sizes = QUICK_MONITOR if args.quick else MonitorSizes()
    started = time.perf_counter()
    table = run_monitor_bench(
        tuple(range(first, last + 1)),
        sizes,
        Path(__file__).with_name("_work") / "monitor",
        drifts=tuple(args.drifts.split(",")),
        done=lambda message: print(message, flush=True),
    )
    table.to_csv(args.out, index=False)
    section = monitor_section(table, sizes)
    args.out.with_suffix(".md").write_text(
        f"# exostab monitoring benchmark\n\ncommand: `python bench/monitor.py --seeds "
        f"{args.seeds}{' --quick' if args.quick else ''}`, "
        f"{time.perf_counter() - started:.0f} s\n\n{section}"
    )
    print(section)


if __name__ == "__main__":
    main()
