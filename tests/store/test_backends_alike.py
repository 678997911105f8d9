"""The same campaign in SQLite and in PostgreSQL: identical trials, and every reader prints
the same thing from either.

Two campaigns (synthetic corpus, linear model; the second with a smaller query budget, so
the two runs share their pairs and can be compared) run once into a SQLite file and once
into a database on a real PostgreSQL server. Apart from what the clock decides (times,
durations) and where the files went, the stored runs, trials and substitutions are equal.
Then the clock's values are made equal too, and ``models``, ``query``, ``leaderboard``,
``compare``, ``examples`` and ``report`` must print byte for byte the same from both.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.store.schema import Run, Substitution, TrainedModel, Trial
from harness.store.session import Store, open_store
from tests.helpers.cli import eval_args, main_captured, run_cli

CLOCK = {
    "runs": ("id", "started_at", "finished_at", "checkpoint_hash", "config_hash"),
    "trials": ("id", "created_at", "wall_seconds"),
    "trained_models": ("id", "created_at", "train_seconds", "checkpoint_path", "checkpoint_hash"),
    "substitutions": ("id", "trial_id"),
}
"""Columns the clock, the row ids' interleaving or the folder decide, per table. A
checkpoint's hash covers its JSON, which records how long training took, and a run's
configuration (so its hash) holds the checkpoint's hash: the model trained for each database
has the same weights (compared apart) but not the same hash."""


def _rows(store: Store, table: type, skip: tuple[str, ...]) -> list[dict[str, Any]]:
    cols = [c.name for c in table.__table__.columns if c.name not in skip]  # type: ignore[attr-defined]
    with store.read() as s:
        return [{c: getattr(r, c) for c in cols} for r in s.query(table).order_by(table.id)]


def _differ(a: Any, b: Any, where: str = "") -> dict[str, tuple[Any, Any]]:
    """Where two rows differ, down into their JSON values: {"config.runtime": (a, b)}."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return {k: v for key in a for k, v in _differ(a[key], b[key], f"{where}.{key}").items()}
    return {} if a == b else {where.lstrip("."): (a, b)}


def _without_clock(config: dict[str, Any]) -> dict[str, Any]:
    """A run's configuration without the folders it ran in and its checkpoint's hash."""
    runtime = dict(config.get("runtime") or {})
    for key in ("model_dir", "cache_dir"):
        runtime.pop(key, None)
    return {**config, "runtime": runtime, "checkpoint_hash": None, "checkpoint_path": None}


def _copy_clock(src: Store, dst: Store) -> None:
    """Give ``dst``'s rows the clock's and the folders' values of ``src``'s same rows."""
    for table in (Run, Trial, TrainedModel):
        cols = [c for c in CLOCK[table.__tablename__] if c != "id"]
        values = {r["id"]: r for r in _rows(src, table, ())}
        config = {r["id"]: r["config"] for r in _rows(src, Run, ())}

        def update(s, table=table, cols=cols, values=values, config=config) -> None:  # type: ignore[no-untyped-def]
            for row in s.query(table):
                for c in cols:
                    setattr(row, c, values[row.id][c])
                if table is Run:
                    row.config = config[row.id]

        dst.write(update)


READERS = [
    ("models",),
    ("query", "runs", "--format", "csv"),
    ("query", "trials", "--format", "json"),
    ("query", "trials", "--run", "2", "--bin", "0"),
    ("leaderboard",),
    ("leaderboard", "--summary", "--format", "markdown"),
    ("leaderboard", "--format", "json"),
    ("compare", "1", "2"),
    ("compare", "1", "2", "--format", "json"),
    ("examples", "--run", "1", "--format", "markdown"),
    ("examples", "--run", "2", "--format", "terminal"),
]


def test_the_same_campaign_is_stored_and_read_alike(tmp_path: Path, postgres_url: str) -> None:
    dbs = {"sqlite": str(tmp_path / "results.db"), "postgresql": postgres_url}
    for name, db in dbs.items():
        work = tmp_path / name
        work.mkdir()
        for extra in ((), ("--max-queries", "10")):
            res = run_cli(eval_args(work, *extra, db=db), cwd=work)
            assert res.returncode == 0, res.stderr
    lite, pg = open_store(dbs["sqlite"], create=False), open_store(postgres_url, create=False)

    # Stored alike: every row and column but the clock's and the folders'.
    for table in (Trial, Substitution, TrainedModel):
        a = _rows(lite, table, CLOCK[table.__tablename__])
        b = _rows(pg, table, CLOCK[table.__tablename__])
        assert a and len(a) == len(b), table.__tablename__
        for ra, rb in zip(a, b, strict=True):
            assert ra == rb, (table.__tablename__, _differ(ra, rb))
    weights = [p.read_bytes() for p in sorted(tmp_path.glob("*/models/*/model.safetensors"))]
    assert len(weights) == 2 and weights[0] == weights[1]
    runs_a, runs_b = (_rows(s, Run, CLOCK["runs"]) for s in (lite, pg))
    for ra, rb in zip(runs_a, runs_b, strict=True):
        ra["config"], rb["config"] = _without_clock(ra["config"]), _without_clock(rb["config"])
        assert ra == rb, _differ(ra, rb)
    assert len(runs_a) == 2 and runs_a[0]["config"] != runs_a[1]["config"]

    # Read alike: with the clock's values copied over, every reader prints the same.
    _copy_clock(lite, pg)
    for args in READERS:
        outputs = []
        for db in dbs.values():
            code, out, err = main_captured(["--db", db, *args])
            assert code == 0, (args, err)
            outputs.append(out)
        assert outputs[0] == outputs[1], args
        assert outputs[0].strip(), args
    pages = []
    for name, db in dbs.items():
        code, _, err = main_captured(["--db", db, "report", "--run", "1", "--run", "2",
                                      "--out", str(tmp_path / name / "report")])  # fmt: skip
        assert code == 0, err
        page = (tmp_path / name / "report" / "index.html").read_text(encoding="utf-8")
        pages.append(re.sub(r"generated \S+ by", "generated (time) by", page))
    assert pages[0] == pages[1]
    lite.dispose()
    pg.dispose()
