"""How files name proteins and runs: naming schemes, accessions, the decoy/contaminant rule.

A protein's name is information, never a reason to refuse a file. ``parse_protein_name`` reads
what each naming scheme carries (accessions, isoforms, gene symbols) and keeps any other
non-empty name as an opaque protein id. A group with a decoy or contaminant member is flagged by
one rule shared by every reader (``is_decoy_or_contaminant``, ``decoy_or_contaminant``). Run
names lose their folders and MS-file extensions (``strip_run_name``).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


NAMING_SCHEMES = (
    "uniprot",
    "protein_group",
    "gene",
    "simulated",
    "fasta_header",
    "accession_gene",
    "ensembl",
    "refseq",
    "opaque",
    "empty",
)

MS_EXTENSIONS = (
    ".raw",
    ".d",
    ".mzml",
    ".mzxml",
    ".mzml.gz",
    ".wiff",
    ".wiff2",
    ".dia",
    ".htrms",
    ".mgf",
    ".tdf",
    ".baf",
    ".gz",
    ".zip",
)

# Prefixes search engines and custom FASTA files give decoy and contaminant entries.
DECOY_CONTAMINANT_PREFIXES = ("CON__", "Cont_", "REV__", "DECOY_", "rev_", "contam_")


MAX_GENE_LENGTH = 30

MAX_EXAMPLES = 5

_UNIPROT = re.compile(
    r"^(?:[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9](?:[A-Z][A-Z0-9]{2}[0-9]){1,2})(?:-\d+)?$"
)

_ENSEMBL = re.compile(r"^ENS[A-Z]{0,6}[GPTE]\d{11}(?:\.\d+)?$")

_REFSEQ = re.compile(r"^(?:[ANXWY]P|[NX][MR])_\d+(?:\.\d+)?$")

_SIM_ACCESSION = re.compile(r"^SIMP\d+(?:-\d+)?$")

_SIM_GENE = re.compile(r"^SIMG\d+$")

_FASTA = re.compile(r"^(?:sp|tr)\|([^|\s]+)(?:\|(\S*))?(.*)$", re.DOTALL)

_GENE = re.compile(r"^[A-Z][A-Za-z0-9]*(?:[-._][A-Za-z0-9]+)*$")

_ENTRY_NAME = re.compile(r"^[A-Z0-9]{1,11}_[A-Z0-9]{2,5}$")

_GENE_IN_FASTA = re.compile(r"\bGN=([^\s;]+)")

ISOFORM_SUFFIX = re.compile(r"-\d+$")

_VERSION = re.compile(r"\.\d+$")

_AUTO_NAME = re.compile(r"^Unnamed: \d+(?:_level_\d+)?$")

FLAGGED_MEMBER = re.compile(
    r"(?:^|[;,])\s*>?(?:(?:sp|tr)\|)?(?:CON__|CONT_|CONTAM_|REV_|DECOY_)", re.IGNORECASE
)

_ACCESSION_SCHEMES = frozenset(("uniprot", "fasta_header", "accession_gene", "ensembl", "refseq"))


@dataclass(frozen=True)
class ProteinName:
    """What a protein (group) name says.

    Attributes:
        scheme: one of ``NAMING_SCHEMES``.
        accessions: member accessions in the order written (isoform and version suffixes kept).
        genes: gene symbols the name carries (``GN=``, ``ACC~GENE``, ``ACC|GENE``, a symbol).
    """

    scheme: str
    accessions: tuple[str, ...] = ()
    genes: tuple[str, ...] = ()

    @property
    def leading_accession(self) -> Any:
        """The first accession, NaN when the name carries none."""
        return self.accessions[0] if self.accessions else np.nan

    @property
    def gene(self) -> Any:
        """The gene symbols joined by ``;`` (duplicates once), NaN when none."""
        genes = list(dict.fromkeys(self.genes))
        return ";".join(genes) if genes else np.nan


def is_gene_symbol(token: str) -> bool:
    """Tell whether a token reads as an HGNC-style gene symbol (``CD9``, ``HLA-A``, ``Cd9``)."""
    return (
        len(token) <= MAX_GENE_LENGTH
        and bool(_GENE.match(token))
        and not _ENTRY_NAME.match(token)
        and accession_scheme(token) is None
    )


def accession_scheme(token: str) -> str | None:
    """Name the accession scheme of one token (``uniprot``, ``ensembl``...); None when none."""
    if _UNIPROT.match(token):
        return "uniprot"
    if _SIM_ACCESSION.match(token):
        return "simulated"
    if _ENSEMBL.match(token):
        return "ensembl"
    if _REFSEQ.match(token):
        return "refseq"
    return None


def _strip_flag(token: str) -> str:
    for prefix in DECOY_CONTAMINANT_PREFIXES:
        if token.lower().startswith(prefix.lower()):
            return token[len(prefix) :]
    return token


def _member(token: str, genes_first: bool = False) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Parse one member of a group: (scheme, accessions, genes)."""
    token = _strip_flag(token.strip().lstrip(">").strip())
    if genes_first and _UNIPROT.match(token) and _GENE.match(token) and "-" not in token:
        return "gene", (), (token,)
    fasta = _FASTA.match(token)
    if fasta:
        genes = tuple(_GENE_IN_FASTA.findall(fasta.group(3) or ""))
        return "fasta_header", (_strip_flag(fasta.group(1)),), genes
    if "~" in token:
        accession, _, gene = (part.strip() for part in token.partition("~"))
        return "accession_gene", ((accession,) if accession else ()), ((gene,) if gene else ())
    if "|" in token:
        parts = [part.strip() for part in token.split("|") if part.strip()]
        known = [i for i, part in enumerate(parts) if accession_scheme(part)]
        first = known[0] if known else 0
        accession = parts[first] if parts else ""
        symbols = tuple(p for p in parts[first + 1 :] if is_gene_symbol(p))[:1]
        return "accession_gene", ((accession,) if accession else ()), symbols
    scheme = accession_scheme(token)
    if scheme:
        return scheme, (token,), ()
    if _SIM_GENE.match(token):
        return "simulated", (), (token,)
    if is_gene_symbol(token):
        return "gene", (), (token,)
    return "opaque", (), ()


