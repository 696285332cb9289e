"""Project each cell bank (donor) to future passages, score the projections, last safe passage.

For every donor of the lot sheet, its measured lots give the posterior of the bank's own
trajectory terms (``trajectory.py``). Future lots at each passage of a range are drawn from
that posterior plus the lot-to-lot noise, turned back into raw intensities (2**log2) and scored
by the one scoring engine, ``ModelBundle.predict``, exactly as measured lots are.

Two levels of draws: a draw is one plausible trajectory of the bank (its donor terms from their
posterior), and each draw makes a few future lots per passage (lot-to-lot noise). A draw's risk
at a passage is the mean over its lots (the chance that a lot made there is unstable, if the
bank follows that trajectory). Per passage, ``risk`` is the mean over draws and
``risk_low``/``risk_high`` the interval over draws: the uncertainty about the bank's trajectory,
carried through the classifier. The last safe passage is the highest passage before the first
one whose upper risk reaches the hold threshold of the cost-weighted bands.

A passage at or below the bank's latest measured one is not a forecast: the bank has already
been expanded that far. The curve says which passages lie beyond the measured lots
(``beyond_measured``); a bank whose grid ends at or below its latest measured passage gets no
last safe passage (the reason says so), and one whose grid reaches the hold line at or below
its latest measured passage gets a note: it is already past its last safe passage.
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exostab.errors import InputError

# the lot sheet's bound: a projected lot is a lot
from exostab.io.lot_sheet_contract import MAX_PASSAGE
from exostab.io.readers import read_lot_sheet_lenient
from exostab.io.writers import OutputFiles
from exostab.model.bundle import ModelBundle
from exostab.model.trajectory import Trajectory, fit_trajectory
from exostab.scoring.batch import nothing_scored, quarantine_rows, score_file

if TYPE_CHECKING:
    from exostab.dataset import TrainingSet

logger = logging.getLogger(__name__)

DONOR = "donor_id"
N_DRAWS = 50
LOTS_PER_DRAW = 4
INTERVAL = 0.9
CURVE_COLUMNS = [
    "donor_id",
    "passage",
    "risk",
    "risk_low",
    "risk_high",
    "band",
    "measured",
    "beyond_measured",
]
BANK_COLUMNS = [
    "donor_id",
    "n_lots",
    "last_measured_passage",
    "last_safe_passage",
    "drivers",
    "reason",
    "note",
]
MEASURED_COLUMNS = ["donor_id", "lot_id", "passage", "risk", "risk_band"]
PASSAGE_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+))?\s*$")


def parse_passages(text: str) -> list[int]:
    """Read a passage range such as ``2-15`` (or one passage, ``8``) into a list of passages."""
    match = PASSAGE_RANGE.match(text)
    if not match:
        raise InputError(f"--passages must look like 2-15, got {text!r}")
    first = int(match[1])
    last = int(match[2]) if match[2] is not None else first
    if first > last or last > MAX_PASSAGE:
        raise InputError(f"--passages: need first <= last <= {MAX_PASSAGE}, got {text!r}")
    return list(range(first, last + 1))


@dataclass(frozen=True)
class BankForecast:
    """One bank's forecast: curve (one row per passage) and its summary row."""

    curve: pd.DataFrame
    summary: dict[str, object]


