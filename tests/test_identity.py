"""Protein identity: naming schemes, accessions, safe feature names and feature matching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exostab.identity import (
    genes_from_fasta,
    leading_accession,
    match_features,
    naming_scheme,
    safe_feature_names,
    strip_run_name,
)
from exostab.readers import read_proteins


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
        ("Unnamed: 3", "unknown"),
        ("12.5", "unknown"),
        ("protein 1", "unknown"),
        ("", "unknown"),
        ("notes", "unknown"),
        ("P12345;", "unknown"),
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
            "group_id": ["P1;P2", "X", "Y", "Z", "W"],
            "leading_accession": ["P1", "Q99999-3", "P77777", np.nan, "P55555"],
            "gene": ["G1", np.nan, "cd9", "CD63", np.nan],
        },
        index=["G1", "Q99999", "CD9", "CD63", "P55555"],
    )
    proteins = pd.DataFrame(
        {
            "leading_accession": ["P1", "Q99999", "P21926", np.nan],
            "gene": ["G1", np.nan, "CD9", "CD9"],
        },
        index=["P1;P2", "sp|Q99999|A", "P21926", "other"],
    )
    matched = match_features(model, proteins)
    assert matched["G1"] == "P1;P2"  # exact group id
    assert matched["Q99999"] == "sp|Q99999|A"  # accession, isoform ignored
    assert matched["CD9"] == "P21926"  # gene, case-insensitive, first in input order
    assert pd.isna(matched["CD63"])
    assert pd.isna(matched["P55555"])
    assert list(matched.index) == list(model.index)
