"""User-facing errors: bad input is reported in one short message and exit code 2."""

from __future__ import annotations

MAX_SHOWN_CHARS = 60  # a lot id or name in a terminal message; files keep it whole


class ExostabError(Exception):
    """An error caused by the user's input or configuration, not by a bug.

    The CLI prints ``str(error)`` without a traceback and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class InputError(ExostabError):
    """An input file is unreadable, malformed or breaks the data contract."""


class ConfigError(ExostabError):
    """A configuration file is missing, malformed or holds unknown keys."""


def shown(name: object, width: int = MAX_SHOWN_CHARS) -> str:
    """Render a lot id, run or protein name for a message a person reads on the terminal.

    Control characters (a newline inside a cell) are written as escapes, and a name longer
    than ``width`` characters keeps its start and end around an ellipsis (run names differ at
    the end: ``D:\\MSdata\\…\\LOT_0007.raw``). Files (scores, quarantine, JSON) keep the
    full name: this is for messages only, and every message that names lots goes through it.
    """
    text = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(name)
    )
    if len(text) <= width:
        return text
    tail = (width - 1) // 3
    return f"{text[: width - 1 - tail]}…{text[len(text) - tail :]}"
