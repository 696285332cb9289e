"""Protein identity: naming schemes, accessions, safe feature names and feature matching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exostab.io.feature_names import match_features, safe_feature_names
from exostab.io.group_annotations import annotate_names
from exostab.io.naming import (
    DECOY_CONTAMINANT_PREFIXES,
    genes_from_fasta,
    is_decoy_or_contaminant,
    leading_accession,
    naming_scheme,
    parse_protein_name,
    strip_run_name,
)
from exostab.io.readers import read_proteins


@pytest.mark.parametrize(
    ("name", "scheme"),
    [
        ("P12345", "uniprot"),
        ("Q9Y6C2-2", "uniprot"),
        ("A0A024R4E5", "uniprot"),
        ("P12345;Q67890", "protein_group"),
        ("sp|P21926|CD9_HUMAN", "fasta_header"),
        ("sp|P21926|CD9_HUMAN;tr|Q5NV62|Q5NV62_HUMAN", "protein_group"),
        ("CD9", "gene"),
        ("HLA-A", "gene"),
        ("C1orf112", "gene"),
        ("GENE1;GENE2", "gene"),
        ("SIMG00042", "simulated"),
        ("SIMP00042", "simulated"),
        ("SIMG00001;SIMG00002", "simulated"),
        ("A0A024QZX5~SERPINB6", "accession_gene"),
        ("P21926|CD9", "accession_gene"),
        ("ENSG00000010278", "ensembl"),
        ("ENSP00000009180.4", "ensembl"),
        ("ENSMUST00000000001.5", "ensembl"),
        ("NP_001760.1", "refseq"),
        ("XP_011514632", "refseq"),
        ("NM_001769.4", "refseq"),
        ("P02452;ENSP00000225964;Q15485", "protein_group"),
        ("12.5", "opaque"),
        ("protein 1", "opaque"),
        ("notes", "opaque"),
        ("my-custom_id#7", "opaque"),
        ("P12345;", "uniprot"),
        ("Unnamed: 3", "empty"),
        ("", "empty"),
        ("  ", "empty"),
    ],
)
def test_naming_scheme(name: str, scheme: str) -> None:
    assert naming_scheme(name) == scheme


def test_leading_accession_and_genes() -> None:
    assert leading_accession("sp|P12345|NAME_HUMAN;tr|Q1|X") == "P12345"
    assert (
        leading_accession("P12345-2;P12345") == "P12345-2"
    )  # isoform kept, stripped only to match
    assert leading_accession("sp|P0DMV9|HS71B_HUMAN,sp|P0DMV8|HS71A_HUMAN") == "P0DMV9"
    assert leading_accession("CON__P02768") == "P02768"
    assert np.isnan(leading_accession(np.nan))
    header = "sp|P1|A_HUMAN Alpha OS=Homo GN=CD9 PE=1;sp|P2|B Beta GN=CD81;sp|P3|C GN=CD9"
    assert genes_from_fasta(header) == "CD9;CD81"
    assert np.isnan(genes_from_fasta("sp|P1|A no gene"))


@pytest.mark.parametrize(
    ("run", "stem"),
    [
        ("D:\\data\\lot_07.raw", "lot_07"),
        ("/data/run.d", "run"),
        ("/data/run.d/", "run"),
        ("a.mzML.gz", "a"),
        ("sample1.thermo.raw", "sample1.thermo"),
        ("LOT-3", "LOT-3"),
    ],
)
def test_strip_run_name(run: str, stem: str) -> None:
    assert strip_run_name(run) == stem


def _proteins(rows: list[tuple[str, object, object]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(acc, gene) for _, acc, gene in rows],
        index=[group for group, _, _ in rows],
        columns=["leading_accession", "gene"],
    )


def test_safe_feature_names_canonical_and_safe() -> None:
    proteins = _proteins(
        [
            ("P21926", "P21926", "CD9"),
            ("P1;P2", "P1", "GENE1;GENE2"),
            ("sp|Q99|X", "Q99", np.nan),
            ("weird,id:{x}", np.nan, np.nan),
            ("A1;A2", "P08962", "CD63"),
            ("B1", "P08962-2", "CD63"),
        ]
    )
    names = safe_feature_names(proteins)
    assert names["P21926"] == "CD9"
    assert names["P1;P2"] == "GENE1__GENE2"
    assert names["sp|Q99|X"] == "Q99"
    assert names["weird,id:{x}"] == "weird_id__x_"
    assert names["A1;A2"] == "CD63"  # the plain group keeps the gene symbol
    assert names["B1"] == "CD63-2"  # an isoform split is suffixed like the simulator does
    two = _proteins([("X1", "P1", "CD81"), ("X2", "P2", "CD81")])
    assert sorted(safe_feature_names(two)) == ["CD81__P1", "CD81__P2"]
    assert names.is_unique
    assert names.str.fullmatch(r"[A-Za-z0-9_.-]+").all()


@settings(max_examples=40, deadline=None)
@given(
    genes=st.lists(st.sampled_from(["CD9", "CD63", "A;B", "x y", "", "é"]), min_size=1, max_size=8),
    seed=st.integers(0, 1000),
)
def test_safe_feature_names_unique_and_order_independent(genes: list[str], seed: int) -> None:
    proteins = pd.DataFrame(
        {"leading_accession": [np.nan] * len(genes), "gene": [g or np.nan for g in genes]},
        index=[f"G{i}" for i in range(len(genes))],
    )
    names = safe_feature_names(proteins)
    assert names.is_unique
    assert names.str.fullmatch(r"[A-Za-z0-9_.-]+").all()
    shuffled = proteins.sample(frac=1.0, random_state=seed)
    assert safe_feature_names(shuffled).sort_index().equals(names.sort_index())


def test_wide_gene_columns_and_maxquant_give_the_same_feature_names(tmp_path: Path) -> None:
    mq = tmp_path / "proteinGroups.txt"
    mq.write_text(
        "Protein IDs\tGene names\tFasta headers\tLFQ intensity LOT1\tLFQ intensity LOT2\t"
        "Reverse\tPotential contaminant\n"
        "P21926\tCD9\t\t100\t200\t\t\n"
        "P08962;P08962-2\tCD63\t\t300\t0\t\t\n"
        "Q9BY43;Q9BY44\tCHMP4A;CHMP4B\t\t5\t6\t\t\n"
        "P60033\t\tsp|P60033|CD81_HUMAN CD81 antigen OS=Homo sapiens GN=CD81 PE=1\t7\t8\t\t\n"
        "SIMP00118\tSIMG00118\t\t9\t10\t\t\n"
        "SIMP00118-2\tSIMG00118\t\t11\t12\t\t\n"
        "REV__P1\t\t\t1\t1\t+\t\n"
    )
    wide = tmp_path / "wide.csv"
    wide.write_text(
        "lot_id,CD9,CD63,CHMP4A;CHMP4B,CD81,SIMG00118,SIMG00118-2\n"
        "LOT1,100,300,5,7,9,11\nLOT2,200,,6,8,10,12\n"
    )
    from_mq, from_wide = read_proteins(mq), read_proteins(wide)
    names_mq = safe_feature_names(from_mq.proteins)
    names_wide = safe_feature_names(from_wide.proteins)
    expected = ["CD63", "CD81", "CD9", "CHMP4A__CHMP4B", "SIMG00118", "SIMG00118-2"]
    assert sorted(names_mq) == sorted(names_wide) == expected
    a = from_mq.intensities.set_axis(names_mq.to_numpy(), axis=1)
    b = from_wide.intensities.set_axis(names_wide.to_numpy(), axis=1)
    pd.testing.assert_frame_equal(a[sorted(a.columns)], b[sorted(b.columns)], check_names=False)


def test_match_features_order() -> None:
    model = pd.DataFrame(
        {
            "group_id": ["P1;P2", "X", "Y", "Z", "W", "V", "U"],
            "leading_accession": [
                "P1",
                "Q99999-3",
                "P77777",
                np.nan,
                "P55555",
                "ENSP00000269305.4",
                "Q11111",
            ],
            "gene": ["G1", np.nan, "cd9", "CD63", np.nan, "TP53", "CD81"],
        },
        index=["G1", "Q99999-3", "CD9", "CD63", "P55555", "TP53", "CD81"],
    )
    proteins = pd.DataFrame(
        {
            "leading_accession": [
                "P1",
                "Q99999",
                "P21926",
                np.nan,
                "ENSP00000269305.5",
                "Q11111-2",
            ],
            "gene": ["G1", np.nan, "CD9", "CD63", np.nan, "CD81"],
        },
        index=["P1;P2", "sp|Q99999|A", "P21926", "other", "ENSP00000269305.5", "Q11111-2"],
    )
    matched = match_features(model, proteins)
    assert matched["G1"] == "P1;P2"  # exact group id
    assert pd.isna(matched["Q99999-3"])  # an isoform never falls back to its canonical protein
    assert matched["CD9"] == "P21926"  # gene, case-insensitive, unambiguous
    assert matched["CD63"] == "other"
    assert pd.isna(matched["P55555"])
    assert matched["TP53"] == "ENSP00000269305.5"  # an ENSEMBL version is not another protein
    assert pd.isna(matched["CD81"])  # nor does a canonical protein take its isoform's gene
    assert list(matched.index) == list(model.index)


def test_gene_fallback_only_when_unambiguous() -> None:
    model = pd.DataFrame(
        {"group_id": ["X1", "X2"], "leading_accession": [np.nan, np.nan], "gene": ["CD9", "CD63"]},
        index=["CD9", "CD63"],
    )
    proteins = pd.DataFrame(
        {"leading_accession": ["P1", "P2", "P3"], "gene": ["CD9", "CD9", "CD63"]},
        index=["P1", "P2", "P3"],
    )
    matched = match_features(model, proteins)
    assert pd.isna(matched["CD9"])  # two input groups carry CD9: no guess
    assert matched["CD63"] == "P3"
    two_features = pd.DataFrame(
        {"group_id": ["A", "B"], "leading_accession": ["Q1", "Q2"], "gene": ["CD63", "CD63"]},
        index=["CD63__Q1", "CD63__Q2"],
    )
    assert match_features(two_features, proteins).isna().all()  # two model features, one gene


def test_isoform_feature_matches_the_isoform_column_by_name() -> None:
    """MaxQuant groups P08962 / P08962-2 and a wide table's CD63 / CD63-2 pair up exactly."""
    model = pd.DataFrame(
        {
            "group_id": ["P08962", "P08962-2"],
            "leading_accession": ["P08962", "P08962-2"],
            "gene": ["CD63", "CD63"],
        },
        index=["CD63", "CD63-2"],
    )
    wide = annotate_names(["CD63-2", "CD63"])
    matched = match_features(model, wide)
    assert matched.to_dict() == {"CD63": "CD63", "CD63-2": "CD63-2"}
    only_canonical = annotate_names(["CD63"])
    matched = match_features(model, only_canonical)
    assert matched["CD63"] == "CD63" and pd.isna(matched["CD63-2"])
    isoform_only = pd.DataFrame(
        {"leading_accession": ["P08962-2"], "gene": ["CD63"]}, index=["P08962-2;P08962-3"]
    )
    matched = match_features(model.iloc[:1], isoform_only)
    assert pd.isna(matched["CD63"])  # the canonical feature is not fed the isoform


