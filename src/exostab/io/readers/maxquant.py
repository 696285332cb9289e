"""MaxQuant ``proteinGroups.txt``: LFQ intensities preferred, flagged rows dropped."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from exostab.errors import InputError
from exostab.io.naming import channel_run_name, decoy_or_contaminant, genes_from_fasta
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers.matrix_assembly import build_matrix, drop_flagged
from exostab.io.readers.parsing import Preview, read_text
from exostab.io.readers.parsing import require_columns as require

GROUP = "Protein IDs"
FLAGS = ("Reverse", "Potential contaminant", "Contaminant", "Only identified by site")
LFQ = "LFQ intensity "
RAW = "Intensity "
REPORTER = "Reporter intensity "
# ``Reporter intensity corrected 3 PLEX1``: channel 3 of the experiment (plex) PLEX1; without an
# experiment, one plex (or, beside experiment columns, the sum over all plexes).
_REPORTER = re.compile(r"^Reporter intensity (corrected )?(\d+)(?: (.+))?$")
_FASTA_DESCRIPTION = re.compile(r"^\S+\s+(.*?)(?:\s+OS=.*)?$")


def sniff(preview: Preview) -> bool:
    """Recognise a proteinGroups table by ``Protein IDs`` and per-sample intensity columns."""
    return preview.has(GROUP) and any(c.startswith((LFQ, RAW, REPORTER)) for c in preview.columns)


def reporter_columns(columns: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Map the reporter-ion columns of a multiplexed (TMT, iTRAQ) file to channel run names.

    Corrected intensities (isotope-impurity corrected) are preferred over the uncorrected ones;
    counts are never quantities. When columns per experiment exist (``... 3 PLEX1``), the
    columns without an experiment are the sum over every plex and are not read.

    Returns:
        column -> run name (``PLEX1 channel 3``; ``channel 3`` for a single plex), in file order;
        empty when the file has no reporter columns.
    """
    parsed = [(column, _REPORTER.match(column)) for column in columns]
    found = [(column, match) for column, match in parsed if match]
    corrected = [(column, match) for column, match in found if match.group(1)]
    chosen = corrected or found
    if any(match.group(3) for _, match in chosen):
        chosen = [(column, match) for column, match in chosen if match.group(3)]
    return {
        column: channel_run_name(match.group(3) or "", match.group(2)) for column, match in chosen
    }


def _description(header: object) -> object:
    if not isinstance(header, str) or not header.strip():
        return np.nan
    match = _FASTA_DESCRIPTION.match(header.split(";")[0].strip())
    return match.group(1) if match and match.group(1) else np.nan


def read(path: Path, preview: Preview, scale: str = "raw") -> ProteinMatrix:
    """Read ``LFQ intensity <s>`` (else ``Intensity <s>``) per sample; 0 means not quantified."""
    columns = preview.columns
    require(path, columns, (GROUP,))
    reporters = reporter_columns(columns)
    lfq = [c for c in columns if c.startswith(LFQ)]
    # A multiplexed file: each reporter channel is one sample; a plex's pooled ``Intensity``
    # (MS1 of all its channels together) is never read as one sample.
    quantity = list(reporters) or lfq or [c for c in columns if c.startswith(RAW)]
    prefix = "Reporter intensity" if reporters else LFQ if lfq else RAW
    if not quantity:
        raise InputError(
            "has no 'LFQ intensity <sample>', 'Intensity <sample>' or 'Reporter intensity "
            "<channel> <plex>' columns",
            where=str(path),
        )
    flags = [c for c in FLAGS if c in columns]
    extra = [c for c in ("Gene names", "Fasta headers", "Protein names") if c in columns]
    text_columns = [GROUP, *flags, *extra]
    table = read_text(
        path,
        delimiter=preview.delimiter or "\t",
        usecols=[*text_columns, *quantity],
        dtype={column: "object" for column in text_columns},
        strict_width=False,
    )
    n_before = len(table)
    flagged = pd.Series(False, index=table.index)
    for flag in flags:
        flagged |= table[flag].astype(str).str.strip().eq("+")
    # The id rule too: a custom contaminant FASTA (``Cont_...``) leaves the flag columns empty.
    flagged |= decoy_or_contaminant(table[GROUP])
    table, n_dropped, notes = drop_flagged(
        table, flagged, path, "reverse/contaminant/only-identified-by-site groups"
    )
    if reporters:
        plexes = {run.rsplit(" channel ", 1)[0] for run in reporters.values()}
        kind = "corrected " if " corrected " in quantity[0] else ""
        notes.insert(
            0,
            f"quantity: Reporter intensity {kind}({len(quantity)} channels of {len(plexes)} "
            "plex(es), one sample each; the pooled 'Intensity <plex>' columns are not used)",
        )
    else:
        notes.insert(0, f"quantity: {prefix.strip()} ({len(quantity)} samples)")
    fasta = table.get("Fasta headers")
    genes = table["Gene names"] if "Gene names" in table else pd.Series(np.nan, index=table.index)
    if fasta is not None:
        genes = genes.where(
            genes.notna() & genes.astype(str).str.strip().ne(""), fasta.map(genes_from_fasta)
        )
    if "Protein names" in table:
        descriptions = table["Protein names"]
    elif fasta is not None:
        descriptions = fasta.map(_description)
    else:
        descriptions = None
    by_group = table[quantity].set_axis(table[GROUP].to_numpy(), axis=0)
    by_group.columns = [reporters[c] if reporters else c[len(prefix) :] for c in quantity]
    return build_matrix(
        fmt="maxquant",
        path=path,
        by_group=by_group,
        genes=genes.tolist(),
        descriptions=descriptions,
        n_groups_before=n_before,
        n_dropped=n_dropped,
        notes=notes,
        file_columns=quantity,
        scale=scale,
    )
