"""Test-only event plugin: the event hook named by ``$XMTC_TEST_FAILING_HOOK``
(``xmtc_run_started``, ``xmtc_trial_recorded`` or ``xmtc_run_finished``) raises; the others
record that they were called in ``CALLS``."""

from __future__ import annotations

import os
from typing import Any

from harness import hookimpl

MESSAGE = "watcher test plugin fails on purpose"
CALLS: list[str] = []


def _maybe_fail(hook: str) -> None:
    CALLS.append(hook)
    if os.environ.get("XMTC_TEST_FAILING_HOOK") == hook:
        raise ConnectionError(f"{MESSAGE} in {hook}")


@hookimpl
def xmtc_run_started(run_id: int, config: dict[str, Any]) -> None:
    _maybe_fail("xmtc_run_started")


@hookimpl
def xmtc_trial_recorded(run_id: int, trial: dict[str, Any]) -> None:
    _maybe_fail("xmtc_trial_recorded")


@hookimpl
def xmtc_run_finished(run_id: int, status: str, summary: dict[str, Any]) -> None:
    _maybe_fail("xmtc_run_finished")
