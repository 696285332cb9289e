"""Runs → lots: match MS runs to the lot sheet and average technical replicates."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from exostab.errors import InputError, shown
from exostab.io.naming import channel_run_name, strip_run_name
from exostab.io.protein_matrix import ProteinMatrix

logger = logging.getLogger(__name__)

LOT_ID = "lot_id"
MS_RUN = "ms_run"


# Lot-sheet headers that give a multiplexed lot's reporter channel (TMT/iTRAQ), compared
# case-, space- and hyphen-insensitively.
CHANNEL_COLUMNS = ("tmt_channel", "channel", "reporter_channel", "tmt_label", "plex_channel")


@dataclass(frozen=True)
class RunMapping:
    """How the runs of a ProteinMatrix were assigned to lots.

    Attributes:
        run_to_lot: run name -> lot_id for every matched run.
        replicates: lot_id -> number of runs averaged into it.
        runs_without_lot: runs no lot claimed (QC, blanks; left out of the result).
        lots_without_run: lots of the sheet with no run (the caller decides if that is fatal).
        missing_runs: lot_id -> the runs its ``ms_run`` names that are not in the file, for
            lots that have at least one other run (a lost injection: the lot is measured on
            fewer runs than the sheet says).
        named_replicates: lot_id -> the runs averaged into it, for the lots averaged from
            several runs of which one is theirs only by its name cut at a dot (``LOT-1.2``;
            ``named_replicates``): no ``ms_run`` says they are the lot's, so it is said.
    """

    run_to_lot: dict[str, str]
    replicates: dict[str, int]
    runs_without_lot: tuple[str, ...]
    lots_without_run: tuple[str, ...]
    missing_runs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    named_replicates: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def replicate_note(self) -> str | None:
        """Say which lots were averaged from runs named like them (None when none was)."""
        return named_replicates_note(self.named_replicates)

    def missing_note(self) -> str | None:
        """Say which lots miss a run their ``ms_run`` names (None when none does)."""
        if not self.missing_runs:
            return None
        return (
            f"{len(self.missing_runs)} lot(s) miss a run their ms_run names (not in the "
            "protein file; each lot is measured on its other runs only): "
            + named([f"{lot} ({', '.join(runs)})" for lot, runs in self.missing_runs.items()])
        )


def missing_run_warning(runs: tuple[str, ...]) -> str:
    """The ``warning`` text of a lot measured without some of the runs its ``ms_run`` names."""
    return f"ms_run names {len(runs)} run(s) not in the protein file: {named(list(runs))}"


def named_replicates_note(found: dict[str, tuple[str, ...]]) -> str | None:
    """The note on lots averaged from runs named like them (``named_replicates``), or None."""
    if not found:
        return None
    return (
        f"{len(found)} lot(s) averaged from runs named like the lot id with a replicate number "
        "after a dot (no ms_run names these lots' runs; name them in ms_run to choose): "
        + named([f"{lot} ({', '.join(runs)})" for lot, runs in found.items()])
    )


def named_replicate_warning(runs: tuple[str, ...]) -> str:
    """The ``warning`` text of a lot averaged from runs named like it (``named_replicates``)."""
    return (
        f"averaged {len(runs)} runs as replicates by their names (no ms_run names this lot's "
        f"runs): {named(list(runs))}"
    )


def named_replicates(
    run_to_lot: dict[str, str], by_ms_run: RunTable, lots: set[str]
) -> dict[str, tuple[str, ...]]:
    """The lots averaged from several runs of which one is theirs by its name cut at a dot.

    Such a run (``SIM-L0001.2``) joins a lot only when no ``ms_run`` entry names the lot's
    runs (``match_all_runs``); averaging it with the lot's other runs is said, never silent.

    Args:
        run_to_lot: run -> lot, every run of the lots to tell (a lot's runs read together).
        by_ms_run: the lot sheet's ``ms_run`` entries (``ms_run_table``).
        lots: the lot ids of the sheet.

    Returns:
        lot -> all its runs, in file order, for each such lot.
    """
    runs_of: dict[str, list[str]] = {}
    for run, lot in run_to_lot.items():
        if lot not in by_ms_run.lots_naming_runs:
            runs_of.setdefault(lot, []).append(run)
    return {
        lot: tuple(runs)
        for lot, runs in runs_of.items()
        if len(runs) > 1 and any(_lot_named(run, lots, cut=False) != lot for run in runs)
    }


def named_like_a_named_lot(runs: list[str], by_ms_run: RunTable, lots: set[str]) -> dict[str, str]:
    """The runs of no lot named like one cut at a dot, whose ``ms_run`` names its runs.

    ``SIM-L0001.2`` beside lot SIM-L0001 with ``ms_run`` ``SIM_run_0001``: the sheet says which
    runs are the lot's and this is not one (``match_all_runs``), so it is a run of no lot.

    Args:
        runs: runs no lot took.
        by_ms_run: the lot sheet's ``ms_run`` entries (``ms_run_table``).
        lots: the lot ids of the sheet.

    Returns:
        run -> the lot it is named like, for each such run.
    """
    found: dict[str, str] = {}
    for run in runs:
        own = _lot_named(run, lots)
        if own in by_ms_run.lots_naming_runs and _lot_named(run, lots, cut=False) is None:
            found[run] = own
    return found


def named_like_reason(run: str, lot: str) -> str:
    """Why a run named like ``lot`` cut at a dot is no lot's (``named_like_a_named_lot``)."""
    return (
        f"run '{run}' is not in the lot sheet: named like lot {lot} with a replicate number "
        f"after a dot, but lot {lot}'s ms_run names its runs and not this one"
    )


def named(items: list[str] | tuple[str, ...], limit: int = 10) -> str:
    """Name the first ``limit`` items, then how many more: ``a, b, c and 12 more``.

    Each is shortened for the terminal as every message does (``errors.shown``).
    """
    items = [str(item) for item in items]
    text = ", ".join(shown(item) for item in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def why_no_run_matched(runs: list[str], lot_sheet: pd.DataFrame) -> str:
    """Why no run of a protein file matched a lot of the lot sheet, in one clause.

    Names the file's runs as written and what the sheet offers to match them by: its
    ``ms_run`` entries when it has that column, its lot ids otherwise.

    Args:
        runs: every run (sample column or row) of the protein file, failed ones included.
        lot_sheet: indexed by ``lot_id`` (or with a ``lot_id`` column).
    """
    lots = _lot_ids(lot_sheet)
    if not runs:
        return "the protein file holds no run (a header without rows or sample columns?)"
    if not lots:
        return "the lot sheet holds no lot (a header without rows?)"
    file_runs = f"the protein file's {len(runs)} run(s) are named {named(runs, 3)}"
    entries = [run for _, run in ms_run_table(lot_sheet, lots).entries]
    if entries:
        return f"{file_runs}; the lot sheet's ms_run column names {named(entries, 3)}"
    return (
        f"{file_runs}, none a lot id of the lot sheet ({named(lots, 3)}); name each lot's run(s) "
        "in an ms_run column of the lot sheet"
    )


def failed_run_lots(
    matrix: ProteinMatrix, run_to_lot: dict[str, str]
) -> tuple[ProteinMatrix, dict[str, str | None]]:
    """Set aside the runs that quantified no protein (failed injections, empty samples).

    Args:
        matrix: runs × protein groups, as a reader returns it.
        run_to_lot: the match of all of the matrix's runs, failed ones included
            (``match_runs``): a failed run still takes part in matching, so leaving it out
            never changes which lot another run belongs to.

    Returns:
        The matrix without those runs, and each failed run with its lot (None when no lot of
        the sheet claims it).
    """
    failed = matrix.failed_runs
    if not failed:
        return matrix, {}
    kept = matrix.intensities.drop(index=failed)
    return replace(matrix, intensities=kept), {run: run_to_lot.get(run) for run in failed}


def match_runs(
    matrix: ProteinMatrix, lot_sheet: pd.DataFrame
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Match all runs of a protein file to the lot sheet's lots (``match_all_runs``).

    Returns:
        run -> lot for the matched runs, and lot -> its ``ms_run`` entries no run matched.

    Raises:
        InputError: a run name is ambiguous, see ``match_all_runs``.
    """
    lots = _lot_ids(lot_sheet)
    runs = [str(run) for run in matrix.intensities.index]
    return match_all_runs(runs, ms_run_table(lot_sheet, lots), set(lots))


def _lot_ids(lot_sheet: pd.DataFrame) -> list[str]:
    ids = lot_sheet[LOT_ID] if LOT_ID in lot_sheet.columns else lot_sheet.index.to_series()
    return [str(value) for value in ids]


# What may follow a lot id after a dot in a run's name: a replicate number (``2``, ``rep2``).
REPLICATE_SUFFIX = re.compile(r"(?i)(?:rep|r|run|inj|tech)?[_-]?\d+")


def _header_key(name: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def channel_column(lot_sheet: pd.DataFrame) -> str | None:
    """The lot-sheet column naming each lot's reporter channel (``tmt_channel``), if any."""
    for column in lot_sheet.columns:
        if _header_key(column) in CHANNEL_COLUMNS:
            return str(column)
    return None


def run_claims(sheet: pd.DataFrame, quarantine: pd.DataFrame | None = None) -> pd.DataFrame:
    """The runs each lot of a lot sheet claims, its quarantined rows' lots included.

    A lot quarantined for a bad cell (passage 60, a duplicate ``lot_id``) is still a lot of the
    sheet: its run is its own, not a run "of no lot". The quarantined rows carry their
    ``ms_run`` (and reporter channel) for this (``split_lot_sheet``); copies of a duplicated
    lot id claim all their runs together (one ``;``-separated ``ms_run``).

    Args:
        sheet: the valid rows, indexed by ``lot_id`` (or with a ``lot_id`` column).
        quarantine: the refused rows (``lot_id``, ``reason``, the run columns when the sheet
            has them), or None.

    Returns:
        One row per lot (``lot_id``, ``ms_run``, the channel column when there is one), indexed
        by ``lot_id``; a lot both valid and quarantined keeps its valid row.
    """
    valid = sheet.reset_index() if LOT_ID not in sheet.columns else sheet.reset_index(drop=True)
    refused = quarantine if quarantine is not None else pd.DataFrame(columns=[LOT_ID])
    channel = channel_column(valid) or channel_column(refused)
    columns = [LOT_ID, MS_RUN, *([channel] if channel else [])]
    refused = refused.reindex(columns=columns).astype("object")
    refused[LOT_ID] = refused[LOT_ID].astype(str)
    if channel is None and len(refused):  # a duplicated lot id claims the runs of every copy
        refused = (
            refused.groupby(LOT_ID, sort=False)[MS_RUN]
            .agg(lambda cells: ";".join(c for c in cells if isinstance(c, str)) or np.nan)
            .reset_index()
        )
    claims = pd.concat(
        [valid.reindex(columns=columns), refused.reindex(columns=columns)], ignore_index=True
    ).drop_duplicates(LOT_ID)
    return claims.set_index(LOT_ID, drop=False)


@dataclass(frozen=True)
class RunTable:
    """The runs a lot sheet names: each ``ms_run`` entry (``;``-separated) with its lot.

    Attributes:
        entries: (lot_id, run as written) for every entry, in sheet order; with a channel
            column each entry is that plex's channel (``PLEX1 channel 3``).
        exact: run as written -> the lots naming it.
        by_stem: run without folders and MS extensions -> the entries with that stem.
    """

    entries: tuple[tuple[str, str], ...] = ()
    exact: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_stem: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def __contains__(self, run: object) -> bool:
        return run in self.exact or strip_run_name(str(run)) in self.by_stem

    @functools.cached_property
    def lots_naming_runs(self) -> frozenset[str]:
        """The lots whose ``ms_run`` names at least one run: their runs are the ones named (a
        run named like such a lot cut at a dot is not theirs, ``match_all_runs``)."""
        return frozenset(lot for lot, _ in self.entries)

    def refuse_shared(self, runs: list[str]) -> None:
        """Refuse a run named by several lots (one run belongs to one lot).

        Raises:
            InputError: naming the run, its lots, and the runs of the file it matches.
        """
        shared_entries = [entry for entry, lots in self.exact.items() if len(set(lots)) > 1]
        if not shared_entries:
            return
        by_stem: dict[str, list[str]] = {}
        for run in runs:  # a run by its short name, and a reporter channel by its plex's
            names = {strip_run_name(run), strip_run_name(run.rsplit(" channel ", 1)[0])}
            for name in names:
                by_stem.setdefault(name, []).append(run)
        found_by: dict[str, list[str]] = {}
        for entry in shared_entries:
            found = by_stem.get(strip_run_name(entry), [])
            if found:  # a shared name that matches no run gives no lot another's run
                found_by[entry] = found
        if not found_by:
            return
        shared = {entry: self.exact[entry] for entry in found_by}
        entry, found = next(iter(found_by.items()))
        claimants = shared[entry]
        n_lots = len({lot for lots in shared.values() for lot in lots})
        raise InputError(
            f"lot sheet: ms_run {shown(entry)!r} is named by {len(set(claimants))} lots "
            f"({named(list(dict.fromkeys(claimants)))}) and matches {len(found)} run(s) of the "
            f"protein file ({named(found)}){_in_all(len(shared), n_lots)}; a run "
            "belongs to one lot and no lot is scored on another lot's runs: name each lot's "
            "run in ms_run by its full path as the protein file writes it (a multiplexed lot: "
            "its channel in tmt_channel)"
        )


def _in_all(n_names: int, n_lots: int, what: str = "names") -> str:
    """How far an ambiguity reaches, said after its first case: ``(one of 20 ambiguous names,
    80 lots in all)``; nothing when the name is the only one."""
    if n_names < 2:
        return ""
    return f" (one of {n_names} ambiguous {what}, {n_lots} lots in all)"


def ms_run_table(lot_sheet: pd.DataFrame, lots: list[str]) -> RunTable:
    """Collect every run named in the sheet's ``ms_run`` column (``;``-separated).

    A multiplexed lot (a ``tmt_channel`` column) names its plex in ``ms_run`` and its reporter
    channel apart; its run is that channel of the plex (``channel_run_name``).

    A run named by several lots is kept as such: matching refuses it, naming the lots and the
    runs of the file it matches.
    """
    channel = channel_column(lot_sheet)
    if MS_RUN not in lot_sheet.columns and channel is None:
        return RunTable()
    cells = lot_sheet[MS_RUN].tolist() if MS_RUN in lot_sheet.columns else [""] * len(lots)
    channels = lot_sheet[channel].tolist() if channel else [None] * len(lots)
    entries: list[tuple[str, str]] = []
    for lot, cell, lot_channel in zip(lots, cells, channels, strict=True):
        has_channel = lot_channel is not None and str(lot_channel).strip() not in ("", "nan")
        runs = [run.strip() for run in cell.split(";")] if isinstance(cell, str) else []
        runs = [run for run in runs if run]
        if has_channel:
            runs = [channel_run_name(run, lot_channel) for run in runs or [""]]
        entries.extend((lot, run) for run in dict.fromkeys(runs))
    exact: dict[str, list[str]] = {}
    by_stem: dict[str, list[tuple[str, str]]] = {}
    for lot, run in entries:
        exact.setdefault(run, []).append(lot)
        by_stem.setdefault(strip_run_name(run), []).append((lot, run))
    return RunTable(
        entries=tuple(entries),
        exact={run: tuple(lots_) for run, lots_ in exact.items()},
        by_stem={stem: tuple(pairs) for stem, pairs in by_stem.items()},
    )


def _ambiguous(found: list[tuple[str, list[str], list[str]]]) -> InputError:
    """The refusal of short names that match several runs: the first named with its lots and
    runs, then how many names and lots are ambiguous in all.

    Args:
        found: (name, its lots, its runs) for every ambiguous name, in file order.
    """
    stem, lots, runs = found[0]
    n_lots = len({lot for _, names_lots, _ in found for lot in names_lots})
    return InputError(
        f"run name {shown(stem)!r} is ambiguous: it names {len(lots)} lot(s) "
        f"({named(lots)}) and matches {len(runs)} run(s) of the protein file ({named(runs)})"
        f"{_in_all(len(found), n_lots)}; no lot is scored on another lot's runs: name each "
        "lot's run in ms_run by its full path as the protein file writes it"
    )


_CHANNEL = re.compile(r"^(?P<plex>.*?) ?channel (?P<channel>\d+)$")


def _channels_by_plex(names: Iterable[str]) -> dict[str, set[int]]:
    """Reporter channel numbers of each plex (by its short name) among run names
    (``PLEX1 channel 3``, ``channel_run_name``)."""
    found: dict[str, set[int]] = {}
    for name in names:
        match = _CHANNEL.match(name)
        if match:
            plex = strip_run_name(match["plex"]) if match["plex"] else ""
            found.setdefault(plex, set()).add(int(match["channel"]))
    return found


def _refuse_shifted_channels(runs: list[str], entries: Sequence[tuple[str, str]]) -> None:
    """Refuse reporter channels numbered from 0 on one side and from 1 on the other.

    Some MaxQuant exports number a plex's reporter channels 0…9 (``Reporter intensity
    corrected 0``), lab sheets usually 1…10: matched as written, every lot would take its
    neighbour's channel. The lot sheet naming channel ``max + 1`` of a plex whose file starts
    at 0, or channel 0 of a plex whose file starts at 1, shows it. A sheet naming neither for a
    plex numbered from 0 (its last channel a reference, say) cannot show it: that is warned.

    Raises:
        InputError: naming the plex, both numberings and a way out.
    """
    in_file = _channels_by_plex(runs)
    if not in_file:
        return
    in_sheet = _channels_by_plex(run for _, run in entries)
    unseen_zero: list[str] = []  # plexes numbered from 0 whose channel 0 the sheet never names
    for plex, sheet_channels in in_sheet.items():
        channels = in_file.get(plex)
        if not channels:
            continue
        from_zero = min(channels) == 0
        if (from_zero and max(channels) + 1 in sheet_channels) or (
            not from_zero and min(channels) == 1 and 0 in sheet_channels
        ):
            where = f"plex {plex!r}" if plex else "the file"
            file_first, sheet_first = (0, 1) if from_zero else (1, 0)
            raise InputError(
                f"reporter channels of {where} are numbered from {file_first} in the protein "
                f"file ({min(channels)}..{max(channels)}) and from {sheet_first} in the lot "
                f"sheet ({min(sheet_channels)}..{max(sheet_channels)}): renumber the lot "
                "sheet's channels as the file writes them; matched as written, each lot would "
                "take its neighbour's channel"
            )
        if from_zero and 0 not in sheet_channels:  # cannot be told: said, not refused
            unseen_zero.append(f"plex {plex!r}" if plex else "the file")
    if unseen_zero:
        logger.warning(
            "reporter channels of %s are numbered from 0 in the protein file and the lot sheet "
            "names no channel 0: if the sheet numbers channels from 1, each lot takes its "
            "neighbour's channel (check inspect's 'channel N -> lot' lines)",
            named(sorted(unseen_zero)),
        )


def match_all_runs(
    runs: list[str], by_ms_run: RunTable, lots: set[str]
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Assign every run of a file to its lot, refusing any ambiguity.

    The one matching rule of ``inspect``, ``train`` and ``score`` (both engines). Pass all runs
    of the file (failed runs too): an ambiguous name is told with every run it matches, and a
    run matched exactly by its full path settles another run of the same short name.

    In order: runs named exactly as an ``ms_run`` entry writes them; then by short name (no
    folders or MS extensions) against the entries no run matched exactly; then by lot id (a
    run named like a lot is that lot's, beside the runs its ``ms_run`` names; a name cut at a
    dot only for a lot whose ``ms_run`` names no run, ``named_like_a_named_lot``). One entry or lot
    id matches at most one run of a given short name: ``S01`` from four batch folders is never
    averaged into one lot as "replicates".

    Returns:
        run -> lot for the matched runs, and lot -> its ``ms_run`` entries no run matched.

    Raises:
        InputError: naming the ambiguous name, its lots and its runs: a run named by several
            lots, a short name of several lots, one name matching several runs, a run named
            like one lot that another lot's ``ms_run`` names.
    """
    by_ms_run.refuse_shared(runs)
    _refuse_shifted_channels(runs, by_ms_run.entries)
    run_to_lot: dict[str, str] = {}
    claimed: set[tuple[str, str]] = set()
    for run in runs:
        claimants = by_ms_run.exact.get(run)
        if claimants:
            run_to_lot[run] = claimants[0]
            claimed.add((claimants[0], run))
    by_entry: dict[tuple[str, str], list[str]] = {}
    by_lot_stem: dict[tuple[str, str], list[str]] = {}
    shared_stems: dict[str, list[str]] = {}  # short name of several lots -> those lots
    by_lot_id: list[str] = []  # runs left to match by lot id
    for run in runs:
        if run in run_to_lot:
            continue
        stem = strip_run_name(run)
        pairs = [pair for pair in by_ms_run.by_stem.get(stem, ()) if pair not in claimed]
        stem_lots = list(dict.fromkeys(lot for lot, _ in pairs))
        if len(stem_lots) > 1:
            shared_stems[stem] = stem_lots
            continue
        if stem_lots:
            run_to_lot[run] = stem_lots[0]
            by_entry.setdefault(pairs[0], []).append(run)
            continue
        if not by_ms_run.by_stem.get(stem):  # else its name was matched exactly by another run
            by_lot_id.append(run)
    through_ms_run = dict(run_to_lot)
    # A run named like one lot that another lot's ms_run claims (a typo for a neighbour's run?):
    # whose run it is cannot be told, so neither lot takes it. A run named like a lot whose
    # ms_run names other runs of the file is that lot's (a replicate named by its lot id).
    named_like: list[tuple[str, str, str]] = []  # (run, lot it is named like, lot claiming it)
    for run, lot in through_ms_run.items():
        own = _lot_named(run, lots, cut=False)  # named exactly: a cut name is no lot's claim
        if own is not None and own != lot:
            named_like.append((run, own, lot))
    # A lot whose ms_run names its runs has those runs (and one named exactly like it), never a
    # run whose name only cut at a dot reads like it: ``SIM-L0001.2`` beside ms_run
    # ``SIM_run_0001`` is another lot's data or an unknown run, of no lot.
    for run in by_lot_id:
        own = _lot_named(run, lots)
        cut_only = _lot_named(run, lots, cut=False) is None  # named like it only cut at a dot
        if own is None or (own in by_ms_run.lots_naming_runs and cut_only):
            continue
        run_to_lot[run] = own
        by_lot_stem.setdefault((own, strip_run_name(run)), []).append(run)
    clashes = [(entry[1], found) for entry, found in by_entry.items() if len(found) > 1] + [
        (lot, found) for (lot, _), found in by_lot_stem.items() if len(found) > 1
    ]
    if shared_stems or clashes:
        raise _ambiguous(
            [
                (stem, lots_, [run for run in runs if strip_run_name(run) == stem])
                for stem, lots_ in shared_stems.items()
            ]
            + [
                (name, list(dict.fromkeys(run_to_lot[run] for run in found)), found)
                for name, found in clashes
            ]
        )
    if named_like:
        raise _named_like_a_lot(named_like)
    matched = claimed | set(by_entry)
    _refuse_pooled_plex(runs, [entry for entry in by_ms_run.entries if entry not in matched])
    missing: dict[str, list[str]] = {}
    # Only a lot found through its ms_run can miss one of its runs: a lot matched by its lot id
    # (a wide table keyed by lot_id) does not use its ms_run names at all.
    has_run = {lot for lot, _ in matched}
    for entry in by_ms_run.entries:
        if entry not in matched and entry[0] in has_run:
            missing.setdefault(entry[0], []).append(entry[1])
    return run_to_lot, {lot: tuple(found) for lot, found in missing.items()}


def taken_runs(
    entries: list[tuple[str, str]], runs: list[str], run_to_lot: dict[str, str]
) -> dict[tuple[str, str], tuple[str, str]]:
    """The ``ms_run`` entries that name a run of the file another lot took.

    An entry names a run written as the entry or with its short name, as ``match_all_runs``
    matches them: a lot whose entry is ``S01`` has no run when another lot's ``ms_run`` names
    ``D:\\MS\\B01\\S01.raw`` exactly, yet ``S01`` is in the file.

    Args:
        entries: (lot, entry as written) pairs to look up.
        runs: every run of the file.
        run_to_lot: the file's match (``match_all_runs``).

    Returns:
        (lot, entry) -> (the file's run, the lot that took it), for the entries so taken; a run
        written as the entry comes first.
    """
    if not entries:
        return {}
    by_stem: dict[str, list[str]] = {}
    for run in runs:
        if run in run_to_lot:
            by_stem.setdefault(strip_run_name(run), []).append(run)
    taken: dict[tuple[str, str], tuple[str, str]] = {}
    for lot, entry in entries:
        found = [entry] if run_to_lot.get(entry, lot) != lot else []
        found += [run for run in by_stem.get(strip_run_name(entry), ()) if run_to_lot[run] != lot]
        if found:
            taken[(lot, entry)] = (found[0], run_to_lot[found[0]])
    return taken


def _lot_named(run: str, lots: set[str], *, cut: bool = True) -> str | None:
    """The lot a run is named like: its name as written, or without folders and MS extensions,
    is the lot's id; or (``cut``) the name cut at a dot is, with only replicate numbers after
    it (``LOT-1.2``, ``LOT-1.rep2``, ``LOT-1.r2.1``), the longest such lot id first. None when
    it is no lot's: ``1.5ug_HeLa_QC`` is not lot ``1``, and ``L1.2.rep2`` is lot ``L1.2``, not
    ``L1``.
    """
    stripped = strip_run_name(run)
    for key in (run, stripped):
        if key in lots:
            return key
    if not cut:
        return None
    parts = stripped.split(".")
    for i in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in lots and all(REPLICATE_SUFFIX.fullmatch(part) for part in parts[i:]):
            return prefix
    return None


def _named_like_a_lot(found: list[tuple[str, str, str]]) -> InputError:
    """The refusal of runs named like one lot that another lot's ``ms_run`` claims: the first
    named with both lots, then how many.

    Args:
        found: (run, the lot it is named like, the lot whose ms_run claims it) in file order.
    """
    run, own, claimant = found[0]
    what = f"it is named like lot {shown(own)} and lot {shown(claimant)}'s ms_run names it"
    n_lots = len({lot for _, a, b in found for lot in (a, b)})
    return InputError(
        f"run '{shown(run)}' is ambiguous: {what}{_in_all(len(found), n_lots, 'runs')}; no lot "
        "is scored on another lot's runs: correct ms_run in the lot sheet (a run named like a "
        "lot id is that lot's)"
    )


def _refuse_pooled_plex(runs: list[str], unmatched: list[tuple[str, str]]) -> None:
    """Refuse a lot whose ``ms_run`` names a whole plex of a multiplexed file (all channels).

    Raises:
        InputError: naming the lot, the plex and its channels.
    """
    channels: dict[str, list[str]] = {}
    for run in runs:
        if " channel " in run:
            channels.setdefault(strip_run_name(run.rsplit(" channel ", 1)[0]), []).append(run)
    for lot, entry in unmatched:
        found = channels.get(strip_run_name(entry))
        if found:
            raise InputError(
                f"lot sheet: lot {shown(lot)!r} names ms_run {shown(entry)!r}, a multiplexed run "
                f"of {len(found)} reporter channels ({named(found, 4)}), each another lot's "
                "sample; give each lot's channel in a 'tmt_channel' column"
            )


def map_runs_to_lots(
    matrix: ProteinMatrix,
    lot_sheet: pd.DataFrame,
    *,
    run_to_lot: dict[str, str] | None = None,
    missing: dict[str, tuple[str, ...]] | None = None,
) -> tuple[ProteinMatrix, RunMapping]:
    """Re-key a ProteinMatrix from runs to lots.

    Runs are matched to lots by ``match_all_runs`` (never ambiguously). Several runs of one
    lot are averaged in log2 space (NaN-aware: a protein seen in one replicate keeps that
    value); values declared log2 are averaged as they are. Runs with no lot (QC, blanks) are
    left out and reported; so are lots with no run, and lots missing a run their ``ms_run``
    names.

    Args:
        matrix: runs × protein groups, as a reader returns it.
        lot_sheet: indexed by ``lot_id`` (or with a ``lot_id`` column), optionally ``ms_run``
            (``;``-separated runs) and a reporter-channel column (``tmt_channel``).
        run_to_lot: the match of a larger set of runs this matrix is part of (its failed runs
            set aside, one chunk of a file), from ``match_runs``/``match_all_runs``; None =
            match the matrix's runs here.
        missing: with ``run_to_lot``, the ``ms_run`` entries no run of that larger set matched
            (its second answer): a run set aside (failed, refused) is in the file, not
            missing. None = the entries none of this matrix's runs matched.

    Returns:
        The matrix with intensities indexed by ``lot_id`` (in lot-sheet order), and the mapping.

    Raises:
        InputError: a run name is ambiguous (several lots or several runs), see
            ``match_all_runs``.
    """
    lots = _lot_ids(lot_sheet)
    lot_set = set(lots)
    by_ms_run = ms_run_table(lot_sheet, lots)
    runs = [str(r) for r in matrix.intensities.index]
    if run_to_lot is None:
        run_to_lot, missing = match_all_runs(runs, by_ms_run, lot_set)
    else:
        run_to_lot = {run: run_to_lot[run] for run in runs if run_to_lot.get(run) in lot_set}
        if missing is None:
            missing = unmatched_entries(by_ms_run, run_to_lot)
    unmatched = [run for run in runs if run not in run_to_lot]
    intensities = matrix.intensities
    keep = [str(r) in run_to_lot for r in intensities.index]
    matched = intensities.loc[keep]
    labels = pd.Index([run_to_lot[str(r)] for r in matched.index], name=LOT_ID)
    counts = pd.Series(labels).value_counts()
    result = _average_replicates(matched, labels, matrix.scale)
    order = [lot for lot in dict.fromkeys(lots) if lot in result.index]
    result = result.reindex(order).astype("float64")
    result.index.name = LOT_ID
    result.columns.name = intensities.columns.name
    replicates = {lot: int(counts[lot]) for lot in order}
    lots_without_run = tuple(lot for lot in dict.fromkeys(lots) if lot not in result.index)
    notes = list(matrix.notes)
    averaged_lots = sum(1 for n in replicates.values() if n > 1)
    if averaged_lots:
        notes.append(f"averaged replicate runs (log2 space) for {averaged_lots} lot(s)")
    if unmatched:
        logger.info("%d run(s) match no lot in the lot sheet: %s", len(unmatched), named(unmatched))
    if lots_without_run:
        logger.info("%d lot(s) of the lot sheet have no run", len(lots_without_run))
    logger.info("mapped %d runs to %d lots", len(run_to_lot), len(order))
    mapping = RunMapping(
        run_to_lot=run_to_lot,
        replicates=replicates,
        runs_without_lot=tuple(unmatched),
        lots_without_run=lots_without_run,
        missing_runs={lot: missing[lot] for lot in order if lot in missing},
        named_replicates=named_replicates(run_to_lot, by_ms_run, lot_set),
    )
    return replace(matrix, intensities=result, notes=tuple(notes)), mapping


def unmatched_entries(
    by_ms_run: RunTable, run_to_lot: dict[str, str]
) -> dict[str, tuple[str, ...]]:
    """The ``ms_run`` entries no run matched, of the lots that have a run through ``ms_run``.

    An entry is matched by a run of its lot written as the entry or with the entry's short name.
    """
    names: dict[str, set[str]] = {}
    for run, lot in run_to_lot.items():
        names.setdefault(lot, set()).update((run, strip_run_name(run)))
    matched = {
        (lot, entry)
        for lot, entry in by_ms_run.entries
        if entry in names.get(lot, ()) or strip_run_name(entry) in names.get(lot, ())
    }
    has_run = {lot for lot, _ in matched}
    missing: dict[str, list[str]] = {}
    for entry in by_ms_run.entries:
        if entry not in matched and entry[0] in has_run:
            missing.setdefault(entry[0], []).append(entry[1])
    return {lot: tuple(found) for lot, found in missing.items()}


def _average_replicates(matched: pd.DataFrame, labels: pd.Index, scale: str) -> pd.DataFrame:
    """Average the runs of each lot in log2 space (runs × proteins → lots × proteins).

    ``scale`` is the values' scale: ``raw`` intensities are averaged as log2 (a geometric mean)
    and returned raw; ``log2`` values are averaged as they are.
    """
    if labels.is_unique:  # one run per lot: nothing to average (the group-by costs 0.2 s/2k lots)
        return matched.set_axis(labels, axis=0)
    if scale == "log2":
        log2 = pd.DataFrame(matched.to_numpy(), index=labels, columns=matched.columns)
        averaged = log2.groupby(level=0).mean()
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            log2 = pd.DataFrame(np.log2(matched.to_numpy()), index=labels, columns=matched.columns)
        mean_log2 = log2.groupby(level=0).mean()
        averaged = pd.DataFrame(
            np.exp2(mean_log2.to_numpy()), index=mean_log2.index, columns=mean_log2.columns
        )
    # A cell seen in one run only keeps that run's value exactly (no log/exp round trip).
    grouped = matched.set_axis(labels, axis=0).groupby(level=0)
    return averaged.where(grouped.count() != 1, grouped.max())
