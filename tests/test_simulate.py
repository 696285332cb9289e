"""Tests of the lot simulator: determinism, formats, realism checks of §7.12, scenarios, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr
from typer.testing import CliRunner

from exostab.cli import app
from exostab.errors import ConfigError, ExostabError
from exostab.simulate import (
    DEFAULT_SIMULATE_CONFIG,
    SCENARIOS,
    SHIFT_SCENARIOS,
    SimulationConfig,
    load_simulation_config,
    write_simulation,
)

SMALL = {"n_lots": 120, "n_donors": 15, "n_proteins": 400}
LOT_SHEET = [
    "lot_id", "donor_id", "tissue_source", "donor_age", "passage", "medium", "culture_format",
    "priming", "isolation_method", "formulation", "storage_weeks", "freeze_thaw_cycles",
    "ms_batch", "ms_run", "acquisition", "unstable",
]  # fmt: skip
EV_MARKERS = ["CD9", "CD63", "CD81", "TSG101", "PDCD6IP", "SDCBP", "FLOT1", "HSPA8", "ANXA2"]
SENESCENCE_MARKERS = ["GDF15", "SERPINE1", "IGFBP3", "IGFBP7", "MMP1", "STC1"]
CONTAMINANTS = ["ALB", "APOA1", "APOB", "FGA", "FGB", "FGG", "C3", "A2M", "PF4", "PPBP"]


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    write_simulation(out, **SMALL, seed=11)
    return out


@pytest.fixture(scope="module")
def default_size(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default 250 lots x 25 donors (fewer proteins: potency uses only the named panel)."""
    out = tmp_path_factory.mktemp("default")
    write_simulation(out, n_lots=250, n_donors=25, n_proteins=400)
    return out


