"""The fast registry look-up (``registry.locate_model``) answers as mlflow's own client does.

``exostab score`` reads a SQLite store with one SQL query instead of starting mlflow (about
three times its start-up). These tests run real registry operations on a real SQLite store
through ``MlflowClient`` (register, delete versions and models, move and delete aliases, delete
logged models) and compare, for every URI form (``models:/NAME/N``, ``models:/NAME@ALIAS``,
``models:/m-...``, ``runs:/RUN/model``), the fast answer with mlflow's: the same folder and
version, or no answer at all (then mlflow itself answers, with its own error).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository  # noqa: E402
from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from exostab.store import registry  # noqa: E402

NAME = "exostab"
ALIASES = ("champion", "challenger")


@pytest.fixture(autouse=True)
def _own_store(request: pytest.FixtureRequest) -> None:
    """mlflow.set_tracking_uri outlives a test: point mlflow at this test's store first."""
    if "tracking_store" in request.fixturenames:
        mlflow.set_tracking_uri(request.getfixturevalue("tracking_store"))


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):  # pragma: no cover - never served
        return model_input


def log_model(register: bool = True) -> tuple[str, str | None, str]:
    """Log a tiny pyfunc in a new run; return (run id, registered version or None, model id)."""
    from exostab.store.tracking import ensure_experiment

    mlflow.set_tracking_uri(registry.store_uri())  # artifacts beside the temporary store
    with mlflow.start_run(experiment_id=ensure_experiment("registry-test")) as run:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=Echo(),
            pip_requirements=["mlflow"],
            registered_model_name=NAME if register else None,
        )
    version = info.registered_model_version
    return run.info.run_id, None if version is None else str(version), info.model_id


def mlflow_answer(uri: str) -> tuple[Path, str | None] | None:
    """What mlflow resolves ``uri`` to: the local model folder and the version it names."""
    client = MlflowClient()
    try:
        if uri.startswith("runs:/"):
            # mlflow 3: a model logged in a run is a LoggedModel named after the run path
            run_id, name = RunsArtifactRepository.parse_runs_uri(uri)
            repository = RunsArtifactRepository(uri)._get_logged_model_artifact_repo(run_id, name)
            if repository is None:
                return None
            # a models:/m-... repository: its own underlying location
            underlying = ModelsArtifactRepository.get_underlying_uri(repository.artifact_uri)
            version = None
        else:
            underlying = ModelsArtifactRepository.get_underlying_uri(uri)
            version = None
            if "@" in uri:
                name, alias = uri.removeprefix("models:/").split("@")
                version = str(client.get_model_version_by_alias(name, alias).version)
            elif not uri.removeprefix("models:/").startswith("m-"):
                name, number = uri.removeprefix("models:/").split("/")
                version = str(client.get_model_version(name, number).version)
    except MlflowException:
        return None
    folder = registry.local_folder(underlying)
    if not registry.is_model_folder(folder):
        return None
    assert folder is not None
    return folder.resolve(), version


def assert_same_answers(uris: list[str], tracking_uri: str) -> None:
    for uri in uris:
        fast = registry.locate_model(uri, tracking_uri)
        expected = mlflow_answer(uri)
        if fast is None:
            # The fast path may decline (mlflow answers then), never invent a model.
            continue
        assert expected is not None, f"{uri} resolves to {fast.path}, mlflow finds no model"
        assert (fast.path.resolve(), fast.version) == expected, uri


def every_uri(runs: list[str], models: list[str], versions: int) -> list[str]:
    return [
        *(f"models:/{NAME}/{v}" for v in range(1, versions + 2)),
        *(f"models:/{NAME}@{alias}" for alias in (*ALIASES, "latest")),
        *(f"models:/{model_id}" for model_id in models),
        *(f"runs:/{run_id}/model" for run_id in runs),
    ]


def test_deleted_version_does_not_resolve_and_aliases_match(tracking_store: str) -> None:
    client = MlflowClient()
    first_run, first, first_model = log_model()
    second_run, second, _ = log_model()
    client.set_registered_model_alias(NAME, "champion", first)
    client.set_registered_model_alias(NAME, "challenger", second)
    located = registry.locate_model(f"models:/{NAME}@champion", tracking_store)
    assert located is not None and located.version == first == "1"
    assert registry.locate_model(f"models:/{NAME}/2", tracking_store).version == "2"
    assert registry.locate_model(f"models:/{first_model}", tracking_store) is not None
    assert registry.locate_model(f"runs:/{first_run}/model", tracking_store) is not None

    client.delete_model_version(NAME, first)  # mlflow keeps the row as 'Deleted_Internal'
    assert registry.locate_model(f"models:/{NAME}/1", tracking_store) is None
    assert registry.locate_model(f"models:/{NAME}@champion", tracking_store) is None
    with pytest.raises(MlflowException):
        client.get_model_version(NAME, first)
    # the version's logged model and its run are still there, for mlflow as for exostab
    assert_same_answers(every_uri([first_run, second_run], [first_model], 2), tracking_store)


