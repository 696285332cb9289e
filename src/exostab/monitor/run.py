"""The whole check of a model on released lots (``monitor_lots``) and its per-window books.

Performance, drift and accounting over all lots and per time window (lots in = monitored +
quarantined, failed MS runs, the domain score's trend), judged by the alarm rule.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from exostab.config import MonitorConfig
from exostab.errors import ExostabError
from exostab.io.readers.streaming import FAILED_RUN_REASON
from exostab.model.bundle import ModelBundle
from exostab.monitor.drift import domain_contributors, lots_per_donor, metadata_drift, protein_drift
from exostab.monitor.lot_sheet import (
    DEFAULT_DATE_COLUMN,
    DEFAULT_WINDOW,
    NO_DATE,
    check_monitor_columns,
    checked_window,
    read_outcomes,
    refuse_lot_id_options,
    window_labels,
)
from exostab.monitor.performance import not_assessable, performance
from exostab.monitor.reference import bundle_reference
from exostab.monitor.result import MonitorResult
from exostab.monitor.verdict import (
    ALL_LOTS,
    alarm_reasons,
    judge,
    mark_named,
    outside_domain,
    placed,
    scope_checks,
    verdict_line,
)


def extra_runs(
    quarantined: Iterable[str],
    sheet_lots: Iterable[str],
    refused_rows: Iterable[str],
    monitored: Iterable[str],
) -> list[bool]:
    """Which quarantine rows are protein-file runs that are no lot in (``n_extra_runs``).

    Each refused lot-sheet row is one lot in, and so is each valid sheet lot that was not
    monitored (its first quarantine row); any other row is an extra run: a run of no lot of
    the sheet, or one repeating a lot already booked.

    Args:
        quarantined: the quarantine rows' ``lot_id``, in their order.
        sheet_lots: the valid lot-sheet lots; refused_rows: the refused rows' ``lot_id``
            (a duplicated id once per row); monitored: the monitored lots.

    Returns:
        per quarantine row, True when it is an extra run.
    """
    left = Counter(map(str, refused_rows))
    done = set(map(str, monitored))
    left.update(lot for lot in map(str, sheet_lots) if lot not in done)
    flags = []
    for lot in map(str, quarantined):
        flags.append(left[lot] == 0)
        left[lot] = max(left[lot] - 1, 0)
    return flags


def quarantine_windows(
    quarantine: pd.DataFrame, lot_windows: pd.Series, refused_windows: pd.Series
) -> list[str]:
    """Per quarantine row, its time window.

    A lot refused by the lot sheet is in the window of its own date (each copy of a duplicated
    lot id its own); any other row in its lot's window (a run repeating a lot too); a run of no
    lot, or a lot without a readable date, in ``no date``.

    Args:
        quarantine: the quarantine rows (``lot_id``, ``extra_run``), the refused lot-sheet
            rows first, in the sheet's order.
        lot_windows: the valid sheet lots' windows (index ``lot_id``).
        refused_windows: the refused lot-sheet rows' windows (index their ``lot_id``, in the
            sheet's order).
    """
    own: dict[str, deque[str]] = {}
    for lot, window in refused_windows.items():
        own.setdefault(str(lot), deque()).append(str(window))
    known = dict(zip(lot_windows.index.astype(str), lot_windows.astype(str), strict=True))
    found = []
    for lot, extra in zip(quarantine["lot_id"].astype(str), quarantine["extra_run"], strict=True):
        mine = own.get(lot)
        found.append(mine.popleft() if mine and not extra else known.get(lot, NO_DATE))
    return found


def window_table(lots: pd.DataFrame, quarantine: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per time window: the books, performance and the domain trend.

    Args:
        lots: the monitored lots (``window``, ``risk``, ``risk_band``, ``outcome``, ...).
        quarantine: the quarantine rows (``window``, ``reason``, ``extra_run``).
        level: interval level.

    Returns:
        one row per window (a window of extra runs only too): ``n_in`` = ``n_monitored`` +
        ``n_quarantined`` counts lots; ``n_extra_runs``, the protein-file runs of no lot
        (or repeating one), is counted apart; ``n_failed_runs`` counts the runs that
        quantified no protein, extra ones included. Of the monitored lots,
        ``n_not_assessable`` the model could not judge (``n_outcome_not_assessable`` of them
        with an outcome, left out of AUROC and calibration) and ``n_outside_domain`` placed
        outside the training domain; ``outside_domain`` is their share of the lots placed
        (``placed``: enough proteins measured), NaN when none is.
    """
    rows = []
    windows = sorted(
        set(lots["window"]) | set(quarantine["window"]), key=lambda w: (w == NO_DATE, w)
    )
    for window in windows:
        members = lots[lots["window"] == window]
        held = quarantine[quarantine["window"] == window]
        extra = held["extra_run"].astype(bool)
        found = performance(members, level)
        rows.append(
            {
                "window": window,
                "n_in": len(members) + int((~extra).sum()),
                "n_monitored": len(members),
                "n_quarantined": int((~extra).sum()),
                "n_extra_runs": int(extra.sum()),
                "n_failed_runs": int(
                    held["reason"].astype(str).str.startswith(FAILED_RUN_REASON).sum()
                ),
                "n_with_outcome": found["n_with_outcome"],
                "n_not_assessable": int(not_assessable(members).sum()),
                "n_outcome_not_assessable": found["n_outcome_not_assessable"],
                "n_outside_domain": int(outside_domain(members).sum()),
                "auroc": found["auroc"],
                "auroc_low": found["auroc_low"],
                "auroc_high": found["auroc_high"],
                "observed": found["calibration"]["observed"],
                "observed_low": found["calibration"]["observed_low"],
                "observed_high": found["calibration"]["observed_high"],
                "predicted": found["calibration"]["predicted"],
                "released_unstable": found["released_unstable"],
                "held_stable": found["held_stable"],
                "domain_score_median": float(members["domain_score"][placed(members)].median())
                if placed(members).any()
                else float("nan"),
                "outside_domain": float(outside_domain(members).sum() / placed(members).sum())
                if placed(members).any()
                else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def monitor_lots(
    bundle: ModelBundle,
    scored: Any,
    sheet: pd.DataFrame,
    sheet_quarantine: pd.DataFrame,
    *,
    config: MonitorConfig,
    label: str = "unstable",
    date_column: str | None = DEFAULT_DATE_COLUMN,
    window: str = DEFAULT_WINDOW,
    window_given: bool = False,
    dayfirst: bool = False,
    seed: int = 0,
) -> MonitorResult:
    """Check a model on released lots: performance, drift, accounting, verdict.

    Args:
        bundle: the deployed model.
        scored: the lots as ``score_file`` scored them (``ScoredFile``).
        sheet: the lot sheet's valid rows (index ``lot_id``), with the ``label`` column
            (empty where the assay is not back) and the ``date_column``.
        sheet_quarantine: the lot-sheet rows refused on reading (``lot_id``, ``reason``, and
            the ``date_column`` when the sheet was read with it: each is then counted in the
            window of its own date; without it, in ``no date``).
        config: the alarm rule.
        label: the outcome column (1 = unstable); it must be in the sheet, its cells may be
            empty (no assay back: performance is then not assessed, and the verdict says so).
        date_column: release or manufacturing date column; None or absent = one window
            (absent is said in a note; ``check_monitor_columns`` refuses a named one).
        window: the time windows: ``W``, ``M``, ``Q`` or ``Y``.
        window_given: the user chose ``window``: a note says so when no date can use it.
        dayfirst: dates not yet read are ``dd/mm/yyyy`` (``window_labels``; default ISO only).
        seed: bootstrap seed.

    Returns:
        the result; every lot in the sheet is monitored or quarantined (in = monitored +
        quarantined).

    Raises:
        ExostabError: no ``label`` column in the sheet; ``window`` not W, M, Q or Y; a date
            not read by the rule (see ``window_labels``).
    """
    window = checked_window(window)
    check_monitor_columns(sheet, label=label, date_column=date_column, date_required=False)
    notes: list[str] = []
    reference = bundle_reference(bundle)
    if reference is None:
        notes.append(
            "the model stores no training reference (trained before monitoring existed): "
            "drift is not tested and AUROC is not compared with the CV interval; retrain to add it"
        )
    outcome, unreadable = read_outcomes(sheet[label])
    if unreadable:
        notes.append(
            f"{len(unreadable)} outcome(s) in {label!r} not read as 0/1 (treated as not back): "
            + ", ".join(unreadable[:5])
        )
    dated = date_column is not None and date_column in sheet
    given = f"--window {window} is not used: " if window_given else ""
    if date_column is None:
        if window_given:
            notes.append(f"{given}no date column, all lots in one time window")
    elif not dated:
        notes.append(f"{given}the lot sheet has no {date_column!r} column: one time window")
    windows = (
        window_labels(sheet[date_column], window, dayfirst=dayfirst)
        if dated
        else pd.Series("all", index=sheet.index, dtype=object)
    )
    if dated and len(windows):
        undated = int((windows == NO_DATE).sum())
        if undated == len(windows):
            notes.append(
                f"{given}no date in {date_column!r} could be read: all lots in the window "
                f"{NO_DATE!r}"
            )
        elif undated:
            notes.append(f"{undated} lot(s) with no readable date in {date_column!r}: window "
                         f"{NO_DATE!r}")  # fmt: skip
    scores = scored.scores.set_index("lot_id")
    ids = scores.index.astype(str)
    lots = pd.DataFrame(
        {
            "lot_id": ids,
            "window": windows.reindex(ids).fillna(NO_DATE).to_numpy(),
            "risk": scores["risk"].to_numpy(dtype=float),
            "risk_band": scores["risk_band"].astype(str).to_numpy(),
            "outcome": outcome.reindex(ids).to_numpy(dtype=float),
            "coverage": scores["coverage"].to_numpy(dtype=float),
            "domain_score": scores["domain_score"].to_numpy(dtype=float),
            "in_domain": scores["in_domain"].astype(bool).to_numpy(),
        }
    )
    if "donor_id" in sheet:
        lots["donor_id"] = sheet["donor_id"].reindex(ids).astype(str).to_numpy()
    quarantine = scored.quarantine[["lot_id", "reason"]].copy()
    quarantine["extra_run"] = extra_runs(
        quarantine["lot_id"], sheet.index, sheet_quarantine["lot_id"], lots["lot_id"]
    )
    refused_dates = dated and date_column in sheet_quarantine
    refused_windows = pd.Series(
        window_labels(sheet_quarantine[date_column], window, dayfirst=dayfirst).to_numpy()
        if refused_dates
        else NO_DATE,
        index=sheet_quarantine["lot_id"].astype(str).to_numpy(),
        dtype=object,
    )
    quarantine["window"] = quarantine_windows(quarantine, windows, refused_windows)
    quarantine = quarantine[["lot_id", "reason", "window", "extra_run"]]
    n_lots_quarantined = int((~quarantine["extra_run"]).sum())
    if (
        len(lots) + n_lots_quarantined != len(sheet) + len(sheet_quarantine)
        or len(quarantine) - n_lots_quarantined != scored.scorer.n_extra
    ):
        raise RuntimeError("monitor lost a lot: monitored + quarantined != lots in")
    level = config.confidence
    overall = performance(lots, level, seed=seed)
    table = window_table(lots, quarantine, level)
    monitored_sheet = sheet.reindex(ids)
    metadata = protein_table = None
    if reference is not None and len(lots):
        metadata = metadata_drift(reference, monitored_sheet, config)
        protein_table = protein_drift(reference, bundle, scored.table, config, lots_per_donor(lots))

    def explain_domain(members: pd.DataFrame) -> str:
        return domain_contributors(bundle, scored.table, members)

    checks = scope_checks(
        ALL_LOTS, overall, lots, metadata, protein_table, reference, config, explain_domain
    )
    # Each window on its own too: a drift in the later months is diluted over all lots.
    labels = sorted(set(lots["window"]))
    for label_ in labels if len(labels) > 1 else []:
        members = lots[lots["window"] == label_]
        if len(members) < config.min_window_lots:
            continue
        window_metadata = window_proteins = None
        if reference is not None:
            member_ids = set(members["lot_id"])
            window_metadata = metadata_drift(
                reference,
                monitored_sheet.loc[members["lot_id"]],
                config,
                window=True,
                lots_per_donor=lots_per_donor(members),
            )
            window_proteins = protein_drift(
                reference,
                bundle,
                scored.table[scored.table["lot_id"].astype(str).isin(member_ids)],
                config,
                lots_per_donor(members),
            )
        checks += scope_checks(
            label_,
            performance(members, level, seed=seed),
            members,
            window_metadata,
            window_proteins,
            reference,
            config,
            explain_domain,
        )
    checks = judge(checks, config.alpha)
    if not any(c.component in ("auroc", "calibration") for c in checks):
        notes.append(
            f"{int(overall['n_judged'])} lot(s) with an outcome"
            + (" the model judged" if overall["n_outcome_not_assessable"] else "")
            + f", fewer than {config.min_outcomes}: performance not judged"
        )
    metadata = mark_named(metadata, "column", checks, ("lot sheet",))
    protein_table = mark_named(
        protein_table, "protein", checks, ("driver proteins", "other proteins")
    )
    reasons = alarm_reasons(checks)
    return MonitorResult(
        lots=lots,
        quarantine=quarantine,
        windows=table,
        overall=overall,
        metadata=metadata,
        proteins=protein_table,
        reference=reference,
        alarm=bool(reasons),
        reasons=reasons,
        verdict=verdict_line(
            reasons,
            len(lots),
            int(overall["n_with_outcome"]),
            bundle,
            judged={c.component for c in checks if c.scope == ALL_LOTS},
            has_reference=reference is not None,
            min_outcomes=config.min_outcomes,
            n_outcome_not_assessable=int(overall["n_outcome_not_assessable"]),
        ),
        notes=notes,
        model_version=bundle.model_version,
        n_outcome_unreadable=len(unreadable),
        checks=checks,
        n_extra_runs=scored.scorer.n_extra,
    )


def monitor_files(
    bundle: ModelBundle,
    proteins: Path,
    lots: Path,
    *,
    config: MonitorConfig,
    label: str = "unstable",
    date_column: str | None = None,
    window: str | None = None,
    dayfirst: bool = False,
    format: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> MonitorResult:
    """``monitor`` from the files: read the lot sheet, score the protein file, check the model.

    Args:
        bundle: the deployed model.
        proteins: protein file of the released lots (any format ``score`` reads).
        lots: their lot sheet, with ``label`` (1 unstable, 0 stable, empty = not back).
        config: the alarm rule.
        label: the outcome column.
        date_column: the release date column; None = ``release_date`` if the sheet has it
            (otherwise one window); a column named here must be in the sheet.
        window: ``W``, ``M``, ``Q`` or ``Y``; None = ``M``.
        dayfirst: dates are ``dd/mm/yyyy`` (otherwise only ISO ``yyyy-mm-dd``).
        format: the protein file's format; None = detected.
        progress: called with a short message at each step (reading, checking).

    Returns:
        the result (every lot monitored or quarantined with its reason).

    Raises:
        ExostabError: a named column the lot sheet lacks or a named date column with no date
            (said before the proteins are read), a window not W, M, Q or Y, a date not read by
            the rule; no lot monitored (``nothing_scored``); InputError: the files.
    """
    from exostab.io.readers import read_lot_sheet_lenient
    from exostab.scoring.batch import nothing_scored, score_file

    say = progress or (lambda message: None)
    period = checked_window(window if window is not None else DEFAULT_WINDOW)
    dates = date_column or DEFAULT_DATE_COLUMN
    refuse_lot_id_options(label, date_column, str(lots))
    sheet, refused = read_lot_sheet_lenient(
        lots, vocabulary=bundle.vocabulary, dates=(dates,), dayfirst=dayfirst
    )
    check_monitor_columns(  # before the proteins are read: a wrong name is said at once
        sheet,
        label=label,
        date_column=dates,
        date_required=date_column is not None,
        where=str(lots),
    )
    if date_column is not None and len(sheet):  # named: it must hold dates
        labels = window_labels(sheet[date_column], period, dayfirst=dayfirst)
        if (labels == NO_DATE).all():
            examples = sheet[date_column].dropna().astype(str).head(2).tolist()
            raise ExostabError(
                f"--date-column {date_column!r} holds no date"
                + (f" (such as {', '.join(map(repr, examples))})" if examples else "")
                + ": name the release date column",
                where=str(lots),
            )
    say(f"reading {proteins.name}")
    scored = score_file(bundle, proteins, sheet, refused, format=format, reading=say)
    if scored.scorer.n_scored == 0:  # a verdict on no lot would be "no alarm"
        raise nothing_scored(scored.scorer, scored.quarantine, proteins, lots, "monitored")
    if scored.scorer.n_scored < config.min_window_lots:  # nor is one on a handful of lots
        books = scored.scorer
        raise ExostabError(
            f"only {books.n_scored} of {books.n_lots_in} lots could be monitored "
            f"({books.n_lots_quarantined} quarantined); a verdict needs at least "
            f"{config.min_window_lots} (min_window_lots of the alarm rule)",
            where=str(lots),
        )
    say("checking performance and drift")
    return monitor_lots(
        bundle,
        scored,
        sheet,
        refused,
        config=config,
        label=label,
        date_column=dates,
        window=period,
        window_given=window is not None,
        dayfirst=dayfirst,
    )
