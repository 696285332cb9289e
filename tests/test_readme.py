"""The README: short, its forecast example forecasts, and every command in it exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer

from exostab.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_the_readme_is_at_most_150_lines() -> None:
    assert len(README.splitlines()) <= 150


def test_the_forecast_example_forecasts_a_bank_ahead_of_its_measured_passages() -> None:
    printed = next(b for b in blocks("text") if "bank(s) forecast" in b)
    said = re.findall(r"last safe passage P(\d+), measured up to P(\d+)", printed)
    ahead = [(int(safe), int(measured)) for safe, measured in said if int(safe) > int(measured)]
    assert ahead, printed
    for line in printed.splitlines():  # each fact once: no passage said twice on a bank's line
        if "last safe passage" in line:
            passages = re.findall(r"\bP\d+\b", line.split("log-odds change")[0])
            assert len(passages) == len(set(passages)), line


def test_every_command_in_the_readme_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
    command = typer.main.get_command(app)
    said = 0
    for block in blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line.split("#")[0])
            if not words:
                continue
            said += 1
            if words[0] == "make":
                assert words[1] in targets, line
                continue
            assert words[0] in (".venv/bin/exostab", "exostab"), line
            sub = command.commands[words[1]]  # type: ignore[attr-defined]
            options = {o for p in sub.params for o in (*p.opts, *p.secondary_opts)}
            for word in words[2:]:
                if word.startswith("--"):
                    assert word in options, (line, word)
    assert said >= 8
