"""Passage trajectory and cell-bank forecast: unit, model and determinism tiers."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exostab.config import TrainConfig
from exostab.dataset import TrainingSet, content_hash
from exostab.errors import InputError
from exostab.forecast import attach_trajectory, bank_line, forecast_bank, parse_passages
from exostab.model.bundle import ModelBundle
from exostab.model.trajectory import (
    X_DEGREE,
    DonorPosterior,
    Trajectory,
    _Moments,
    _pooled_rss,
    fit_trajectory,
    passage_design,
)
from exostab.training.nested_cv import train_model

PASSAGES = list(range(2, 16))


def senescence_lots(
    n_donors: int = 24, lots_per_donor: int = 8, n_noise: int = 30, seed: int = 0
) -> TrainingSet:
    """Planted banks: each donor's senescence rate sets how fast SASP1 rises and FUNC1 falls.

    log2 SASP1 = 20 + offset + rate_d · passage; FUNC1 falls at 0.6 × that rate; a lot is
    unstable with probability logistic(2·(SASP1 − 22.5) − 1.2·(20 − FUNC1)). The other
    proteins are noise around a donor offset.
    """
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.1, 0.6, n_donors)
    rows = []
    for d in range(n_donors):
        for p in rng.choice(np.arange(2, 13), lots_per_donor):
            rows.append((f"D{d:02d}", int(p), rate[d]))
    donors = np.array([r[0] for r in rows])
    passage = np.array([r[1] for r in rows])
    rates = np.array([r[2] for r in rows])
    n_lots = len(rows)
    names = ["SASP1", "FUNC1"] + [f"P{j:03d}" for j in range(n_noise)]
    offset = {d: rng.normal(0, 0.3, len(names)) for d in np.unique(donors)}
    log2 = 20 + rng.normal(0, 0.15, (n_lots, len(names)))
    log2 += np.array([offset[d] for d in donors])
    log2[:, 0] += rates * passage
    log2[:, 1] -= 0.6 * rates * passage
    logit = 2.0 * (log2[:, 0] - 22.5) - 1.2 * (20 - log2[:, 1])
    y = (rng.random(n_lots) < 1 / (1 + np.exp(-logit))).astype(int)
    lot_ids = pd.Index([f"L{i:04d}" for i in range(n_lots)], name="lot_id")
    X = pd.concat(
        [
            pd.DataFrame({"passage": passage}, index=lot_ids),
            pd.DataFrame(2.0**log2, index=lot_ids, columns=names),
        ],
        axis=1,
    )
    proteins = pd.DataFrame(
        {"input_name": names, "leading_accession": np.nan, "gene": names, "description": np.nan},
        index=pd.Index(names, name="feature"),
    )
    y_series = pd.Series(y, index=lot_ids, name="unstable")
    return TrainingSet(
        X=X,
        y=y_series,
        groups=pd.Series(donors, index=lot_ids, name="donor_id"),
        proteins=proteins,
        metadata=("passage",),
        categorical=(),
        fingerprint={"data_hash": content_hash(X, y_series), "n_lots": n_lots},
    )


@pytest.fixture(scope="module")
def banks() -> TrainingSet:
    return senescence_lots()


@pytest.fixture(scope="module")
def bundle(banks: TrainingSet) -> ModelBundle:
    cfg = TrainConfig.model_validate(
        {
            "model": {"max_rounds": 80, "learning_rate": 0.1, "min_child_samples": 10},
            "data": {"metadata_features": ["passage"]},
            "search": {"candidates": [{"learner": "trees", "screen_top_k": 50}]},
            "features": {"module_scores": False},
            "cv": {"n_splits": 4, "naive_gap": False, "baselines": False},
        }
    )
    result = train_model(banks, cfg)
    return attach_trajectory(ModelBundle.from_training(result), banks)


def bank_table(
    names: list[str],
    passages: list[int],
    rate: float,
    offset: float = 0.0,
    seed: int = 1,
    prefix: str = "X",
) -> pd.DataFrame:
    """A new bank's measured lots as a scoring table (raw intensities)."""
    rng = np.random.default_rng(seed)
    p = np.asarray(passages, dtype=float)
    log2 = 20 + offset + rng.normal(0, 0.15, (len(p), len(names)))
    log2[:, 0] += rate * p
    log2[:, 1] -= 0.6 * rate * p
    table = pd.DataFrame(2.0**log2, columns=names)
    table.insert(0, "passage", p.astype(int))
    table.insert(0, "lot_id", [f"{prefix}{i}" for i in range(len(p))])
    return table


