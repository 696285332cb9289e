"""The HTTP signature: short, unique, stable protein names; only proteins that matter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exostab.config import Candidate
from exostab.model.bundle import ModelBundle
from exostab.model.bundle_proteins import (
    READABLE_LENGTH,
    readable_protein_names,
    required_proteins,
    used_protein_features,
)
from exostab.model.pipeline import build_pipeline

CASE = Path(__file__).resolve().parents[2] / "shared" / "cases" / "lgbm-json-chars"
RESERVED = ("lot_id", "passage", "medium")

GENES = st.one_of(
    st.none(),
    st.just(""),
    st.just("   "),
    st.sampled_from(["CD9", "CD63", "TSG101", "CD9;CD63", "passage", "lot_id", "CD9_2"]),
    st.text(max_size=40),
)
ACCESSIONS = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(["P21926", "P21926-2", "P21926-3", "P08962", "Q99816"]),
    st.text(max_size=20),
)
GROUP_IDS = st.one_of(
    st.text(min_size=1, max_size=400),
    st.sampled_from(["CD9", "sp|P21926|CD9_HUMAN", "sp|P21926-2|CD9_HUMAN", "CD9 (P21926)"]),
    st.builds(lambda n: "P21926;" * n + "Q99816", st.integers(1, 80)),
)


def protein_table(rows: list[tuple[str, str | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "input_name": [r[0] for r in rows],
            "leading_accession": [r[1] for r in rows],
            "gene": [r[2] for r in rows],
        },
        index=pd.Index([f"F{i:03d}" for i in range(len(rows))], name="feature"),
    )


@given(
    st.lists(
        st.tuples(GROUP_IDS, ACCESSIONS, GENES), min_size=1, max_size=25, unique_by=lambda r: r[0]
    ),
    st.randoms(use_true_random=False),
)
def test_short_names_are_unique_short_and_stable(rows, random) -> None:
    proteins = protein_table(rows)
    names = readable_protein_names(proteins, reserved=RESERVED)
    assert set(names) == set(proteins.index)
    assert len(set(names.values())) == len(names), "two proteins share a short name"
    assert not set(names.values()) & set(RESERVED), "a short name shadows a lot-sheet column"
    for feature, name in names.items():
        assert name.strip() and len(name) <= 2 * READABLE_LENGTH + 16, name
        gene = proteins.at[feature, "gene"]
        if isinstance(gene, str) and gene.strip() and len(gene.strip()) < READABLE_LENGTH:
            assert name.startswith(" ".join(gene.split())), (gene, name)
    # stable: the same proteins in another row order get the same names
    order = list(proteins.index)
    random.shuffle(order)
    assert readable_protein_names(proteins.loc[order], reserved=RESERVED) == names


def test_shared_genes_keep_their_isoform_and_clashes_count_up() -> None:
    proteins = protein_table(
        [
            ("sp|P21926|CD9_HUMAN", "P21926", "CD9"),
            ("sp|P21926-2|CD9_HUMAN", "P21926-2", "CD9"),
            ("CD63 group a", None, "CD63"),
            ("CD63 group b", None, "CD63"),
            ("x" * 500, None, None),
            ("passage", None, None),
        ]
    )
    names = readable_protein_names(proteins, reserved=RESERVED)
    assert list(names.values()) == [
        "CD9 (P21926)",
        "CD9 (P21926-2)",
        "CD63",
        "CD63_2",
        "x" * 31 + "…",
        "passage_2",
    ]


def planted_pipeline(planted_wide, learner: str, fast_config):
    X, y = planted_wide
    pipeline = build_pipeline(
        fast_config,
        Candidate(learner=learner, linear_c=0.05),
        metadata=("passage", "medium"),
        categorical=("medium",),
        n_lots=len(X),
        n_rounds=40,
    )
    return pipeline.fit(X, y)


@pytest.fixture(scope="module")
def planted_wide():
    from conftest import planted_lots

    training = planted_lots(n_proteins=400, seed=1)
    return training.X, training.y.to_numpy()


@pytest.mark.parametrize("learner", ["trees", "linear", "blend", "prior"])
def test_required_proteins_are_all_a_prediction_needs(planted_wide, learner, fast_config) -> None:
    X, _ = planted_wide
    pipeline = planted_pipeline(planted_wide, learner, fast_config)
    required = required_proteins(pipeline)
    reference = pipeline.named_steps["log2"].reference_
    assert set(reference) <= set(required)
    assert len(reference) <= pipeline.named_steps["log2"].max_reference
    proteins = [c for c in X.columns if c not in ("passage", "medium")]
    if learner in ("trees", "prior"):
        assert len(required) < len(proteins), "unused proteins should not be required"
    else:  # a ridge part gives every protein a nonzero coefficient
        assert set(used_protein_features(pipeline[-1])) >= {"RISK1", "GUARD1"}
    # Without every protein outside `required`, the log-odds are the same.
    narrowed = X.copy()
    narrowed[[p for p in proteins if p not in set(required)]] = np.nan
    np.testing.assert_allclose(
        pipeline.decision_function(narrowed), pipeline.decision_function(X), rtol=1e-12
    )


def test_the_reference_stays_small_when_no_protein_is_always_detected() -> None:
    from exostab.model.features import LogNormalizer

    rng = np.random.default_rng(0)
    values = 2.0 ** rng.normal(20, 1, (40, 300))
    values[rng.random(values.shape) < 0.5] = np.nan  # each protein detected in ~half the lots
    frame = pd.DataFrame(values, columns=[f"P{j}" for j in range(300)])
    normalizer = LogNormalizer(reference_min_rate=0.9, max_reference=50).fit(frame)
    assert len(normalizer.reference_) == 50


@pytest.fixture(scope="module")
def fasta_bundle(fast_config):
    """A bundle trained on protein groups named by whole FASTA headers (hundreds of chars)."""
    if not CASE.is_dir():
        pytest.skip(f"case folder {CASE} absent")
    from exostab.dataset import build_training_set
    from exostab.io.readers import read_lot_sheet, read_proteins
    from exostab.training.nested_cv import train_model

    matrix = read_proteins(CASE / "proteins_fasta_headers.csv")
    sheet = read_lot_sheet(CASE / "lots.csv")
    training = build_training_set(matrix, sheet, fast_config)
    bundle = ModelBundle.from_training(train_model(training, fast_config, {}))
    names = dict(zip(training.proteins.index, training.proteins["input_name"], strict=True))
    table = training.X.reset_index().rename(columns=names)
    return bundle, table


@pytest.mark.slow
def test_short_and_full_names_give_the_same_answers(fasta_bundle, tmp_path: Path) -> None:
    bundle, table = fasta_bundle
    columns = bundle.signature_columns
    assert columns["short_name"].is_unique
    assert columns["short_name"].str.len().max() <= 2 * READABLE_LENGTH + 16
    assert columns["input_name"].str.len().max() > 100, "the case should have long group ids"
    full = bundle.predict(table)
    short = bundle.predict(
        table.rename(columns=dict(zip(columns["input_name"], columns["short_name"], strict=True)))
    )
    pd.testing.assert_frame_equal(short, full)
    # only the proteins the bundle lists matter: the rest of the file changes nothing
    kept = ["lot_id", *bundle.metadata, *columns["input_name"]]
    pd.testing.assert_frame_equal(bundle.predict(table[[c for c in kept if c in table]]), full)
    # a bad cell is named as the request named it
    bad = table.rename(columns=dict(zip(columns["input_name"], columns["short_name"], strict=True)))
    bad = bad.astype({columns["short_name"].iloc[0]: object})
    bad.loc[0, columns["short_name"].iloc[0]] = "n.d."
    assert f"'{columns['short_name'].iloc[0]}'" in bundle.predict(bad).loc[0, "error"]
    # the mapping travels with the bundle
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    saved = pd.read_csv(tmp_path / "bundle" / "signature_columns.csv")
    assert saved["short_name"].tolist() == columns["short_name"].tolist()
    assert saved["input_name"].tolist() == columns["input_name"].tolist()
    assert loaded.readable_names == bundle.readable_names


@pytest.mark.slow
def test_bundles_from_before_short_names_keep_their_served_names(fasta_bundle) -> None:
    from dataclasses import replace

    bundle, table = fasta_bundle
    old = replace(bundle, proteins=bundle.proteins.drop(columns="short_name"))
    inputs = list(map(str, bundle.proteins["input_name"]))
    assert list(old.signature_names) == inputs  # logged then under the input names
    assert list(bundle.signature_names.values()) == inputs
    assert list(bundle.signature_names) == list(bundle.proteins["short_name"])
    assert old.readable_names == bundle.readable_names  # computed on load, the same rule
    pd.testing.assert_frame_equal(old.predict(table), bundle.predict(table))


def test_json_booleans_are_not_numbers(fasta_bundle) -> None:
    """A JSON ``true`` is refused as a passage or an intensity (pandas would read it as 1)."""
    bundle, _ = fasta_bundle
    protein = str(bundle.proteins["input_name"].iloc[0])
    answer = bundle.predict(
        pd.DataFrame(
            {
                "lot_id": ["A", "B", "C"],
                "passage": [True, 3, "false"],
                protein: [1e7, True, 1e7],
            }
        )
    )
    assert "passage" in answer.loc[0, "error"] and "passage" in answer.loc[2, "error"]
    assert answer.loc[1, "error"] == f"the JSON value true in protein column '{protein}'"
    assert answer.loc[0, "error"] == "passage is the JSON value true, not a number: send a number"
    assert answer["risk"].isna().all()
