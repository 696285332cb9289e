"""Vendor output layouts of the simulator: MaxQuant ``proteinGroups.txt`` and DIA-NN tables.

Column annotations of each layout, the decoy, common-contaminant and site-only rows MaxQuant
reports, identification statistics, and a fast writer of annotation cells + intensity matrix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from exostab.simulate.proteome import ProteinUniverse

# Rows MaxQuant reports that are not real protein groups of the sample.
MAXQUANT_CONTAMINANTS = (
    ("CON__P00761", "", "TRYP_PIG", "Trypsin (porcine)"),
    ("CON__P04264", "KRT1", "K2C1_HUMAN", "Keratin, type II cytoskeletal 1"),
    ("CON__P35908", "KRT2", "K22E_HUMAN", "Keratin, type II cytoskeletal 2 epidermal"),
    ("CON__P13645", "KRT10", "K1C10_HUMAN", "Keratin, type I cytoskeletal 10"),
    ("CON__P35527", "KRT9", "K1C9_HUMAN", "Keratin, type I cytoskeletal 9"),
)
N_DECOY_ROWS = 5
N_SITE_ONLY_ROWS = 2


MAXQUANT_ANNOTATIONS = (
    "Protein IDs",
    "Majority protein IDs",
    "Gene names",
    "Fasta headers",
    "Peptides",
    "Razor + unique peptides",
    "Unique peptides",
    "Q-value",
    "Score",
    "Only identified by site",
    "Reverse",
    "Potential contaminant",
    "id",
)
DIANN_ANNOTATIONS = (
    "Protein.Group",
    "Protein.Ids",
    "Protein.Names",
    "Genes",
    "First.Protein.Description",
)


def _cells(row: np.ndarray, missing: str | None) -> list[str]:
    cells = list(map(str, row.tolist()))
    if missing is not None:
        for k in np.flatnonzero(row == 0).tolist():
            cells[k] = missing
    return cells


def _write_matrix(
    path: Path,
    header: list[str],
    annotations: list[list[str]],
    matrix: np.ndarray,
    sep: str,
    missing: str | None,
) -> None:
    """Write annotation cells + an integer matrix (0 = missing) fast, one line per row."""
    with path.open("w", newline="\n") as handle:
        handle.write(sep.join(header) + "\n")
        for cells, row in zip(annotations, matrix, strict=True):
            handle.write(sep.join([*cells, *_cells(row, missing)]) + "\n")


def _identification_stats(groups: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    mu = groups["mu"].to_numpy()
    peptides = np.maximum(np.round(1 + 0.9 * (mu - 15) + rng.normal(0, 1.5, len(mu))), 1).astype(
        np.int64
    )
    razor = peptides - rng.binomial(np.maximum(peptides - 1, 0), 0.1)
    unique = razor - rng.binomial(np.maximum(razor - 1, 0), 0.1)
    q_value = np.where(peptides >= 2, 0.0, np.round(rng.uniform(0, 0.01, len(mu)), 5))
    score = np.round(10 * peptides + rng.uniform(0, 25, len(mu)), 3)
    return pd.DataFrame(
        {"peptides": peptides, "razor": razor, "unique": unique, "q": q_value, "score": score}
    )


def _maxquant_extras(
    n_runs: int, universe: ProteinUniverse, rng: np.random.Generator
) -> tuple[list[list[str]], np.ndarray]:
    """Decoy, common-contaminant and site-only rows MaxQuant reports (none is in proteins.csv)."""
    rows: list[list[str]] = []
    values: list[np.ndarray] = []

    def intensities(level: float, present: float) -> np.ndarray:
        drawn = np.round(np.exp2(rng.normal(level, 1.0, n_runs)))
        return np.where(rng.random(n_runs) < present, np.maximum(drawn, 1), 0).astype(np.int64)

    for accession, gene, entry, description in MAXQUANT_CONTAMINANTS:
        header = f">{accession[5:]} {entry} {description} (common contaminant)"
        score = f"{rng.uniform(50, 300):.3f}"
        rows.append([accession, accession, gene, header, "8", "8", "8", "0", score, "", "", "+"])
        values.append(intensities(26.0, 0.9))
    truth = universe.truth
    simulated = truth.index[truth["accession_source"] == "simulated"].to_numpy()
    for k in rng.choice(simulated, N_DECOY_ROWS, replace=False):
        accession = f"REV__{truth['accession'].iloc[int(k)]}"
        rows.append(
            [
                accession,
                accession,
                "",
                "",
                "1",
                "1",
                "1",
                f"{rng.uniform(0.005, 0.01):.5f}",
                f"{rng.uniform(1, 8):.3f}",
                "",
                "+",
                "",
            ]
        )
        values.append(intensities(17.0, 0.3))
    n_simulated = len(simulated)
    for k in range(N_SITE_ONLY_ROWS):
        number = f"{n_simulated + 1 + k:05d}"
        header = (
            f">sim|SIMP{number}|SIMG{number}_SIM Simulated protein {int(number)} "
            f"(SIMULATED, not a real protein) OS=Simulated OX=0 GN=SIMG{number}"
        )
        rows.append(
            [
                f"SIMP{number}",
                f"SIMP{number}",
                f"SIMG{number}",
                header,
                "1",
                "1",
                "1",
                "0",
                f"{rng.uniform(5, 15):.3f}",
                "+",
                "",
                "",
            ]
        )
        values.append(intensities(18.0, 0.5))
    return rows, np.vstack(values)
