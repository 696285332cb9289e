"""An output the system refuses to write (disk full, a size limit) ends as one line, exit 2.

The faults are real, not mocked: ``/dev/full`` answers every write with ENOSPC (an output
path that is a symlink to it), and a process started with a file-size limit (``RLIMIT_FSIZE``)
gets EFBIG from the kernel once a file grows past it, midway through a table. Each test checks
the message (file, the system's reason, rows written before), the exit code, that no traceback
is shown and that no half-written file is left under an output's name (nor a temporary one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from exostab.cli import app
from exostab.io.writers import OutputError, OutputFiles

DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full (not Linux)")
needs_rlimit = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE and SIGXFSZ as on Linux"
)
runner = CliRunner()
EXOSTAB = Path(sys.executable).parent / "exostab"


def full_link(path: Path) -> Path:
    """Make ``path`` a symlink to /dev/full: every write to it fails with ENOSPC."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(DEV_FULL)
    return path


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def limited(limit_bytes: int) -> None:
    """In the child: a file-size limit, and SIGXFSZ ignored so the write fails with EFBIG."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def lots_table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"lot_id": [f"L{i:05d}" for i in range(n)], "risk": 0.123456789})


# --- writers: unit tier -----------------------------------------------------------------


@needs_dev_full
def test_a_full_disk_ends_the_group_as_one_error_and_leaves_no_file(tmp_path: Path) -> None:
    (tmp_path / "scores.quarantine.csv").write_text("from before\n")
    link = full_link(tmp_path / "scores.csv")
    with pytest.raises(OutputError) as info, OutputFiles() as outputs:
        outputs.table(tmp_path / "scores.quarantine.csv").write(lots_table(3))
        outputs.text(tmp_path / "report.html", "<html></html>")
        outputs.table(link, unit="lot").write(lots_table(10))
    message = str(info.value)
    assert message.startswith(f"{link}: could not write it: No space left on device (ENOSPC)")
    assert "not written either: scores.quarantine.csv, report.html" in message
    assert "Traceback" not in message and "\n" not in message
    assert info.value.exit_code == 2 and info.value.path == link
    # no temporary file; the earlier quarantine stays as it was; the link is still a link
    assert left_in(tmp_path) == ["scores.csv", "scores.quarantine.csv"]
    assert (tmp_path / "scores.quarantine.csv").read_text() == "from before\n"
    assert link.is_symlink() and os.readlink(link) == str(DEV_FULL)


def test_a_folder_in_the_place_of_an_output_is_said_as_such(tmp_path: Path) -> None:
    """It was written "in place" as if a device, then said to be "a device or a pipe"."""
    (tmp_path / "windows.csv").mkdir()
    with pytest.raises(OutputError) as info, OutputFiles() as outputs:
        outputs.text(tmp_path / "monitor.json", "{}")
        outputs.table(tmp_path / "windows.csv").write(lots_table(3))
    assert str(info.value) == (
        f"{tmp_path / 'windows.csv'}: could not write it: a folder of that name is there; "
        "not written either: monitor.json"
    )
    assert left_in(tmp_path) == ["windows.csv"] and (tmp_path / "windows.csv").is_dir()


def test_a_symlinked_output_is_written_beside_its_target_and_stays_a_link(
    tmp_path: Path,
) -> None:
    target = tmp_path / "results" / "scores.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "scores.csv"
    link.symlink_to(target)
    with OutputFiles() as outputs:
        outputs.table(link).write(lots_table(2))
    assert link.is_symlink() and pd.read_csv(target)["lot_id"].tolist() == ["L00000", "L00001"]
    assert left_in(target.parent) == ["scores.csv"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_a_withdrawn_output_is_not_written_and_goes_with_its_group(tmp_path: Path) -> None:
    """A batch of which nothing was scored publishes its quarantine alone: the scores it
    began (an empty table) are withdrawn, and a scores file of an earlier run goes when the
    group is published, so the folder never pairs this quarantine with other scores. A
    group that fails keeps the earlier file, as it keeps every earlier output."""
    (tmp_path / "scores.csv").write_text("an earlier run's scores\n")
    with OutputFiles() as outputs:
        scores = outputs.table(tmp_path / "scores.csv", unit="lot")
        scores.write(lots_table(0))
        outputs.table(tmp_path / "scores.quarantine.csv").write(lots_table(3))
        assert outputs.withdraw(tmp_path / "scores.csv")  # an earlier file is there
        assert not outputs.withdraw(tmp_path / "report.html")  # never staged, none there
        assert (tmp_path / "scores.csv").exists()  # until the group is published
    assert left_in(tmp_path) == ["scores.quarantine.csv"]
    assert len(pd.read_csv(tmp_path / "scores.quarantine.csv")) == 3

    (tmp_path / "scores.csv").write_text("an earlier run's scores\n")
    (tmp_path / "windows.csv").mkdir()
    with pytest.raises(OutputError) as info, OutputFiles() as outputs:
        outputs.withdraw(tmp_path / "scores.csv")
        outputs.table(tmp_path / "windows.csv").write(lots_table(3))
    assert "scores.csv" not in str(info.value)  # withdrawn: neither written nor lost
    assert (tmp_path / "scores.csv").read_text() == "an earlier run's scores\n"


def test_a_withdrawn_output_never_removes_what_a_symlink_points_to(tmp_path: Path) -> None:
    """``--out`` a symlink (to a user's file elsewhere, or ``/dev/stdout`` when the shell sends
    it to a log file): withdrawing the scores removed the file it pointed to. The link and its
    target are left as they are; only this run's quarantine is written."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    keep = elsewhere / "keep.csv"
    keep.write_text("a user's file\n")
    link = tmp_path / "scores.csv"
    link.symlink_to(keep)
    with OutputFiles() as outputs:
        outputs.table(link, unit="lot").write(lots_table(0))
        outputs.table(tmp_path / "scores.quarantine.csv").write(lots_table(2))
        assert not outputs.withdraw(link)  # nothing of the user's is to be removed
    assert keep.read_text() == "a user's file\n" and link.is_symlink()
    assert len(pd.read_csv(tmp_path / "scores.quarantine.csv")) == 2


