"""Limits every value from outside is checked against where it enters, whatever its source.

The numbers follow from what receives the value, not from taste: an integer is stored in
SQLite's 64-bit ``INTEGER`` (and passed to numpy and torch, which take the same range), a
seed must also be one numpy's generators accept (non-negative), and a float that is NaN or
infinite passes every range check written as comparisons, so it is refused by name first.
"""

from __future__ import annotations

import math
import os

from harness.errors import ConfigError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
"""SQLite's INTEGER (and numpy's int64): a larger number cannot be stored or indexed with."""

SEED_MAX = INT64_MAX
"""Seeds are stored as INTEGER and seed numpy (non-negative only) and torch."""


def check_int64(field: str, value: int) -> int:
    """``value`` if SQLite and numpy can hold it, else a :class:`ConfigError` on ``field``."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise ConfigError(field, f"must be between {INT64_MIN} and {INT64_MAX}, got {value}")
    return value


def check_seed(field: str, seed: int) -> int:
    """A seed numpy, torch and the database all accept: 0 <= seed < 2**63."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(field, f"must be an integer, got {seed!r}")
    if not 0 <= seed <= SEED_MAX:
        raise ConfigError(field, f"must be between 0 and {SEED_MAX} (2**63 - 1), got {seed}")
    return seed


def check_finite(field: str, value: float) -> float:
    """``value`` unless it is NaN or infinite (which slip through comparisons)."""
    if not math.isfinite(value):
        raise ConfigError(field, f"must be a finite number, got {value}")
    return value


def cpu_count() -> int:
    """Cores this process may use (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity masks
        return os.cpu_count() or 1