@dataclass(frozen=True)
class ForecastResult:
    """Everything ``exostab forecast`` writes.

    Attributes:
        curves: donor × passage rows (``CURVE_COLUMNS``).
        banks: one row per donor (``BANK_COLUMNS``); a donor with no usable lot has a reason.
        measured: the measured lots scored on their real profiles (``MEASURED_COLUMNS``).
        quarantine: lots that could not be used (``lot_id``, ``reason``).
        threshold, low: the hold and review cut-offs of the model's bands.
        n_lots_in: input lots (every lot-sheet row).
        passages: the passages asked for (``--passages``), ascending.
        n_extra: protein-file rows that are no lot of the sheet (quarantined too).
    """

    curves: pd.DataFrame
    banks: pd.DataFrame
    measured: pd.DataFrame
    quarantine: pd.DataFrame
    threshold: float
    low: float
    n_lots_in: int
    passages: tuple[int, ...] = ()
    n_extra: int = 0

    @property
    def n_banks(self) -> int:
        """Banks with a curve (at least one usable lot)."""
        return int(self.curves["donor_id"].nunique()) if len(self.curves) else 0

    @property
    def n_forecast(self) -> int:
        """Banks with a passage of the grid beyond their latest measured lot: a forecast."""
        ahead = self.curves.loc[self.curves["beyond_measured"].astype(bool), "donor_id"]
        return int(ahead.nunique())

    def nothing_forecast(self) -> str | None:
        """Say why no bank was forecast although some had usable lots (None otherwise)."""
        if self.n_banks == 0 or self.n_forecast > 0 or not self.passages:
            return None
        latest = int(pd.to_numeric(self.banks["last_measured_passage"]).max())
        return (
            f"no bank was forecast: every bank is measured up to or beyond P{self.passages[-1]}, "
            f"the end of --passages {self.passages[0]}-{self.passages[-1]} (the latest at "
            f"P{latest}); ask for passages above the banks' latest measured ones"
        )


def said(value: object) -> str:
    """A text cell of ``banks`` as text ('' when empty)."""
    return "" if value is None or pd.isna(value) else str(value)  # type: ignore[call-overload]


def bank_line(bank: Any) -> str:
    """One bank's summary for a person: last safe passage, then its note and why, each once.

    e.g. ``last safe passage P8, measured up to P5  (over the hold line at P9; log-odds change
    since P2: SERPINE1 +0.41)``.

    Args:
        bank: a row of ``ForecastResult.banks`` (from ``itertuples``).
    """
    safe = passage_text(bank.last_safe_passage, missing="—")
    reason = said(bank.reason)
    head = f"last safe passage {safe}"
    if not reason and not said(bank.note):  # a reason or note names the measured passage
        head += f", measured up to {passage_text(bank.last_measured_passage, missing='—')}"
    parts = [said(bank.note), reason or said(bank.drivers)]
    return f"{head}  ({'; '.join(part for part in parts if part)})"


def passage_text(value: object, missing: str = "none in range") -> str:
    """Render a passage cell of ``banks`` as ``P7`` (``missing`` when empty)."""
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return missing
    return f"P{int(value)}"  # type: ignore[call-overload]


def bank_rng(seed: int, donor: str) -> np.random.Generator:
    """A bank's own random stream: its forecast does not depend on the other banks given."""
    return np.random.default_rng([seed, zlib.crc32(donor.encode())])


def rising_drivers(
    bundle: ModelBundle, expected: pd.DataFrame, start: int, end: int, limit: int = 3
) -> str:
    """Name the features whose contribution to the log-odds grows most from ``start`` to ``end``.

    Args:
        expected: the bank's expected profiles as a scoring table, one row per passage.
        start, end: row positions (passages) to compare.

    Returns:
        e.g. ``"SERPINE1 +0.41; GDF15 +0.22"`` (change in log-odds); passage and the other
        metadata are left out (the question is which proteins push the bank over).
    """
    features = bundle.transform(bundle.model_inputs(expected))
    _, contributions = bundle.raw_and_contributions(features)
    names = bundle.feature_names
    change = contributions[end, :-1] - (contributions[start, :-1] if start != end else 0.0)
    metadata = set(bundle.metadata)
    order = [j for j in np.argsort(-change, kind="stable") if names[j] not in metadata]
    parts = [
        f"{bundle.display_name(names[j])} {change[j]:+.2f}" for j in order[:limit] if change[j] > 0
    ]
    return "; ".join(parts)


