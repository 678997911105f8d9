"""Leaderboard sums computed in the database (one GROUP BY over a covering index) equal the
same rules applied trial by trial in Python, with and without SQL's ``acos``; the index is
what the query reads, an older database gets it on upgrade, and run selections leave the
(large) configuration unread. ``compare``'s per-trial keys come from their own covering
index and equal the ORM's decoding of every row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

from harness.report.leaderboard import combine, sums_of
from harness.store.queries import (
    RunFilter,
    cell_sums,
    cell_sums_statement,
    pair_outcomes,
    select_runs,
    trial_stats,
)
from harness.store.schema import SCHEMA_VERSION, Trial
from harness.store.session import open_store
from tests.helpers.report_db import build_report_db


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agg") / "results.db"
    store = build_report_db(path)

    def odd_trials(s):  # edge cases the fixture lacks
        base = dict(
            sample_id="odd", target_labels=[1], target_names=["x"], label_freq=1, bin_index=9,
            attack="positive", original_text="a", n_changed=2,
        )  # fmt: skip
        s.add_all(
            [
                Trial(run_id=1, trial_index=900, outcome="success", similarity=1.0000001,
                      change_rate=None, n_words=8, **base),
                Trial(run_id=1, trial_index=901, outcome="success", similarity=None,
                      change_rate=None, n_words=0, **base),
                Trial(run_id=1, trial_index=902, outcome="error", n_words=5, **base),
            ]
        )  # fmt: skip

    store.write(odd_trials)
    store.dispose()
    return path


def _close(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


@pytest.mark.parametrize("sql_acos", [True, False])
def test_database_sums_equal_the_rules_applied_trial_by_trial(db: Path, sql_acos: bool) -> None:
    store = open_store(str(db), create=False)
    with store.read() as s:
        ids = [r.id for r in select_runs(s, RunFilter())]
        got = cell_sums(s, ids, sql_acos=sql_acos)
        trials = trial_stats(s, ids)
    cells = {(t.run_id, t.bin_index) for t in trials}
    assert [(c.run_id, c.bin_index) for c in got] == sorted(cells)
    for c in got:
        want = sums_of([t for t in trials if (t.run_id, t.bin_index) == (c.run_id, c.bin_index)],
                       c.run_id, c.bin_index)  # fmt: skip
        for field in c._fields:
            assert _close(getattr(c, field), getattr(want, field)), (c.run_id, c.bin_index, field)
    overall, direct = combine(got), combine([sums_of(trials)])
    for field in ("n", "successes", "rate", "similarity", "similarity_angular",
                  "change_rate_mean", "change_rate_pooled", "seconds_per_trial"):  # fmt: skip
        assert _close(getattr(overall, field), getattr(direct, field)), field
    assert overall.similarity_angular is not None and 0 < overall.similarity_angular <= 1
    odd = next(c for c in got if (c.run_id, c.bin_index) == (1, 9))
    assert (odd.successes, odd.similarity_n, odd.rate_n, odd.n_errors) == (2, 1, 1, 1)
    assert odd.angular_sum == pytest.approx(1.0)  # a cosine just above 1 is clipped
    store.dispose()


def test_the_aggregate_reads_only_the_covering_index(db: Path) -> None:
    stmt = cell_sums_statement([1, 2, 3], sql_acos=True)
    sql = str(stmt.compile(compile_kwargs={"literal_binds": True}))
    con = sqlite3.connect(db)
    plan = " ".join(str(row[-1]) for row in con.execute("EXPLAIN QUERY PLAN " + sql))
    con.close()
    assert "COVERING INDEX ix_trials_run_bin_stats" in plan, plan


def test_pairs_read_their_covering_index_and_equal_the_rows(db: Path) -> None:
    con = sqlite3.connect(db)
    sql = (
        "SELECT trial_index, sample_id, target_labels, bin_index, outcome FROM trials"
        " WHERE run_id = 1 ORDER BY trial_index"
    )
    plan = " ".join(str(row[-1]) for row in con.execute("EXPLAIN QUERY PLAN " + sql))
    con.close()
    assert "COVERING INDEX ix_trials_run_pairs" in plan, plan
    store = open_store(str(db), create=False)
    with store.read() as s:
        for run_id in (1, 2, 3):
            got = pair_outcomes(s, run_id)
            rows = s.scalars(
                select(Trial).where(Trial.run_id == run_id).order_by(Trial.trial_index)
            ).all()
            want = [
                (t.trial_index, t.sample_id, tuple(t.target_labels), t.bin_index, t.outcome)
                for t in rows
            ]
            assert [tuple(p) for p in got] == want and want
            assert all(type(x) is int for p in got for x in p.targets)
    store.dispose()


def test_an_older_database_gets_the_index_on_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    build_report_db(db).dispose()
    con = sqlite3.connect(db)
    con.execute("DROP INDEX ix_trials_run_bin_stats")
    con.execute("DROP INDEX ix_trials_run_pairs")
    con.execute("DELETE FROM schema_version WHERE version = 3")
    con.commit()
    con.close()
    assert open_store(str(db), create=False).version() == 2
    store = open_store(str(db))
    assert store.version() == SCHEMA_VERSION == 3
    store.dispose()
    con = sqlite3.connect(db)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    con.close()
    assert {"ix_trials_run_bin_stats", "ix_trials_run_pairs"} <= names


def test_run_selections_leave_the_configuration_unread(db: Path) -> None:
    store = open_store(str(db), create=False)
    with store.read() as s:
        run = select_runs(s, RunFilter(run_ids=(1,)))[0]
        assert run.model == "attentionxml"
        with pytest.raises(InvalidRequestError):
            _ = run.config
    store.dispose()
