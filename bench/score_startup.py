"""Start-up time of `exostab score`: wall time of scoring a few lots, by the kind of model URI.

Usage (from a checkout; the store must hold a registered exostab model, e.g. after `make train`):

    python bench/score_startup.py --store sqlite:///$PWD/mlruns/mlflow.db \
        --proteins data/simulated/test/proteins.csv --lots data/simulated/test/lots.csv

It scores the first 5 lots with each URI (`models:/NAME@challenger`, `models:/NAME/<version>`,
the model's local folder) `--repeats` times in fresh processes and prints the median seconds.
Run it with PYTHONPATH pointing at the code to measure (before/after a change).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

VIA_CLIENT = (
    "import sys; import exostab.store.registry as r; r.locate_model = lambda *a, **k: None; "
    "from exostab.cli import app; sys.argv[0] = 'exostab'; app()"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="tracking URI (sqlite:///...)")
    parser.add_argument("--proteins", type=Path, required=True)
    parser.add_argument("--lots", type=Path, required=True)
    parser.add_argument("--name", default="exostab", help="registered model name")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--via-client",
        action="store_true",
        help="disable the SQLite fast path: every look-up through MlflowClient (for comparison)",
    )
    args = parser.parse_args()
    os.environ["MLFLOW_TRACKING_URI"] = args.store
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(args.store)
    client = MlflowClient()
    challenger = client.get_model_version_by_alias(args.name, "challenger")
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{args.name}/{challenger.version}"))
    uris = {
        "alias": f"models:/{args.name}@challenger",
        "version": f"models:/{args.name}/{challenger.version}",
        "folder": str(folder),
    }
    with tempfile.TemporaryDirectory() as scratch:
        lots = pd.read_csv(args.lots).head(5)
        lots.to_csv(Path(scratch) / "lots.csv", index=False)
        for kind, uri in uris.items():
            seconds = []
            for i in range(args.repeats):
                out = Path(scratch) / f"{kind}{i}.csv"
                # Both launchers run the program (before exostab.cli was a package with a
                # __main__, "-m exostab.cli" only imported the module and timed no scoring).
                launcher = ["-m", "exostab.cli"] if not args.via_client else ["-c", VIA_CLIENT]
                command = [sys.executable, *launcher, "score", "--proteins",
                           str(args.proteins), "--lots", str(Path(scratch) / "lots.csv"),
                           "--out", str(out), "--model", uri]  # fmt: skip
                started = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                seconds.append(time.perf_counter() - started)
            spread = f"min {min(seconds):.2f}, max {max(seconds):.2f}, n={args.repeats}"
            print(f"{kind:8s} {uri}: median {statistics.median(seconds):.2f} s ({spread})")


if __name__ == "__main__":
    main()
