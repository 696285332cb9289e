"""HTTP requests: the pyfunc's own column rules answer as mlflow's column signature did.

Models are logged with no input columns in their signature (mlflow rebuilt a request column
by column to enforce one: most of a one-lot request's time with ~2,850 proteins). The served
pyfunc keeps the columns itself (``ModelBundle.served_request``). These tests parse random
requests with mlflow's own parser, once as the server did with the old column signature
(``column_schema``: every column ``Any``, ``lot_id`` required) and once as it does now, and
demand identical answers, and the same refusal of a request without ``lot_id``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exostab.config import Candidate, TrainConfig
from exostab.dataset import TrainingSet
from exostab.errors import InputError
from exostab.model.bundle import ModelBundle

N_PROTEINS = 24


@pytest.fixture(scope="module")
def linear_bundle(fast_config: TrainConfig) -> ModelBundle:
    """A prior + ridge bundle (every protein read) whose proteins have long input names."""
    from conftest import planted_lots
    from exostab.training.nested_cv import train_model

    planted = planted_lots(n_proteins=N_PROTEINS, seed=3)
    names = list(planted.proteins.index)
    long_names = [f"sp|Q{j:05d}|{name}_HUMAN {name} protein" for j, name in enumerate(names)]
    proteins = planted.proteins.assign(input_name=long_names, gene=names)
    training: TrainingSet = replace(planted, proteins=proteins)
    cfg = fast_config.model_copy(
        update={
            "search": fast_config.search.model_copy(
                update={"candidates": (Candidate(learner="linear", linear_c=0.05),)}
            )
        }
    )
    bundle = ModelBundle.from_training(train_model(training, cfg, {}))
    assert len(bundle.proteins) == N_PROTEINS, "a ridge part reads every protein"
    assert (bundle.proteins["short_name"] != bundle.proteins["input_name"]).all()
    return bundle


CELLS = st.one_of(
    st.none(),
    st.floats(min_value=1e3, max_value=1e9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(min_value=-5, max_value=10**9),
    st.booleans(),
    st.sampled_from(["n.d.", "P5", " 7 ", "1e7", "44,0", "", "NaN", "hPL", "FBS", " fbs "]),
)
LOT_IDS = st.one_of(
    st.sampled_from(["L1", "L2", "SIM-L0001", " L3 ", ""]), st.integers(0, 9), st.booleans()
)
# JSON values that are neither text, a number nor null: no text column can read them
NOT_TEXT = st.one_of(
    st.booleans(),
    st.lists(st.one_of(st.integers(0, 9), st.just("hPL")), max_size=2),
    st.dictionaries(st.sampled_from(["code", "name"]), st.just("hPL"), min_size=1, max_size=2),
)
EXTRA = ["donor_age", "storage_weeks", "comment", "lot", "CD9"]


@st.composite
def requests(draw: Any, bundle: ModelBundle) -> pd.DataFrame:
    """A request as a client might send it: short or input names, extra and missing columns,
    any column order, cells of every JSON kind (numbers, text, true/false, null)."""
    n_lots = draw(st.integers(1, 4))
    short = bundle.proteins["short_name"].tolist()
    full = bundle.proteins["input_name"].tolist()
    proteins = draw(st.lists(st.integers(0, N_PROTEINS - 1), unique=True, max_size=N_PROTEINS))
    columns = [short[j] if draw(st.booleans()) else full[j] for j in proteins]
    columns += draw(st.lists(st.sampled_from(["passage", "medium", *EXTRA]), unique=True))
    if draw(st.integers(0, 9)) > 0:  # now and then no lot_id
        columns.append("lot_id")
    columns = draw(st.permutations(columns))
    table: dict[str, list[Any]] = {}
    for column in columns:
        kind = LOT_IDS if column == "lot_id" else CELLS
        table[column] = draw(st.lists(kind, min_size=n_lots, max_size=n_lots))
    return pd.DataFrame(table, columns=list(columns), dtype=object)


def as_parsed(request: pd.DataFrame, orient: str, schema: Any) -> pd.DataFrame:
    """The frame mlflow's scoring server hands to the model, after a JSON round trip."""
    from mlflow.utils.proto_json_utils import dataframe_from_parsed_json

    if orient == "split":
        body: Any = {"columns": list(request.columns), "data": request.to_numpy().tolist()}
    else:
        body = request.to_dict(orient="records")
    return dataframe_from_parsed_json(json.loads(json.dumps(body)), orient, schema=schema)


def column_schema(bundle: ModelBundle) -> Any:
    """The column signature models were logged with before: every served column optional and
    of type ``Any``, ``lot_id`` required (the reference the served pyfunc's rules must match)."""
    from mlflow.types.schema import AnyType, ColSpec, Schema

    return Schema(
        [ColSpec(AnyType(), name, required=name == "lot_id") for name in bundle.served_columns]
    )