def read_outputs(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    lots = pd.read_csv(root / "lots.csv")
    proteins = pd.read_csv(root / "proteins.csv", index_col="lot_id")
    truth_lots = pd.read_csv(root / "truth" / "truth_lots.csv")
    truth_proteins = pd.read_csv(root / "truth" / "truth_proteins.csv")
    return lots, proteins, truth_lots, truth_proteins


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    write_simulation(tmp_path / "a", **SMALL, seed=3)
    write_simulation(tmp_path / "b", **SMALL, seed=3)
    first, second = all_files(tmp_path / "a"), all_files(tmp_path / "b")
    assert len(first) == 8
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name


def test_different_seeds_differ(tmp_path: Path) -> None:
    write_simulation(tmp_path / "a", **SMALL, seed=3)
    write_simulation(tmp_path / "b", **SMALL, seed=4)
    first, second = all_files(tmp_path / "a"), all_files(tmp_path / "b")
    for name in ("lots.csv", "proteins.csv", "proteinGroups.txt", "truth/truth_lots.csv"):
        assert first[name] != second[name], name


# -- contract of the files ---------------------------------------------------------------------


def test_lot_sheet_and_protein_table_contract(small: Path) -> None:
    lots, proteins, truth_lots, truth_proteins = read_outputs(small)
    assert list(lots.columns) == LOT_SHEET
    assert len(lots) == SMALL["n_lots"] and lots["lot_id"].is_unique
    assert lots["lot_id"].str.fullmatch(r"SIM-L\d{4}").all()
    assert lots["donor_id"].str.fullmatch(r"SIM-D\d{3}").all()
    assert lots["donor_id"].nunique() == SMALL["n_donors"]
    assert lots["ms_run"].str.fullmatch(r"SIM_run_\d{4}").all() and lots["ms_run"].is_unique
    assert (lots["ms_run"].str[-4:] != lots["lot_id"].str[-4:]).any()
    assert lots["ms_batch"].str.fullmatch(r"B\d{2}").all()
    assert set(lots["tissue_source"]) <= {"BM", "UC", "AT"}
    assert lots["passage"].between(2, 12).all()
    assert set(lots["medium"]) <= {"hPL", "FBS", "serum_free"}
    assert set(lots["unstable"]) <= {0, 1}
    assert (lots.loc[lots["tissue_source"] == "UC", "donor_age"] == 0).all()
    assert list(proteins.index) == list(lots["lot_id"])
    assert proteins.columns.is_unique
    assert np.nanmin(proteins.to_numpy()) > 0
    assert truth_lots["p_fail"].between(0, 1).all()
    assert list(truth_lots["lot_id"]) == list(lots["lot_id"])
    assert set(proteins.columns) <= set(truth_proteins["protein"]) | {
        f"{g}-2" for g in truth_proteins["gene"]
    }
    named = truth_proteins[truth_proteins["accession_source"] != "simulated"]
    assert not named["accession_verified"].any()
    assert named.set_index("gene").loc["CD9", "accession"] == "P21926"
    background = truth_proteins[truth_proteins["accession_source"] == "simulated"]
    assert background["accession"].str.fullmatch(r"SIMP\d{5}").all()
    assert background["gene"].str.fullmatch(r"SIMG\d{5}").all()
    assert proteins.columns.str.contains(";").any(), "no merged protein group"
    readme = (small / "README.txt").read_text()
    assert readme.startswith("THESE DATA ARE SIMULATED")
    resolved = yaml.safe_load((small / "simulation.yaml").read_text())
    assert resolved["seed"] == 11 and resolved["scenario"] == "base" and resolved["simulated"]
    SimulationConfig.model_validate(resolved["config"])


def test_causal_truth(small: Path) -> None:
    truth = pd.read_csv(small / "truth" / "truth_proteins.csv").set_index("gene")
    assert truth.loc["IL6", "causal"] and truth.loc["IL6", "weight"] < 0
    assert truth.loc["TNFAIP6", "causal"] and truth.loc["TNFAIP6", "weight"] > 0
    for passenger in ("STC1", "IGFBP7"):
        assert not truth.loc[passenger, "causal"] and truth.loc[passenger, "weight"] == 0
        assert truth.loc[passenger, "passenger"]
    assert (truth.loc[~truth["causal"], "weight"] == 0).all()
    assert truth.loc["IL6", "detected_fraction"] < 0.5, "IL6 should be mostly MNAR-missing"
    contaminant = truth[truth["module"] == "contaminant"]
    assert (contaminant["contaminant_loading"] > 0).all() and not contaminant["causal"].any()


def test_vendor_files_hold_the_same_numbers(small: Path) -> None:
    lots, proteins, _, truth_proteins = read_outputs(small)
    run_of_lot = lots.set_index("lot_id")["ms_run"]
    maxquant = pd.read_csv(small / "proteinGroups.txt", sep="\t", dtype={"Protein IDs": str})
    flagged = (
        (maxquant["Reverse"] == "+")
        | (maxquant["Potential contaminant"] == "+")
        | (maxquant["Only identified by site"] == "+")
    )
    assert (maxquant["Reverse"] == "+").sum() >= 3
    assert (maxquant["Potential contaminant"] == "+").sum() >= 3
    assert (maxquant["Only identified by site"] == "+").sum() >= 1
    assert maxquant.loc[maxquant["Reverse"] == "+", "Protein IDs"].str.startswith("REV__").all()
    real = maxquant[~flagged].reset_index(drop=True)
    assert len(real) == proteins.shape[1]
    assert not real["Gene names"].isin(["KRT1", "KRT10"]).any()
    assert real["Fasta headers"].str.startswith(">").all()
    lfq = real[[f"LFQ intensity {run_of_lot[lot]}" for lot in proteins.index]].to_numpy().T
    np.testing.assert_array_equal(lfq, proteins.fillna(0).to_numpy())
    raw = real[[f"Intensity {run_of_lot[lot]}" for lot in proteins.index]].to_numpy().T
    assert ((raw > 0) == (lfq > 0)).all() and not np.array_equal(raw, lfq)
    merged = real["Protein IDs"].str.contains(";")
    assert merged.any() and real.loc[merged, "Gene names"].str.contains(";").all()

    diann = pd.read_csv(small / "report.pg_matrix.tsv", sep="\t")
    path_of_lot = lots.set_index("lot_id").apply(
        lambda lot: f"D:\\MSdata\\{lot['ms_batch']}\\{lot['ms_run']}.raw", axis=1
    )
    assert list(diann["Protein.Group"]) == list(real["Protein IDs"])
    values = diann[[path_of_lot[lot] for lot in proteins.index]].to_numpy().T
    np.testing.assert_array_equal(np.nan_to_num(values), proteins.fillna(0).to_numpy())
    assert set(diann["Genes"]) - set(truth_proteins["gene"]) <= set(real["Gene names"])


# -- realism checks of §7.12 -------------------------------------------------------------------


def test_missingness_is_mnar(small: Path) -> None:
    _, proteins, _, _ = read_outputs(small)
    log2 = np.log2(proteins)
    rho = spearmanr(proteins.isna().mean(), log2.mean())[0]
    assert rho < -0.5
    assert 0.02 < proteins.isna().to_numpy().mean() < 0.20  # DIA: ~5-15%


def test_dda_misses_more_than_dia(tmp_path: Path) -> None:
    write_simulation(tmp_path, **SMALL, acquisition="dda")
    proteins = pd.read_csv(tmp_path / "proteins.csv", index_col="lot_id")
    assert 0.2 < proteins.isna().to_numpy().mean() < 0.5
    assert (pd.read_csv(tmp_path / "lots.csv")["acquisition"] == "DDA").all()


def test_ev_markers_present(small: Path) -> None:
    _, proteins, _, _ = read_outputs(small)
    assert (proteins[EV_MARKERS].notna().mean() > 0.95).all()


def test_senescence_markers_rise_with_passage(default_size: Path) -> None:
    lots, proteins, _, _ = read_outputs(default_size)
    log2 = np.log2(proteins)
    # Median normalisation (standard step) removes the simulated loading and batch offsets.
    log2 = log2.sub(log2.dropna(axis=1).median(axis=1), axis=0)
    late, early = lots["passage"].to_numpy() >= 9, lots["passage"].to_numpy() <= 4
    # Geometric-mean fold change, as a limma-style comparison of means would estimate it.
    folds = [2 ** (log2[g][late].mean() - log2[g][early].mean()) for g in SENESCENCE_MARKERS]
    assert np.median(folds) >= 1.5


def test_p_fail_rises_with_passage_and_prevalence(default_size: Path) -> None:
    lots, _, truth_lots, _ = read_outputs(default_size)
    assert spearmanr(truth_lots["passage"], truth_lots["p_fail"])[0] > 0.3
    assert 0.10 <= lots["unstable"].mean() <= 0.40
    by_passage = truth_lots.groupby(truth_lots["passage"] >= 9)["expected_rp"].mean()
    assert by_passage[True] < by_passage[False]


def test_donors_separate_more_than_passages_early(default_size: Path) -> None:
    lots, proteins, _, _ = read_outputs(default_size)
    early = lots["passage"].between(3, 6).to_numpy()
    log2 = np.log2(proteins[early]).dropna(axis=1)
    log2 = log2.sub(log2.median(axis=1), axis=0)
    centred = log2 - log2.mean()
    u, s, _ = np.linalg.svd(centred.to_numpy(), full_matrices=False)
    scores = u[:, :5] * s[:5]

    def epsilon_squared(groups: np.ndarray) -> float:
        total = ((scores - scores.mean(0)) ** 2).sum()
        labels, inverse = np.unique(groups, return_inverse=True)
        means = np.array([scores[inverse == k].mean(0) for k in range(len(labels))])
        between = (np.bincount(inverse)[:, None] * (means - scores.mean(0)) ** 2).sum()
        within = (total - between) / (len(scores) - len(labels))
        return float((between - (len(labels) - 1) * within) / total)

    donor = epsilon_squared(lots.loc[early, "donor_id"].to_numpy())
    passage = epsilon_squared(lots.loc[early, "passage"].to_numpy())
    assert donor > 0.3 and donor > passage + 0.2


def test_contaminants_higher_with_peg_and_hpl(default_size: Path) -> None:
    lots, proteins, _, _ = read_outputs(default_size)
    level = np.log2(proteins[CONTAMINANTS]).mean(axis=1).to_numpy()
    by_isolation = pd.Series(level).groupby(lots["isolation_method"].to_numpy()).mean()
    by_medium = pd.Series(level).groupby(lots["medium"].to_numpy()).mean()
    assert by_isolation["PEG_UC"] > by_isolation["TFF_SEC"] + 0.5
    assert by_medium["hPL"] > by_medium["serum_free"] + 0.5


# -- scenarios ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "column", "train", "test"),
    [
        ("medium_shift", "medium", {"FBS"}, {"hPL"}),
        ("source_shift", "tissue_source", {"BM", "AT"}, {"UC"}),
        ("dda_dia_shift", "acquisition", {"DIA"}, {"DDA"}),
    ],
)
def test_shift_scenarios_write_disjoint_train_and_test(
    tmp_path: Path, scenario: str, column: str, train: set[str], test: set[str]
) -> None:
    summary = write_simulation(tmp_path, n_lots=80, n_donors=10, n_proteins=300, scenario=scenario)
    assert summary.parts == ("train", "test")
    train_lots = pd.read_csv(tmp_path / "train" / "lots.csv")
    test_lots = pd.read_csv(tmp_path / "test" / "lots.csv")
    assert len(train_lots) + len(test_lots) == 80
    assert not set(train_lots["donor_id"]) & set(test_lots["donor_id"])
    assert set(train_lots[column]) <= train and set(test_lots[column]) <= test
    assert not set(train_lots["ms_run"]) & set(test_lots["ms_run"])
    for part in ("train", "test"):
        assert {p.name for p in (tmp_path / part).iterdir()} >= {
            "lots.csv", "proteins.csv", "proteinGroups.txt", "report.pg_matrix.tsv", "truth",
        }  # fmt: skip


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in SHIFT_SCENARIOS])
def test_every_scenario_runs(tmp_path: Path, scenario: str) -> None:
    summary = write_simulation(tmp_path, n_lots=60, n_donors=8, n_proteins=200, scenario=scenario)
    assert (tmp_path / "proteins.csv").exists() and 0 <= summary.prevalence <= 1


