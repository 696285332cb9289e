"""Protein identity: naming schemes, accessions, the decoy/contaminant rule and feature names.

A protein's name is information, never a reason to refuse a file. ``parse_protein_name`` reads
what each naming scheme carries (accessions, isoforms, gene symbols) and keeps any other
non-empty name as an opaque protein id.

The same lots read from a MaxQuant file (``Gene names``) and from a wide table whose columns are
gene symbols must give the same feature names, so the canonical name of a protein group is its
gene symbol when known, else its leading accession, else the group id as the file spells it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
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
_ISOFORM = re.compile(r"-\d+$")
_VERSION = re.compile(r"\.\d+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
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
        and _accession_scheme(token) is None
    )


def _accession_scheme(token: str) -> str | None:
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
        known = [i for i, part in enumerate(parts) if _accession_scheme(part)]
        first = known[0] if known else 0
        accession = parts[first] if parts else ""
        symbols = tuple(p for p in parts[first + 1 :] if is_gene_symbol(p))[:1]
        return "accession_gene", ((accession,) if accession else ()), symbols
    scheme = _accession_scheme(token)
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
    return _ISOFORM.sub("", accession)


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


# Gene symbols that spreadsheets turn into dates (Zeeberg et al. 2004, BMC Bioinformatics 5:80;
# Ziemann et al. 2016, Genome Biol 17:177), and the HGNC renames of 2020 that end it (Bruford et
# al. 2020, Nat Genet 52:754): SEPT1-14 -> SEPTIN1-14, MARCH1-11 -> MARCHF1-11, MARC1/2 ->
# MTARC1/2, DEC1 -> DELEC1, SEP15 -> SELENOF.
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_DATE_FAMILIES: dict[int, dict[int, tuple[str, ...]]] = {
    9: {**{n: (f"SEPTIN{n}",) for n in range(1, 15)}, 15: ("SELENOF",)},
    3: {
        **{n: (f"MARCHF{n}",) for n in range(1, 12)},
        1: ("MARCHF1", "MTARC1"),
        2: ("MARCHF2", "MTARC2"),
    },
    12: {1: ("DELEC1",)},
}
_OLD_SYMBOLS = {
    **{f"SEPT{n}": f"SEPTIN{n}" for n in range(1, 15)},
    **{f"MARCH{n}": f"MARCHF{n}" for n in range(1, 12)},
    "MARC1": "MTARC1",
    "MARC2": "MTARC2",
    "DEC1": "DELEC1",
    "SEP15": "SELENOF",
}
_DAY_MONTH = re.compile(r"^(\d{1,2})[-\s./]([A-Za-z]{3,4})\.?$")
_MONTH_DAY = re.compile(r"^([A-Za-z]{3,4})\.?[-\s./](\d{1,2})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?$")


def current_symbol(symbol: Any) -> Any:
    """The current HGNC symbol of a symbol renamed to end spreadsheet mangling (``SEPT7`` ->
    ``SEPTIN7``, ``MARCH1`` -> ``MARCHF1``, ``DEC1`` -> ``DELEC1``); others unchanged."""
    if not isinstance(symbol, str):
        return symbol
    return _OLD_SYMBOLS.get(symbol.strip().upper(), symbol)


def excel_date_symbols(name: Any) -> tuple[str, ...]:
    """The gene symbols a spreadsheet may have turned into this date (empty: not such a date).

    Recognised: ``7-Sep``, ``07-Sep``, ``Sep-07``, ``Sept 7``, ``2023-09-07`` (with a
    ``00:00:00`` time, as a real Excel date cell reads). Several symbols when the date is
    ambiguous (``1-Mar``: MARCHF1 or MTARC1).
    """
    if not isinstance(name, str):
        return ()
    text = name.strip()
    match = _ISO_DATE.match(text)
    if match:
        month, day = int(match.group(2)), int(match.group(3))
    else:
        match = _DAY_MONTH.match(text) or _MONTH_DAY.match(text)
        if not match:
            return ()
        first, second = match.groups()
        day_text, month_text = (first, second) if first.isdigit() else (second, first)
        month = _MONTHS.get(month_text[:3].lower(), 0)
        if month_text.lower() not in (month_text[:3].lower(), "sept"):
            return ()
        day = int(day_text)
    return _DATE_FAMILIES.get(month, {}).get(day, ())


def restore_excel_symbols(proteins: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Read date-shaped gene names and protein ids back as the gene symbols they were.

    A gene (each ``;`` member) or, for a group without a gene, the group id itself that reads
    as a spreadsheet date (``excel_date_symbols``) becomes the symbol it was, under its current
    HGNC name. An ambiguous date (``1-Mar``) is left as it is and named.

    Args:
        proteins: protein groups × (``leading_accession``, ``gene``, ``description``).

    Returns:
        The table with those genes restored, and a note for ``inspect`` (None when none).
    """
    if proteins.empty:
        return proteins, None
    restored: list[str] = []
    ambiguous: list[str] = []
    genes = proteins["gene"].tolist() if "gene" in proteins else [np.nan] * len(proteins)
    new_genes = []
    for group, gene in zip(proteins.index, genes, strict=True):
        members = str(gene).split(";") if _present(gene) else [str(group)]
        fixed = []
        changed = False
        for member in members:
            symbols = excel_date_symbols(member)
            if len(symbols) == 1:
                fixed.append(symbols[0])
                restored.append(f"{member.strip()!r} -> {symbols[0]}")
                changed = True
            else:
                if symbols:
                    ambiguous.append(f"{member.strip()!r} ({' or '.join(symbols)})")
                fixed.append(member)
        new_genes.append(";".join(fixed) if changed else gene)
    if not restored and not ambiguous:
        return proteins, None
    proteins = proteins.assign(gene=pd.Series(new_genes, index=proteins.index, dtype="object"))
    parts = []
    if restored:
        shown_names = ", ".join(restored[:MAX_EXAMPLES])
        more = f" and {len(restored) - MAX_EXAMPLES} more" if len(restored) > MAX_EXAMPLES else ""
        parts.append(
            f"{len(restored)} protein name(s) were gene symbols a spreadsheet turned into dates, "
            f"read back as the symbols: {shown_names}{more}"
        )
    if ambiguous:
        parts.append(
            f"{len(ambiguous)} date-shaped name(s) could be several genes and were left as "
            f"they are: {', '.join(ambiguous[:MAX_EXAMPLES])}"
        )
    note = "; ".join(parts) + " (export gene lists as text, not through Excel)"
    return proteins, note


