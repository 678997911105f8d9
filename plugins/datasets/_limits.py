"""How much a dataset may hold: the size limits every reader checks before it allocates.

A dataset file is outside input: a damaged or hostile one can claim any size in a header,
hold one endless line, or expand (``xc-bow``'s ``repeat=count``) far beyond its own length.
Readers therefore check each claim against two bounds before building anything from it:

* :func:`max_record_chars` bounds one record (a line, a CSV row, an SGML document, a
  generated document text), so a reader's memory and time per record are bounded too;
* :class:`MemoryBudget` bounds the whole load by what this machine can hold: half of its
  memory (the rest is for the model), counting the files read and anything a header or an
  option makes the reader build beyond them.

Violations are :class:`~harness.errors.InputError` (a file and line) or
:class:`~harness.errors.UsageError` (an option), raised before the allocation they prevent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from harness.errors import InputError, UsageError

MAX_RECORD_CHARS = 2**24
"""Longest line, CSV record or document a reader accepts: 16 Mi characters. A 100,000-word
document is about 0.7 Mi characters; a record twenty times that is damage, not text."""


def max_record_chars() -> int:
    """:data:`MAX_RECORD_CHARS`, read when a reader starts (tests lower it to stay small)."""
    return MAX_RECORD_CHARS


BYTES_PER_LABEL = 160
"""Memory one label costs a loaded corpus: its name (a short str and its list slot), its
entry in a name-to-index dict, its training count and its share of the fingerprint."""

_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, or a lower cgroup limit.

    Hand-written (``os.sysconf`` plus the cgroup files) because psutil, the usual library,
    reports the host's memory inside a container and is not a dependency of the harness.
    """
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): no machine bound
        total = 2**63 - 1
    for path in _CGROUP_LIMITS:
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value.isdigit():
            total = min(total, int(value))
    return total


def memory_limit() -> int:
    """The most one dataset may take: half of :func:`machine_memory`."""
    return machine_memory() // 2


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units, three significant figures (``1.5 GiB``, ``88.8 TiB``)."""
    n = float(min(n, 2**1000))  # a header may claim any integer; floats stop at ~1.8e308
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _too_much(n_bytes: float, limit: int) -> str:
    return (
        f"about {format_bytes(n_bytes)}, more than a dataset may take on this machine "
        f"({format_bytes(limit)}, half of its {format_bytes(machine_memory())} of memory)"
    )


def require_memory(field: str, n_bytes: float, what: str) -> None:
    """Refuse option values whose dataset could not fit in memory, before generating it.

    ``field`` names the option at fault as the registry does (``dataset:synthetic.n_docs``);
    ``what`` says what the values ask for (``100,000 documents of 100,000 words``).
    """
    limit = memory_limit()
    if n_bytes > limit:
        raise UsageError(field, f"{what} need {_too_much(n_bytes, limit)}")


class MemoryBudget:
    """The memory one dataset load may use, charged before each allocation it pays for."""

    def __init__(self, limit: int | None = None):
        self.limit = memory_limit() if limit is None else limit
        self.used: float = 0

    def charge(self, n_bytes: float, path: str | Path, line: int | None, what: str) -> None:
        """Count ``n_bytes`` for ``what``; an InputError at ``path:line`` if over the limit."""
        self.used += n_bytes
        if self.used > self.limit:
            raise InputError(path, line, f"{what} would take {_too_much(self.used, self.limit)}")

    def charge_files(self, paths: Iterable[Path]) -> None:
        """Count the files a reader is about to read (their text is held in memory)."""
        for path in paths:
            try:
                size = path.stat().st_size
            except OSError:
                continue  # the reader reports an unreadable file where it opens it
            self.charge(size, path, None, f"reading this {format_bytes(size)} file")
