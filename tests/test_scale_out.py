"""Scale-out tier: Spark engine = pandas engine, cheap model resolution, a server that stops.

One small model trained through the CLI into a temporary SQLite store, and one local Spark
session (``local[2]``) reused by every Spark test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from conftest import wait_for_ping
from exostab.cli import app
from exostab.io.readers.streaming import failed_run_reason
from exostab.scoring.batch import failed_replicate_warning
from exostab.simulate import write_simulation

pytestmark = [pytest.mark.integration, pytest.mark.slow]
runner = CliRunner()
EXOSTAB = Path(sys.executable).parent / "exostab"


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("scale")
    store = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", store)
        # Score with the first version: whether it is champion depends on the gate, which
        # test_train_applies_the_gate checks on its own.
        patch.setenv("EXOSTAB_MODEL", "models:/exostab/1")
        train = write_simulation(root / "train", n_lots=120, n_donors=12, n_proteins=400, seed=3)
        new = write_simulation(root / "new", n_lots=40, n_donors=5, n_proteins=400, seed=4)
        summary = root / "summary.json"
        result = invoke(
            "train",
            "--proteins", str(train.out / "proteins.csv"),
            "--lots", str(train.out / "lots.csv"),
            "--summary", str(summary),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        yield {
            "root": root,
            "store": store,
            "new": new.out,
            "run": json.loads(summary.read_text()),
        }


@pytest.fixture(scope="module")
def bad_lots(workspace) -> tuple[Path, Path]:
    """The simulated new lots with every kind of bad row the scorers quarantine."""
    new, root = workspace["new"], workspace["root"]
    sheet = pd.read_csv(new / "lots.csv", dtype=str)
    proteins = pd.read_csv(new / "proteins.csv", dtype=str)
    sheet.loc[0, "passage"] = "-1"
    sheet.loc[1, "passage"] = "five"
    sheet = pd.concat([sheet, sheet.iloc[[2]]])  # duplicate lot id in the sheet
    sheet = sheet[sheet["lot_id"] != sheet["lot_id"].iloc[3]]  # a run with no lot
    blank = proteins.columns[1:]
    proteins.loc[4, blank] = ""  # nothing measured
    proteins.loc[6, blank[0]] = "n.d."  # text in an intensity cell
    proteins.loc[7, blank[1]] = "-5"  # negative intensity
    proteins.loc[9, blank[2]] = "NA"  # missing, as pandas reads it
    proteins.loc[10, "lot_id"] = ""  # empty lot id
    replicate = proteins.iloc[[12]].assign(lot_id="REP-B")  # two runs of one lot, averaged
    replicate[blank] = (replicate[blank].astype(float) * 1.5).astype(str)
    sheet.loc[sheet["lot_id"] == proteins.loc[12, "lot_id"], "ms_run"] = "REP-A;REP-B"
    proteins.loc[12, "lot_id"] = "REP-A"
    proteins = pd.concat([proteins, proteins.iloc[[8]], replicate])  # + a duplicate row
    extra = sheet.iloc[[5]].assign(lot_id="SIM-EXTRA", ms_run="SIM_run_missing")
    sheet = pd.concat([sheet, extra])
    sheet.to_csv(root / "bad_lots.csv", index=False)
    proteins.to_csv(root / "bad_proteins.csv", index=False)
    return root / "bad_proteins.csv", root / "bad_lots.csv"


@pytest.fixture(scope="module")
def spark(workspace):
    pytest.importorskip("pyspark", reason="the [spark] extra is not installed")
    from exostab.scoring.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


def score(proteins: Path, lots: Path, out: Path, *extra: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score through the CLI; return scores (by lot) and quarantine (sorted)."""
    result = invoke(
        "score", "--proteins", str(proteins), "--lots", str(lots), "--out", str(out), *extra
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out).set_index("lot_id").sort_index()
    quarantine = pd.read_csv(out.with_name(f"{out.stem}.quarantine.csv"), dtype=str)
    return scores, quarantine.sort_values(["lot_id", "reason"]).reset_index(drop=True)