def answers_before(bundle: ModelBundle, request: pd.DataFrame, orient: str) -> pd.DataFrame:
    """The answer of a model logged with a column signature of the served columns (mlflow
    enforces it; the former signature listed the short names only)."""
    from mlflow.models.utils import _enforce_schema

    schema = column_schema(bundle)
    return bundle.predict(_enforce_schema(as_parsed(request, orient, schema), schema))


@pytest.mark.parametrize("orient", ["split", "records"])
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_served_columns_answer_as_the_column_signature_did(
    linear_bundle: ModelBundle, orient: str, data: st.DataObject
) -> None:
    from mlflow.exceptions import MlflowException

    request = data.draw(requests(linear_bundle))
    if orient == "records" and request.shape[1] == 0:
        return  # no columns: records hold nothing to parse
    try:
        expected = answers_before(linear_bundle, request, orient)
    except MlflowException:
        said = "holds no lot" if request.shape == (0, 0) else "no lot_id column"
        with pytest.raises(InputError, match=said):
            linear_bundle.served_request(as_parsed(request, orient, None))
        assert "lot_id" not in request.columns
        return
    answer = linear_bundle.predict(linear_bundle.served_request(as_parsed(request, orient, None)))
    pd.testing.assert_frame_equal(answer, expected)


def test_only_served_columns_pass_in_served_order(linear_bundle: ModelBundle) -> None:
    short = linear_bundle.proteins["short_name"].tolist()
    full = linear_bundle.proteins["input_name"].tolist()
    request = pd.DataFrame(
        {short[3]: [1e6], full[0]: [2e6], "comment": ["x"], "lot_id": ["L1"], "passage": [4]}
    )
    kept = linear_bundle.served_request(request)
    assert kept.columns.tolist() == ["lot_id", "passage", short[3], full[0]]
    assert kept.loc[0, short[3]] == 1e6
    assert linear_bundle.served_columns[:3] == ["lot_id", "passage", "medium"]
    assert linear_bundle.served_columns[3:] == [*short, *full]
    # a served column sent twice is refused (mlflow's column rebuild failed on one lot and
    # read the column's name as its cells on several); an unread one is dropped as ever
    twice = pd.DataFrame(
        [["L1", 1e6, 2e6, "x", "y"]], columns=["lot_id", *[short[0]] * 2, "c", "c"]
    )
    with pytest.raises(InputError, match=f"names column '{short[0]}' more than once"):
        linear_bundle.served_request(twice)
    assert linear_bundle.served_request(twice.iloc[:, [0, 1, 3, 4]]).columns.tolist() == [
        "lot_id",
        short[0],
    ]


def test_the_pyfunc_refuses_a_request_without_lot_id_in_one_line(
    linear_bundle: ModelBundle,
) -> None:
    from mlflow.exceptions import MlflowException

    from exostab.scoring.pyfunc_model import ExostabPyfunc

    model = ExostabPyfunc()
    model.bundle = linear_bundle
    with pytest.raises(MlflowException, match="input schema: the request has no lot_id") as info:
        model.predict(None, pd.DataFrame({"foo": [1, 2, 3]}))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert len(info.value.message) < 300
    short = linear_bundle.proteins["short_name"].tolist()
    answer = model.predict(
        None,
        pd.DataFrame({"lot_id": ["A", "B"], "passage": [3, -1], short[0]: [1e7, 1e7]}),
        params={"top_k": 2},
    )
    assert answer.loc[0, "error"] is None and 0 < answer.loc[0, "risk"] < 1
    assert "passage" in answer.loc[1, "error"] and answer.loc[1, "risk"] is None


