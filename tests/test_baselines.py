"""Model tier: the baselines fit, see only what they should, and repeat themselves exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exostab.dataset import TrainingSet
from exostab.model.baselines import BASELINES, build_baseline, cross_validate_baselines
from exostab.model.evaluate import METRICS, risk_metrics
from exostab.model.splits import grouped_folds

PROTEIN_BASELINES = tuple(name for name in BASELINES if name != "passage_only")


@pytest.fixture(scope="module")
def lots(planted: TrainingSet) -> TrainingSet:
    return planted


@pytest.fixture(scope="module")
def folds(lots: TrainingSet) -> list[tuple[np.ndarray, np.ndarray]]:
    return grouped_folds(lots.y, lots.groups, scheme="group_kfold", n_splits=3, seed=0).folds


@pytest.fixture(scope="module")
def out_of_fold(
    lots: TrainingSet, folds: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, np.ndarray]:
    return cross_validate_baselines(lots, folds, seed=0)


@pytest.fixture(scope="module")
def validated(lots: TrainingSet, out_of_fold: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {name: risk_metrics(lots.y.to_numpy(), risk) for name, risk in out_of_fold.items()}


def fitted_risk(name: str, lots: TrainingSet, X: pd.DataFrame | None = None) -> np.ndarray:
    pipeline = build_baseline(name, metadata=lots.metadata, seed=0).fit(lots.X, lots.y)
    return np.asarray(pipeline.predict_proba(lots.X if X is None else X)[:, 1])


@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_fits_and_ranks_the_planted_risk(name: str, lots: TrainingSet) -> None:
    risk = fitted_risk(name, lots)
    assert risk.shape == (len(lots.X),)
    assert np.all((risk >= 0) & (risk <= 1))
    # RISK1 and GUARD1 both move with passage, so even passage alone ranks the training lots
    unstable, stable = risk[lots.y.to_numpy() == 1], risk[lots.y.to_numpy() == 0]
    assert unstable.mean() > stable.mean()


def test_cross_validation_gives_every_lot_a_risk_from_every_baseline(
    out_of_fold: dict[str, np.ndarray], validated: dict[str, dict[str, float]]
) -> None:
    assert tuple(out_of_fold) == BASELINES
    assert all(np.isfinite(risk).all() for risk in out_of_fold.values())
    for metrics in validated.values():
        assert tuple(metrics) == METRICS
        assert all(np.isfinite(value) for value in metrics.values())


@pytest.mark.parametrize("name", PROTEIN_BASELINES)
def test_protein_baselines_find_the_planted_proteins_on_held_out_donors(
    name: str, validated: dict[str, dict[str, float]]
) -> None:
    assert validated[name]["roc_auc"] > 0.6


def test_passage_only_sees_only_passage(lots: TrainingSet) -> None:
    risk = fitted_risk("passage_only", lots)
    rng = np.random.default_rng(0)
    scrambled = lots.X.copy()
    proteins = [c for c in scrambled.columns if c not in lots.metadata]
    scrambled[proteins] = rng.permutation(scrambled[proteins].to_numpy())
    scrambled["medium"] = "never seen"
    np.testing.assert_array_equal(fitted_risk("passage_only", lots, scrambled), risk)
    later = lots.X.assign(passage=lots.X["passage"] + 3)
    assert not np.allclose(fitted_risk("passage_only", lots, later), risk)


@pytest.mark.parametrize("name", PROTEIN_BASELINES)
def test_protein_baselines_ignore_metadata(name: str, lots: TrainingSet) -> None:
    pipeline = build_baseline(name, metadata=lots.metadata, seed=0).fit(lots.X, lots.y)
    changed = lots.X.assign(passage=99, medium="never seen")
    np.testing.assert_array_equal(
        pipeline.predict_proba(changed)[:, 1], pipeline.predict_proba(lots.X)[:, 1]
    )


def test_same_seed_same_results(
    lots: TrainingSet,
    folds: list[tuple[np.ndarray, np.ndarray]],
    out_of_fold: dict[str, np.ndarray],
) -> None:
    again = cross_validate_baselines(lots, folds, seed=0)
    for name, risk in out_of_fold.items():
        np.testing.assert_array_equal(again[name], risk)


def test_unknown_baseline_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown baseline 'xgboost'"):
        build_baseline("xgboost", metadata=("passage",), seed=0)