def forecast_bank(
    bundle: ModelBundle,
    donor: str,
    lots: pd.DataFrame,
    passages: list[int],
    *,
    n_draws: int = N_DRAWS,
    seed: int = 0,
    interval: float = INTERVAL,
) -> BankForecast:
    """Forecast one bank from its measured lots.

    Args:
        bundle: the model, with a trajectory.
        donor: the bank's donor id.
        lots: the bank's measured lots as a scoring table (lot_id, metadata, proteins under
            input names, raw intensities); any order.
        passages: passages to project to, ascending.
        n_draws: trajectories of the bank drawn (each makes ``LOTS_PER_DRAW`` lots a passage).
        seed: random seed (same seed, same forecast).
        interval: coverage of ``risk_low``..``risk_high``.
    """
    trajectory = bundle.trajectory
    if trajectory is None:
        raise InputError("the model has no passage trajectory: retrain it with exostab train")
    lots = lots.assign(passage=pd.to_numeric(lots["passage"])).sort_values(
        ["passage", "lot_id"], kind="stable"
    )
    log2 = normalised_log2(bundle, bundle.model_inputs(lots)).reindex(columns=trajectory.proteins)
    measured_passages = lots["passage"].to_numpy(dtype=float)
    posterior = trajectory.posterior(log2.to_numpy(), measured_passages)
    grid = np.asarray(passages, dtype=float)
    expected, draws = trajectory.project(
        posterior, grid, n_draws, bank_rng(seed, donor), lots_per_draw=LOTS_PER_DRAW
    )
    template = lots.iloc[-1]  # the bank as it runs now: metadata of its latest lot
    lot_risk = score_profiles(
        bundle, trajectory, template, donor, grid, draws.reshape(-1, *draws.shape[2:])
    )
    risk_draws = lot_risk.reshape(draws.shape[:3]).mean(axis=1)  # draws × passages
    tail = (1 - interval) / 2
    risk = risk_draws.mean(axis=0)
    low = np.quantile(risk_draws, tail, axis=0)
    high = np.quantile(risk_draws, 1 - tail, axis=0)
    measured = set(measured_passages.astype(int).tolist())
    latest = int(measured_passages.max())
    curve = pd.DataFrame(
        {
            "donor_id": donor,
            "passage": np.asarray(passages, dtype=int),
            "risk": risk,
            "risk_low": low,
            "risk_high": high,
            "band": bundle.bands.band(risk),
            "measured": [p in measured for p in passages],
            "beyond_measured": [p > latest for p in passages],
        }
    )
    over = np.flatnonzero(high >= bundle.bands.threshold)
    if over.size == 0:
        last_safe: int | None = passages[-1]
        drivers = f"none: the upper risk stays below the hold threshold through P{passages[-1]}"
    else:
        first = int(over[0])
        last_safe = passages[first - 1] if first > 0 else None
        expected_table = profile_table(
            bundle, trajectory, template, donor, grid, expected[None], "expected"
        )
        pushed = rising_drivers(bundle, expected_table, 0, first)
        what = f"log-odds change since P{passages[0]}" if first else "log-odds"
        drivers = f"over the hold line at P{passages[first]}; {what}: {pushed}"
    reason = "" if last_safe is not None else "no passage of the range is safe"
    note = ""
    if passages[-1] <= latest:
        # Nothing of the grid lies ahead of the bank: a "last safe passage" would only say
        # which passage of its past the trajectory puts under the hold line.
        last_safe = None
        reason = (
            f"measured up to P{latest}, at or beyond the end of the passages asked "
            f"(P{passages[0]}-P{passages[-1]}): nothing to forecast; ask for passages above "
            f"P{latest}"
        )
    elif over.size and passages[int(over[0])] <= latest:
        # the passage of the hold line is in ``drivers``: each fact said once
        note = f"already measured at P{latest}: past its last safe passage"
    summary: dict[str, object] = {
        "donor_id": donor,
        "n_lots": len(lots),
        "last_measured_passage": latest,
        "last_safe_passage": last_safe,
        "drivers": drivers,
        "reason": reason,
        "note": note,
    }
    return BankForecast(curve=curve, summary=summary)