def test_version_numbers_and_moved_aliases_follow_the_client(tracking_store: str) -> None:
    client = MlflowClient()
    runs, models = [], []
    for _ in range(3):
        run_id, _, model_id = log_model()
        runs.append(run_id)
        models.append(model_id)
    client.set_registered_model_alias(NAME, "champion", "1")
    client.set_registered_model_alias(NAME, "champion", "3")  # moved
    client.set_registered_model_alias(NAME, "challenger", "2")
    client.delete_registered_model_alias(NAME, "challenger")
    assert registry.locate_model(f"models:/{NAME}@champion", tracking_store).version == "3"
    assert registry.locate_model(f"models:/{NAME}@challenger", tracking_store) is None
    assert registry.locate_model(f"models:/{NAME}/02", tracking_store).version == "2"
    assert_same_answers(every_uri(runs, models, 3), tracking_store)
    client.delete_registered_model(NAME)
    for version in ("1", "2", "3"):
        assert registry.locate_model(f"models:/{NAME}/{version}", tracking_store) is None
    assert_same_answers(every_uri(runs, models, 3), tracking_store)


def test_an_unchecked_schema_revision_is_left_to_mlflow(tracking_store: str) -> None:
    """The next mlflow migration must not be read with today's SQL: mlflow answers instead."""
    import sqlite3

    log_model()
    database = Path(tracking_store.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision in registry.CHECKED_SCHEMAS, (
        f"mlflow's schema is now {revision}: check registry.py's queries against it "
        "(this file's tests) and add it to CHECKED_SCHEMAS"
    )
    assert registry.locate_model(f"models:/{NAME}/1", tracking_store) is not None
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'future0000'")
    assert registry.locate_model(f"models:/{NAME}/1", tracking_store) is None


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.booleans()),
        st.tuples(st.just("alias"), st.sampled_from(ALIASES), st.integers(1, 4)),
        st.tuples(st.just("unalias"), st.sampled_from(ALIASES)),
        st.tuples(st.just("delete_version"), st.integers(1, 4)),
        st.tuples(st.just("delete_logged_model"), st.integers(0, 3)),
        st.tuples(st.just("delete_run"), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=7,
)


@pytest.mark.slow
@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_any_sequence_of_registry_operations_resolves_as_mlflow(
    operations: list[tuple], monkeypatch: pytest.MonkeyPatch
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        uri = f"sqlite:///{Path(scratch) / 'mlruns' / 'mlflow.db'}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        client = MlflowClient(uri)
        runs, models, versions = [], [], 0
        for operation in [("register", True), *operations]:
            kind = operation[0]
            try:
                if kind == "register":
                    run_id, version, model_id = log_model(register=operation[1])
                    runs.append(run_id)
                    models.append(model_id)
                    versions += version is not None
                elif kind == "alias":
                    client.set_registered_model_alias(NAME, operation[1], str(operation[2]))
                elif kind == "unalias":
                    client.delete_registered_model_alias(NAME, operation[1])
                elif kind == "delete_version":
                    client.delete_model_version(NAME, str(operation[1]))
                elif kind == "delete_logged_model" and operation[1] < len(models):
                    client.delete_logged_model(models[operation[1]])
                elif kind == "delete_run" and operation[1] < len(runs):
                    client.delete_run(runs[operation[1]])
            except MlflowException:
                pass  # e.g. an alias to a version that does not exist: mlflow refuses
            assert_same_answers(every_uri(runs, models, versions), uri)


def test_an_alias_or_version_the_model_lacks_is_said_with_what_it_has(
    tracking_store: str, tmp_path: Path
) -> None:
    """review5 L: ``models:/exostab@nosuchalias`` on a registered model said only "Registered
    model alias nosuchalias not found."; the one line now names the aliases the model has (or,
    with none, its versions), and a version it lacks is said with the versions it has."""
    from typer.testing import CliRunner

    from exostab.cli import app

    for _ in range(3):
        log_model()
    client = MlflowClient()
    client.set_registered_model_alias(NAME, "challenger", "3")
    client.set_registered_model_alias(NAME, "champion", "2")
    proteins, lots = tmp_path / "proteins.csv", tmp_path / "lots.csv"
    proteins.write_text("lot_id,CD9\nL1,1\n")
    lots.write_text("lot_id,passage\nL1,3\n")

    def said(uri: str) -> str:
        result = CliRunner().invoke(
            app,
            ["score", "--model", uri, "--proteins", str(proteins), "--lots", str(lots),
             "--out", str(tmp_path / "scores.csv")],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and result.stdout == ""
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: cannot load model {uri}: ")
        return line

    assert said(f"models:/{NAME}@nosuchalias").endswith(
        f"(the aliases of '{NAME}' in this store: @challenger (version 3), @champion (version 2))"
    )
    assert said(f"models:/{NAME}/7").endswith(
        f"('{NAME}' has no such version in this store; its versions: 3, 2, 1)"
    )
    client.delete_registered_model_alias(NAME, "challenger")
    client.delete_registered_model_alias(NAME, "champion")
    assert said(f"models:/{NAME}@nosuchalias").endswith(
        f"('{NAME}' has no alias in this store; its versions: 3, 2, 1)"
    )
    assert not (tmp_path / "scores.csv").exists()
