"""An honest band: lots the model cannot judge are `not assessable`, with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exostab.model.lot_answer import (
    FAR_OUTSIDE,
    MIN_COVERAGE,
    NOT_ASSESSABLE,
    not_assessable_reasons,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
MAXQUANT = SHARED / "fixtures" / "proteomics-formats" / "maxquant" / "proteinGroups_10samples.txt"
LOTS = SHARED / "cases" / "ten-lots-no-signal" / "lots.csv"


def test_reasons_name_coverage_and_domain() -> None:
    coverage = np.array([0.9, MIN_COVERAGE - 0.01, 0.9, 0.1])
    domain = np.array([0.5, 0.5, FAR_OUTSIDE + 1, FAR_OUTSIDE + 1])
    reasons = not_assessable_reasons(coverage, domain)
    assert reasons[0] is None
    assert "measured 49%" in str(reasons[1]) and "domain" not in str(reasons[1])
    assert "far outside" in str(reasons[2]) and "measured" not in str(reasons[2])
    assert "measured 10%" in str(reasons[3]) and "far outside" in str(reasons[3])
    assert all(str(r).startswith(NOT_ASSESSABLE) for r in reasons[1:])


@pytest.fixture(scope="module")
def simulated_bundle(tmp_path_factory: pytest.TempPathFactory, fast_config):
    from exostab.dataset import build_training_set
    from exostab.io.readers import read_lot_sheet, read_proteins
    from exostab.model.bundle import ModelBundle
    from exostab.simulate import write_simulation
    from exostab.training.nested_cv import train_model

    data = write_simulation(
        tmp_path_factory.mktemp("sim"), n_lots=80, n_donors=10, n_proteins=300, seed=5
    )
    matrix = read_proteins(data.out / "proteins.csv")
    training = build_training_set(matrix, read_lot_sheet(data.out / "lots.csv"), fast_config)
    result = train_model(training, fast_config, {})
    return ModelBundle.from_training(result, simulated_training=True), training


def test_real_maxquant_lots_are_not_assessable_by_the_simulated_model(simulated_bundle) -> None:
    if not (MAXQUANT.exists() and LOTS.exists()):
        pytest.skip("shared MaxQuant fixture or ten-lots-no-signal case absent")
    from exostab.io.readers import read_lot_sheet_lenient, read_proteins
    from exostab.scoring.batch import BatchScorer

    bundle, _ = simulated_bundle
    sheet, refused = read_lot_sheet_lenient(LOTS, vocabulary=bundle.vocabulary)
    scorer = BatchScorer(bundle, sheet, refused)
    scores, _ = scorer.score(read_proteins(MAXQUANT))
    assert len(scores) == 10
    assert (scores["risk_band"] == NOT_ASSESSABLE).all(), scores[["lot_id", "coverage"]]
    assert scores["warning"].str.startswith(NOT_ASSESSABLE).all()
    assert scores["warning"].str.contains("of the model's proteins").all()


def test_simulated_lots_keep_their_bands_and_http_answers_alike(simulated_bundle) -> None:
    """Lots like the training lots are banded; the same table answers the same either way."""
    bundle, training = simulated_bundle
    names = dict(zip(training.proteins.index, training.proteins["input_name"], strict=True))
    table = training.X.reset_index().rename(columns=names)
    answer = bundle.predict(table)
    assert set(answer["risk_band"]) <= {"low", "review", "high"}
    # drop most proteins of half the lots: those become not assessable, the rest keep a band
    proteins = [c for c in table.columns if c in set(bundle.proteins["input_name"])]
    thinned = table.copy()
    half = thinned.index[::2]
    thinned.loc[half, proteins[: int(len(proteins) * 0.8)]] = np.nan
    answer = bundle.predict(thinned)
    assert (answer.loc[half, "risk_band"] == NOT_ASSESSABLE).all()
    assert answer.loc[half, "risk"].notna().all()
    others = answer.index.difference(half)
    assert answer.loc[others, "risk_band"].isin(["low", "review", "high"]).all()
    # HTTP sends JSON: the same rows as records give the same answer
    records = pd.DataFrame.from_records(thinned.to_dict(orient="records"))
    pd.testing.assert_frame_equal(bundle.predict(records), answer)
