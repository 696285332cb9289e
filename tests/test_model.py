"""Model tier: the pipeline learns, reacts in the right direction, and is reproducible."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from exostab.bundle import ModelBundle
from exostab.config import TrainConfig
from exostab.dataset import TrainingSet
from exostab.features import (
    DetectionFilter,
    LogNormalizer,
    MissingPolicy,
    ModuleScores,
    ProteinScreen,
    transformer_from_state,
    transformer_state,
)
from exostab.model import RiskBands, build_pipeline, raw_score
from exostab.splits import grouped_folds
from exostab.train import train_model


@parametrize_with_checks(
    [
        LogNormalizer(),
        DetectionFilter(min_rate=0.0),
        MissingPolicy(strategy="floor"),
        ModuleScores(panels={"m": ["x0", "x1"]}),
    ]
)
def test_transformers_follow_the_sklearn_contract(estimator, check):
    check(estimator)


def pipeline_for(planted: TrainingSet, cfg: TrainConfig):
    return build_pipeline(cfg, metadata=planted.metadata, categorical=planted.categorical)


def test_pipeline_overfits_a_tiny_set(planted: TrainingSet) -> None:
    cfg = TrainConfig.model_validate(
        {"model": {"n_estimators": 200, "min_child_samples": 2, "colsample_bytree": 1.0}}
    )
    tiny_X, tiny_y = planted.X.iloc[:30], planted.y.iloc[:30]
    pipeline = pipeline_for(planted, cfg).fit(tiny_X, tiny_y)
    predicted = (raw_score(pipeline, tiny_X) > 0).astype(int)
    assert (predicted == tiny_y.to_numpy()).mean() == 1.0


def test_no_donor_on_both_sides_of_a_fold(planted: TrainingSet) -> None:
    plan = grouped_folds(planted.y, planted.groups, scheme="group_kfold", n_splits=4, seed=3)
    groups = planted.groups.to_numpy()
    for train_idx, test_idx in plan.folds:
        assert not set(groups[train_idx]) & set(groups[test_idx])
    tested = np.concatenate([test for _, test in plan.folds])
    assert sorted(tested) == list(range(len(groups)))


@pytest.fixture(scope="module")
def trained(planted: TrainingSet, fast_config: TrainConfig):
    return train_model(planted, fast_config)


def test_grouped_cv_finds_the_planted_signal(trained) -> None:
    assert trained.metrics["cv_roc_auc"] > 0.75
    assert 0 <= trained.metrics["cv_brier"] < 0.25


def test_raising_a_planted_risk_protein_raises_risk(trained, planted: TrainingSet) -> None:
    bundle = ModelBundle.from_training(trained)
    base = planted.X.reset_index()
    raised = base.assign(RISK1=base["RISK1"] * 8)
    before = bundle.predict(base)["risk"].to_numpy()
    after = bundle.predict(raised)["risk"].to_numpy()
    assert np.mean(after >= before) > 0.95
    assert after.mean() > before.mean() + 0.05


def test_lot_and_column_order_do_not_change_risk(trained, planted: TrainingSet) -> None:
    bundle = ModelBundle.from_training(trained)
    table = planted.X.reset_index()
    expected = bundle.predict(table).set_index("lot_id")["risk"]
    shuffled = table.sample(frac=1, random_state=1)
    shuffled = shuffled[list(shuffled.columns[::-1])]
    got = bundle.predict(shuffled).set_index("lot_id")["risk"]
    pd.testing.assert_series_equal(got.loc[expected.index], expected)


def test_an_irrelevant_field_leaves_risk_unchanged(trained, planted: TrainingSet) -> None:
    bundle = ModelBundle.from_training(trained)
    table = planted.X.reset_index()
    expected = bundle.predict(table)["risk"]
    got = bundle.predict(table.assign(operator="someone", notes="irrelevant"))["risk"]
    pd.testing.assert_series_equal(got, expected)


def test_same_seed_same_model_and_risks(planted: TrainingSet, fast_config: TrainConfig) -> None:
    first = train_model(planted, fast_config)
    second = train_model(planted, fast_config)
    assert first.metrics == second.metrics
    assert (
        first.pipeline[-1].booster_.model_to_string()
        == second.pipeline[-1].booster_.model_to_string()
    )
    np.testing.assert_array_equal(first.oof_risk, second.oof_risk)


def test_bundle_replays_the_pipeline_exactly(trained, planted: TrainingSet, tmp_path) -> None:
    bundle = ModelBundle.from_training(trained)
    reloaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    table = planted.X.reset_index()
    expected = trained.calibrator.risk(raw_score(trained.pipeline, planted.X))
    np.testing.assert_allclose(reloaded.predict(table)["risk"], expected, rtol=1e-12)


def test_contributions_add_up_to_the_raw_score(trained, planted: TrainingSet) -> None:
    bundle = ModelBundle.from_training(trained)
    features = bundle.transform(bundle.model_inputs(planted.X.reset_index()))
    raw, contributions = bundle.raw_and_contributions(features)
    np.testing.assert_allclose(contributions.sum(axis=1), raw_score(trained.pipeline, planted.X))
    np.testing.assert_allclose(raw, raw_score(trained.pipeline, planted.X))


def test_pred_contrib_equals_shap_tree_explainer(trained, planted: TrainingSet) -> None:
    shap = pytest.importorskip("shap")
    bundle = ModelBundle.from_training(trained)
    features = bundle.transform(bundle.model_inputs(planted.X.reset_index()))[bundle.feature_names]
    _, contributions = bundle.raw_and_contributions(features)
    explained = shap.TreeExplainer(trained.pipeline[-1]).shap_values(features)
    values = explained[1] if isinstance(explained, list) else explained
    np.testing.assert_allclose(values, contributions[:, :-1], atol=1e-8)


def test_transformer_state_round_trip(trained, planted: TrainingSet) -> None:
    X = planted.X
    for _, step in trained.pipeline.steps[:-1]:
        rebuilt = transformer_from_state(transformer_state(step))
        pd.testing.assert_frame_equal(rebuilt.transform(X), step.transform(X))
        X = step.transform(X)


def test_risk_bands_follow_the_costs() -> None:
    bands = RiskBands.from_costs(cost_release=4.0, cost_reject=1.0, low_factor=0.5)
    assert bands.threshold == pytest.approx(0.2)
    assert list(bands.band(np.array([0.05, 0.1, 0.19, 0.2, 0.9]))) == [
        "low",
        "review",
        "review",
        "high",
        "high",
    ]


def test_invalid_rows_get_an_error_not_a_failed_batch(trained, planted: TrainingSet) -> None:
    bundle = ModelBundle.from_training(trained)
    table = planted.X.reset_index().head(6).astype(object)
    table.loc[1, "passage"] = -2
    table.loc[2, "RISK1"] = "abc"
    table.loc[3, "lot_id"] = table.loc[4, "lot_id"]
    table.loc[5, [c for c in planted.proteins.index]] = np.nan
    answer = bundle.predict(table)
    assert len(answer) == 6
    assert answer["error"].isna().tolist() == [True, False, False, False, False, False]
    assert "passage" in answer.loc[1, "error"]
    assert "text" in answer.loc[2, "error"]
    assert answer.loc[3, "error"] == answer.loc[4, "error"] == "duplicate lot_id"
    assert "no protein" in answer.loc[5, "error"]
    assert 0 <= answer.loc[0, "risk"] <= 1


def test_nested_tuning_searches_each_fold_and_the_final_fit(planted: TrainingSet) -> None:
    cfg = TrainConfig.model_validate(
        {
            "model": {"n_estimators": 30},
            "cv": {"n_splits": 3, "naive_gap": False},
            "tuning": {"trials": 2, "inner_splits": 2},
        }
    )
    result = train_model(planted, cfg)
    scopes = sorted({trial.scope for trial in result.trials})
    assert scopes == ["final", "fold0", "fold1", "fold2"]
    assert len(result.trials) == 8
    assert all(0 <= trial.value <= 1 for trial in result.trials)
    assert result.final_config is not None
    chosen = result.final_config.model.learning_rate
    assert chosen != cfg.model.learning_rate  # the final fit uses the searched settings


def test_naive_lot_level_cv_gap_is_reported(trained) -> None:
    assert "naive_cv_roc_auc" in trained.metrics
    gap = trained.metrics["naive_cv_roc_auc"] - trained.metrics["cv_roc_auc_uncalibrated"]
    assert trained.metrics["naive_cv_gap"] == pytest.approx(gap)


def test_a_scrambled_lot_lies_outside_the_training_domain(trained, planted: TrainingSet) -> None:
    bundle = ModelBundle.from_training(trained)
    table = planted.X.reset_index()
    answer = bundle.predict(table)
    assert answer["in_domain"].astype(bool).mean() > 0.9
    rng = np.random.default_rng(0)
    proteins = list(planted.proteins.index)
    strange = table.head(3).copy()
    strange[proteins] = strange[proteins].to_numpy() * 2.0 ** rng.normal(0, 4, (3, len(proteins)))
    flagged = bundle.predict(strange)
    assert not flagged["in_domain"].astype(bool).any()
    assert (flagged["domain_score"] > 1).all()


def test_time_ordered_folds_train_only_on_earlier_lots_of_other_donors(planted) -> None:
    order = pd.Series(np.arange(len(planted.y))[::-1], index=planted.y.index)  # last lot first
    plan = grouped_folds(
        planted.y, planted.groups, scheme="time_ordered", n_splits=3, seed=0, order=order
    )
    groups = planted.groups.to_numpy()
    assert plan.folds
    for train_idx, test_idx in plan.folds:
        assert order.iloc[train_idx].max() < order.iloc[test_idx].min()
        assert not set(groups[train_idx]) & set(groups[test_idx])


def test_time_ordered_training_reports_metrics_on_tested_lots(planted) -> None:
    cfg = TrainConfig.model_validate(
        {
            "model": {"n_estimators": 40},
            "cv": {"scheme": "time_ordered", "time_column": "t", "n_splits": 3, "naive_gap": False},
        }
    )
    order = pd.Series(np.arange(len(planted.y)), index=planted.y.index)
    result = train_model(replace(planted, order=order), cfg)
    n_tested = result.metrics["cv_n_tested"]
    assert 0 < n_tested < len(planted.y)  # the first block is never tested
    assert result.oof_risk.isna().sum() == len(planted.y) - n_tested
    assert 0 <= result.metrics["cv_roc_auc"] <= 1


def test_time_ordered_scheme_needs_a_time_column() -> None:
    with pytest.raises(ValueError, match="time_column"):
        TrainConfig.model_validate({"cv": {"scheme": "time_ordered"}})


def test_residuals_remove_the_line_on_the_covariate() -> None:
    from exostab.features import _residuals

    passage = np.array([2.0, 4.0, 6.0, 8.0])
    values = np.column_stack([2 * passage + 1, [1.0, np.nan, 3.0, 4.0]])
    residuals = _residuals(values, passage)
    np.testing.assert_allclose(residuals[:, 0], 0.0, atol=1e-12)
    assert np.isnan(residuals[1, 1])
    # column 2 on the lots measured: x = 2, 6, 8 → y = 1, 3, 4 (slope 0.5, intercept 0)
    np.testing.assert_allclose(residuals[[0, 2, 3], 1], [0.0, 0.0, 0.0], atol=1e-12)


def test_passage_adjusted_screen_prefers_signal_beyond_passage() -> None:
    rng = np.random.default_rng(0)
    passage = rng.integers(2, 12, 400).astype(float)
    cause = rng.normal(0, 1, 400)
    risk = 0.5 * (passage - 7) + 1.5 * cause
    y = (risk + rng.normal(0, 1, 400) > 0).astype(int)
    frame = pd.DataFrame(
        {
            "passage": passage,
            "passenger": passage + rng.normal(0, 0.1, 400),  # tracks passage, no own effect
            "cause": cause + 0.1 * passage,
        }
    )
    adjusted = ProteinScreen(metadata=("passage",), top_k=1, adjust_for="passage").fit(frame, y)
    assert adjusted.columns_out_ == ["passage", "cause"]
