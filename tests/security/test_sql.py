"""``xmtc-harness query --sql`` cannot change the database, whatever the statement.

The Store-level refusal is tested in tests/store/test_session.py; here the whole CLI path is
attacked with further tricks (VACUUM INTO, temp tables, CTE writes, PRAGMA writes,
transaction control, extension loading, comment and newline smuggling), on both backends:
a SQLite file must stay byte-identical, a PostgreSQL database must hold the same rows. On
PostgreSQL its own tricks follow (COPY ... TO PROGRAM, server files, large objects,
sequences, settings, roles, signals to other sessions, functions that run SQL), each
refused, with the side effects it aims at checked from outside: no file written on the
server, another session still alive, no lock left held, no notification delivered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.store.schema import SCHEMA_VERSION
from tests.conftest import BACKENDS
from tests.helpers.cli import cli_output, main_captured, one_line_error, run_cli, run_main
from tests.helpers.damage import Db, count, is_url, table_contents
from tests.helpers.postgres import PostgresServer
from tests.helpers.report_db import build_report_db

TRICKS = [
    "INSERT INTO runs (id) VALUES (99)",
    "REPLACE INTO schema_version (version) VALUES (99)",
    "DELETE FROM substitutions",
    "UPDATE runs SET status = 'failed'",
    "DROP TABLE substitutions",
    "DROP INDEX ix_trials_run_bin",
    "ALTER TABLE trials ADD COLUMN pwned TEXT",
    "CREATE TABLE pwned (a)",
    "CREATE TEMP TABLE pwned AS SELECT * FROM trials",
    "CREATE VIEW pwned AS SELECT 1",
    "CREATE TRIGGER pwned AFTER INSERT ON trials BEGIN DELETE FROM trials; END",
    "WITH doomed AS (SELECT id FROM trials) DELETE FROM trials WHERE id IN doomed",
    "VACUUM",
    "VACUUM INTO 'copy.db'",
    "REINDEX",
    "ANALYZE",
    "ATTACH DATABASE 'other.db' AS other",
    "DETACH DATABASE main",
    "PRAGMA user_version = 7",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA query_only = OFF",
    "PRAGMA writable_schema = ON",
    "PRAGMA foreign_keys = OFF",
    "BEGIN IMMEDIATE",
    "SAVEPOINT s1",
    "SELECT load_extension('/tmp/evil')",
    "SELECT 1; DELETE FROM trials",
    "SELECT 1;\nDROP TABLE runs",
    "SELECT 1 -- comment\n; UPDATE trials SET outcome = 'x'",
    "PRAGMA query_only = OFF; DELETE FROM trials",
    "BEGIN; DELETE FROM trials; COMMIT",
]


def _digest(db: Db) -> str:
    """The SQLite file's bytes (with its WAL), or every row of a PostgreSQL database."""
    h = hashlib.sha256()
    if is_url(db):
        h.update(repr(table_contents(db)).encode())
        return h.hexdigest()
    db = Path(db)
    for f in sorted(db.parent.glob(db.name + "*")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module", params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlsec") / "results.db"
        build_report_db(path, per_bin=5).dispose()
        yield path
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database("sqlsec")
    build_report_db(server.url(name), per_bin=5).dispose()
    yield server.url(name)
    server.drop_database(name)


def _counts(db: Db) -> tuple[int, ...]:
    return tuple(
        count(db, f"SELECT COUNT(*) FROM {t}")
        for t in ("runs", "trials", "substitutions", "trained_models", "schema_version")
    )


def test_every_write_trick_is_refused_and_the_file_is_unchanged(
    db: Db, capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where VACUUM INTO / ATTACH would create files
    before_counts, before_digest = _counts(db), _digest(db)
    for sql in TRICKS:
        code, out, err = run_main(["--db", str(db), "query", "--sql", sql], capsys)
        assert code == 2, (sql, err)
        assert out == "", sql
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: --sql"), (sql, err)
        assert "Traceback" not in err
        assert _counts(db) == before_counts, sql
        assert _digest(db) == before_digest, sql
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "other.db").exists()
    assert list(tmp_path.iterdir()) == []


def test_read_only_sql_still_reads(db: Db, capsys: pytest.CaptureFixture) -> None:
    out = cli_output(db, "query", "--sql", "SELECT COUNT(*) AS n FROM trials")
    assert out.split() == ["n", "---", str(count(db))]


def test_sql_refusal_through_the_installed_entry_point(db: Db, tmp_path: Path) -> None:
    """A fresh interpreter, a multi-statement trick: exit 2, one line, nothing changed."""
    before_counts, before_digest = _counts(db), _digest(db)
    res = run_cli(["--db", str(db), "query", "--sql", "SELECT 1; DROP TABLE trials"], cwd=tmp_path)
    assert res.returncode == 2
    assert one_line_error(res).startswith("error: --sql refused or failed")
    assert (_counts(db), _digest(db)) == (before_counts, before_digest)


