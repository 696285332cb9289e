"""Property: a lot sheet as people type it reads as its clean twin, or is refused in one message.

Hypothesis writes small sheets with random spacing, case, category spellings, passage spellings,
decimal style, delimiter, encoding (UTF-8 ± BOM, UTF-16, cp1252), Excel's trailing delimiters and
blank rows, and sometimes one bad number cell. Scoring such a sheet keeps the books:
lots in = scored + quarantined, and the risks equal those of the clean twin.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exostab.config import DEFAULT_VOCABULARY, TrainConfig, read_yaml
from exostab.dataset import TrainingSet
from exostab.errors import InputError
from exostab.io.protein_matrix import ProteinMatrix
from exostab.io.readers import read_lot_sheet, read_lot_sheet_lenient
from exostab.model.bundle import ModelBundle
from exostab.scoring.batch import BatchScorer
from exostab.training.nested_cv import train_model

SPELLINGS: dict[str, dict[str, list[str]]] = read_yaml(DEFAULT_VOCABULARY)
COLUMNS = ["lot_id", "donor_id", "tissue_source", "passage", "donor_age", "medium", "unstable"]
CASINGS = (str, str.upper, str.lower, str.title)


def spelled(rng: random.Random, column: str, category: str) -> str:
    """A synonym of the category, in a random case, with random spaces around it."""
    word = rng.choice([category, *SPELLINGS[column][category]])
    return padded(rng, rng.choice(CASINGS)(word))


def padded(rng: random.Random, text: str) -> str:
    return " " * rng.randint(0, 2) + text + " " * rng.randint(0, 2)


@st.composite
def lot_sheets(draw: st.DrawFn) -> dict:
    """A clean sheet (canonical values) and how to type it messily."""
    n_lots = draw(st.integers(2, 5))
    first = draw(st.integers(0, 100))
    clean = pd.DataFrame(
        {
            "lot_id": [f"L{first + i:04d}" for i in range(n_lots)],
            "donor_id": [draw(st.sampled_from(["Dö1", "Müller-2", "D3"])) for _ in range(n_lots)],
            "tissue_source": [draw(st.sampled_from(["BM", "UC", "AT"])) for _ in range(n_lots)],
            "passage": [draw(st.integers(0, 20)) for _ in range(n_lots)],
            "donor_age": [draw(st.integers(0, 800)) / 10 for _ in range(n_lots)],
            "medium": [draw(st.sampled_from(["hPL", "FBS", "serum_free"])) for _ in range(n_lots)],
            "unstable": [draw(st.integers(0, 1)) for _ in range(n_lots)],
        }
    )
    bad_row = draw(st.one_of(st.none(), st.integers(0, n_lots - 1)))
    return {
        "clean": clean,
        "seed": draw(st.integers(0, 2**32 - 1)),
        "delimiter": draw(st.sampled_from([",", ";", "\t"])),
        "encoding": draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])),
        "trailing": draw(st.booleans()),
        "blank_rows": draw(st.lists(st.integers(0, n_lots), max_size=3)),
        "bad": None
        if bad_row is None
        else (bad_row, draw(st.sampled_from(["passage", "donor_age"]))),
    }


def messy_text(example: dict) -> bytes:
    """Type the clean sheet the way a person or a spreadsheet might."""
    rng = random.Random(example["seed"])
    delimiter = example["delimiter"]
    comma_ok = delimiter != ","
    lines = [delimiter.join(COLUMNS)]
    for row in example["clean"].itertuples(index=False):
        passage = rng.choice(["{}", "P{}", "p{}", "passage {}", "P {}", "Passage{}"])
        age = f"{row.donor_age:.1f}"
        cells = {
            "lot_id": padded(rng, row.lot_id),
            "donor_id": padded(rng, row.donor_id),
            "tissue_source": spelled(rng, "tissue_source", row.tissue_source),
            "passage": padded(rng, passage.format(row.passage)),
            "donor_age": padded(
                rng, age.replace(".", ",") if comma_ok and rng.random() < 0.7 else age
            ),
            "medium": spelled(rng, "medium", row.medium),
            "unstable": padded(rng, str(row.unstable)),
        }
        lines.append(delimiter.join(cells[c] for c in COLUMNS))
    if example["bad"] is not None:
        row, column = example["bad"]
        cells = lines[row + 1].split(delimiter)
        cells[COLUMNS.index(column)] = "n.a."
        lines[row + 1] = delimiter.join(cells)
    for position in sorted(example["blank_rows"], reverse=True):
        lines.insert(position + 1, delimiter * (len(COLUMNS) - 1) if rng.random() < 0.5 else "")
    if example["trailing"]:
        lines = [line + delimiter if line else line for line in lines]
    return ("\r\n".join(lines) + "\r\n").encode(example["encoding"])


@pytest.fixture(scope="module")
def bundle(planted: TrainingSet, fast_config: TrainConfig) -> ModelBundle:
    return ModelBundle.from_training(train_model(planted, fast_config))


def scored(bundle: ModelBundle, planted: TrainingSet, path: Path) -> tuple[pd.DataFrame, dict]:
    """Score a sheet against planted profiles (its lot ids) plus one run of no lot."""
    good, quarantine = read_lot_sheet_lenient(path)
    runs = sorted({*good.index, *quarantine["lot_id"]})
    profiles = planted.X.drop(columns=list(planted.metadata))
    intensities = pd.concat([profiles.loc[runs], profiles.iloc[[-1]].set_axis(["RUN-EXTRA"])])
    intensities.index = pd.Index(intensities.index, name="run")
    proteins = planted.proteins.drop(columns="input_name").rename_axis("group_id")
    scorer = BatchScorer(bundle, good, quarantine)
    scorer.start()
    scores, _ = scorer.score(ProteinMatrix(intensities, proteins, "wide", path, len(proteins)))
    scorer.finish()
    books = {
        "lots_in": scorer.n_lots_in,
        "scored": scorer.n_scored,
        "quarantined": scorer.n_lots_quarantined,
        "extra": scorer.extra_rows,
    }
    return scores.set_index("lot_id"), books


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(example=lot_sheets())
def test_typed_sheet_reads_as_its_clean_twin_or_one_message(
    tmp_path: Path, example: dict, bundle: ModelBundle, planted: TrainingSet
) -> None:
    clean_path = tmp_path / "clean.csv"
    example["clean"].to_csv(clean_path, index=False)
    clean = read_lot_sheet(clean_path, label="unstable")
    messy_path = tmp_path / "messy.csv"
    messy_path.write_bytes(messy_text(example))
    if example["bad"] is None:
        pd.testing.assert_frame_equal(read_lot_sheet(messy_path, label="unstable"), clean)
    else:
        row, column = example["bad"]
        lot = example["clean"].loc[row, "lot_id"]
        with pytest.raises(InputError) as error:
            read_lot_sheet(messy_path, label="unstable")
        problem_lines = [line for line in str(error.value).splitlines() if "n.a." in line]
        assert len(problem_lines) == 1
        assert lot in problem_lines[0] and f"column '{column}'" in problem_lines[0]

    n_lots = len(example["clean"])
    scores, books = scored(bundle, planted, messy_path)
    assert books["lots_in"] == n_lots == books["scored"] + books["quarantined"]
    assert books["extra"] == ["RUN-EXTRA"]
    assert books["quarantined"] == (example["bad"] is not None)
    clean_scores, _ = scored(bundle, planted, clean_path)
    pd.testing.assert_frame_equal(scores, clean_scores.loc[scores.index])


def test_predict_reads_request_cells_as_the_lot_sheet_does(
    bundle: ModelBundle, planted: TrainingSet
) -> None:
    """What HTTP sends reaches ``predict`` as typed: it must answer as for the clean lots."""
    clean = planted.X.reset_index().head(4).astype(object)
    clean.loc[3, "medium"] = "serum_free"  # a category the model never saw
    typed = clean.copy()
    typed["passage"] = [f"P{p}" if i % 2 else f" {p} " for i, p in enumerate(clean["passage"])]
    typed["medium"] = ["fetal bovine serum" if m == "FBS" else m for m in clean["medium"]]
    typed.loc[0, "medium"] = f" {str(clean.loc[0, 'medium']).lower()} "
    typed.loc[3, "medium"] = "Serum-free"
    expected = bundle.predict(clean)
    answer = bundle.predict(typed)
    pd.testing.assert_frame_equal(answer, expected)
    assert expected["error"].isna().all()
    assert expected["warning"].tolist()[:3] == [None] * 3
    assert (
        expected.loc[3, "warning"] == "medium 'serum_free' not seen in training: treated as missing"
    )
    typed.loc[1, "passage"] = "P5x"
    typed.loc[2, "RISK1"] = "n.d."
    errors = bundle.predict(typed)["error"].tolist()
    assert errors[1] == "not a number in column 'passage': 'P5x'"
    assert errors[2] == "text 'n.d.' in protein column 'RISK1'"
    assert errors[0] is None and errors[3] is None


@settings(max_examples=80, deadline=None)
@given(
    passage=st.floats(allow_nan=False, width=64),
    age=st.floats(allow_nan=False, width=64),
)
def test_an_infinite_number_is_one_reason_not_a_contradiction(passage: float, age: float) -> None:
    """Any number in passage and donor_age (±inf, 1e308, -0.0, 4.5, 60): the row is kept
    exactly when both are valid, and an infinite value gets one reason, not finite (1e400 in a
    request said "must be <= 50 (got inf); must be a whole number (got inf)")."""
    import math

    from exostab.io.readers.tables import split_lot_sheet

    sheet = pd.DataFrame({"lot_id": ["L1"], "passage": [passage], "donor_age": [age]})
    good, bad = split_lot_sheet(sheet, source="sheet")
    assert len(good) + len(bad) == 1
    valid_passage = math.isfinite(passage) and 0 <= passage <= 50 and passage % 1 == 0
    valid_age = math.isfinite(age) and age >= 0
    assert len(good) == int(valid_passage and valid_age)
    if len(bad):
        reason = str(bad["reason"].iat[0])
        for column, value in (("passage", passage), ("donor_age", age)):
            if math.isinf(value):
                assert reason.count(f"{column} must") == 1, reason
                assert f"{column} must be finite" in reason, reason


@settings(max_examples=100, deadline=None)
@given(number=st.floats(allow_nan=False, width=64))
def test_a_number_in_a_message_is_short_and_reads_back_as_itself(number: float) -> None:
    """passage 1e308 was named by its 309 digits; any float is at most ~25 characters and
    reads back (whole numbers without ``.0``)."""
    from exostab.io.lot_sheet_cells import cell_text

    text = cell_text(number)
    assert len(text) <= 25, text
    assert float(text) == number
    if number.is_integer() and abs(number) < 1e15:
        assert "." not in text and "e" not in text