def _members(name: str) -> list[str]:
    """Split a group into members: ``;`` always, ``,`` only between space-free ids.

    FASTA descriptions hold commas (``CD9 antigen, human``); AlphaPept joins ids with commas.
    """
    parts = [part.strip() for part in name.split(";")]
    members: list[str] = []
    for part in parts:
        if "," in part and not re.search(r"\s", part):
            members.extend(p.strip() for p in part.split(","))
        else:
            members.append(part)
    return [member for member in members if member]


def is_unnamed(name: Any) -> bool:
    """Tell whether a column has no name: empty, or pandas' ``Unnamed: 3`` stand-in."""
    return not isinstance(name, str) or not name.strip() or bool(_AUTO_NAME.match(name.strip()))


def parse_protein_name(name: Any, *, genes_first: bool = False) -> ProteinName:
    """Read what a protein (group) name carries; never refuses a non-empty name.

    Recognised: UniProt accessions and isoforms (``P12345``, ``P12345-2``), groups joined by
    ``;``, FASTA headers (``sp|P12345|CD9_HUMAN ... GN=CD9``), ``ACC~GENE`` and ``ACC|GENE``,
    ENSEMBL (``ENSG…``, ``ENSP…``, ``ENST…``, with ``.N`` version) and RefSeq (``NP_…``,
    ``XP_…``, ``NM_…``) ids, gene symbols and the simulator's ``SIMP``/``SIMG`` ids. Anything
    else is an ``opaque`` protein id; only an empty name is ``empty``.

    Args:
        name: the name as the file writes it.
        genes_first: read a token that fits both a UniProt accession and a gene symbol
            (``B3GAT3``) as the gene; right for tables named by gene symbols.
    """
    if is_unnamed(name):
        return ProteinName("empty")
    parsed = [_member(member, genes_first) for member in _members(str(name))]
    if not parsed:  # separators only (``;``): still a name the file gives
        return ProteinName("opaque")
    accessions = tuple(a for _, accs, _ in parsed for a in accs)
    genes = tuple(g for _, _, gs in parsed for g in gs)
    schemes = {scheme for scheme, _, _ in parsed}
    if len(parsed) == 1:
        scheme = parsed[0][0]
    elif len(schemes) == 1 and schemes & {"opaque", "gene", "simulated"}:
        scheme = schemes.pop()
    elif schemes <= {"gene", "simulated"}:
        scheme = "gene"
    else:
        scheme = "protein_group"
    return ProteinName(scheme, accessions, genes)


