"""Real tier: protein-file cases of ../shared/cases/ and the cohorts of ../shared/datasets/.

Every file is read where it lies (never copied into the project); a test skips with the reason
when its folder is absent. Models are trained through the CLI with a tiny configuration into a
temporary mlflow store.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from exostab.cli import app
from exostab.config import CONFIG_DIR, TrainConfig
from exostab.dataset import build_training_set, panel_features, protein_table
from exostab.io.feature_names import safe_feature_names
from exostab.io.readers import ReadOptions, read_lot_sheet, read_proteins
from exostab.io.readers.parsing import PREVIEW_BYTES
from exostab.io.runs import map_runs_to_lots

SHARED = Path(__file__).resolve().parents[2] / "shared"
CASES = SHARED / "cases"
DATASETS = SHARED / "datasets"
runner = CliRunner()
TINY_CONFIG = {
    "data": {"metadata_features": ["passage"]},
    "search": {"candidates": [{"learner": "trees", "screen_top_k": 50}]},
    "model": {"max_rounds": 30, "learning_rate": 0.1, "min_child_samples": 5},
    "cv": {"n_splits": 3, "naive_gap": False, "baselines": False},
    "explain": {"n_dependence": 0, "n_waterfall": 0},
}


def folder(root: Path, name: str) -> Path:
    path = root / name
    if not path.is_dir():
        pytest.skip(f"{name} not found at {path}")
    return path


def invoke(*args: str) -> Result:
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("cases")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
        config = root / "tiny.yaml"
        config.write_text(yaml.safe_dump(TINY_CONFIG))
        yield {"root": root, "config": config}


def train_cli(store: dict, proteins: Path, lots: Path, name: str, *extra: str) -> dict:
    """Train through the CLI; return the JSON summary (model_uri, n_lots, ...)."""
    summary = store["root"] / f"{name}.json"
    result = invoke(
        "train",
        "--config",
        store["config"],
        "--proteins",
        proteins,
        "--lots",
        lots,
        "--no-register",
        "--summary",
        summary,
        "--experiment",
        name,
        *extra,
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(summary.read_text()))


def score_cli(
    store: dict, model: str, proteins: Path, lots: Path, name: str, *extra: str
) -> tuple[pd.DataFrame, pd.DataFrame, Result]:
    out = store["root"] / f"{name}.csv"
    result = invoke(
        "score", "--model", model, "--proteins", proteins, "--lots", lots, "--out", out, *extra
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"lot_id": str})
    quarantine = pd.read_csv(out.with_name(f"{name}.quarantine.csv"), dtype={"lot_id": str})
    return scores, quarantine, result


@pytest.fixture(scope="module")
def base_model(store: dict) -> str:
    """A tiny model trained on the 80 simulated lots of base-lots/ (MaxQuant)."""
    base = folder(CASES, "base-lots")
    return str(train_cli(store, base / "proteinGroups.txt", base / "lots.csv", "base")["model_uri"])


# --- naming, contaminants, headers -----------------------------------------------------------


def test_mq_cont_prefix_one_rule_for_every_format() -> None:
    case = folder(CASES, "mq-cont-prefix")
    maxquant = read_proteins(case / "proteinGroups.txt")
    diann = read_proteins(case / "same_groups.pg_matrix.tsv")
    raw = pd.read_csv(case / "proteinGroups.txt", sep="\t", dtype=str)
    contaminants = raw["Protein IDs"].str.contains("Cont_")
    assert int(contaminants.sum()) == 6
    assert raw.loc[contaminants, "Potential contaminant"].isna().all()  # the flag is empty
    for matrix in (maxquant, diann):
        assert matrix.n_dropped == 6
        assert matrix.n_groups == len(raw) - 6
        assert not any("Cont_" in group for group in matrix.intensities.columns)
    assert set(maxquant.intensities.columns) == set(diann.intensities.columns)


def test_fasta_header_columns_keep_genes_and_panels(caplog: pytest.LogCaptureFixture) -> None:
    case = folder(CASES, "lgbm-json-chars")
    headers = read_proteins(case / "proteins_fasta_headers.csv")
    symbols = read_proteins(case / "proteins_gene_symbols.csv")
    assert headers.proteins["gene"].notna().all()  # GN= of every header, as MaxQuant does
    by_headers, by_symbols = protein_table(headers), protein_table(symbols)
    assert sorted(by_headers.index) == sorted(by_symbols.index)
    panels = yaml.safe_load((CONFIG_DIR / "panels.yaml").read_text())
    members = panel_features(panels, by_headers.loc[:, ["gene"]])
    assert members == panel_features(panels, by_symbols.loc[:, ["gene"]])
    assert len(members["ev_identity"]) >= 5
    columns = next(csv.reader((case / "proteins_fasta_headers.csv").open()))[1:]
    a = headers.intensities.set_axis(safe_feature_names(headers.proteins).to_numpy(), axis=1)
    b = symbols.intensities.set_axis(safe_feature_names(symbols.proteins).to_numpy(), axis=1)
    pd.testing.assert_frame_equal(a[sorted(a.columns)], b[sorted(b.columns)], check_names=False)
    assert len(columns) == headers.n_groups
    opaque = pd.DataFrame({"gene": [np.nan] * 3}, index=["x1", "x2", "x3"])
    with caplog.at_level(logging.WARNING):
        assert not any(panel_features(panels, opaque).values())
    assert "no protein matches a gene of the panels" in caplog.text


def test_excel_trailing_empty_column_is_ignored() -> None:
    case = folder(CASES, "excel-trailing-empties")
    header = next(csv.reader((case / "proteins_excel.csv").open()))
    assert header[-1] == ""  # Excel's trailing comma
    matrix = read_proteins(case / "proteins_excel.csv")
    assert (matrix.n_runs, matrix.n_groups) == (12, len(header) - 2)
    assert "" not in matrix.intensities.columns


def test_spectronaut_pivot_report_is_read_like_the_long_report() -> None:
    case = folder(CASES, "spectronaut-pivot")
    path = case / "Report_pivot_PG.tsv"
    matrix = read_proteins(path)
    assert matrix.format == "spectronaut_pivot"
    raw = pd.read_csv(path, sep="\t", dtype=str).set_index("PG.ProteinGroups")
    quantity = [c for c in raw.columns if c.endswith(".PG.Quantity")]
    assert len(quantity) == matrix.n_runs == 12
    assert matrix.intensities.index[0] == "SIM_run_0001"  # '[1] ' and '.htrms.PG.Quantity' gone
    assert int(raw[quantity].eq("Filtered").to_numpy().sum()) == int(
        matrix.intensities.isna().to_numpy().sum()
    )
    group = matrix.intensities.columns[0]
    assert matrix.intensities.loc["SIM_run_0051", group] == float(
        raw.loc[group, "[2] SIM_run_0051.htrms.PG.Quantity"]
    )
    assert matrix.proteins.loc["P21926", "gene"] == "CD9"
    _, mapping = map_runs_to_lots(matrix, read_lot_sheet(case / "lots.csv"))
    assert len(mapping.run_to_lot) == 12 and not mapping.runs_without_lot


# --- failed runs -----------------------------------------------------------------------------


def test_inspect_names_the_failed_run() -> None:
    case = folder(CASES, "lfq-all-zero-sample")
    result = invoke("inspect", case / "proteinGroups.txt", "--lots", case / "lots.csv", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["failed_runs"] == ["SIM_run_0040"]
    assert any("SIM_run_0040" in problem for problem in payload["problems"])


def test_train_leaves_out_the_failed_run_naming_run_and_lot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = folder(CASES, "lfq-all-zero-sample")
    sheet = read_lot_sheet(case / "lots_80.csv", label="unstable")
    lot = str(sheet.index[sheet["ms_run"] == "SIM_run_0040"][0])
    with caplog.at_level(logging.WARNING):
        training = build_training_set(
            read_proteins(case / "proteinGroups_80lots.txt"),
            sheet,
            TrainConfig.model_validate(TINY_CONFIG),
        )
    assert lot not in training.X.index
    assert len(training.X) == len(sheet) - 1
    assert "SIM_run_0040" in caplog.text and lot in caplog.text
    assert caplog.text.count("quantified no protein") == 1, caplog.text  # said once
    assert "its only run: lot left out" in caplog.text
    assert training.fingerprint["failed_runs"] == 1


# --- scoring: isoforms, failed runs, pivot, scale ------------------------------------------


@pytest.mark.slow
def test_isoforms_score_identically_from_maxquant_and_gene_table(store, base_model) -> None:
    case = folder(CASES, "isoform-cross-format")
    header = next(csv.reader((case / "proteins_12.csv").open()))
    assert any(name.endswith("-2") for name in header)  # the case holds isoform columns
    lots = case / "lots.csv"
    from_mq, _, _ = score_cli(store, base_model, case / "proteinGroups_12.txt", lots, "iso_mq")
    from_wide, _, _ = score_cli(store, base_model, case / "proteins_12.csv", lots, "iso_wide")
    assert len(from_mq) == len(from_wide) == 12
    risks = from_mq.set_index("lot_id")["risk"]
    np.testing.assert_allclose(
        from_wide.set_index("lot_id")["risk"].loc[risks.index], risks, rtol=0, atol=1e-12
    )


@pytest.mark.slow
def test_score_quarantines_the_failed_run_with_its_reason(store, base_model) -> None:
    case = folder(CASES, "lfq-all-zero-sample")
    sheet = pd.read_csv(case / "lots.csv", dtype=str)
    lot = sheet.loc[sheet["ms_run"] == "SIM_run_0040", "lot_id"].iloc[0]
    scores, quarantine, _ = score_cli(
        store, base_model, case / "proteinGroups.txt", case / "lots.csv", "failed"
    )
    assert len(scores) + len(quarantine) == len(sheet)
    reason = quarantine.set_index("lot_id").loc[lot, "reason"]
    assert "quantified no protein" in reason and "'SIM_run_0040'" in reason  # names the run
    assert lot not in set(scores["lot_id"])


@pytest.mark.slow
def test_score_reads_the_pivot_report_and_excel_table(store, base_model) -> None:
    pivot = folder(CASES, "spectronaut-pivot")
    scores, quarantine, _ = score_cli(
        store, base_model, pivot / "Report_pivot_PG.tsv", pivot / "lots.csv", "pivot"
    )
    assert len(scores) == 12 and quarantine.empty
    excel = folder(CASES, "excel-trailing-empties")
    base = folder(CASES, "base-lots")
    scores, quarantine, _ = score_cli(
        store, base_model, excel / "proteins_excel.csv", base / "lots.csv", "excel"
    )
    assert len(scores) == 12
    assert len(scores) + len(quarantine) == 80


@pytest.mark.slow
def test_score_warns_when_values_contradict_the_scale(
    store, base_model, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    case = folder(CASES, "isoform-cross-format")
    wide = pd.read_csv(case / "proteins_12.csv", dtype={"lot_id": str}).set_index("lot_id")
    logged = tmp_path / "log2.csv"
    log2 = pd.DataFrame(np.log2(wide.to_numpy()), index=wide.index, columns=wide.columns)
    log2.reset_index().to_csv(logged, index=False)
    with caplog.at_level(logging.WARNING):
        score_cli(store, base_model, logged, case / "lots.csv", "contradiction")
    assert "look log2 already" in caplog.text
    raw_scores, _, _ = score_cli(
        store, base_model, case / "proteins_12.csv", case / "lots.csv", "raw12"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        declared, _, _ = score_cli(
            store, base_model, logged, case / "lots.csv", "declared", "--scale", "log2"
        )
    assert "look log2 already" not in caplog.text
    assert "converted" in caplog.text  # log2 input, raw model: said and converted back
    np.testing.assert_allclose(declared["risk"], raw_scores["risk"], atol=1e-9)


# --- the two real cohorts ---------------------------------------------------------------------


@pytest.mark.slow
def test_cptac_log2_ratios_inspect_train_score(store) -> None:
    data = folder(DATASETS, "cptac-ucec-lvsi")
    proteins, lots = data / "proteins_log2.csv", data / "lots.csv"
    with proteins.open("rb") as handle:
        assert len(handle.readline()) > PREVIEW_BYTES  # the header outgrows one preview block
    result = invoke("inspect", proteins, "--lots", lots, "--scale", "log2", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["n_runs"], payload["n_protein_groups"]) == (93, 10993)
    assert payload["intensity_min"] < 0  # log2 ratios: negative values are legal
    assert payload["problems"] == []
    refused = invoke("inspect", proteins)  # read as raw, the negative ratios are refused
    assert refused.exit_code == 2 and "--scale log2" in refused.stderr
    summary = train_cli(store, proteins, lots, "cptac", "--scale", "log2")
    assert (summary["n_lots"], summary["n_proteins_in"]) == (93, 10993)
    scores, quarantine, _ = score_cli(store, summary["model_uri"], proteins, lots, "cptac")
    assert len(scores) == 93 and quarantine.empty  # the model's scale is the default
    assert scores["risk"].between(0, 1).all()


@pytest.mark.slow
def test_heart_accession_gene_names_inspect_train_score(store) -> None:
    data = folder(DATASETS, "heart-lfq")
    proteins, lots = data / "proteins.csv", data / "lots.csv"
    result = invoke("inspect", proteins, "--lots", lots, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    # 3263 groups after the prefix rule; the contaminant library drops 7 human keratins
    assert (payload["n_runs"], payload["n_protein_groups"]) == (57, 3263 - 7)
    assert any("7 keratin (human skin, hair)" in note for note in payload["notes"])
    assert payload["problems"] == []
    matrix = read_proteins(proteins, options=ReadOptions(contaminants="none"))
    header = next(csv.reader(proteins.open()))[1:]
    assert matrix.proteins["leading_accession"].tolist() == [h.split("~")[0] for h in header]
    no_gene = [h for h in header if h.endswith("~")]  # 11 proteins with no gene symbol
    assert matrix.proteins["gene"].isna().sum() == len(no_gene) == 11
    assert matrix.proteins.loc["A0A024QZX5~SERPINB6", "gene"] == "SERPINB6"
    sheet = read_lot_sheet(lots, label="unstable")
    training = build_training_set(matrix, sheet, TrainConfig.model_validate(TINY_CONFIG))
    as_written = pd.read_csv(lots, dtype=str).set_index("lot_id")["donor_id"]
    assert training.groups.to_dict() == as_written.loc[training.groups.index].to_dict()
    assert training.groups.nunique() == 50  # heart ids such as 5.084 stay text
    summary = train_cli(store, proteins, lots, "heart")
    assert summary["n_lots"] == 57
    scores, quarantine, _ = score_cli(store, summary["model_uri"], proteins, lots, "heart")
    assert len(scores) == 57 and quarantine.empty
