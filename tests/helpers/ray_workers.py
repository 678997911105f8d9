"""What the Ray tests ask of a campaign's database and of its workers: the stored trials in
comparable form, and the live Ray workers a campaign started (found by name on the test
module's cluster, :func:`tests.conftest.ray_cluster`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers.damage import connect

UNCOMPARED = {"id", "run_id", "wall_seconds", "created_at"}
"""Trial columns that may differ between two executions of the same trial."""


def stored_trials(db: Path) -> dict[int, dict[str, Any]]:
    """trial_index -> every trial column that a result consists of, plus its substitutions."""
    con = connect(db)
    try:
        cur = con.execute("SELECT * FROM trials ORDER BY trial_index")
        names = [d[0] for d in cur.description]
        out: dict[int, dict[str, Any]] = {}
        for row in cur.fetchall():
            rec = dict(zip(names, row, strict=True))
            subs = con.execute(
                "SELECT step, position, old_word, new_word, gain FROM substitutions"
                " WHERE trial_id = ? ORDER BY step",
                (rec["id"],),
            ).fetchall()
            kept = {k: v for k, v in rec.items() if k not in UNCOMPARED}
            kept["substitutions"] = subs
            out[int(rec["trial_index"])] = kept
        return out
    finally:
        con.close()


def errors(db: Path) -> dict[int, str]:
    """trial_index -> error message of every ``error`` trial."""
    con = connect(db)
    try:
        rows = con.execute(
            "SELECT trial_index, error_message FROM trials WHERE outcome = 'error'"
        ).fetchall()
    finally:
        con.close()
    return {int(i): str(m) for i, m in rows}


def campaign_workers() -> list[str]:
    """Names of the campaign workers alive on the test module's cluster."""
    import ray

    from harness.campaign.executors.ray_pool import ACTOR_PREFIX, NAMESPACE

    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == NAMESPACE and a["name"].startswith(ACTOR_PREFIX)
    )


def worker(name: str) -> Any:
    import ray

    from harness.campaign.executors.ray_pool import NAMESPACE

    return ray.get_actor(name, namespace=NAMESPACE)


def wait_for(cond: Callable[[], Any], what: str, timeout: float = 180.0, proc=None) -> Any:
    """Poll ``cond`` until it is truthy (returns its value); fail naming ``what``."""
    t0 = time.monotonic()
    while True:
        value = cond()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"eval ended (rc={proc.returncode}) before {what}: {err}")
        if time.monotonic() - t0 > timeout:
            if proc is not None:
                proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
