"""The options several commands share, declared once as typed ``Annotated`` aliases.

An option is shared only where its flag, type and help are the same in every command that
takes it; an option whose help says something particular to one command is declared there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Under the working folder, as the store: `make train` in a checkout writes data/simulated/ there.
DEFAULT_DATA = Path("data") / "simulated"
SCALE_HELP = (
    "Scale of the protein values: raw (intensities; 0 = not quantified) or log2 (already "
    "log2: Perseus exports, log2 ratios such as CPTAC's; negative values allowed)."
)

TrackingUriOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="mlflow store (runs, models, registry). Default: the SQLite file "
        "mlruns/mlflow.db in the working folder.",
        show_default=False,
    ),
]
"""``--tracking-uri``: the mlflow store (the app's callback, before every command)."""

ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        help=(
            "Model URI: `models:/exostab@champion`, `models:/exostab@challenger` (the latest "
            "version), `models:/exostab/3` or `runs:/RUN_ID/model`. Env var: EXOSTAB_MODEL."
        ),
        envvar="EXOSTAB_MODEL",
        show_default=True,
    ),
]
"""``--model``: the model URI (score, forecast, explain, monitor, serve)."""

ProteinsOption = Annotated[Path, typer.Option(help="Protein table or search-engine output.")]
"""``--proteins``: the protein file to score (score, forecast, explain)."""

LotSheetOption = Annotated[Path, typer.Option(help="Lot sheet (lot_id, passage, metadata).")]
"""``--lots``: the lot sheet of the lots to score (score, explain)."""

FormatOption = Annotated[
    str | None, typer.Option("--format", help="Force the protein file format.")
]
"""``--format``: force the protein file format (score, forecast, explain, monitor)."""

ModelScaleOption = Annotated[
    str | None,
    typer.Option("--scale", help=SCALE_HELP + " Default: the scale the model was trained on."),
]
"""``--scale`` of a scoring command: default, the scale the model was trained on."""

ExperimentOption = Annotated[
    str | None, typer.Option(help="mlflow experiment name. Default: the config's (exostab).")
]
"""``--experiment``: the mlflow experiment name (train, runs-page)."""
