"""Pages generated at build time (mkdocs-gen-files): the CLI reference and the benchmarks.

- reference/cli.md: ``typer exostab.cli utils docs`` on the installed program, so the options
  and defaults are the program's own, never copied by hand;
- benchmarks.md: bench/results.md as ``make bench`` last wrote it, with a short preface.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]

cli = subprocess.run(
    [sys.executable, "-m", "typer", "exostab.cli", "utils", "docs", "--name", "exostab"],
    capture_output=True,
    text=True,
    check=True,
    cwd=ROOT,
).stdout
cli = re.sub(r"^# `exostab`", "# CLI reference", cli, count=1, flags=re.M)
with mkdocs_gen_files.open("reference/cli.md", "w") as page:
    page.write(
        "<!-- generated from the Typer app at build time (docs/gen_pages.py) -->\n"
        + cli.replace("\n## ", "\n## ", -1)
    )

results = (ROOT / "bench" / "results.md").read_text(encoding="utf-8")
results = re.sub(r"^# .*\n", "", results, count=1)
with mkdocs_gen_files.open("benchmarks.md", "w") as page:
    page.write(
        "# Benchmarks\n\n"
        "This page is `bench/results.md`, included as `make bench` last wrote it (the tables, "
        "their targets and how each was measured). `make bench` re-runs every part; "
        "`.venv/bin/python bench/run.py --only quality,real` runs some parts and re-reads the "
        "others from their CSV files (`results.md` says which). Scenario data are SIMULATED.\n\n"
        + results
    )
