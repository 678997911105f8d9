"""Helpers for the reliability/security tests: run the real CLI in a subprocess, and check a
results database for damage (integrity, partial trials, duplicate or missing indices).

The one test here proves the damage check is not vacuous: it flags a hand-broken copy.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENTRY = "from harness.cli import main; main()"
FLAKY = "tests.plugins_for_tests.failing"

# Small synthetic corpus + linear model: trains in seconds on one core.
SYNTH = (
    "--dataset", "synthetic", "--dataset-opt", "n_docs=400", "--dataset-opt", "n_labels=100",
    "--dataset-opt", "doc_length=40",
)  # fmt: skip


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("XMTC_HARNESS_DB", None)
    env.pop("XMTC_HARNESS_PLUGINS", None)
    env.pop("XMTC_HARNESS_REGISTRY", None)
    env.update(extra or {})
    return env


def cli_cmd(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-c", ENTRY, *args]


def run_cli(
    args: Sequence[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``xmtc-harness ARGS`` in a fresh interpreter (exactly what a user's shell runs)."""
    return subprocess.run(
        cli_cmd(args),
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen_cli(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None):
    return subprocess.Popen(
        cli_cmd(args),
        cwd=cwd,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def eval_args(
    tmp: Path,
    *extra: str,
    db: str | None = None,
    attack: str = "positive",
    plugins: Sequence[str] = (),
) -> list[str]:
    """An ``eval`` over the small synthetic corpus, models and caches inside ``tmp``."""
    pre = [a for p in plugins for a in ("--plugin", p)]
    return [
        *pre, "--db", db or str(tmp / "results.db"), "eval", *SYNTH,
        "--model", "linear", "--epochs", "3",
        "--model-dir", str(tmp / "models"), "--cache-dir", str(tmp / "cache"),
        "--attack", attack, "--labels-per-bin", "2", "--samples-per-bin", "1",
        "--substituter", "glove", "--substituter-opt", "k=4", "--similarity", "use",
        "--max-queries", "25", "--no-progress", *extra,
    ]  # fmt: skip


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a failed command, asserted to be a single line and no traceback."""
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines, f"no error message (rc={res.returncode}, stdout={res.stdout!r})"
    last = lines[-1]
    assert last.startswith("error:") or last.startswith("Error:"), res.stderr
    # Only the error line itself (click usage errors add a "Usage:"/"Try" preamble).
    assert sum(ln.lower().startswith("error") for ln in lines) == 1, res.stderr
    return last


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


def test_damage_check_flags_partial_trials(tmp_path: Path) -> None:
    """A database with a half-written trial (success, no substitutions; an error without a
    message) is reported, so the kill/concurrency tests cannot pass vacuously."""
    from harness.store.session import open_store

    db = tmp_path / "results.db"
    open_store(str(db)).dispose()
    con = sqlite3.connect(db)
    con.execute(
        "INSERT INTO runs (id, config_hash, config, seed, status, dataset, model, loss, weighting,"
        " attack, cluster, k, package_versions, harness_version, n_planned, bins, started_at)"
        " VALUES (1, 'h', '{}', 0, 'running', 'd', 'm', 'l', 'none', 'positive', 0, 5, '{}',"
        " '0', 2, '[]', '2024-01-01')"
    )
    common = (
        "INSERT INTO trials (run_id, trial_index, sample_id, target_labels, target_names,"
        " label_freq, bin_index, attack, outcome, n_words, n_changed, changed_words,"
        " logical_queries, forward_passes, topk_before, topk_after, original_text,"
        " adversarial_text, rank_before, wall_seconds, error_message, created_at) VALUES"
    )
    con.execute(
        common + " (1, 0, 's', '[1]', '[\"a\"]', 3, 0, 'positive', 'success', 10, 1,"
        " '[[0, \"a\", \"b\"]]', 1, 1, '[1]', '[2]', 'a', 'b', 0, 0.1, NULL, '2024-01-01')"
    )
    con.execute(
        common + " (1, 1, 's', '[1]', '[\"a\"]', 3, 0, 'positive', 'error', 10, 0,"
        " '[]', 1, 1, '[]', '[]', 'a', NULL, NULL, 0.1, NULL, '2024-01-01')"
    )
    con.commit()
    con.close()
    problems = trial_problems(db)
    assert any("index=0: 0 substitutions stored, n_changed=1" in p for p in problems), problems
    assert any("index=1: error without message" in p for p in problems), problems
    shutil.copy(db, tmp_path / "copy.db")
    assert integrity(tmp_path / "copy.db") == "ok"