@pytest.mark.parametrize("top_k", [0, -1])
def test_the_pyfunc_refuses_a_top_k_below_one(linear_bundle: ModelBundle, top_k: int) -> None:
    """As score's --top-k (min 1): -1 used to list every driver but the last, 0 none."""
    from mlflow.exceptions import MlflowException

    from exostab.scoring.pyfunc_model import ExostabPyfunc

    model = ExostabPyfunc()
    model.bundle = linear_bundle
    request = pd.DataFrame({"lot_id": ["A"], "passage": [3]})
    with pytest.raises(
        MlflowException, match=f"^params.top_k: must be a whole number of at least 1, got {top_k}$"
    ):
        model.predict(None, request, params={"top_k": top_k})


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_predict_reads_proteins_once_as_model_inputs_reads_them(
    linear_bundle: ModelBundle, data: st.DataObject
) -> None:
    """``predict`` lays out the protein values it checked; explain/forecast use
    ``model_inputs``: both must give the pipeline the same X, so the same log-odds."""
    n_lots = data.draw(st.integers(1, 5))
    full = linear_bundle.proteins["input_name"].tolist()
    sent = data.draw(st.lists(st.sampled_from(full), unique=True, min_size=1))
    values = data.draw(
        st.lists(
            st.one_of(st.none(), st.floats(1e3, 1e9)),
            min_size=n_lots * len(sent),
            max_size=n_lots * len(sent),
        )
    )
    table = pd.DataFrame(
        np.array(values, dtype=float).reshape(n_lots, len(sent)), columns=sent
    ).assign(lot_id=[f"L{i}" for i in range(n_lots)], passage=4.0, medium="hPL")
    answer = linear_bundle.predict(table)
    checked, problems = linear_bundle.checked_rows(table)
    ok = problems.isna().to_numpy()
    assert (answer["error"].isna().to_numpy() == ok).all()
    if not ok.any():
        return
    features = linear_bundle.transform(linear_bundle.model_inputs(checked.loc[ok]))
    raw, _ = linear_bundle.raw_and_contributions(features)
    np.testing.assert_allclose(
        answer.loc[ok, "risk"].to_numpy(float), linear_bundle.calibrator.risk(raw), rtol=1e-12
    )
    X = linear_bundle.model_inputs(checked.loc[ok])
    assert X.columns.tolist() == [str(c) for c in linear_bundle.steps[0].feature_names_in_]
    np.testing.assert_allclose(
        answer.loc[ok, "coverage"].to_numpy(float), linear_bundle.coverage(X), rtol=0
    )


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_lab_may_send_its_own_column_names_or_the_short_names(
    linear_bundle: ModelBundle, data: st.DataObject
) -> None:
    """Over HTTP, a protein sent under its input name (the lab file's column) is read as the
    same protein under its short name: same risk, drivers and errors (an error names the
    column as it was sent)."""
    short = linear_bundle.proteins["short_name"].tolist()
    full = linear_bundle.proteins["input_name"].tolist()
    picked = data.draw(st.lists(st.integers(0, N_PROTEINS - 1), unique=True, min_size=1))
    n_lots = data.draw(st.integers(1, 3))
    cells = {j: data.draw(st.lists(CELLS, min_size=n_lots, max_size=n_lots)) for j in picked}
    sheet = {"lot_id": [f"L{i}" for i in range(n_lots)], "passage": [4] * n_lots}
    by_short = pd.DataFrame({**sheet, **{short[j]: cells[j] for j in picked}}, dtype=object)
    by_input = pd.DataFrame({**sheet, **{full[j]: cells[j] for j in picked}}, dtype=object)
    answers = [
        linear_bundle.predict(linear_bundle.served_request(as_parsed(request, "split", None)))
        for request in (by_short, by_input)
    ]
    for j in picked:
        answers[1]["error"] = answers[1]["error"].str.replace(f"'{full[j]}'", f"'{short[j]}'")
    pd.testing.assert_frame_equal(answers[0], answers[1])


@pytest.mark.parametrize("orient", ["split", "records"])
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_json_value_that_is_not_text_is_an_error_for_its_lot_alone(
    linear_bundle: ModelBundle, orient: str, data: st.DataObject
) -> None:
    """JSON true, an array or an object as lot_id or as a category (medium) was read as the
    text 'True' (a category never seen, silently missing). Now that lot gets an error naming
    the column, and the other lots of the request get the risks they get without it. A lot_id
    that is not text names no lot: its answer row carries lot_id null."""
    from exostab.scoring.pyfunc_model import ExostabPyfunc

    model = ExostabPyfunc()
    model.bundle = linear_bundle
    n_lots = data.draw(st.integers(2, 4))
    full = linear_bundle.proteins["input_name"].tolist()
    values = data.draw(
        st.lists(st.floats(1e5, 1e9), min_size=n_lots * len(full), max_size=n_lots * len(full))
    )
    request = pd.DataFrame(np.array(values).reshape(n_lots, len(full)), columns=full, dtype=object)
    request.insert(
        0,
        "medium",
        data.draw(
            st.lists(st.sampled_from(["hPL", "FBS", None]), min_size=n_lots, max_size=n_lots)
        ),
    )
    request.insert(0, "passage", 4)
    request.insert(0, "lot_id", [f"L{i}" for i in range(n_lots)])
    bad = data.draw(st.integers(0, n_lots - 1))
    column = data.draw(st.sampled_from(["lot_id", "medium"]))
    value = data.draw(NOT_TEXT)
    request = request.astype(object)
    request.at[bad, column] = value
    answer = model.predict(None, as_parsed(request, orient, None))
    assert len(answer) == n_lots
    error = answer.loc[bad, "error"]
    assert error is not None and error.startswith(f"{column} is ")
    kind = "the JSON value" if isinstance(value, bool) else "a JSON"
    assert kind in error and "send it as text" in error
    assert answer.loc[bad, "risk"] is None and answer.loc[bad, "risk_band"] is None
    assert answer.loc[bad, "lot_id"] == (None if column == "lot_id" else f"L{bad}")
    if column == "lot_id":
        assert f"row {bad + 1} of the request" in error
    others = model.predict(None, as_parsed(request.drop(index=bad), orient, None))
    pd.testing.assert_frame_equal(answer.drop(index=bad).reset_index(drop=True), others)
    assert others["risk"].notna().all()


