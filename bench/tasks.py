"""Work the speed benchmark runs in a child process, so its peak memory is its own.

Usage:
- ``python bench/tasks.py read PATH``: read a protein file with ``read_proteins`` and print one
  JSON line with the seconds the read took and what was read.
- ``python bench/tasks.py floor CSV MODEL_DIR``: the floor of scoring: read the wide CSV with
  pandas, then LightGBM ``predict`` and ``pred_contrib`` of the model's booster alone (no
  preprocessing, no checks, no output). The process wall time, imports included, is the floor
  the benchmark compares ``exostab score`` with.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def read(path: Path) -> dict[str, float]:
    """Time ``read_proteins`` on one file (imports excluded)."""
    from exostab.io.readers import read_proteins

    started = time.perf_counter()
    matrix = read_proteins(path)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "n_runs": float(matrix.n_runs),
        "n_protein_groups": float(matrix.n_groups),
    }


def floor(path: Path, model_dir: Path) -> dict[str, float]:
    """Read a wide CSV with pandas and predict it with a plain LightGBM booster.

    The booster is the model's own (LightGBM text model inside ``bundle.json``), or a plain
    100-tree model fitted on the first 200 lots when the model has no trees.
    """
    started = time.perf_counter()
    import lightgbm
    import numpy as np
    import pandas as pd

    imported = time.perf_counter()
    table = pd.read_csv(path, index_col=0)
    read = time.perf_counter()
    import json

    state = json.loads((model_dir / "artifacts" / "bundle" / "bundle.json").read_text())
    text = state["model"]["booster"]
    values = table.to_numpy(dtype=float)
    if text:  # the model's own trees
        booster = lightgbm.Booster(model_str=text)
    else:  # the inner CV chose a model without trees: a plain 100-tree model on 200 lots
        label = np.arange(min(200, len(values))) % 2
        booster = lightgbm.train(
            {"objective": "binary", "num_leaves": 4, "verbose": -1, "num_threads": 1},
            lightgbm.Dataset(values[: len(label)], label=label),
            num_boost_round=100,
        )
    values = values[:, : booster.num_feature()]
    risk = booster.predict(values, raw_score=True)
    contributions = booster.predict(values, pred_contrib=True)
    done = time.perf_counter()
    return {
        "import_seconds": imported - started,
        "read_seconds": read - imported,
        "predict_seconds": done - read,
        "n_lots": float(len(table)),
        "checksum": float(np.nansum(risk) + np.nansum(contributions)),
    }


def main() -> None:
    """Parse the command line and print the task's JSON answer."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task", choices=["read", "floor"])
    parser.add_argument("path", type=Path)
    parser.add_argument("model_dir", type=Path, nargs="?", help="floor: the model folder")
    args = parser.parse_args()
    if args.task == "floor":
        print(json.dumps(floor(args.path, args.model_dir)))
    else:
        print(json.dumps(read(args.path)))


if __name__ == "__main__":
    main()
