"""Work the speed benchmark runs in a child process, so its peak memory is its own.

Usage: ``python bench/tasks.py read PATH``: read a protein file with ``read_proteins`` and print
one JSON line with the seconds the read took and what was read.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def read(path: Path) -> dict[str, float]:
    """Time ``read_proteins`` on one file (imports excluded)."""
    from exostab.readers import read_proteins

    started = time.perf_counter()
    matrix = read_proteins(path)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "n_runs": float(matrix.n_runs),
        "n_protein_groups": float(matrix.n_groups),
    }


def main() -> None:
    """Parse the command line and print the task's JSON answer."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task", choices=["read"])
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    print(json.dumps(read(args.path)))


if __name__ == "__main__":
    main()