def assert_same_answers(pandas_run, spark_run, same_files: bool = True) -> None:
    (scores, quarantine), (spark_scores, spark_quarantine) = pandas_run, spark_run
    assert len(scores) > 10
    pd.testing.assert_index_equal(scores.index, spark_scores.index)
    assert list(scores.columns) == list(spark_scores.columns)
    compared = [c for c in scores.columns if same_files or c != "input_hash"]
    for column in compared:  # the same bundle answers in both engines
        if pd.api.types.is_float_dtype(scores[column]) and column != "risk":
            # Distances of the domain check are matrix products whose summation order follows
            # the batch shape (Arrow batches vs CSV chunks): equal to the last few bits.
            np.testing.assert_allclose(scores[column], spark_scores[column], rtol=1e-12)
        else:
            assert scores[column].astype(str).tolist() == spark_scores[column].astype(str).tolist()
    np.testing.assert_array_equal(scores["risk"], spark_scores["risk"])
    pd.testing.assert_frame_equal(quarantine, spark_quarantine)


def test_spark_engine_scores_and_quarantines_like_pandas(spark, workspace, bad_lots) -> None:
    proteins, lots = bad_lots
    root = workspace["root"]
    pandas_run = score(proteins, lots, root / "bad_pandas.parquet")
    spark_run = score(proteins, lots, root / "bad_spark.parquet", "--engine", "spark")
    assert_same_answers(pandas_run, spark_run)
    reasons = " | ".join(spark_run[1]["reason"])
    for expected in ("passage", "duplicate", "not in the lot sheet", "'n.d.'", "negative",
                     "empty lot_id", "no protein profile"):  # fmt: skip
        assert expected in reasons, reasons
    assert "(row 12: empty lot_id)" in set(spark_run[1]["lot_id"])
    n_in = len(pd.read_csv(lots)) + 2  # + the run without a lot, + the duplicate row's copy
    n_in += 1  # + the row whose lot id is empty
    assert len(spark_run[0]) + len(spark_run[1]) == n_in