def naming_scheme(name: Any) -> str:
    """Classify how a protein is named (one of ``NAMING_SCHEMES``; see ``parse_protein_name``)."""
    return parse_protein_name(name).scheme


def is_decoy_or_contaminant(name: Any) -> bool:
    """Tell whether a protein group has a decoy or contaminant member.

    The one rule of every reader: a member starting ``CON__``, ``Cont_``, ``REV__``,
    ``DECOY_``, ``rev_`` or ``contam_`` (any case, also inside a FASTA header) flags the group.
    """
    return isinstance(name, str) and bool(FLAGGED_MEMBER.search(name))


def decoy_or_contaminant(group_ids: pd.Series) -> pd.Series:
    """Flag groups with a decoy or contaminant member: the one rule of every reader.

    ``CON__``, ``Cont_``, ``REV__``, ``DECOY_``, ``rev_`` or ``contam_`` at the start of any
    member (see ``is_decoy_or_contaminant``).
    """
    text = group_ids.astype("object").fillna("").astype(str)
    return text.str.contains(FLAGGED_MEMBER).astype(bool)


def leading_accession(group_id: Any) -> Any:
    """Return the first accession of a protein group (``sp|P12345|NAME;...`` -> ``P12345``).

    The isoform suffix is kept: ``P12345-2`` is another protein than ``P12345``. A group whose
    first member is an opaque id returns that id. Returns NaN for a missing or empty id.
    """
    if is_unnamed(group_id):
        return np.nan
    members = _members(str(group_id))
    if not members:
        return np.nan
    _, accessions, _ = _member(members[0])
    if accessions:
        return accessions[0]
    return _strip_flag(members[0].lstrip(">").strip()) or np.nan


def strip_isoform(accession: Any) -> Any:
    """Drop a UniProt isoform suffix (``P12345-2`` -> ``P12345``); NaN stays NaN."""
    if not isinstance(accession, str):
        return np.nan
    return ISOFORM_SUFFIX.sub("", accession)


def strip_version(accession: Any) -> Any:
    """Drop the version of an ENSEMBL or RefSeq id (``ENSP00000269305.4`` -> ``ENSP…305``).

    A version is a later annotation of the same sequence, unlike a UniProt isoform suffix.
    Other accessions are returned unchanged; NaN stays NaN.
    """
    if not isinstance(accession, str):
        return np.nan
    if _ENSEMBL.match(accession) or _REFSEQ.match(accession):
        return _VERSION.sub("", accession)
    return accession


def genes_from_fasta(header: Any) -> Any:
    """Collect the ``GN=`` gene symbols of a (``;``-joined) FASTA header, joined by ``;``."""
    if not isinstance(header, str):
        return np.nan
    genes = list(dict.fromkeys(_GENE_IN_FASTA.findall(header)))
    return ";".join(genes) if genes else np.nan


def has_text(value: Any) -> bool:
    """Tell whether a value is text with more than spaces (a gene, an accession)."""
    return isinstance(value, str) and bool(value.strip())


@functools.lru_cache(maxsize=8192)  # scoring asks for each run's name several times in a chunk
def strip_run_name(name: str) -> str:
    """Strip folders (POSIX or Windows) and MS-file extensions from a run name.

    ``D:\\data\\lot_07.raw`` -> ``lot_07``; ``/data/run.d`` -> ``run``; ``a.mzML.gz`` -> ``a``.
    """
    base = re.split(r"[\\/]", str(name).strip().rstrip("\\/"))[-1]
    changed = True
    while changed:
        changed = False
        for extension in MS_EXTENSIONS:
            if base.lower().endswith(extension) and len(base) > len(extension):
                base = base[: -len(extension)]
                changed = True
    return base


def channel_run_name(plex: str, channel: object) -> str:
    """Name the run of one reporter channel of a multiplexed run: ``PLEX1 channel 3``.

    Readers of multiplexed files name each channel so (``plex`` empty for a single plex).
    """
    text = str(channel).strip()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return f"{plex} channel {text}".strip()