def annotate_names(names: Sequence[str]) -> pd.DataFrame:
    """Annotate the protein names of a generic table (wide columns, long ``protein`` cells).

    Every non-empty name is accepted: what it carries (accession, gene) is filled in, an opaque
    name keeps both NaN and stands for itself. A name that fits both a UniProt accession and a
    gene symbol (``B3GAT3``) is read as a gene in a table mostly named by gene symbols.

    Returns:
        proteins × (``leading_accession``, ``gene``, ``description``), indexed by the names.
    """
    parsed = [parse_protein_name(name) for name in names]
    schemes = pd.Series([p.scheme for p in parsed], dtype="object").value_counts()
    n_genes = int(schemes.get("gene", 0))
    if n_genes > len(parsed) - n_genes - int(schemes.get("opaque", 0)):
        parsed = [parse_protein_name(name, genes_first=True) for name in names]
    index = pd.Index([str(name) for name in names], dtype="object", name="group_id")
    return pd.DataFrame(
        {
            "leading_accession": pd.Series(
                [p.leading_accession for p in parsed], index=index, dtype="object"
            ),
            "gene": pd.Series([p.gene for p in parsed], index=index, dtype="object"),
            "description": pd.Series([np.nan] * len(index), index=index, dtype="object"),
        },
        index=index,
    )


def opaque_names(proteins: pd.DataFrame) -> list[str]:
    """Group ids that follow no known naming scheme and carry no gene annotation either."""
    gene = proteins["gene"] if "gene" in proteins else pd.Series(np.nan, index=proteins.index)
    return [
        str(group)
        for group, symbol in zip(proteins.index, gene, strict=True)
        if not _present(symbol) and naming_scheme(group) == "opaque"
    ]


def opaque_note(proteins: pd.DataFrame, source: object) -> str | None:
    """Warn once per file about opaque protein names and return the note for ``inspect``."""
    opaque = opaque_names(proteins)
    if not opaque:
        return None
    shown = ", ".join(repr(name) for name in opaque[:MAX_EXAMPLES])
    more = f" and {len(opaque) - MAX_EXAMPLES} more" if len(opaque) > MAX_EXAMPLES else ""
    note = (
        f"{len(opaque)} protein name(s) follow no known naming scheme and were kept as "
        f"opaque protein ids: {shown}{more}"
    )
    logger.warning("%s: %s", source, note)
    return note


