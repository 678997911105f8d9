"""Everything that differs between database backends, behind one small class.

:class:`Store` asks its :class:`Dialect` how to connect, how to take the database-wide write
lock that serialises run opening, model recording and migrations (:meth:`Dialect.lock`),
and how to run SQL a user typed so that it cannot write (:meth:`Dialect.run_readonly`).
Two backends are supported and tested: SQLite (a file; ``BEGIN IMMEDIATE``, a ``mode=ro``
connection with an authorizer) and PostgreSQL through psycopg 3 (a transaction-level
advisory lock; a ``READ ONLY`` transaction, a read-only role and a screen of the statement
by the server's own parser). Any other URL is refused in one line by :func:`dialect_for`;
nothing outside this module tests which backend it is talking to.
"""

from __future__ import annotations

import hashlib
import json
import re
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
        """The URL the engine connects with (the driver made explicit)."""

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


ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"xmtc-harness write lock").digest()[:8], "big", signed=True
)
"""The advisory lock that stands for the database-wide write lock on PostgreSQL (advisory
locks are per database, so databases on one server do not wait for each other)."""

_PLAN_TOKEN = re.compile(r"""("(?:[^"]|"")*")(\s*\()?|'(?:[^']|'')*'|([^\W\d][\w$]*)(\s*\()?""")
"""In an expression PostgreSQL deparsed: a quoted identifier, a string literal (quotes doubled
inside, as the deparser writes them), or a bare name."""


def _strings(node: Any) -> list[str]:
    """Every string in a JSON document (a plan from ``EXPLAIN (FORMAT JSON)``)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def called_functions(plan: Any) -> set[str]:
    """The names of the functions a plan from ``EXPLAIN (VERBOSE, FORMAT JSON)`` calls.

    VERBOSE deparses every expression the executor evaluates (outputs, filters, sort keys,
    function scans, sub-plans), naming each function as ``name(`` or ``"Name"(``. Scanned
    left to right, string literals are skipped whole, so ``'random('`` is text, not a call;
    anything else read as a call can only refuse more, never less.
    """
    names: set[str] = set()
    for piece in _strings(plan):
        for match in _PLAN_TOKEN.finditer(piece):
            quoted, quoted_call, bare, bare_call = match.groups()
            if quoted_call:
                names.add(quoted[1:-1].replace('""', '"'))
            elif bare_call:
                names.add(bare)
    return names


def _refused(why: str) -> StoreError:
    why = " ".join(why.split())
    return StoreError(
        f"refused or failed (read-only; one SELECT, WITH, VALUES or TABLE query): {why}"
    )


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3.

    The write lock is a transaction-level advisory lock (``pg_advisory_xact_lock``), so run
    opening, model recording and migrations run one at a time, and end with their
    transaction. User SQL runs on a connection of its own that is closed afterwards, in a
    ``READ ONLY`` transaction that is rolled back, as the predefined role
    ``pg_read_all_data`` where the URL's role may take it, and only after the server has
    parsed and planned it as one query (``EXPLAIN``, which refuses COPY, DO, SET and every
    other utility statement, and, through the extended protocol, any second statement)
    calling no volatile function (``set_config``, ``pg_terminate_backend``,
    ``pg_read_file``, ``lo_import``, ``nextval``, ``query_to_xml`` and their like).
    """

    name = "postgresql"
    READ_ROLE = "pg_read_all_data"

    def engine_options(self) -> dict[str, Any]:
        # A server restart or a dropped connection between two trials is survived: the
        # pool tests a connection before handing it out.
        return {"pool_pre_ping": True}

    def lock(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})

    def run_readonly(self, engine: Engine, sql: str) -> Rows:
        import psycopg

        pooled = engine.raw_connection()
        conn = pooled.driver_connection
        try:
            cur = conn.cursor()
            cur.execute("SET TRANSACTION READ ONLY")
            self._take_read_role(cur)
            self._screen(cur, sql)
            cur.execute(sql, prepare=True)  # the extended protocol: one statement only
            cols = [d.name for d in cur.description or []]
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        except psycopg.Error as exc:
            raise _refused(exc.diag.message_primary or str(exc)) from None
        finally:
            try:
                conn.rollback()
            finally:
                # Whatever the statement set in this session (settings, session locks,
                # cursors) goes with the connection; it never returns to the pool.
                pooled.invalidate()
        return cols, rows

    def _take_read_role(self, cur: Any) -> None:
        """Run as ``pg_read_all_data`` (reads every table, may do nothing else) when the
        URL's role may switch to it; otherwise stay the URL's role."""
        cur.execute(
            "SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s",
            (self.READ_ROLE,),
        )
        row = cur.fetchone()
        if row is None or not row[0]:
            return
        import psycopg

        cur.execute("SAVEPOINT read_role")
        try:
            cur.execute(f"SET LOCAL ROLE {self.READ_ROLE}")
        except psycopg.Error:  # a membership without SET (PostgreSQL 16): stay as we are
            cur.execute("ROLLBACK TO SAVEPOINT read_role")

    def _screen(self, cur: Any, sql: str) -> None:
        """Refuse anything but one query calling only stable and immutable functions."""
        cur.execute("SELECT DISTINCT proname FROM pg_catalog.pg_proc WHERE provolatile = 'v'")
        volatile = {r[0] for r in cur.fetchall()}
        cur.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + sql, prepare=True)
        (plan,) = cur.fetchone()
        if isinstance(plan, str):
            plan = json.loads(plan)
        bad = sorted(called_functions(plan) & volatile)
        if bad:
            raise _refused(
                f"calls {', '.join(bad)}, which can change state (only stable and immutable "
                "functions may be called)"
            )


POSTGRES_EXTRA = "pip install 'xmtc-harness[postgres]'"
"""How to get PostgreSQL's driver (psycopg 3), for the one-line error when it is missing."""


def shown(url: URL) -> str:
    """A URL as messages show it: the password hidden."""
    return url.render_as_string(hide_password=True)


def dialect_for(url: URL) -> Dialect:
    """The dialect of a database URL; a :class:`StoreError` naming what to do for a backend
    or driver the harness does not support, or PostgreSQL without its driver installed."""
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise StoreError(
                f"{shown(url)}: SQLite is reached through Python's sqlite3 module; "
                "write the URL as sqlite:///PATH"
            )
        return SQLiteDialect(url)
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise StoreError(
                f"{shown(url)}: PostgreSQL is reached through psycopg 3; write the URL as "
                f"postgresql://... or postgresql+psycopg://..., not {url.drivername}://"
            )
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise StoreError(
                f"{shown(url)}: PostgreSQL needs the psycopg driver: {POSTGRES_EXTRA}"
            ) from None
        return PostgresDialect(url.set(drivername="postgresql+psycopg"))
    raise StoreError(
        f"{shown(url)}: unsupported database {backend!r}; results go to SQLite (a file path "
        "or sqlite:///PATH) or PostgreSQL (postgresql://USER@HOST/DATABASE)"
    )