def test_spark_engine_reads_parquet_and_search_engine_files(spark, workspace) -> None:
    new, root = workspace["new"], workspace["root"]
    wide = root / "proteins.parquet"
    pd.read_csv(new / "proteins.csv").to_parquet(wide, index=False)
    pandas_run = score(new / "proteins.csv", new / "lots.csv", root / "wide_pandas.parquet")
    out = root / "wide_spark"  # no .parquet suffix: a folder written by the executors
    result = invoke(
        "score", "--proteins", str(wide), "--lots", str(new / "lots.csv"),
        "--out", str(out), "--engine", "spark",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.is_dir() and list(out.glob("part-*.parquet"))
    spark_scores = pd.read_parquet(out).set_index("lot_id").sort_index()
    quarantine = pd.read_csv(root / "wide_spark.quarantine.csv", dtype=str)
    assert_same_answers(pandas_run, (spark_scores, quarantine), same_files=False)
    assert len(spark_scores) == 40

    maxquant = new / "proteinGroups.txt"
    assert_same_answers(
        score(maxquant, new / "lots.csv", root / "mq_pandas.parquet"),
        score(maxquant, new / "lots.csv", root / "mq_spark.parquet", "--engine", "spark"),
    )


def test_spark_engine_leaves_out_a_failed_replicate_like_pandas(
    spark, workspace, tmp_path: Path
) -> None:
    """A lot whose second run quantified no protein is scored on its first run, its warning
    naming the left-out run; a lot whose only run failed is quarantined with the failed-run
    reason. The Spark engine quarantined the first lot whole (wide table: the reader's
    ``failed_run`` mark was lost) or scored it without the warning (a table read on the driver:
    the failed run was not set aside); it now answers as the pandas engine, in both."""
    new = workspace["new"]
    sheet = pd.read_csv(new / "lots.csv", dtype=str)
    proteins = pd.read_csv(new / "proteins.csv", dtype=str)
    blank = proteins.columns[1:]
    two, one = proteins.loc[0, "lot_id"], proteins.loc[1, "lot_id"]
    failed = proteins.iloc[[0]].assign(lot_id=f"{two}_r2")
    failed[blank] = ""
    proteins.loc[0, "lot_id"] = f"{two}_r1"
    sheet.loc[sheet["lot_id"] == two, "ms_run"] = f"{two}_r1;{two}_r2"
    proteins.loc[1, blank] = ""  # the only run of this lot
    proteins = pd.concat([proteins, failed])
    lots = tmp_path / "lots.csv"
    sheet.to_csv(lots, index=False)
    wide = tmp_path / "proteins.csv"
    proteins.to_csv(wide, index=False)
    long = tmp_path / "long.csv"  # run, protein, intensity: read on the driver
    melted = proteins.rename(columns={"lot_id": "run"}).melt(
        id_vars="run", var_name="protein", value_name="intensity"
    )
    melted.to_csv(long, index=False)
    for table in (wide, long):
        pandas_run = score(table, lots, tmp_path / f"{table.stem}_pandas.parquet")
        spark_run = score(
            table, lots, tmp_path / f"{table.stem}_spark.parquet", "--engine", "spark"
        )
        assert_same_answers(pandas_run, spark_run)
        scores, quarantine = spark_run
        assert failed_replicate_warning([f"{two}_r2"]) in scores.loc[two, "warning"], table
        assert one not in scores.index, table
        assert quarantine.to_dict("records") == [
            {"lot_id": one, "reason": failed_run_reason(one)}
        ], table


def test_spark_engine_refuses_a_long_tables_run_with_text_like_pandas(
    spark, workspace, tmp_path: Path
) -> None:
    """A long table (read on the driver) with text in one intensity cell of a lot's only run,
    and of the second run of a lot measured twice: both engines refused the file (exit 2).
    Now each quarantines both lots with the reason (a lot with a refused replicate whole, as
    a wide table's), scores every other lot, and they answer alike."""
    new = workspace["new"]
    sheet = pd.read_csv(new / "lots.csv", dtype=str)
    proteins = pd.read_csv(new / "proteins.csv", dtype=str)
    protein = proteins.columns[2]
    only, twice = proteins.loc[3, "lot_id"], proteins.loc[5, "lot_id"]
    proteins.loc[3, protein] = "n.d."
    second = proteins.iloc[[5]].assign(lot_id=f"{twice}_r2")
    second[protein] = "<LOD"
    proteins.loc[5, "lot_id"] = f"{twice}_r1"
    sheet.loc[sheet["lot_id"] == twice, "ms_run"] = f"{twice}_r1;{twice}_r2"
    lots = tmp_path / "lots.csv"
    sheet.to_csv(lots, index=False)
    long = tmp_path / "long.csv"
    pd.concat([proteins, second]).rename(columns={"lot_id": "run"}).melt(
        id_vars="run", var_name="protein", value_name="intensity"
    ).to_csv(long, index=False)
    pandas_run = score(long, lots, tmp_path / "pandas.parquet")
    spark_run = score(long, lots, tmp_path / "spark.parquet", "--engine", "spark")
    assert_same_answers(pandas_run, spark_run)
    scores, quarantine = spark_run
    cell = f"in protein '{protein}' (column 'intensity')"
    assert quarantine.to_dict("records") == sorted(
        [
            {"lot_id": only, "reason": f"text 'n.d.' {cell}"},
            {"lot_id": twice, "reason": f"run '{twice}_r2': text '<LOD' {cell}"},
        ],
        key=lambda row: (row["lot_id"], row["reason"]),
    )
    assert len(scores) == len(sheet) - 2


def test_spark_engine_counts_lots_as_the_pandas_engine_does(
    spark, workspace, tmp_path: Path
) -> None:
    """A QC run of no lot in the sheet is a protein-file row, not a lot: Spark printed "41 lots
    in: 40 scored, 1 quarantined" where the pandas engine says "40 lots in (lot sheet): 40
    scored + 0 quarantined; also quarantined 1 protein-file row(s) …"."""
    new = workspace["new"]
    proteins = pd.read_csv(new / "proteins.csv", dtype=str)
    extra = proteins.iloc[[0]].assign(lot_id="QC_blank_01")
    table = tmp_path / "proteins.csv"
    pd.concat([proteins, extra]).to_csv(table, index=False)
    said = {}
    for engine in ("pandas", "spark"):
        out = tmp_path / f"{engine}.parquet"
        result = invoke(
            "score",
            "--proteins",
            str(table),
            "--lots",
            str(new / "lots.csv"),
            "--out",
            str(out),
            "--engine",
            engine,
        )
        assert result.exit_code == 0, result.output
        flat = " ".join(result.output.split())
        found = re.search(r"\d+ lots in \(lot sheet\).*?(?= scores →)", flat)
        assert found, flat
        said[engine] = found.group(0)
    n_lots = pd.read_csv(new / "lots.csv").shape[0]
    assert said["pandas"].startswith(f"{n_lots} lots in (lot sheet): ")
    assert "also quarantined 1 protein-file row(s)" in said["pandas"]
    assert said["spark"] == said["pandas"]


def test_spark_engine_says_which_model_proteins_the_file_lacks_like_pandas(
    spark, workspace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file without some of the model's proteins: both engines print the same line naming
    them (Spark put it in each lot's ``warning`` only, and printed nothing)."""
    new = workspace["new"]
    proteins = pd.read_csv(new / "proteins.csv", dtype=str)
    gone = [c for c in proteins.columns if c != "lot_id"][:2]
    table = tmp_path / "fewer.csv"
    proteins.drop(columns=gone).to_csv(table, index=False)
    said = {}
    for engine in ("pandas", "spark"):
        out = tmp_path / f"{engine}.parquet"
        result = invoke(
            "score",
            "--proteins", str(table),
            "--lots", str(new / "lots.csv"),
            "--out", str(out),
            "--engine", engine,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        said[engine] = [
            r.getMessage() for r in caplog.records if "absent from the protein file" in r.message
        ]
        caplog.clear()
        assert all(name in w for w in pd.read_parquet(out)["warning"] for name in gone)
    assert len(said["pandas"]) == 1
    assert all(name in said["pandas"][0] for name in gone)
    assert said["spark"] == said["pandas"]


def test_spark_engine_reads_a_decimal_comma_table_with_an_odd_cell_like_pandas(
    spark, workspace, tmp_path: Path
) -> None:
    """A decimal-comma TSV with one ``1.234,5``: only that lot is quarantined, in both engines,
    and every other lot scores as from the same numbers written with a decimal point (the odd
    cell had turned its whole column to text, refusing every lot)."""
    new = workspace["new"]
    proteins = pd.read_csv(new / "proteins.csv", dtype=str)
    numbers = proteins.columns[1:]
    point = proteins.copy()
    point[numbers] = point[numbers].apply(lambda col: col.where(col.isna(), col + ".5"))
    comma = point.copy()
    comma[numbers] = comma[numbers].apply(lambda col: col.str.replace(".", ",", regex=False))
    comma.iloc[3, 5] = "1.234,5"
    files = {"point": tmp_path / "point.tsv", "comma": tmp_path / "comma.tsv"}
    point.to_csv(files["point"], sep="\t", index=False)
    comma.to_csv(files["comma"], sep="\t", index=False)
    lots = new / "lots.csv"
    clean = score(files["point"], lots, tmp_path / "point.parquet")
    runs = [
        score(files["comma"], lots, tmp_path / f"{engine}.parquet", "--engine", engine)
        for engine in ("pandas", "spark")
    ]
    assert_same_answers(runs[0], runs[1])
    odd_lot = str(proteins.iloc[3, 0])
    assert runs[0][1]["lot_id"].tolist() == [odd_lot]
    assert "text '1.234,5'" in runs[0][1]["reason"].iloc[0]
    np.testing.assert_array_equal(runs[0][0]["risk"], clean[0].drop(index=odd_lot)["risk"])


def test_spark_engine_that_scores_nothing_writes_the_quarantine_and_no_scores(
    spark, workspace, tmp_path: Path
) -> None:
    """As the pandas engine (review5 M2): a header-only protein table printed "0 scored →
    scores.parquet" and the bands, left an empty scores.parquet and said "see the quarantine
    file". Now both engines write the same quarantine alone (an earlier scores file removed)
    and say the same line, exit 2."""
    new = workspace["new"]
    header = (new / "proteins.csv").read_text(encoding="utf-8").splitlines()[0]
    empty = tmp_path / "proteins.csv"
    empty.write_text(header + "\n", encoding="utf-8")
    said, held = {}, {}
    for engine in ("pandas", "spark"):
        out = tmp_path / engine / "scores.parquet"
        out.parent.mkdir()
        out.write_text("an earlier run's scores\n")
        result = invoke(
            "score", "--proteins", str(empty), "--lots", str(new / "lots.csv"),
            "--out", str(out), "--engine", engine,
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and result.stdout == ""
        (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        said[engine] = line.replace(str(out.parent), "OUT")
        assert sorted(p.name for p in out.parent.iterdir()) == ["scores.quarantine.csv"]
        held[engine] = pd.read_csv(out.parent / "scores.quarantine.csv", dtype=str)
    assert said["spark"] == said["pandas"]
    assert said["spark"] == (
        f"error: {empty}: no lot could be scored: the protein file holds no run (a header "
        "without rows or sample columns?); each lot with its reason → "
        "OUT/scores.quarantine.csv, no scores written (the earlier scores.parquet removed)"
    )
    pd.testing.assert_frame_equal(held["spark"], held["pandas"])
    assert set(pd.read_csv(new / "lots.csv", dtype=str)["lot_id"]) == set(held["spark"]["lot_id"])


def test_spark_engine_with_every_sheet_row_refused_says_so_like_pandas(
    spark, workspace, tmp_path: Path
) -> None:
    """Every lot-sheet row refused (passage "five"): the pandas engine exits 2 with one line
    and the quarantine; Spark raised a traceback (CANNOT_INFER_EMPTY_SCHEMA, an empty metadata
    table) and wrote no quarantine."""
    new = workspace["new"]
    sheet = pd.read_csv(new / "lots.csv", dtype=str).assign(passage="five")
    lots = tmp_path / "lots.csv"
    sheet.to_csv(lots, index=False)
    said, held = {}, {}
    for engine in ("pandas", "spark"):
        out = tmp_path / engine / "scores.parquet"
        out.parent.mkdir()
        result = invoke(
            "score", "--proteins", str(new / "proteins.csv"), "--lots", str(lots),
            "--out", str(out), "--engine", engine,
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        said[engine] = line.replace(str(out.parent), "OUT")
        held[engine] = pd.read_csv(out.parent / "scores.quarantine.csv", dtype=str)
    assert said["spark"] == said["pandas"]
    assert said["spark"].startswith(
        f"error: {lots}: no lot could be scored: all {len(sheet)} quarantined"
    )
    pd.testing.assert_frame_equal(held["spark"], held["pandas"])
    assert set(held["spark"]["lot_id"]) == set(sheet["lot_id"])


def test_spark_executors_run_the_model_in_its_own_environment(
    spark, workspace, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """``--env-manager uv``: executors score in an environment built from the model's pinned
    requirements (exostab from the model's code/ folder), with the pandas engine's answers."""
    import shutil

    bin_dir = Path(sys.executable).parent
    if shutil.which("uv", path=str(bin_dir)) is None:
        pytest.skip(f"uv is not installed next to {sys.executable} (pip install -e '.[dev]')")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    new, root = workspace["new"], workspace["root"]
    pandas_run = score(new / "proteins.csv", new / "lots.csv", root / "env_pandas.parquet")
    spark_run = score(
        new / "proteins.csv", new / "lots.csv", root / "env_uv.parquet",
        "--engine", "spark", "--env-manager", "uv",
    )  # fmt: skip
    # uv built the model's environment (mlflow lets its output through to the terminal)
    built = capfd.readouterr()
    assert re.search(r"Installed \d+ packages", built.out + built.err), built.err[-2000:]
    assert len(spark_run[0]) == 40
    scores, spark_scores = pandas_run[0], spark_run[0]
    pd.testing.assert_index_equal(scores.index, spark_scores.index)
    # the model answers over HTTP inside its environment: risks equal to the last bits of JSON
    np.testing.assert_allclose(scores["risk"], spark_scores["risk"], rtol=1e-12)
    assert scores["risk_band"].tolist() == spark_scores["risk_band"].tolist()
    assert scores["top_drivers"].tolist() == spark_scores["top_drivers"].tolist()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--engine", "spark", "--env-manager", "docker"), "--env-manager must be one of local"),
        (("--env-manager", "uv"), "--env-manager applies to --engine spark"),
    ],
)
def test_an_unknown_env_manager_is_refused_in_one_line(
    workspace, tmp_path: Path, extra: tuple[str, ...], says: str
) -> None:
    new = workspace["new"]
    result = invoke(
        "score", "--proteins", str(new / "proteins.csv"), "--lots", str(new / "lots.csv"),
        "--out", str(tmp_path / "s.parquet"), *extra,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s.parquet").exists()


def test_spark_engine_without_pyspark_says_how_to_install(workspace, tmp_path: Path) -> None:
    new = workspace["new"]
    script = f"""
import sys
class NoSpark:
    def find_spec(self, name, path=None, target=None):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError("no pyspark")
sys.meta_path.insert(0, NoSpark())
from exostab.cli import app
sys.argv = ["exostab", "score", "--engine", "spark", "--proteins", {str(new / "proteins.csv")!r},
            "--lots", {str(new / "lots.csv")!r}, "--out", {str(tmp_path / "s.parquet")!r}]
app()
"""
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 2, completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'exostab[spark]'" in lines[0], completed.stderr
    assert "Traceback" not in completed.stderr


def test_score_imports_neither_mlflow_nor_shap(workspace, tmp_path: Path) -> None:
    new = workspace["new"]
    script = f"""
import sys
from typer.testing import CliRunner
from exostab.cli import app
result = CliRunner().invoke(app, ["score", "--proteins", {str(new / "proteins.csv")!r},
    "--lots", {str(new / "lots.csv")!r}, "--out", {str(tmp_path / "s.csv")!r}])
assert result.exit_code == 0, result.output
print(sorted(m for m in ("mlflow", "shap", "matplotlib", "sqlalchemy") if m in sys.modules))
"""
    env = {**os.environ, "MLFLOW_TRACKING_URI": workspace["store"]}
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1] == "[]"
    assert len(pd.read_csv(tmp_path / "s.csv")) == 40


def test_registry_reads_the_store_as_mlflow_does(workspace, monkeypatch) -> None:
    from exostab.store import model_uri, registry, tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace["store"])
    tracking.configure_tracking()
    run_id = workspace["run"]["run_id"]
    uris = [
        "models:/exostab@challenger",
        "models:/exostab/1",
        f"runs:/{run_id}/model",
        workspace["run"]["model_uri"],
    ]
    for uri in uris:
        located = registry.locate_model(uri)
        assert located is not None, uri
        cheap, _ = model_uri.resolve_model(uri)
        full, _ = tracking.resolve_model(uri)
        assert cheap.model_version == full.model_version, uri
        assert cheap.feature_names == full.feature_names
        assert registry.locate_model(str(located.path)) == registry.LocatedModel(located.path, None)
    logged = registry.locate_model(f"runs:/{run_id}/model")
    assert logged is not None and logged.path.parent.name.startswith("m-")
    assert registry.locate_model(f"models:/{logged.path.parent.name}") == logged
    assert registry.locate_model("models:/exostab@nobody") is None
    assert registry.locate_model("models:/exostab/99") is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(
    not Path("/proc").is_dir(), reason="needs /proc to follow the server's children"
)
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_serve_stops_with_its_children(workspace, stop: signal.Signals) -> None:
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": workspace["store"]}
    server = subprocess.Popen(
        [str(EXOSTAB), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # only so a failing test can still clean up the group
    )
    try:
        wait_for_ping(server, port, 180)
        children = descendants(server.pid)
        assert children, "mlflow models serve should run below exostab serve"
        server.send_signal(stop)  # to exostab serve alone, as systemd or Ctrl-C would
        assert server.wait(timeout=60) == 0
        stderr = server.stderr.read().decode()
        assert f"{stop.name} received" in stderr and "model server stopped" in stderr, stderr
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", port))
        assert not [pid for pid in children if alive(pid)]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        for pid in descendants(server.pid):
            os.kill(pid, signal.SIGKILL)