def input_names(bundle: ModelBundle) -> list[str]:
    return list(bundle.proteins["input_name"].astype(str))


# --- trajectory: unit tier -----------------------------------------------------------------


def test_em_recovers_planted_slopes_and_variances() -> None:
    """Known population slopes, donor-offset sd 0.5 and lot sd 0.2 come back from the fit."""
    rng = np.random.default_rng(3)
    n_donors, per_donor, n_proteins = 40, 6, 20
    donor = np.repeat([f"D{d}" for d in range(n_donors)], per_donor)
    passage = rng.integers(2, 13, len(donor)).astype(float)
    slope = np.linspace(-0.3, 0.3, n_proteins)
    offsets = rng.normal(0, 0.5, (n_donors, n_proteins))
    log2 = (
        22
        + np.outer(passage, slope)
        + np.repeat(offsets, per_donor, axis=0)
        + rng.normal(0, 0.2, (len(donor), n_proteins))
    )
    frame = pd.DataFrame(log2, columns=[f"P{j}" for j in range(n_proteins)])
    fitted = fit_trajectory(frame, pd.Series(passage), pd.Series(donor))
    per_passage = fitted.beta[:, 1] / fitted.scale
    assert np.allclose(per_passage, slope, atol=0.03)
    assert np.median(np.sqrt(fitted.tau2[:, 0])) == pytest.approx(0.5, abs=0.08)
    assert np.median(np.sqrt(fitted.sigma2)) == pytest.approx(0.2, abs=0.03)
    assert np.median(fitted.tau2[:, 1]) < 0.01  # no donor slopes were planted


def test_the_per_bank_sums_equal_the_lot_level_sums_with_missing_lots() -> None:
    """The EM works on Σ over a bank's observed lots; they must equal the lot-level products."""
    rng = np.random.default_rng(5)
    n_lots, n_proteins = 30, 4
    donor = rng.integers(0, 5, n_lots)
    one_hot = np.eye(5)[donor]
    t = rng.normal(0, 1, n_lots)
    y = rng.normal(0, 1, (n_lots, n_proteins))
    mask = rng.random((n_lots, n_proteins)) > 0.3
    moments = _Moments.of(one_hot, mask, np.where(mask, y, 0.0), t)
    X, Z = passage_design(t)
    for d in range(5):
        for j in range(n_proteins):
            rows = (donor == d) & mask[:, j]
            zx = Z[rows].T @ X[rows]
            assert np.allclose(moments.block(np.array([0, 1]), X_DEGREE)[d, j], zx)
            assert np.allclose(moments.y_power[d, j], X[rows].T @ y[rows, j])
            assert moments.yy[d, j] == pytest.approx(float(y[rows, j] @ y[rows, j]))
    beta = rng.normal(0, 1, (n_proteins, 3))
    xtx = moments.block(X_DEGREE, X_DEGREE).sum(axis=0)
    xy = moments.y_power.sum(axis=0)
    direct = [np.sum((y[mask[:, j], j] - X[mask[:, j]] @ beta[j]) ** 2) for j in range(n_proteins)]
    assert np.allclose(_pooled_rss(beta, xy, xtx, moments.yy.sum(axis=0)), direct)


