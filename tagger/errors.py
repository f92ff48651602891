"""Errors a user can act on: the CLI prints them as one line, without a traceback."""

from __future__ import annotations

DEBUG_ENV = "TAGGER_DEBUG"  # set by `tagger --debug`: processes it starts (DDP ranks) show tracebacks too


class TaggerError(Exception):
    """Base class for problems caused by user input (data, config, model files, arguments)."""


class DataFormatError(TaggerError):
    """Malformed input data; the message names the file and line."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source, self.line, self.reason = source, line, message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class ModelFileError(TaggerError):
    """A model file that is missing, truncated, corrupt, foreign or too new."""
