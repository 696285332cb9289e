"""Batch scoring holds the lot sheet compactly, with the same answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from exostab.io.readers import read_lot_sheet_lenient, read_proteins
from exostab.model.bundle import ModelBundle
from exostab.scoring.batch import BatchScorer, compact_sheet
from exostab.training.nested_cv import train_model


def test_a_compact_sheet_scores_as_the_sheet_read(planted, fast_config, tmp_path: Path) -> None:
    bundle = ModelBundle.from_training(train_model(planted, fast_config, {}))
    lots = planted.X[["passage", "medium"]].assign(donor_id=planted.groups, note="batch A")
    lots.loc[lots.index[3], "medium"] = None
    lots.to_csv(tmp_path / "lots.csv")
    planted.X.drop(columns=["passage", "medium"]).to_csv(tmp_path / "proteins.csv")
    sheet, refused = read_lot_sheet_lenient(tmp_path / "lots.csv", vocabulary=bundle.vocabulary)
    matrix = read_proteins(tmp_path / "proteins.csv")
    compact = compact_sheet(sheet)
    text = [c for c in sheet.columns if sheet[c].dtype == object]
    assert text and all(isinstance(compact[c].dtype, pd.StringDtype) for c in text)
    assert compact.memory_usage(deep=True).sum() < sheet.memory_usage(deep=True).sum()
    answers = []
    for held in (sheet, compact):
        scorer = BatchScorer(bundle, held, refused)
        scorer.start()
        answers.append(scorer.score(matrix))
    pd.testing.assert_frame_equal(answers[1][0], answers[0][0])
    pd.testing.assert_frame_equal(answers[1][1], answers[0][1])
    assert len(answers[0][0]) == len(planted.X)