def test_the_fit_does_not_depend_on_the_order_of_the_lots() -> None:
    rng = np.random.default_rng(11)
    n_lots, n_proteins = 60, 12
    donor = pd.Series(rng.integers(0, 10, n_lots).astype(str))
    passage = pd.Series(rng.integers(2, 13, n_lots).astype(float))
    log2 = pd.DataFrame(
        20 + 0.2 * passage.to_numpy()[:, None] + rng.normal(0, 0.5, (n_lots, n_proteins)),
        columns=[f"P{j}" for j in range(n_proteins)],
    )
    log2 = log2.mask(rng.random(log2.shape) < 0.1)
    first = fit_trajectory(log2, passage, donor)
    order = rng.permutation(n_lots)
    second = fit_trajectory(log2.iloc[order], passage.iloc[order], donor.iloc[order])
    for name in ("beta", "tau2", "sigma2", "unique2"):
        assert np.allclose(getattr(first, name), getattr(second, name), rtol=1e-6, atol=1e-9)


def test_projected_lots_miss_about_as_often_as_the_training_lots() -> None:
    """Detection falls off smoothly with abundance (as in DIA/DDA): the projection's NaN share
    follows the training lots', not only the values below the lowest one ever detected."""
    rng = np.random.default_rng(8)
    n_donors, per_donor, n_proteins = 30, 8, 10
    donor = np.repeat([f"D{d}" for d in range(n_donors)], per_donor)
    passage = rng.integers(2, 13, len(donor)).astype(float)
    log2 = (
        np.linspace(17, 21, n_proteins)
        - 0.1 * passage[:, None]
        + np.repeat(rng.normal(0, 0.4, (n_donors, n_proteins)), per_donor, axis=0)
        + rng.normal(0, 0.4, (len(donor), n_proteins))
    )
    detected = rng.random(log2.shape) < 1 / (1 + np.exp(-(log2 - 17.5) / 0.4))
    frame = pd.DataFrame(np.where(detected, log2, np.nan), columns=[f"P{j}" for j in range(10)])
    trajectory = fit_trajectory(frame, pd.Series(passage), pd.Series(donor))
    prior = np.stack([np.diag(tau) for tau in trajectory.tau2])
    population = DonorPosterior(mean=np.zeros((n_proteins, 2)), cov=prior)
    _, draws = trajectory.project(
        population, passage, 20, np.random.default_rng(0), lots_per_draw=1
    )
    missing = 1 - detected.mean(axis=0)
    projected = np.isnan(draws).mean(axis=(0, 1, 2))
    often = missing > 0.05
    assert often.sum() >= 3
    assert np.allclose(projected[often], missing[often], rtol=0.35)
    assert np.all(np.isnan(trajectory.floor[missing < 0.01]))


def test_a_single_lot_is_shrunk_toward_the_population_by_the_variance_ratio() -> None:
    """Intercept-only donor term: posterior offset = τ²/(τ² + σ²) × the lot's residual."""
    trajectory = Trajectory(
        proteins=["A"],
        centre=5.0,
        scale=1.0,
        beta=np.array([[20.0, 0.5, 0.0]]),
        quadratic=np.array([False]),
        tau2=np.array([[0.3, 1e-9]]),
        sigma2=np.array([0.1]),
        loadings=np.zeros((1, 0)),
        unique2=np.array([0.1]),
        floor=np.array([np.nan]),
        n_lots=10,
        n_donors=2,
    )
    posterior = trajectory.posterior(np.array([[22.0]]), np.array([7.0]))  # population: 21.0
    assert posterior.mean[0, 0] == pytest.approx(0.3 / 0.4 * 1.0, rel=1e-6)
    assert posterior.cov[0, 0, 0] == pytest.approx(1 / (1 / 0.1 + 1 / 0.3), rel=1e-6)
    two = trajectory.posterior(np.array([[22.0], [22.5]]), np.array([7.0, 6.0]))
    # residuals 1.0 (P7) and 2.0 (P6, population 20.5): mean 1.5 over two lots
    assert two.mean[0, 0] == pytest.approx(0.3 / (0.3 + 0.1 / 2) * 1.5, rel=1e-6)


