"""``exostab forecast``: each cell bank's risk per passage and its last safe passage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exostab.cli.checks import existing_file, refuse_overwriting, refuse_unwritable, warn_if_ungated
from exostab.cli.options import FormatOption, ModelOption, ProteinsOption
from exostab.cli.program import console, err_console, user_errors
from exostab.errors import ExostabError, shown


@user_errors
def forecast(
    proteins: ProteinsOption,
    lots: Annotated[Path, typer.Option(help="Lot sheet (lot_id, donor_id, passage, metadata).")],
    out: Annotated[Path, typer.Option(help="Folder for forecast.csv, banks.csv, forecast.html.")],
    model: ModelOption = "models:/exostab@champion",
    passages: Annotated[str, typer.Option(help="Passages to forecast, first-last.")] = "2-15",
    draws: Annotated[
        int, typer.Option(help="Trajectories drawn per bank (4 projected lots each).", min=10)
    ] = 50,
    seed: Annotated[
        int,
        typer.Option(help="Random seed (same seed, same forecast).", min=0, max=2**32 - 1),
    ] = 0,
    format: FormatOption = None,
) -> None:
    """Forecast each cell bank (donor): risk per passage, interval, last safe passage.

    Each bank's measured lots give its own passage trajectory (shrunk toward the training
    population); projected lots are scored by the model. Lots that cannot be used are
    quarantined with the reason (OUT/quarantine.csv), as in `score`; when no lot can be used,
    that file is the only one written (exit 2).
    """
    from exostab.forecast import (
        bank_line,
        forecast_paths,
        parse_passages,
        run_forecast,
        write_forecast,
    )
    from exostab.io.provenance import is_simulated
    from exostab.pages.report import forecast_page
    from exostab.scoring.batch import NothingScored, keep_quarantine
    from exostab.store.model_uri import resolve_model

    existing_file(proteins, "protein file")
    existing_file(lots, "lot sheet")
    inputs = {"protein file": proteins, "lot sheet": lots}
    refuse_overwriting(inputs, list(forecast_paths(out).values()))
    refuse_unwritable(folders=[out])
    grid = parse_passages(passages)
    bundle, uri = resolve_model(model)
    warn_if_ungated(bundle, uri)
    if bundle.trajectory is None:
        raise ExostabError(
            f"model {uri} has no passage trajectory (trained before forecasts existed): "
            "retrain it with exostab train"
        )
    try:
        with err_console.status(f"reading {proteins.name}, forecasting its banks"):
            result = run_forecast(
                bundle, proteins, lots, grid, format=format, n_draws=draws, seed=seed
            )
    except NothingScored as nothing:  # no lot to forecast from: only the quarantine is written
        paths = forecast_paths(out)
        raise keep_quarantine(nothing, paths["quarantine"], paths.values()) from None
    provenance = {
        "model": uri,
        "model version": bundle.model_version,
        "model trained on": "SIMULATED lots" if bundle.simulated_training else "real lots",
        "lots forecast from": "SIMULATED" if is_simulated(lots) else "as given",
        "protein file": proteins,
        "lot sheet": lots,
        "passages": f"P{grid[0]}-P{grid[-1]}",
        "trajectories drawn per bank": f"{draws} (4 projected lots per passage each)",
        "seed": seed,
        "trajectory fitted on": (
            f"{bundle.trajectory.n_lots} lots of {bundle.trajectory.n_donors} donors"
        ),
    }
    paths = write_forecast(result, out, forecast_page(result, provenance))
    used = len(result.measured)
    extra = f" (and {result.n_extra} protein-file run(s) of no lot)" if result.n_extra else ""
    console.print(
        f"{result.n_lots_in} lots in: {used} used, {result.n_lots_in - used} quarantined{extra} "
        f"→ {paths['quarantine']}; {result.n_forecast} bank(s) forecast over "
        f"P{grid[0]}-P{grid[-1]} → {out}/ (forecast.csv, banks.csv, forecast.html)"
    )
    for bank in result.banks.itertuples(index=False):
        console.print(f"  {shown(bank.donor_id)}: {bank_line(bank)}", highlight=False, markup=False)
    if bundle.simulated_training:
        console.print("The model was trained on SIMULATED lots: these forecasts are a demo.")
    if result.n_banks == 0:
        raise ExostabError("no bank could be forecast (see the quarantine file)", where=str(lots))
    if (why := result.nothing_forecast()) is not None:
        raise ExostabError(why, where=str(lots))
