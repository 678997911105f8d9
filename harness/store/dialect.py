"""Everything that differs between database backends, behind one small class.

:class:`Store` asks its :class:`Dialect` how to connect, how to take the database-wide write
lock that serialises run opening, model recording and migrations (:meth:`Dialect.lock`),
and how to run SQL a user typed so that it cannot write (:meth:`Dialect.run_readonly`).
SQLite is the built-in backend; :class:`GenericDialect` serves any other SQLAlchemy URL
with standard SQL. A backend with its own mechanisms (PostgreSQL's advisory locks, say)
adds a subclass and a line in :func:`dialect_for`; nothing outside this module tests which
backend it is talking to.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from harness.errors import StoreError

BUSY_TIMEOUT_MS = 30_000

Rows = tuple[list[str], list[tuple[Any, ...]]]


class Dialect:
    """A backend's connection settings, write lock and read-only SQL."""

    name = "generic"

    def __init__(self, url: URL):
        self.url = url

    @property
    def path(self) -> Path | None:
        """The database file, for backends that keep one (else None)."""
        return None

    def engine_options(self) -> dict[str, Any]:
        """Extra keyword arguments for :func:`sqlalchemy.create_engine`."""
        return {}

    def prepare(self, engine: Engine) -> None:
        """Set up a new engine (connection hooks, pragmas)."""

    def lock(self, conn: Connection) -> None:
        """Take the database-wide write lock for the transaction that ``conn`` just began,
        so two processes that look for a row and create it when missing do so one after
        the other. The lock ends with the transaction."""

    def run_readonly(self, engine: Engine, sql: str) -> Rows:
        """Run one user statement in a ``READ ONLY`` transaction that is always rolled back.

        Errors are :class:`StoreError` saying what happened to the statement ("refused or
        failed: ..."), for the caller to prefix with where the statement came from."""
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(text("SET TRANSACTION READ ONLY"))
                res = conn.execute(text(sql))
                cols = list(res.keys())
                rows = [tuple(r) for r in res.fetchall()]
            except SQLAlchemyError as exc:
                raise StoreError(f"refused or failed: {getattr(exc, 'orig', exc)}") from None
            finally:
                trans.rollback()
        return cols, rows


GenericDialect = Dialect


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError:
            pass  # a read-only file cannot switch journal mode; reads still work
    finally:
        cur.close()


class SQLiteDialect(Dialect):
    """SQLite in WAL mode with foreign keys and a busy timeout, so two campaigns can write one
    file at once; ``BEGIN IMMEDIATE`` is the write lock; user SQL runs on a separate
    ``mode=ro`` connection with an authorizer that allows only reading."""

    name = "sqlite"

    @property
    def path(self) -> Path | None:
        raw = self.url.database
        if not raw or raw == ":memory:":
            return None
        if raw.startswith("file:"):  # a SQLite URI (e.g. ...?mode=ro&uri=true)
            raw = raw[len("file:") :].split("?", 1)[0]
        return Path(raw)

    def engine_options(self) -> dict[str, Any]:
        return {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}}

    def prepare(self, engine: Engine) -> None:
        event.listen(engine, "connect", _sqlite_pragmas)

    def lock(self, conn: Connection) -> None:
        # Take the write lock before looking: a second process waits (busy_timeout) instead
        # of reading a state the first one is about to change.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def run_readonly(self, engine: Engine, sql: str) -> Rows:
        """The driver's one-statement rule refuses multi-statement tricks; ``query_only`` and
        the authorizer refuse ATTACH, PRAGMA writes and DML."""
        if self.path is None:
            raise StoreError("needs a SQLite file database")
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        allowed = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
        allowed.add(getattr(sqlite3, "SQLITE_RECURSIVE", 33))

        def authorizer(action: int, *_: Any) -> int:
            return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY

        try:
            conn.execute("PRAGMA query_only=ON")
            conn.set_authorizer(authorizer)
            cur = conn.execute(sql)
            cols = [d[0] for d in cur.description or []]
            rows = cur.fetchall()
        except (sqlite3.Error, sqlite3.Warning) as exc:
            msg = f"refused or failed (the database is opened read-only): {exc}"
            raise StoreError(msg) from None
        finally:
            conn.rollback()
            conn.close()
        return cols, rows


def dialect_for(url: URL) -> Dialect:
    """The dialect of a database URL."""
    if url.get_backend_name() == "sqlite":
        return SQLiteDialect(url)
    return GenericDialect(url)
