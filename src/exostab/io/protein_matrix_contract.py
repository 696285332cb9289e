"""The protein-matrix contract (pandera): intensities finite (and > 0 on the raw scale), float64,
unique protein groups and runs, annotations matching the columns; checked on the whole block."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from exostab.errors import InputError
from exostab.io.problem_table import PROBLEM_COLUMNS, render_problems

if TYPE_CHECKING:  # readers import this module: a runtime import would be circular
    from exostab.io.protein_matrix import ProteinMatrix


def _bad_cells(block: pd.DataFrame, scale: str = "raw") -> np.ndarray:
    """Mask of cells that are neither NaN nor a finite number (> 0 on the raw scale)."""
    values = block.to_numpy(dtype="float64", na_value=np.nan)
    valid = np.isfinite(values) & ((values > 0) if scale == "raw" else True)
    return ~(np.isnan(values) | valid)


def _value_check(scale: str) -> pa.Check:
    if scale == "raw":
        return pa.Check(
            lambda block: not _bad_cells(block).any(),
            name="finite_positive",
            error="intensity must be finite and > 0 (NaN = missing)",
        )
    return pa.Check(
        lambda block: not _bad_cells(block, "log2").any(),
        name="finite_log2",
        error="log2 value must be finite (NaN = missing)",
    )


# One scalar check over the whole block: per-cell checks cost seconds at 500 × 5,000.
PROTEIN_MATRIX_SCHEMA = pa.DataFrameSchema(
    checks=[
        _value_check("raw"),
        pa.Check(
            lambda block: bool((block.dtypes == "float64").all()),
            name="float64",
            error="intensities must be float64",
        ),
        pa.Check(
            lambda block: bool(block.columns.is_unique),
            name="unique_groups",
            error="duplicate protein group columns",
        ),
    ],
    index=pa.Index(None, unique=True, nullable=False),
)
PROTEIN_MATRIX_SCHEMAS = {
    "raw": PROTEIN_MATRIX_SCHEMA,
    "log2": pa.DataFrameSchema(
        checks=[_value_check("log2"), *PROTEIN_MATRIX_SCHEMA.checks[1:]],
        index=PROTEIN_MATRIX_SCHEMA.index,
    ),
}


def protein_matrix_problems(matrix: ProteinMatrix) -> pd.DataFrame:
    """List contract breaches of a ProteinMatrix (lot_id/run, column, problem), one per run."""
    problems: list[dict[str, Any]] = []
    block = matrix.intensities
    try:
        PROTEIN_MATRIX_SCHEMAS[matrix.scale].validate(block, lazy=True)
    except SchemaErrors as errors:
        checks = set(errors.failure_cases["check"].astype(str))
        if any("finite" in c for c in checks):
            bad = _bad_cells(block, matrix.scale)
            runs, groups = list(block.index), list(block.columns)
            for row in np.flatnonzero(bad.any(axis=1)).tolist():
                columns = [str(groups[j]) for j in np.flatnonzero(bad[row]).tolist()]
                shown = ", ".join(columns[:3]) + (
                    f" (+{len(columns) - 3})" if len(columns) > 3 else ""
                )
                problems.append(
                    {
                        "lot_id": str(runs[row]),
                        "column": shown,
                        "problem": "intensity must be finite and > 0 (NaN = missing)"
                        if matrix.scale == "raw"
                        else "log2 value must be finite (NaN = missing)",
                    }
                )
        for check in sorted(c for c in checks if "finite" not in c):
            problems.append({"lot_id": "(all)", "column": "(index/columns)", "problem": check})
    if not matrix.proteins.index.equals(block.columns):
        problems.append(
            {
                "lot_id": "(all)",
                "column": "proteins",
                "problem": "protein annotations do not match the intensity columns",
            }
        )
    return pd.DataFrame(problems, columns=list(PROBLEM_COLUMNS))


def validate_protein_matrix(matrix: ProteinMatrix) -> ProteinMatrix:
    """Check the protein-matrix contract on the whole block at once.

    Raises:
        InputError: with a short table of the failing runs/lots and proteins.
    """
    problems = protein_matrix_problems(matrix)
    if not problems.empty:
        raise InputError(
            "protein matrix breaks the contract:\n"
            + render_problems(problems, source=str(matrix.source)),
            where=str(matrix.source),
        )
    return matrix