@pytest.mark.parametrize(
    ("name", "accessions", "genes"),
    [
        ("P12345-2", ("P12345-2",), ()),
        (
            "sp|P21926|CD9_HUMAN CD9 antigen, human OS=Homo sapiens GN=CD9 PE=1",
            ("P21926",),
            ("CD9",),
        ),
        (">sp|P21926|CD9_HUMAN CD9 antigen GN=CD9", ("P21926",), ("CD9",)),
        ("A0A024QZX5~SERPINB6", ("A0A024QZX5",), ("SERPINB6",)),
        ("P21926|CD9", ("P21926",), ("CD9",)),
        ("P21926|CD9_HUMAN", ("P21926",), ()),  # an entry name is not a gene symbol
        ("gi|4502693|ref|NP_001760.1|", ("NP_001760.1",), ()),
        ("P02452;ENSP00000225964.5;Q15485", ("P02452", "ENSP00000225964.5", "Q15485"), ()),
        ("sp|P0DMV9|HS71B_HUMAN,sp|P0DMV8|HS71A_HUMAN", ("P0DMV9", "P0DMV8"), ()),
        ("CHMP4A;CHMP4B", (), ("CHMP4A", "CHMP4B")),
        ("some protein 1", (), ()),
    ],
)
def test_parse_protein_name_parts(
    name: str, accessions: tuple[str, ...], genes: tuple[str, ...]
) -> None:
    parsed = parse_protein_name(name)
    assert parsed.accessions == accessions
    assert parsed.genes == genes