def sanitize(name: str) -> str:
    """Make a name LightGBM-safe: ``;`` -> ``__``, characters outside [A-Za-z0-9_.-] -> ``_``."""
    safe = _UNSAFE.sub("_", name.strip().replace(";", "__"))
    return safe or "_"


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _split_collisions(base: list[str], accs: list[Any], ids: list[str]) -> list[str]:
    """Separate groups that share a canonical name.

    An isoform group (leading accession ``P12345-2``) becomes ``GENE-2`` (the simulator's wide
    tables name split isoforms that way); the one plain group keeps ``GENE``; any other clash
    gets the accession (or group id) appended.
    """
    counts = pd.Series(base, dtype="object").value_counts()
    names = list(base)
    for name in counts[counts > 1].index:
        members = [i for i, b in enumerate(base) if b == name]
        plain = []
        for i in members:
            isoform = _ISOFORM.search(str(accs[i])) if _present(accs[i]) else None
            if isoform:
                names[i] = f"{name}{isoform.group(0)}"
            else:
                plain.append(i)
        if len(plain) > 1:
            for i in plain:
                acc = str(accs[i]) if _present(accs[i]) else ""
                tag = acc if acc and sanitize(acc) != name else ids[i]
                names[i] = f"{name}__{sanitize(tag)}"
    return names


def safe_feature_names(proteins: pd.DataFrame) -> pd.Series:
    """Map each protein-group id to a unique LightGBM-safe feature name.

    The canonical name is the gene symbol when known (merged groups keep all symbols, joined),
    else the leading accession, else the group id. Among groups sharing a name, an isoform group
    (``P12345-2``) becomes ``GENE-2``, other clashes get the leading accession (or group id)
    appended; anything still colliding gets ``_2``, ``_3``... in group-id order, so the result
    does not depend on the order of the input.

    Args:
        proteins: indexed by group id, with columns ``gene`` and ``leading_accession``
            (missing columns count as unknown).

    Returns:
        A Series indexed like ``proteins`` (name ``feature``).
    """
    ids = [str(group) for group in proteins.index]
    genes = proteins["gene"].tolist() if "gene" in proteins else [np.nan] * len(ids)
    accs = (
        proteins["leading_accession"].tolist()
        if "leading_accession" in proteins
        else [np.nan] * len(ids)
    )
    base = [
        sanitize(str(gene) if _present(gene) else str(acc) if _present(acc) else group)
        for gene, acc, group in zip(genes, accs, ids, strict=True)
    ]
    names = _split_collisions(base, accs, ids)
    used: set[str] = set()
    order = sorted(range(len(names)), key=lambda i: (names[i], ids[i]))
    final = list(names)
    for i in order:
        candidate, suffix = names[i], 1
        while candidate in used:
            suffix += 1
            candidate = f"{names[i]}_{suffix}"
        used.add(candidate)
        final[i] = candidate
    result = pd.Series(final, index=proteins.index, dtype="object", name="feature")
    n_renamed = sum(1 for b, f in zip(base, final, strict=True) if b != f)
    if n_renamed:
        logger.info("made %d colliding protein feature names unique", n_renamed)
    return result


def _isoform_tag(accession: Any) -> str:
    """``-2`` for ``P12345-2``, ``""`` for a canonical accession or none."""
    if not _present(accession):
        return ""
    match = _ISOFORM.search(str(accession))
    return match.group(0) if match and _accession_scheme(str(accession)) else ""


def _other_isoform(model_acc: Any, input_acc: Any) -> bool:
    """Tell whether two accessions name different isoforms of one protein (never matched)."""
    if not (_present(model_acc) and _present(input_acc)):
        return False
    a, b = str(model_acc).upper(), str(input_acc).upper()
    return a != b and strip_isoform(a) == strip_isoform(b)


def _unique_lookup(keys: Sequence[Any], group_ids: Sequence[str]) -> dict[str, str]:
    """Key -> group id, for keys that name exactly one group (ambiguous keys left out)."""
    table: dict[str, str] = {}
    seen: dict[str, int] = {}
    for key, group in zip(keys, group_ids, strict=True):
        if _present(key):
            seen[key] = seen.get(key, 0) + 1
            table.setdefault(key, group)
    return {key: group for key, group in table.items() if seen[key] == 1}


