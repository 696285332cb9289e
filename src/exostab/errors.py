"""User-facing errors: bad input is reported in one short message and exit code 2."""

from __future__ import annotations


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
