"""Test-only event plugin: sleeps after every recorded trial.

The kill test needs trials that take a known minimum time, whatever the machine's speed;
implementing the ``xmtc_trial_recorded`` event hook (after the commit) paces the campaign
without touching the attack itself. ``XMTC_TEST_TRIAL_PAUSE`` sets the pause in seconds.
"""

from __future__ import annotations

import os
import time
from typing import Any

from harness import hookimpl


@hookimpl
def xmtc_trial_recorded(run_id: int, trial: dict[str, Any]) -> None:
    time.sleep(float(os.environ.get("XMTC_TEST_TRIAL_PAUSE", "0.4")))