def profile_table(
    bundle: ModelBundle,
    trajectory: Trajectory,
    template: pd.Series,
    donor: str,
    passages: np.ndarray,
    log2: np.ndarray,
    label: str,
) -> pd.DataFrame:
    """Arrange projected profiles (draws × passages × proteins, log2) as a scoring table."""
    n_draws, n_passages, n_proteins = log2.shape
    names = bundle.proteins["input_name"].reindex(trajectory.proteins).astype(str).to_list()
    raw = np.exp2(log2.reshape(n_draws * n_passages, n_proteins))  # NaN stays not detected
    lot_ids = [f"{donor}|P{int(p)}|{label}{s}" for s in range(n_draws) for p in passages]
    metadata = pd.DataFrame(
        {column: [template.get(column)] * len(lot_ids) for column in bundle.metadata}
    )
    metadata["passage"] = np.tile(passages.astype(int), n_draws)
    return pd.concat(
        [
            pd.DataFrame({"lot_id": lot_ids}),
            metadata,
            pd.DataFrame(raw, columns=names),
        ],
        axis=1,
    )


def score_profiles_table(
    bundle: ModelBundle,
    trajectory: Trajectory,
    template: pd.Series,
    donor: str,
    passages: np.ndarray,
    log2: np.ndarray,
    label: str,
) -> pd.DataFrame:
    """Score projected profiles with ``ModelBundle.predict``; one answer row per profile."""
    table = profile_table(bundle, trajectory, template, donor, passages, log2, label)
    answer = bundle.predict(table)
    if answer["error"].notna().any():
        problem = answer["error"].dropna().iloc[0]
        raise RuntimeError(f"a projected profile of {donor} could not be scored: {problem}")
    return answer


def score_profiles(
    bundle: ModelBundle,
    trajectory: Trajectory,
    template: pd.Series,
    donor: str,
    passages: np.ndarray,
    draws: np.ndarray,
) -> np.ndarray:
    """Return the risk of every drawn profile (draws × passages)."""
    answer = score_profiles_table(bundle, trajectory, template, donor, passages, draws, "draw")
    return answer["risk"].to_numpy(dtype=float).reshape(draws.shape[0], draws.shape[1])