def test_gene_symbols_that_look_like_accessions_in_a_gene_table() -> None:
    """B3GAT3 fits the UniProt pattern; in a table named by genes it is the gene."""
    assert naming_scheme("B3GAT3") == "uniprot"
    table = annotate_names(["CD9", "CD63", "B3GAT3"])
    assert table.loc["B3GAT3", "gene"] == "B3GAT3"
    assert pd.isna(table.loc["B3GAT3", "leading_accession"])
    accessions = annotate_names(["P21926", "P08962", "B3GAT3"])
    assert accessions.loc["B3GAT3", "leading_accession"] == "B3GAT3"


@pytest.mark.parametrize(
    ("group", "flagged"),
    [
        ("P02452;CON__Q862S4;Q15485", True),
        ("Cont_P02768", True),
        ("REV__P12345", True),
        ("rev_sp|P12345|X_HUMAN", True),
        ("DECOY_P12345", True),
        ("contam_sp|P00761|TRYP_PIG", True),
        ("sp|P21926|CD9_HUMAN;>CON__P02768", True),
        ("sp|CON__P02768|ALBU_BOVIN", True),
        ("CON__P02768~ALB", True),
        ("P21926", False),
        ("CONTACTIN", False),
        ("sp|P21926|CD9_HUMAN CD9 antigen, human [REV marker]", False),
        ("REVERSE1", False),
    ],
)
def test_one_decoy_contaminant_rule(group: str, flagged: bool) -> None:
    assert is_decoy_or_contaminant(group) is flagged