def test_trajectory_json_round_trip(bundle: ModelBundle, tmp_path: Path) -> None:
    trajectory = bundle.trajectory
    assert trajectory is not None
    again = Trajectory.from_dict(json.loads(json.dumps(trajectory.to_dict(), allow_nan=False)))
    for name in ("beta", "tau2", "sigma2", "loadings", "unique2", "floor", "quadratic"):
        assert np.array_equal(getattr(again, name), getattr(trajectory, name), equal_nan=True)
    assert again.proteins == trajectory.proteins
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "trajectory.json").exists()
    table = bank_table(input_names(bundle), [3, 5], rate=0.3)
    first = forecast_bank(bundle, "X", table, PASSAGES, n_draws=15)
    second = forecast_bank(loaded, "X", table, PASSAGES, n_draws=15)
    pd.testing.assert_frame_equal(first.curve, second.curve)


def test_a_bundle_without_trajectory_is_saved_and_loaded_without_one(
    bundle: ModelBundle, tmp_path: Path
) -> None:
    plain = replace(bundle, trajectory=None)
    loaded = ModelBundle.load(plain.save(tmp_path / "plain"))
    assert loaded.trajectory is None
    with pytest.raises(InputError, match="no passage trajectory"):
        forecast_bank(loaded, "X", bank_table(input_names(bundle), [3], 0.3), PASSAGES)


def test_donor_slopes_are_learnt_where_the_data_support_them(bundle: ModelBundle) -> None:
    trajectory = bundle.trajectory
    assert trajectory is not None
    slope_sd = dict(zip(trajectory.proteins, np.sqrt(trajectory.tau2[:, 1]), strict=True))
    noise = np.median([v for k, v in slope_sd.items() if k.startswith("P")])
    assert slope_sd["SASP1"] > 5 * noise and slope_sd["SASP1"] > 0.1


@pytest.mark.parametrize("text", ["2-", "15-2", "a-b", "2-500", "2-51", ""])
def test_bad_passage_ranges_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="--passages"):
        parse_passages(text)


def test_passage_ranges_are_read() -> None:
    assert parse_passages("2-5") == [2, 3, 4, 5]
    assert parse_passages(" 8 ") == [8]
    assert parse_passages("45-50")[-1] == 50  # the lot sheet's bound: a projected lot is a lot


# --- forecast: model tier ------------------------------------------------------------------


def test_a_faster_senescing_bank_gets_an_earlier_last_safe_passage(bundle: ModelBundle) -> None:
    names = input_names(bundle)
    slow = forecast_bank(bundle, "slow", bank_table(names, [3, 5, 7], rate=0.15), PASSAGES)
    fast = forecast_bank(bundle, "fast", bank_table(names, [3, 5, 7], rate=0.5), PASSAGES)
    slow_safe = slow.summary["last_safe_passage"]
    fast_safe = fast.summary["last_safe_passage"]
    assert slow_safe is not None
    assert fast_safe is None or int(fast_safe) < int(slow_safe)  # type: ignore[call-overload]
    at_12 = PASSAGES.index(12)
    assert fast.curve["risk"].iloc[at_12] > slow.curve["risk"].iloc[at_12] + 0.2
    assert "SASP1" in str(fast.summary["drivers"]) or "FUNC1" in str(fast.summary["drivers"])


def test_risk_rises_with_passage_and_the_interval_holds_the_risk(bundle: ModelBundle) -> None:
    bank = forecast_bank(bundle, "X", bank_table(input_names(bundle), [3, 5], 0.35), PASSAGES)
    curve = bank.curve
    assert curve["risk"].iloc[-1] > curve["risk"].iloc[0]
    assert (curve["risk_low"] <= curve["risk"]).all()
    assert (curve["risk"] <= curve["risk_high"]).all()
    assert (curve["risk_high"] - curve["risk_low"]).max() > 0.01  # the interval is not empty
    assert curve["measured"].tolist() == [p in (3, 5) for p in PASSAGES]


def test_the_forecast_at_a_measured_passage_is_close_to_scoring_the_measured_lots(
    bundle: ModelBundle,
) -> None:
    names = input_names(bundle)
    for rate in (0.2, 0.45):
        table = bank_table(names, [4, 6, 6, 6, 6, 8], rate=rate, seed=5)
        measured = bundle.predict(table)
        at_6 = measured.loc[table["passage"] == 6, "risk"].mean()
        bank = forecast_bank(bundle, "X", table, PASSAGES, n_draws=100)
        forecast_6 = bank.curve.set_index("passage").loc[6, "risk"]
        assert forecast_6 == pytest.approx(at_6, abs=0.1)


