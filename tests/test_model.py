"""Model tier: the model learns, reacts in the right direction, explains exactly, reproduces."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from conftest import planted_lots
from exostab.config import Candidate, TrainConfig
from exostab.dataset import TrainingSet
from exostab.model.bundle import ModelBundle
from exostab.model.calibration import RiskBands, cross_fitted_risk, fit_calibrator_method
from exostab.model.evaluate import rank_auroc
from exostab.model.features import (
    DetectionFilter,
    LogNormalizer,
    MissingPolicy,
    ModuleScores,
    ProteinScreen,
    transformer_from_state,
    transformer_state,
)
from exostab.model.pipeline import build_pipeline, log_odds
from exostab.model.risk_model import PriorBoostedClassifier
from exostab.model.splits import grouped_folds
from exostab.training.nested_cv import _fit_fold, cross_validate, train_model


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


def pipeline_for(planted: TrainingSet, cfg: TrainConfig, learner: str, rounds: int = 60):
    return build_pipeline(
        cfg,
        Candidate(learner=learner),
        metadata=planted.metadata,
        categorical=planted.categorical,
        n_lots=len(planted.y),
        n_rounds=rounds,
    )


def test_pipeline_overfits_a_tiny_set(planted: TrainingSet) -> None:
    cfg = TrainConfig.model_validate({"model": {"colsample_bytree": 1.0, "learning_rate": 0.3}})
    tiny_X, tiny_y = planted.X.iloc[:30], planted.y.iloc[:30]
    pipeline = pipeline_for(planted, cfg, "trees", rounds=200).fit(tiny_X, tiny_y)
    predicted = (log_odds(pipeline, tiny_X) > 0).astype(int)
    assert (predicted == tiny_y.to_numpy()).mean() == 1.0


@pytest.mark.parametrize("learner", ["prior", "trees", "linear", "blend"])
def test_attributions_sum_exactly_to_the_log_odds(
    learner: str, planted: TrainingSet, fast_config: TrainConfig
) -> None:
    pipeline = pipeline_for(planted, fast_config, learner).fit(planted.X, planted.y)
    features = pipeline[:-1].transform(planted.X)
    model = pipeline[-1]
    contributions = model.contributions(features)
    assert contributions.shape == (len(planted.y), len(model.feature_names) + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), log_odds(pipeline, planted.X))
    # ... and to the log-odds computed another way, not from the attributions: the prior's
    # log-odds, plus the trees' raw score (LightGBM predict, boosted from the prior) and the
    # ridge part's linear predictor, weighted as the blend weighs them.
    w_trees, w_linear = model.weights
    reference = model.prior_log_odds(features)
    if learner in ("trees", "blend"):
        assert model.booster_ is not None and w_trees > 0
        reference = reference + w_trees * model.booster_.predict(
            model.tree_values(features), raw_score=True
        )
    if learner in ("linear", "blend"):
        assert w_linear > 0
        values = model._standardised(model._protein_values(features))
        reference = reference + w_linear * (
            model.linear_intercept_ + values @ np.asarray(model.linear_coef_)
        )
    np.testing.assert_allclose(contributions.sum(axis=1), reference, atol=1e-9)
    # The prior's passage term is exact and linear: coefficient × standardised passage.
    passage = model.feature_names.index("passage")
    slope = np.polyfit(planted.X["passage"], contributions[:, passage], 1)[0]
    assert slope > 0  # the planted risk rises with passage
    np.testing.assert_allclose(
        contributions[:, passage],
        slope * (planted.X["passage"] - planted.X["passage"].mean()),
        atol=1e-9,
    )
    if learner == "prior":
        assert np.all(contributions[:, len(model.prior_columns_) : -1] == 0)
    else:
        assert np.abs(contributions[:, len(model.prior_columns_) : -1]).sum() > 0


def test_the_protein_part_learns_only_what_the_prior_cannot(planted: TrainingSet) -> None:
    """With passage alone driving the label, a protein that tracks passage earns little.

    RISK1 rises with passage in the planted lots. Without passage in the prior, the linear
    protein part leans on RISK1 as a stand-in for passage; with passage in the prior, it has
    nothing left to explain there.
    """
    rng = np.random.default_rng(3)
    passage = planted.X["passage"].to_numpy()
    y = pd.Series(
        (rng.random(len(passage)) < 1 / (1 + np.exp(-(passage - 7)))).astype(int),
        index=planted.y.index,
    )
    cfg = TrainConfig()

    def risk1_weight(metadata: tuple[str, ...]) -> float:
        pipeline = build_pipeline(
            cfg,
            Candidate(learner="linear"),
            metadata=metadata,
            categorical=(),
            n_lots=len(y),
        )
        X = planted.X.drop(columns=[c for c in planted.metadata if c not in metadata])
        pipeline.fit(X, y)
        model = pipeline[-1]
        contributions = model.contributions(pipeline[:-1].transform(X))
        return float(np.abs(contributions[:, model.feature_names.index("RISK1")]).mean())

    assert risk1_weight(("passage",)) < 0.5 * risk1_weight(())


def test_model_state_round_trips_through_json(planted: TrainingSet, fast_config) -> None:
    import json

    pipeline = pipeline_for(planted, fast_config, "blend").fit(planted.X, planted.y)
    features = pipeline[:-1].transform(planted.X)
    rebuilt = PriorBoostedClassifier.from_state(json.loads(json.dumps(pipeline[-1].to_state())))
    np.testing.assert_array_equal(
        rebuilt.contributions(features), pipeline[-1].contributions(features)
    )


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
    assert trained.choice.candidate.learner != "prior"  # the proteins earned their place
    assert trained.verdict.gain_low > 0
    assert trained.verdict.champion_eligible


def test_each_outer_fold_chooses_its_structure_on_its_own_lots(trained) -> None:
    assert len(trained.fold_choices) == len(trained.plan.folds) == 4
    for choice in trained.fold_choices:
        assert choice.inner_loss  # an inner CV ran
        assert choice.candidate.label in choice.inner_loss
        assert min(choice.inner_loss.values()) == choice.inner_loss[choice.candidate.label]
    assert [m["chosen"] for m in trained.fold_metrics] == [c.label for c in trained.fold_choices]


def test_driver_stability_counts_the_folds(trained) -> None:
    stability = trained.driver_stability
    assert ((stability > 0) & (stability <= 1)).all()
    assert stability.get("RISK1", 0) == 1.0  # the planted driver is in every fold's top k


def test_raising_a_planted_risk_protein_raises_risk(trained, planted: TrainingSet) -> None:
    bundle = ModelBundle.from_training(trained)
    base = planted.X.reset_index()
    raised = base.assign(RISK1=base["RISK1"] * 8)
    before = bundle.predict(base)["risk"].to_numpy()
    after = bundle.predict(raised)["risk"].to_numpy()
    assert np.mean(after >= before) > 0.95
    assert np.mean(after > before) > 0.5  # not a no-op: most lots move
    assert after.mean() > before.mean() + 0.03


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
    assert first.pipeline[-1].to_state() == second.pipeline[-1].to_state()
    np.testing.assert_array_equal(first.oof_risk, second.oof_risk)


def test_bundle_replays_the_pipeline_exactly(trained, planted: TrainingSet, tmp_path) -> None:
    bundle = ModelBundle.from_training(trained)
    reloaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    table = planted.X.reset_index()
    expected = trained.calibrator.risk(log_odds(trained.pipeline, planted.X))
    np.testing.assert_allclose(reloaded.predict(table)["risk"], expected, rtol=1e-12)


def test_contributions_add_up_to_the_raw_score(trained, planted: TrainingSet) -> None:
    bundle = ModelBundle.from_training(trained)
    features = bundle.transform(bundle.model_inputs(planted.X.reset_index()))
    raw, contributions = bundle.raw_and_contributions(features)
    np.testing.assert_allclose(contributions.sum(axis=1), log_odds(trained.pipeline, planted.X))
    np.testing.assert_allclose(raw, log_odds(trained.pipeline, planted.X))


def test_tree_contributions_equal_shap_tree_explainer(planted: TrainingSet, fast_config) -> None:
    shap = pytest.importorskip("shap")
    pipeline = pipeline_for(planted, fast_config, "trees").fit(planted.X, planted.y)
    model = pipeline[-1]
    features = pipeline[:-1].transform(planted.X)
    explained = shap.TreeExplainer(model.booster_).shap_values(features[model.tree_features_])
    values = explained[1] if isinstance(explained, list) else explained
    contributions = model.contributions(features)
    n_prior, n_proteins = len(model.prior_columns_), len(model.protein_features_)
    np.testing.assert_allclose(values[:, :n_proteins], contributions[:, n_prior:-1], atol=1e-8)
    # metadata columns: the prior's exact term plus the trees' TreeSHAP
    tree_metadata = contributions[:, :n_prior] - model.prior_terms(features)
    np.testing.assert_allclose(values[:, n_proteins:], tree_metadata, atol=1e-8)


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


def test_naive_lot_level_cv_gap_is_reported(trained) -> None:
    assert "naive_cv_roc_auc" in trained.metrics
    gap = trained.metrics["naive_cv_roc_auc"] - trained.metrics["cv_roc_auc"]
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
            "model": {"max_rounds": 40},
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
    from exostab.model.features import _residuals

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


def test_anti_informative_scores_stay_below_half_after_calibration() -> None:
    """The calibrator may shrink scores, never flip them: bad stays visibly bad."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    raw = -2.0 * (y - 0.5) + rng.normal(0, 1, 200)  # higher score, *lower* risk
    fold_of = np.arange(200) % 5
    assert rank_auroc(y, raw) < 0.3
    for method in ("platt", "isotonic", "auto"):
        risk = cross_fitted_risk(method, raw, y, fold_of)
        assert rank_auroc(y, risk) < 0.5, method
    platt = fit_calibrator_method("platt", raw, y)
    assert platt.params["a"] > 0


