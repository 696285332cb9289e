"""Contaminant library: common contaminant proteins recognised by accession, beside the prefixes.

Searches often run without a contaminant FASTA, so contaminants carry no ``CON__`` prefix. In
MSC-EV preparations they are mostly serum proteins of the culture medium (bovine, from FBS) and
keratins of skin and hair. The shipped library is the universal contaminant library of
Frankenfield et al. 2022 (J Proteome Res 21:2104, doi:10.1021/acs.jproteome.2c00145) as
AlphaPeptStats ships it (``contaminant_library/README.md`` gives source, commit and licence).
Human plasma and platelet proteins of human platelet lysate (hPL) are an optional second list
(``builtin+hpl``): they are human proteins, indistinguishable by accession from the lots' own.

Which library applies is a reading option (``ReadOptions.contaminants``): ``builtin`` (default),
``builtin+hpl``, ``none`` (the prefix rule only), or the path of a table whose first column holds
UniProt accessions (an optional ``Source of Contamination`` column names each one's source).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import pandas as pd

from exostab.errors import ConfigError
from exostab.io.naming import parse_protein_name, strip_isoform
from exostab.io.protein_matrix import ProteinMatrix

logger = logging.getLogger(__name__)

BUILTIN = "builtin"
BUILTIN_HPL = "builtin+hpl"
NONE = "none"
CHOICES = (BUILTIN, BUILTIN_HPL, NONE)
LIBRARY_FILES = {
    BUILTIN: ("frankenfield2022.tsv",),
    BUILTIN_HPL: ("frankenfield2022.tsv", "hpl_plasma_platelet.tsv"),
}
SOURCE_COLUMN = "Source of Contamination"
# The library's sources, in the words a QC report uses.
SOURCE_NAMES = {
    "residue cell medium containing fbs": "bovine serum (FBS)",
    "residue cell medium containing fbs; affinity beads background": "bovine serum (FBS)",
    "human skin and hair": "keratin (human skin, hair)",
    "mouse skin and hair": "keratin (mouse skin, hair)",
    "sheep keratin from wool clothing": "keratin (wool)",
    "enzyme": "enzymes",
    "trypsin protease enzyme": "enzymes",
    "lys-c protease enzyme": "enzymes",
}


@dataclass(frozen=True)
class ContaminantLibrary:
    """Contaminant accessions (isoform suffix dropped, upper case) with their source.

    Attributes:
        name: what was asked for (``builtin``, ``builtin+hpl``, ``none`` or a path).
        sources: accession -> source of contamination (``bovine serum (FBS)``, ...).
    """

    name: str
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, group_id: object, leading: object = None) -> str | None:
        """The source of the first library member of a protein group (None when none is).

        Every accession the group id carries counts (a group with one contaminant member is
        flagged, as the prefix rule flags it), and the leading accession of the annotations.
        """
        if not self.sources:
            return None
        accessions = list(parse_protein_name(group_id).accessions)
        if isinstance(leading, str):
            accessions.append(leading)
        for accession in accessions:
            source = self.sources.get(str(strip_isoform(accession)).upper())
            if source is not None:
                return source
        return None

    def flag(self, proteins: pd.DataFrame) -> dict[str, str]:
        """Group id -> source, for the groups of ``ProteinMatrix.proteins`` in the library."""
        leading = (
            proteins["leading_accession"].tolist()
            if "leading_accession" in proteins
            else [None] * len(proteins)
        )
        found = {}
        for group, accession in zip(proteins.index, leading, strict=True):
            source = self.source_of(group, accession)
            if source is not None:
                found[str(group)] = source
        return found


def _source_name(text: object) -> str:
    raw = str(text).strip().strip('"') if isinstance(text, str) and text.strip() else "other"
    return SOURCE_NAMES.get(raw.lower(), raw)


def _read_table(path: Path, where: str) -> dict[str, str]:
    try:
        table = pd.read_csv(path, sep=None, engine="python", comment="#", dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise ConfigError(f"contaminant library {where}: unreadable ({error})") from None
    if table.empty or table.shape[1] == 0:
        raise ConfigError(f"contaminant library {where}: holds no accession")
    accessions = table.iloc[:, 0]
    sources = (
        table[SOURCE_COLUMN] if SOURCE_COLUMN in table else pd.Series("other", index=table.index)
    )
    return {
        str(strip_isoform(acc.strip())).upper(): _source_name(source)
        for acc, source in zip(accessions, sources, strict=True)
        if isinstance(acc, str) and acc.strip()
    }


@functools.lru_cache(maxsize=8)
def load_library(name: str = BUILTIN) -> ContaminantLibrary:
    """Load a contaminant library: ``builtin``, ``builtin+hpl``, ``none`` or a table's path.

    Raises:
        ConfigError: a path that does not exist or holds no accession.
    """
    if name == NONE:
        return ContaminantLibrary(name)
    sources: dict[str, str] = {}
    if name in LIBRARY_FILES:
        folder = resources.files("exostab") / "contaminant_library"
        for filename in LIBRARY_FILES[name]:
            with resources.as_file(folder / filename) as path:
                sources.update(_read_table(path, filename))
        return ContaminantLibrary(name, sources)
    path = Path(name)
    if not path.is_file():
        raise ConfigError(
            f"contaminant library {name!r}: not a file; use {', '.join(CHOICES)} or a path"
        )
    return ContaminantLibrary(name, _read_table(path, name))


def removal_note(removed: dict[str, str], library: str) -> str:
    """``dropped 14 contaminant groups (library builtin): 9 bovine serum (FBS), 3 keratin ...``."""
    counts = Counter(removed.values()).most_common()
    per_source = ", ".join(f"{n} {source}" for source, n in counts)
    return f"dropped {len(removed)} contaminant groups (library {library}): {per_source}"


def drop_library_contaminants(matrix: ProteinMatrix, library: ContaminantLibrary) -> ProteinMatrix:
    """Drop the protein groups of a matrix that the contaminant library names by accession.

    Args:
        matrix: runs × protein groups, after the reader's prefix rule (``CON__``, ...).
        library: see ``load_library``.

    Returns:
        The matrix without them (``n_dropped`` counts them too), with a note counting the
        removals per source of contamination.
    """
    removed = library.flag(matrix.proteins)
    if not removed:
        return matrix
    keep = [str(group) not in removed for group in matrix.intensities.columns]
    note = removal_note(removed, library.name)
    logger.info("%s: %s", matrix.source, note)
    return replace(
        matrix,
        intensities=matrix.intensities.loc[:, keep],
        proteins=matrix.proteins.loc[keep],
        n_dropped=matrix.n_dropped + len(removed),
        notes=(*matrix.notes, note),
    )
