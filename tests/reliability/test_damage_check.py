"""The damage check is not vacuous: it flags a hand-broken database."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.helpers.damage import integrity, trial_problems


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
