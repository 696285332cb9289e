"""The adoption rule's table over several runs of one configuration, their seeds pooled.

Usage: ``.venv/bin/python bench/pooled.py RESULTS.csv [RESULTS.csv ...] --real REAL.csv``.
Each RESULTS.csv is a quality part's ``results.csv`` (the same configuration, different
seeds); REAL.csv a real part's ``real.csv``. Prints the decision section of ``bench/results.md``
(``report.decision_section``) with every seed's paired difference in the simulated rows, so
its standard errors are over all the seeds. Reported beside a pre-registered decision, never
instead of one: which runs are pooled must be fixed before looking (all of a configuration's
runs, not a chosen few).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from report import decision_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="quality results.csv files")
    parser.add_argument("--real", type=Path, required=True, help="a real part's real.csv")
    args = parser.parse_args()
    runs = [pd.read_csv(path) for path in args.results]
    seeds = [set(run["seed"]) for run in runs]
    if sum(map(len, seeds)) != len(set().union(*seeds)):
        raise SystemExit("the runs share seeds: pool runs of different seeds only")
    real = pd.read_csv(args.real, keep_default_na=False, na_values=[""])
    print(decision_section(pd.concat(runs, ignore_index=True), real, quick=False))


if __name__ == "__main__":
    main()