def test_batch_confounding_and_acute_stress(tmp_path: Path) -> None:
    write_simulation(
        tmp_path / "b", n_lots=200, n_donors=20, n_proteins=200, scenario="batch_confounded"
    )
    lots = pd.read_csv(tmp_path / "b" / "lots.csv")
    assert spearmanr(lots["passage"], lots["ms_run"].str[-4:].astype(int))[0] > 0.3
    write_simulation(
        tmp_path / "s", n_lots=200, n_donors=20, n_proteins=200, scenario="acute_stress"
    )
    truth = pd.read_csv(tmp_path / "s" / "truth" / "truth_lots.csv")
    assert truth["acute_stress"].any() and (truth.loc[truth["acute_stress"], "passage"] <= 5).all()


def test_weak_signal_is_weaker(tmp_path: Path) -> None:
    base = load_simulation_config(scenario="base")
    weak = load_simulation_config(scenario="weak_signal")
    assert weak.proteome.causal_beta_scale == 0.5
    assert weak.potency.shares.donor + weak.potency.shares.lot == pytest.approx(0.6)
    assert base.potency.shares.donor + base.potency.shares.lot == pytest.approx(0.3)


# -- configuration -----------------------------------------------------------------------------


def test_yaml_base_matches_model_defaults() -> None:
    raw = yaml.safe_load(DEFAULT_SIMULATE_CONFIG.read_text())
    raw.pop("scenarios")
    from_yaml = SimulationConfig.model_validate(raw).model_dump()
    defaults = SimulationConfig().model_dump()
    from_yaml["proteome"].pop("panel")
    defaults["proteome"].pop("panel")
    assert from_yaml == defaults