# --- property: any name is information, never a reason to refuse -------------------------

UNIPROT = st.from_regex(
    r"[OPQ][0-9][A-Z0-9]{3}[0-9]|[A-NR-Z][0-9][A-Z][A-Z0-9]{2}[0-9]", fullmatch=True
)
ISOFORM = st.one_of(st.just(""), st.integers(2, 30).map(lambda n: f"-{n}"))
GENE = st.from_regex(r"[A-Z]{2,5}[0-9]{0,2}", fullmatch=True).filter(
    lambda g: not parse_protein_name(g).accessions
)
ENSEMBL = st.tuples(
    st.sampled_from(["ENSG", "ENSP", "ENST", "ENSMUSP"]),
    st.integers(0, 10**11 - 1),
    st.one_of(st.just(""), st.integers(1, 20).map(lambda v: f".{v}")),
).map(lambda t: f"{t[0]}{t[1]:011d}{t[2]}")
REFSEQ = st.tuples(
    st.sampled_from(["NP_", "XP_", "NM_"]),
    st.integers(1, 10**9),
    st.one_of(st.just(""), st.integers(1, 9).map(lambda v: f".{v}")),
).map(lambda t: f"{t[0]}{t[1]}{t[2]}")


@st.composite
def named_protein(draw: st.DrawFn) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """A protein name in one of the schemes, with the accessions and genes it carries."""
    accession = draw(UNIPROT) + draw(ISOFORM)
    gene = draw(GENE)
    scheme = draw(st.sampled_from(["uniprot", "fasta", "tilde", "pipe", "ensembl", "refseq"]))
    if scheme == "uniprot":
        return accession, (accession,), ()
    if scheme == "fasta":
        description = draw(st.text(alphabet="abc ,:[]{}\"'", max_size=20))
        name = f"{draw(st.sampled_from(['sp', 'tr']))}|{accession}|X_HUMAN {description} GN={gene}"
        return name, (accession,), (gene,)
    if scheme == "tilde":
        return f"{accession}~{gene}", (accession,), (gene,)
    if scheme == "pipe":
        return f"{accession}|{gene}", (accession,), (gene,)
    other = draw(ENSEMBL if scheme == "ensembl" else REFSEQ)
    return other, (other,), ()


@settings(max_examples=200, deadline=None)
@given(members=st.lists(named_protein(), min_size=1, max_size=4))
def test_any_scheme_and_group_is_parsed(
    members: list[tuple[str, tuple[str, ...], tuple[str, ...]]],
) -> None:
    name = ";".join(member for member, _, _ in members)
    parsed = parse_protein_name(name)
    assert parsed.scheme not in ("opaque", "empty")
    assert parsed.accessions == tuple(a for _, accs, _ in members for a in accs)
    assert parsed.genes == tuple(g for _, _, genes in members for g in genes)
    assert parsed.leading_accession == members[0][1][0]


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(
        st.one_of(
            named_protein().map(lambda m: m[0]),
            GENE,
            st.text(min_size=1, max_size=25).filter(lambda t: t.strip()),
        ),
        min_size=1,
        max_size=12,
        unique=True,
    )
)
def test_no_non_empty_name_is_refused(names: list[str]) -> None:
    names = [n for n in names if n.strip() and not n.strip().startswith("Unnamed: ")]
    table = annotate_names(names)
    assert list(table.index) == [str(n) for n in names]  # every name kept, as written
    for name in names:
        parsed = parse_protein_name(name)
        assert parsed.scheme != "empty"
        if parsed.scheme == "opaque":  # an opaque id stands for itself
            assert pd.isna(table.loc[name, "leading_accession"])
            assert pd.isna(table.loc[name, "gene"])
    features = safe_feature_names(table)
    assert features.is_unique
    assert features.str.fullmatch(r"[A-Za-z0-9_.-]+").all()


@settings(max_examples=100, deadline=None)
@given(
    prefix=st.sampled_from(DECOY_CONTAMINANT_PREFIXES),
    members=st.lists(named_protein().map(lambda m: m[0]), min_size=1, max_size=3),
    position=st.integers(0, 3),
)
def test_a_flagged_member_anywhere_flags_the_group(
    prefix: str, members: list[str], position: int
) -> None:
    assert not any(is_decoy_or_contaminant(m) for m in members)
    flagged = list(members)
    flagged.insert(min(position, len(members)), f"{prefix}{members[0]}")
    assert is_decoy_or_contaminant(";".join(flagged))