@needs_rlimit
def test_a_size_limit_midway_through_a_table_says_how_many_rows_were_written(
    tmp_path: Path,
) -> None:
    """The kernel refuses the write once the temporary file passes 20 kB (EFBIG)."""
    out = tmp_path / "scores.csv"
    out.write_text("lot_id,risk\nOLD,0.5\n")
    script = textwrap.dedent(
        f"""
        import pandas as pd
        from exostab.io.writers import OutputError, OutputFiles
        try:
            with OutputFiles() as outputs:
                table = outputs.table({str(out)!r}, unit="lot")
                for start in range(0, 10_000, 100):
                    rows = range(start, start + 100)
                    table.write(pd.DataFrame({{"lot_id": [f"L{{i:05d}}" for i in rows],
                                               "risk": 0.123456789}}))
        except OutputError as error:
            print(error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        preexec_fn=lambda: limited(20_000),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    message = done.stdout.strip()
    assert message.startswith(f"{out}: could not write it: File too large (EFBIG) after ")
    written = int(message.split(" after ")[1].split(" ")[0].replace(",", ""))
    # a 12-byte header, then 19 bytes a row in chunks of 100: ten chunks fit under 20,000
    assert written == (20_000 - 12) // 19 // 100 * 100 == 1_000
    assert "the partial file was removed" in message
    assert left_in(tmp_path) == ["scores.csv"]
    assert out.read_text() == "lot_id,risk\nOLD,0.5\n"


# --- the CLI: integration tier -----------------------------------------------------------


@needs_dev_full
def test_score_on_a_full_disk_exits_2_in_one_line_and_leaves_no_output(
    simulated_model: dict[str, Path], tmp_path: Path
) -> None:
    data = simulated_model["data"]
    out = full_link(tmp_path / "out" / "scores.csv")
    result = runner.invoke(
        app,
        [
            "score",
            "--model", str(simulated_model["model"]),
            "--proteins", str(data / "proteins.csv"),
            "--lots", str(data / "lots.csv"),
            "--out", str(out),
            "--report", str(tmp_path / "out" / "report.html"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    said = " ".join(result.output.split())
    assert f"{out}: could not write it: No space left on device (ENOSPC)" in said
    assert said.endswith("not written either: scores.quarantine.csv")  # the report: not begun
    assert left_in(tmp_path / "out") == ["scores.csv"]  # the link itself, nothing else


@needs_rlimit
def test_score_past_a_size_limit_keeps_the_earlier_scores_and_counts_the_lots_written(
    simulated_model: dict[str, Path], tmp_path: Path
) -> None:
    """A real `exostab score` process whose scores file passes its size limit midway."""
    data = simulated_model["data"]
    out = tmp_path / "scores.csv"
    out.write_text("from an earlier run\n")
    command = [
        str(EXOSTAB),
        "score",
        "--model", str(simulated_model["model"]),
        "--proteins", str(data / "proteins.csv"),
        "--lots", str(data / "lots.csv"),
        "--out", str(out),
        "--chunk-size", "5",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"}
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=lambda: limited(6_000),
        timeout=300,
    )
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, said
    assert "Traceback" not in said
    assert f"{out}: could not write it: File too large (EFBIG) after " in said
    written = int(said.split(" after ")[1].split(" ")[0].replace(",", ""))
    assert written > 0 and written % 5 == 0  # whole chunks of 5 lots went in before
    assert "not written either: scores.quarantine.csv" in said
    assert left_in(tmp_path) == ["scores.csv"]
    assert out.read_text() == "from an earlier run\n"


@needs_dev_full
def test_explain_on_a_full_disk_writes_no_explanation_file(
    simulated_model: dict[str, Path], tmp_path: Path
) -> None:
    data = simulated_model["data"]
    out = tmp_path / "explain"
    full_link(out / "lot_shap.parquet")
    result = runner.invoke(
        app,
        [
            "explain",
            "--model", str(simulated_model["model"]),
            "--proteins", str(data / "proteins.csv"),
            "--lots", str(data / "lots.csv"),
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert f"{out / 'lot_shap.parquet'}: could not write it: No space left on device" in said
    assert said.endswith("not written either: global_importance.csv")  # the plots: not begun
    # the quarantine was written, complete, before; no table or plot of the explanations
    assert left_in(out) == ["lot_shap.parquet", "quarantine.csv"]


@needs_dev_full
def test_a_write_failure_outside_the_output_groups_is_one_line_too(tmp_path: Path) -> None:
    """`simulate` writes its many files itself: the CLI still says the file and the reason."""
    out = tmp_path / "sim"
    full_link(out / "lots.csv")
    result = runner.invoke(
        app, ["simulate", "--out", str(out), "--lots", "20", "--donors", "4", "--proteins", "120"]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "No space left on device (ENOSPC)" in result.output
