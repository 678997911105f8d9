"""Errors a user can act on: each names the file, line or option at fault.

The CLI prints these as one line (no traceback); anything else is a bug.
"""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Base of every error the CLI reports as a one-line message."""


class InputError(HarnessError):
    """Malformed input data; names the file and (1-based) line where it was found."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class UsageError(HarnessError):
    """A bad option value or an impossible combination of options."""

    def __init__(self, option: str, message: str):
        self.option = option
        super().__init__(f"option {option}: {message}")


class PluginError(HarnessError):
    """A plugin that cannot be loaded, clashes with another, or is not known."""


class DatasetNotFoundError(HarnessError):
    """The files of a dataset are not where the harness looked; says where to put them."""


class CheckpointError(HarnessError):
    """A model checkpoint that is missing, corrupt or does not fit the dataset."""


class StoreError(HarnessError):
    """The results database cannot be written (read-only, disk full, locked too long)."""
