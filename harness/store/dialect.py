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
from harness.store import sqlite_file

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

    def engine_options(self, readonly: bool = False) -> dict[str, Any]:
        """Extra keyword arguments for :func:`sqlalchemy.create_engine` (``readonly``: for a
        store that only reads)."""
        return {}

    def prepare(self, engine: Engine, readonly: bool = False) -> None:
        """Set up a new engine (connection hooks, pragmas)."""

    def check_database(self, create: bool) -> None:
        """Refuse, before anything is written, a database the harness must not open (one
        line saying why and how to recover); ``create``: the store will write to it."""

    def damage(self) -> str | None:
        """When a read failed: the database's damage that explains it, as one line (None:
        nothing found, the failure is not the database's)."""
        return None

    def close(self) -> None:
        """Release what :meth:`check_database` kept open."""

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


def _sqlite_readonly(dbapi_conn: Any, _record: Any) -> None:
    """A reading store's connection: nothing that could write (no journal-mode switch)."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA query_only=ON")
    finally:
        cur.close()


class SQLiteDialect(Dialect):
    """SQLite in WAL mode with foreign keys and a busy timeout, so two campaigns can write one
    file at once; ``BEGIN IMMEDIATE`` is the write lock; user SQL runs on a separate
    ``mode=ro`` connection with an authorizer that allows only reading."""

    name = "sqlite"
    reader: sqlite_file.ReadOnlyFile | None = None

    @property
    def path(self) -> Path | None:
        raw = self.url.database
        if not raw or raw == ":memory:":
            return None
        if raw.startswith("file:"):  # a SQLite URI (e.g. ...?mode=ro&uri=true)
            raw = raw[len("file:") :].split("?", 1)[0]
        return Path(raw)

    def engine_options(self, readonly: bool = False) -> dict[str, Any]:
        if readonly and self.reader is not None:
            return {"creator": self.reader.connect}
        return {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}}

    def prepare(self, engine: Engine, readonly: bool = False) -> None:
        event.listen(engine, "connect", _sqlite_readonly if readonly else _sqlite_pragmas)

    def check_database(self, create: bool) -> None:
        """A file that is not SQLite, a SQLite file of other tables, or a damaged results
        database is refused before anything touches it (:mod:`harness.store.sqlite_file`);
        an in-memory database, which keeps nothing, too."""
        path = self.path
        if path is None:
            raise StoreError(
                f"{self.url}: an in-memory database keeps nothing after the command; give "
                "a database file path"
            )
        if not path.exists() or not sqlite_file.check_header(path):
            if not create:
                raise StoreError(f"{path}: no results database here (run an eval first)")
            return  # a new database
        self.reader = sqlite_file.ReadOnlyFile(path)
        sqlite_file.check_file(path, self.reader, writing=create)
        if create:
            sqlite_file.check_writable(path)

    def damage(self) -> str | None:
        if self.reader is None or self.path is None:
            return None
        return sqlite_file.diagnose(self.reader, self.path)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def lock(self, conn: Connection) -> None:
        # Take the write lock before looking: a second process waits (busy_timeout) instead
        # of reading a state the first one is about to change.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def run_readonly(self, engine: Engine, sql: str) -> Rows:
        """The driver's one-statement rule refuses multi-statement tricks; ``query_only`` and
        the authorizer refuse ATTACH, PRAGMA writes and DML."""
        if self.path is None:
            raise StoreError("needs a SQLite file database")
        if self.reader is None:
            self.reader = sqlite_file.ReadOnlyFile(self.path)
        conn = self.reader.connect()
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
