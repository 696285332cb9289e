"""``exostab simulate``: SIMULATED lots with ground truth, or a post-release stream."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exostab.cli.checks import existing_file
from exostab.cli.options import DEFAULT_DATA
from exostab.cli.program import console, user_errors


@user_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the SIMULATED lots to.")],
    lots: Annotated[int, typer.Option("--lots", help="Number of lots (all parts together).")] = 250,
    donors: Annotated[int, typer.Option("--donors", help="Number of donors.")] = 25,
    proteins: Annotated[
        int, typer.Option("--proteins", help="Size of the protein universe.")
    ] = 3000,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="base, holdout, weak_signal, donor_confounded, ... (the `scenarios:` of "
            "configs/simulate.yaml).",
        ),
    ] = "base",
    acquisition: Annotated[str, typer.Option("--acquisition", help="dia or dda.")] = "dia",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 7,
    config: Annotated[
        Path | None, typer.Option("--config", help="Simulator config (configs/simulate.yaml).")
    ] = None,
    stream: Annotated[
        str | None,
        typer.Option(
            "--stream",
            help="Write a post-release stream instead (dated lots, outcomes of the earlier "
            "ones): later lots of new donors from the world of --world: stable, ms_batch, "
            "medium, tissue or senescence (see docs/monitoring.md).",
        ),
    ] = None,
    stream_seed: Annotated[
        int, typer.Option("--stream-seed", help="Seed of the stream (its lots and donors).")
    ] = 101,
    world: Annotated[
        Path | None,
        typer.Option(
            "--world",
            help="With --stream: the SIMULATED training folder whose world the stream continues "
            "(its simulation.yaml; default: the built-in data/simulated/train). --lots and "
            "--donors are then the stream's size.",
        ),
    ] = None,
) -> None:
    """Write SIMULATED MSC-exosome lots with ground truth (lot sheet, proteins, vendor files)."""
    from exostab.simulate import write_simulation

    if stream is not None:
        from exostab.simulate.release import read_world, write_release_stream

        written = write_release_stream(
            out,
            world=read_world(world if world is not None else DEFAULT_DATA / "train"),
            drift=stream,
            n_lots=lots,
            n_donors=donors,
            seed=stream_seed,
            acquisition=acquisition,
        )
        names = [*written.drifted_columns, *written.drifted_proteins]
        changed = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        changed = changed or "nothing"
        console.print(
            f"[bold]SIMULATED post-release stream[/] ({written.drift}): {written.n_lots} lots, "
            f"{written.n_with_outcome} with an outcome, "
            f"{100 * written.prevalence:.1f}% unstable (training world "
            f"{100 * written.world_prevalence:.1f}%); drift from {written.onset or '-'} "
            f"changes {changed} → {out}/ (lots.csv with release_date, proteins.csv, truth/)",
            highlight=False,
        )
        return

    summary = write_simulation(
        out,
        n_lots=lots,
        n_donors=donors,
        n_proteins=proteins,
        scenario=scenario,
        acquisition=acquisition,
        seed=seed,
        config_path=existing_file(config, "simulator config"),
    )
    console.print(
        f"[bold]SIMULATED data[/] (not real lots): scenario {summary.scenario}, "
        f"seed {summary.seed}, {summary.n_lots} lots, {summary.n_proteins} proteins, "
        f"{summary.acquisition.upper()}; "
        f"{100 * summary.prevalence:.1f}% unstable",
        highlight=False,
    )
    for part in summary.parts:
        prefix = "" if part == "all" else f"{part}/"
        directory = summary.paths[f"{prefix}lots"].parent
        console.print(
            f"  {directory}/: lots.csv, proteins.csv ({summary.n_protein_groups[part]} protein "
            "groups), proteinGroups.txt, report.pg_matrix.tsv, truth/, simulation.yaml, "
            "README.txt",
            highlight=False,
        )
