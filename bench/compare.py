"""Compare two benchmark runs (two model configurations) data set by data set, paired.

Usage: ``.venv/bin/python bench/compare.py BASE CANDIDATE [--out FILE.md]``, where BASE and
CANDIDATE are folders holding a run's ``results.csv`` and ``real_predictions.csv`` (the files
``make bench`` writes into ``bench/``; copy them aside, or point at a ``git worktree``).

For every data set of the adoption rule (bench/README.md): the model's AUROC in each run and
the paired difference candidate − base with its standard error.
- Simulated scenarios (full and small training): paired by seed, SE = sd / √seeds. Both runs
  must hold the same scenarios and seeds (the worlds are seeded: the same held-out lots).
- Real tasks: paired lot by lot on the lots both runs scored out of fold; SE = sd of 1,000
  group-bootstrap draws (``exostab.model.evaluate.paired_gain_draws``).

The rule that reads this table is written in bench/README.md ("Choosing between two
configurations"), before any run it decides.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from exostab.model.evaluate import paired_gain_draws, rank_auroc

N_BOOT = 1000


def simulated_rows(base: pd.DataFrame, candidate: pd.DataFrame) -> list[dict[str, object]]:
    """One row per scenario and training size: mean AUROCs and the seed-paired difference."""
    keys = ["scenario", "train_size", "seed"]
    model = [t[t["method"] == "model"].set_index(keys)["roc_auc"] for t in (base, candidate)]
    joined = pd.concat({"base": model[0], "candidate": model[1]}, axis=1)
    if joined.isna().any().any():
        missing = joined[joined.isna().any(axis=1)].index.tolist()
        raise SystemExit(f"the two runs do not hold the same scenario × seed jobs: {missing[:5]}")
    rows = []
    for (scenario, size), block in joined.groupby(level=["scenario", "train_size"], sort=False):
        d = block["candidate"] - block["base"]
        rows.append(
            {
                "data set": scenario if size == "full" else f"{scenario} (small data)",
                "base": block["base"].mean(),
                "candidate": block["candidate"].mean(),
                "difference": d.mean(),
                "se": d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan,
                "paired on": f"{len(d)} seeds",
            }
        )
    return rows


def real_rows(base: pd.DataFrame, candidate: pd.DataFrame) -> list[dict[str, object]]:
    """One row per real task: pooled out-of-fold AUROCs and the lot-paired difference."""
    rows = []
    for cohort in dict.fromkeys(base["cohort"]):
        scores = [
            t[(t["cohort"] == cohort) & (t["method"] == "model")].set_index("lot_id")
            for t in (base, candidate)
        ]
        lots = scores[0].index.intersection(scores[1].index)
        if lots.empty:
            continue
        a, b = scores[0].loc[lots], scores[1].loc[lots]
        y = a["y"].to_numpy(dtype=int)
        gain, draws = paired_gain_draws(
            y,
            b["score"].to_numpy(dtype=float),
            a["score"].to_numpy(dtype=float),
            a["group"].astype(str).to_numpy(),
            n_boot=N_BOOT,
            seed=0,
        )
        rows.append(
            {
                "data set": f"{cohort} (real)",
                "base": rank_auroc(y, a["score"].to_numpy(dtype=float)),
                "candidate": rank_auroc(y, b["score"].to_numpy(dtype=float)),
                "difference": gain,
                "se": float(draws.std(ddof=1)) if draws.size > 1 else np.nan,
                "paired on": f"{len(lots)} lots / {a['group'].nunique()} groups",
            }
        )
    return rows


def verdict(row: dict[str, object]) -> str:
    d, se = float(row["difference"]), float(row["se"])  # type: ignore[arg-type]
    if np.isfinite(se) and d < -2 * se:
        return "candidate below by > 2 SE"
    if np.isfinite(se) and d > 2 * se:
        return "candidate above by > 2 SE"
    return "within"


def compare(base: Path, candidate: Path) -> str:
    """The comparison table (markdown) and the verdict of the rule in bench/README.md."""
    rows = simulated_rows(pd.read_csv(base / "results.csv"), pd.read_csv(candidate / "results.csv"))
    predictions = [folder / "real_predictions.csv" for folder in (base, candidate)]
    if all(path.is_file() for path in predictions):
        rows += real_rows(*(pd.read_csv(path, dtype={"lot_id": str}) for path in predictions))
    else:
        missing = [str(path) for path in predictions if not path.is_file()]
        print(f"real tasks left out: no {', '.join(missing)}", file=sys.stderr)
    lines = [
        f"Base: `{base}`; candidate: `{candidate}`. Difference = candidate − base (AUROC).",
        "",
        "| data set | base AUROC | candidate AUROC | difference ± SE | paired on | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['data set']} | {row['base']:.3f} | {row['candidate']:.3f} | "
            f"{row['difference']:+.3f} ± {row['se']:.3f} | {row['paired on']} | {verdict(row)} |"
        )
    below = [row["data set"] for row in rows if verdict(row).endswith("below by > 2 SE")]
    mean = float(np.mean([float(row["difference"]) for row in rows]))  # type: ignore[arg-type]
    above = [row["data set"] for row in rows if verdict(row).endswith("above by > 2 SE")]
    adopted = not below and mean >= 0
    lines += [
        "",
        f"- data sets where the candidate is below the base by > 2 SE: {len(below)} of "
        f"{len(rows)}" + (f" ({', '.join(map(str, below))})" if below else ""),
        f"- mean difference across the {len(rows)} data sets: {mean:+.4f} (needs ≥ 0)",
        f"- data sets where the candidate is above the base by > 2 SE: {len(above)} of "
        f"{len(rows)}"
        + (f" ({', '.join(map(str, above))})" if above else "")
        + " (a clause of some comparisons' rules, not of this verdict: see bench/README.md)",
        f"- **candidate {'REPLACES' if adopted else 'does NOT replace'} the base** "
        "(by no data set below by > 2 SE and a mean difference ≥ 0 alone)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="folder of the base run's CSV files")
    parser.add_argument("candidate", type=Path, help="folder of the candidate run's CSV files")
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args()
    text = compare(args.base, args.candidate)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
