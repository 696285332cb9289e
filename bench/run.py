"""``make bench``: quality on held-out donors and speed, on SIMULATED lots → bench/results.md.

Usage: ``.venv/bin/python bench/run.py [--quick] [--only quality,real,speed,forecast]
[--jobs N]``. Writes ``bench/results.md``, ``bench/results.csv`` (quality, one row per scenario,
seed, training size and method), ``bench/real.csv`` (real tasks, one row per task and method),
``bench/real_predictions.csv`` (out-of-fold scores per real lot, for ``bench/compare.py``),
``bench/speed.csv`` and ``bench/forecast.csv`` (cell-bank forecast, one row per scenario and
seed; its section also goes to ``bench/forecast.md``). Simulated worlds of the quality part are
cached in ``bench/_work/cache`` (keyed by scenario, sizes, seed and simulator version); other
scratch data go to ``bench/_work/``. The adoption rule is in ``bench/README.md``.
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

# pandera imports pyspark.pandas when the [spark] extra is installed; its pandas-3 warning says
# nothing about the benchmark. Quiet here and, through the environment, in the worker processes
# (as the CLI does). This must come before the imports below, which import pandera.
_QUIET = "ignore:PySpark does not yet fully support:FutureWarning"
warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), _QUIET]))

import pandas as pd
from forecast import (
    FORECAST_SCENARIOS,
    FORECAST_SEEDS,
    QUICK_FORECAST_SCENARIOS,
    ForecastSizes,
    run_forecast_bench,
)
from monitor import MONITOR_SEEDS, QUICK_MONITOR, MonitorSizes, monitor_section, run_monitor_bench
from quality import QUICK_SCENARIOS, SCENARIOS, QualitySizes, run_quality
from real import COHORTS, run_real
from report import forecast_section, render
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from speed import QUICK_SPEED, SpeedSizes, run_speed

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SEEDS = (1, 2, 3, 4, 5)
CSV = {
    "quality": "results.csv",
    "real": "real.csv",
    "speed": "speed.csv",
    "forecast": "forecast.csv",
    "monitor": "monitor.csv",
}
QUICK_QUALITY = QualitySizes(
    n_lots=240, n_train_donors=20, n_test_donors=20, n_proteins=1000, n_small_lots=40
)
QUICK_REAL = ("heart-lfq", "cptac-ucec-serous")
QUICK_FORECAST = ForecastSizes(n_lots=300, n_donors=30, n_proteins=800)

logger = logging.getLogger("bench")


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: small sizes, 1 seed, 2 scenarios, 2 real tasks (numbers are not results)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="worker processes for scenario × seed jobs and real tasks (each on one core)",
    )
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        help=(
            "run only these parts (comma-separated: quality,real,speed,forecast); the other "
            "parts of results.md are re-read from their CSV files in bench/ when present"
        ),
    )
    parser.add_argument(
        "--config", type=Path, default=ROOT / "configs" / "train.yaml", help="training config"
    )
    parser.add_argument(
        "--seeds",
        type=seed_range,
        default=SEEDS,
        help="seeds of the quality part's simulated worlds, e.g. 6-10 or 1,3 (default 1-5)",
    )
    return parser.parse_args()


def seed_range(text: str) -> tuple[int, ...]:
    """Read ``6-10`` or ``1,3,5`` as a tuple of seeds (argparse type; ValueError if neither)."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-", 1))
        return tuple(range(first, last + 1))
    return tuple(int(part) for part in text.split(","))


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
    for scratch in ("quality", "forecast", "speed"):  # the cache of simulated worlds stays
        if (work / scratch).exists():
            shutil.rmtree(work / scratch)
    work.mkdir(parents=True, exist_ok=True)

    scenarios = QUICK_SCENARIOS if args.quick else SCENARIOS
    seeds = args.seeds[:1] if args.quick else args.seeds
    quality_sizes = QUICK_QUALITY if args.quick else QualitySizes()
    speed_sizes = QUICK_SPEED if args.quick else SpeedSizes()
    parts = {"quality", "real", "speed", "forecast", "monitor"}
    unknown = (args.only or set()) - parts
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {parts}")

    def wanted(part: str) -> bool:
        return args.only is None or part in args.only

    # Parts not run now keep their last results (re-read from bench/*.csv, said in results.md).
    reread = [p for p in sorted(parts) if not wanted(p) and (BENCH / CSV[p]).exists()]
    # Only empty cells are missing: a written "n/a" (a speed row with no target) stays text.
    earlier = {
        p: pd.read_csv(BENCH / CSV[p], keep_default_na=False, na_values=[""])
        for p in reread
        if not args.quick
    }
    quality = earlier.get("quality", pd.DataFrame())
    real = earlier.get("real", pd.DataFrame())
    speed = earlier.get("speed", pd.DataFrame())
    forecast = earlier.get("forecast", pd.DataFrame())
    forecast_sizes = QUICK_FORECAST if args.quick else ForecastSizes()
    forecast_scenarios = QUICK_FORECAST_SCENARIOS if args.quick else FORECAST_SCENARIOS
    forecast_seeds = SEEDS[:1] if args.quick else FORECAST_SEEDS
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        if wanted("quality"):
            task = bar.add_task("quality", total=len(scenarios) * len(seeds))
            quality = run_quality(
                scenarios,
                seeds,
                quality_sizes,
                work / "cache",
                args.config,
                advance=lambda message: bar.update(
                    task, advance=1, description=f"quality: {message} done"
                ),
                jobs=args.jobs,
            )
            quality.to_csv(BENCH / CSV["quality"], index=False)
        if wanted("real"):
            real_tasks = QUICK_REAL if args.quick else tuple(c.name for c in COHORTS)
            task = bar.add_task("real tasks", total=len(real_tasks))
            real, real_scores = run_real(
                args.config,
                advance=lambda message: bar.update(
                    task, advance=1, description=f"real: {message} done"
                ),
                jobs=args.jobs,
                only=real_tasks,
            )
            real.to_csv(BENCH / CSV["real"], index=False)
            if not args.quick:  # lot by lot, so that two configurations compare paired
                real_scores.to_csv(BENCH / "real_predictions.csv", index=False)
        if wanted("speed"):
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
            speed.to_csv(BENCH / CSV["speed"], index=False)
        if wanted("forecast"):
            task = bar.add_task("forecast", total=len(forecast_scenarios) * len(forecast_seeds))
            forecast = run_forecast_bench(
                forecast_scenarios,
                forecast_seeds,
                forecast_sizes,
                work / "forecast",
                args.config,
                advance=lambda message: bar.update(
                    task, advance=1, description=f"forecast: {message} done"
                ),
                jobs=args.jobs,
            )
            forecast.to_csv(BENCH / CSV["forecast"], index=False)
            (BENCH / "forecast.md").write_text(
                f"# exostab cell-bank forecast benchmark\n\ncommand: `{command}`\n\n"
                + forecast_section(forecast, forecast_sizes)
                + "\n"
            )
        if wanted("monitor"):  # its own section file: bench/monitor.md
            monitor_sizes = QUICK_MONITOR if args.quick else MonitorSizes()
            monitor_seeds = SEEDS[:1] if args.quick else MONITOR_SEEDS
            task = bar.add_task("monitor", total=5 * len(monitor_seeds))
            monitored = run_monitor_bench(
                monitor_seeds,
                monitor_sizes,
                work / "monitor",
                done=lambda message: bar.update(
                    task, advance=1, description=f"monitor: {message} done"
                ),
                config=args.config,
            )
            monitored.to_csv(BENCH / CSV["monitor"], index=False)
            (BENCH / "monitor.md").write_text(
                f"# exostab monitoring benchmark\n\ncommand: `{command}`\n\n"
                + monitor_section(monitored, monitor_sizes)
            )
    seconds = time.perf_counter() - started
    markdown = render(
        quality=quality,
        speed=speed,
        real=real,
        command=command,
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        config=str(args.config.relative_to(ROOT) if args.config.is_absolute() else args.config),
        quality_sizes=quality_sizes,
        seeds=seeds,
        speed_sizes=speed_sizes,
        quick=args.quick,
        wall_seconds=seconds,
        forecast=forecast,
        forecast_sizes=forecast_sizes,
    )
    if earlier:
        markdown = markdown.replace(
            "\n\n",
            f"\n\n- parts re-read from an earlier run's CSV files: {', '.join(earlier)}\n\n",
            1,
        )
    (BENCH / "results.md").write_text(markdown)
    logger.info("bench finished in %.1f min → bench/results.md", seconds / 60)
    print(markdown)


if __name__ == "__main__":
    main()
