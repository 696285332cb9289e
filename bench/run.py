"""``make bench``: quality on held-out donors and speed, on SIMULATED lots → bench/results.md.

Usage: ``.venv/bin/python bench/run.py [--quick] [--only quality|speed]``. Writes
``bench/results.md``, ``bench/results.csv`` (quality, one row per scenario, seed and method) and
``bench/speed.csv``; scratch data go to ``bench/_work/``.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import shlex
import shutil
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
from quality import QUICK_SCENARIOS, SCENARIOS, QualitySizes, run_quality
from report import render
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from speed import QUICK_SPEED, SpeedSizes, run_speed

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SEEDS = (1, 2, 3)
QUICK_QUALITY = QualitySizes(n_lots=200, n_donors=20, n_proteins=1000)

logger = logging.getLogger("bench")


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 scenarios")
    parser.add_argument("--only", choices=["quality", "speed"], help="run one part only")
    parser.add_argument(
        "--config", type=Path, default=ROOT / "configs" / "train.yaml", help="training config"
    )
    return parser.parse_args()


def main() -> None:
    """Run the benchmark, write the results and print the markdown."""
    args = parse_args()
    console = Console(stderr=True)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    logger.setLevel(logging.INFO)
    warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
    os.chdir(ROOT)
    command = " ".join([".venv/bin/python", "bench/run.py", *map(shlex.quote, sys.argv[1:])])
    started = time.perf_counter()
    work = BENCH / "_work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)

    scenarios = QUICK_SCENARIOS if args.quick else SCENARIOS
    seeds = SEEDS[:1] if args.quick else SEEDS
    quality_sizes = QUICK_QUALITY if args.quick else QualitySizes()
    speed_sizes = QUICK_SPEED if args.quick else SpeedSizes()
    quality = pd.DataFrame()
    speed = pd.DataFrame()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        if args.only in (None, "quality"):
            task = bar.add_task("quality", total=len(scenarios) * len(seeds))
            quality = run_quality(
                scenarios,
                seeds,
                quality_sizes,
                work / "quality",
                args.config,
                advance=lambda message: bar.update(
                    task, advance=1, description=f"quality: {message} done"
                ),
            )
            quality.to_csv(BENCH / "results.csv", index=False)
        if args.only in (None, "speed"):
            n_steps = 7
            task = bar.add_task("speed", total=n_steps)
            speed = run_speed(
                speed_sizes,
                work / "speed",
                args.quick,
                advance=lambda message: bar.update(
                    task, advance=1, description=f"speed: {message} done"
                ),
            )
            speed.to_csv(BENCH / "speed.csv", index=False)
    seconds = time.perf_counter() - started
    markdown = render(
        quality=quality,
        speed=speed,
        command=command,
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        config=str(args.config.relative_to(ROOT) if args.config.is_absolute() else args.config),
        quality_sizes=quality_sizes,
        seeds=seeds,
        speed_sizes=speed_sizes,
        quick=args.quick,
        wall_seconds=seconds,
    )
    (BENCH / "results.md").write_text(markdown)
    logger.info("bench finished in %.1f min → bench/results.md", seconds / 60)
    print(markdown)


if __name__ == "__main__":
    main()
