"""What scoring answers for a lot: the output columns, its top drivers, and when a lot is not
assessable (too few of the model's proteins measured, or far outside the training lots)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MIN_COVERAGE = 0.5
# A lot this many times beyond the domain limits (99th percentile of new-donor lots) is not
# judged: the model never saw anything like it.
FAR_OUTSIDE = 3.0
NOT_ASSESSABLE = "not assessable"


class Driver(NamedTuple):
    """One of a lot's top drivers, as data (the report draws these; ``top_drivers`` is text).

    Attributes:
        name: the feature's readable name (gene symbol, accession or cut group id).
        value: its value in the lot (log2 after normalisation; a module score in mean z),
            None when the protein was not detected (its absence is the effect).
        unit: ``log2`` or ``z``.
        attribution: its contribution to the lot's log-odds of instability.
    """

    name: str
    value: float | None
    unit: str
    attribution: float

    def text(self) -> str:
        """``CD9 (21.04 log2) +0.394 raises risk``, or ``CD9 +0.394 raises risk`` if absent."""
        effect = f"{self.attribution:+.3f} {'raises' if self.attribution > 0 else 'lowers'} risk"
        if self.value is None:
            return f"{self.name} {effect}"
        return f"{self.name} ({self.value:.2f} {self.unit}) {effect}"


def drivers_text(drivers: list[Driver]) -> str:
    """A lot's drivers as one spreadsheet cell: present ones, then ``absent: ...``."""
    present = [d.text() for d in drivers if d.value is not None]
    absent = [d.text() for d in drivers if d.value is None]
    return "; ".join(present + ([f"absent: {', '.join(absent)}"] if absent else []))


OUTPUT_COLUMNS = (
    "lot_id",
    "risk",
    "risk_band",
    "top_drivers",
    "coverage",
    "in_domain",
    "domain_score",
    "model_version",
    "error",
    "warning",
)


def measured_share(protein_values: np.ndarray) -> np.ndarray:
    """Share of the columns each lot measured (not NaN); 1 when there are no columns.

    Args:
        protein_values: lots × the model's proteins, floats (NaN = not measured).
    """
    if protein_values.shape[1] == 0:
        return np.ones(len(protein_values))
    return np.mean(~np.isnan(protein_values), axis=1)


def not_assessable_reasons(coverage: np.ndarray, domain_score: np.ndarray) -> list[str | None]:
    """Per lot, why the model cannot judge it (None when it can).

    Args:
        coverage: share of the model's proteins each lot measured (0-1).
        domain_score: distance from the training lots (≤ 1 inside, see ``DomainModel``).
    """
    reasons: list[str | None] = []
    for share, score in zip(coverage, domain_score, strict=True):
        parts = []
        if share < MIN_COVERAGE:
            parts.append(f"measured {share:.0%} of the model's proteins (needs {MIN_COVERAGE:.0%})")
        if not score <= FAR_OUTSIDE:
            parts.append(
                f"domain score {score:.1f}: far outside the training lots (limit {FAR_OUTSIDE:g})"
            )
        reasons.append(f"{NOT_ASSESSABLE}: {' and '.join(parts)}" if parts else None)
    return reasons