def test_config_rejects_unknown_keys_and_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("proteome:\n  lot_sdd: 0.2\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_simulation_config(path)
    path.write_text("potency:\n  sasp_weights: {NOTAGENE: 1.0}\n")
    with pytest.raises(ConfigError, match="NOTAGENE"):
        load_simulation_config(path)
    path.write_text("potency:\n  shares: {functional: 0.9}\n")
    with pytest.raises(ConfigError, match="sum to 1"):
        load_simulation_config(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "nope"}, "unknown scenario"),
        ({"n_lots": 5, "n_donors": 8}, "at least donors"),
        ({"acquisition": "srm"}, "acquisition"),
        ({"n_proteins": 10}, "proteins must lie"),
        ({"scenario": "medium_shift", "n_donors": 1, "n_lots": 10}, "at least 2 donor"),
    ],
)
def test_bad_options_raise_short_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ExostabError, match=message):
        write_simulation(tmp_path, **kwargs)


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_simulate(tmp_path: Path) -> None:
    out = tmp_path / "tmp"
    result = CliRunner().invoke(
        app, ["simulate", "--out", str(out), "--lots", "60", "--donors", "8", "--proteins", "300"]
    )
    assert result.exit_code == 0, result.output
    assert "SIMULATED" in result.output
    assert (out / "proteins.csv").exists() and (out / "truth" / "truth_lots.csv").exists()
    assert len(pd.read_csv(out / "lots.csv")) == 60


def test_cli_unknown_scenario_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--scenario", "nope"])
    assert result.exit_code == 2
    assert "unknown scenario" in result.output
    assert "Traceback" not in result.output
