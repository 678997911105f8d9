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


class ConfigError(HarnessError):
    """A configuration value, or combination of values, the harness refuses.

    ``field`` names what is at fault as the configuration calls it: a campaign field
    (``attack.max_change``, ``sampling.labels_per_bin``), a plugin option
    (``model:linear.epochs``) or, inside :mod:`harness.cli`, a flag. The command line shows
    a campaign field as its flag (``harness.cli.options.FLAGS``); the core never names flags.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.reason = message
        super().__init__(f"option {field}: {message}")

    @property
    def option(self) -> str:
        """The field at fault (the name older callers read)."""
        return self.field


class UsageError(ConfigError):
    """A :class:`ConfigError` raised where the field is a flag or a plugin option (the
    command line, plugins validating their own options)."""


class PluginError(HarnessError):
    """A plugin that cannot be loaded, clashes with another, or is not known."""


class DatasetNotFoundError(HarnessError):
    """The files of a dataset are not where the harness looked; says where to put them."""


class CheckpointError(HarnessError):
    """A model checkpoint that is missing, corrupt or does not fit the dataset."""


class CheckpointRefused(CheckpointError):
    """A recorded checkpoint that changed, or was lost after runs used it: refused rather
    than retrained over. Training anew is the user's decision; the command line says how."""


class StoreError(HarnessError):
    """The results database cannot be written (read-only, disk full, locked too long)."""
