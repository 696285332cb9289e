"""Unit tier: config values a YAML file or an option can carry that no run can use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from conftest import planted_lots
from exostab.cli import app
from exostab.config import MAX_SEED, Frozen, TrainConfig, load_train_config, takes_yes_no
from exostab.dataset import TrainingSet
from exostab.errors import ConfigError
from exostab.model.splits import grouped_folds
from exostab.simulate import SimulationConfig

runner = CliRunner()


def number_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of every field of the model and its sub-models that takes no yes/no value."""
    keys = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, Frozen):
            keys += number_fields(annotation, f"{prefix}{name}.")
        elif not takes_yes_no(annotation):
            keys.append(f"{prefix}{name}")
    return keys


def nested(dotted: str, value: Any) -> dict[str, Any]:
    *parents, leaf = dotted.split(".")
    tree: dict[str, Any] = {leaf: value}
    for key in reversed(parents):
        tree = {key: tree}
    return tree


TRAIN_NUMBER_KEYS = [k for k in number_fields(TrainConfig) if k != "experiment"]


@pytest.mark.parametrize("key", TRAIN_NUMBER_KEYS)
@pytest.mark.parametrize("flag", [True, False])
def test_a_yes_no_value_is_no_number_of_the_training_config(key: str, flag: bool) -> None:
    # pydantic alone reads `true` as 1 where an int or float belongs
    with pytest.raises(ValidationError, match="yes/no value, not a number"):
        TrainConfig.model_validate(nested(key, flag))


@pytest.mark.parametrize("key", number_fields(SimulationConfig))
def test_a_yes_no_value_is_no_number_of_the_simulator_config(key: str) -> None:
    with pytest.raises(ValidationError, match="yes/no value, not a number"):
        SimulationConfig.model_validate(nested(key, True))


def test_the_number_keys_cover_the_repeats_and_the_rates() -> None:
    assert {"seed", "search.inner_repeats", "model.learning_rate", "gate.n_bootstrap"} <= set(
        TRAIN_NUMBER_KEYS
    )
    assert "cv.naive_gap" not in TRAIN_NUMBER_KEYS


def test_yes_no_fields_still_take_yes_no() -> None:
    cfg = TrainConfig.model_validate({"cv": {"naive_gap": False}, "features": {"module_scores": 0}})
    assert cfg.cv.naive_gap is False and cfg.features.module_scores is False


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("search:\n  inner_repeats: true\n", "search.inner_repeats: true is a yes/no value"),
        ("search:\n  inner_repeats: 0\n", "search.inner_repeats"),
        ("search:\n  inner_repeats: 51\n", "less than or equal to 50"),
        ("seed: -1\n", "seed: Input should be greater than or equal to 0"),
        (f"seed: {MAX_SEED + 1}\n", "seed: Input should be less than or equal to"),
    ],
)
def test_a_config_file_with_an_unusable_value_is_named(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_train_config(path)
    assert "train.yaml" in str(raised.value) and fragment in str(raised.value)


@pytest.mark.parametrize("seed", ["-1", str(MAX_SEED + 1)])
@pytest.mark.parametrize("command", ["train", "forecast"])
def test_a_seed_numpy_cannot_take_is_refused_before_any_work(
    tmp_path: Path, command: str, seed: str
) -> None:
    args = {
        "train": ["train", "--proteins", "p.csv", "--lots", "l.csv", "--no-register"],
        "forecast": ["forecast", "--proteins", "p.csv", "--lots", "l.csv", "--out", "o"],
    }[command]
    result = runner.invoke(app, [*args, "--seed", seed])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "--seed" in result.output


LINEAR_ONLY = {"candidates": [{"learner": "prior"}, {"learner": "linear", "linear_c": 0.05}]}


def test_the_largest_seed_runs_the_repeated_inner_cv(
    planted: TrainingSet, fast_config: TrainConfig
) -> None:
    from exostab.model.selection import choose_structure

    cfg = fast_config.model_copy(
        update={
            "seed": MAX_SEED,
            "search": fast_config.search.model_validate({**LINEAR_ONLY, "inner_repeats": 2}),
        }
    )
    choice = choose_structure(planted, np.arange(len(planted.y)), cfg, {})
    assert "2 repeats" in choice.reason


def test_a_repeat_that_meets_an_earlier_donor_split_again_is_not_counted_twice(
    fast_config: TrainConfig,
) -> None:
    from exostab.model.selection import choose_structure

    # 5 donors in 3 inner folds: stratified group k-fold finds few ways to split them, so 8
    # repeats meet some splits twice (4 distinct here)
    lots = planted_lots(n_lots=60, n_donors=5, n_proteins=20, seed=1)
    rows = np.arange(len(lots.y))
    repeats = 8
    single = fast_config.model_copy(
        update={"search": fast_config.search.model_validate(LINEAR_ONLY)}
    )
    first_seed_of: dict[frozenset[tuple[int, ...]], int] = {}
    for r in range(repeats):
        seed = single.seed + 1 + 10 * r
        plan = grouped_folds(lots.y, lots.groups, scheme="group_kfold", n_splits=3, seed=seed)
        first_seed_of.setdefault(frozenset(tuple(t.tolist()) for _, t in plan.folds), seed)
    assert 1 < len(first_seed_of) < repeats  # the premise: some splits come back
    distinct = [
        choose_structure(lots, rows, single.model_copy(update={"seed": seed - 1}), {})
        for seed in first_seed_of.values()
    ]
    repeated = single.model_copy(
        update={"search": single.search.model_copy(update={"inner_repeats": repeats})}
    )
    choice = choose_structure(lots, rows, repeated, {})
    for label, loss in choice.inner_loss.items():
        assert loss == pytest.approx(np.mean([d.inner_loss[label] for d in distinct]))
    assert f"{len(distinct)} repeats" in choice.reason
    assert f"({repeats - len(distinct)} repeated a donor split: skipped)" in choice.reason
