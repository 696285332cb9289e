"""Data tier: bad input to `exostab train` → exit code 2 and one short message, no traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.cli import app
from exostab.config import load_train_config
from exostab.dataset import build_training_set
from exostab.io.readers import read_lot_sheet, read_proteins
from exostab.simulate import write_simulation

runner = CliRunner()


@pytest.fixture(scope="module")
def small_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_simulation(
        tmp_path_factory.mktemp("small"), n_lots=40, n_donors=6, n_proteins=120, seed=5
    ).out


@pytest.fixture
def small(small_files: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fresh copy per test: tests break the tables in their own way."""
    return pd.read_csv(small_files / "lots.csv"), pd.read_csv(small_files / "proteins.csv")


def train_on(tmp_path: Path, lots: pd.DataFrame | str, proteins: pd.DataFrame | str, *extra: str):
    lots_path, proteins_path = tmp_path / "lots.csv", tmp_path / "proteins.csv"
    for path, content in ((lots_path, lots), (proteins_path, proteins)):
        if isinstance(content, str):
            path.write_text(content)
        else:
            content.to_csv(path, index=False)
    args = ["train", "--lots", str(lots_path), "--proteins", str(proteins_path), "--no-register"]
    return runner.invoke(app, [*args, *extra])


def assert_user_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in message, message
    assert len(message) < 1500


def test_missing_label_column(tmp_path, small) -> None:
    lots, proteins = small
    assert_user_error(train_on(tmp_path, lots.drop(columns="unstable"), proteins), "unstable")


def test_label_values_other_than_0_1(tmp_path, small) -> None:
    lots, proteins = small
    lots = lots.assign(unstable=lots["unstable"].replace({1: 2}))
    assert_user_error(train_on(tmp_path, lots, proteins), "unstable")


def test_duplicate_lot_id(tmp_path, small) -> None:
    lots, proteins = small
    lots.loc[1, "lot_id"] = lots.loc[0, "lot_id"]
    assert_user_error(train_on(tmp_path, lots, proteins), lots.loc[0, "lot_id"])


def test_lots_without_protein_rows(tmp_path, small) -> None:
    lots, proteins = small
    assert_user_error(
        train_on(tmp_path, lots, proteins.iloc[3:]), "no protein profile", lots.loc[0, "lot_id"]
    )


def test_protein_rows_without_lots_are_listed_and_left_out(tmp_path, small, caplog) -> None:
    """Runs no lot claims (QC, blanks) are named and left out of training, not refused."""
    lots, proteins = small
    lots.iloc[2:].to_csv(tmp_path / "lots.csv", index=False)
    proteins.to_csv(tmp_path / "proteins.csv", index=False)
    with caplog.at_level(logging.WARNING):
        training = build_training_set(
            read_proteins(tmp_path / "proteins.csv"),
            read_lot_sheet(tmp_path / "lots.csv"),
            load_train_config(),
        )
    left_out = [str(lot) for lot in lots["lot_id"].iloc[:2]]
    assert not set(left_out) & set(training.X.index.astype(str))
    assert len(training.X) == len(lots) - 2
    assert "match no lot" in caplog.text
    assert all(lot in caplog.text for lot in left_out)


def test_a_single_donor(tmp_path, small) -> None:
    lots, proteins = small
    assert_user_error(train_on(tmp_path, lots.assign(donor_id="D1"), proteins), "two groups")


def test_a_single_class(tmp_path, small) -> None:
    lots, proteins = small
    assert_user_error(train_on(tmp_path, lots.assign(unstable=0), proteins), "both classes")


def test_an_empty_file(tmp_path, small) -> None:
    _, proteins = small
    assert_user_error(train_on(tmp_path, "", proteins), "lots.csv")


def test_unknown_config_key(tmp_path, small) -> None:
    lots, proteins = small
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  n_trees: 5\n")
    result = train_on(tmp_path, lots, proteins, "--config", str(config))
    assert_user_error(result, "model.n_trees", "unknown key")


def test_only_one_of_proteins_and_lots(tmp_path, small) -> None:
    result = runner.invoke(app, ["train", "--lots", str(tmp_path / "x.csv")])
    assert_user_error(result, "both --proteins and --lots")


def test_time_column_missing_from_the_sheet(tmp_path, small) -> None:
    lots, proteins = small
    config = tmp_path / "time.yaml"
    config.write_text("cv:\n  scheme: time_ordered\n  time_column: harvest_date\n")
    result = train_on(tmp_path, lots, proteins, "--config", str(config))
    assert_user_error(result, "harvest_date")
