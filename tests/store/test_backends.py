"""What the store promises on either backend (SQLite, PostgreSQL on a real server): schema
creation that several processes may start at once, a write lock that serialises, one row per
(run, trial index), values that read back exactly; and one-line errors for URLs and drivers
the harness cannot use."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from harness.store import schema
from harness.store.runs import TrialRecord, record_trial
from harness.store.schema import SCHEMA_VERSION, TrainedModel, Trial
from harness.store.session import open_store
from tests.helpers.cli import cli_env, one_line_error
from tests.helpers.damage import query
from tests.store.test_session import _add_run

OPEN_AT = """
import sys, time
from harness.store.session import open_store
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
open_store(sys.argv[2]).dispose()
"""

HOLD_LOCK = """
import sys, time
from harness.store.session import open_store
store = open_store(sys.argv[2])
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))

def hold(s):
    t0 = time.time()
    time.sleep(0.6)
    return t0, time.time()

print(*store.serialised(hold))
"""


def _at_once(script: str, db: str, n: int, delay: float = 3.0) -> list[str]:
    """Start ``n`` interpreters that run ``script`` at the same moment; their outputs."""
    start = time.time() + delay
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(start), db],
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "Traceback" not in err, err
        outs.append(out)
    return outs


def test_schema_creation_started_by_four_processes_at_once(any_db: str) -> None:
    _at_once(OPEN_AT, any_db, 4)
    versions = [r[0] for r in query(any_db, "SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    store = open_store(any_db)
    assert store.version() == SCHEMA_VERSION
    _add_run(store, n_trials=2)  # the schema is whole: a run and its trials can be written
    store.dispose()


def test_an_upgrade_started_by_four_processes_at_once(any_db: str) -> None:
    """A database left at version 1 (before the corpus columns) is upgraded once, whole, by
    four processes that open it at the same moment."""
    store = open_store(any_db)
    _add_run(store, n_trials=1)
    with store.engine.begin() as conn:
        for table in ("runs", "trained_models"):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN corpus"))
        conn.execute(text("DELETE FROM schema_version WHERE version > 1"))
    store.dispose()
    assert open_store(any_db, create=False).version() == 1
    _at_once(OPEN_AT, any_db, 4)
    versions = [r[0] for r in query(any_db, "SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    assert query(any_db, "SELECT corpus FROM runs") == [(None,)]
    assert query(any_db, "SELECT count(*) FROM trials") == [(1,)]


def test_the_write_lock_serialises_processes(any_db: str) -> None:
    open_store(any_db).dispose()
    outs = _at_once(HOLD_LOCK, any_db, 3)
    spans = sorted(tuple(map(float, o.split())) for o in outs)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.01, f"two holders of the write lock overlapped: {spans}"


def _record(run_id: int, index: int) -> TrialRecord:
    return TrialRecord(
        run_id=run_id, trial_index=index, sample_id="doc", target_labels=[1],
        target_names=["x"], label_freq=2, bin_index=0, attack="positive", outcome="error",
        n_words=3, original_text="a b c", logical_queries=0, forward_passes=0,
        wall_seconds=0.1, error_message="boom",
    )  # fmt: skip


def test_a_trial_index_is_stored_once(any_db: str) -> None:
    store = open_store(any_db)
    run_id = _add_run(store, n_trials=0)
    assert record_trial(store, _record(run_id, 7)) is not None
    assert record_trial(store, _record(run_id, 7)) is None  # another writer stored it first
    assert query(any_db, "SELECT trial_index FROM trials") == [(7,)]
    store.dispose()


def test_values_read_back_exactly(any_db: str) -> None:
    """Text longer than a VARCHAR's length, a seed past 2**31, NaN and infinity in JSON,
    non-ASCII words: read back as written, and timestamps as naive UTC on both backends."""
    store = open_store(any_db)
    run_id = _add_run(store, n_trials=0)
    long_id = "doc-" + "é" * 300
    word = "w" * 250
    metrics = {"P@1": 0.5, "PSP@1": math.nan, "ratio": math.inf}

    def add(s):
        s.add(TrainedModel(
            spec_hash="h" * 64, dataset="d", corpus="c" * 300, dataset_fingerprint="f",
            model="m", loss="bce", weighting="none", seed=2**40, checkpoint_path="/x",
            checkpoint_hash="0", metrics=metrics,
        ))  # fmt: skip

    store.write(add)
    rec = _record(run_id, 0)
    rec.sample_id, rec.outcome, rec.error_message = long_id, "success", None
    rec.n_changed, rec.changed_words = 1, [[0, word, "ü"]]
    rec.adversarial_text, rec.rank_before, rec.topk_before = "ü b c", 1, [1]
    from harness.attack.search import Substitution

    rec.substitutions = [Substitution(step=0, position=0, old_word=word, new_word="ü", gain=0.25)]
    assert record_trial(store, rec) is not None
    with store.read() as s:
        model = s.query(TrainedModel).one()
        trial = s.query(Trial).one()
        sub = s.query(schema.Substitution).one()
        assert model.seed == 2**40 and model.corpus == "c" * 300
        assert model.metrics["P@1"] == 0.5 and math.isnan(model.metrics["PSP@1"])
        assert model.metrics["ratio"] == math.inf
        assert trial.sample_id == long_id and trial.changed_words == [[0, word, "ü"]]
        assert (sub.old_word, sub.new_word, sub.gain) == (word, "ü", 0.25)
        assert trial.created_at.tzinfo is None
        assert abs((trial.created_at - schema.utcnow().replace(tzinfo=None)).total_seconds()) < 60
    store.dispose()


# -- one-line errors -------------------------------------------------------------------------


def _cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{prelude}from harness.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_postgres_without_its_driver_names_the_extra() -> None:
    """psycopg made unimportable (as where the extra is not installed): one line, exit 2."""
    res = _cli(
        "--db", "postgresql://me:secret@127.0.0.1:1/results", "query",
        prelude="import sys; sys.modules['psycopg'] = None; ",
    )  # fmt: skip
    assert res.returncode == 2
    line = one_line_error(res)
    assert "pip install 'xmtc-harness[postgres]'" in line
    assert "secret" not in line


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://me@localhost/results", "unsupported database 'mysql'"),
        ("oracle+cx_oracle://me@db/results", "unsupported database 'oracle'"),
        ("postgresql+psycopg2://me@localhost/results", "psycopg 3"),
        ("postgresql+asyncpg://me@localhost/results", "psycopg 3"),
        ("sqlite+aiosqlite:///r.db", "sqlite3 module"),
        ("postgresql://me@localhost:port/results", "neither a file path nor a database URL"),
        ("postgresql://me:secret@127.0.0.1:1/results", "database error"),
    ],
)
def test_an_unusable_url_is_one_line(url: str, says: str) -> None:
    res = _cli("--db", url, "query")
    assert res.returncode == 2, res.stderr
    line = one_line_error(res)
    assert says in line and "secret" not in line


def test_a_postgres_database_without_results_is_named(postgres_url: str) -> None:
    res = _cli("--db", postgres_url, "query")
    assert res.returncode == 2
    assert "no results tables here" in one_line_error(res)


def test_sqlite_and_postgres_store_the_same_json(any_db: str, tmp_path: Path) -> None:
    """JSON columns hold the same text on both backends (what ``query --sql`` shows)."""
    store = open_store(any_db)
    _add_run(store, n_trials=1)
    ((config, labels),) = query(any_db, "SELECT r.config, t.target_labels FROM runs r, trials t")
    assert (json.loads(config), json.loads(labels)) == ({"a": 1}, [1])
    assert store.run_readonly_sql("SELECT config FROM runs")[1] == [('{"a": 1}',)]
    store.dispose()
