"""Opening the results database: URLs, SQLite pragmas, migrations, retried writes, and the
read-only connection used for SQL the user types.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so two campaigns can
write one file at once; a write that still meets a lock is retried a bounded number of
times. A full disk or a read-only file becomes a :class:`StoreError` that says so, and
rows already committed stay readable.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from harness.errors import StoreError
from harness.store.schema import SCHEMA_VERSION, Base, SchemaVersion

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
WRITE_RETRIES = 8


def normalise_url(db: str) -> str:
    """A SQLAlchemy URL as given, or ``sqlite:///PATH`` for a plain file path."""
    return db if "://" in db else f"sqlite:///{db}"


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


def _explain(exc: BaseException, url: str) -> StoreError:
    msg = str(getattr(exc, "orig", exc))
    low = msg.lower()
    if "readonly" in low or "read-only" in low:
        return StoreError(f"{url}: the database is read-only ({msg}); committed rows are intact")
    if "disk is full" in low or "disk i/o" in low or "no space" in low:
        return StoreError(f"{url}: the disk is full ({msg}); committed rows are intact")
    if "locked" in low or "busy" in low:
        return StoreError(f"{url}: the database stayed locked after retries ({msg})")
    if "unable to open" in low:
        return StoreError(f"{url}: cannot open the database file ({msg})")
    return StoreError(f"{url}: database error: {msg}")


def _is_lock(exc: BaseException) -> bool:
    low = str(getattr(exc, "orig", exc)).lower()
    return "locked" in low or "busy" in low


# Migrations: version -> function(connection). Version 1 is the initial schema, created
# from the ORM metadata; later versions add their ALTER statements here, in order.
MIGRATIONS: dict[int, Callable[[Any], None]] = {
    1: lambda conn: Base.metadata.create_all(conn),
}


class Store:
    """An open results database."""

    def __init__(self, db: str, *, create: bool = True):
        self.url = normalise_url(db)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.path: Path | None = None
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            raw = parsed.database
            if raw.startswith("file:"):  # a SQLite URI (e.g. ...?mode=ro&uri=true)
                raw = raw[len("file:") :].split("?", 1)[0]
            self.path = Path(raw)
            if not create and not self.path.exists():
                raise StoreError(f"{self.path}: no results database here (run an eval first)")
            if create and not self.path.parent.exists():
                raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            self.migrate()

    # -- schema -------------------------------------------------------------------------
    def version(self) -> int:
        try:
            if not inspect(self.engine).has_table("schema_version"):
                return 0
            with self._sessions() as s:
                v = s.scalar(select(SchemaVersion.version).order_by(SchemaVersion.version.desc()))
            return int(v or 0)
        except SQLAlchemyError as exc:
            raise _explain(exc, self.url) from exc

    def migrate(self) -> None:
        """Upgrade the schema to SCHEMA_VERSION, one migration per transaction."""
        current = self.version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.url}: schema version {current} is newer than this harness "
                f"understands ({SCHEMA_VERSION}); upgrade xmtc-harness"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):

            def step(conn: Any, version: int = version) -> None:
                if self.is_sqlite:  # one process migrates at a time; the others then skip
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                if inspect(conn).has_table("schema_version") and conn.scalar(
                    select(SchemaVersion.version).where(SchemaVersion.version == version)
                ):
                    return  # another process applied it while this one waited
                MIGRATIONS[version](conn)
                conn.execute(
                    SchemaVersion.__table__.insert().values(version=version)  # type: ignore[attr-defined]
                )

            self._retry(lambda: self._in_transaction(step))

    def _in_transaction(self, fn: Callable[[Any], None]) -> None:
        with self.engine.begin() as conn:
            fn(conn)

    # -- writing ------------------------------------------------------------------------
    def _retry(self, fn: Callable[[], T]) -> T:
        delay = 0.05
        for attempt in range(WRITE_RETRIES + 1):
            try:
                return fn()
            except OperationalError as exc:
                if _is_lock(exc) and attempt < WRITE_RETRIES:
                    time.sleep(delay + random.random() * delay)
                    delay = min(delay * 2, 2.0)
                    continue
                raise _explain(exc, self.url) from exc
            except SQLAlchemyError as exc:
                raise _explain(exc, self.url) from exc
        raise AssertionError("unreachable")

    def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in one transaction and commit it, retrying on a busy lock."""

        def attempt() -> T:
            with self._sessions() as s, s.begin():
                return fn(s)

        return self._retry(attempt)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (nothing it does is committed)."""
        s = self._sessions()
        try:
            yield s
        except OperationalError as exc:
            raise _explain(exc, self.url) from exc
        finally:
            # close() ends the transaction without writing anything, and, unlike rollback(),
            # does not expire the loaded rows: callers keep using them after the block.
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()

    # -- user SQL -------------------------------------------------------------------------
    def run_readonly_sql(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one statement the user typed on a connection that cannot write.

        SQLite: a separate ``mode=ro`` connection with ``query_only`` on and an authorizer
        that allows only reading (so ATTACH, PRAGMA writes and DML are refused), and the
        driver's one-statement rule refuses multi-statement tricks. Other databases: a
        ``READ ONLY`` transaction that is always rolled back.
        """
        if self.is_sqlite:
            return self._sqlite_readonly(sql)
        with self.engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(text("SET TRANSACTION READ ONLY"))
                res = conn.execute(text(sql))
                cols = list(res.keys())
                rows = [tuple(r) for r in res.fetchall()]
            except SQLAlchemyError as exc:
                raise StoreError(f"--sql refused or failed: {getattr(exc, 'orig', exc)}") from None
            finally:
                trans.rollback()
        return cols, rows

    def _sqlite_readonly(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        if self.path is None:
            raise StoreError("--sql needs a SQLite file database")
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
            msg = f"--sql refused or failed (the database is opened read-only): {exc}"
            raise StoreError(msg) from None
        finally:
            conn.rollback()
            conn.close()
        return cols, rows


def open_store(db: str, *, create: bool = True) -> Store:
    return Store(db, create=create)
