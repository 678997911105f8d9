"""Test-only plugins that pace a campaign.

The kill test needs trials that take a known minimum time, whatever the machine's speed;
implementing the ``xmtc_trial_recorded`` event hook (after the commit) paces the campaign
without touching the attack itself. ``XMTC_TEST_TRIAL_PAUSE`` sets the pause in seconds.

That hook runs in the driver. The Ray fault tests need the pause where the trial runs, in
a worker: ``paced-sim`` (similarity) sleeps ``pause`` seconds when it is started on a
document (once per trial) and then accepts every text with similarity 1.0.
"""

from __future__ import annotations

import os
import time
from typing import Any

from harness import hookimpl
from harness.components import Component, Option
from tests.plugins_for_tests.failing import AlwaysSimilar


class PacedSimilarity:
    name = "paced-sim"

    def __init__(self, pause: float):
        self.pause = pause

    def start(self, original: list[str]) -> AlwaysSimilar:
        time.sleep(self.pause)
        return AlwaysSimilar()


@hookimpl
def xmtc_register_similarity_constraints() -> list[Component]:
    return [
        Component(
            kind="similarity",
            name="paced-sim",
            description="accepts everything after sleeping pause seconds per trial (tests only)",
            factory=PacedSimilarity,
            options=(Option("pause", float, 0.5, min=0.0),),
        )
    ]


@hookimpl
def xmtc_trial_recorded(run_id: int, trial: dict[str, Any]) -> None:
    time.sleep(float(os.environ.get("XMTC_TEST_TRIAL_PAUSE", "0.4")))
