"""What every command shares: the plugin registry, the results database, and output.

A command receives the :class:`AppContext` (``@pass_app``), opens the store through it and
prints through :func:`emit`; it never reaches for global state.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import click

from harness.errors import HarnessError, StoreError, UsageError
from harness.registry import Registry, load_registry
from harness.store.session import Store, open_store

ENV_DB = "XMTC_HARNESS_DB"
DEFAULT_DB = "results.db"


def default_db() -> str:
    """``$XMTC_HARNESS_DB`` or ``results.db`` in the working folder."""
    return os.environ.get(ENV_DB, DEFAULT_DB)


@dataclass
class AppContext:
    """The plugin registry (loaded on first use) and the database URL of one invocation.

    ``--db`` and ``--plugin`` may come before or after the subcommand; either way they land
    here before the command body runs, and before the registry is first loaded.
    """

    plugins: tuple[str, ...] = ()
    db: str = DEFAULT_DB
    extra: dict[str, object] = field(default_factory=dict)

    @cached_property
    def registry(self) -> Registry:
        return load_registry(self.plugins, extra_source="--plugin")

    def _checked_db(self) -> str:
        if not self.db.strip():
            where = f" (${ENV_DB} is set but empty)" if os.environ.get(ENV_DB) == self.db else ""
            raise UsageError(
                "--db", f"is empty{where}; give a database file path or a database URL"
            )
        return self.db

    def open_store(self, *, create: bool = True) -> Store:
        """The results database (created with its schema unless ``create`` is false)."""
        return open_store(self._checked_db(), create=create)

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """The existing results database for a reporting command, opened read-only and
        closed afterwards. A read that fails on a damaged file says so in one line."""
        store = open_store(self._checked_db(), create=False)
        try:
            yield store
        except HarnessError:
            raise
        except Exception as exc:
            problem = store.damage()
            if problem is None:
                raise
            raise StoreError(problem) from exc
        finally:
            store.dispose()


pass_app = click.make_pass_decorator(AppContext)


def emit_stream(produce: Callable[[Callable[[str], Any]], Any], out: Path | None) -> None:
    """Run ``produce(write)``, which writes the output piece by piece, to stdout or to
    ``out``; a file is written beside it and renamed when complete, so a failed or
    interrupted export never leaves half a file under the name asked for."""
    if out is None:
        stream = sys.stdout
        try:
            produce(stream.write)
            stream.flush()
        except BrokenPipeError:  # a reader that stopped early (`| head`): not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        return
    if not out.parent.exists():
        raise UsageError("--out", f"{out}: folder {out.parent} does not exist")
    part = out.with_name(f".{out.name}.part")
    try:
        with part.open("w", encoding="utf-8", newline="") as fh:
            produce(fh.write)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    click.echo(f"wrote {out}", err=True)


def emit(text: str, out: Path | None) -> None:
    """Print ``text``, or write it to ``out`` (without terminal colours) and say so."""
    if out is None:
        click.echo(text)
        return
    if not out.parent.exists():
        raise UsageError("--out", f"{out}: folder {out.parent} does not exist")
    text = click.unstyle(text)  # colour codes belong on a terminal, not in a file
    out.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    click.echo(f"wrote {out}", err=True)
