"""Damage checks for a results database: integrity, partial or inconsistent trials,
duplicate or missing indices (what the reliability tests assert after every kill).

``db`` is a SQLite file (a path) or a PostgreSQL URL (``postgresql://...``); the checks read
either through its own driver, outside the harness, read-only.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

Db = Path | str


def is_url(db: Db) -> bool:
    return isinstance(db, str) and "://" in db


def connect(db: Db) -> sqlite3.Connection:
    """A read-only connection to a SQLite results file."""
    return sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def query(db: Db, sql: str, *, timeout: float = 30) -> list[tuple[Any, ...]]:
    """All rows of one read-only statement on either backend."""
    if not is_url(db):
        con = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)
        try:
            return [tuple(r) for r in con.execute(sql).fetchall()]
        finally:
            con.close()
    import psycopg

    url = str(db).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, connect_timeout=max(1, int(timeout))) as con:
        con.read_only = True
        return [tuple(r) for r in con.execute(sql).fetchall()]  # type: ignore[arg-type]


def try_count(db: Db, sql: str) -> int | None:
    """A count, or None while the database or its tables do not exist yet (for polling)."""
    if not is_url(db) and not Path(db).exists():
        return None
    try:
        return int(query(db, sql, timeout=0.2)[0][0])
    except Exception:  # noqa: BLE001 - not created yet, or the schema is being written
        return None


def integrity(db: Db) -> str:
    """SQLite's own integrity check ("ok"); PostgreSQL checks its pages itself."""
    if is_url(db):
        return "ok"
    return str(query(db, "PRAGMA integrity_check")[0][0])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def trial_problems(db: Db) -> list[str]:
    """Every way a stored trial can be partial or inconsistent; [] for a sound database."""
    from harness.store.schema import OUTCOMES

    problems: list[str] = []
    ok = integrity(db)
    if ok != "ok":
        problems.append(f"integrity_check: {ok}")
    if not is_url(db):  # PostgreSQL enforces foreign keys on every write
        fk = query(db, "PRAGMA foreign_key_check")
        if fk:
            problems.append(f"foreign keys: {fk[:3]}")
    rows = query(
        db,
        "SELECT t.id, t.run_id, t.trial_index, t.outcome, t.n_changed, t.changed_words,"
        " t.error_message, t.adversarial_text, t.topk_before, t.rank_before,"
        " (SELECT COUNT(*) FROM substitutions s WHERE s.trial_id = t.id)"
        " FROM trials t",
    )
    for tid, run_id, idx, outcome, n_changed, changed, err, adv, topk, rank, n_subs in rows:
        where = f"trial id={tid} run={run_id} index={idx}"
        if outcome not in OUTCOMES:
            problems.append(f"{where}: outcome {outcome!r}")
            continue
        changed = _json(changed) or []
        if len(changed) != n_changed:
            problems.append(f"{where}: {len(changed)} changed words, n_changed={n_changed}")
        if outcome == "error":
            if not err or n_changed != 0 or n_subs != 0:
                problems.append(f"{where}: error without message or with changes")
            continue
        if n_subs != n_changed:
            problems.append(f"{where}: {n_subs} substitutions stored, n_changed={n_changed}")
        if outcome == "success" and n_changed < 1:
            problems.append(f"{where}: success without a change")
        if adv is None or rank is None or not _json(topk or "[]"):
            problems.append(f"{where}: {outcome} without adversarial text, rank or top-k")
    orphans = query(
        db, "SELECT COUNT(*) FROM substitutions WHERE trial_id NOT IN (SELECT id FROM trials)"
    )[0][0]
    if orphans:
        problems.append(f"{orphans} substitutions without a trial")
    return problems


def trial_indices(db: Db, run_id: int | None = None) -> dict[int, list[int]]:
    """run id -> sorted list of stored trial_index values (duplicates kept, to be caught)."""
    sql = "SELECT run_id, trial_index FROM trials"
    if run_id:
        sql += f" WHERE run_id = {int(run_id)}"
    out: dict[int, list[int]] = {}
    for rid, idx in query(db, sql):
        out.setdefault(int(rid), []).append(int(idx))
    return {k: sorted(v) for k, v in out.items()}


def runs(db: Db) -> list[tuple[int, str, int, str]]:
    """(id, attack, n_planned, status) of every run."""
    return [
        (int(a), str(b), int(c), str(d))
        for a, b, c, d in query(db, "SELECT id, attack, n_planned, status FROM runs ORDER BY id")
    ]


def count(db: Db, sql: str = "SELECT COUNT(*) FROM trials") -> int:
    return int(query(db, sql)[0][0])


def table_contents(db: Db) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every harness table, in primary-key order (to compare before and after)."""
    from harness.store.schema import Base

    return {
        table.name: query(db, f"SELECT * FROM {table.name} ORDER BY 1")
        for table in Base.metadata.sorted_tables
    }