def test_a_bank_given_in_another_lot_order_gets_the_same_forecast(bundle: ModelBundle) -> None:
    table = bank_table(input_names(bundle), [3, 4, 6, 9], rate=0.3)
    first = forecast_bank(bundle, "X", table, PASSAGES, n_draws=15)
    shuffled = table.sample(frac=1, random_state=4)
    shuffled = shuffled[[shuffled.columns[0], *shuffled.columns[1:][::-1]]]  # columns too
    second = forecast_bank(bundle, "X", shuffled, PASSAGES, n_draws=15)
    pd.testing.assert_frame_equal(first.curve, second.curve)
    assert first.summary == second.summary


def test_same_seed_same_forecast_other_seed_other_draws(bundle: ModelBundle) -> None:
    table = bank_table(input_names(bundle), [3, 6], rate=0.3)
    first = forecast_bank(bundle, "X", table, PASSAGES, n_draws=15, seed=11)
    again = forecast_bank(bundle, "X", table, PASSAGES, n_draws=15, seed=11)
    other = forecast_bank(bundle, "X", table, PASSAGES, n_draws=15, seed=12)
    pd.testing.assert_frame_equal(first.curve, again.curve)
    assert first.summary == again.summary
    assert not np.allclose(first.curve["risk_high"], other.curve["risk_high"])


def test_a_grid_that_ends_at_or_below_the_latest_measured_passage_is_no_forecast(
    bundle: ModelBundle,
) -> None:
    """`--passages 3-3` for a bank measured up to P10 said "last safe passage P3" as if the
    bank could still be expanded to P3: a passage it has passed is not a forecast."""
    table = bank_table(input_names(bundle), [3, 6, 10], rate=0.2)
    for grid in ([3], list(range(2, 11))):
        bank = forecast_bank(bundle, "X", table, grid, n_draws=10)
        assert bank.summary["last_safe_passage"] is None
        assert bank.summary["last_measured_passage"] == 10
        reason = str(bank.summary["reason"])
        assert reason.startswith("measured up to P10") and "nothing to forecast" in reason
        assert not bank.curve["beyond_measured"].any()
        row = pd.Series(bank.summary).to_frame().T.itertuples(index=False)
        assert bank_line(next(row)).startswith("last safe passage —  (measured up to P10")
    ahead = forecast_bank(bundle, "X", table, PASSAGES, n_draws=10)
    assert ahead.curve["beyond_measured"].tolist() == [p > 10 for p in PASSAGES]
    assert ahead.summary["reason"] == "" or ahead.summary["last_safe_passage"] is None


@pytest.mark.parametrize(("rate", "measured"), [(0.5, [3, 8, 12]), (0.15, [3, 5, 7])])
def test_a_bank_measured_past_the_hold_line_is_said_to_be_past_its_last_safe_passage(
    bundle: ModelBundle, rate: float, measured: list[int]
) -> None:
    bank = forecast_bank(bundle, "X", bank_table(input_names(bundle), measured, rate), PASSAGES)
    curve = bank.curve.set_index("passage")
    over = curve.index[curve["risk_high"] >= bundle.bands.threshold]
    past = len(over) > 0 and over[0] <= max(measured)
    assert past == (rate == 0.5)  # the fast bank is over the line by P12, the slow one is not
    note = str(bank.summary["note"])
    if past:
        assert note.startswith(f"already measured at P{max(measured)}: past its last safe")
        assert "hold line" not in note  # said once, in drivers
        assert f"over the hold line at P{over[0]}" in str(bank.summary["drivers"])
        line = bank_line(next(pd.Series(bank.summary).to_frame().T.itertuples(index=False)))
        said_twice = {over[0], max(measured)}  # the hold line, the latest measured passage
        for passage in said_twice:  # each said once (twice if they are one passage)
            assert len(re.findall(rf"\bP{passage}\b", line)) == 3 - len(said_twice)
    else:
        assert note == ""
