"""Batch scoring: protein profiles + lot sheet → one scored row or one quarantine row per lot.

Nothing is dropped. Every lot-sheet row ends up scored or quarantined with its reason, and so
does every protein-file row whose lot is not in the sheet. The books are kept in lots (sheet
rows: in = scored + quarantined) and, apart, in protein-file rows that belong to no sheet lot.
Lots arrive in chunks (a wide table is streamed), so memory stays flat as batches grow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from exostab.errors import ExostabError, InputError, shown
from exostab.io.feature_names import match_features
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers.messages import listed
from exostab.io.readers.scales import impossible_scale
from exostab.io.runs import (
    failed_run_lots,
    map_runs_to_lots,
    match_all_runs,
    missing_run_warning,
    ms_run_table,
    named,
    named_like_a_named_lot,
    named_like_reason,
    named_replicate_warning,
    named_replicates_note,
    run_claims,
    taken_runs,
    why_no_run_matched,
)
from exostab.model.bundle import ModelBundle

logger = logging.getLogger(__name__)

QUARANTINE_COLUMNS = ["lot_id", "reason"]


def quarantine_rows(lot_ids: list[str], reason: str | list[str]) -> pd.DataFrame:
    return pd.DataFrame({"lot_id": lot_ids, "reason": reason}, columns=QUARANTINE_COLUMNS)


def unclaimed_runs(runs: list[str], like: dict[str, str] | None = None) -> pd.DataFrame:
    """Quarantine rows of protein-file runs no lot of the sheet claims, each reason naming its
    run as the protein file writes it (QC, blanks, lots missing from the sheet).

    ``like``: run -> the lot it is named like with a replicate number after a dot, whose
    ``ms_run`` names other runs (``named_like_a_named_lot``): its reason says so.
    """
    like = like or {}
    return quarantine_rows(
        runs,
        [
            named_like_reason(run, like[run])
            if run in like
            else f"run '{run}' is not in the lot sheet"
            for run in runs
        ],
    )


def naming_the_run(reason: str, run: str, lot: str | None) -> str:
    """A refused protein-file row's reason, naming its run when the row is booked under a lot
    of another name (a run matched through ``ms_run``) and the reason does not name it."""
    if lot is None or lot == run or f"'{run}'" in reason:
        return reason
    return f"run '{run}': {reason}"


def compact_sheet(sheet: pd.DataFrame) -> pd.DataFrame:
    """Hold a lot sheet's text columns (and its lot-id index) as Arrow-backed strings.

    One Python object per text cell is what makes a big sheet heavy: at 100,000 lots × 11
    text columns the sheet falls from 77 MB to 24 MB, and the process keeps ~120 MB less for
    the whole run. ``scoring_table`` hands the model each chunk's cells as objects again.
    """
    text = {c: "str" for c in sheet.columns if sheet[c].dtype == object}
    compact = sheet.astype(text) if text else sheet.copy()
    if compact.index.dtype == object:
        compact.index = compact.index.astype("str")
    return compact


def scoring_table(
    bundle: ModelBundle, lots: ProteinMatrix, sheet: pd.DataFrame
) -> tuple[pd.DataFrame, int]:
    """Arrange lots as the model's input table: lot_id, metadata, proteins under model names.

    Proteins are matched by exact group id, then leading accession, then gene symbol.
    Returns the table and how many of the model's proteins the input holds.
    """
    table, matched = _scoring_table(bundle, lots, sheet)
    return table, len(matched)


def missing_proteins_warning(missing: list[str]) -> str:
    """The ``warning`` text of a lot scored from a file that lacks some model proteins."""
    return (
        f"{len(missing)} model protein(s) absent from the protein file, treated as not "
        f"detected: {named(missing)}"
    )


def _scoring_table(
    bundle: ModelBundle, lots: ProteinMatrix, sheet: pd.DataFrame
) -> tuple[pd.DataFrame, pd.Series]:
    model_proteins = bundle.proteins.rename(columns={"input_name": "group_id"})
    matched = match_features(model_proteins, lots.proteins).dropna()
    block = lots.intensities[matched.to_numpy()].set_axis(
        bundle.proteins.loc[matched.index, "input_name"].to_numpy(), axis=1
    )
    # Only the metadata the sheet holds: a column it lacks stays absent, so ``predict`` names
    # it in every lot's warning (a column of blanks would pass silently as "not measured").
    held = [c for c in bundle.metadata if c in sheet.columns]
    metadata = sheet.reindex(index=lots.intensities.index, columns=held)
    metadata = metadata.astype(
        {c: object for c in metadata.columns if isinstance(metadata[c].dtype, pd.StringDtype)}
    )
    table = pd.concat([metadata, block], axis=1)
    table.insert(0, "lot_id", table.index.astype(str))
    return table.reset_index(drop=True), matched


@dataclass
class BatchScorer:
    """Score chunks of lots against one lot sheet, keeping the books on every input row.

    Attributes:
        bundle: the model.
        sheet: valid lot-sheet rows (index ``lot_id``).
        sheet_quarantine: lot-sheet rows already refused (``lot_id``, ``reason``).
        top_k: driver proteins reported per lot.
        predict_rows: lots passed to the model at once.
        with_drivers: the scores carry a ``drivers`` column (``Driver`` lists, for the report).
    """

    bundle: ModelBundle
    sheet: pd.DataFrame
    sheet_quarantine: pd.DataFrame
    top_k: int = 5
    predict_rows: int = 2000
    with_drivers: bool = False
    n_scored: int = 0
    n_quarantined: int = 0
    n_lots_quarantined: int = 0
    n_proteins_matched: int = 0
    seen: set[str] = field(default_factory=set)
    extra_rows: list[str] = field(default_factory=list)
    lot_warnings: dict[str, str] = field(default_factory=dict)
    file_warning: str | None = None
    file_match: dict[str, str] | None = None
    file_missing: dict[str, tuple[str, ...]] | None = None
    file_runs: list[str] | None = None
    left_out: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.refused = set(self.sheet_quarantine["lot_id"].astype(str))
        # a quarantined lot's runs are its own: never reported as runs of no lot in the sheet
        self.claim = run_claims(self.sheet, self.sheet_quarantine)
        self.by_ms_run = ms_run_table(self.claim, list(self.claim["lot_id"].astype(str)))
        self.all_lots = set(self.claim["lot_id"].astype(str))

    @property
    def n_lots_in(self) -> int:
        """Lots in: every lot-sheet row (valid or refused)."""
        return len(self.sheet) + len(self.sheet_quarantine)

    @property
    def n_extra(self) -> int:
        """Protein-file rows that are not a sheet lot's first: runs of lots missing from the
        sheet and further copies of a duplicated row (quarantined too, counted apart)."""
        return len(self.extra_rows)

    @property
    def n_in(self) -> int:
        """Rows of the two output files together: lots in plus the extra protein-file rows."""
        return self.n_lots_in + self.n_extra

    def _book_lots(self, n: int) -> None:
        self.n_lots_quarantined += n
        self.n_quarantined += n

    def _book_extra(self, names: list[str]) -> None:
        self.extra_rows.extend(names)
        self.n_quarantined += len(names)

    def start(self) -> pd.DataFrame:
        """Return the lot-sheet rows refused before any scoring; say once, on the console, the
        model's metadata columns the lot sheet lacks (each lot's warning names them too)."""
        if not_held := self.bundle.missing_metadata(self.sheet.columns):
            logger.warning(
                "the lot sheet lacks the model's metadata column(s) %s: read as missing for "
                "every lot (named in each lot's warning)",
                ", ".join(not_held),
            )
        empty = [
            column
            for column in self.bundle.metadata
            if column in self.sheet.columns and len(self.sheet) and self.sheet[column].isna().all()
        ]
        if empty:
            logger.warning(
                "the lot sheet's metadata column(s) %s hold no value: read as missing for "
                "every lot",
                ", ".join(empty),
            )
        refused = self.sheet_quarantine.reindex(columns=QUARANTINE_COLUMNS).astype(str)
        self._book_lots(len(refused))
        return refused

    def match_file(self, runs: list[str]) -> None:
        """Match all runs of the protein file to lots at once, before any chunk is scored.

        ``match_all_runs``, the rule ``inspect`` and ``train`` use, on every run of the file
        (refused and failed ones too): an ambiguous name is told with every run it matches and
        as many names and lots as are ambiguous, and a chunk never takes a run another chunk's
        run settles (a short name left with one run once full paths took theirs).

        Raises:
            InputError: a run name is ambiguous (see ``match_all_runs``).
        """
        self.file_runs = list(dict.fromkeys(runs))
        self.file_match, self.file_missing = match_all_runs(
            self.file_runs, self.by_ms_run, self.all_lots
        )

    def named_like(self, runs: list[str]) -> dict[str, str]:
        """Runs of no lot named like a lot whose ``ms_run`` names its runs
        (``named_like_a_named_lot``): run -> that lot."""
        return named_like_a_named_lot(runs, self.by_ms_run, self.all_lots)

    def why_nothing_matched(self) -> str | None:
        """Why no run of the file matched a lot (``why_no_run_matched``); None if one did.

        Only known once the file's runs were matched (``match_file``).
        """
        if self.file_runs is None or self.file_match:
            return None
        return why_no_run_matched(self.file_runs, self.claim)

    def lots_of(self, runs: list[str]) -> dict[str, str]:
        """The lots of runs read together (a chunk): run -> lot for the matched runs.

        From ``match_file`` when the file's runs were matched (as ``checked_chunks`` does);
        otherwise these runs alone are matched (``match_all_runs``).

        Raises:
            InputError: a run name is ambiguous (see ``match_all_runs``).
        """
        match = self.file_match
        if match is None:
            match, _ = match_all_runs(list(dict.fromkeys(runs)), self.by_ms_run, self.all_lots)
        return {run: match[run] for run in runs if run in match}

    def refuse(self, refused_rows: pd.DataFrame) -> pd.DataFrame:
        """Book protein-file rows a reader refused (e.g. text in an intensity cell)."""
        out = []
        run_to_lot = self.lots_of([str(run) for run in refused_rows["lot_id"]])
        for run, reason in zip(refused_rows["lot_id"], refused_rows["reason"], strict=True):
            lot = run_to_lot.get(str(run))
            if lot is not None and lot in self.refused:
                continue  # already quarantined through the lot sheet
            if lot is None or lot in self.seen:
                self._book_extra([str(run)])
            else:
                self._book_lots(1)
            self.seen.add(lot or str(run))
            out.append((lot or str(run), naming_the_run(str(reason), str(run), lot)))
        return quarantine_rows([lot for lot, _ in out], [reason for _, reason in out])

    def score(self, matrix: ProteinMatrix) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Score one chunk of runs; return (scores, quarantined rows)."""
        table, unmatched = self.prepare(matrix)
        scores, failed = self.answer(table)
        return scores, pd.concat([unmatched, failed], ignore_index=True).astype(str)

    def prepare(self, matrix: ProteinMatrix) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Match one chunk of runs to its lots; return (model input table, quarantined rows).

        The table holds one row per lot seen for the first time (``lot_id``, metadata,
        proteins under the model's input names); runs of no sheet lot are quarantined.
        """
        run_to_lot = self.lots_of([str(run) for run in matrix.intensities.index])
        # Average against the lots this chunk names only: the whole sheet per chunk is quadratic.
        claim = self.claim.loc[self.claim.index.isin(set(run_to_lot.values()))]
        # The entries no run of the file matched: a run of the file set aside (failed, refused)
        # is not "missing from the protein file".
        lots, mapping = map_runs_to_lots(
            matrix, claim, run_to_lot=run_to_lot, missing=self.file_missing
        )
        extra = [str(run) for run in mapping.runs_without_lot]
        quarantined = [unclaimed_runs(extra, self.named_like(extra))]
        self._book_extra(extra)
        keep = [
            lot
            for lot in lots.intensities.index
            if lot not in self.refused and lot not in self.seen
        ]
        self.seen.update(keep)
        chunk = ProteinMatrix(
            intensities=lots.intensities.loc[keep],
            proteins=lots.proteins,
            format=lots.format,
            source=lots.source,
            n_groups_before=lots.n_groups_before,
        )
        table, matched = _scoring_table(self.bundle, chunk, self.sheet)
        self.n_proteins_matched = len(matched)
        scored = set(keep)
        missing = {lot: runs for lot, runs in mapping.missing_runs.items() if lot in scored}
        left_out = self.warn_scored(keep, missing, mapping.named_replicates)
        note = replace(mapping, missing_runs=missing).missing_note()
        if note:
            logger.warning("%s: %s", matrix.source, note)
        log_named_replicates(matrix.source, keep, mapping.named_replicates)
        log_left_out(matrix.source, left_out)
        absent = [str(f) for f in self.bundle.proteins.index if f not in matched.index]
        warning = missing_proteins_warning(absent) if absent else None
        if warning and warning != self.file_warning:
            logger.warning("%s: %s", matrix.source, warning)
        self.file_warning = warning
        return table, pd.concat(quarantined, ignore_index=True).astype(str)

    def warn_scored(
        self,
        keep: Sequence[str],
        missing: dict[str, tuple[str, ...]],
        averaged: dict[str, tuple[str, ...]] | None = None,
    ) -> dict[str, list[str]]:
        """Keep what the reading found about each lot scored here (``lot_warnings``): its
        ``ms_run`` entries the file lacks (``missing``), the runs averaged into it as
        replicates by their names alone (``averaged``: ``named_replicates``), then its failed
        runs left out.

        Said of the lots scored only: a quarantined lot's reason says what happened.

        Returns:
            lot -> its failed runs left out, for the lots of ``keep`` that had one.
        """
        left_out = {lot: self.left_out[lot] for lot in keep if lot in self.left_out}
        for lot in keep:
            said = [missing_run_warning(missing[lot])] if lot in missing else []
            said += [named_replicate_warning(averaged[lot])] if averaged and lot in averaged else []
            said += [failed_replicate_warning(left_out[lot])] if lot in left_out else []
            if said:
                self.lot_warnings[str(lot)] = "; ".join(said)
        return left_out

    def with_warnings(self, scores: pd.DataFrame) -> pd.DataFrame:
        """Add what the reading found about each lot (a missing run, a failed run left out,
        missing model proteins) to the lot's ``warning``, after what the model said."""
        if scores.empty or (not self.lot_warnings and not self.file_warning):
            return scores
        scores = scores.copy()
        warnings = []
        for lot, previous in zip(scores["lot_id"], scores["warning"], strict=True):
            parts = [str(previous)] if isinstance(previous, str) and previous else []
            parts += [w for w in (self.lot_warnings.get(str(lot)), self.file_warning) if w]
            warnings.append("; ".join(parts) if parts else None)
        scores["warning"] = pd.Series(warnings, index=scores.index, dtype=object)
        return scores

    def answer(self, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Score a model input table; return (scores, lots the model answered with an error)."""
        answers = [
            self.bundle.predict(
                table.iloc[start : start + self.predict_rows],
                top_k=self.top_k,
                with_drivers=self.with_drivers,
            )
            for start in range(0, len(table), self.predict_rows)
        ] or [self.bundle.predict(table.head(0), top_k=self.top_k, with_drivers=self.with_drivers)]
        answer = pd.concat(answers, ignore_index=True)
        failed = answer["error"].notna()
        refused = answer.loc[failed, ["lot_id", "error"]].set_axis(QUARANTINE_COLUMNS, axis=1)
        scores = self.with_warnings(
            answer.loc[~failed].drop(columns="error").reset_index(drop=True)
        )
        self.n_scored += len(scores)
        self._book_lots(int(failed.sum()))
        return scores, refused.astype(str).reset_index(drop=True)

    def finish(self) -> pd.DataFrame:
        """Quarantine the lot-sheet lots no protein profile ever came for."""
        missing = [lot for lot in self.sheet.index.astype(str) if lot not in self.seen]
        self._book_lots(len(missing))
        if self.n_scored + self.n_lots_quarantined != self.n_lots_in or (
            self.n_quarantined != self.n_lots_quarantined + self.n_extra
        ):
            raise RuntimeError(
                f"lot accounting failed: {self.n_lots_in} lots in, {self.n_scored} scored, "
                f"{self.n_lots_quarantined} quarantined; {self.n_extra} extra protein-file "
                f"rows, {self.n_quarantined} quarantine rows"
            )
        logger.info(
            "matched %d/%d model proteins in the input",
            self.n_proteins_matched,
            len(self.bundle.proteins),
        )
        return quarantine_rows(missing, self.no_profile_reasons(missing))

    def no_profile_reasons(self, missing: list[str]) -> list[str]:
        """Why each lot got no protein profile: its ``ms_run`` entries not in the protein file,
        or in it but taken by another lot (``taken_runs``), or nothing to say more."""
        is_missing = set(missing)
        entries: dict[str, list[str]] = {}
        for lot, run in self.by_ms_run.entries:
            if lot in is_missing:
                entries.setdefault(lot, []).append(run)
        taken = taken_runs(
            [(lot, run) for lot, runs in entries.items() for run in runs],
            self.file_runs or [],
            self.file_match or {},
        )
        reasons = []
        for lot in missing:
            absent: list[str] = []
            in_file: list[str] = []
            for run in entries.get(lot, []):
                if (lot, run) not in taken:
                    absent.append(f"'{run}'")
                    continue
                found, other = taken[(lot, run)]
                written = f" (as '{found}')" if found != run else ""
                in_file.append(
                    f"ms_run '{run}' is in the protein file{written} but taken by lot '{other}'"
                )
            said = [f"ms_run {', '.join(absent)} not in the protein file"] if absent else []
            said += in_file
            reasons.append("no protein profile" + (f": {'; '.join(said)}" if said else ""))
        return reasons

    def accounting(self) -> str:
        """The books in words: lots in = scored + quarantined, then the extra protein rows."""
        text = (
            f"{self.n_lots_in} lots in (lot sheet): {self.n_scored} scored + "
            f"{self.n_lots_quarantined} quarantined"
        )
        if self.extra_rows:
            text += (
                f"; also quarantined {self.n_extra} protein-file row(s) of no lot in the sheet "
                f"or repeating a lot: {listed(self.extra_rows, limit=10)}"
            )
        return text


def on_model_scale(matrix: ProteinMatrix, model_scale: str) -> ProteinMatrix:
    """Bring the input to the scale the model was trained on, saying so when it converts."""
    if matrix.scale == model_scale:
        return matrix
    logger.warning(
        "%s: declared %s but the model was trained on %s values: converted",
        matrix.source,
        matrix.scale,
        model_scale,
    )
    return matrix.on_scale(model_scale)


def failed_replicate_warning(runs: list[str]) -> str:
    """The ``warning`` text of a lot measured without a run of it that quantified no protein."""
    return (
        f"left out {len(runs)} run(s) that quantified no protein (failed run?): "
        f"{named(runs)}; measured on its other run(s)"
    )


def log_named_replicates(
    source: object, keep: Sequence[str], averaged: dict[str, tuple[str, ...]]
) -> None:
    """Log the lots of ``keep`` averaged from runs named like them (``named_replicates``)."""
    note = named_replicates_note({lot: averaged[lot] for lot in keep if lot in averaged})
    if note:
        logger.warning("%s: %s", source, note)


def log_left_out(source: object, left_out: dict[str, list[str]]) -> None:
    """Log the failed runs left out of lots scored on their other runs (``warn_scored``)."""
    if left_out:
        logger.warning(
            "%s: left out %d run(s) that quantified no protein (failed runs) of lot(s) "
            "measured on their other runs: %s",
            source,
            sum(len(runs) for runs in left_out.values()),
            named([f"{run} (lot {lot})" for lot, runs in left_out.items() for run in runs]),
        )


def leave_out_failed_runs(scorer: BatchScorer, runs: list[str], failed: list[str]) -> pd.DataFrame:
    """Book runs that quantified no protein, read with a lot's other runs (``runs``, clean).

    A failed run of a lot with a clean run among ``runs`` is only left out: the lot is scored
    on its other runs, and its ``warning`` names the run (``BatchScorer.left_out``). The
    other failed runs (their lot has no other run, or they are no lot's) are quarantined.
    Both engines book failed runs so (``set_aside_failed_runs``, the Spark engine).

    Returns:
        The quarantine rows of the failed runs not left out (``failed_run_reason``), for
        ``BatchScorer.refuse``.
    """
    from exostab.io.readers.streaming import failed_run_reason

    run_to_lot = scorer.lots_of(runs + failed)
    scored_lots = {run_to_lot.get(run) for run in runs}
    quarantined = []
    for run in failed:
        lot = run_to_lot.get(run)
        if lot is None or lot not in scored_lots:
            quarantined.append(run)
        else:  # the lot is scored on its other runs
            scorer.left_out.setdefault(lot, []).append(run)
    return quarantine_rows(quarantined, [failed_run_reason(run) for run in quarantined])


def set_aside_failed_runs(
    matrix: ProteinMatrix, scorer: BatchScorer, refused: pd.DataFrame | None = None
) -> tuple[ProteinMatrix, pd.DataFrame, pd.DataFrame | None]:
    """Take out runs that quantified no protein, to quarantine their lots with that reason.

    A failed replicate of a lot that has another run is only left out: the lot is scored on
    its other runs, and its ``warning`` names the run (``BatchScorer.left_out``). A wide
    table's reader refuses a failed run itself: pass its refused rows, all runs of a lot read
    with its runs (``lots_kept_whole``), and its failed runs (``failed_run`` true, as
    ``check_rows`` marks them) are taken as the matrix's are.

    Returns:
        The matrix without the failed runs, the quarantine rows of the failed runs whose lot has
        no other run here (or that are no lot's), and the reader's other refused rows.
    """
    refused_failed: list[str] = []
    if refused is not None and len(refused):
        # Rows refused by another path than ``check_rows`` carry no mark: none failed.
        marks = refused.get("failed_run", pd.Series(False, index=refused.index))
        is_failed = marks.to_numpy(dtype=bool)
        refused_failed = [str(run) for run in refused.loc[is_failed, "lot_id"]]
        refused = refused.loc[~is_failed]
    kept, failed = failed_run_lots(matrix, {})
    runs = [str(run) for run in kept.intensities.index]
    return kept, leave_out_failed_runs(scorer, runs, [*failed, *refused_failed]), refused


def lots_kept_whole(
    chunks: Iterator[tuple[ProteinMatrix, pd.DataFrame | None]], scorer: BatchScorer
) -> Iterator[tuple[ProteinMatrix, pd.DataFrame | None]]:
    """Hold a lot's runs until its last run is read, so that no chunk splits a lot.

    A streamed wide table may put a lot's replicate runs in two chunks; scored chunk by chunk,
    the lot would be scored on its first chunk's runs only (with a false "run not in the
    protein file" warning) and its later runs dropped. The file's runs are matched to lots
    before the first chunk (``BatchScorer.match_file``), so each lot's runs are known: the runs
    of a lot whose other runs are still to come are held, and go out with the chunk that reads
    the lot's last run. Rows the reader refused count as read, and go out with their lot's
    runs too (a failed replicate is only left out when the lot has another run: that is told
    with the lot's runs together, ``set_aside_failed_runs``). Only such lots are held, so
    memory stays flat unless a file lists every lot's first replicate before any second one.

    Args:
        chunks: (runs × proteins, rows the reader refused or None) in file order.
        scorer: the batch's books; its ``file_match`` is set once the first chunk is read.

    Yields:
        The same chunks with each lot's runs together (a chunk may hold no run); what is
        still held when the file ends goes out last.
    """
    to_come: dict[str, set[str]] = {}  # lot -> its runs not read yet

    def waiting(runs: Iterable[object]) -> list[bool]:
        """Per run, whether its lot has runs still to come."""
        lot_of = scorer.file_match or {}
        return [bool(to_come.get(lot_of.get(str(run), ""))) for run in runs]

    held: pd.DataFrame | None = None
    held_refused: pd.DataFrame | None = None
    last: ProteinMatrix | None = None
    for matrix, refused in chunks:
        lot_of = scorer.file_match or {}
        if last is None:  # the file's runs were matched as its first chunk was read
            for run, lot in lot_of.items():
                to_come.setdefault(lot, set()).add(run)
        read = [*matrix.intensities.index, *([] if refused is None else refused["lot_id"])]
        for run in map(str, read):
            if run in lot_of:
                to_come[lot_of[run]].discard(run)
        runs = matrix.intensities if held is None else pd.concat([held, matrix.intensities])
        hold = waiting(runs.index)
        held = runs.loc[hold]
        if held_refused is not None and len(held_refused):
            refused = pd.concat([held_refused, refused], ignore_index=True)
        if refused is not None:
            hold_refused = waiting(refused["lot_id"])
            held_refused = refused.loc[hold_refused]
            refused = refused.loc[[not h for h in hold_refused]]
        last = matrix
        yield replace(matrix, intensities=runs.loc[[not h for h in hold]]), refused
    left_refused = held_refused if held_refused is not None and len(held_refused) else None
    if last is not None and held is not None and (len(held) or left_refused is not None):
        yield replace(last, intensities=held), left_refused


def refused_run_rows(matrix: ProteinMatrix) -> pd.DataFrame:
    """The runs a reader refused for a bad cell (``ProteinMatrix.refused_runs``) as a wide
    table's refused rows are given (``check_rows``): ``lot_id`` (the run), ``reason``,
    ``failed_run`` (False: a run with a bad cell is refused, not left out as failed)."""
    runs = [run for run, _ in matrix.refused_runs]
    return pd.DataFrame(
        {
            "lot_id": runs,
            "reason": [reason for _, reason in matrix.refused_runs],
            "failed_run": [False] * len(runs),
        }
    )


def all_runs(matrix: ProteinMatrix) -> list[str]:
    """Every run of a file read whole: the runs read, then those refused for a bad cell (all
    are matched to lots at once, ``BatchScorer.match_file``)."""
    return [str(run) for run in matrix.intensities.index] + [r for r, _ in matrix.refused_runs]


def checked_chunks(
    scorer: BatchScorer,
    proteins: Path,
    *,
    format: str | None = None,
    scale: str | None = None,
    rows: int = 2000,
    reading: Callable[[str], None] | None = None,
) -> Iterator[tuple[ProteinMatrix, pd.DataFrame]]:
    """Read a protein file for scoring: its runs chunk by chunk, bad rows refused, not lost.

    A wide table is streamed in chunks of ``rows`` lots (a lot's runs kept together:
    ``lots_kept_whole``) and its bad rows (a duplicate or empty lot id, text, a negative or
    infinite value) are refused one by one; a search-engine file or long table is read whole,
    and its runs with such a cell are refused one by one too
    (``read_proteins(quarantine_runs=True)``), every other run read. All runs of the file are
    matched to lots at once (``BatchScorer.match_file``) before the first chunk, as
    ``inspect`` matches them. Runs that quantified no protein are set aside. Every refused row
    is booked on ``scorer`` (its lot quarantined with the reason), and each chunk comes on the
    model's scale (converted, with a warning, when declared otherwise).

    Args:
        scorer: the books of this batch (lot sheet and model).
        proteins: the protein file.
        format: its format (None = detect).
        scale: how its values are declared (None = the model's scale).
        rows: lots per chunk of a streamed wide table.
        reading: called with a short message while the file is read (progress).

    Yields:
        (runs × proteins on the model's scale, quarantine rows refused with this chunk).

    Raises:
        InputError: the file is unreadable as a whole, a run name is ambiguous (see
            ``match_all_runs``), or values declared log2 cannot be (``impossible_scale``).
    """
    from exostab.io.readers import detect_format, read_proteins
    from exostab.io.readers.streaming import iter_wide_lenient

    declared = scale or scorer.bundle.scale
    if reading is not None:
        reading(f"reading {Path(proteins).name}")
    chunks: Iterator[tuple[ProteinMatrix, pd.DataFrame | None]]
    if (format or detect_format(proteins)) == "wide":
        chunks = lots_kept_whole(
            (
                (chunk.matrix, chunk.refused)
                for chunk in iter_wide_lenient(
                    proteins,
                    rows=rows,
                    scale=declared,
                    contaminants=scorer.bundle.read_options,
                    on_ids=scorer.match_file,
                )
            ),
            scorer,
        )
    else:
        matrix = read_proteins(
            proteins,
            format=format,
            scale=declared,
            options=scorer.bundle.read_options,
            quarantine_runs=True,
        )
        refused_runs = refused_run_rows(matrix)
        scorer.match_file(all_runs(matrix))
        chunks = iter([(matrix, refused_runs if len(refused_runs) else None)])
    for matrix, refused in chunks:
        impossible = impossible_scale(matrix.intensities, matrix.scale)
        if impossible:  # inspect's problem, score's refusal: never a quarantine of every lot
            raise InputError(impossible, where=str(proteins))
        kept, failed, refused = set_aside_failed_runs(matrix, scorer, refused)
        booked = [scorer.refuse(refused)] if refused is not None and len(refused) else []
        if len(failed):
            booked.append(scorer.refuse(failed))
        refused_rows = pd.concat(booked, ignore_index=True) if booked else quarantine_rows([], [])
        yield on_model_scale(kept, scorer.bundle.scale), refused_rows


class NothingScored(ExostabError):
    """No lot of a batch could be used (``score``, ``forecast``, ``monitor``): one line, exit 2.

    Attributes:
        reason: the message without ``where``.
        quarantine: every lot and protein-file row left out, with its reason (``lot_id``,
            ``reason``), for the command to write where its quarantine goes
            (``keep_quarantine``); None when the command wrote it already.
    """

    def __init__(self, reason: str, *, where: str, quarantine: pd.DataFrame | None = None) -> None:
        self.reason = reason
        self.quarantine = quarantine
        super().__init__(reason, where=where)

    def saying(self, more: str) -> NothingScored:
        """The same error with one more clause (where the quarantine went)."""
        return NothingScored(f"{self.reason}; {more}", where=str(self.where), quarantine=None)


def nothing_scored(
    scorer: BatchScorer, quarantine: pd.DataFrame | None, proteins: Path, lots: Path, done: str
) -> NothingScored:
    """The one-line error of a batch of which no lot could be used (score, forecast, monitor).

    It says why when no run matched any lot (``BatchScorer.why_nothing_matched``: the file's
    runs, what the sheet matches them by; an empty file named as such) and where; otherwise it
    gives the first quarantine reason, and ``where`` is the file the reasons come from (the
    lot sheet when it refused every lot, the protein file when it refused none, else both).
    The caller writes
    the quarantine and says where (``NothingScored.saying``, ``keep_quarantine``): no lot is
    lost because none was scored.

    Args:
        scorer: the books of the batch (nothing scored).
        quarantine: the rows left out, with their reasons (the first is named); None: not held.
        proteins, lots: the two files, for ``where``.
        done: what could not be done to a lot (``scored``, ``forecast``, ``monitored``).
    """
    why = scorer.why_nothing_matched()
    if why is not None:
        where = proteins if scorer.n_lots_in else lots
        return NothingScored(
            f"no lot could be {done}: {why}", where=str(where), quarantine=quarantine
        )
    if quarantine is None or not len(quarantine):
        return NothingScored(f"no lot could be {done}", where=str(lots), quarantine=quarantine)
    first = quarantine.iloc[0]
    # Where the reasons come from: the lot sheet refused every lot, or none (the protein file's
    # rows were refused or missing), or some of each.
    refused_by_sheet = len(scorer.sheet_quarantine)
    at_fault = (
        str(lots)
        if refused_by_sheet >= scorer.n_lots_in
        else str(proteins)
        if refused_by_sheet == 0
        else f"{proteins}, {lots}"
    )
    return NothingScored(
        f"no lot could be {done}: all {scorer.n_lots_in} quarantined (first: "
        f"{shown(str(first['lot_id']))}: {first['reason']})",
        where=at_fault,
        quarantine=quarantine,
    )


def keep_quarantine(
    nothing: NothingScored, path: Path, others: Iterable[Path] = ()
) -> NothingScored:
    """Write the quarantine of a batch of which no lot could be used, and say where.

    Args:
        nothing: the error, holding every row left out (``NothingScored.quarantine``).
        path: the command's quarantine file (``lot_id``, ``reason``); written whole or not at
            all (``OutputFiles``), no other output beside it.
        others: the command's other outputs: an earlier run's files of those names are
            removed with the quarantine's publication (``OutputFiles.withdraw``), so the folder
            never pairs this quarantine with an earlier run's results.

    Returns:
        the error, saying where every lot went with its reason (and what earlier file went).

    Raises:
        OutputError: the file could not be written.
    """
    from exostab.io.writers import OutputFiles

    quarantine = nothing.quarantine
    if quarantine is None:
        return nothing
    with OutputFiles() as outputs:
        outputs.table(path, unit="lot").write(quarantine.reindex(columns=QUARANTINE_COLUMNS))
        removed = [other.name for other in others if other != path and outputs.withdraw(other)]
    return nothing.saying(f"each lot with its reason → {path}{earlier_outputs(removed, others)}")


def earlier_outputs(removed: list[str], outputs: Iterable[Path]) -> str:
    """What became of an earlier run's outputs when nothing was scored: `` (the earlier
    scores.csv removed; monitor.json left as it is: a symlink)``, or nothing."""
    linked = [output.name for output in outputs if output.is_symlink()]
    said = [f"the earlier {', '.join(removed)} removed"] if removed else []
    said += [f"{', '.join(linked)} left as it is: a symlink"] if linked else []
    return f" ({'; '.join(said)})" if said else ""


@dataclass(frozen=True)
class ScoredFile:
    """A whole protein file scored against a lot sheet (explain and forecast hold it all).

    Attributes:
        table: model input of the scored lots (``lot_id``, metadata, proteins; lots × columns).
        scores: one row per scored lot (as ``ModelBundle.predict`` answers).
        quarantine: every lot and protein-file row left out, with its reason.
        scorer: the books (``accounting()``, counts).
    """

    table: pd.DataFrame
    scores: pd.DataFrame
    quarantine: pd.DataFrame
    scorer: BatchScorer


def score_file(
    bundle: ModelBundle,
    proteins: Path,
    sheet: pd.DataFrame,
    sheet_quarantine: pd.DataFrame,
    *,
    format: str | None = None,
    scale: str | None = None,
    top_k: int = 5,
    reading: Callable[[str], None] | None = None,
) -> ScoredFile:
    """Read and score a whole protein file with ``score``'s quarantine: a bad lot is left out.

    ``reading`` is called with a short message while the file is read (progress).

    Raises:
        InputError: the file as a whole is unreadable (see ``checked_chunks``).
    """
    scorer = BatchScorer(bundle, sheet, sheet_quarantine, top_k=top_k)
    quarantined = [scorer.start()]
    tables: list[pd.DataFrame] = []
    scored: list[pd.DataFrame] = []
    chunks = checked_chunks(scorer, proteins, format=format, scale=scale, reading=reading)
    for matrix, refused in chunks:
        table, unmatched = scorer.prepare(matrix)
        scores, failed = scorer.answer(table)
        quarantined += [refused, unmatched, failed]
        tables.append(table.loc[table["lot_id"].isin(scores["lot_id"])])
        scored.append(scores)
    quarantined.append(scorer.finish())
    return ScoredFile(
        table=pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["lot_id"]),
        scores=pd.concat(scored, ignore_index=True) if scored else pd.DataFrame(columns=["lot_id"]),
        quarantine=pd.concat(quarantined, ignore_index=True).astype(str),
        scorer=scorer,
    )