def test_calibration_is_fitted_without_the_lots_it_scores() -> None:
    y = np.array([0, 1] * 10)
    raw = np.where(y == 1, 1.0, -1.0)
    fold_of = np.repeat(np.arange(4), 5)
    # Flip the labels of fold 0 only: a calibrator that saw them would learn a flatter slope.
    flipped = y.copy()
    flipped[fold_of == 0] = 1 - flipped[fold_of == 0]
    risk = cross_fitted_risk("platt", raw, flipped, fold_of)
    reference = cross_fitted_risk("platt", raw, y, fold_of)
    np.testing.assert_allclose(risk[fold_of == 0], reference[fold_of == 0], rtol=1e-6)


def test_a_small_linear_signal_gives_a_non_constant_model() -> None:
    """18 lots (the size of a small EV study), signal linear in one protein, passage constant."""
    small = planted_lots(n_lots=18, n_donors=18, n_proteins=40, seed=5)
    small = replace(
        small,
        X=small.X.drop(columns="medium").assign(passage=0),
        metadata=("passage",),
        categorical=(),
        y=pd.Series(
            (small.X["RISK1"].rank().to_numpy() > 9).astype(int),
            index=small.y.index,
            name="unstable",
        ),
    )
    result = train_model(small, TrainConfig.model_validate({"cv": {"naive_gap": False}}))
    assert result.choice.candidate.learner == "linear"  # no trees below 30 lots
    assert not result.verdict.constant
    assert result.verdict.too_few
    assert result.metrics["cv_roc_auc"] > 0.65


