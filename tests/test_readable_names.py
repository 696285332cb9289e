"""Readable protein names wherever a person reads: drivers, explain tables, plots."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exostab.model.bundle_proteins import READABLE_LENGTH, readable_protein_names

CASE = Path(__file__).resolve().parents[2] / "shared" / "cases" / "lgbm-json-chars"


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=300),
            st.one_of(st.none(), st.text(max_size=12)),
            st.one_of(st.none(), st.sampled_from(["CD9", "CD63", "TSG101", "CD9;CD63", ""])),
        ),
        min_size=1,
        max_size=30,
        unique_by=lambda row: row[0],
    )
)
def test_readable_names_are_unique_and_short(rows) -> None:
    proteins = pd.DataFrame(
        {
            "input_name": [r[0] for r in rows],
            "leading_accession": [r[1] for r in rows],
            "gene": [r[2] for r in rows],
        },
        index=pd.Index([f"F{i:03d}" for i in range(len(rows))], name="feature"),
    )
    names = readable_protein_names(proteins)
    assert set(names) == set(proteins.index)
    assert len(set(names.values())) == len(names)
    for feature, name in names.items():
        gene = proteins.at[feature, "gene"]
        assert len(name) <= 2 * READABLE_LENGTH + 16
        if isinstance(gene, str) and gene:
            assert name.startswith(gene) or name == feature


def test_isoforms_keep_their_accession() -> None:
    proteins = pd.DataFrame(
        {
            "input_name": ["sp|P21926|CD9_HUMAN", "sp|P21926-2|CD9_HUMAN", "x" * 500],
            "leading_accession": ["P21926", "P21926-2", None],
            "gene": ["CD9", "CD9", None],
        },
        index=pd.Index(["CD9", "CD9-2", "long"], name="feature"),
    )
    names = readable_protein_names(proteins)
    assert names == {"CD9": "CD9 (P21926)", "CD9-2": "CD9 (P21926-2)", "long": "x" * 31 + "…"}


@pytest.fixture(scope="module")
def fasta_model(fast_config):
    """A model trained on the case's FASTA-header protein groups (hundreds of characters)."""
    if not CASE.is_dir():
        pytest.skip(f"case folder {CASE} absent")
    from exostab.dataset import build_training_set
    from exostab.io.readers import read_lot_sheet, read_proteins
    from exostab.training.nested_cv import train_model

    matrix = read_proteins(CASE / "proteins_fasta_headers.csv")
    sheet = read_lot_sheet(CASE / "lots.csv")
    training = build_training_set(matrix, sheet, fast_config)
    result = train_model(training, fast_config, {})
    return training, result


@pytest.mark.slow
def test_fasta_header_model_shows_drivers_by_gene(tmp_path: Path, fasta_model) -> None:
    from PIL import Image

    from exostab.model.bundle import ModelBundle
    from exostab.scoring.explain import write_explanations

    training, result = fasta_model
    bundle = ModelBundle.from_training(result)
    genes = set(bundle.proteins["gene"].dropna())
    assert genes, "the reader found no gene symbol in the FASTA headers"
    names = dict(zip(training.proteins.index, training.proteins["input_name"], strict=True))
    table = training.X.reset_index().rename(columns=names)
    answer = bundle.predict(table)
    drivers = [
        part.split(" (")[0].removeprefix("absent: ").removesuffix(" missing")
        for text in answer["top_drivers"].dropna()
        for part in str(text).split("; ")
        if part
    ]
    drivers = [d.split(" ")[0] for d in drivers if not d.startswith(tuple(bundle.metadata))]
    assert drivers, "no protein driver"
    assert all(d in genes for d in drivers), drivers[:5]
    assert not any("|" in str(text) for text in answer["top_drivers"].dropna())
    importance = write_explanations(bundle, table, tmp_path, n_dependence=2, n_waterfall=2)
    proteins_only = importance[importance["kind"] == "protein"]
    assert set(proteins_only["protein"]) <= {bundle.display_name(f) for f in bundle.proteins.index}
    assert proteins_only["group_id"].str.contains("|", regex=False).all()
    for png in tmp_path.glob("*.png"):
        with Image.open(png) as image:
            assert image.size[0] <= 2000, (png.name, image.size)