@pytest.mark.parametrize("orient", ["split", "records"])
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_json_value_that_is_not_a_number_is_named_as_sent(
    linear_bundle: ModelBundle, orient: str, data: st.DataObject
) -> None:
    """JSON true, an array or an object as passage or an intensity is an error for
    that lot naming the column and what was sent; it was named as the text pandas made of it
    ('True', '[4]', "{'p': 4}"), which the client never sent."""
    from exostab.scoring.pyfunc_model import ExostabPyfunc

    model = ExostabPyfunc()
    model.bundle = linear_bundle
    n_lots = data.draw(st.integers(2, 4))
    short = linear_bundle.proteins["short_name"].tolist()
    full = linear_bundle.proteins["input_name"].tolist()
    request = pd.DataFrame(np.full((n_lots, len(full)), 2e7), columns=full, dtype=object).astype(
        object
    )
    request.insert(0, "passage", 4)
    request.insert(0, "lot_id", [f"L{i}" for i in range(n_lots)])
    request = request.astype(object)
    bad = data.draw(st.integers(0, n_lots - 1))
    j = data.draw(st.integers(0, len(full) - 1))
    column = data.draw(st.sampled_from(["passage", full[j]]))
    value = data.draw(NOT_TEXT)
    request.at[bad, column] = value
    answer = model.predict(None, as_parsed(request, orient, None))
    error = answer.loc[bad, "error"]
    kind = f"the JSON value {str(value).lower()}" if isinstance(value, bool) else "a JSON"
    if column == full[j]:
        assert error.startswith(f"{kind}") and error.endswith(f" in protein column '{full[j]}'")
    else:
        assert error.startswith(f"{column} is {kind}") and error.endswith(
            "not a number: send a number"
        )
    assert "True" not in error and "[" not in error and "{" not in error
    assert answer.loc[bad, "risk"] is None and answer.loc[bad, "lot_id"] == f"L{bad}"
    others = model.predict(None, as_parsed(request.drop(index=bad), orient, None))
    pd.testing.assert_frame_equal(answer.drop(index=bad).reset_index(drop=True), others)
    if column == full[j]:  # under its short name the protein is named as sent
        renamed = request.rename(columns={full[j]: short[j]})
        again = model.predict(None, as_parsed(renamed, orient, None))
        assert again.loc[bad, "error"] == error.replace(f"'{full[j]}'", f"'{short[j]}'")


@pytest.mark.parametrize(("code", "text"), [(3, "3"), (3.0, "3"), (2.5, "2.5")])
def test_a_number_sent_as_a_category_is_read_as_its_text(
    linear_bundle: ModelBundle, code: float, text: str
) -> None:
    """A number is a category code, read as a lot sheet file reads it (3 and 3.0 are '3'):
    a code the model never saw is treated as missing and named in the warning (it used to
    pass as the number 3 with no warning)."""
    full = linear_bundle.proteins["input_name"].tolist()
    sheet = {"lot_id": ["A", "B"], "passage": [4, 4], "medium": [code, None]}
    request = pd.DataFrame({**sheet, **{name: [2e7, 2e7] for name in full}})
    answer = linear_bundle.predict(linear_bundle.served_request(as_parsed(request, "split", None)))
    assert answer["error"].isna().all()
    assert answer.loc[0, "risk"] == answer.loc[1, "risk"]
    assert answer.loc[0, "warning"] == f"medium {text!r} not seen in training: treated as missing"
    assert answer.loc[1, "warning"] is None


def test_an_empty_list_of_records_is_said_to_hold_no_lot(linear_bundle: ModelBundle) -> None:
    """``{"dataframe_records": []}`` parses to a frame with no rows and no columns: the
    request holds no lot (it was told it has no lot_id column)."""
    with pytest.raises(InputError, match=r"^the request holds no lot \(an empty list"):
        linear_bundle.served_request(pd.DataFrame())
    empty = linear_bundle.served_request(pd.DataFrame({"lot_id": []}))
    assert len(linear_bundle.predict(empty)) == 0
