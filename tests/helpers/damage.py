"""Damage checks for a results database: integrity, partial or inconsistent trials,
duplicate or missing indices (what the reliability tests assert after every kill)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def integrity(db: Path) -> str:
    con = connect(db)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def trial_problems(db: Path) -> list[str]:
    """Every way a stored trial can be partial or inconsistent; [] for a sound database."""
    problems: list[str] = []
    con = connect(db)
    try:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            problems.append(f"integrity_check: {ok}")
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            problems.append(f"foreign keys: {fk[:3]}")
        rows = con.execute(
            "SELECT t.id, t.run_id, t.trial_index, t.outcome, t.n_changed, t.changed_words,"
            " t.error_message, t.adversarial_text, t.topk_before, t.rank_before,"
            " (SELECT COUNT(*) FROM substitutions s WHERE s.trial_id = t.id)"
            " FROM trials t"
        ).fetchall()
        import json

        from harness.store.schema import OUTCOMES

        for tid, run_id, idx, outcome, n_changed, changed, err, adv, topk, rank, n_subs in rows:
            where = f"trial id={tid} run={run_id} index={idx}"
            if outcome not in OUTCOMES:
                problems.append(f"{where}: outcome {outcome!r}")
                continue
            changed = json.loads(changed) if changed else []
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
            if adv is None or rank is None or not json.loads(topk or "[]"):
                problems.append(f"{where}: {outcome} without adversarial text, rank or top-k")
        orphans = con.execute(
            "SELECT COUNT(*) FROM substitutions WHERE trial_id NOT IN (SELECT id FROM trials)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} substitutions without a trial")
    finally:
        con.close()
    return problems


def trial_indices(db: Path, run_id: int | None = None) -> dict[int, list[int]]:
    """run id -> sorted list of stored trial_index values (duplicates kept, to be caught)."""
    con = connect(db)
    try:
        sql = "SELECT run_id, trial_index FROM trials"
        rows = con.execute(
            sql + (" WHERE run_id = ?" if run_id else ""), (run_id,) if run_id else ()
        )
        out: dict[int, list[int]] = {}
        for rid, idx in rows:
            out.setdefault(int(rid), []).append(int(idx))
        return {k: sorted(v) for k, v in out.items()}
    finally:
        con.close()


def runs(db: Path) -> list[tuple[int, str, int, str]]:
    """(id, attack, n_planned, status) of every run."""
    con = connect(db)
    try:
        return [
            (int(a), str(b), int(c), str(d))
            for a, b, c, d in con.execute(
                "SELECT id, attack, n_planned, status FROM runs ORDER BY id"
            )
        ]
    finally:
        con.close()


def count(db: Path, sql: str = "SELECT COUNT(*) FROM trials") -> int:
    con = connect(db)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()