def test_repeated_inner_cv_averages_the_losses_of_its_donor_splits(
    planted: TrainingSet, fast_config: TrainConfig
) -> None:
    from exostab.model.selection import choose_structure

    linear_only = {"candidates": [{"learner": "prior"}, {"learner": "linear", "linear_c": 0.05}]}
    single = fast_config.model_copy(
        update={"search": fast_config.search.model_validate(linear_only)}
    )
    repeated = single.model_copy(
        update={"search": single.search.model_copy(update={"inner_repeats": 3})}
    )
    rows = np.arange(len(planted.y))
    choice = choose_structure(planted, rows, repeated, {})
    # repeat r splits the donors as a single-split run whose seed is 10 r higher
    splits = [
        choose_structure(
            planted, rows, single.model_copy(update={"seed": single.seed + 10 * r}), {}
        )
        for r in range(3)
    ]
    assert len({round(s.inner_loss["prior"], 9) for s in splits}) > 1  # the splits differ
    assert set(choice.inner_loss) == {"prior", single.search.candidates[1].label}
    for label, loss in choice.inner_loss.items():
        assert loss == pytest.approx(np.mean([s.inner_loss[label] for s in splits]))
    assert choice.inner_loss[choice.label] == min(choice.inner_loss.values())
    assert "3 repeats" in choice.reason


