"""Run names fit the mlflow UI's narrow Run Name column and tell runs apart (issue 22, Why 2).

The browser screenshot (tests/test_mlflow_ui_browser.py) shows that column cutting names after
about 22 characters; what differs between runs (lots, learner) must come first, and SIMULATED
data must still say so.
"""

from __future__ import annotations

from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from exostab.config import Candidate
from exostab.training.workflow import run_name

LEARNERS = get_args(Candidate.model_fields["learner"].annotation)
runs = st.tuples(st.integers(1, 9999), st.sampled_from(LEARNERS), st.booleans())


def test_every_learner_is_offered() -> None:
    assert set(LEARNERS) == {"prior", "trees", "linear", "blend", "average"}


@given(runs)
def test_a_run_name_is_short_and_starts_with_what_differs(run: tuple[int, str, bool]) -> None:
    n_lots, learner, simulated = run
    name = run_name(n_lots, learner, simulated=simulated)
    assert len(name) <= 31, name  # "9999 lots · average · SIMULATED"
    assert name.startswith(f"{n_lots} lots · {learner}"), name
    assert ("SIMULATED" in name) == simulated, name


@given(runs, runs)
def test_different_runs_get_different_names(
    first: tuple[int, str, bool], second: tuple[int, str, bool]
) -> None:
    names = [run_name(n, learner, simulated=sim) for n, learner, sim in (first, second)]
    assert (names[0] == names[1]) == (first == second), names