# -- PostgreSQL's own tricks -----------------------------------------------------------------

MARK = "{mark}"
"""Replaced by a path the server's account may write to: the trick must not create it."""

PG_TRICKS = [
    "TRUNCATE trials CASCADE",
    "WITH gone AS (DELETE FROM trials RETURNING id) SELECT count(*) FROM gone",
    "MERGE INTO runs r USING runs s ON r.id = s.id WHEN MATCHED THEN DELETE",
    "SELECT * FROM trials FOR UPDATE",
    "SELECT * INTO pwned FROM trials",
    "CREATE TABLE pwned AS SELECT * FROM trials",
    "CREATE FUNCTION pwned() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "GRANT ALL ON trials TO PUBLIC",
    "COMMENT ON TABLE trials IS 'pwned'",
    "ALTER SYSTEM SET work_mem = '1GB'",
    "COPY (SELECT 1) TO PROGRAM 'touch {mark}'",
    "COPY trials TO '{mark}'",
    "COPY trials FROM PROGRAM 'echo 1'",
    "COPY trials TO STDOUT",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_read_binary_file('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_export(lo_from_bytea(0, 'x'), '{mark}')",
    "SELECT nextval('trials_id_seq')",
    "SELECT setval('trials_id_seq', 1000)",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT set_config('role', session_user, false), pg_terminate_backend(pid)"
    " FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    "SELECT pg_catalog.\"set_config\"('session_authorization', session_user, true)",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    "SELECT (SELECT pg_cancel_backend(pid)) FROM pg_stat_activity",
    "SELECT pg_reload_conf()",
    "SELECT pg_stat_reset()",
    "SELECT pg_advisory_lock(42)",
    "SELECT pg_notify('xmtc', 'pwned')",
    "NOTIFY xmtc, 'pwned'",
    "LISTEN xmtc",
    "SELECT query_to_xml('DELETE FROM trials', true, true, '')",
    "SELECT * FROM trials WHERE id > random()",
    "DO $$ BEGIN DELETE FROM trials; END $$",
    "CALL pwned()",
    "SET ROLE NONE",
    "RESET ROLE",
    "SET SESSION AUTHORIZATION DEFAULT",
    "SET default_transaction_read_only = off",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "PREPARE p AS DELETE FROM trials",
    "EXECUTE p",
    "COMMIT; DELETE FROM trials",
    "SELECT 1; COMMIT; DELETE FROM trials",
    "SELECT 1; SET ROLE NONE; DELETE FROM trials",
    "SELECT 1 -- comment\n; UPDATE trials SET outcome = 'x'",
    "EXPLAIN ANALYZE DELETE FROM trials",
    "VACUUM",
    "ANALYZE trials",
    "CLUSTER trials USING uq_trial_run_index",
    "REINDEX TABLE trials",
    "LOCK TABLE trials",
    "CHECKPOINT",
    "CREATE EXTENSION IF NOT EXISTS dblink",
    "DISCARD ALL",
]


@pytest.fixture(scope="module")
def pg_db(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database("sqlpg")
    build_report_db(postgres_server.url(name), per_bin=5).dispose()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def _outside_state(conn, server: PostgresServer) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What the tricks aim at outside the tables, as another session sees it."""
    return {
        "sequence": conn.execute("SELECT last_value FROM trials_id_seq").fetchone(),
        "large objects": conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone(),
        "read-only default": conn.execute("SHOW default_transaction_read_only").fetchone(),
        "work_mem file": (server.root / "data" / "postgresql.auto.conf").read_text(),
        "relations": conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public'"
        ).fetchone(),
        "functions": conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname = 'pwned'"
        ).fetchone(),
        "comment": conn.execute("SELECT obj_description('trials'::regclass)").fetchone(),
        "grants": conn.execute(
            "SELECT count(*) FROM information_schema.role_table_grants"
            " WHERE table_name = 'trials' AND grantee = 'PUBLIC'"
        ).fetchone(),
    }


def test_postgres_tricks_are_refused_and_change_nothing(
    pg_db: str, postgres_server: PostgresServer, capsys: pytest.CaptureFixture
) -> None:
    import psycopg

    before_rows = table_contents(pg_db)
    with psycopg.connect(pg_db, autocommit=True) as canary:
        canary.execute("LISTEN xmtc")
        pid = canary.info.backend_pid
        before_state = _outside_state(canary, postgres_server)
        for n, trick in enumerate(PG_TRICKS):
            mark = postgres_server.root / f"pwned-{n}"
            sql = trick.replace(MARK, str(mark))
            code, out, err = run_main(["--db", pg_db, "query", "--sql", sql], capsys)
            assert code == 2, (sql, out, err)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("error: --sql refused or failed"), (
                sql,
                err,
            )
            assert not mark.exists(), f"{sql}: wrote {mark} on the server"
            assert canary.execute("SELECT pg_backend_pid()").fetchone() == (pid,), sql
        assert table_contents(pg_db) == before_rows
        assert _outside_state(canary, postgres_server) == before_state
        assert canary.execute("SELECT pg_try_advisory_lock(42)").fetchone() == (True,)
        assert list(canary.notifies(timeout=0.5, stop_after=1)) == []
    # The harness's own connections were not left read-only, in another role, or locked.
    store_writes = run_cli(
        ["--db", pg_db, "query", "--sql", "SELECT current_user, count(*) FROM trials"],
        cwd=postgres_server.root.parent,
    )
    assert store_writes.returncode == 0, store_writes.stderr


def test_postgres_sql_runs_as_the_read_role_where_the_login_may(
    postgres_server: PostgresServer,
) -> None:
    """A superuser URL reads as pg_read_all_data; an ordinary login role reads as itself
    until it is granted pg_read_all_data, then as that role; writes are refused throughout."""
    role = f"harness_{postgres_server.port}"
    postgres_server.admin(f"CREATE ROLE {role} LOGIN")
    name = postgres_server.create_database("roles", owner=role)
    url = postgres_server.url(name, role=role)
    build_report_db(url, per_bin=2).dispose()
    before = table_contents(url)

    def sql(statement: str, db: str = url) -> tuple[int, str, str]:
        return main_captured(["--db", db, "query", "--sql", statement, "--format", "csv"])

    assert sql("SELECT current_user AS u")[1].split() == ["u", role]
    for trick in ("DELETE FROM trials", "SELECT set_config('role', session_user, false)"):
        assert sql(trick)[0] == 2
    postgres_server.admin(f"GRANT pg_read_all_data TO {role}")
    assert sql("SELECT current_user AS u")[1].split() == ["u", "pg_read_all_data"]
    assert sql("DELETE FROM trials")[0] == 2
    superuser = postgres_server.url(name)
    assert sql("SELECT current_user AS u", superuser)[1].split() == ["u", "pg_read_all_data"]
    assert table_contents(url) == before
    postgres_server.drop_database(name)


def test_postgres_queries_users_write_still_work(pg_db: str) -> None:
    """Stable and immutable functions, casts, JSON, window functions, a trailing semicolon and
    text that merely looks like a call are ordinary queries."""
    queries = {
        "SELECT outcome, count(*) AS n FROM trials GROUP BY outcome ORDER BY n DESC, outcome;": 6,
        "SELECT run_id, avg(similarity) OVER (PARTITION BY run_id) FROM trials LIMIT 3": 3,
        "SELECT config::json->>'model' AS m FROM runs ORDER BY id": 4,
        "SELECT now() - started_at AS age, to_char(started_at, 'YYYY') FROM runs": 4,
        "SELECT 'random(' AS looks_like_a_call, 1 AS a, 1 AS a": 1,
        "WITH t AS (SELECT * FROM trials) SELECT count(*) FROM t": 1,
        "TABLE schema_version": SCHEMA_VERSION,
        "VALUES (1), (2)": 2,
    }
    for statement, n_rows in queries.items():
        code, out, err = main_captured(
            ["--db", pg_db, "query", "--sql", statement, "--format", "csv"]
        )
        assert code == 0, (statement, err)
        assert len(out.strip().splitlines()) == n_rows + 1, (statement, out)


def test_postgres_tricks_are_refused_without_the_read_role(
    pg_db: str, postgres_server: PostgresServer
) -> None:
    """Where no read role can be taken (a server before PostgreSQL 14, a login that may not
    switch), the superuser of this URL itself runs the statement: the read-only transaction,
    the one-statement rule and the screen of the plan still refuse every trick."""
    from harness.errors import StoreError
    from harness.store.session import open_store

    store = open_store(pg_db, create=False)
    store.dialect.READ_ROLE = "xmtc_no_such_role"  # type: ignore[attr-defined]
    assert store.run_readonly_sql("SELECT current_user")[1] == [("xmtc",)]
    before = table_contents(pg_db)
    for n, trick in enumerate(PG_TRICKS):
        mark = postgres_server.root / f"pwned-superuser-{n}"
        with pytest.raises(StoreError, match="refused or failed"):
            store.run_readonly_sql(trick.replace(MARK, str(mark)))
        assert not mark.exists(), trick
    assert table_contents(pg_db) == before
    store.dispose()