def _encoded(planted: TrainingSet) -> pd.DataFrame:
    """The planted lots as the model's last step sees them: passage, medium code, log2."""
    encoded = np.log2(planted.X.drop(columns=["passage", "medium"]))
    encoded.insert(0, "medium", (planted.X["medium"] == "hPL").astype(float))
    encoded.insert(0, "passage", planted.X["passage"].astype(float))
    return encoded


def test_a_blend_without_validated_rounds_keeps_its_linear_weight(planted: TrainingSet) -> None:
    """No rounds: the blend is the mean of the prior and prior + linear (half the linear part)."""
    encoded = _encoded(planted)
    y = planted.y.to_numpy()
    common = {"metadata": ("passage", "medium"), "categorical": ("medium",), "linear_c": 0.05}
    blend = PriorBoostedClassifier(learner="blend", n_rounds=0, **common).fit(encoded, y)
    linear = PriorBoostedClassifier(learner="linear", **common).fit(encoded, y)
    prior = PriorBoostedClassifier(learner="prior", **common).fit(encoded, y)
    assert blend.booster_ is None
    assert blend.weights == (0.0, 0.5)
    expected = 0.5 * prior.decision_function(encoded) + 0.5 * linear.decision_function(encoded)
    np.testing.assert_allclose(blend.decision_function(encoded), expected, atol=1e-9)


@pytest.mark.parametrize("n_rounds", [0, 20])
def test_average_is_the_mean_of_prior_linear_and_blend_and_its_parts_add_up(
    planted: TrainingSet, n_rounds: int
) -> None:
    """``average`` (the fifth comparison's candidate) is the equal-weight mean, in log-odds, of
    the prior, prior + linear and the blend fitted alike; its attributions sum to it."""
    encoded = _encoded(planted)
    y = planted.y.to_numpy()
    common = {
        "metadata": ("passage", "medium"),
        "categorical": ("medium",),
        "linear_c": 0.05,
        "n_rounds": n_rounds,
        "booster_params": {"num_leaves": 4, "min_child_samples": 5, "verbose": -1},
    }
    fitted = {
        learner: PriorBoostedClassifier(learner=learner, **common).fit(encoded, y)
        for learner in ("average", "blend", "linear", "prior")
    }
    average = fitted["average"]
    assert average.weights == ((0.5 / 3, 0.5) if n_rounds else (0.0, 0.5))
    expected = np.mean(
        [fitted[k].decision_function(encoded) for k in ("prior", "linear", "blend")], axis=0
    )
    np.testing.assert_allclose(average.decision_function(encoded), expected, atol=1e-9)
    np.testing.assert_allclose(
        average.contributions(encoded).sum(axis=1), average.decision_function(encoded), atol=1e-6
    )


def test_a_passage_prior_leaves_the_other_metadata_out_of_the_model(
    planted: TrainingSet,
) -> None:
    encoded = _encoded(planted)
    model = PriorBoostedClassifier(
        metadata=("passage", "medium"),
        categorical=("medium",),
        learner="blend",
        prior_features=("passage",),
        n_rounds=20,
        booster_params={"num_leaves": 4, "min_child_samples": 5, "verbose": -1},
    ).fit(encoded, planted.y.to_numpy())
    assert model.prior_columns_ == ["passage"]
    assert "medium" not in model.feature_names
    assert "medium" not in model.tree_features_
    contributions = model.contributions(encoded)
    np.testing.assert_allclose(contributions.sum(axis=1), model.decision_function(encoded))
    # medium carries no weight: flipping it leaves every risk unchanged
    flipped = encoded.assign(medium=1.0 - encoded["medium"])
    unchanged = model.decision_function(encoded)
    np.testing.assert_array_equal(model.decision_function(flipped), unchanged)


def test_too_few_lots_for_trees_turn_each_blend_into_its_linear_part() -> None:
    from exostab.model.selection import eligible_candidates

    blends = [
        {"learner": "blend", "prior": "passage", "linear_c": 0.1},
        {"learner": "blend", "prior": "metadata", "linear_c": 0.1},
    ]
    cfg = TrainConfig.model_validate({"search": {"candidates": blends}})
    few = eligible_candidates(cfg, cfg.search.min_lots_for_trees - 1)
    assert [c.learner for c in few] == ["linear", "linear"]
    assert [c.prior for c in few] == ["passage", "metadata"]
    many = eligible_candidates(cfg, cfg.search.min_lots_for_trees)
    assert [c.learner for c in many] == ["blend", "blend"]