def forecast_table(
    bundle: ModelBundle,
    table: pd.DataFrame,
    donors: pd.Series,
    passages: list[int],
    *,
    n_draws: int = N_DRAWS,
    seed: int = 0,
    interval: float = INTERVAL,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecast every bank of a scoring table of usable lots.

    Args:
        table: usable lots as a scoring table (``lot_id``, metadata, proteins).
        donors: donor per lot, indexed by ``lot_id``.

    Returns:
        (curves, bank summaries), donors in sorted order.
    """
    donor_of = table["lot_id"].astype(str).map(donors.astype(str))
    curves, summaries = [], []
    for donor in sorted(donor_of.dropna().unique()):
        bank = forecast_bank(
            bundle,
            donor,
            table.loc[donor_of == donor],
            passages,
            n_draws=n_draws,
            seed=seed,
            interval=interval,
        )
        curves.append(bank.curve)
        summaries.append(bank.summary)
    curve_frame = (
        pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    )
    return curve_frame, pd.DataFrame(summaries, columns=BANK_COLUMNS)


def run_forecast(
    bundle: ModelBundle,
    proteins: Path,
    lots: Path,
    passages: list[int],
    *,
    format: str | None = None,
    n_draws: int = N_DRAWS,
    seed: int = 0,
    interval: float = INTERVAL,
) -> ForecastResult:
    """Read, match and score the measured lots as ``score`` does, then forecast every bank.

    Lots that cannot be scored are quarantined with their reason; a donor none of whose lots
    is usable is listed in ``banks`` with the reason.
    """
    if bundle.trajectory is None:
        raise InputError("the model has no passage trajectory: retrain it with exostab train")
    sheet, sheet_quarantine = read_lot_sheet_lenient(lots)
    if DONOR not in sheet.columns:
        raise InputError(f"the lot sheet has no {DONOR} column: a forecast is per cell bank")
    donor_text = sheet[DONOR].astype("string").str.strip()
    no_donor = donor_text.isna() | (donor_text == "")
    refused = quarantine_rows(list(sheet.index[no_donor].astype(str)), f"no {DONOR}")
    sheet_quarantine = pd.concat([sheet_quarantine, refused], ignore_index=True)
    sheet = sheet.loc[~no_donor]
    scored = score_file(bundle, proteins, sheet, sheet_quarantine, format=format)
    if scored.scorer.n_scored == 0:
        raise nothing_scored(scored.scorer, scored.quarantine, proteins, lots, "forecast")
    scores, quarantine, table = scored.scores, scored.quarantine, scored.table
    donors = sheet[DONOR].astype(str)
    curves, banks = forecast_table(
        bundle, table, donors, passages, n_draws=n_draws, seed=seed, interval=interval
    )

    measured = scores[["lot_id", "risk", "risk_band"]].copy()
    measured["lot_id"] = measured["lot_id"].astype(str)
    measured["donor_id"] = measured["lot_id"].map(donors)
    measured["passage"] = measured["lot_id"].map(sheet["passage"].set_axis(sheet.index.astype(str)))
    measured = measured[MEASURED_COLUMNS].sort_values(["donor_id", "passage", "lot_id"])

    unusable = sorted(set(donors) - set(banks["donor_id"]))
    if unusable:
        reasons = quarantine.assign(donor_id=quarantine["lot_id"].astype(str).map(donors))
        rows = []
        for donor in unusable:
            why = reasons.loc[reasons["donor_id"] == donor, "reason"].astype(str)
            rows.append(
                {
                    "donor_id": donor,
                    "n_lots": 0,
                    "last_measured_passage": None,
                    "last_safe_passage": None,
                    "drivers": "",
                    "reason": "no usable lot: " + "; ".join(dict.fromkeys(why)),
                    "note": "",
                }
            )
        banks = pd.concat([banks, pd.DataFrame(rows, columns=BANK_COLUMNS)], ignore_index=True)
        banks = banks.sort_values("donor_id", kind="stable").reset_index(drop=True)
    logger.info(
        "forecast %d banks over P%d-P%d (%d donors without a usable lot)",
        len(banks) - len(unusable),
        passages[0],
        passages[-1],
        len(unusable),
    )
    return ForecastResult(
        curves=curves,
        banks=banks,
        measured=measured.reset_index(drop=True),
        quarantine=quarantine,
        threshold=bundle.bands.threshold,
        low=bundle.bands.low,
        n_lots_in=scored.scorer.n_lots_in,
        passages=tuple(passages),
        n_extra=scored.scorer.n_extra,
    )


def forecast_paths(out: Path) -> dict[str, Path]:
    """The files ``write_forecast`` writes into the folder ``out``."""
    return {
        "forecast": out / "forecast.csv",
        "banks": out / "banks.csv",
        "quarantine": out / "quarantine.csv",
        "html": out / "forecast.html",
    }


def write_forecast(result: ForecastResult, out: Path, page: str) -> dict[str, Path]:
    """Write forecast.csv, banks.csv, quarantine.csv and the HTML page into ``out``.

    The four appear together, each complete, or none does (``OutputFiles``).

    Raises:
        OutputError: a file could not be written (disk full, permission).
    """
    paths = forecast_paths(out)
    banks = result.banks.astype({"last_safe_passage": "Int64", "last_measured_passage": "Int64"})
    with OutputFiles() as outputs:
        with outputs.file(paths["forecast"]) as path:
            result.curves[CURVE_COLUMNS].to_csv(path, index=False, float_format="%.4f")
        with outputs.file(paths["banks"]) as path:
            banks[BANK_COLUMNS].to_csv(path, index=False)
        with outputs.file(paths["quarantine"]) as path:
            result.quarantine.to_csv(path, index=False)
        outputs.text(paths["html"], page)
    return paths


def normalised_log2(bundle: ModelBundle, X: pd.DataFrame) -> pd.DataFrame:
    """The bundle's normalisation step, on the model's proteins (lots × proteins, log2)."""
    logged = bundle.steps[0].transform(X)
    return logged.reindex(columns=list(bundle.proteins.index)).astype(float)


def attach_trajectory(bundle: ModelBundle, training: TrainingSet) -> ModelBundle:
    """Fit the passage trajectory on the training lots and return the bundle carrying it."""
    if "passage" not in training.X:
        logger.warning("passage is not a model input: no passage trajectory fitted")
        return bundle
    log2 = normalised_log2(bundle, training.X)
    trajectory = fit_trajectory(log2, training.X["passage"], training.groups)
    return replace(bundle, trajectory=trajectory)
