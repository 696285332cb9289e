"""``exostab promote``: only exostab's aliases, champion only through the gate (or --force),
and one line saying where the alias points now and where it pointed before.

The versions are registered straight into a temporary store with mlflow's client, tagged as
training tags them (``gate_verdict``; older versions: the run's ``champion_eligible``): no
training is needed to move an alias."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from exostab.cli import app
from exostab.store.model_card import ELIGIBLE, GATE_TAG

runner = CliRunner()


@pytest.fixture
def registry(tracking_store: str) -> str:
    """exostab versions 1 (passed the gate), 2 (did not), 3 (older: the run's metric only,
    failed) and 4 (records nothing); challenger and champion on version 1."""
    from mlflow.tracking import MlflowClient

    from exostab.store.tracking import configure_tracking

    configure_tracking()
    client = MlflowClient()
    experiment = client.create_experiment("exostab")
    client.create_registered_model("exostab")
    for gate in (ELIGIBLE, "not eligible", None, None):
        run = client.create_run(experiment)
        version = client.create_model_version("exostab", f"runs:/{run.info.run_id}/model",
                                              run_id=run.info.run_id)  # fmt: skip
        if gate is not None:
            client.set_model_version_tag("exostab", version.version, GATE_TAG, gate)
        elif str(version.version) == "3":
            client.log_metric(run.info.run_id, "champion_eligible", 0.0)
    client.set_registered_model_alias("exostab", "champion", "1")
    client.set_registered_model_alias("exostab", "challenger", "1")
    return tracking_store


def aliases(store: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    model = MlflowClient(tracking_uri=store, registry_uri=store).get_registered_model("exostab")
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_an_alias_exostab_does_not_use_is_refused(registry: str) -> None:
    result = runner.invoke(app, ["promote", "exostab", "1", "--alias", "bogus"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "--alias must be champion or challenger" in result.output and "'bogus'" in result.output
    assert aliases(registry) == {"champion": "1", "challenger": "1"}


@pytest.mark.parametrize(
    ("version", "gate"),
    [("2", "did not pass the champion gate (not eligible)"),
     ("3", "did not pass the champion gate (not eligible)"),
     ("4", "records no champion gate")],
)  # fmt: skip
def test_champion_goes_to_a_version_that_failed_the_gate_only_with_force(
    registry: str, version: str, gate: str
) -> None:
    refused = runner.invoke(app, ["promote", "exostab", version, "--alias", "champion"])
    assert refused.exit_code == 2, refused.output
    assert refused.output.count("\n") == 1
    assert f"exostab version {version} {gate}" in refused.output and "--force" in refused.output
    assert aliases(registry)["champion"] == "1"
    forced = runner.invoke(app, ["promote", "exostab", version, "--alias", "champion", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "warning:" in forced.output and "made champion by --force" in forced.output
    assert f"models:/exostab@champion → version {version} (was version 1)." in forced.output
    assert aliases(registry)["champion"] == version


def test_the_challenger_alias_needs_no_gate(registry: str) -> None:
    result = runner.invoke(app, ["promote", "exostab", "2", "--alias", "challenger"])
    assert result.exit_code == 0, result.output
    assert result.output == "models:/exostab@challenger → version 2 (was version 1).\n"
    assert aliases(registry) == {"champion": "1", "challenger": "2"}


def test_the_printed_line_says_where_the_alias_pointed(registry: str) -> None:
    from mlflow.tracking import MlflowClient

    same = runner.invoke(app, ["promote", "exostab", "1"])  # champion by default
    assert same.exit_code == 0, same.output
    assert same.output == "models:/exostab@champion → version 1 (it already was).\n"
    MlflowClient().delete_registered_model_alias("exostab", "champion")
    new = runner.invoke(app, ["promote", "exostab", "1", "--alias", "champion"])
    assert new.output == "models:/exostab@champion → version 1 (the alias is new).\n"