def test_a_candidate_with_its_own_min_lots_is_offered_only_from_that_many_lots() -> None:
    from exostab.model.selection import eligible_candidates

    candidates = [
        {"learner": "prior"},
        {"learner": "prior", "prior": "passage", "min_lots": 40},
        {"learner": "linear", "prior": "passage", "linear_c": 0.1, "min_lots": 40},
    ]
    cfg = TrainConfig.model_validate({"search": {"candidates": candidates}})
    few = eligible_candidates(cfg, 39)
    assert [(c.learner, c.prior) for c in few] == [("prior", "metadata")]
    many = eligible_candidates(cfg, 40)
    assert [(c.learner, c.prior) for c in many] == [
        ("prior", "metadata"), ("prior", "passage"), ("linear", "passage")
    ]  # fmt: skip


def test_every_candidate_withheld_by_min_lots_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """The prior alone is fitted then, with a warning: the config never offered it."""
    from exostab.model.selection import eligible_candidates

    only = [{"learner": "linear", "linear_c": 0.1, "min_lots": 100}]
    cfg = TrainConfig.model_validate({"search": {"candidates": only}})
    with caplog.at_level("WARNING"):
        chosen = eligible_candidates(cfg, 60)
    assert [c.learner for c in chosen] == ["prior"]
    assert "60 training lots: every candidate of search.candidates asks for more" in caplog.text


def test_a_passenger_that_follows_a_driver_joins_its_module() -> None:
    """Proteins moving together are one module under the more important one; others stay apart."""
    from exostab.scoring.explain import group_modules

    rng = np.random.default_rng(0)
    driver = rng.normal(size=200)
    features = pd.DataFrame(
        {
            "DRIVER": driver,
            "PASSENGER": driver + rng.normal(scale=0.2, size=200),  # follows the driver
            "OTHER": rng.normal(size=200),
            "passage": rng.integers(2, 12, 200).astype(float),
        }
    )
    importance = pd.DataFrame(
        {
            "feature": ["PASSENGER", "passage", "DRIVER", "OTHER"],
            "protein": ["PASSENGER", "passage", "DRIVER", "OTHER"],
            "kind": ["protein", "metadata", "protein", "protein"],
            "mean_abs_shap": [0.9, 0.8, 0.5, 0.4],
        }
    )
    modules = group_modules(importance, features, threshold=0.7).set_index("feature")
    assert modules.loc["PASSENGER", "is_module_lead"]
    assert modules.loc["PASSENGER", "module_members"] == "DRIVER"
    assert not modules.loc["DRIVER", "is_module_lead"]
    assert modules.loc["DRIVER", "module_lead"] == "PASSENGER"
    assert modules.loc["OTHER", "is_module_lead"] and modules.loc["OTHER", "module_members"] == ""
    assert modules.loc["passage", "module_lead"] is None  # metadata is not grouped


def test_each_fold_reports_once_as_it_finishes_and_results_keep_their_place(
    trained, planted: TrainingSet, fast_config: TrainConfig
) -> None:
    from joblib import delayed

    messages: list[str] = []
    fixed = trained.choice
    oof, domain, choices, _, others = cross_validate(
        fast_config,
        planted,
        trained.plan.folds,
        {},
        progress=messages.append,
        fixed=fixed,
        alongside=[delayed(int)("7"), delayed(str)(3)],
    )
    n = len(trained.plan.folds)
    assert others == [7, "3"]  # alongside results in their submitted order
    assert [m.split(" done ")[1].split(":")[0] for m in messages] == [
        f"({k}/{n})" for k in range(1, n + 1)
    ]
    assert sorted(int(m.split()[1]) for m in messages) == list(range(1, n + 1))
    assert [c.label for c in choices] == [fixed.label] * n
    tested = np.concatenate([test for _, test in trained.plan.folds])
    assert np.isfinite(oof[tested]).all()
    for train_idx, test_idx in trained.plan.folds:  # each fold's scores on its own lots
        _, scores, distances, _ = _fit_fold(
            fast_config, planted, train_idx, test_idx, {}, False, fixed
        )
        np.testing.assert_array_equal(oof[test_idx], scores)
        np.testing.assert_array_equal(domain[test_idx], distances)