def _normal(value: Any) -> Any:
    return str(value).strip().upper() if _present(value) else np.nan


def _normal_gene(value: Any) -> Any:
    """A gene symbol for matching: upper case, a renamed symbol under its current name."""
    return _normal(current_symbol(value)) if _present(value) else np.nan


def match_features(model_proteins: pd.DataFrame, proteins: pd.DataFrame) -> pd.Series:
    """Find, for each model feature, the protein group of the input that measures it.

    One protein is never substituted for another. In order, each input group used at most once:

    1. the exact group id;
    2. the exact leading accession (case-insensitive; an ENSEMBL/RefSeq version may differ),
       when it names one input group;
    3. the same canonical feature name (``safe_feature_names``: a gene-symbol table and a
       MaxQuant file name ``CD63`` and ``CD63-2`` alike), unless the two accessions are
       different isoforms of one protein or the name drops the isoform suffix;
    4. the gene symbol (case-insensitive), only when it is unambiguous (one input group, one
       model feature) and neither side is an isoform.

    An isoform (``P12345-2``) therefore never falls back to its canonical protein, nor the
    reverse.

    Args:
        model_proteins: index = feature name; columns ``group_id``, ``leading_accession``,
            ``gene`` (as stored beside the model).
        proteins: the input's ``ProteinMatrix.proteins`` (index = group id).

    Returns:
        A Series indexed by feature name holding the input group id, or NaN when unmatched.
    """
    group_ids = [str(group) for group in proteins.index]
    input_accs = (
        proteins["leading_accession"].tolist()
        if "leading_accession" in proteins
        else [np.nan] * len(group_ids)
    )
    input_genes = proteins["gene"].tolist() if "gene" in proteins else [np.nan] * len(group_ids)
    acc_of = dict(zip(group_ids, input_accs, strict=True))
    input_names = safe_feature_names(
        pd.DataFrame(
            {"leading_accession": input_accs, "gene": input_genes},
            index=pd.Index(group_ids, dtype="object"),
        )
    ).tolist()
    by_acc = _unique_lookup([_normal(a) for a in input_accs], group_ids)
    by_version_free = _unique_lookup([_normal(strip_version(a)) for a in input_accs], group_ids)
    by_name = dict(zip(input_names, group_ids, strict=True))
    by_gene = _unique_lookup([_normal_gene(g) for g in input_genes], group_ids)

    features = [str(f) for f in model_proteins.index]
    empty = [np.nan] * len(features)
    model_groups, model_accs, model_genes = (
        model_proteins[name].tolist() if name in model_proteins else empty
        for name in ("group_id", "leading_accession", "gene")
    )
    gene_counts = pd.Series([_normal_gene(g) for g in model_genes], dtype="object").value_counts()
    found: dict[str, str] = {}
    used: set[str] = set()

    def claim(feature: str, group: str | None) -> None:
        if group is not None and group not in used and feature not in found:
            found[feature] = group
            used.add(group)

    by_id = set(group_ids)
    for feature, group in zip(features, model_groups, strict=True):
        if _present(group) and str(group) in by_id:
            claim(feature, str(group))
    for feature, acc in zip(features, model_accs, strict=True):
        claim(feature, by_acc.get(_normal(acc)))
    for feature, acc in zip(features, model_accs, strict=True):
        claim(feature, by_version_free.get(_normal(strip_version(acc))))
    for feature, acc in zip(features, model_accs, strict=True):
        group = by_name.get(feature)
        if group is None or _other_isoform(acc, acc_of[group]):
            continue
        tags = {_isoform_tag(acc), _isoform_tag(acc_of[group])} - {""}
        if all(feature.endswith(tag) for tag in tags):
            claim(feature, group)
    for feature, acc, gene in zip(features, model_accs, model_genes, strict=True):
        key = _normal_gene(gene)
        group = by_gene.get(key) if _present(gene) else None
        if group is None or gene_counts.get(key, 0) != 1:
            continue
        if _isoform_tag(acc) or _isoform_tag(acc_of[group]):
            continue
        claim(feature, group)

    result = pd.Series(
        [found.get(feature, np.nan) for feature in features],
        index=model_proteins.index,
        dtype="object",
        name="group_id",
    )
    logger.info(
        "matched %d/%d model features to input protein groups",
        int(result.notna().sum()),
        len(result),
    )
    return result
